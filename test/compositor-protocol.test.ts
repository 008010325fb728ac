// The embedded compositor's protocol behaviour, in this process (its clients run on
// Node's loop): the errors it posts, with the interface and code a libwayland-server
// compositor would use; subsurface commit semantics and composition; ping/pong; the
// socket lock; the PNG codec; and the `grantway compositor` command line.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { deflateSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../harness/compositor/control.js';
import { PngFormatError } from '../harness/compositor/errors.js';
import { crc32, decodePng, encodePng, type RgbaImage } from '../harness/compositor/png.js';
import { ScriptedWindow } from '../harness/client/scripted-client.js';
import { EmbeddedCompositor } from '../harness/compositor/server.js';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';
import { SocketInUseError } from '../bridge/relay/errors.js';
import { type WaylandProxy, WaylandDisplayError } from '../harness/client/wayland-client.js';

const protocols = new ProtocolRegistry();
const ARGB = 0;
const XRGB = 1;

function pixel(img: RgbaImage, x: number, y: number): number[] {
  const i = (y * img.width + x) * 4;
  return [...img.data.subarray(i, i + 4)];
}

describe('embedded compositor protocol (in process)', () => {
  let dir: string;
  let compositor: EmbeddedCompositor;
  const windows: ScriptedWindow[] = [];
  /** The compositor's own warn-level log: one line per protocol error it posted. */
  const logLines: string[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'grantway-inproc-'));
    compositor = EmbeddedCompositor.start({
      socketPath: join(dir, 'wayland-embedded'),
      width: 64,
      height: 48,
      log: pino({ level: 'warn' }, { write: (line: string) => void logLines.push(line) }),
    });
  });

  afterEach(() => {
    for (const w of windows.splice(0)) w.close();
  });

  afterAll(() => {
    compositor?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = async (title = 'protocol'): Promise<ScriptedWindow> => {
    const w = await ScriptedWindow.open(compositor.socketPath, { title, onError: () => {} });
    windows.push(w);
    return w;
  };

  /**
   * Runs `provoke` and returns the protocol error as the client saw it, and as the
   * compositor logged it (a client cannot name the interface of an object it has
   * already destroyed: libwayland-client then reports no interface).
   */
  const protocolError = async (
    provoke: (w: ScriptedWindow) => { readonly id: number },
  ): Promise<{ interfaceName: string; code: number; logged: { object: number; code: number } }> => {
    const w = await open();
    const target = provoke(w);
    logLines.length = 0;
    const error = await w.roundtrip().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WaylandDisplayError);
    const pe = (error as WaylandDisplayError).protocolError!;
    const logged = logLines
      .map((l) => JSON.parse(l) as { object: number; code: number; msg: string })
      .find((l) => l.msg.startsWith('protocol error'))!;
    expect(logged.object).toBe(target.id);
    return {
      interfaceName: pe.interfaceName,
      code: pe.code,
      logged: { object: logged.object, code: logged.code },
    };
  };

  const cases: {
    name: string;
    provoke: (w: ScriptedWindow) => { readonly id: number };
    /** '' where the client destroyed the object first (see protocolError). */
    interfaceName: string;
    code: number;
  }[] = [
    {
      name: 'buffer scale 0 → wl_surface.invalid_scale',
      provoke: (w) => (w.surface.request('set_buffer_scale', [0]), w.surface),
      interfaceName: 'wl_surface',
      code: 0,
    },
    {
      name: 'buffer transform 9 → wl_surface.invalid_transform',
      provoke: (w) => (w.surface.request('set_buffer_transform', [9]), w.surface),
      interfaceName: 'wl_surface',
      code: 1,
    },
    {
      name: 'buffer not a multiple of the scale → wl_surface.invalid_size',
      provoke: (w) => {
        const pool = w.createPool(3 * 3 * 4);
        const b = w.createBuffer(pool, 3, 3);
        w.surface.request('set_buffer_scale', [2]);
        w.surface.request('attach', [b.proxy, 0, 0]);
        w.surface.request('commit');
        return w.surface;
      },
      interfaceName: 'wl_surface',
      code: 2,
    },
    {
      name: 'attach with an offset at version 5 → wl_surface.invalid_offset',
      provoke: (w) => (w.surface.request('attach', [null, 1, 0]), w.surface),
      interfaceName: 'wl_surface',
      code: 3,
    },
    {
      name: 'unknown format → wl_shm.invalid_format',
      provoke: (w) => {
        const pool = w.createPool(64);
        pool.proxy.request('create_buffer', [0, 2, 2, 8, 0x34325258]);
        return pool.proxy;
      },
      interfaceName: 'wl_shm_pool',
      code: 0,
    },
    {
      name: 'buffer past the end of the pool → wl_shm.invalid_stride',
      provoke: (w) => {
        const pool = w.createPool(64);
        pool.proxy.request('create_buffer', [8, 4, 4, 16, XRGB]);
        return pool.proxy;
      },
      interfaceName: 'wl_shm_pool',
      code: 1,
    },
    {
      name: 'shrinking resize → wl_shm.invalid_fd',
      provoke: (w) => {
        const pool = w.createPool(64);
        pool.proxy.request('resize', [32]);
        return pool.proxy;
      },
      interfaceName: 'wl_shm_pool',
      code: 2,
    },
    {
      name: 'buffer before the first ack_configure → xdg_surface.unconfigured_buffer',
      provoke: (w) => {
        const surface = w.compositor.request('create_surface') as WaylandProxy;
        const xdg = w.wmBase.request('get_xdg_surface', [surface]) as WaylandProxy;
        xdg.request('get_toplevel');
        const b = w.createBuffer(w.createPool(16), 2, 2);
        surface.request('attach', [b.proxy, 0, 0]);
        surface.request('commit');
        return xdg;
      },
      interfaceName: 'xdg_surface',
      code: 3,
    },
    {
      name: 'ack_configure of a serial never sent → xdg_surface.invalid_serial',
      provoke: (w) => (w.xdgSurface.request('ack_configure', [0xdead]), w.xdgSurface),
      interfaceName: 'xdg_surface',
      code: 4,
    },
    {
      name: 'xdg_surface destroyed before its toplevel → xdg_surface.defunct_role_object',
      provoke: (w) => {
        const id = w.xdgSurface.id;
        w.xdgSurface.destroy();
        return { id };
      },
      interfaceName: '',
      code: 6,
    },
    {
      name: 'a second xdg_surface for one wl_surface → xdg_wm_base.role',
      provoke: (w) => (w.wmBase.request('get_xdg_surface', [w.surface]), w.wmBase),
      interfaceName: 'xdg_wm_base',
      code: 0,
    },
    {
      name: 'xdg_wm_base destroyed with surfaces alive → xdg_wm_base.defunct_surfaces',
      provoke: (w) => {
        const id = w.wmBase.id;
        w.wmBase.destroy();
        return { id };
      },
      interfaceName: '',
      code: 1,
    },
    {
      name: 'a pointer from a seat without one → wl_seat.missing_capability',
      provoke: (w) => {
        const seat = w.bind('wl_seat', 8);
        seat.request('get_pointer');
        return seat;
      },
      interfaceName: 'wl_seat',
      code: 0,
    },
    {
      name: 'a surface as its own parent → wl_subcompositor.bad_surface',
      provoke: (w) => {
        const sub = w.bind('wl_subcompositor', 1);
        const s = w.compositor.request('create_surface') as WaylandProxy;
        sub.request('get_subsurface', [s, s]);
        return sub;
      },
      interfaceName: 'wl_subcompositor',
      code: 0,
    },
    {
      name: 'binding a global that does not exist → wl_display.invalid_object on the registry',
      provoke: (w) => {
        const registry = w.client.display.request('get_registry') as WaylandProxy;
        registry.request('bind', [999, protocols.get('wl_output')!, 1]);
        return registry;
      },
      interfaceName: 'wl_registry',
      code: 0,
    },
  ];

  it.each(cases)('$name', async ({ provoke, interfaceName, code }) => {
    const bystander = await open('bystander');
    const seen = await protocolError(provoke);
    expect(seen).toMatchObject({ interfaceName, code, logged: { code } });
    // Only the offender was disconnected.
    await bystander.roundtrip();
    expect(compositor.state().clients).toHaveLength(1);
  });

  it('subsurfaces: synchronized state waits for the parent; position, stacking, desync', async () => {
    const w = await open('subsurfaces');
    const sub = w.bind('wl_subcompositor', 1);
    const pool = w.createPool(40 * 40 * 4 + 3 * 10 * 10 * 4);
    const parent = w.createBuffer(pool, 40, 40, 0);
    parent.fill(0xffff0000);
    const blue = w.createBuffer(pool, 10, 10, 40 * 40 * 4);
    blue.fill(0xff0000ff);
    const green = w.createBuffer(pool, 10, 10, 40 * 40 * 4 + 400);
    green.fill(0xff00ff00);
    const clear = w.createBuffer(pool, 10, 10, 40 * 40 * 4 + 800, ARGB);
    clear.fill(0x00000000);
    await w.commit(parent);

    const childSurface = w.compositor.request('create_surface') as WaylandProxy;
    const child = sub.request('get_subsurface', [childSurface, w.surface]) as WaylandProxy;
    child.request('set_position', [5, 6]);
    childSurface.request('attach', [blue.proxy, 0, 0]);
    childSurface.request('commit'); // synchronized: cached
    await w.roundtrip();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(pixel(compositor.frameImage(), 5, 6)).toEqual([255, 0, 0, 255]);
    await w.commit(parent); // the parent's commit applies the child's cached state
    let frame = compositor.frameImage();
    expect(pixel(frame, 5, 6)).toEqual([0, 0, 255, 255]);
    expect(pixel(frame, 14, 15)).toEqual([0, 0, 255, 255]);
    expect(pixel(frame, 15, 16)).toEqual([255, 0, 0, 255]);
    expect(pixel(frame, 4, 6)).toEqual([255, 0, 0, 255]);

    // Desynchronized: the child's own commit is enough.
    child.request('set_desync');
    childSurface.request('attach', [green.proxy, 0, 0]);
    const done = new Promise<void>((resolve) => {
      (childSurface.request('frame') as WaylandProxy).on('done', () => resolve());
    });
    childSurface.request('commit');
    await done;
    expect(pixel(compositor.frameImage(), 5, 6)).toEqual([0, 255, 0, 255]);

    // Placed below the parent, it is hidden behind the opaque parent; a transparent
    // buffer on top shows the parent through.
    child.request('place_below', [w.surface]);
    await w.commit(parent);
    frame = compositor.frameImage();
    expect(pixel(frame, 5, 6)).toEqual([255, 0, 0, 255]);
    child.request('place_above', [w.surface]);
    childSurface.request('attach', [clear.proxy, 0, 0]);
    childSurface.request('commit');
    await w.commit(parent);
    expect(pixel(compositor.frameImage(), 5, 6)).toEqual([255, 0, 0, 255]);
    // The blue buffer was replaced twice: released; green too once clear is shown.
    expect(blue.releases.length).toBe(1);
    await green.released();
  });

  it('buffer scale: a 2× buffer covers half as many surface pixels', async () => {
    const w = await open('scaled');
    const pool = w.createPool(8 * 4 * 4);
    const b = w.createBuffer(pool, 8, 4);
    const view = new DataView(pool.bytes().buffer, pool.bytes().byteOffset);
    // Left half white, right half black, in buffer pixels.
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 8; x++)
        view.setUint32((y * 8 + x) * 4, x < 4 ? 0xffffffff : 0xff000000, true);
    }
    w.surface.request('set_buffer_scale', [2]);
    await w.commit(b);
    const state = compositor.state().surfaces.find((s) => s.title === 'scaled')!;
    expect(state).toMatchObject({ width: 8, height: 4, scale: 2 });
    const frame = compositor.frameImage();
    expect(pixel(frame, 1, 1)).toEqual([255, 255, 255, 255]);
    expect(pixel(frame, 2, 1)).toEqual([0, 0, 0, 255]);
    expect(pixel(frame, 3, 1)).toEqual([0, 0, 0, 255]);
    expect(pixel(frame, 4, 1)).toEqual([0, 0, 0, 255]); // background: the surface is 4×2
    expect(pixel(frame, 1, 2)).toEqual([0, 0, 0, 255]);
    // The surface's own read-back stays in buffer pixels.
    expect(compositor.surfaceImage(state.serial).width).toBe(8);
  });

  it('ping: a responsive client pongs, and the round trip is timed', async () => {
    const w = await open('pinged');
    const results = await compositor.ping(1000);
    expect(results).toHaveLength(1);
    expect(results[0]?.ms).toBeTypeOf('number');
    expect(results[0]?.ms).toBeLessThan(1000);
    await w.roundtrip();
  });

  it('a second compositor on the same socket is refused (NAME.lock)', () => {
    expect(() => EmbeddedCompositor.start({ socketPath: compositor.socketPath })).toThrow(
      SocketInUseError,
    );
  });
});

describe('PNG codec', () => {
  const image: RgbaImage = {
    width: 3,
    height: 2,
    data: Uint8Array.from([
      255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 1, 2, 3, 4, 250, 251, 252, 253, 9, 8, 7, 6,
    ]),
  };

  it('round-trips RGBA, CRCs included', () => {
    const png = encodePng(image);
    expect([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).toBe('PNG');
    expect(decodePng(png)).toEqual(image);
  });

  it('reads every filter type, as other encoders write them', () => {
    // Rows written by hand per the PNG spec: Sub, Up, Average, Paeth over RGB.
    const rows = [
      [10, 20, 30, 40, 50, 60],
      [15, 25, 35, 45, 55, 65],
      [0, 100, 200, 250, 5, 9],
      [7, 7, 7, 8, 8, 8],
    ];
    const bpp = 3;
    const paeth = (a: number, b: number, c: number): number => {
      const p = a + b - c;
      const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
      return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    };
    const raw: number[] = [];
    rows.forEach((row, y) => {
      const filter = y + 1;
      const prev = rows[y - 1] ?? row.map(() => 0);
      raw.push(filter);
      row.forEach((v, i) => {
        const a = i >= bpp ? row[i - bpp]! : 0;
        const b = prev[i]!;
        const c = i >= bpp ? prev[i - bpp]! : 0;
        const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter]!;
        raw.push((v - pred) & 0xff);
      });
    });
    const chunk = (type: string, body: Uint8Array): Buffer => {
      const out = Buffer.alloc(12 + body.length);
      out.writeUInt32BE(body.length, 0);
      out.write(type, 4, 'ascii');
      out.set(body, 8);
      out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
      return out;
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(2, 0);
    ihdr.writeUInt32BE(4, 4);
    ihdr[8] = 8;
    ihdr[9] = 2; // RGB
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', deflateSync(Uint8Array.from(raw))),
      chunk('IEND', new Uint8Array(0)),
    ]);
    const decoded = decodePng(png);
    expect(decoded.width).toBe(2);
    const expected = rows.flatMap((row) => [...row.slice(0, 3), 255, ...row.slice(3), 255]);
    expect([...decoded.data]).toEqual(expected);
  });

  it('refuses what is not a sound PNG', () => {
    const png = encodePng(image);
    png[png.length - 20]! ^= 0xff; // inside IDAT
    expect(() => decodePng(png)).toThrow(PngFormatError);
    expect(() => decodePng(Buffer.from('not a png at all'))).toThrow(/signature/);
  });

  it('has a CRC-32 that agrees with zlib', async () => {
    const zlib = await import('node:zlib');
    const bytes = Buffer.from('grantway');
    if (typeof zlib.crc32 === 'function') expect(crc32(bytes)).toBe(zlib.crc32(bytes));
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926); // the standard check value
  });
});

// ---------------------------------------------------------------------------------------
// The command line, from the TypeScript source (tsx), as a user runs it.

const MAIN = join(import.meta.dirname, '..', 'bridge', 'cli', 'main.ts');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

interface CliRun {
  readonly done: Promise<{ code: number | null; stderr: string }>;
  signal(sig: NodeJS.Signals): void;
}

function grantway(args: string[], env: Record<string, string>): CliRun {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return {
    done: new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr }))),
    signal: (sig) => child.kill(sig),
  };
}

describe('grantway compositor (CLI)', () => {
  let runtimeDir: string;

  beforeAll(() => {
    runtimeDir = mkdtempSync(join(tmpdir(), 'grantway-cli-compositor-'));
  });

  afterAll(() => {
    rmSync(runtimeDir, { recursive: true, force: true });
  });

  it.each([
    [[], /--socket: is required/],
    [['--socket', 'w', '--hold-buffers', 'lots'], /--hold-buffers: must be a whole number/],
    [['--socket', 'w', '--keep-pools-mapped-ms', 'forever'], /--keep-pools-mapped-ms:/],
    [['--socket', 'w', '--refresh-hz', '0'], /--refresh-hz:/],
  ])('refuses bad flags %j with exit 2 and the flag named', async (args, message) => {
    const run = grantway(['compositor', ...args], { XDG_RUNTIME_DIR: runtimeDir });
    const { code, stderr } = await run.done;
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it('serves clients, writes the output on SIGUSR1, and cleans up on SIGTERM', async () => {
    const pngDir = join(runtimeDir, 'png');
    const control = join(runtimeDir, 'cli.control');
    const run = grantway(
      [
        'compositor',
        '--socket',
        'wl-cli',
        '--width',
        '32',
        '--height',
        '24',
        '--png-dir',
        pngDir,
        '--control',
        control,
        '--log-level',
        'warn',
      ],
      { XDG_RUNTIME_DIR: runtimeDir },
    );
    const socket = join(runtimeDir, 'wl-cli');
    const deadline = Date.now() + 10_000;
    while (!existsSync(control) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const client = await ControlClient.connect(control);
    const w = await ScriptedWindow.open(socket, { title: 'cli' });
    try {
      const b = w.createBuffer(w.createPool(8 * 8 * 4), 8, 8);
      b.fill(0xff00ff00);
      await w.commit(b);
      expect((await client.state()).output).toMatchObject({ width: 32, height: 24 });
      run.signal('SIGUSR1');
      const deadline2 = Date.now() + 5000;
      while (!existsSync(join(pngDir, 'frame-1.png')) && Date.now() < deadline2) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const frame = decodePng(readFileSync(join(pngDir, 'frame-1.png')));
      expect([frame.width, frame.height]).toEqual([32, 24]);
      expect(pixel(frame, 7, 7)).toEqual([0, 255, 0, 255]);
      expect(pixel(frame, 8, 8)).toEqual([0, 0, 0, 255]);
    } finally {
      w.close();
      client.close();
    }
    run.signal('SIGTERM');
    const { code } = await run.done;
    expect(code).toBe(0);
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(`${socket}.lock`)).toBe(false);
    // The window's last image was written when its client went.
    expect(readdirSync(pngDir).sort()).toEqual(['frame-1.png', 'window-1-cli.png']);
    const window = decodePng(readFileSync(join(pngDir, 'window-1-cli.png')));
    expect([window.width, window.height]).toEqual([8, 8]);
    expect(pixel(window, 0, 0)).toEqual([0, 255, 0, 255]);
  });
});
