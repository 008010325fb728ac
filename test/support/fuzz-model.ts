// What the relay fuzzers feed the bridge, as plain data: client programs that are valid
// by construction (so any error the bridge reports is a mutation's doing) and their
// interpreter; the faults applied to them and their verdicts are in fuzz-faults.ts. No
// sockets here: the
// arbitraries shrink well, and fds are recipes materialised only at send time (a
// shrinking fast-check never holds a real fd).

import fc from 'fast-check';
import { encodeMessage } from '../../bridge/wire/encode.js';
import type { ArgValue } from '../../bridge/wire/values.js';
import { event, registry, request } from './raw-peer.js';

/** An fd a message carries, created only when the message is sent. */
export type FdRecipe =
  { kind: 'memfd'; size: number; sealed: boolean } | { kind: 'socket' } | { kind: 'devnull' };

/** One message on the wire, as the sender will write it. */
export interface WireMsg {
  bytes: Uint8Array;
  fds: FdRecipe[];
  /** e.g. `wl_surface@5.attach`, for failure reports. */
  label: string;
}

/**
 * What must happen to a client's stream. `at` indexes the program's messages: every
 * message before it is valid and must reach the compositor unchanged (or, for `error`,
 * at most those: the session may end before it flushed them).
 */
export type Verdict =
  | { kind: 'valid' }
  | { kind: 'error'; at: number; codes: readonly number[]; objectId: number; why: string }
  | { kind: 'stall'; at: number; why: string }
  | { kind: 'unknown'; at: number; why: string };

// ---- protocol helpers ------------------------------------------------------------

/** A message's opcode and spec, as raw-peer's request()/event() give them. */
export type Msg = ReturnType<typeof request>;
export const evt = event;

export function message(
  objectId: number,
  interfaceName: string,
  name: string,
  args: ArgValue[],
  fds: FdRecipe[] = [],
): WireMsg {
  const m = request(interfaceName, name);
  // fd arguments encode to nothing; 0 is a placeholder for the recipe.
  const { bytes } = encodeMessage(objectId, m.opcode, m.spec, args);
  return { bytes, fds, label: `${interfaceName}@${objectId}.${name}` };
}

/** The globals every fuzz compositor announces, in order (names 1…). */
export const GLOBALS: readonly { name: number; iface: string; version: number }[] = [
  // One above the table, whatever wayland.xml it was generated from: clamped by the bridge.
  { name: 1, iface: 'wl_compositor', version: (registry.get('wl_compositor')?.version ?? 0) + 1 },
  { name: 2, iface: 'wl_shm', version: 1 },
  { name: 3, iface: 'weston_secret_thing', version: 1 }, // no protocol: hidden by the bridge
  { name: 4, iface: 'wl_seat', version: 7 },
];

export const tableVersion = (name: string): number => registry.get(name)?.version ?? 0;

// ---- valid client programs -------------------------------------------------------

type Rect = [number, number, number, number];

export type Op =
  | { t: 'surface' }
  | { t: 'region'; rects: Rect[] }
  | { t: 'pool'; pages: number; sealed: boolean }
  | { t: 'buffer'; pool: number; w: number; h: number; format: 0 | 1 }
  | { t: 'show'; surface: number; buffer: number; detach: boolean; damage: Rect[]; frame: boolean }
  | {
      t: 'misc';
      surface: number;
      which: 'scale' | 'transform' | 'damageBuffer' | 'offset' | 'opaque';
      a: number;
    }
  | { t: 'sync' }
  | { t: 'destroy'; what: 'surface' | 'region' | 'pool' | 'buffer'; index: number }
  | { t: 'resize'; pool: number; morePages: number };

export interface Program {
  /** Version the client binds wl_compositor at (its surfaces inherit it). */
  readonly compositorVersion: number;
  readonly ops: readonly Op[];
}

const small = fc.integer({ min: -64, max: 64 });
const rectArb: fc.Arbitrary<Rect> = fc.tuple(
  small,
  small,
  fc.integer({ min: 0, max: 64 }),
  fc.integer({ min: 0, max: 64 }),
);
const index = fc.nat({ max: 15 });

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constant({ t: 'surface' as const }), weight: 2 },
  {
    arbitrary: fc.record({
      t: fc.constant('region' as const),
      rects: fc.array(rectArb, { maxLength: 3 }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('pool' as const),
      pages: fc.integer({ min: 1, max: 4 }),
      sealed: fc.boolean(),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('buffer' as const),
      pool: index,
      w: fc.integer({ min: 1, max: 32 }),
      h: fc.integer({ min: 1, max: 32 }),
      format: fc.constantFrom(0 as const, 1 as const),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('show' as const),
      surface: index,
      buffer: index,
      detach: fc.boolean(),
      damage: fc.array(rectArb, { maxLength: 3 }),
      frame: fc.boolean(),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('misc' as const),
      surface: index,
      which: fc.constantFrom('scale', 'transform', 'damageBuffer', 'offset', 'opaque'),
      a: fc.nat({ max: 7 }),
    }),
    weight: 1,
  },
  { arbitrary: fc.constant({ t: 'sync' as const }), weight: 1 },
  {
    arbitrary: fc.record({
      t: fc.constant('destroy' as const),
      what: fc.constantFrom('surface', 'region', 'pool', 'buffer'),
      index,
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('resize' as const),
      pool: index,
      morePages: fc.integer({ min: 0, max: 2 }),
    }),
    weight: 1,
  },
);

export const programArb = (maxOps: number): fc.Arbitrary<Program> =>
  fc.record({
    compositorVersion: fc.integer({ min: 1, max: tableVersion('wl_compositor') }),
    ops: fc.array(opArb, { maxLength: maxOps }),
  });

/** A client's whole stream: what it sends before the globals arrive, and after. */
export interface Script {
  /** get_registry. */
  readonly hello: WireMsg[];
  /** binds, then the program, then a final wl_display.sync. */
  readonly body: WireMsg[];
  /** The id the next new object would get after body[i] (for inserted messages). */
  readonly nextIdAfter: number[];
  /** Sender interface of each body message (object id → interface at that point). */
  readonly senderIface: string[];
}

interface PoolModel {
  id: number;
  size: number;
  recipe: { kind: 'memfd'; size: number; sealed: boolean };
}

/** Interprets a program into messages; ops that do not apply (nothing to pick) emit nothing. */
export function interpret(program: Program): Script {
  const hello = [message(1, 'wl_display', 'get_registry', [2])];
  const body: WireMsg[] = [];
  const nextIdAfter: number[] = [];
  const senderIface: string[] = [];
  let nextId = 3;
  const emit = (m: WireMsg, sender: string): void => {
    body.push(m);
    nextIdAfter.push(nextId);
    senderIface.push(sender);
  };
  const vc = program.compositorVersion;
  const compositor = nextId++;
  emit(
    message(2, 'wl_registry', 'bind', [
      1,
      { interface: 'wl_compositor', version: vc, id: compositor },
    ]),
    'wl_registry',
  );
  const shm = nextId++;
  emit(
    message(2, 'wl_registry', 'bind', [2, { interface: 'wl_shm', version: 1, id: shm }]),
    'wl_registry',
  );

  const surfaces: number[] = [];
  const regions: number[] = [];
  const pools: PoolModel[] = [];
  const buffers: { id: number; w: number; h: number }[] = [];
  const pick = <T>(list: T[], i: number): T | undefined =>
    list.length === 0 ? undefined : list[i % list.length];

  for (const op of program.ops) {
    switch (op.t) {
      case 'surface': {
        const id = nextId++;
        emit(message(compositor, 'wl_compositor', 'create_surface', [id]), 'wl_compositor');
        surfaces.push(id);
        break;
      }
      case 'region': {
        const id = nextId++;
        emit(message(compositor, 'wl_compositor', 'create_region', [id]), 'wl_compositor');
        for (const r of op.rects) emit(message(id, 'wl_region', 'add', r), 'wl_region');
        regions.push(id);
        break;
      }
      case 'pool': {
        const id = nextId++;
        const size = op.pages * 4096;
        const recipe = { kind: 'memfd' as const, size, sealed: op.sealed };
        emit(message(shm, 'wl_shm', 'create_pool', [id, 0, size], [recipe]), 'wl_shm');
        pools.push({ id, size, recipe });
        break;
      }
      case 'buffer': {
        const pool = pick(pools, op.pool);
        if (pool === undefined || op.w * op.h * 4 > pool.size) break;
        const id = nextId++;
        emit(
          message(pool.id, 'wl_shm_pool', 'create_buffer', [
            id,
            0,
            op.w,
            op.h,
            op.w * 4,
            op.format,
          ]),
          'wl_shm_pool',
        );
        buffers.push({ id, w: op.w, h: op.h });
        break;
      }
      case 'show': {
        const surface = pick(surfaces, op.surface);
        if (surface === undefined) break;
        const buffer = op.detach ? undefined : pick(buffers, op.buffer);
        emit(message(surface, 'wl_surface', 'attach', [buffer?.id ?? 0, 0, 0]), 'wl_surface');
        for (const d of op.damage) {
          const name = vc >= 4 ? 'damage_buffer' : 'damage';
          emit(message(surface, 'wl_surface', name, d), 'wl_surface');
        }
        if (op.frame) {
          emit(message(surface, 'wl_surface', 'frame', [nextId++]), 'wl_surface');
        }
        emit(message(surface, 'wl_surface', 'commit', []), 'wl_surface');
        break;
      }
      case 'misc': {
        const surface = pick(surfaces, op.surface);
        if (surface === undefined) break;
        const since = { transform: 2, scale: 3, damageBuffer: 4, offset: 5, opaque: 1 }[op.which];
        if (since > vc) break;
        if (op.which === 'scale')
          emit(message(surface, 'wl_surface', 'set_buffer_scale', [1 + (op.a % 4)]), 'wl_surface');
        else if (op.which === 'transform')
          emit(message(surface, 'wl_surface', 'set_buffer_transform', [op.a]), 'wl_surface');
        else if (op.which === 'damageBuffer')
          emit(message(surface, 'wl_surface', 'damage_buffer', [0, 0, op.a, op.a]), 'wl_surface');
        else if (op.which === 'offset')
          emit(message(surface, 'wl_surface', 'offset', [op.a, -op.a]), 'wl_surface');
        else {
          const region = pick(regions, op.a);
          emit(message(surface, 'wl_surface', 'set_opaque_region', [region ?? 0]), 'wl_surface');
        }
        break;
      }
      case 'sync':
        emit(message(1, 'wl_display', 'sync', [nextId++]), 'wl_display');
        break;
      case 'destroy': {
        const ids = {
          surface: surfaces,
          region: regions,
          pool: pools.map((p) => p.id),
          buffer: buffers.map((b) => b.id),
        }[op.what];
        if (ids.length === 0) break;
        const at = op.index % ids.length;
        const id = ids[at]!;
        if (op.what === 'surface') surfaces.splice(at, 1);
        else if (op.what === 'region') regions.splice(at, 1);
        else if (op.what === 'pool') pools.splice(at, 1);
        else buffers.splice(at, 1);
        const name = {
          surface: 'wl_surface',
          region: 'wl_region',
          pool: 'wl_shm_pool',
          buffer: 'wl_buffer',
        }[op.what];
        emit(message(id, name, 'destroy', []), name);
        break;
      }
      case 'resize': {
        const pool = pick(pools, op.pool);
        if (pool === undefined) break;
        pool.size += op.morePages * 4096;
        // The client grows its file before it tells the compositor (as a real one must).
        pool.recipe.size = Math.max(pool.recipe.size, pool.size);
        emit(message(pool.id, 'wl_shm_pool', 'resize', [pool.size]), 'wl_shm_pool');
        break;
      }
    }
  }
  emit(message(1, 'wl_display', 'sync', [nextId++]), 'wl_display');
  return { hello, body, nextIdAfter, senderIface };
}
