// `npm run build` (after tsc): compiles native/span-copy.c into
// dist/native/libgrantway-span-copy.so with the system C compiler ($CC, else cc). Plain
// C against libc, no Node headers: it builds offline. Without a compiler the build
// still succeeds and says so; copies then run a koffi call per row (ffi/span-copy.ts).
// GRANTWAY_NATIVE=required (CI) makes a failure fatal instead.

import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const out = `${root}dist/native/libgrantway-span-copy.so`;
mkdirSync(`${root}dist/native`, { recursive: true });
const cc = process.env.CC ?? 'cc';
const args = ['-O2', '-shared', '-fPIC', '-Wall', '-Wextra', '-Werror', '-o', out];
const run = spawnSync(cc, [...args, `${root}native/span-copy.c`], { stdio: 'inherit' });
if (run.status !== 0) {
  const why = run.error !== undefined ? run.error.message : `exit ${String(run.status)}`;
  const msg = `grantway: could not build the span-copy helper with ${cc} (${why}); copies will run row by row`;
  if (process.env.GRANTWAY_NATIVE === 'required') {
    process.stderr.write(`${msg}\n`);
    process.exit(1);
  }
  process.stderr.write(`warning: ${msg}\n`);
}
