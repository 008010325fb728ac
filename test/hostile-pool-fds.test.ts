// Pool fds the bridge cannot use, and resources it runs out of on the pool path
// (issue 14, items 1, 4, 6 and 10). A client's create_pool must end in one of two ways:
// the pool works, or the client gets the wl_display.error libwayland would send
// (wl_shm.invalid_fd for a file that cannot back a pool, no_memory naming the cause when
// the bridge itself is out of fds or memory) — never "internal error", and whatever the
// bridge took for the pool (its dup, a grant extent, mappings) is given back. And what a
// client makes the bridge hold is what the limits count: in grant mode each pool costs
// the bridge two fds and, for a sealed pool read through a mapping, twice the bytes its
// buffers cover; the client's holes it holds nothing for.
//
// The bridge runs in this process (its fds, address space and memory are this
// process's), in front of the embedded compositor and weston headless.

import { execFileSync } from 'node:child_process';
import { constants, openSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AssembledBridge, assembleBridge } from '../bridge/assembly/assemble.js';
import type { GrantBackend } from '../bridge/grants/types.js';
import type { Bridge } from '../bridge/relay/bridge.js';
import type { ClientLimits } from '../bridge/relay/limits.js';
import type { Lifecycle } from '../bridge/shm/lifecycle.js';
import {
  F_SEAL_SHRINK,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  PROT_READ,
  PROT_WRITE,
  addSeals,
  close as closeFd,
  fstat,
  ftruncate,
  memfdCreate,
  mmap,
  munmap,
  nativeView,
} from '../ffi/libc.js';
import { COMPOSITORS, type RunningCompositor, startCompositor } from './support/compositors.js';
import { RawClient } from './support/raw-client.js';
import { registry, request } from './support/raw-peer.js';

const createPool = request('wl_shm', 'create_pool');
const resize = request('wl_shm_pool', 'resize');

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const MiB = 1024 * 1024;
const MFD_HUGETLB = 0x4;
const O_PATH = 0o10000000;
const openFds = (): number => readdirSync('/proc/self/fd').length;
/** Set GW_HOSTILE_REPORT=1 to print the figures each case measured. */
const report = (line: string): void => {
  if (process.env.GW_HOSTILE_REPORT) console.log(`[hostile] ${line}`);
};
/** Shared memory this process maps and has resident (extents and client pools), in bytes. */
const rssShmem = (): number =>
  Number(/RssShmem:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;

/** Sets this process's RLIMIT_NOFILE or RLIMIT_AS soft limit (prlimit from util-linux). */
function setSoftLimit(resource: 'nofile' | 'as', soft: number | string, hard: string): void {
  execFileSync('prlimit', ['--pid', String(process.pid), `--${resource}=${soft}:${hard}`]);
}
function limitOf(resource: 'nofile' | 'as'): { soft: string; hard: string } {
  const out = execFileSync('prlimit', [
    '--pid',
    String(process.pid),
    `--${resource}`,
    '--raw',
    '--noheadings',
    '--output=SOFT,HARD',
  ]);
  const [soft, hard] = out.toString().trim().split(/\s+/);
  return { soft: soft!, hard: hard! };
}

/**
 * A bridge in this process in front of a compositor, with what the tests look at: its
 * logs, grant backing and backend; `stop` says what it still held just before shutdown.
 */
class PoolBridge {
  assembled: AssembledBridge | undefined;
  bridge: Bridge | undefined;
  lifecycle: Lifecycle | undefined;
  backend: GrantBackend | undefined;
  logs: { level: number; msg: string }[] = [];
  readonly clients: RawClient[] = [];
  /** Closed by stop(). */
  readonly fds: number[] = [];

  constructor(
    private readonly name: string,
    private readonly compositor: () => RunningCompositor,
  ) {}

  start(mode: 'grant' | 'passthrough', limits: Partial<ClientLimits> = {}): void {
    const compositor = this.compositor();
    this.logs = [];
    this.assembled = assembleBridge({
      listenPath: join(compositor.runtimeDir, `${this.name}-${mode}`),
      upstreamPath: compositor.socketPath,
      registry,
      log: pino(
        { level: 'debug' },
        { write: (line: string) => this.logs.push(JSON.parse(line) as PoolBridge['logs'][number]) },
      ),
      mode,
      limits,
    });
    ({ bridge: this.bridge, lifecycle: this.lifecycle, backend: this.backend } = this.assembled);
  }

  async client(): Promise<RawClient> {
    const c = await RawClient.open(this.bridge!.listenPath);
    this.clients.push(c);
    return c;
  }

  /** A memfd of `size` bytes, sealed against shrinking or not; closed by stop(). */
  memfd(size: number, sealed: boolean, flags = MFD_CLOEXEC | MFD_ALLOW_SEALING): number {
    const fd = memfdCreate('gw-poolfd', flags);
    this.fds.push(fd);
    ftruncate(fd, size);
    if (sealed) addSeals(fd, F_SEAL_SHRINK);
    return fd;
  }

  /** Ends the clients and the bridge; says what the bridge still held just before. */
  async stop(): Promise<{ backed: number; extents: number; internalErrors: number }> {
    for (const c of this.clients.splice(0)) c.peer.close();
    await this.bridge?.whenIdle();
    await this.assembled?.settle(5000); // pools still mapped wait for the compositor to unmap
    const left = {
      backed: this.lifecycle?.backing?.extentsInUse ?? 0,
      extents: this.backend?.stats().extentsInUse ?? 0,
      internalErrors: this.logs.filter((l) => l.msg.includes('session failed')).length,
    };
    this.assembled?.close();
    this.assembled = undefined;
    this.bridge = undefined;
    this.lifecycle = undefined;
    this.backend = undefined;
    for (const fd of this.fds.splice(0)) closeFd(fd);
    return left;
  }
}

describe.each(COMPOSITORS)('pool fds on the $kind compositor', ({ kind }) => {
  let compositor: RunningCompositor;
  const f = new PoolBridge('gw-poolfd', () => compositor);
  let fdsBefore: number;

  beforeAll(async () => {
    compositor = await startCompositor(kind, `gw-poolfd-${kind}`);
  });
  afterAll(async () => {
    await compositor?.stop();
  });

  beforeEach(() => {
    fdsBefore = openFds();
  });

  afterEach(async () => {
    const left = await f.stop();
    // Whatever the bridge took for a pool went back while it ran, before shutdown.
    expect(left).toEqual({ backed: 0, extents: 0, internalErrors: 0 });
    expect(openFds()).toBe(fdsBefore);
  });

  /** The same file opened again through /proc with other flags (a new open file). */
  function reopen(fd: number, flags: number): number {
    const again = openSync(`/proc/self/fd/${fd}`, flags);
    f.fds.push(again);
    return again;
  }

  const unusable: [string, () => number, RegExp][] = [
    [
      'a sealed memfd opened write-only',
      () => reopen(f.memfd(4096, true), constants.O_WRONLY),
      /not open for reading/,
    ],
    [
      'an unsealed memfd opened write-only',
      () => reopen(f.memfd(4096, false), constants.O_WRONLY),
      /not open for reading/,
    ],
    ['an O_PATH fd of a memfd', () => reopen(f.memfd(4096, true), O_PATH), /O_PATH/],
  ];

  describe.each(['grant', 'passthrough'] as const)('in %s mode', (mode) => {
    it.each(unusable)(
      '%s is refused with wl_shm.invalid_fd, before anything is allocated',
      async (_name, make, why) => {
        f.start(mode);
        const other = await f.client();
        // Many clients, as an attacker would: nothing may pile up.
        for (let i = 0; i < 20; i++) {
          const c = await f.client();
          c.send(c.shm, createPool, [c.newId(), make(), 4096]);
          await c.disconnected();
          expect(c.error()).toMatchObject({ objectId: c.shm, code: 2 });
          expect(c.error()?.message).toMatch(why);
        }
        expect(f.lifecycle!.backing?.stats.extentsAllocated ?? 0).toBe(0);
        await other.roundtrip();
      },
    );

    it('a pool shrunk or resized to a negative size gets wl_shm.invalid_fd, as from weston', async () => {
      f.start(mode);
      for (const size of [4096, -4096]) {
        const c = await f.client();
        const pool = c.newId();
        c.send(c.shm, createPool, [pool, f.memfd(8192, true), 8192]);
        c.send(pool, resize, [size]);
        await c.disconnected();
        expect(c.error()).toMatchObject({ objectId: pool, code: 2 });
        expect(c.error()?.message).toMatch(/shrinking pool invalid/);
      }
    });
  });

  it('a sealed hugetlb memfd the bridge cannot map: wl_shm.invalid_fd, and the extent goes back', async () => {
    f.start('grant');
    const other = await f.client();
    for (let i = 0; i < 20; i++) {
      const c = await f.client();
      // 2 MiB of file (one huge page), a 4 KiB pool: hugetlbfs refuses the 4 KiB mapping.
      const fd = f.memfd(2 * MiB, true, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB);
      c.send(c.shm, createPool, [c.newId(), fd, 4096]);
      await c.disconnected();
      expect(c.error()).toMatchObject({ objectId: c.shm, code: 2 });
      expect(c.error()?.message).toMatch(/cannot map the pool fd/);
      expect(f.lifecycle!.backing!.extentsInUse).toBe(0);
    }
    await other.roundtrip();
  });
});

describe('the bridge out of resources on the pool path (embedded compositor)', () => {
  let compositor: RunningCompositor;
  const f = new PoolBridge('gw-poolres', () => compositor);

  beforeAll(async () => {
    compositor = await startCompositor('embedded', 'gw-poolres-embedded');
  });
  afterAll(async () => {
    await compositor?.stop();
  });
  afterEach(async () => {
    const left = await f.stop();
    expect(left).toEqual({ backed: 0, extents: 0, internalErrors: 0 });
  });

  /**
   * Sends create_pool while the process's fd table has exactly `free` slots left, and
   * waits for the outcome: the pool works (a roundtrip answers) or the client is cut off.
   */
  async function createPoolWithFreeFds(c: RawClient, fd: number, free: number): Promise<void> {
    const { soft, hard } = limitOf('nofile');
    const fillers: number[] = [];
    setSoftLimit('nofile', openFds() + 64, hard);
    try {
      for (;;) {
        try {
          fillers.push(openSync('/dev/null', 'r'));
        } catch {
          break; // EMFILE: the table is full
        }
      }
      for (let i = 0; i < free; i++) closeFd(fillers.pop()!);
      c.send(c.shm, createPool, [c.newId(), fd, 64 * 1024]);
      await c.roundtrip().catch(() => undefined); // the pool works, or the client was cut off
    } finally {
      for (const filler of fillers) closeFd(filler);
      setSoftLimit('nofile', soft, hard);
    }
  }

  it.each(['grant', 'passthrough'] as const)(
    '%s mode: create_pool with the fd table nearly full gets no_memory naming it, never "internal error"',
    async (mode) => {
      f.start(mode);
      const outcomes: string[] = [];
      for (let free = 1; free <= 4; free++) {
        const c = await f.client();
        const fd = f.memfd(64 * 1024, true);
        await createPoolWithFreeFds(c, fd, free);
        const error = c.error();
        outcomes.push(error === undefined ? 'ok' : `${error.code} ${error.message}`);
        if (error !== undefined) {
          expect(error).toMatchObject({ objectId: 1, code: 2 }); // wl_display.no_memory
          expect(error.message).toMatch(/fd table is full \(EMFILE in /);
        }
        c.peer.close();
      }
      report(`${mode}: create_pool with 1..4 free fds: ${outcomes.join(' | ')}`);
      expect(outcomes[0]).not.toBe('ok'); // one free slot: the received fd takes it
      expect(outcomes[outcomes.length - 1]).toBe('ok');
      expect(f.logs.filter((l) => l.msg.includes('session failed'))).toEqual([]);
      await (await f.client()).roundtrip();
    },
  );

  it('grant mode out of address space: no_memory naming it, and the extent goes back', async () => {
    f.start('grant', { maxPoolSize: 256 * MiB });
    const c = await f.client();
    const size = 128 * MiB;
    const fd = f.memfd(size, true);
    const { soft, hard } = limitOf('as');
    // Room for the extent (128 MiB) but not for the range that maps the pool beside it
    // (256 MiB). Collected first, so the heap does not give address space back meanwhile.
    gc();
    const vmSize = Number(/VmSize:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
    setSoftLimit('as', (vmSize * 1024 + size + 32 * MiB) & ~4095, hard);
    try {
      c.send(c.shm, createPool, [c.newId(), fd, size]);
      await c.roundtrip().catch(() => undefined);
    } finally {
      setSoftLimit('as', soft, hard);
    }
    expect(c.error()).toMatchObject({ objectId: 1, code: 2 });
    expect(c.error()?.message).toMatch(/out of memory \(ENOMEM in /);
    // The extent was taken, and given back.
    expect(f.backend!.stats()).toMatchObject({ allocations: 1, frees: 1 });
    expect(f.logs.filter((l) => l.msg.includes('session failed'))).toEqual([]);
    await (await f.client()).roundtrip();
  });

  it('grant mode: maxFds counts both fds a pool costs the bridge (its dup and the extent)', async () => {
    const maxFds = 64;
    f.start('grant', { maxFds });
    const c = await f.client();
    const fd = f.memfd(4096, true);
    const base = openFds();
    let peak = 0;
    let pools = 0;
    while (!c.peer.eof && pools < 200) {
      c.send(c.shm, createPool, [c.newId(), fd, 4096]);
      await c.roundtrip().catch(() => undefined);
      if (!c.peer.eof) pools++;
      peak = Math.max(peak, openFds() - base);
    }
    report(`grant: maxFds ${maxFds}: ${pools} pools, peak ${peak} fds held; ${c.error()?.message}`);
    expect(c.error()?.message).toMatch(/over the per-client limit maxFds = 64 fds/);
    expect(peak).toBeLessThanOrEqual(maxFds);
    // The count in the message is what the bridge really held.
    const said = Number(/hold (\d+) fds/.exec(c.error()!.message)![1]);
    expect(said).toBeGreaterThanOrEqual(peak);
  });

  it.each([
    ['sealed', true, 2],
    ['unsealed', false, 4],
  ] as const)(
    'grant mode, %s pools: maxShmTotal counts what the bridge makes resident (%s pools of 16 MiB in 64 MiB)',
    async (name, sealed, fit) => {
      f.start('grant', { maxPoolSize: 16 * MiB, maxShmTotal: 64 * MiB });
      const c = await f.client();
      const before = rssShmem();
      let held = 0;
      let pools = 0;
      for (let i = 0; i < 6 && !c.peer.eof; i++) {
        // A client pool drawn all over, all of it shown: the bridge copies every byte.
        const fd = f.memfd(16 * MiB, sealed);
        const ptr = mmap(fd, 16 * MiB, PROT_READ | PROT_WRITE);
        nativeView(ptr, 16 * MiB).fill(0x40 + i);
        munmap(ptr, 16 * MiB);
        c.showBuffer(fd, 16 * MiB, 2048, 2048);
        await c.roundtrip(20_000).catch(() => undefined);
        if (!c.peer.eof) pools++;
        held = Math.max(held, rssShmem() - before);
      }
      report(
        `grant ${name}: ${pools} pools of 16 MiB accepted, ` +
          `bridge shmem +${(held / MiB).toFixed(1)} MiB; ${c.error()?.message}`,
      );
      expect(pools).toBe(fit);
      expect(c.error()?.message).toMatch(/over the per-client limit maxShmTotal = 67108864 bytes/);
      expect(held).toBeLessThanOrEqual(64 * MiB + 4 * MiB);
      expect(held).toBeGreaterThanOrEqual(48 * MiB); // what the limit counts was held
    },
  );

  it.each([
    ['sealed', true],
    ['unsealed', false],
  ] as const)(
    'grant mode, %s sparse pools shown whole: the bridge holds nothing for the holes',
    async (name, sealed) => {
      f.start('grant');
      const c = await f.client();
      const before = rssShmem();
      const fds: number[] = [];
      for (let i = 0; i < 4; i++) {
        // 16 MiB of which the client drew only its first and last MiB.
        const fd = f.memfd(16 * MiB, sealed);
        const ptr = mmap(fd, 16 * MiB, PROT_READ | PROT_WRITE);
        nativeView(ptr, 16 * MiB).fill(0x7f, 0, MiB);
        nativeView(ptr, 16 * MiB).fill(0x7f, 15 * MiB, 16 * MiB);
        munmap(ptr, 16 * MiB);
        fds.push(fd);
        c.showBuffer(fd, 16 * MiB, 2048, 2048);
      }
      await c.roundtrip(20_000);
      const held = rssShmem() - before;
      const clientPages = fds.reduce((n, fd) => n + fstat(fd).allocated, 0);
      report(
        `grant ${name}: 4 sparse pools of 16 MiB (2 MiB drawn each) shown whole: bridge ` +
          `shmem +${(held / MiB).toFixed(1)} MiB, client files ${(clientPages / MiB).toFixed(1)} MiB`,
      );
      // The extents hold the 8 MiB drawn; the bridge read no hole into the client's files.
      expect(clientPages).toBe(8 * MiB);
      expect(held).toBeLessThanOrEqual((sealed ? 16 : 8) * MiB + 2 * MiB);
      expect(f.lifecycle!.backing!.stats.bytesDiscarded).toBe(4 * 14 * MiB);
    },
  );
});
