// `npm run bench:policies`: the policy bench (`grantway bench policies`) with the same
// flags — every policy × every trace × every remote model — as a script, so CI and the
// README can run it without installing the CLI.

import { parseArgs } from 'node:util';
import { benchCommand } from '../bridge/cli/bench.js';

const { values, positionals } = parseArgs({
  options: {
    json: { type: 'boolean' },
    html: { type: 'string' },
    policy: { type: 'string' },
    'policy-opt': { type: 'string', multiple: true },
  },
  allowPositionals: true,
});
process.exitCode = benchCommand(values, ['policies', ...positionals]);
