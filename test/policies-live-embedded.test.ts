// Live policies behave like their replays (policies/README.md): a `grantway proxy`
// process per policy, on the embedded compositor told to keep every pool mapped 300 ms
// after its last reference goes, watched through --metrics. A client shows a buffer from
// a fresh pool, then destroys buffer, pool and surface, eight times. The extent goes to
// the scheduler when the client lets go, while the compositor still maps it, so
// `linux-deferred` tries at once, fails, and waits on its deferred list for its next
// 1 s tick, as the kernel does; `evidence` waits for E3 and never fails; `recycle` hands
// unmapped extents to the next pool of the same size. Every extent comes back, and none
// is freed while the compositor maps it (a bridge in this process whose backend judges
// every free by a walk of every process). And the tracker's dup of the client's pool fd
// goes when the client lets go, not when (if ever) the compositor unmaps.

import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedCompositorInstance, startEmbeddedCompositor } from '../harness/embedded.js';
import { sleep } from '../harness/real/children.js';
import { F_SEAL_SHRINK, addSeals, close as closeFd, ftruncate, memfdCreate } from '../ffi/libc.js';
import { assembleBridge } from '../bridge/index.js';
import { unreadableProcesses } from '../bridge/oracle/holders.js';
import { type Series, scrape, total } from './support/metrics-scrape.js';
import { type ProxyProcess, startProxyProcess } from './support/proxy-process.js';
import { RawClient } from './support/raw-client.js';
import { request } from './support/raw-peer.js';
import { until } from './support/wait.js';

const bufferDestroy = request('wl_buffer', 'destroy');
const poolDestroy = request('wl_shm_pool', 'destroy');
const surfaceDestroy = request('wl_surface', 'destroy');

const KEEP_MAPPED_MS = 300;
const POOLS = 8;
const W = 64;
const H = 64;
const SIZE = W * H * 4; // 4 pages
const CLIENT_MEMFD = 'gw-live-client-pool';
/** Set GW_POLICY_REPORT=1 to print what each policy did. */
const report = process.env['GW_POLICY_REPORT'] === '1';

function sealedPool(): number {
  const fd = memfdCreate(CLIENT_MEMFD);
  ftruncate(fd, SIZE);
  addSeals(fd, F_SEAL_SHRINK);
  return fd;
}

/** Fds of process `pid` open on a client pool file (the tracker's dups). */
function clientPoolFds(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).includes(CLIENT_MEMFD)) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** One pool shown and let go of: pool, buffer, surface created, committed, destroyed. */
async function showAndLetGo(c: RawClient): Promise<void> {
  const fd = sealedPool();
  try {
    const { pool, buffer, surface } = c.showBuffer(fd, SIZE, W, H);
    await c.roundtrip();
    c.send(buffer, bufferDestroy, []);
    c.send(pool, poolDestroy, []);
    c.send(surface, surfaceDestroy, []);
    await c.roundtrip();
  } finally {
    closeFd(fd);
  }
}

interface Run {
  /** The last scrape, once every extent came back. */
  readonly end: Series;
  /** The most deferred refs seen in a scrape during the run. */
  readonly deferredSeen: number;
  readonly msToAllBack: number;
}

describe('live reclaim policies on the embedded compositor, pools kept mapped 300 ms', () => {
  let compositor: EmbeddedCompositorInstance;

  beforeAll(async () => {
    compositor = await startEmbeddedCompositor({
      socketName: 'gw-live-policies',
      knobs: { keepPoolsMappedMs: KEEP_MAPPED_MS },
    });
  });
  afterAll(async () => {
    await compositor?.stop();
  });

  async function withProxy<T>(
    name: string,
    args: readonly string[],
    body: (proxy: ProxyProcess, metricsPath: string) => Promise<T>,
  ): Promise<T> {
    const metricsPath = join(compositor.runtimeDir, `${name}.metrics`);
    const proxy = await startProxyProcess({
      listenPath: join(compositor.runtimeDir, name),
      upstreamPath: compositor.socketPath,
      args: [...args, '--metrics', metricsPath],
    });
    try {
      await until('the metrics socket', async () => {
        try {
          await scrape(metricsPath);
          return true;
        } catch {
          return false;
        }
      });
      return await body(proxy, metricsPath);
    } finally {
      await proxy.stop();
    }
  }

  /** POOLS pools let go of one after another, then every extent back to the table. */
  function churn(name: string, policyArgs: readonly string[]): Promise<Run> {
    return withProxy(`gw-live-${name}`, policyArgs, async (proxy, metricsPath) => {
      const c = await RawClient.open(proxy.listenPath);
      let deferredSeen = 0;
      const look = async (): Promise<Series> => {
        const m = await scrape(metricsPath);
        deferredSeen = Math.max(deferredSeen, m.get('grantway_grant_refs{state="deferred"}') ?? 0);
        return m;
      };
      try {
        for (let i = 0; i < POOLS; i++) {
          await showAndLetGo(c);
          await look();
          await sleep(100);
        }
        const t0 = performance.now();
        await until('every extent back', async () => {
          const m = await look();
          return total(m, 'grantway_grants_by_phase') === 0 && total(m, 'grantway_pools') === 0;
        });
        const msToAllBack = performance.now() - t0;
        const end = await look();
        if (report) {
          const attempts = end.get('grantway_end_access_attempts_total');
          const failed = end.get('grantway_end_access_failures_total');
          const peak = end.get('grantway_grant_refs_deferred_peak');
          const reused = end.get('grantway_grants_reused_total');
          console.log(
            `${name}: ${POOLS} pools of ${SIZE / 4096} pages: ${attempts} end-access attempts, ${failed} failed, deferred refs seen ${deferredSeen} (peak ${peak}), ${reused} reused, all back ${msToAllBack.toFixed(0)} ms after the last let-go`,
          );
        }
        return { end, deferredSeen, msToAllBack };
      } finally {
        c.peer.close();
      }
    });
  }

  it('linux-deferred: the first attempt fails while the compositor maps, the deferred list holds it until its tick', async () => {
    const run = await churn('linux-deferred', ['--policy', 'linux-deferred']);
    const attempts = run.end.get('grantway_end_access_attempts_total')!;
    const failed = run.end.get('grantway_end_access_failures_total')!;
    // Each pool: a failed try at let-go (mapped 300 ms more), then a retry on a 1 s tick.
    expect(failed).toBeGreaterThanOrEqual(1);
    expect(attempts).toBeGreaterThan(failed);
    expect(run.deferredSeen).toBeGreaterThan(0);
    expect(run.end.get('grantway_grant_refs_deferred_peak')).toBeGreaterThan(0);
    expect(run.end.get('grantway_grant_refs{state="in_use"}')).toBe(0);
  });

  it('qubes: the same failed first attempts (10000 refs per tick only drain faster)', async () => {
    const run = await churn('qubes', ['--policy', 'qubes']);
    expect(run.end.get('grantway_end_access_failures_total')).toBeGreaterThanOrEqual(1);
    expect(run.end.get('grantway_grant_refs_deferred_peak')).toBeGreaterThan(0);
    expect(run.end.get('grantway_grant_refs{state="in_use"}')).toBe(0);
  });

  it('evidence: waits for E3, so no attempt ever fails', async () => {
    const run = await churn('evidence', ['--policy', 'evidence']);
    expect(run.end.get('grantway_end_access_failures_total')).toBe(0);
    expect(run.end.get('grantway_end_access_attempts_total')).toBe(POOLS);
    // It held them too, while the compositor mapped them.
    expect(run.end.get('grantway_grant_refs_deferred_peak')).toBeGreaterThan(0);
    expect(run.end.get('grantway_grant_refs{state="in_use"}')).toBe(0);
  });

  it('watermark: holds retired grants maxHoldMs, then reclaims the unmapped ones without a failure', async () => {
    const run = await churn('watermark', ['--policy', 'watermark']);
    expect(run.end.get('grantway_end_access_failures_total')).toBe(0);
    expect(run.end.get('grantway_end_access_attempts_total')).toBe(POOLS);
    expect(run.end.get('grantway_grant_refs{state="in_use"}')).toBe(0);
  });

  it('recycle: unmapped extents go to the next pool of the same size', async () => {
    // Sparse extents follow their buffers and are never cached: recycle reuses whole ones.
    const run = await churn('recycle', ['--policy', 'recycle', '--whole-extents']);
    const reused = run.end.get('grantway_grants_reused_total')!;
    expect(reused).toBeGreaterThanOrEqual(1);
    expect(run.end.get('grantway_end_access_failures_total')).toBe(0);
    // Only extents nobody reused are ended (after maxCacheMs).
    expect(run.end.get('grantway_end_access_attempts_total')).toBe(POOLS - reused);
    expect(run.end.get('grantway_grant_refs{state="in_use"}')).toBe(0);
  });

  // The safety invariant, judged by a walk of every process at each free: extents reach
  // the policy before E3 now, so its early attempts must fail, never free. The /proc walk
  // is where it matters most: it cannot see an fd in flight (hence the hand-off waits
  // for the compositor to have received the pool's fd).
  it.each([
    ['the kernel', true],
    ['a /proc walk', false],
  ] as const)(
    'linux-deferred in the bridge, E3 judged by %s: failed attempts, never a free while mapped',
    async (_judge, useLeases) => {
      const vouched = unreadableProcesses();
      const assembled = assembleBridge({
        listenPath: join(compositor.runtimeDir, `gw-live-safe-${useLeases}`),
        upstreamPath: compositor.socketPath,
        policy: 'linux-deferred',
        policyOptions: ['periodMs=200'],
        oracle: { useLeases, vouchedPids: vouched },
        verifyFrees: { vouched },
      });
      const { bridge, reclaimer: live, verifier } = assembled;
      const reclaimer = live!;
      const backend = verifier!;
      try {
        const c = await RawClient.open(bridge.listenPath);
        try {
          for (let i = 0; i < 4; i++) await showAndLetGo(c);
          await until('every extent freed', () => reclaimer.scheduler.stats().freed === 4);
        } finally {
          c.peer.close();
        }
        expect(reclaimer.scheduler.stats().endAccessFailures).toBeGreaterThanOrEqual(1);
        expect(backend.frees).toBe(4);
        expect(backend.unsafeFrees).toEqual([]);
      } finally {
        assembled.close();
      }
    },
  );

  // Let go means let go: once the client destroyed a pool, the bridge has closed what it
  // read the pool through, so a buffer made from the destroyed pool afterwards (which
  // the compositor refuses as invalid_object) must not be read by the bridge.
  it('a buffer made from a pool after its destroy is left to the compositor to refuse; the proxy goes on', async () => {
    await withProxy('gw-live-zombie', [], async (proxy) => {
      const c = await RawClient.open(proxy.listenPath);
      const bystander = await RawClient.open(proxy.listenPath);
      const fd = sealedPool();
      try {
        const pool = c.newId();
        c.send(c.shm, request('wl_shm', 'create_pool'), [pool, fd, SIZE]);
        c.send(pool, poolDestroy, []); // no buffer: let go at once
        const buffer = c.newId();
        const surface = c.newId();
        c.send(pool, request('wl_shm_pool', 'create_buffer'), [buffer, 0, W, H, W * 4, 0]);
        c.send(c.compositor, request('wl_compositor', 'create_surface'), [surface]);
        c.send(surface, request('wl_surface', 'attach'), [buffer, 0, 0]);
        c.send(surface, request('wl_surface', 'damage'), [0, 0, W, H]);
        c.send(surface, request('wl_surface', 'commit'), []);
        await c.roundtrip().catch(() => undefined);
        await c.disconnected();
        expect(c.error()?.code).toBe(0); // invalid_object, from the compositor
        expect(proxy.exited()).toBeNull();
        await bystander.roundtrip();
      } finally {
        closeFd(fd);
        c.peer.close();
        bystander.peer.close();
      }
    });
  });

  it("the tracker's dup of a client's pool fd goes at let-go, though the compositor never unmaps", async () => {
    await compositor.control.setKnobs({ keepPoolsMappedMs: 'until-disconnect' });
    try {
      await withProxy('gw-live-dup', [], async (proxy, metricsPath) => {
        const c = await RawClient.open(proxy.listenPath);
        try {
          const fd = sealedPool();
          let shown: ReturnType<RawClient['showBuffer']>;
          try {
            shown = c.showBuffer(fd, SIZE, W, H);
            await c.roundtrip();
          } finally {
            closeFd(fd);
          }
          expect(clientPoolFds(proxy.pid)).toBe(1); // held while the pool lives
          // A sealed pool: the client's pages the bridge reads through, and the extent.
          expect((await scrape(metricsPath)).get('grantway_shm_held_bytes')).toBe(2 * SIZE);
          c.send(shown.buffer, bufferDestroy, []);
          c.send(shown.pool, poolDestroy, []);
          c.send(shown.surface, surfaceDestroy, []);
          await c.roundtrip();
          const m = await scrape(metricsPath);
          // Let go of, still mapped: the pool waits (for E3) and its extent is retired...
          expect(m.get('grantway_pools_let_go')).toBe(1);
          expect(m.get('grantway_grants_by_phase{phase="retired"}')).toBe(1);
          expect(m.get('grantway_extents_waiting')).toBe(1); // one extent, counted once
          // ...but nothing of the client's is held for it any more, and the extent, still
          // charged to its client and held by the scheduler, is counted once.
          expect(clientPoolFds(proxy.pid)).toBe(0);
          expect(m.get('grantway_shm_held_bytes')).toBe(SIZE);
        } finally {
          c.peer.close();
        }
      });
    } finally {
      await compositor.control.setKnobs({ keepPoolsMappedMs: KEEP_MAPPED_MS });
    }
  });
});
