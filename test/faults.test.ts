// Faults a bridge meets in real use, survived the way a user needs: a client SIGKILLed
// mid-frame, the compositor killed (or frozen) and started again on the same socket, a
// compositor connection that stops reading, the bridge itself restarted. After each,
// every grant of the gone side comes back once the compositor no longer maps it, none
// while it still does (checked at free time against /proc/PID/maps), other clients
// carry on, and the test process ends with the fds it started with and bounded memory.
// Embedded compositor always; weston too when installed. Figures go to stdout.

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../harness/compositor/control.js';
import { ScriptedWindow } from '../harness/client/scripted-client.js';
import { westonAvailable } from '../harness/real/weston.js';
import { encodeMessage, encodeMessageInto } from '../bridge/wire/encode.js';
import {
  BridgeRig,
  type CompositorKind,
  fdCount,
  fdsSettled,
  Painter,
  rssMiB,
  sleep,
  until,
} from './support/fault-rig.js';
import { concat, FuzzWorld, waitFor } from './support/fuzz-world.js';
import { request } from './support/raw-peer.js';

const kinds: CompositorKind[] = westonAvailable() ? ['embedded', 'weston'] : ['embedded'];
/** How long the compositor stops reading (CI default; FAULT_STALL_MS for minutes). */
const STALL_MS = Number(process.env.FAULT_STALL_MS ?? 1500);
const repo = fileURLToPath(new URL('..', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

const figures: string[] = [];
const report = (line: string): void => {
  figures.push(line);
};
afterAll(() => console.log(`faults:\n  ${figures.join('\n  ')}`));

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;

/** harness/demo/victim.ts in its own process: paints until killed, prints "frame N". */
function spawnVictim(socket: string): {
  frames: () => number;
  kill: () => void;
  exited: Promise<void>;
} {
  const child = spawn(
    process.execPath,
    ['--import', tsx, join(repo, 'harness/demo/victim.ts'), socket],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let frames = 0;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    frames += chunk.split('\n').filter((l) => l.startsWith('frame ')).length;
  });
  child.stderr.resume();
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return { frames: () => frames, kill: () => child.kill('SIGKILL'), exited };
}

describe.each(kinds)('faults on %s', (kind) => {
  it('a client SIGKILLed mid-frame: its grants come back once unmapped, others keep painting', async () => {
    const fdsBefore = fdCount();
    const rig = new BridgeRig();
    const compositor = await rig.startCompositor(kind);
    const control =
      kind === 'embedded'
        ? await ControlClient.connect(join(rig.dir, 'compositor.control'))
        : undefined;
    rig.startBridge();
    const reclaimMs: number[] = [];
    const heldMs = 300;
    const rounds = kind === 'embedded' ? 2 : 3;
    let rssFirst = 0;
    try {
      const others = [await Painter.open(rig.listenPath), await Painter.open(rig.listenPath)];
      expect(await Promise.all(others.map((p) => p.paintMore(3)))).toEqual([true, true]);
      const held = rig.extentsInUse;
      const knownPools = new Set((await control?.state())?.pools.map((p) => p.serial));
      for (let round = 0; round < rounds; round++) {
        const victim = spawnVictim(rig.listenPath);
        expect(await until(() => victim.frames() >= 4 + round, 20_000)).toBe(true);
        // The embedded compositor takes an external reference on the victim's pool (as
        // wl_shm_buffer_ref_pool does): it stays mapped after the client is gone, and
        // the bridge must keep its grant until the compositor lets go.
        const pool = (await control?.state())?.pools.find((p) => !knownPools.has(p.serial));
        const ref = pool === undefined ? undefined : await control?.refPool(pool.serial);
        await sleep(round); // somewhere in its next frame
        expect(rig.extentsInUse).toBeGreaterThan(held);
        victim.kill();
        await victim.exited;
        let letGoAt = performance.now();
        if (ref !== undefined) {
          await sleep(heldMs);
          expect(rig.extentsInUse).toBeGreaterThan(held); // still mapped: still granted
          await control?.unrefPool(ref);
          letGoAt = performance.now();
        }
        expect(await until(() => rig.extentsInUse === held, 5000)).toBe(true);
        reclaimMs.push(performance.now() - letGoAt);
        expect(rig.backend.unsafe).toBe(0);
        expect(await Promise.all(others.map((p) => p.paintMore(3)))).toEqual([true, true]);
        if (round === 0) rssFirst = rssMiB();
      }
      expect(others.map((p) => p.error)).toEqual([undefined, undefined]);
      for (const p of others) await p.stop();
      expect(await until(() => rig.bridge.sessionCount === 0 && rig.extentsInUse === 0, 5000)).toBe(
        true,
      );
      expect(rig.backend.unsafe).toBe(0);
    } finally {
      control?.close();
      await rig.stopBridge();
      await compositor.stop();
      rig.dispose();
    }
    const after =
      kind === 'embedded' ? `the compositor let go (held ${heldMs} ms past the kill)` : 'the kill';
    report(
      `${kind}: client SIGKILL ×${rounds}: grants back ${reclaimMs.map((ms) => ms.toFixed(0)).join('/')} ms after ${after}; ${rig.backend.frees} frees, 0 unsafe; RSS ${rssFirst.toFixed(0)}→${rssMiB().toFixed(0)} MiB`,
    );
    expect(await fdsSettled(fdsBefore)).toBe(fdsBefore);
  });

  it('the compositor killed and restarted on the same socket: clean hang-ups, then service again', async () => {
    const fdsBefore = fdCount();
    const rig = new BridgeRig();
    let compositor = await rig.startCompositor(kind);
    rig.startBridge();
    const hangupMs: number[] = [];
    // Embedded: once by its control channel's crash, once by SIGKILL (each restart costs
    // a TypeScript start-up); weston restarts fast.
    const rounds = kind === 'embedded' ? 2 : 3;
    let rssFirst = 0;
    try {
      for (let round = 0; round < rounds; round++) {
        const painters = [await Painter.open(rig.listenPath), await Painter.open(rig.listenPath)];
        expect(await Promise.all(painters.map((p) => p.paintMore(5)))).toEqual([true, true]);
        expect(painters.map((p) => p.error)).toEqual([undefined, undefined]);
        expect(rig.extentsInUse).toBe(2);
        if (kind === 'embedded' && round === 0) {
          const control = await ControlClient.connect(join(rig.dir, 'compositor.control'));
          await control.crash();
          control.close();
        } else {
          compositor.kill('SIGKILL');
        }
        const killedAt = performance.now();
        // Every client of the dead compositor sees its connection end; none hangs.
        expect(await until(() => painters.every((p) => p.error !== undefined), 5000)).toBe(true);
        hangupMs.push(performance.now() - killedAt);
        await compositor.exited;
        expect(
          await until(() => rig.bridge.sessionCount === 0 && rig.extentsInUse === 0, 5000),
        ).toBe(true);
        expect(rig.backend.unsafe).toBe(0);
        for (const p of painters) await p.stop();
        // With no compositor, a new client is refused with an error, not left hanging.
        const refused = await ScriptedWindow.open(rig.listenPath, {
          onError: () => undefined,
        }).then(
          (w) => {
            w.close();
            return false;
          },
          () => true,
        );
        expect(refused).toBe(true);
        compositor = await rig.startCompositor(kind);
        if (round === 0) rssFirst = rssMiB();
      }
      const last = await Painter.open(rig.listenPath);
      expect(await last.paintMore(5)).toBe(true);
      await last.stop();
      expect(await until(() => rig.extentsInUse === 0, 5000)).toBe(true);
      expect(rig.backend.unsafe).toBe(0);
    } finally {
      await rig.stopBridge();
      await compositor.stop();
      rig.dispose();
    }
    report(
      `${kind}: compositor killed+restarted ×${rounds}: clients saw the hang-up after ${hangupMs.map((ms) => ms.toFixed(0)).join('/')} ms; ${rig.backend.frees} grants back, 0 unsafe; RSS ${rssFirst.toFixed(0)}→${rssMiB().toFixed(0)} MiB`,
    );
    expect(rssMiB() - rssFirst).toBeLessThan(64);
    expect(await fdsSettled(fdsBefore)).toBe(fdsBefore);
  });

  it('the compositor frozen (SIGSTOP) and resumed: clients carry on, nothing lost', async () => {
    const fdsBefore = fdCount();
    const rig = new BridgeRig();
    const compositor = await rig.startCompositor(kind);
    rig.startBridge();
    try {
      const painters = [await Painter.open(rig.listenPath), await Painter.open(rig.listenPath)];
      expect(await Promise.all(painters.map((p) => p.paintMore(3)))).toEqual([true, true]);
      compositor.kill('SIGSTOP');
      await sleep(100);
      const frozenAt = painters.map((p) => p.frames);
      await sleep(Math.min(STALL_MS, 1000));
      const progress = painters.map((p, i) => p.frames - frozenAt[i]!);
      compositor.kill('SIGCONT');
      expect(progress).toEqual([0, 0]); // nothing can be shown while it is stopped
      expect(await Promise.all(painters.map((p) => p.paintMore(5)))).toEqual([true, true]);
      expect(painters.map((p) => p.error)).toEqual([undefined, undefined]);
      for (const p of painters) await p.stop();
      expect(await until(() => rig.extentsInUse === 0, 5000)).toBe(true);
      expect(rig.backend.unsafe).toBe(0);
    } finally {
      await rig.stopBridge();
      await compositor.stop();
      rig.dispose();
    }
    expect(await fdsSettled(fdsBefore)).toBe(fdsBefore);
  });
});

describe('a compositor connection that stops reading', () => {
  it('holds the client back, loses and reorders nothing, and delays no one else', async () => {
    const fdsBefore = fdCount();
    const world = FuzzWorld.start('grant');
    const msg = (
      id: number,
      iface: string,
      name: string,
      args: Parameters<typeof encodeMessage>[3],
    ) => {
      const r = request(iface, name);
      return encodeMessage(id, r.opcode, r.spec, args).bytes;
    };
    let roundtrips = 0;
    let worstMs = 0;
    const latencies: number[] = [];
    // Far more than the sockets and the bridge's buffers hold, each request numbered.
    const count = 150_000 + Math.floor(STALL_MS * 20);
    try {
      const flood = await world.connect(true);
      const others = [await world.connect(true), await world.connect(true)];
      for (const c of [flood, ...others])
        c.client.sendBytes(msg(1, 'wl_display', 'get_registry', [2]));
      for (const c of [flood, ...others]) await waitFor(() => c.client.received.length === 3, 5000);
      flood.client.sendBytes(
        concat([
          msg(2, 'wl_registry', 'bind', [1, { interface: 'wl_compositor', version: 4, id: 3 }]),
          msg(3, 'wl_compositor', 'create_surface', [4]),
        ]),
      );
      await waitFor(() => flood.upstream.peer.received.length === 3, 5000);
      const setup = flood.upstream.receivedBytes.length;

      flood.upstream.peer.setReading(false);
      const damage = request('wl_surface', 'damage');
      const stream = new Uint8Array(count * 24);
      for (let i = 0; i < count; i++) {
        encodeMessageInto(stream, i * 24, 4, damage.opcode, damage.spec, [i, i >> 8, 1, 1], []);
      }
      const sending = flood.client.sendBytesPatiently(stream, STALL_MS + 60_000);
      // Meanwhile the others' round trips go on as usual.
      const stallEnds = performance.now() + STALL_MS;
      let nextId = 3;
      while (performance.now() < stallEnds) {
        for (const o of others) {
          const before = o.client.received.length;
          const t0 = performance.now();
          o.client.sendBytes(msg(1, 'wl_display', 'sync', [nextId]));
          expect(await waitFor(() => o.client.received.length >= before + 2, 2000)).toBe(true);
          latencies.push(performance.now() - t0);
          worstMs = Math.max(worstMs, performance.now() - t0);
          roundtrips++;
        }
        nextId++;
        await sleep(10);
      }
      expect(flood.upstream.receivedBytes.length - setup).toBeLessThan(stream.length);
      flood.upstream.peer.setReading(true);
      await sending;
      expect(
        await waitFor(() => flood.upstream.receivedBytes.length === setup + stream.length, 30_000),
      ).toBe(true);
      expect(Buffer.compare(flood.upstream.receivedBytes.subarray(setup), stream)).toBe(0);
      expect(flood.client.eof).toBe(false);
      expect(others.every((o) => !o.client.eof && !o.upstream.peer.eof)).toBe(true);
    } finally {
      world.close();
    }
    // One event loop runs the bridge, the flooding client and the others here, so a GC
    // pause shows up; what matters is that nobody waited for the stalled connection.
    expect(roundtrips).toBeGreaterThan(20);
    expect(worstMs).toBeLessThan(Math.min(1000, STALL_MS / 2));
    report(
      `fake compositor stopped reading ${STALL_MS} ms: ${count} requests (${((count * 24) / 1e6).toFixed(1)} MB) held back then delivered byte-exact; ${roundtrips} round trips of other clients meanwhile, median ${median(latencies).toFixed(1)} ms, worst ${worstMs.toFixed(1)} ms`,
    );
    expect(await fdsSettled(fdsBefore)).toBe(fdsBefore);
  });
});

describe('the bridge restarted while clients run', () => {
  it('in process: clients see a clean hang-up, grants come back at E3, new clients are served', async () => {
    const fdsBefore = fdCount();
    const rig = new BridgeRig();
    const compositor = await rig.startCompositor('embedded');
    rig.startBridge();
    try {
      const painters = [await Painter.open(rig.listenPath), await Painter.open(rig.listenPath)];
      expect(await Promise.all(painters.map((p) => p.paintMore(3)))).toEqual([true, true]);
      const stoppedAt = performance.now();
      // A clean shutdown waits (bounded) for the compositor to unmap what it was given.
      await rig.stopBridge(3000);
      expect(await until(() => painters.every((p) => p.error !== undefined), 5000)).toBe(true);
      const hangupMs = performance.now() - stoppedAt;
      expect(rig.backend.unsafe).toBe(0);
      const old = rig.backend.stats();
      expect(old.extentsInUse).toBe(0);
      for (const p of painters) await p.stop();

      rig.startBridge(); // same socket path
      const fresh = [await Painter.open(rig.listenPath), await Painter.open(rig.listenPath)];
      expect(await Promise.all(fresh.map((p) => p.paintMore(5)))).toEqual([true, true]);
      for (const p of fresh) await p.stop();
      expect(await until(() => rig.extentsInUse === 0, 5000)).toBe(true);
      expect(rig.backend.unsafe).toBe(0);
      report(
        `bridge stopped in process: clients saw the hang-up within ${hangupMs.toFixed(0)} ms, ${old.frees} grants back at E3 first, 0 unsafe; new bridge on the same socket served 2 new clients`,
      );
    } finally {
      await rig.stopBridge();
      await compositor.stop();
      rig.dispose();
    }
    expect(await fdsSettled(fdsBefore)).toBe(fdsBefore);
  });

  it('as a process, SIGKILLed: clients see EOF, the compositor drops its pools, a new bridge takes the socket', async () => {
    const fdsBefore = fdCount();
    const rig = new BridgeRig();
    const compositor = await rig.startCompositor('embedded');
    const control = await ControlClient.connect(join(rig.dir, 'compositor.control'));
    const startProxy = async () => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          tsx,
          join(repo, 'bridge/cli/main.ts'),
          'proxy',
          '--listen',
          rig.listenPath,
          '--upstream',
          rig.upstreamPath,
          '--log-level',
          'error',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
      // Up once a client gets the globals through it.
      const up = await until(() => child.exitCode === null && rig.serves(), 20_000);
      if (!up) throw new Error(`proxy did not start: ${stderr}`);
      return { child, exited };
    };
    let proxy = await startProxy();
    try {
      const painters = [await Painter.open(rig.listenPath), await Painter.open(rig.listenPath)];
      expect(await Promise.all(painters.map((p) => p.paintMore(3)))).toEqual([true, true]);
      expect((await control.state()).pools.length).toBe(2);
      proxy.child.kill('SIGKILL');
      const killedAt = performance.now();
      expect(await until(() => painters.every((p) => p.error !== undefined), 5000)).toBe(true);
      const hangupMs = performance.now() - killedAt;
      await proxy.exited;
      for (const p of painters) await p.stop();
      // The dead bridge's connections closed, so the compositor unmapped its grant pages.
      let pools = -1;
      for (let i = 0; i < 100 && pools !== 0; i++) {
        pools = (await control.state()).pools.length;
        if (pools !== 0) await sleep(20);
      }
      expect(pools).toBe(0);
      // The socket and its lock file are left behind; a new bridge takes them over.
      proxy = await startProxy();
      const fresh = await Painter.open(rig.listenPath);
      expect(await fresh.paintMore(5)).toBe(true);
      await fresh.stop();
      report(
        `bridge process SIGKILLed: clients saw EOF within ${hangupMs.toFixed(0)} ms, the compositor freed all its pools, a new bridge took over the stale socket`,
      );
    } finally {
      proxy.child.kill('SIGKILL');
      await proxy.exited;
      control.close();
      await compositor.stop();
      rig.dispose();
    }
    expect(await fdsSettled(fdsBefore)).toBe(fdsBefore);
  });
});

describe('a repeated fault loop', () => {
  it(
    'keeps memory, fds and grants flat over many abrupt client deaths',
    async () => {
      const fdsBefore = fdCount();
      const rig = new BridgeRig();
      const compositor = await rig.startCompositor('embedded');
      rig.startBridge();
      const warmup = 5;
      const loops = Number(process.env.FAULT_LOOPS ?? 40);
      let rssWarm = 0;
      let fdsWarm = 0;
      try {
        const bystander = await Painter.open(rig.listenPath);
        for (let i = 0; i < warmup + loops; i++) {
          if (i === warmup) {
            rssWarm = rssMiB();
            fdsWarm = fdCount();
          }
          // A client that hangs up mid-frame with its pool and buffers live: for the
          // bridge the same as a SIGKILL (its socket closes with requests in flight).
          const victim = await Painter.open(rig.listenPath, 32 + (i % 5) * 16);
          await victim.paintMore(1 + (i % 3));
          victim.hangUp();
          await victim.stop();
          expect(await until(() => rig.extentsInUse === 1, 5000)).toBe(true);
        }
        expect(await bystander.paintMore(3)).toBe(true);
        expect(bystander.error).toBeUndefined();
        expect(fdCount()).toBe(fdsWarm);
        await bystander.stop();
        expect(await until(() => rig.extentsInUse === 0, 5000)).toBe(true);
        expect(rig.backend.unsafe).toBe(0);
      } finally {
        await rig.stopBridge();
        await compositor.stop();
        rig.dispose();
      }
      const growth = rssMiB() - rssWarm;
      report(
        `${loops} abrupt client deaths in a loop: RSS ${rssWarm.toFixed(0)}→${rssMiB().toFixed(0)} MiB, fds flat, ${rig.backend.frees} grants back, 0 unsafe`,
      );
      expect(growth).toBeLessThan(48);
      expect(await fdsSettled(fdsBefore)).toBe(fdsBefore);
    },
    30_000 + Number(process.env.FAULT_LOOPS ?? 40) * 200,
  );
});
