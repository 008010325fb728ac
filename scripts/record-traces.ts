// Records the lifecycle traces under fixtures/traces/ that the policy bench replays:
// real clients through the bridge (grant mode, memfd backend, E3 oracle, the default
// reclaim policy — what `grantway run --record FILE` does) on weston's headless
// backend. A few seconds each, so the fixtures stay small.
//
//   npx tsx scripts/record-traces.ts [--out DIR] [--seconds N] [--only NAME]
//
// Traces: weston-simple-shm (a steady 60 fps client, stopped with SIGINT),
// weston-terminal (a shell printing output, then exiting), resize-every-frame (a
// scripted libwayland client whose xdg_toplevel gets a new size, pool and buffer on
// every frame callback).

import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { bindGlobals } from '../harness/client/globals.js';
import { PoolFile } from '../harness/client/pool-file.js';
import { WaylandClient, type WaylandProxy } from '../harness/client/wayland-client.js';
import { assembleBridge } from '../bridge/assembly/assemble.js';
import { type WestonInstance, startWeston } from '../harness/real/weston.js';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'fixtures/traces' },
    seconds: { type: 'string', default: '2' },
    only: { type: 'string' },
  },
});
const OUT = resolve(values.out);
const SECONDS = Number(values.seconds);
const registry = new ProtocolRegistry();

type Client = (socketPath: string, runtimeDir: string) => Promise<void>;

/** Runs a program against the bridge socket; `stop` ends it (or it ends by itself). */
function program(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  stopAfterMs: number | undefined,
): Client {
  return (socketPath, runtimeDir) =>
    new Promise((resolvePromise, reject) => {
      const child = spawn(command, args, {
        env: { ...process.env, ...env, XDG_RUNTIME_DIR: runtimeDir, WAYLAND_DISPLAY: socketPath },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      const timers: NodeJS.Timeout[] = [];
      if (stopAfterMs !== undefined)
        timers.push(setTimeout(() => child.kill('SIGINT'), stopAfterMs));
      timers.push(setTimeout(() => child.kill('SIGKILL'), (stopAfterMs ?? 10_000) + 5_000));
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        for (const t of timers) clearTimeout(t);
        if (signal === 'SIGKILL') reject(new Error(`${command} had to be killed:\n${stderr}`));
        else {
          process.stderr.write(`  ${command} exited (${code ?? signal})\n`);
          resolvePromise();
        }
      });
    });
}

/**
 * A window resized every frame: each frame callback brings a new size, a new sealed
 * memfd pool and buffer of that size, and the previous buffer and pool are destroyed
 * once the new one is committed (what a toolkit that reallocates on configure does).
 */
function resizeEveryFrame(frames: number): Client {
  return async (socketPath) => {
    const client = WaylandClient.connect(socketPath);
    client.attachToLoop();
    try {
      const {
        wl_compositor: compositor,
        wl_shm: shm,
        xdg_wm_base: wm,
      } = await bindGlobals(client, registry, { wl_compositor: 4, wl_shm: 1, xdg_wm_base: 1 });
      wm.on('ping', ([serial]) => wm.request('pong', [serial as number]));
      const surface = compositor.request('create_surface') as WaylandProxy;
      const xdgSurface = wm.request('get_xdg_surface', [surface]) as WaylandProxy;
      const toplevel = xdgSurface.request('get_toplevel') as WaylandProxy;
      toplevel.request('set_title', ['grantway resize-every-frame']);
      xdgSurface.on('configure', ([serial]) =>
        xdgSurface.request('ack_configure', [serial as number]),
      );
      surface.request('commit');
      await client.roundtripAsync();
      let previous: { pool: WaylandProxy; buffer: WaylandProxy; file: PoolFile } | undefined;
      for (let k = 0; k < frames; k++) {
        // A drag back and forth between 200×150 and 520×390.
        const s = Math.abs(((k / 30) % 2) - 1);
        const width = Math.round(520 - s * 320);
        const height = Math.round(390 - s * 240);
        const size = width * height * 4;
        const file = new PoolFile(size, { name: 'grantway-resize' });
        file.bytes.fill(k & 0xff);
        const pool = shm.request('create_pool', [file.fd, size]) as WaylandProxy;
        const buffer = pool.request('create_buffer', [
          0,
          width,
          height,
          width * 4,
          1,
        ]) as WaylandProxy;
        surface.request('attach', [buffer, 0, 0]);
        surface.request('damage_buffer', [0, 0, width, height]);
        const frame = surface.request('frame') as WaylandProxy;
        const done = new Promise<void>((r) => frame.on('done', () => r()));
        surface.request('commit');
        if (previous !== undefined) {
          previous.buffer.destroy();
          previous.pool.destroy();
          previous.file.close();
        }
        previous = { pool, buffer, file };
        await Promise.race([done, sleep(100)]);
      }
      toplevel.destroy();
      xdgSurface.destroy();
      surface.destroy();
      if (previous !== undefined) {
        previous.buffer.destroy();
        previous.pool.destroy();
        previous.file.close();
      }
      await client.roundtripAsync();
      process.stderr.write(`  resize-every-frame: ${frames} frames\n`);
    } finally {
      client.close();
    }
  };
}

async function record(weston: WestonInstance, name: string, client: Client): Promise<void> {
  const path = join(OUT, `${name}.jsonl`);
  process.stderr.write(`recording ${name} → ${path}\n`);
  const bridge = assembleBridge({
    listenPath: join(weston.runtimeDir, `grantway-record-${name}`),
    upstreamPath: weston.socketPath,
    registry,
    recordPath: path,
    source: `grantway record-traces ${name}`,
  });
  try {
    await client(bridge.listenPath, weston.runtimeDir);
  } finally {
    await Promise.race([bridge.bridge.whenIdle(), sleep(1000)]);
    await bridge.settle(1000);
    bridge.close();
  }
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const shellScript = join(OUT, '.terminal-output.sh');
  const weston = await startWeston({ socketName: 'grantway-record', width: 800, height: 600 });
  try {
    const ms = SECONDS * 1000;
    const traces: Record<string, Client> = {
      'weston-simple-shm': program('weston-simple-shm', [], {}, ms),
      // weston-terminal runs $SHELL; this one prints a screenful per 50 ms, then exits,
      // and weston-terminal with it.
      'weston-terminal': (socket, dir) => {
        writeFileSync(
          shellScript,
          `#!/bin/sh\ni=0\nwhile [ $i -lt ${Math.round(ms / 50)} ]; do seq $i $((i + 40)); i=$((i + 1)); sleep 0.05; done\n`,
          { mode: 0o755 },
        );
        return program('weston-terminal', [`--shell=${shellScript}`], {}, undefined)(socket, dir);
      },
      'resize-every-frame': resizeEveryFrame(Math.round((ms / 1000) * 60)),
    };
    for (const [name, client] of Object.entries(traces)) {
      if (values.only !== undefined && values.only !== name) continue;
      await record(weston, name, client);
    }
  } finally {
    await weston.stop();
    rmSync(shellScript, { force: true });
  }
}

await main();
