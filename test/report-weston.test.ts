// `grantway report` on a real record (issue 13, item 4). weston-simple-shm destroys each
// pool right after making its buffer from it, so its next pool reuses the wire id while
// the first one lives on through its buffer. Every pool must still be followed to its
// end: each reaches E3 once the client is gone, and none is "alive at the end". The
// whole path is the user's: `grantway run --record` in front of a compositor, then
// `grantway report --json` on the file.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedCompositor } from '../harness/embedded.js';
import { startWeston, westonAvailable } from '../harness/real/weston.js';
import { commandAvailable } from '../harness/real/process.js';
import type { TraceSummary } from '../bridge/shm/report.js';
import { readLifecycleTrace } from '../bridge/shm/trace-file.js';

const CLI = resolve('dist/bridge/cli/main.js');

/**
 * Runs the CLI; resolves with its exit code and output. `interrupt`: SIGINT `afterMs`
 * after `file` appears (the run has started: on a loaded machine start-up alone can take
 * longer than the client needs).
 */
function grantway(
  args: string[],
  env: Record<string, string>,
  interrupt?: { readonly file: string; readonly afterMs: number },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timers = [setTimeout(() => child.kill('SIGKILL'), 30_000)];
    if (interrupt !== undefined) {
      const started = setInterval(() => {
        if (!existsSync(interrupt.file)) return;
        clearInterval(started);
        timers.push(setTimeout(() => child.kill('SIGINT'), interrupt.afterMs));
      }, 20);
      timers.push(started);
    }
    child.on('close', (code) => {
      for (const t of timers) clearTimeout(t);
      done({ code, stdout, stderr });
    });
  });
}

interface Compositor {
  readonly runtimeDir: string;
  readonly socketPath: string;
  stop(): Promise<void>;
}

// weston releases every buffer at once here, so the client needs one buffer (one pool);
// the embedded compositor releasing each buffer late makes it allocate a second,
// whose pool reuses the first one's id — the case the old report got wrong.
const COMPOSITORS = [
  {
    name: 'weston headless',
    available: westonAvailable(),
    start: (): Promise<Compositor> => startWeston({ socketName: 'gw-report-weston' }),
    reusesIds: false,
  },
  {
    name: 'the embedded compositor releasing late',
    available: true,
    start: (): Promise<Compositor> =>
      startEmbeddedCompositor({ socketName: 'gw-report-embedded', knobs: { releaseDelayMs: 50 } }),
    reusesIds: true,
  },
] as const;

describe.skipIf(!commandAvailable('weston-simple-shm'))(
  'grantway report on a weston-simple-shm record',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-report-'));
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it.each(COMPOSITORS.filter((c) => c.available))(
      'on $name: every pool reaches E3, none alive at the end',
      async ({ name, start, reusesIds }) => {
        const compositor = await start();
        try {
          const record = join(dir, `${name.split(' ')[0]}.jsonl`);
          const env = { XDG_RUNTIME_DIR: compositor.runtimeDir };
          const run = await grantway(
            [
              'run',
              '--upstream',
              compositor.socketPath,
              '--record',
              record,
              '--',
              'weston-simple-shm',
            ],
            env,
            { file: record, afterMs: 1500 },
          );
          expect(run.stderr).not.toMatch(/internal error|session failed/);
          const created = readLifecycleTrace(record).events.flatMap((e) =>
            e.type === 'pool-created' ? [e.pool] : [],
          );
          // A pool id used twice (what made the old report miscount).
          if (reusesIds) expect(new Set(created).size).toBeLessThan(created.length);

          const report = await grantway(['report', record, '--json'], env);
          expect(report.code).toBe(0);
          const summary = JSON.parse(report.stdout) as TraceSummary;
          expect(summary.pools).toBe(created.length);
          expect(summary.evidenceReached).toEqual({ E0: 0, E1: 0, E2: 0, E3: summary.pools });
          expect(summary.poolsAlive).toBe(0);
          expect(summary.destroyToE3Ms.count).toBe(summary.pools);
          const text = await grantway(['report', record], env);
          expect(text.stdout).toMatch(/0 still alive at the end/);
        } finally {
          await compositor.stop();
        }
      },
    );
  },
);
