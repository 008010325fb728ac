// Hostile clients against real compositors, through the bridge (SECURITY.md): a client
// that truncates its pool file, passes an fd that is not a file, declares a 2 GiB pool
// and covers too much of it, makes 10 000 buffers, resizes in a loop, floods fds, or never reads its socket. The
// same suite runs against the embedded compositor and weston headless (describe.each),
// each in its own process; the bridge and the raw-bytes clients run in this process.
// After every case: the compositor is alive and serves a fresh client, the bridge said
// which limit was hit, and this process holds exactly the fds it held before.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmbeddedCompositor } from '../harness/embedded.js';
import { startWeston, westonAvailable } from '../harness/real/weston.js';
import { type AssembledBridge, assembleBridge } from '../bridge/assembly/assemble.js';
import { MemfdGrantBackend } from '../bridge/grants/memfd.js';
import type { Bridge } from '../bridge/relay/bridge.js';
import type { ClientLimits } from '../bridge/relay/limits.js';
import type { Lifecycle } from '../bridge/shm/lifecycle.js';
import { encodeMessage } from '../bridge/wire/encode.js';
import type { ArgValue } from '../bridge/wire/values.js';
import { close as closeFd, ftruncate, memfdCreate, socketPair } from '../ffi/libc.js';
import { encodeAll, type Message, RawClient } from './support/raw-client.js';
import { registry, request } from './support/raw-peer.js';

const sync = request('wl_display', 'sync');
const createPool = request('wl_shm', 'create_pool');
const createBuffer = request('wl_shm_pool', 'create_buffer');
const resize = request('wl_shm_pool', 'resize');
const bufferDestroy = request('wl_buffer', 'destroy');
const attach = request('wl_surface', 'attach');
const damage = request('wl_surface', 'damage');
const commit = request('wl_surface', 'commit');

const MiB = 1024 * 1024;
const openFds = (): number => readdirSync('/proc/self/fd').length;
/** Set GW_HOSTILE_REPORT=1 to print the figures each case measured. */
const report = (line: string): void => {
  if (process.env.GW_HOSTILE_REPORT) console.log(`[hostile] ${line}`);
};

interface RunningCompositor {
  readonly pid: number;
  readonly runtimeDir: string;
  readonly socketPath: string;
  stop(): Promise<void>;
}

const KINDS = [
  { kind: 'embedded', available: true },
  { kind: 'weston', available: westonAvailable() },
] as const;

// Only compositors that can run here (weston is skipped when it is not installed).
describe.each(KINDS.filter((k) => k.available))(
  'hostile clients on the $kind compositor',
  ({ kind }) => {
    let compositor: RunningCompositor;
    let assembled: AssembledBridge | undefined;
    let bridge: Bridge | undefined;
    let lifecycle: Lifecycle | undefined;
    let backend: MemfdGrantBackend | undefined;
    let logs: {
      level: number;
      msg: string;
      session?: number;
      limit?: string;
      value?: number;
      reason?: string;
    }[];
    let fdsBefore: number;
    /** buffer-committed events the bridge has seen (it forwards each commit right after). */
    let commits = 0;
    const clients: RawClient[] = [];
    const fds: number[] = [];

    beforeAll(async () => {
      compositor =
        kind === 'weston'
          ? await startWeston({ socketName: 'gw-hostile-weston' })
          : await startEmbeddedCompositor({ socketName: 'gw-hostile-embedded' });
    });
    afterAll(async () => {
      await compositor?.stop();
    });

    beforeEach(() => {
      fdsBefore = openFds();
      logs = [];
      commits = 0;
    });

    afterEach(async () => {
      for (const c of clients.splice(0)) c.peer.close();
      assembled?.close();
      assembled = undefined;
      bridge = undefined;
      lifecycle = undefined;
      for (const fd of fds.splice(0)) closeFd(fd);
      // The compositor survived and still serves a fresh client, without the bridge.
      expect(() => process.kill(compositor.pid, 0)).not.toThrow();
      const fresh = await RawClient.open(compositor.socketPath);
      await fresh.roundtrip();
      fresh.peer.close();
      expect(openFds()).toBe(fdsBefore);
    });

    /** A bridge in front of the compositor with these limits; logs are kept in `logs`. */
    function start(mode: 'grant' | 'passthrough', limits: Partial<ClientLimits> = {}): Bridge {
      backend = undefined;
      const log = pino(
        { level: 'debug' },
        { write: (line: string) => logs.push(JSON.parse(line) as (typeof logs)[number]) },
      );
      assembled = assembleBridge({
        listenPath: join(compositor.runtimeDir, `gw-hostile-${mode}`),
        upstreamPath: compositor.socketPath,
        registry,
        backend: {
          kind: 'custom',
          create: (remote) => (backend = new MemfdGrantBackend({ remote })),
        },
        log,
        mode,
        limits,
        sinks: [
          (e) => {
            if (e.type === 'buffer-committed') commits++;
          },
        ],
      });
      ({ bridge, lifecycle } = assembled);
      return bridge;
    }

    async function client(): Promise<RawClient> {
      const c = await RawClient.open(bridge!.listenPath);
      clients.push(c);
      return c;
    }

    function memfd(size: number): number {
      const fd = memfdCreate('hostile');
      fds.push(fd);
      ftruncate(fd, size);
      return fd;
    }

    /** The warning the bridge logged for a limit, if one was hit. */
    const limitHit = (): { limit?: string; value?: number } | undefined =>
      logs.find((l) => l.limit !== undefined);

    /** A pool with one 64×64 buffer attached and committed to a fresh surface. */
    async function committedBuffer(
      c: RawClient,
      fd: number,
    ): Promise<{ pool: number; surface: number; buffer: number }> {
      const shown = c.showBuffer(fd, 64 * 64 * 4, 64, 64);
      await c.roundtrip();
      return shown;
    }

    describe.each(['grant', 'passthrough'] as const)('in %s mode', (mode) => {
      it('a pool file truncated after creation: the commit is refused, nobody faults', async () => {
        start(mode);
        const c = await client();
        const fd = memfd(64 * 64 * 4); // not sealed: the client can shrink it
        const { pool, surface, buffer } = await committedBuffer(c, fd);
        ftruncate(fd, 0);
        c.send(surface, attach, [buffer, 0, 0]);
        c.send(surface, damage, [0, 0, 64, 64]);
        c.send(surface, commit, []);
        await c.disconnected();
        // wl_shm.invalid_fd from the bridge's check at commit. In passthrough the compositor
        // maps the client's file, so it may fault on it first (and recover, as weston's
        // SIGBUS handler and the embedded compositor's pread do).
        expect(c.error()?.code).toBe(2);
        if (mode === 'grant' || c.error()?.objectId === pool) {
          expect(c.error()).toMatchObject({ objectId: pool });
          expect(c.error()?.message).toMatch(/truncated to 0 bytes/);
        }
        // Truncating once the bridge has checked and forwarded a commit races the
        // compositor's read. Grant mode copied at the commit and the compositor only maps
        // the grant pages; in passthrough the compositor maps the client's file and must
        // survive the fault itself (SECURITY.md).
        const d = await client();
        const fd2 = memfd(64 * 64 * 4);
        const frame = await committedBuffer(d, fd2);
        d.send(frame.surface, attach, [frame.buffer, 0, 0]);
        d.send(frame.surface, damage, [0, 0, 64, 64]);
        d.send(frame.surface, commit, []);
        await until(() => commits === 3, 'the bridge forwarded the commit');
        ftruncate(fd2, 0);
        await new Promise((resolve) => setTimeout(resolve, 100)); // a repaint or two
        const other = await client();
        await other.roundtrip();
        if (mode === 'grant') expect(d.peer.eof).toBe(false);
        report(
          `${kind}/${mode} truncated after a forwarded commit: client ${d.peer.eof ? `disconnected (${d.error()?.message})` : 'kept'}`,
        );
      });

      it.each([
        [
          'a socket',
          (): number => {
            const [a, b] = socketPair();
            fds.push(b);
            return a;
          },
          'a socket',
        ],
        ['a pipe', (): number => openFifo(), 'a pipe'],
        ['/dev/zero', (): number => openSync('/dev/zero', 'r+'), 'a character device'],
        ['a directory', (): number => openSync(tmpdir(), 'r'), 'a directory'],
      ])('a pool fd that is %s is refused with wl_shm.invalid_fd', async (_name, make, what) => {
        start(mode);
        const c = await client();
        const other = await client();
        const fd = make();
        try {
          c.send(c.shm, createPool, [c.newId(), fd, 4096]);
        } finally {
          closeFd(fd);
        }
        await c.disconnected();
        expect(c.error()).toMatchObject({ objectId: c.shm, code: 2 });
        expect(c.error()?.message).toContain(`not a regular file (${what})`);
        await other.roundtrip();
      });
    });

    it('a pool costs what its buffers cover: past maxPoolSize, maxShmTotal or maxShmDeclared it is refused before anything is granted', async () => {
      start('grant');
      const c = await client();
      const other = await client();
      // A 2 GiB sparse pool is only address space: accepted, nothing granted.
      const big = c.newId();
      c.send(c.shm, createPool, [big, memfd(0x7fff_ffff), 0x7fff_ffff]);
      // A 64 MiB buffer 1 GiB into it: 64 MiB granted.
      c.send(big, createBuffer, [c.newId(), 1 << 30, 4096, 4096, 16384, 0]);
      await c.roundtrip();
      expect(backend!.stats()).toMatchObject({ refsInUse: (64 * MiB) / 4096 });
      // 200 MiB more would make the pool's buffers cover 264 MiB.
      c.send(big, createBuffer, [c.newId(), 0, 4096, 12800, 16384, 0]);
      await c.disconnected();
      expect(c.error()).toMatchObject({ objectId: 1, code: 2 }); // wl_display.no_memory
      expect(c.error()?.message).toMatch(
        /^wl_shm_pool.create_buffer 4096x12800 at offset 0, its buffers would cover 276824064 bytes: over the per-client limit maxPoolSize = 268435456 bytes$/,
      );
      expect(limitHit()).toMatchObject({ limit: 'maxPoolSize', value: 256 * MiB });
      expect(backend!.stats().pagesGranted).toBe((64 * MiB) / 4096);

      // Four pools whose buffers cover 256 MiB each are within the 1 GiB total; a fifth is not.
      const d = await client();
      const fd = memfd(256 * MiB);
      for (let i = 0; i < 5; i++) {
        const pool = d.newId();
        d.send(d.shm, createPool, [pool, fd, 256 * MiB]);
        d.send(pool, createBuffer, [d.newId(), 0, 4096, 16384, 16384, 0]);
      }
      await d.disconnected();
      expect(d.error()?.message).toMatch(/create_buffer .*maxShmTotal = 1073741824 bytes/);
      expect(backend!.stats().pagesGranted).toBe((64 * MiB + 4 * 256 * MiB) / 4096);
      await other.roundtrip();
    });

    it('declared sizes are bounded by maxShmDeclared, whatever the buffers cover', async () => {
      start('grant', { maxShmDeclared: 1024 * MiB });
      const c = await client();
      const other = await client();
      const fd = memfd(256 * MiB);
      for (let i = 0; i < 5; i++) c.send(c.shm, createPool, [c.newId(), fd, 256 * MiB]);
      await c.disconnected();
      expect(c.error()?.message).toMatch(
        /^wl_shm.create_pool of 268435456 bytes, with 1073741824 bytes declared by 4 pools \(this one would add 268435456\): over the per-client limit maxShmDeclared = 1073741824 bytes$/,
      );
      expect(lifecycle!.backing!.stats.extentsAllocated).toBe(4);
      expect(backend!.stats().refsInUse).toBe(0);
      await other.roundtrip();
    });

    it('10 000 buffers fit the default limits; maxObjects stops a client that goes on', async () => {
      start('grant', {});
      const c = await client();
      const pool = c.newId();
      c.send(c.shm, createPool, [pool, memfd(65536), 65536]);
      const ids: number[] = [];
      const t0 = performance.now();
      await c.flood(
        Array.from({ length: 10_000 }, (_, i) => {
          ids.push(c.newId());
          return [pool, createBuffer, [ids[i]!, (i * 4) % 65536, 1, 1, 4, 0]];
        }),
      );
      await c.roundtrip(20_000);
      const created = performance.now() - t0;
      expect(bridge!.sessionStats()[0]!.objects).toBeGreaterThan(10_000);
      await c.flood(ids.map((id) => [id, bufferDestroy, []]));
      await c.roundtrip(20_000);
      report(`${kind}: 10 000 buffers created in ${created.toFixed(0)} ms`);
      expect(limitHit()).toBeUndefined();

      bridge!.close();
      lifecycle!.close();
      start('grant', { maxObjects: 5000 });
      const d = await client();
      const other = await client();
      const pool2 = d.newId();
      d.send(d.shm, createPool, [pool2, memfd(65536), 65536]);
      await d
        .flood(
          Array.from({ length: 10_000 }, () => [pool2, createBuffer, [d.newId(), 0, 1, 1, 4, 0]]),
        )
        .catch(() => undefined); // the bridge hangs up mid-flood
      await d.disconnected();
      expect(d.error()?.message).toMatch(
        /wl_buffer@5001 .*over the per-client limit maxObjects = 5000 objects/,
      );
      expect(limitHit()).toMatchObject({ limit: 'maxObjects', value: 5000 });
      await other.roundtrip();
    });

    it('a resize loop costs nothing when the size does not change, and stops at maxShmDeclared', async () => {
      start('grant', { maxShmDeclared: 256 * MiB });
      const c = await client();
      const other = await client();
      const pool = c.newId();
      c.send(c.shm, createPool, [pool, memfd(512 * MiB), 4096]);
      const t0 = performance.now();
      const steps: [number, Message, ArgValue[]][] = [];
      for (let size = 8192; size <= 4 * MiB; size += 4096) steps.push([pool, resize, [size]]);
      for (let i = 0; i < 1000; i++) steps.push([pool, resize, [4 * MiB]]);
      for (let size = 8 * MiB; size <= 256 * MiB; size *= 2) steps.push([pool, resize, [size]]);
      await c.flood(steps);
      await c.roundtrip(20_000);
      report(`${kind}: ${steps.length} resizes in ${(performance.now() - t0).toFixed(0)} ms`);
      const resized = lifecycle!.backing!.stats;
      expect(resized.extentsAllocated).toBe(1);
      c.send(pool, resize, [512 * MiB]);
      await c.disconnected();
      expect(c.error()?.message).toMatch(
        /wl_shm_pool.resize to 536870912 bytes, with 268435456 bytes declared .*: over the per-client limit maxShmDeclared/,
      );
      await other.roundtrip();
    });

    it('fds sent without a message to claim them, or pools piled up, stop at maxFds', async () => {
      start('grant');
      const c = await client();
      const other = await client();
      const fd = memfd(4096);
      // The header of a 4 KiB message whose body never comes; 28 fds with every byte.
      const header = encodeMessage(1, sync.opcode, sync.spec, [c.newId()]).bytes.slice(0, 8);
      new DataView(header.buffer).setUint16(6, 4096, true);
      let fdsPeak = 0;
      c.peer.sendBytes(header, Array<number>(28).fill(fd));
      for (let i = 0; i < 60 && !c.peer.eof; i++) {
        try {
          c.peer.sendBytes(new Uint8Array(4), Array<number>(28).fill(fd));
        } catch {
          break; // the bridge hung up
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
        fdsPeak = Math.max(fdsPeak, bridge!.sessionStats()[0]?.fds ?? 0);
      }
      await c.disconnected();
      expect(c.error()?.message).toMatch(/over the per-client limit maxFds = 1024 fds/);
      expect(fdsPeak).toBeLessThanOrEqual(1024);

      const d = await client();
      for (let i = 0; i < 1100; i++) {
        if (!(await d.sendPatiently(d.shm, createPool, [d.newId(), fd, 4096]))) break;
      }
      await d.disconnected();
      expect(d.error()?.message).toMatch(/maxFds = 1024 fds/);
      report(
        `${kind}: pools accepted before maxFds: ${lifecycle!.backing!.stats.extentsAllocated}`,
      );
      await other.roundtrip();
    });

    it('a client that never reads: bounded buffering, others unaffected, cut off by stallTimeoutMs', async () => {
      const maxBufferedBytes = 128 * 1024;
      start('grant', { maxBufferedBytes, stallTimeoutMs: 1000 });
      const good = await client();
      const baseline: number[] = [];
      for (let i = 0; i < 100; i++) baseline.push(await good.roundtrip());
      const bad = await client();
      bad.peer.setReading(false);
      const badSession = Math.max(...bridge!.sessionStats().map((s) => s.id));
      // 30 000 syncs: 360 KB of requests, 720 KB of events the client will never read.
      const floodBytes = encodeAll(Array.from({ length: 30_000 }, () => [1, sync, [bad.newId()]]));
      const flooding = bad.peer.sendBytesPatiently(floodBytes).catch(() => undefined);
      let peakBuffered = 0;
      const during: number[] = [];
      const t0 = performance.now();
      const closed = (): boolean => !bridge!.sessionStats().some((s) => s.id === badSession);
      while (!closed()) {
        const s = bridge!.sessionStats().find((x) => x.id === badSession);
        peakBuffered = Math.max(peakBuffered, s?.buffered ?? 0);
        during.push(await good.roundtrip());
        if (performance.now() - t0 > 15_000)
          throw new Error('the stalled client was never cut off');
      }
      await flooding;
      const cutOffAfter = performance.now() - t0;
      const reason = logs.find(
        (l) => l.msg === 'session closed' && l.session === badSession,
      )?.reason;
      expect(peakBuffered).toBeLessThanOrEqual(maxBufferedBytes);
      // weston cuts the connection itself once its 4 KiB buffer overflows; the embedded
      // compositor keeps up to 4 MiB, so there the bridge's stall limit does it.
      if (kind === 'embedded') {
        expect(reason).toBe('client limit stallTimeoutMs');
        expect(limitHit()).toMatchObject({ limit: 'stallTimeoutMs', value: 1000 });
      } else {
        // ('peer gone': the bridge's write to the upstream failed with EPIPE or ECONNRESET.)
        expect(reason).toMatch(/compositor disconnected|peer gone|client limit stallTimeoutMs/);
      }
      report(
        `${kind}: stalled client cut off after ${cutOffAfter.toFixed(0)} ms (${reason}); peak buffered ${peakBuffered} B; ` +
          `other client's roundtrip p50/p99/max ${summary(baseline)} ms before, ` +
          `${summary(during)} ms during (${during.length} roundtrips)`,
      );
      await (await client()).roundtrip();
    });
  },
);

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** "p50/p99/max" of latencies in ms. */
function summary(xs: readonly number[]): string {
  const sorted = [...xs].sort((a, b) => a - b);
  const at = (q: number): string => sorted[Math.floor(q * (sorted.length - 1))]!.toFixed(2);
  return `${at(0.5)}/${at(0.99)}/${at(1)}`;
}

/** A named pipe opened read-write (which never blocks on Linux), then unlinked. */
function openFifo(): number {
  const dir = mkdtempSync(join(tmpdir(), 'gw-fifo-'));
  try {
    execFileSync('mkfifo', [join(dir, 'p')]);
    return openSync(join(dir, 'p'), 'r+');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
