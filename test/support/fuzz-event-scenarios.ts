// The compositor → client fuzz scenario, shared by the CI-budget tests and `npm run
// fuzz`: a fake compositor sends a well-behaved client's events with one fault in them
// (fuzz-faults.ts's counterpart for events), and the run judges what the client and the
// bridge did against what libwayland would do. Built on the relay scenarios' parties
// and judges (fuzz-scenarios.ts).

import fc from 'fast-check';
import { close as closeFd } from '../../ffi/libc.js';
import { encodeMessage } from '../../bridge/wire/encode.js';
import { writeU32 } from '../../bridge/wire/le.js';
import type { ArgValue } from '../../bridge/wire/values.js';
import {
  type FdRecipe,
  GLOBALS,
  evt,
  interpret,
  message,
  type Program,
  programArb,
  tableVersion,
  type Verdict,
  type WireMsg,
} from './fuzz-model.js';
import { chunk, type Delivery, deliveryArb } from './fuzz-faults.js';
import {
  asDisplayError,
  type BridgeKind,
  bytesEqual,
  concat,
  FuzzWorld,
  materialize,
  openFds,
  quiescent,
  seenGlobal,
  turn,
  waitFor,
} from './fuzz-world.js';
import { iface } from './raw-peer.js';
import {
  DISPLAY_ERROR_IMPLEMENTATION,
  type Party,
  type RunResult,
  describe,
  expectIdle,
  expectNoFdLeak,
  judgeClient,
  write,
} from './fuzz-scenarios.js';

/** An event the fake compositor may send the victim client (see victimRequests). */
export type EventOp =
  | { e: 'format'; v: number }
  | { e: 'caps'; v: number }
  | { e: 'seatName'; s: string }
  | { e: 'keymap'; size: number }
  | { e: 'key'; key: number; state: number }
  | { e: 'repeat'; rate: number; delay: number }
  | { e: 'done'; k: number }
  | { e: 'global'; name: number; iface: string; version: number }
  | { e: 'globalRemove'; name: number }
  | { e: 'deleteUnknown'; id: number };

export const eventOpArb: fc.Arbitrary<EventOp> = fc.oneof(
  fc.record({ e: fc.constant('format' as const), v: fc.nat({ max: 0xffffffff }) }),
  fc.record({ e: fc.constant('caps' as const), v: fc.nat({ max: 7 }) }),
  fc.record({ e: fc.constant('seatName' as const), s: fc.string({ maxLength: 40 }) }),
  fc.record({ e: fc.constant('keymap' as const), size: fc.integer({ min: 0, max: 3 }) }),
  fc.record({
    e: fc.constant('key' as const),
    key: fc.nat({ max: 300 }),
    state: fc.nat({ max: 1 }),
  }),
  fc.record({ e: fc.constant('repeat' as const), rate: fc.nat(50), delay: fc.nat(1000) }),
  fc.record({ e: fc.constant('done' as const), k: fc.nat({ max: 2 }) }),
  fc.record({
    e: fc.constant('global' as const),
    name: fc.integer({ min: 10, max: 14 }),
    iface: fc.constantFrom('wl_output', 'weston_secret_thing', 'wl_seat', 'wl_compositor'),
    version: fc.integer({ min: 1, max: 12 }),
  }),
  fc.record({ e: fc.constant('globalRemove' as const), name: fc.integer({ min: 1, max: 14 }) }),
  fc.record({ e: fc.constant('deleteUnknown' as const), id: fc.integer({ min: 100, max: 5000 }) }),
);

export type EventFault =
  | { f: 'none' }
  | { f: 'badSize'; at: number; size: number }
  | { f: 'unknownObject'; at: number; id: number }
  | { f: 'badOpcode'; at: number; plus: number }
  | { f: 'deleteReserved'; at: number; id: number }
  | { f: 'truncDecoded'; at: number }
  | { f: 'cut'; at: number; keep: number }
  | { f: 'dropFd'; at: number }
  | { f: 'extraFds'; at: number; count: number }
  | { f: 'flip'; at: number; byte: number; bit: number }
  | { f: 'word'; at: number; word: number; value: number }
  | { f: 'garbage'; at: number; bytes: Uint8Array };

const frac = fc.nat({ max: 1_000_000 });
export const eventFaultArb: fc.Arbitrary<EventFault> = fc.oneof(
  fc.constant({ f: 'none' as const }),
  fc.record({
    f: fc.constant('badSize' as const),
    at: frac,
    size: fc.constantFrom(0, 4, 7, 4100, 0xfffc),
  }),
  fc.record({
    f: fc.constant('unknownObject' as const),
    at: frac,
    id: fc.constantFrom(0, 50, 999, 0xff000005),
  }),
  fc.record({ f: fc.constant('badOpcode' as const), at: frac, plus: fc.nat({ max: 3 }) }),
  fc.record({
    f: fc.constant('deleteReserved' as const),
    at: frac,
    id: fc.constantFrom(1, 0xff000000, 0xff000001, 0xffffffff),
  }),
  fc.record({ f: fc.constant('truncDecoded' as const), at: frac }),
  fc.record({ f: fc.constant('cut' as const), at: frac, keep: frac }),
  fc.record({ f: fc.constant('dropFd' as const), at: frac }),
  fc.record({
    f: fc.constant('extraFds' as const),
    at: frac,
    count: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({ f: fc.constant('flip' as const), at: frac, byte: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({
    f: fc.constant('word' as const),
    at: frac,
    word: fc.nat(),
    value: fc.nat({ max: 0xffffffff }),
  }),
  fc.record({
    f: fc.constant('garbage' as const),
    at: frac,
    bytes: fc.uint8Array({ minLength: 1, maxLength: 48 }),
  }),
);

export interface EventScenario {
  readonly kind: BridgeKind;
  readonly bystander: { program: Program; delivery: Delivery };
  readonly events: readonly EventOp[];
  readonly fault: EventFault;
  readonly delivery: Delivery;
  readonly yields: readonly boolean[];
}

export const eventScenarioArb = (maxEvents = 24): fc.Arbitrary<EventScenario> =>
  fc.record({
    kind: fc.constantFrom<BridgeKind>('relay', 'grant'),
    bystander: fc.record({ program: programArb(12), delivery: deliveryArb }),
    events: fc.array(eventOpArb, { maxLength: maxEvents }),
    fault: eventFaultArb,
    delivery: deliveryArb,
    yields: fc.array(fc.boolean(), { maxLength: 20 }),
  });

/** An event on the wire and what the client should see of it (null: dropped). */
interface SentEvent extends WireMsg {
  seen: Uint8Array | null;
}

function event(
  objectId: number,
  interfaceName: string,
  name: string,
  args: ArgValue[],
  fds: FdRecipe[] = [],
): SentEvent {
  const m = evt(interfaceName, name);
  const { bytes } = encodeMessage(objectId, m.opcode, m.spec, args);
  return { bytes, fds, label: `${interfaceName}@${objectId}.${name}`, seen: bytes };
}

const SHM = 3;
const SEAT = 4;
const KEYBOARD = 5;
const CALLBACKS = [6, 7, 8];

/** The victim's requests: registry, wl_shm, wl_seat + keyboard, and three syncs. */
function victimRequests(): { hello: WireMsg[]; body: WireMsg[] } {
  const m = message;
  const seatVersion = Math.min(7, tableVersion('wl_seat'));
  return {
    hello: [m(1, 'wl_display', 'get_registry', [2])],
    body: [
      m(2, 'wl_registry', 'bind', [2, { interface: 'wl_shm', version: 1, id: SHM }]),
      m(2, 'wl_registry', 'bind', [4, { interface: 'wl_seat', version: seatVersion, id: SEAT }]),
      m(SEAT, 'wl_seat', 'get_keyboard', [KEYBOARD]),
      ...CALLBACKS.map((id) => m(1, 'wl_display', 'sync', [id])),
    ],
  };
}

/** Interprets event ops into a valid event stream, recording what the client must see. */
function eventStream(ops: readonly EventOp[]): SentEvent[] {
  const out: SentEvent[] = [];
  const done = new Set<number>();
  const hidden = new Set<number>(
    GLOBALS.filter((g) => tableVersion(g.iface) === 0).map((g) => g.name),
  );
  const announced = new Set<number>(GLOBALS.map((g) => g.name));
  for (const op of ops) {
    switch (op.e) {
      case 'format':
        out.push(event(SHM, 'wl_shm', 'format', [op.v]));
        break;
      case 'caps':
        out.push(event(SEAT, 'wl_seat', 'capabilities', [op.v]));
        break;
      case 'seatName':
        out.push(event(SEAT, 'wl_seat', 'name', [op.s.replaceAll('\0', '.')]));
        break;
      case 'keymap':
        out.push(
          event(
            KEYBOARD,
            'wl_keyboard',
            'keymap',
            [1, 0, op.size * 4096],
            [{ kind: 'memfd', size: op.size * 4096, sealed: true }],
          ),
        );
        break;
      case 'key':
        out.push(event(KEYBOARD, 'wl_keyboard', 'key', [1, 2, op.key, op.state]));
        break;
      case 'repeat':
        out.push(event(KEYBOARD, 'wl_keyboard', 'repeat_info', [op.rate, op.delay]));
        break;
      case 'done': {
        const id = CALLBACKS[op.k]!;
        if (done.has(id)) break;
        done.add(id);
        out.push(event(id, 'wl_callback', 'done', [op.k]));
        out.push(event(1, 'wl_display', 'delete_id', [id]));
        break;
      }
      case 'global': {
        if (announced.has(op.name)) break;
        announced.add(op.name);
        const g = { name: op.name, iface: op.iface, version: op.version };
        const e = event(2, 'wl_registry', 'global', [g.name, g.iface, g.version]);
        const seen = seenGlobal(2, g);
        if (seen === null) hidden.add(op.name);
        out.push({ ...e, seen: seen === undefined ? e.bytes : seen });
        break;
      }
      case 'globalRemove': {
        if (!announced.has(op.name)) break;
        announced.delete(op.name);
        const e = event(2, 'wl_registry', 'global_remove', [op.name]);
        out.push({ ...e, seen: hidden.delete(op.name) ? null : e.bytes });
        break;
      }
      case 'deleteUnknown':
        out.push(event(1, 'wl_display', 'delete_id', [op.id]));
        break;
    }
  }
  return out;
}

type EventVerdict = Verdict;

function applyEventFault(
  events: SentEvent[],
  fault: EventFault,
): { events: SentEvent[]; verdict: EventVerdict } {
  const list = events.map((e) => ({ ...e, fds: [...e.fds] }));
  const at = (x: number, n = list.length): number => (n === 0 ? 0 : x % n);
  const insertSync = (): number => {
    // Faults need a message to land on: a harmless delete_id of an unknown id.
    list.push(event(1, 'wl_display', 'delete_id', [4999]));
    return list.length - 1;
  };
  const target = (x: number): number => (list.length === 0 ? insertSync() : at(x));
  const mutate = (i: number, f: (b: Uint8Array) => void): SentEvent => {
    const bytes = list[i]!.bytes.slice();
    f(bytes);
    list[i] = { ...list[i]!, bytes, seen: bytes };
    return list[i];
  };
  const error = (i: number, why: string): { events: SentEvent[]; verdict: EventVerdict } => ({
    events: list,
    verdict: { kind: 'error', at: i, codes: [DISPLAY_ERROR_IMPLEMENTATION], objectId: 1, why },
  });
  switch (fault.f) {
    case 'none':
      return { events: list, verdict: { kind: 'valid' } };
    case 'badSize': {
      const i = target(fault.at);
      mutate(i, (b) => {
        b[6] = fault.size & 0xff;
        b[7] = fault.size >>> 8;
      });
      return error(i, `event size ${fault.size}`);
    }
    case 'unknownObject': {
      const i = target(fault.at);
      mutate(i, (b) => writeU32(b, 0, fault.id));
      return error(i, `event for unknown object ${fault.id}`);
    }
    case 'badOpcode': {
      const i = target(fault.at);
      const name = list[i]!.label.split('@')[0]!;
      const opcode = iface(name).events.length + fault.plus;
      mutate(i, (b) => {
        b[4] = opcode & 0xff;
        b[5] = opcode >>> 8;
      });
      return error(i, `opcode ${opcode} for ${name}`);
    }
    case 'deleteReserved': {
      const i = at(fault.at, list.length + 1);
      list.splice(i, 0, event(1, 'wl_display', 'delete_id', [fault.id]));
      return error(i, `delete_id(${fault.id})`);
    }
    case 'truncDecoded': {
      const decoded = /\.(global|global_remove|delete_id|done|keymap)$/;
      let i = list.findIndex((e, k) => k >= at(fault.at) && decoded.test(e.label));
      if (i < 0) i = list.findIndex((e) => decoded.test(e.label));
      if (i < 0) i = insertSync();
      const e = list[i]!;
      const bytes = e.bytes.slice(0, e.bytes.length - 4);
      bytes[6] = bytes.length & 0xff;
      bytes[7] = bytes.length >>> 8;
      list[i] = { ...e, bytes, seen: bytes };
      return error(i, `truncated ${e.label}`);
    }
    case 'cut': {
      const i = target(fault.at);
      const e = list[i]!;
      const keep = 1 + (fault.keep % (e.bytes.length - 1));
      const cut = list.slice(0, i);
      cut.push({ ...e, bytes: e.bytes.slice(0, keep), seen: null });
      return { events: cut, verdict: { kind: 'stall', at: i, why: `${keep} bytes of ${e.label}` } };
    }
    case 'dropFd': {
      const i = list.findIndex((e, k) => k >= at(fault.at) && e.fds.length > 0);
      const j = i >= 0 ? i : list.findIndex((e) => e.fds.length > 0);
      if (j < 0) return { events: list, verdict: { kind: 'valid' } };
      list[j] = { ...list[j]!, fds: [] };
      return { events: list, verdict: { kind: 'unknown', at: j, why: `keymap without its fd` } };
    }
    case 'extraFds': {
      const i = target(fault.at);
      const extra: FdRecipe[] = Array.from({ length: fault.count }, () => ({ kind: 'socket' }));
      list[i] = { ...list[i]!, fds: [...list[i]!.fds, ...extra] };
      // Bytes stay valid: the surplus fds go to later fd-carrying events, or are closed.
      return { events: list, verdict: { kind: 'valid' } };
    }
    case 'flip': {
      const i = target(fault.at);
      const e = mutate(i, (b) => {
        b[fault.byte % b.length]! ^= 1 << fault.bit;
      });
      return { events: list, verdict: { kind: 'unknown', at: i, why: `bit flip in ${e.label}` } };
    }
    case 'word': {
      const i = target(fault.at);
      const e = mutate(i, (b) => writeU32(b, 4 * (fault.word % (b.length / 4)), fault.value));
      return { events: list, verdict: { kind: 'unknown', at: i, why: `word in ${e.label}` } };
    }
    case 'garbage': {
      const i = at(fault.at, list.length + 1);
      list.splice(i, 0, { bytes: fault.bytes, fds: [], label: 'garbage', seen: null });
      return { events: list, verdict: { kind: 'unknown', at: i, why: 'garbage' } };
    }
  }
}

/** Runs one compositor-misbehaves scenario; throws an Error naming every violation. */
export async function runEventScenario(s: EventScenario): Promise<RunResult> {
  const fdsBefore = openFds();
  const failures: string[] = [];
  const world = FuzzWorld.start(s.kind);
  const { events, verdict } = applyEventFault(eventStream(s.events), s.fault);
  try {
    const script = interpret(s.bystander.program);
    const { client: byClient, upstream: byUp } = await world.connect(true);
    const bystander: Party = {
      name: 'bystander',
      hello: script.hello,
      body: script.body,
      verdict: { kind: 'valid' },
      chunks: chunk(script.body, s.bystander.delivery),
      client: byClient,
      upstream: byUp,
      sent: [],
      stopped: false,
    };
    const { client, upstream } = await world.connect(false);
    const victim = victimRequests();
    client.sendBytes(concat(victim.hello.map((m) => m.bytes)));
    write(bystander, concat(script.hello.map((m) => m.bytes)), []);
    if (!(await waitFor(() => upstream.peer.received.length === 1, 5000)))
      throw new Error('victim get_registry never reached the compositor');
    upstream.announceGlobals(2);
    const visible = upstream.expected.length;
    if (!(await waitFor(() => client.received.length >= visible, 5000)))
      throw new Error('victim never received the globals');
    client.sendBytes(concat(victim.body.map((m) => m.bytes)));
    if (!(await waitFor(() => upstream.peer.received.length === 1 + victim.body.length, 5000)))
      throw new Error('victim requests never reached the compositor');
    await waitFor(() => byClient.received.length >= visible, 5000);

    // The misbehaving event stream, interleaved with the bystander's requests.
    const eventChunks = chunk(events, s.delivery);
    const n = Math.max(eventChunks.length, bystander.chunks.length);
    for (let k = 0; k < n; k++) {
      const c = eventChunks[k];
      if (c !== undefined) {
        const fds = c.fds.map(materialize);
        try {
          upstream.sendRaw(c.bytes, fds);
        } finally {
          for (const fd of fds) closeFd(fd);
        }
      }
      const b = bystander.chunks[k];
      if (b !== undefined) write(bystander, b.bytes, b.fds);
      if (s.yields[k % Math.max(1, s.yields.length)] === true) await turn();
    }
    const seen = events.filter((e) => e.seen !== null).length;
    const sentBytes = (): number => concat(bystander.sent).length;
    await waitFor(
      () =>
        byUp.receivedBytes.length === sentBytes() &&
        byClient.received.length >= byUp.expected.length,
      5000,
    );
    if (verdict.kind === 'error') await waitFor(() => client.eof, 5000);
    else if (verdict.kind === 'valid')
      await waitFor(() => client.received.length >= visible + seen, 5000);
    await quiescent(
      () =>
        `${client.received.length}/${client.eof}/${upstream.peer.eof}/${byClient.received.length}`,
      25,
    );

    judgeClient(bystander, failures);
    if (byClient.eof || byUp.peer.eof) failures.push('bystander: disconnected');

    // The victim: globals, then the events as the bridge must pass them.
    const fail = (what: string): void => {
      failures.push(`victim: ${what}`);
    };
    const expected = [
      ...upstream.expected,
      ...events.flatMap((e) => (e.seen === null ? [] : [e.seen])),
    ];
    const got = client.received;
    const error = asDisplayError(got.at(-1));
    const evs = (error === undefined ? got : got.slice(0, -1)).map((m) => m.bytes);
    const seenBefore = (i: number): number =>
      visible + events.slice(0, i).filter((e) => e.seen !== null).length;
    const agree = (count: number): void => {
      for (let i = 0; i < Math.min(count, evs.length); i++) {
        if (!bytesEqual(evs[i]!, expected[i]!)) {
          fail(`event #${i} differs from what the compositor sent`);
          return;
        }
      }
    };
    if (client.eof && error === undefined) fail('disconnected without a wl_display.error');
    if (error !== undefined && !client.eof) fail('wl_display.error but the connection stays open');
    switch (verdict.kind) {
      case 'valid':
        agree(expected.length);
        if (evs.length !== expected.length)
          fail(`received ${evs.length} of ${expected.length} events`);
        if (error !== undefined) fail(`unexpected wl_display.error: ${error.message}`);
        break;
      case 'error': {
        const before = seenBefore(verdict.at);
        agree(before);
        if (evs.length !== before)
          fail(
            `received ${evs.length} events before the error; ${before} were valid (${verdict.why})`,
          );
        if (error === undefined) fail(`no wl_display.error for ${verdict.why}`);
        else if (error.code !== DISPLAY_ERROR_IMPLEMENTATION || error.objectId !== 1)
          fail(`error ${error.code} on ${error.objectId}: ${error.message}`);
        if (!(await waitFor(() => upstream.peer.eof, 5000)))
          fail('the bridge kept the broken compositor connection open');
        break;
      }
      case 'stall': {
        const before = seenBefore(verdict.at);
        agree(before);
        if (evs.length !== before) fail(`received ${evs.length} events; ${before} were complete`);
        if (error !== undefined) fail(`unexpected wl_display.error: ${error.message}`);
        break;
      }
      case 'unknown':
        agree(seenBefore(verdict.at));
        break;
    }
    client.close();
    bystander.client.close();
    await expectIdle(world, failures);
  } finally {
    world.close();
  }
  expectNoFdLeak(fdsBefore, failures);
  if (failures.length > 0) {
    throw new Error(
      `${failures.join('\n')}\n  verdict: ${JSON.stringify(verdict)}\n  events: ${describe(events)}`,
    );
  }
  return { verdict: verdict.kind, fault: s.fault.f };
}
