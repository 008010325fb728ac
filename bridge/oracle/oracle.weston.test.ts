// The E3 oracle against a real libwayland-server compositor (weston 10 headless): a
// client's wl_shm pool is mapped by weston from create_pool on, and unmapped once the
// pool, its buffers and the surface holding them are destroyed (the fd weston received
// is closed right after mmap, so the mapping is what keeps it). This is the ground truth
// every reclaim decision is judged by, so it is checked on the real thing.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProtocolRegistry } from '../protocol/registry.js';
import { close as closeFd, fstat, ftruncate, memfdCreate } from '../../ffi/libc.js';
import { bindGlobalsBlocking } from '../../harness/client/globals.js';
import { WaylandClient, type WaylandProxy } from '../../harness/client/wayland-client.js';
import { startWeston, type WestonInstance, westonAvailable } from '../../harness/real/weston.js';
import { Backoff } from './backoff.js';
import { MemfdGrantBackend } from '../grants/memfd.js';
import { unreadableProcesses } from './holders.js';
import { SystemOracle } from './system-oracle.js';
import type { FileIdentity, MappingOracle, MappingVerdict } from './types.js';

const protocols = new ProtocolRegistry();
const haveWeston = westonAvailable();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Looks until the verdict is `wanted` or `timeoutMs` of backoff delays have passed. */
async function pollUntil(
  oracle: MappingOracle,
  file: FileIdentity,
  wanted: MappingVerdict,
  timeoutMs: number,
  roundtrip: () => void,
): Promise<MappingVerdict> {
  const backoff = new Backoff({ startMs: 1, factor: 2, maxMs: 100 });
  let waited = 0;
  // verdicts(), not verdict(): a look each time, whatever the CPU floor says.
  let verdict = oracle.verdicts([{ file }])[0]!;
  while (verdict !== wanted && waited < timeoutMs) {
    const delay = backoff.nextDelay();
    await sleep(delay);
    waited += delay;
    roundtrip();
    verdict = oracle.verdicts([{ file }])[0]!;
  }
  return verdict;
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] ?? Number.NaN;
}

const suiteName = haveWeston
  ? 'SystemOracle on weston'
  : 'SystemOracle on weston (skipped: no weston on PATH)';

describe.skipIf(!haveWeston)(suiteName, () => {
  let weston: WestonInstance;

  beforeAll(async () => {
    weston = await startWeston({ socketName: 'grantway-oracle' });
  });

  afterAll(async () => {
    await weston?.stop();
  });

  it('walking /proc: sees a wl_shm pool mapped after create_pool and unmapped after destruction', async () => {
    const client = WaylandClient.connect(weston.socketPath);
    const width = 64;
    const height = 64;
    const size = width * height * 4;
    const memfd = memfdCreate('grantway-oracle-pool');
    try {
      ftruncate(memfd, size);
      const { dev, ino } = fstat(memfd);
      const file = { dev, ino };
      // This process holds the memfd too, but it is the bridge's own: it never counts.
      // The walk must see every process: vouch for the machine's own opaque agents.
      const oracle = new SystemOracle({ useLeases: false, vouchedPids: unreadableProcesses() });
      expect(oracle.verdicts([{ file }])[0]).toBe('unmapped');

      const { wl_compositor: compositor, wl_shm: shm } = bindGlobalsBlocking(client, protocols, {
        wl_compositor: 4,
        wl_shm: 1,
      });
      const surface = compositor.request('create_surface') as WaylandProxy;
      const pool = shm.request('create_pool', [memfd, size]) as WaylandProxy;
      const buffer = pool.request('create_buffer', [
        0,
        width,
        height,
        width * 4,
        1,
      ]) as WaylandProxy;
      surface.request('attach', [buffer, 0, 0]);
      surface.request('damage', [0, 0, width, height]);
      surface.request('commit');
      client.roundtrip();
      await sleep(0); // a new turn: no answer is reused
      expect(oracle.verdicts([{ file }])[0]).toBe('mapped');

      // E1-level churn does not unmap: detaching still leaves the pool mapped.
      surface.request('attach', [null, 0, 0]);
      surface.request('commit');
      client.roundtrip();
      await sleep(0);
      expect(oracle.verdicts([{ file }])[0]).toBe('mapped');

      buffer.destroy();
      pool.destroy();
      surface.destroy();
      client.roundtrip();
      const verdict = await pollUntil(oracle, file, 'unmapped', 2000, () => client.roundtrip());
      expect(verdict).toBe('unmapped');
      expect(oracle.scanner.stats.walks).toBeGreaterThan(0);
    } finally {
      closeFd(memfd);
      client.close();
    }
  });

  it('is cheap enough to poll: one look at 8 files mapped by weston, walk and kernel', async () => {
    const client = WaylandClient.connect(weston.socketPath);
    const backend = new MemfdGrantBackend();
    try {
      const { wl_shm: shm } = bindGlobalsBlocking(client, protocols, {
        wl_compositor: 4,
        wl_shm: 1,
      });
      const extents = Array.from({ length: 8 }, () => backend.allocate(1));
      for (const extent of extents) {
        const fd = backend.shareFd(extent);
        shm.request('create_pool', [fd, 4096]);
        closeFd(fd);
      }
      client.roundtrip();
      const questions = extents.map((e) => ({ file: e.file!, peerPid: weston.pid }));
      const timing = async (oracle: SystemOracle): Promise<number> => {
        const samples: number[] = [];
        for (let i = 0; i < 300; i++) {
          if (i % 50 === 0) await sleep(0); // answers are kept for one turn only
          const start = process.hrtime.bigint();
          const verdicts = oracle.verdicts(questions);
          samples.push(Number(process.hrtime.bigint() - start) / 1000);
          expect(verdicts).toEqual(questions.map(() => 'mapped'));
          await sleep(0);
        }
        return median(samples.slice(30));
      };
      const walk = await timing(new SystemOracle({ useLeases: false }));
      const kernel = await timing(new SystemOracle());
      console.info(
        `oracle: one look at 8 extents weston maps: walk ≈ ${walk.toFixed(1)} µs, kernel (leases) ≈ ${kernel.toFixed(1)} µs`,
      );
      // Generous bound: a regression to something unpollable, not a benchmark.
      expect(walk).toBeLessThan(20_000);
      expect(kernel).toBeLessThan(5000);
    } finally {
      client.close();
      backend.close();
    }
  });
});
