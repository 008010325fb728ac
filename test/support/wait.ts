// Waiting in tests that watch a real run: poll a (possibly async) check until it holds,
// or fail naming what was awaited. Time bounds are generous (machines are loaded).

import { sleep } from '../../harness/real/children.js';

export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  everyMs = 25,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}
