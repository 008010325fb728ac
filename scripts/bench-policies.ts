// `npm run bench:policies`: the policy bench (`grantway bench policies`) with the same
// flags — every policy × every trace × every remote model — as a script, so CI and the
// README can run it without installing the CLI. It runs the built CLI itself (scripts
// never import the CLI's modules: ARCHITECTURE.md §7), passing its arguments on.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../bridge/cli/main.js', import.meta.url));
const run = spawnSync(process.execPath, [cli, 'bench', 'policies', ...process.argv.slice(2)], {
  stdio: 'inherit',
});
if (run.error !== undefined) throw run.error;
process.exitCode = run.status ?? 1;
