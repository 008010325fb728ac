// The E3 oracle against a real libwayland-server compositor (weston 10 headless): a
// client's wl_shm pool is mapped by weston from create_pool on, and unmapped once the
// pool, its buffers and the surface holding them are destroyed. This is the ground truth
// every reclaim decision is judged by, so it is checked on the real thing.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProtocolRegistry } from '../protocol/registry.js';
import type { InterfaceSpec } from '../protocol/types.js';
import { close as closeFd, fstat, ftruncate, memfdCreate } from '../../ffi/libc.js';
import { WaylandClient, type WaylandProxy } from '../../ffi/wayland-client.js';
import { startWeston, type WestonInstance, westonAvailable } from '../harness/weston.js';
import { Backoff } from './backoff.js';
import { oracleForPeer, ProcMapsOracle } from './proc-maps-oracle.js';
import type { FileIdentity, MappingOracle, MappingVerdict } from './types.js';

const protocols = new ProtocolRegistry();
const haveWeston = westonAvailable();

function spec(name: string): InterfaceSpec {
  const found = protocols.get(name);
  if (found === undefined) throw new Error(`no spec for ${name}`);
  return found;
}

/** Binds wl_compositor and wl_shm after one roundtrip of registry globals. */
function bindGlobals(client: WaylandClient): { compositor: WaylandProxy; shm: WaylandProxy } {
  const registry = client.display.request('get_registry') as WaylandProxy;
  const globals = new Map<string, number>();
  registry.on('global', ([name, iface]) => {
    globals.set(iface as string, name as number);
  });
  client.roundtrip();
  const bind = (iface: string, version: number): WaylandProxy => {
    const name = globals.get(iface);
    if (name === undefined) throw new Error(`weston has no ${iface}`);
    return registry.request('bind', [name, spec(iface), version]) as WaylandProxy;
  };
  return { compositor: bind('wl_compositor', 4), shm: bind('wl_shm', 1) };
}

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
  let verdict = oracle.verdict(file);
  while (verdict !== wanted && waited < timeoutMs) {
    const delay = backoff.nextDelay();
    await sleep(delay);
    waited += delay;
    roundtrip();
    verdict = oracle.verdict(file);
  }
  return verdict;
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] ?? Number.NaN;
}

const suiteName = haveWeston
  ? 'ProcMapsOracle on weston'
  : 'ProcMapsOracle on weston (skipped: no weston on PATH)';

describe.skipIf(!haveWeston)(suiteName, () => {
  let weston: WestonInstance;

  beforeAll(async () => {
    weston = await startWeston({ socketName: 'grantway-oracle' });
  });

  afterAll(async () => {
    await weston?.stop();
  });

  it('sees a wl_shm pool mapped after create_pool and unmapped after destruction', async () => {
    const client = WaylandClient.connect(weston.socketPath);
    const width = 64;
    const height = 64;
    const size = width * height * 4;
    const memfd = memfdCreate('grantway-oracle-pool');
    try {
      ftruncate(memfd, size);
      const { dev, ino } = fstat(memfd);
      const file = { dev, ino };
      // The bridge's way to find the compositor: SO_PEERCRED on the connected socket.
      const oracle = oracleForPeer(client.fd);
      expect(oracle.pid).toBe(weston.pid);
      expect(oracle.verdict(file)).toBe('unmapped');

      const { compositor, shm } = bindGlobals(client);
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
      expect(oracle.verdict(file)).toBe('mapped');

      // E1-level churn does not unmap: detaching still leaves the pool mapped.
      surface.request('attach', [null, 0, 0]);
      surface.request('commit');
      client.roundtrip();
      expect(oracle.verdict(file)).toBe('mapped');

      buffer.destroy();
      pool.destroy();
      surface.destroy();
      client.roundtrip();
      const verdict = await pollUntil(oracle, file, 'unmapped', 2000, () => client.roundtrip());
      expect(verdict).toBe('unmapped');
    } finally {
      closeFd(memfd);
      client.close();
    }
  });

  it('is cheap enough to poll: one verdicts() look at weston', () => {
    const oracle = new ProcMapsOracle(weston.pid);
    const files = Array.from({ length: 8 }, (_, i) => ({ dev: 1n, ino: BigInt(1_000_000 + i) }));
    const samples: number[] = [];
    for (let i = 0; i < 50; i++) oracle.verdicts(files); // warm-up (JIT)
    for (let i = 0; i < 500; i++) {
      const start = process.hrtime.bigint();
      oracle.verdicts(files);
      samples.push(Number(process.hrtime.bigint() - start) / 1000);
    }
    const us = median(samples);
    console.info(`oracle: one verdicts() look at weston (pid ${weston.pid}) ≈ ${us.toFixed(1)} µs`);
    // Generous bound: a regression to something unpollable, not a benchmark.
    expect(us).toBeLessThan(5000);
  });

  it('says unavailable once weston is gone', async () => {
    const oracle = new ProcMapsOracle(weston.pid);
    expect(oracle.verdict({ dev: 1n, ino: 1n })).toBe('unmapped');
    await weston.stop();
    expect(oracle.verdict({ dev: 1n, ino: 1n })).toBe('unavailable');
    expect(oracle.unavailableReason).toBe('gone');
  });
});
