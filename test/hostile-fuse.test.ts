// One slow file must not freeze every client (issue 14, item 3). A client sends, as its
// wl_shm pool fd, a file on a FUSE filesystem whose server answers slowly (6 s per
// request) or never. Anything the bridge does with that file on its event loop — fstat,
// fstatfs, pread, even close (FUSE sends FLUSH and waits, uninterruptibly) — would stall
// every client of the bridge with it. The bridge must refuse the file without asking
// its filesystem anything (wl_shm.invalid_fd), and let go of it off the event loop,
// while a bystander on the same bridge keeps its roundtrips.
//
// The bridge is a real `grantway proxy` process (dist/), so a regression freezes that
// process and fails the bystander's roundtrip here instead of freezing the test. The
// FUSE server is test/support/slow-fuse.c, built here with libfuse3 (CI installs
// libfuse3-dev); killing it at the end aborts whatever still waits on it.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCompositor } from '../harness/embedded.js';
import { sleep } from '../harness/real/children.js';
import { commandAvailable } from '../harness/real/process.js';
import { close as closeFd } from '../ffi/libc.js';
import { startProxyProcess } from './support/proxy-process.js';
import { RawClient } from './support/raw-client.js';

const FUSE_SOURCE = resolve('test/support/slow-fuse.c');
/** Set GW_HOSTILE_REPORT=1 to print the figures each case measured. */
const report = (line: string): void => {
  if (process.env.GW_HOSTILE_REPORT) console.log(`[hostile] ${line}`);
};

/** Builds the FUSE server; undefined (with why on stderr) where this machine cannot. */
function buildSlowFuse(dir: string): string | undefined {
  if (!existsSync('/dev/fuse') || !commandAvailable('cc') || !commandAvailable('pkg-config')) {
    return undefined;
  }
  try {
    const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'fuse3']).toString().trim();
    const out = join(dir, 'slow-fuse');
    execFileSync('cc', ['-D_FILE_OFFSET_BITS=64', FUSE_SOURCE, ...flags.split(/\s+/), '-o', out]);
    return out;
  } catch {
    return undefined;
  }
}

const workDir = mkdtempSync(join(tmpdir(), 'gw-fuse-'));
const slowFuse = buildSlowFuse(workDir);

/** A mounted slow-fuse filesystem; `stop` kills the server and unmounts. */
async function mountSlowFuse(
  mode: 'sleeps 6 s' | 'never answers',
): Promise<{ file: string; stop(): void }> {
  const mountpoint = mkdtempSync(join(workDir, 'mnt-'));
  const args = [mountpoint, '--size', String(64 * 1024)];
  args.push(...(mode === 'never answers' ? ['--hang'] : ['--delay-ms', '6000']));
  const server = spawn(slowFuse!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  server.stdout.on('data', (d: Buffer) => (output += d.toString()));
  server.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 10_000;
  while (!output.includes('ready')) {
    if (Date.now() > deadline || server.exitCode !== null) {
      server.kill('SIGKILL');
      throw new Error(`slow-fuse did not start: ${output}`);
    }
    await sleep(10);
  }
  return {
    file: join(mountpoint, 'pool'),
    stop(): void {
      // SIGKILL: the kernel aborts every request still waiting on this server.
      server.kill('SIGKILL');
      try {
        execFileSync('umount', ['-l', mountpoint]);
      } catch {
        // already gone with its server
      }
    },
  };
}

describe.skipIf(slowFuse === undefined)(
  'a pool file on a FUSE filesystem (needs /dev/fuse, cc and libfuse3-dev)',
  () => {
    let compositor: Awaited<ReturnType<typeof startEmbeddedCompositor>>;
    const cleanups: (() => Promise<void> | void)[] = [];

    beforeAll(async () => {
      compositor = await startEmbeddedCompositor({ socketName: 'gw-fuse-embedded' });
    });
    afterAll(async () => {
      await compositor?.stop();
      rmSync(workDir, { recursive: true, force: true });
    });
    afterEach(async () => {
      // In order: clients, then the FUSE server (which frees whatever waits on it), then
      // the files and the bridge.
      const failures: unknown[] = [];
      for (const cleanup of cleanups.splice(0)) {
        try {
          await cleanup();
        } catch (err) {
          failures.push(err); // the others still run: no process or mount left behind
        }
      }
      expect(failures).toEqual([]);
    });

    describe.each(['grant', 'passthrough'] as const)('in %s mode', (mode) => {
      it.each(['sleeps 6 s', 'never answers'] as const)(
        'a FUSE server that %s: the file is refused at once, a bystander keeps its roundtrips',
        async (serverMode) => {
          const fuse = await mountSlowFuse(serverMode);
          const proxy = await startProxyProcess({
            listenPath: join(compositor.runtimeDir, `gw-fuse-${mode}`),
            upstreamPath: compositor.socketPath,
            args: ['--mode', mode],
          });
          const clients: RawClient[] = [];
          const files: number[] = [];
          cleanups.push(
            () => {
              for (const c of clients) c.peer.close();
            },
            () => fuse.stop(),
            () => {
              try {
                for (const f of files) closeFd(f); // at once now; the fd goes either way
              } catch {
                // ENOTCONN: the FLUSH this close sends found the server gone
              }
            },
            () => proxy.stop(),
          );

          const bystander = await RawClient.open(proxy.listenPath);
          clients.push(bystander);
          // The same bystander before the attack, for comparison.
          const before: number[] = [];
          const tb = performance.now();
          while (performance.now() - tb < 1000) before.push(await bystander.roundtrip());
          const attacker = await RawClient.open(proxy.listenPath);
          clients.push(attacker);
          const file = openSync(fuse.file, 'r+'); // answered: the server stalls once it is open
          files.push(file);

          const t0 = performance.now();
          attacker.showBuffer(file, 64 * 1024, 64, 64);
          // The bystander's roundtrips while the attack runs, and after it.
          const during: number[] = [];
          let refusedAfter: number | undefined;
          while (performance.now() - t0 < 1500) {
            during.push(await bystander.roundtrip(10_000));
            if (attacker.peer.eof) refusedAfter ??= performance.now() - t0;
          }
          await attacker.disconnected(10_000);

          expect(attacker.error()).toMatchObject({ objectId: attacker.shm, code: 2 });
          expect(attacker.error()?.message).toMatch(/not on a memory filesystem.*fuse\.gw-slow/);
          const stats = (xs: number[]): { median: number; max: number } => {
            const sorted = [...xs].sort((a, b) => a - b);
            return {
              median: sorted[Math.floor(sorted.length / 2)]!,
              max: sorted[sorted.length - 1]!,
            };
          };
          const { median, max } = stats(during);
          report(
            `${mode}, FUSE server that ${serverMode}: refused after ${refusedAfter?.toFixed(0)} ms; ` +
              `bystander ${during.length} roundtrips, median ${median.toFixed(2)} ms, max ${max.toFixed(2)} ms ` +
              `(before the attack: median ${stats(before).median.toFixed(2)} ms, max ${stats(before).max.toFixed(2)} ms)`,
          );
          expect(refusedAfter).toBeLessThan(1000);
          expect(median).toBeLessThan(50);
          expect(max).toBeLessThan(1000); // a stalled bridge: 6 000 ms, or never
          // The bridge still serves a new client.
          const fresh = await RawClient.open(proxy.listenPath);
          clients.push(fresh);
          await fresh.roundtrip();
        },
      );
    });
  },
);
