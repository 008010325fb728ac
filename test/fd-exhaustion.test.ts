// The proxy when its fd table is full (issue 14, item 1): a `grantway proxy` process
// under `prlimit --nofile=300`, in front of the embedded compositor, meets clients that
// fill its table with plain connections or with fds they park in messages that never
// complete. It must never crash: the clients it cannot serve are refused with a
// wl_display.error that names the cause, the clients it serves go on being served, and
// once the hostile ones leave its fd count is back to idle and it serves fresh clients.
//
// The long run: GW_FD_SOAK=10000 (npm run soak:fds) sequential hostile connections —
// plain, parked fds, pools left behind, and pools whose fd the bridge cannot map (a sealed
// memfd sent write-only, an O_PATH fd: the kinds that leaked an extent each); CI runs 1 000.

import { constants, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCompositor } from '../harness/embedded.js';
import { sleep } from '../harness/real/children.js';
import { encodeMessage } from '../bridge/wire/encode.js';
import {
  addSeals,
  close as closeFd,
  connectUnix,
  F_SEAL_SHRINK,
  ftruncate,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  memfdCreate,
} from '../ffi/libc.js';
import { type ProxyProcess, startProxyProcess } from './support/proxy-process.js';
import { RawClient, roundtripOrRefusal } from './support/raw-client.js';
import { event, RawPeer, request } from './support/raw-peer.js';

const NOFILE = 300;
const SOAK = Number(process.env.GW_FD_SOAK ?? 1000);
/** Set GW_HOSTILE_REPORT=1 to print what each case measured. */
const report = (line: string): void => {
  if (process.env.GW_HOSTILE_REPORT) console.log(`[fds] ${line}`);
};

const sync = request('wl_display', 'sync');
const createPool = request('wl_shm', 'create_pool');
const displayError = event('wl_display', 'error');

let compositor: Awaited<ReturnType<typeof startEmbeddedCompositor>>;
let proxy: ProxyProcess | undefined;
let spareFd: number;
/** Pool fds the bridge cannot map: the same sealed memfd write-only, and as O_PATH. */
let unmappableFds: number[];
const O_PATH = 0o10000000;

beforeAll(async () => {
  compositor = await startEmbeddedCompositor({ socketName: 'gw-fds-embedded' });
  spareFd = memfdCreate('parked');
  ftruncate(spareFd, 4096);
  const sealed = memfdCreate('sealed', MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ftruncate(sealed, 4096);
  addSeals(sealed, F_SEAL_SHRINK);
  unmappableFds = [constants.O_WRONLY, O_PATH].map((flags) =>
    openSync(`/proc/self/fd/${sealed}`, flags),
  );
  closeFd(sealed);
});
afterAll(async () => {
  closeFd(spareFd);
  for (const fd of unmappableFds) closeFd(fd);
  await compositor?.stop();
});
afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
});

async function start(): Promise<{ proxy: ProxyProcess; idle: number }> {
  proxy = await startProxyProcess({
    listenPath: join(compositor.runtimeDir, 'gw-fds-proxy'),
    upstreamPath: compositor.socketPath,
    nofile: NOFILE,
    // The default (a sixteenth of the fd limit) would refuse clients long before the fd
    // table fills; here the fd table itself is under test.
    args: ['--max-clients', '100000', '--max-clients-per-uid', '100000'],
  });
  // Idle is measured after a first client, which sets up what the bridge keeps for good.
  await freshClient(proxy);
  return { proxy, idle: await settled(proxy, Infinity) };
}

/** A fresh client through the proxy: globals, a pool, a roundtrip; then it leaves. */
async function freshClient(p: ProxyProcess): Promise<void> {
  const c = await RawClient.open(p.listenPath);
  try {
    c.send(c.shm, createPool, [c.newId(), spareFd, 4096]);
    await c.roundtrip();
  } finally {
    c.peer.close();
  }
}

/** Waits (up to 10 s) until the proxy's fd count is at most `idle`; returns the count. */
async function settled(p: ProxyProcess, idle: number): Promise<number> {
  let last = p.fdCount();
  let stableSince = Date.now();
  const deadline = Date.now() + 10_000;
  for (;;) {
    await sleep(20);
    const now = p.fdCount();
    if (now !== last) stableSince = Date.now();
    last = now;
    if (now <= idle && idle !== Infinity) return now;
    if (idle === Infinity && Date.now() - stableSince > 300) return now;
    if (Date.now() > deadline) return now;
  }
}

/**
 * Parks fds in the proxy: the header of a 4 KiB message whose body never comes, then
 * `writes` more bytes of it, each write carrying 28 fds (what libwayland takes in one
 * sendmsg). Returns once the proxy hung up, or after the last write when `leave` is set.
 */
async function parkFds(path: string, writes: number, leave: boolean): Promise<RawPeer> {
  const peer = RawPeer.connect(path);
  const header = encodeMessage(1, sync.opcode, sync.spec, [2]).bytes.slice(0, 8);
  new DataView(header.buffer).setUint16(6, 4096, true);
  const fds = Array<number>(28).fill(spareFd);
  try {
    peer.sendBytes(header, fds);
    for (let i = 1; i < writes && !peer.eof; i++) peer.sendBytes(new Uint8Array(4), fds);
  } catch {
    // the proxy hung up mid-way
  }
  if (!leave) await peer.until(() => peer.eof, 10_000, 'the proxy cutting off a parked client');
  return peer;
}

describe(`grantway proxy under prlimit --nofile=${NOFILE}`, () => {
  it('plain connections that fill its fd table: the extra clients are refused, named EMFILE; the rest go on', async () => {
    const { proxy: p, idle } = await start();
    const served: RawPeer[] = [];
    const refusals: string[] = [];
    try {
      while (refusals.length < 5 && served.length < NOFILE) {
        const outcome = await roundtripOrRefusal(p.listenPath);
        if ('served' in outcome) served.push(outcome.served);
        else if ('refused' in outcome) refusals.push(outcome.refused);
        else throw new Error('a client was hung up on without a word');
      }
      expect(p.exited()).toBeNull();
      expect(refusals.length).toBe(5);
      for (const message of refusals) {
        expect(message).toMatch(
          /^grantway: no file descriptor left .*\(EMFILE\); try again later$/,
        );
      }
      // Those it serves still get their replies while the table is full.
      const first = served[0]!;
      first.send(1, sync, [3]);
      await first.until(() => first.received.some((m) => m.objectId === 3), 5000, 'a reply');
      report(
        `${served.length} plain connections served (${p.fdCount()} fds), then refused: ${refusals[0]}`,
      );
    } finally {
      for (const peer of served) peer.close();
    }
    expect(await settled(p, idle)).toBe(idle);
    await freshClient(p);
    expect(p.exited()).toBeNull();
  }, 60_000);

  it('a client that parks fds until the table is full is cut off alone, with no_memory naming the cause', async () => {
    const { proxy: p, idle } = await start();
    const bystander = await RawClient.open(p.listenPath);
    try {
      const parker = await parkFds(p.listenPath, 20, false);
      const error = parker.received.find((m) => m.objectId === 1);
      expect(error && parker.decode(error, displayError.spec)).toEqual([
        1,
        2, // no_memory
        'grantway: file descriptors sent with a message were lost: the receiving fd table is full',
      ]);
      parker.close();
      await bystander.roundtrip();
    } finally {
      bystander.peer.close();
    }
    expect(await settled(p, idle)).toBe(idle);
    await freshClient(p);
  }, 60_000);

  it(
    `survives ${SOAK} sequential hostile connections and serves a fresh client after each hundred`,
    async () => {
      const { proxy: p, idle } = await start();
      const rssBefore = rssMiB(p.pid);
      const t0 = performance.now();
      let refusedInBursts = 0;
      let peakFds = 0;
      for (let i = 0; i < SOAK; i++) {
        switch (i % 5) {
          case 0: // a plain connection, gone at once
            closeFd(connectUnix(p.listenPath));
            break;
          case 1: // parks fds until the table is full: cut off
            (await parkFds(p.listenPath, 12, false)).close();
            break;
          case 2: // parks 28 fds and leaves
            (await parkFds(p.listenPath, 1, true)).close();
            break;
          case 3: {
            // a pool, then gone without destroying anything
            const c = await RawClient.open(p.listenPath);
            c.send(c.shm, createPool, [c.newId(), spareFd, 4096]);
            c.peer.close();
            break;
          }
          default: {
            // a pool whose fd the bridge cannot map: refused with wl_shm.invalid_fd
            const c = await RawClient.open(p.listenPath);
            const fd = unmappableFds[Math.floor(i / 5) % unmappableFds.length]!;
            c.send(c.shm, createPool, [c.newId(), fd, 4096]);
            await c.peer.until(() => c.peer.eof, 10_000, 'the refusal of an unmappable pool');
            const error = c.peer.received.find(
              (m) => m.objectId === 1 && m.opcode === displayError.opcode,
            );
            // wl_shm.invalid_fd (2) on the wl_shm object, as a compositor would say it.
            expect(error && c.peer.decode(error, displayError.spec).slice(0, 2)).toEqual([
              c.shm,
              2,
            ]);
            c.peer.close();
          }
        }
        if (i % 100 === 99) {
          // A burst that fills the table, all at once; then everyone leaves.
          const burst = Array.from({ length: NOFILE / 2 }, () => RawPeer.connect(p.listenPath));
          await sleep(50);
          peakFds = Math.max(peakFds, p.fdCount());
          await Promise.all(burst.map((b) => b.until(() => b.eof, 300).catch(() => undefined)));
          refusedInBursts += burst.filter((b) => b.eof).length;
          for (const b of burst) b.close();
          expect(await settled(p, idle)).toBe(idle);
          await freshClient(p);
          expect(p.exited()).toBeNull();
        }
      }
      const seconds = (performance.now() - t0) / 1000;
      const after = await settled(p, idle);
      expect(after).toBe(idle);
      await freshClient(p);
      expect(p.exited()).toBeNull();
      expect(p.output()).not.toMatch(/internal error|uncaught/i);
      report(
        `${SOAK} hostile connections in ${seconds.toFixed(1)} s; fds idle ${idle}, peak ${peakFds}, back to ${after}; ` +
          `${refusedInBursts} burst connections refused; proxy RSS ${rssBefore} → ${rssMiB(p.pid)} MiB`,
      );
    },
    30 * 60_000,
  );
});

function rssMiB(pid: number): string {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return (kb / 1024).toFixed(0);
  } catch {
    return '?';
  }
}
