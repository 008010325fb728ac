// The compatibility suite's pure parts: reading a program's WAYLAND_DEBUG trace and the
// bridge's log, comparing globals and pixels, judging a cell against its direct run,
// and rendering the README matrix. Lines below are copied from real runs.

import { describe, expect, it } from 'vitest';
import { E3_BLIND_MESSAGE } from '../bridge/oracle/types.js';
import type { RgbaImage } from '../harness/compositor/png.js';
import { judgeBridged, judgeDirect } from '../scripts/compat/judge.js';
import {
  renderMatrix,
  README_END,
  README_START,
  replaceReadmeSection,
} from '../scripts/compat/matrix.js';
import { DebugScanner, diffGlobals, scanBridgeLog } from '../scripts/compat/observe.js';
import { changedBox, comparePixels, isStill } from '../scripts/compat/pixels.js';
import { programs } from '../scripts/compat/programs.js';
import type { ProgramRun } from '../scripts/compat/run-program.js';
import type { SuiteResult } from '../scripts/compat/suite.js';

const SIMPLE_SHM = [
  '[ 858176.377]  -> wl_display@1.get_registry(new id wl_registry@2)',
  '[ 858181.455] wl_registry@2.global(1, "wl_compositor", 4)',
  '[ 858181.469]  -> wl_registry@2.bind(1, "wl_compositor", 1, new id [unknown]@4)',
  '[ 858181.500] wl_registry@2.global(10, "wl_shm", 1)',
  '[ 858181.520] wl_registry@2.global(15, "weston_screenshooter", 1)',
  '[ 858181.748]  -> wl_compositor@4.create_surface(new id wl_surface@3)',
  '[ 858181.764]  -> wl_surface@3.commit()',
  '[ 858183.956] xdg_surface@7.configure(1)',
  '[ 858183.962]  -> xdg_surface@7.ack_configure(1)',
  '[ 858184.698]  -> wl_surface@3.attach(wl_buffer@10, 0, 0)',
  '[ 858184.730]  -> wl_surface@3.commit()',
];

function scan(lines: readonly string[]): DebugScanner {
  const scanner = new DebugScanner();
  for (const line of lines) scanner.feed(line);
  return scanner;
}

describe('DebugScanner', () => {
  it('collects the globals offered and sees the window mapped only after a committed buffer', () => {
    const before = scan(SIMPLE_SHM.slice(0, -1));
    expect(before.mapped).toBe(false);
    const facts = scan(SIMPLE_SHM).facts();
    expect(facts.mapped).toBe(true);
    expect([...facts.globals]).toEqual([
      ['wl_compositor', 4],
      ['wl_shm', 1],
      ['weston_screenshooter', 1],
    ]);
    expect(facts.protocolErrors).toEqual([]);
  });

  it('does not count a commit before the configure was acknowledged, nor a null attach', () => {
    const facts = scan([
      '[ 1.000]  -> wl_surface@3.attach(nil, 0, 0)',
      '[ 1.001]  -> wl_surface@3.commit()',
      '[ 1.002]  -> xdg_surface@7.ack_configure(1)',
      '[ 1.003]  -> wl_surface@3.commit()',
    ]).facts();
    expect(facts.mapped).toBe(false);
  });

  it('reports wl_display.error events and failure lines, not the bridge log', () => {
    const facts = scan([
      '[ 2.000] wl_display@1.error(wl_shm@5, 2, "client limit hit")',
      '{"level":40,"msg":"client limit hit: something"}',
      'err: wayland.c:1230: failed to read events from the Wayland socket: Broken pipe',
      'info: main.c:680: goodbye',
    ]).facts();
    expect(facts.protocolErrors).toEqual([
      'wl_display@1.error(wl_shm@5, 2, "client limit hit")',
      'err: wayland.c:1230: failed to read events from the Wayland socket: Broken pipe',
    ]);
    expect(facts.otherLines.at(-1)).toBe('info: main.c:680: goodbye');
  });
});

describe('scanBridgeLog and diffGlobals', () => {
  it('keeps warnings, abnormal session ends and hidden globals', () => {
    const facts = scanBridgeLog([
      '{"level":30,"msg":"bridge listening"}',
      '{"level":30,"session":1,"interface":"weston_screenshooter","name":15,"version":1,"msg":"global weston_screenshooter hidden from the client: no protocol table for it (load its XML with --protocol-dir DIR)"}',
      '{"level":20,"session":2,"interface":"weston_debug_v1","name":11,"msg":"global hidden: no protocol loaded"}',
      '{"level":40,"session":1,"limit":"maxPoolSize","msg":"client limit hit: wl_shm.create_pool of 536870912 bytes"}',
      '{"level":20,"session":1,"reason":"client limit maxPoolSize","msg":"session closed"}',
      '{"level":20,"session":2,"reason":"client disconnected","msg":"session closed"}',
      '{"level":20,"session":3,"reason":"client gone","msg":"session closed"}',
      'not json',
    ]);
    expect(facts).toEqual({
      issues: ['client limit hit: wl_shm.create_pool of 536870912 bytes'],
      closeReasons: ['client limit maxPoolSize'],
      hidden: ['weston_screenshooter', 'weston_debug_v1'],
    });
  });

  it('names globals hidden, added and offered at other versions', () => {
    const direct = new Map([
      ['wl_shm', 1],
      ['xdg_wm_base', 5],
      ['zwlr_layer_shell_v1', 4],
    ]);
    const bridged = new Map([
      ['wl_shm', 1],
      ['xdg_wm_base', 4],
      ['grantway_x', 1],
    ]);
    expect(diffGlobals(direct, bridged)).toEqual({
      hidden: ['zwlr_layer_shell_v1'],
      added: ['grantway_x'],
      versions: ['xdg_wm_base v5→v4'],
    });
  });
});

function image(width: number, height: number, paint: (x: number, y: number) => number): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  const view = new DataView(data.buffer);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) view.setUint32((y * width + x) * 4, paint(x, y));
  return { width, height, data };
}

describe('pixels', () => {
  const empty = image(40, 30, () => 0x204060ff);
  const windowAt = (ox: number, oy: number, dot = 0): RgbaImage =>
    image(40, 30, (x, y) =>
      x >= ox && x < ox + 10 && y >= oy && y < oy + 8
        ? x === ox + 3 && y === oy + 3
          ? 0xff0000ff + dot
          : 0xffffffff
        : 0x204060ff,
    );

  it('finds the window wherever the compositor put it and compares what it shows', () => {
    expect(changedBox(windowAt(5, 4), empty)).toEqual({ x: 5, y: 4, width: 10, height: 8 });
    expect(comparePixels(windowAt(5, 4), windowAt(20, 10), empty).kind).toBe('equal');
    expect(comparePixels(windowAt(5, 4), windowAt(20, 10, 0x100), empty)).toEqual({
      kind: 'differs',
      detail: '1 px differ (1.25 %)',
    });
    expect(comparePixels(windowAt(5, 4), empty, empty)).toEqual({
      kind: 'differs',
      detail: 'nothing on screen',
    });
  });

  it('tells a still from an animation', () => {
    expect(isStill(windowAt(5, 4), windowAt(5, 4))).toBe(true);
    expect(isStill(windowAt(5, 4), windowAt(5, 5))).toBe(false);
  });
});

const foot = programs.find((p) => p.id === 'foot')!;

function run(overrides: Partial<ProgramRun>): ProgramRun {
  return {
    mode: 'direct',
    exit: { code: null, signal: 'SIGTERM' },
    stoppedByUs: true,
    timedOut: false,
    debug: scan(SIMPLE_SHM).facts(),
    shots: [],
    ms: 1000,
    ...overrides,
  };
}

describe('judging a cell against its direct run', () => {
  const record = {
    pools: 2,
    buffers: 2,
    commits: 10,
    poolsAlive: 0,
    evidenceReached: { E0: 0, E1: 0, E2: 0, E3: 2 },
  };

  it('fails a bridged run cut off by a limit, naming the limit, and one short of E3', () => {
    const direct = run({});
    const directVerdict = judgeDirect(direct, foot, () => undefined);
    expect(directVerdict.status).toBe('works');
    const bridged = run({
      mode: 'grant',
      exit: { code: 1, signal: null },
      stoppedByUs: false,
      debug: scan(SIMPLE_SHM.slice(0, 5)).facts(),
      bridge: {
        issues: ['client limit hit: wl_shm.create_pool of 536870912 bytes'],
        closeReasons: ['client limit maxPoolSize'],
        hidden: [],
      },
      record: { ...record, evidenceReached: { E0: 1, E1: 0, E2: 0, E3: 1 } },
    });
    const verdict = judgeBridged(bridged, direct, directVerdict, foot, undefined, () => undefined);
    expect(verdict.status).toBe('fails');
    expect(verdict.reasons).toEqual([
      'bridge: client limit hit: wl_shm.create_pool of 536870912 bytes',
      'bridge closed the session: client limit maxPoolSize',
      'exit 1 before mapping a window',
      '1 of 2 pools never reached E3 (E0 1, E1 0, E2 0)',
    ]);
  });

  it('judges pools at E2 only where the bridge said its E3 walk cannot see every process', () => {
    const direct = run({});
    const directVerdict = judgeDirect(direct, foot, () => undefined);
    const blindLog = scanBridgeLog([
      `{"level":40,"reason":"unreadable","detail":"pid 1 (process_api): EACCES","msg":${JSON.stringify(E3_BLIND_MESSAGE)}}`,
    ]);
    expect(blindLog).toEqual({
      issues: [],
      closeReasons: [],
      hidden: [],
      e3Blind: 'unreadable: pid 1 (process_api): EACCES',
    });
    const atE2 = { ...record, evidenceReached: { E0: 0, E1: 0, E2: 2, E3: 0 } };
    const blind = run({ mode: 'passthrough', record: atE2, bridge: blindLog });
    const verdict = judgeBridged(blind, direct, directVerdict, foot, undefined, () => undefined);
    expect(verdict.status).toBe('works');
    expect(verdict.e3Unavailable).toBe('unreadable: pid 1 (process_api): EACCES');
    // Without the bridge's word, E2 is short of E3: the cell fails.
    const silent = run({ mode: 'passthrough', record: atE2 });
    expect(
      judgeBridged(silent, direct, directVerdict, foot, undefined, () => undefined).reasons,
    ).toEqual(['2 of 2 pools never reached E3 (E0 0, E1 0, E2 2)']);
    // Blind or not, a pool below E2 is short.
    const stuck = run({
      mode: 'passthrough',
      record: { ...record, evidenceReached: { E0: 0, E1: 1, E2: 1, E3: 0 } },
      bridge: blindLog,
    });
    expect(
      judgeBridged(stuck, direct, directVerdict, foot, undefined, () => undefined).reasons,
    ).toEqual(['1 of 2 pools never reached E2 (E3 is blind here) (E0 0, E1 1, E2 1)']);
  });

  it('calls a run that works with fewer globals "hidden", and one that matches "works"', () => {
    const direct = run({});
    const directVerdict = judgeDirect(direct, foot, () => undefined);
    const same = run({ mode: 'passthrough', record });
    expect(judgeBridged(same, direct, directVerdict, foot, undefined, () => undefined).status).toBe(
      'works',
    );
    const fewer = run({
      mode: 'grant',
      debug: scan(SIMPLE_SHM.filter((l) => !l.includes('weston_screenshooter'))).facts(),
      record,
    });
    const verdict = judgeBridged(fewer, direct, directVerdict, foot, undefined, () => undefined);
    expect(verdict.status).toBe('hidden');
    expect(verdict.globals?.hidden).toEqual(['weston_screenshooter']);
  });
});

describe('what is pixel-compared', () => {
  it('skips a program only on the compositors where its frames vary between direct runs', () => {
    const gtk3 = programs.find((p) => p.id === 'gtk3-demo')!;
    const still = image(4, 4, () => 0xffffffff);
    const twoShots = run({ shots: ['a.png', 'b.png'] });
    expect(judgeDirect(twoShots, gtk3, () => still, 'weston').pixels).toMatch(/^random: /);
    expect(judgeDirect(twoShots, gtk3, () => still, 'sway').pixels).toBe('equal');
    const info = programs.find((p) => p.id === 'wayland-info')!;
    expect(judgeDirect(run({ exit: { code: 0, signal: null } }), info, () => still).pixels).toBe(
      'no window',
    );
  });
});

describe('the README matrix', () => {
  it('renders a row per program, a column per compositor that started, and numbered notes', () => {
    const direct = run({});
    const directVerdict = judgeDirect(direct, foot, () => undefined);
    const failing = judgeBridged(
      run({
        mode: 'grant',
        record: {
          pools: 1,
          buffers: 1,
          commits: 1,
          poolsAlive: 1,
          evidenceReached: { E0: 1, E1: 0, E2: 0, E3: 0 },
        },
      }),
      direct,
      directVerdict,
      foot,
      undefined,
      () => undefined,
    );
    const result: SuiteResult = {
      startedAt: '2026-12-03T08:00:00.000Z',
      seconds: 90,
      compositors: [
        {
          kind: 'sway',
          version: '1.7-6',
          screenshots: 'grim',
          seconds: 30,
          programs: [
            {
              program: 'foot',
              missing: [],
              runs: {
                passthrough: run({
                  mode: 'passthrough',
                  record: {
                    pools: 2,
                    buffers: 2,
                    commits: 2,
                    poolsAlive: 0,
                    evidenceReached: { E0: 0, E1: 0, E2: 0, E3: 2 },
                    latencies: { destroyToE2: [1, 3], destroyToE3: [2, 240], e2ToE3: [1, 237] },
                  },
                }),
              },
              verdicts: { direct: directVerdict, grant: failing, passthrough: directVerdict },
            },
          ],
        },
        {
          kind: 'kwin',
          version: '5.27',
          startError: 'kwin did not start: exited early',
          screenshots: '—',
          programs: [],
          seconds: 0,
        },
      ],
    };
    const matrix = renderMatrix(result);
    expect(matrix).toContain('| program | sway |');
    expect(matrix).toContain('| foot | ✅ ❌(1) ✅ |');
    expect(matrix).toContain(
      '1. sway, foot (grant): 1 of 1 pools never reached E3 (E0 1, E1 0, E2 0); 1 pools still alive at the end',
    );
    expect(matrix).toContain('- kwin 5.27: **did not start** — kwin did not start: exited early');
    // Per-compositor evidence: pooled over the runs, the wait from E2 to E3 shown.
    expect(matrix).toContain(
      '| sway | passthrough | 1.0 / 3.0 / 3.0 (2) | 2.0 / 240.0 / 240.0 (2) | 1.0 / 237.0 / 237.0 (2) |',
    );
    expect(matrix).not.toContain('| sway | grant |');
    const readme = `# x\n${README_START}\nold\n${README_END}\nrest\n`;
    expect(replaceReadmeSection(readme, matrix)).toBe(
      `# x\n${README_START}\n${matrix}\n${README_END}\nrest\n`,
    );
    expect(() => replaceReadmeSection('# no markers', matrix)).toThrow(/no matrix section/);
  });
});
