// The faults the relay fuzzers apply to a valid client program (fuzz-model.ts), with
// the verdict a libwayland-server compositor would reach for each — the oracle the fuzz
// properties judge the bridge by — and how the bytes are cut into deliveries. Plain
// data, no sockets; fds stay recipes.

import fc from 'fast-check';
import { wayland } from '../../bridge/protocol/enums.js';
import { readU32, writeU32 } from '../../bridge/wire/le.js';
import type { ArgValue } from '../../bridge/wire/values.js';
import {
  type FdRecipe,
  type Script,
  type Verdict,
  type WireMsg,
  message,
  tableVersion,
} from './fuzz-model.js';
import { iface } from './raw-peer.js';

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

const DISPLAY_ERROR_INVALID_OBJECT = wayland.wl_display.error.invalidObject;
const DISPLAY_ERROR_INVALID_METHOD = wayland.wl_display.error.invalidMethod;

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
