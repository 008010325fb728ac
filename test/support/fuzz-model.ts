// What the relay fuzzers feed the bridge, as plain data: client programs that are valid
// by construction (so any error the bridge reports is a mutation's doing), the faults
// applied to them, and for each fault the verdict a libwayland-server compositor would
// reach — the oracle the fuzz properties judge the bridge by. No sockets here: the
// arbitraries shrink well, and fds are recipes materialised only at send time (a
// shrinking fast-check never holds a real fd).

import fc from 'fast-check';
import { encodeMessage } from '../../bridge/wire/encode.js';
import { readU32, writeU32 } from '../../bridge/wire/le.js';
import type { ArgValue } from '../../bridge/wire/values.js';
import { event, iface, registry, request } from './raw-peer.js';

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

// ---- faults ----------------------------------------------------------------------

export type Fault =
  | { f: 'none' }
  | { f: 'badSize'; at: number; size: number }
  | { f: 'unknownObject'; at: number; id: number }
  | { f: 'badOpcode'; at: number; plus: number }
  | { f: 'wrongSender'; at: number; id: number }
  | { f: 'truncArgs'; at: number }
  | { f: 'cut'; at: number; keep: number }
  | { f: 'reuseId'; at: number; id: number }
  | { f: 'serverId'; at: number; plus: number }
  | { f: 'gapId'; at: number; plus: number }
  | { f: 'nullId'; at: number }
  | {
      f: 'badBind';
      at: number;
      how: 'unknownName' | 'hidden' | 'wrongIface' | 'version0' | 'versionHigh';
    }
  | { f: 'since'; at: number }
  | { f: 'dropFd'; at: number }
  | { f: 'extraFds'; at: number; fds: FdRecipe[] }
  | { f: 'flip'; at: number; byte: number; bit: number }
  | { f: 'word'; at: number; word: number; value: number }
  | { f: 'garbage'; at: number; bytes: Uint8Array };

const fraction = fc.nat({ max: 1_000_000 });
const fdRecipeArb: fc.Arbitrary<FdRecipe> = fc.oneof(
  fc.record({
    kind: fc.constant('memfd' as const),
    size: fc.integer({ min: 0, max: 3 }).map((p) => p * 4096),
    sealed: fc.boolean(),
  }),
  fc.constant({ kind: 'socket' as const }),
  fc.constant({ kind: 'devnull' as const }),
);
const interestingU32 = fc.oneof(
  fc.constantFrom(0, 1, 2, 3, 4, 0x7fffffff, 0x80000000, 0xff000000, 0xffffffff, 0x10000, 0x1000),
  fc.integer({ min: 0, max: 0xffffffff }),
);

export const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  fc.constant({ f: 'none' as const }),
  fc.record({
    f: fc.constant('badSize' as const),
    at: fraction,
    size: fc.constantFrom(0, 4, 6, 9, 10, 4098, 4100, 0x8000, 0xfffc),
  }),
  fc.record({
    f: fc.constant('unknownObject' as const),
    at: fraction,
    id: fc.oneof(
      fc.constantFrom(0, 999, 0xffffffff),
      fc.integer({ min: 0xff000000, max: 0xffffffff }),
      fc.integer({ min: 1000, max: 1 << 30 }),
    ),
  }),
  fc.record({
    f: fc.constant('badOpcode' as const),
    at: fraction,
    plus: fc.oneof(fc.nat({ max: 3 }), fc.constant(0xffff)),
  }),
  fc.record({
    f: fc.constant('wrongSender' as const),
    at: fraction,
    id: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({ f: fc.constant('truncArgs' as const), at: fraction }),
  fc.record({ f: fc.constant('cut' as const), at: fraction, keep: fc.nat({ max: 1_000_000 }) }),
  fc.record({
    f: fc.constant('reuseId' as const),
    at: fraction,
    id: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({
    f: fc.constant('serverId' as const),
    at: fraction,
    plus: fc.integer({ min: 0, max: 0xffffff }),
  }),
  fc.record({
    f: fc.constant('gapId' as const),
    at: fraction,
    plus: fc.integer({ min: 2, max: 1 << 20 }),
  }),
  fc.record({ f: fc.constant('nullId' as const), at: fraction }),
  fc.record({
    f: fc.constant('badBind' as const),
    at: fraction,
    how: fc.constantFrom('unknownName', 'hidden', 'wrongIface', 'version0', 'versionHigh'),
  }),
  fc.record({ f: fc.constant('since' as const), at: fraction }),
  fc.record({ f: fc.constant('dropFd' as const), at: fraction }),
  fc.record({
    f: fc.constant('extraFds' as const),
    at: fraction,
    fds: fc.array(fdRecipeArb, { minLength: 1, maxLength: 4 }),
  }),
  fc.record({
    f: fc.constant('flip' as const),
    at: fraction,
    byte: fc.nat(),
    bit: fc.nat({ max: 7 }),
  }),
  fc.record({
    f: fc.constant('word' as const),
    at: fraction,
    word: fc.nat(),
    value: interestingU32,
  }),
  fc.record({
    f: fc.constant('garbage' as const),
    at: fraction,
    bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  }),
);

/** Where in `length` messages a fault lands (never inside the binds: 0 and 1). */
function position(at: number, length: number, from = 2): number {
  return from + (at % Math.max(1, length - from));
}

const DISPLAY_ERROR_INVALID_OBJECT = 0;
const DISPLAY_ERROR_INVALID_METHOD = 1;

/**
 * Applies `fault` to a script's body. Returns the messages to send and the verdict; the
 * hello (get_registry) is never touched, so every client learns the globals first.
 */
export function applyFault(script: Script, fault: Fault): { body: WireMsg[]; verdict: Verdict } {
  const body = script.body.map((m) => ({ ...m, fds: [...m.fds] }));
  const n = body.length;
  const copy = (m: WireMsg): WireMsg => ({ ...m, bytes: m.bytes.slice() });
  switch (fault.f) {
    case 'none':
      return { body, verdict: { kind: 'valid' } };
    case 'badSize': {
      const i = position(fault.at, n);
      const m = copy(body[i]!);
      m.bytes[6] = fault.size & 0xff;
      m.bytes[7] = fault.size >>> 8;
      body[i] = m;
      return {
        body,
        verdict: {
          kind: 'error',
          at: i,
          codes: [DISPLAY_ERROR_INVALID_METHOD],
          objectId: 1,
          why: `size ${fault.size} on ${m.label}`,
        },
      };
    }
    case 'unknownObject': {
      const i = position(fault.at, n);
      const m = copy(body[i]!);
      writeU32(m.bytes, 0, fault.id);
      body[i] = m;
      return {
        body,
        verdict: {
          kind: 'error',
          at: i,
          codes: [DISPLAY_ERROR_INVALID_OBJECT],
          objectId: 1,
          why: `sender ${fault.id} for ${m.label}`,
        },
      };
    }
    case 'badOpcode': {
      const i = position(fault.at, n);
      const m = copy(body[i]!);
      const count = iface(script.senderIface[i]!).requests.length;
      const opcode = Math.min(0xffff, count + fault.plus);
      m.bytes[4] = opcode & 0xff;
      m.bytes[5] = opcode >>> 8;
      body[i] = m;
      const objectId = readU32(m.bytes, 0);
      return {
        body,
        verdict: {
          kind: 'error',
          at: i,
          codes: [DISPLAY_ERROR_INVALID_METHOD],
          objectId,
          why: `opcode ${opcode} on ${m.label}`,
        },
      };
    }
    case 'wrongSender': {
      // The message goes to a live object of another interface (display, registry,
      // compositor, shm): an opcode that interface lacks is invalid_method; one it has
      // is read with that request's signature, which may or may not parse.
      const i = position(fault.at, n);
      const m = copy(body[i]!);
      writeU32(m.bytes, 0, fault.id);
      body[i] = m;
      const target = ['wl_display', 'wl_registry', 'wl_compositor', 'wl_shm'][fault.id - 1]!;
      const opcode = m.bytes[4]! | (m.bytes[5]! << 8);
      const why = `${m.label} sent to ${target}@${fault.id}`;
      if (opcode < iface(target).requests.length) {
        return { body, verdict: { kind: 'unknown', at: i, why } };
      }
      return {
        body,
        verdict: {
          kind: 'error',
          at: i,
          codes: [DISPLAY_ERROR_INVALID_METHOD],
          objectId: fault.id,
          why,
        },
      };
    }
    case 'truncArgs': {
      // A message the bridge must parse (it creates an object) loses its last word.
      const start = position(fault.at, n);
      for (let k = 0; k < n - 2; k++) {
        const i = 2 + ((start - 2 + k) % (n - 2));
        const m = body[i]!;
        if (!/\.(create_|sync|frame)/.test(m.label)) continue;
        const bytes = m.bytes.slice(0, m.bytes.length - 4);
        bytes[6] = bytes.length & 0xff;
        bytes[7] = bytes.length >>> 8;
        body[i] = { ...m, bytes };
        const objectId = readU32(bytes, 0);
        return {
          body,
          verdict: {
            kind: 'error',
            at: i,
            codes: [DISPLAY_ERROR_INVALID_METHOD],
            objectId,
            why: `truncated ${m.label}`,
          },
        };
      }
      return { body, verdict: { kind: 'valid' } };
    }
    case 'cut': {
      const i = position(fault.at, n);
      const m = body[i]!;
      const keep = 1 + (fault.keep % (m.bytes.length - 1));
      const cutBody = body.slice(0, i);
      cutBody.push({ ...m, bytes: m.bytes.slice(0, keep) });
      return {
        body: cutBody,
        verdict: { kind: 'stall', at: i, why: `${keep} of ${m.bytes.length} bytes of ${m.label}` },
      };
    }
    case 'reuseId':
    case 'serverId':
    case 'gapId':
    case 'nullId': {
      const i = position(fault.at, n);
      const id =
        fault.f === 'reuseId'
          ? fault.id
          : fault.f === 'serverId'
            ? 0xff000000 + fault.plus
            : fault.f === 'gapId'
              ? script.nextIdAfter[i - 1]! + fault.plus
              : 0;
      const bad = rawSync(id);
      body.splice(i, 0, bad);
      return {
        body,
        verdict: {
          kind: 'error',
          at: i,
          codes:
            fault.f === 'nullId'
              ? [DISPLAY_ERROR_INVALID_OBJECT, DISPLAY_ERROR_INVALID_METHOD]
              : [DISPLAY_ERROR_INVALID_OBJECT],
          objectId: 1,
          why: `${fault.f}: new id ${id}`,
        },
      };
    }
    case 'badBind': {
      const i = position(fault.at, n);
      const next = script.nextIdAfter[i - 1]!;
      const bind = (name: number, iface: string, version: number): WireMsg =>
        message(2, 'wl_registry', 'bind', [name, { interface: iface, version, id: next }]);
      const bad = {
        unknownName: bind(77, 'wl_compositor', 1),
        hidden: bind(3, 'weston_secret_thing', 1),
        wrongIface: bind(2, 'wl_compositor', 1),
        version0: bind(1, 'wl_compositor', 0),
        versionHigh: bind(1, 'wl_compositor', tableVersion('wl_compositor') + 1),
      }[fault.how];
      body.splice(i, 0, bad);
      return {
        body,
        verdict: {
          kind: 'error',
          at: i,
          codes: [DISPLAY_ERROR_INVALID_OBJECT],
          objectId: 2,
          why: `bind ${fault.how}`,
        },
      };
    }
    case 'since': {
      // A surface of the client's own compositor version calls a newer request.
      const i = position(fault.at, n);
      const compositorVersion = boundVersion(script);
      const newer = (
        ['set_buffer_transform', 'set_buffer_scale', 'damage_buffer', 'offset'] as const
      ).find((_name, k) => k + 2 > compositorVersion);
      if (newer === undefined) return { body, verdict: { kind: 'valid' } };
      const surface = script.nextIdAfter[i - 1]!;
      const args: ArgValue[] = {
        set_buffer_transform: [0],
        set_buffer_scale: [1],
        damage_buffer: [0, 0, 1, 1],
        offset: [0, 0],
      }[newer];
      body.splice(
        i,
        0,
        message(3, 'wl_compositor', 'create_surface', [surface]),
        message(surface, 'wl_surface', newer, args),
      );
      return {
        body,
        verdict: {
          kind: 'error',
          at: i + 1,
          codes: [DISPLAY_ERROR_INVALID_METHOD],
          objectId: surface,
          why: `${newer} on a v${compositorVersion} surface`,
        },
      };
    }
    case 'dropFd': {
      const start = position(fault.at, n);
      for (let k = 0; k < n; k++) {
        const i = (start + k) % n;
        if (body[i]!.fds.length === 0) continue;
        body[i] = { ...body[i]!, fds: [] };
        return { body, verdict: { kind: 'unknown', at: i, why: `no fd with ${body[i].label}` } };
      }
      return { body, verdict: { kind: 'valid' } };
    }
    case 'extraFds': {
      const i = position(fault.at, n);
      body[i] = { ...body[i]!, fds: [...body[i]!.fds, ...fault.fds] };
      // The bytes stay valid; a later fd-carrying message takes a surplus fd (as with
      // libwayland-server), which only the shm tracker may object to.
      return {
        body,
        verdict: {
          kind: 'unknown',
          at: i,
          why: `${fault.fds.length} surplus fds with ${body[i].label}`,
        },
      };
    }
    case 'flip': {
      const i = position(fault.at, n);
      const m = copy(body[i]!);
      m.bytes[fault.byte % m.bytes.length]! ^= 1 << fault.bit;
      body[i] = m;
      return { body, verdict: { kind: 'unknown', at: i, why: `bit flip in ${m.label}` } };
    }
    case 'word': {
      const i = position(fault.at, n);
      const m = copy(body[i]!);
      writeU32(m.bytes, 4 * (fault.word % (m.bytes.length / 4)), fault.value);
      body[i] = m;
      return {
        body,
        verdict: { kind: 'unknown', at: i, why: `word of ${m.label} = ${fault.value}` },
      };
    }
    case 'garbage': {
      const i = position(fault.at, n);
      body.splice(i, 0, { bytes: fault.bytes, fds: [], label: 'garbage' });
      return {
        body,
        verdict: { kind: 'unknown', at: i, why: `${fault.bytes.length} garbage bytes` },
      };
    }
  }
}

/** wl_display.sync with any id, even one encodeMessage would refuse. */
function rawSync(id: number): WireMsg {
  const m = message(1, 'wl_display', 'sync', [1]);
  writeU32(m.bytes, 8, id);
  return { ...m, label: `wl_display@1.sync(${id})` };
}

/** The wl_compositor version the script's first bind asks for. */
function boundVersion(script: Script): number {
  const bind = script.body[0]!.bytes;
  // bind(name, string iface, uint version, new_id): header 8 + name 4 + len 4 + padded string
  const len = readU32(bind, 12);
  return readU32(bind, 16 + ((len + 3) & ~3));
}

// ---- transport schedule ----------------------------------------------------------

/** How a client's bytes are cut into writes, and whether fds travel one write early. */
export interface Delivery {
  readonly cuts: readonly number[];
  readonly fdsEarly: boolean;
}

export const deliveryArb: fc.Arbitrary<Delivery> = fc.record({
  cuts: fc.array(fc.nat({ max: 1_000_000 }), { maxLength: 12 }),
  fdsEarly: fc.boolean(),
});

/** One write: bytes, and the fd recipes that go with its first byte. */
export interface Chunk {
  bytes: Uint8Array;
  fds: FdRecipe[];
}

/** Concatenates messages and cuts them into writes; each message's fds go with (or before) it. */
export function chunk(msgs: readonly WireMsg[], delivery: Delivery): Chunk[] {
  const total = msgs.reduce((s, m) => s + m.bytes.length, 0);
  if (total === 0) return [];
  const all = new Uint8Array(total);
  const starts: number[] = [];
  let off = 0;
  for (const m of msgs) {
    starts.push(off);
    all.set(m.bytes, off);
    off += m.bytes.length;
  }
  const cuts = [...new Set(delivery.cuts.map((c) => c % total).filter((c) => c > 0))].sort(
    (a, b) => a - b,
  );
  const bounds = [0, ...cuts, total];
  const chunks: Chunk[] = [];
  for (let k = 0; k + 1 < bounds.length; k++)
    chunks.push({ bytes: all.subarray(bounds[k], bounds[k + 1]), fds: [] });
  msgs.forEach((m, i) => {
    if (m.fds.length === 0) return;
    let k = bounds.findIndex(
      (b, j) => j + 1 < bounds.length && starts[i]! >= b && starts[i]! < bounds[j + 1]!,
    );
    if (k < 0) k = chunks.length - 1;
    if (delivery.fdsEarly && k > 0) k--;
    chunks[k]!.fds.push(...m.fds);
  });
  return chunks;
}

/** Byte offsets at which messages end (message-aligned prefixes of the stream). */
export function boundaries(msgs: readonly WireMsg[]): number[] {
  const out = [0];
  let off = 0;
  for (const m of msgs) out.push((off += m.bytes.length));
  return out;
}
