// The relay fuzz scenarios, shared by the CI-budget tests and `npm run fuzz`: each run
// starts a fresh fake compositor and bridge, connects well-behaved clients beside a
// hostile one, interleaves everyone's writes at random cut points, and then judges what
// arrived on every side against the fault's verdict. A run throws an Error naming every
// property that failed. The parties and the client judge here are shared with the
// compositor → client scenario (fuzz-event-scenarios.ts).

import fc from 'fast-check';
import { close as closeFd } from '../../ffi/libc.js';
import { isPeerGone } from '../../ffi/unix-channel.js';
import {
  type FdRecipe,
  GLOBALS,
  interpret,
  type Program,
  programArb,
  tableVersion,
  type Verdict,
  type WireMsg,
} from './fuzz-model.js';
import {
  applyFault,
  boundaries,
  chunk,
  type Chunk,
  type Delivery,
  deliveryArb,
  type Fault,
  faultArb,
} from './fuzz-faults.js';
import {
  asDisplayError,
  type BridgeKind,
  bytesEqual,
  concat,
  FuzzWorld,
  materialize,
  openFds,
  quiescent,
  turn,
  type Upstream,
  waitFor,
} from './fuzz-world.js';
import { type RawPeer } from './raw-peer.js';
import { wayland } from '../../bridge/protocol/enums.js';

/** Bridge-side wl_display.error code for a compositor the bridge cannot follow. */
export const DISPLAY_ERROR_IMPLEMENTATION = wayland.wl_display.error.implementation;

export interface Party {
  readonly name: string;
  readonly hello: WireMsg[];
  readonly body: WireMsg[];
  readonly verdict: Verdict;
  readonly chunks: Chunk[];
  client: RawPeer;
  upstream: Upstream;
  readonly sent: Uint8Array[];
  /** The bridge hung up on it; nothing more is written. */
  stopped: boolean;
}

export function write(p: Party, bytes: Uint8Array, recipes: readonly FdRecipe[]): void {
  if (p.stopped) return;
  const fds = recipes.map(materialize);
  try {
    p.client.sendBytes(bytes, fds);
    p.sent.push(bytes);
  } catch (err) {
    if (!isPeerGone(err)) throw err;
    p.stopped = true;
  } finally {
    for (const fd of fds) closeFd(fd); // the kernel gave the bridge its own copies
  }
}

/** `a` is a prefix of `b`, byte for byte. */
const isPrefix = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length <= b.length && bytesEqual(a, b.subarray(0, a.length));

export function describe(msgs: readonly WireMsg[]): string {
  return msgs.map((m) => m.label).join(' ');
}

/** What a party's client received, split into events and a final wl_display.error. */
function received(p: Party): { events: Uint8Array[]; error: ReturnType<typeof asDisplayError> } {
  const all = p.client.received;
  const error = asDisplayError(all.at(-1));
  const events = (error === undefined ? all : all.slice(0, -1)).map((m) => m.bytes);
  return { events, error };
}

/** The universal properties, plus the verdict's own, for one client of a run. */
export function judgeClient(p: Party, failures: string[]): void {
  const fail = (what: string): void => {
    failures.push(`${p.name}: ${what}`);
  };
  const msgs = [...p.hello, ...p.body];
  const sent = concat(p.sent);
  const up = p.upstream.receivedBytes;
  const { events, error } = received(p);
  const expected = p.upstream.expected;

  // Requests: the compositor sees a prefix of exactly what the client wrote, never
  // anything the bridge made up or altered.
  if (!isPrefix(up, sent)) fail('compositor received bytes the client did not send in that order');
  // Events: the client sees a prefix of what the compositor sent (as filtered), then
  // possibly one wl_display.error.
  const n = Math.min(events.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (!bytesEqual(events[i]!, expected[i]!)) {
      fail(`event #${i} differs from what the compositor sent`);
      break;
    }
  }
  if (events.length > expected.length) fail('client received events the compositor never sent');
  if (p.client.eof && error === undefined) fail('disconnected without a wl_display.error');
  if (error !== undefined && !p.client.eof && !p.upstream.errorSent)
    fail(`wl_display.error (${error.message}) but the connection stays open`);

  const v = p.verdict;
  const hello = p.hello.length;
  switch (v.kind) {
    case 'valid':
      if (error !== undefined) fail(`unexpected wl_display.error: ${error.message}`);
      if (p.client.eof) fail('disconnected');
      if (!bytesEqual(up, sent)) fail(`compositor received ${up.length} of ${sent.length} bytes`);
      if (events.length !== expected.length)
        fail(`received ${events.length} of ${expected.length} events`);
      if (p.upstream.errorSent) fail(`compositor rejected the stream: ${p.upstream.errorSent}`);
      break;
    case 'error': {
      if (error === undefined) {
        fail(`no wl_display.error for ${v.why}`);
        break;
      }
      if (!p.client.eof) fail('not disconnected after wl_display.error');
      if (!v.codes.includes(error.code) || error.objectId !== v.objectId)
        fail(
          `error ${error.code} on object ${error.objectId} (${error.message}); expected ${v.codes.join('|')} on ${v.objectId} for ${v.why}`,
        );
      if (p.upstream.errorSent)
        fail(
          `the compositor saw the bad message (${p.upstream.errorSent}); the bridge should have`,
        );
      const limit = boundaries(msgs)[hello + v.at]!;
      if (up.length > limit)
        fail(`the bad message (${v.why}) or later bytes reached the compositor`);
      if (!boundaries(msgs).includes(up.length)) fail('compositor received a partial message');
      break;
    }
    case 'stall': {
      if (error !== undefined) fail(`unexpected wl_display.error: ${error.message}`);
      const limit = boundaries(msgs)[hello + v.at]!;
      if (up.length !== limit)
        fail(`compositor received ${up.length} bytes; the complete messages are ${limit}`);
      break;
    }
    case 'unknown':
      break;
  }
}

// ---- client → compositor ----------------------------------------------------------

/** Every session of the run ended (within 5 s of the clients leaving). */
export async function expectIdle(world: FuzzWorld, failures: string[]): Promise<void> {
  const idle = await Promise.race([
    world.bridge.whenIdle().then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
  ]);
  if (!idle) failures.push(`bridge still has ${world.bridge.sessionCount} sessions`);
}

/** The run gave back every fd it opened (bridge, fake compositor, clients). */
export function expectNoFdLeak(fdsBefore: number, failures: string[]): void {
  const fdsAfter = openFds();
  if (fdsAfter !== fdsBefore) failures.push(`fd leak: ${fdsBefore} fds before, ${fdsAfter} after`);
}

export interface RelayScenario {
  readonly kind: BridgeKind;
  readonly good: readonly { program: Program; delivery: Delivery }[];
  readonly hostile: { program: Program; fault: Fault; delivery: Delivery };
  /** Where the hostile client connects among the good ones. */
  readonly hostileSlot: number;
  /** Which client writes next (index mod the clients with writes left). */
  readonly order: readonly number[];
  /** Whether to let the event loop run after each write. */
  readonly yields: readonly boolean[];
}

export const relayScenarioArb = (maxOps = 24): fc.Arbitrary<RelayScenario> =>
  fc.record({
    kind: fc.constantFrom<BridgeKind>('relay', 'grant'),
    good: fc.array(fc.record({ program: programArb(maxOps), delivery: deliveryArb }), {
      minLength: 1,
      maxLength: 2,
    }),
    hostile: fc.record({ program: programArb(maxOps), fault: faultArb, delivery: deliveryArb }),
    hostileSlot: fc.nat({ max: 2 }),
    order: fc.array(fc.nat({ max: 5 }), { maxLength: 40 }),
    yields: fc.array(fc.boolean(), { maxLength: 40 }),
  });

export interface RunResult {
  /** The hostile client's verdict, for statistics. */
  readonly verdict: Verdict['kind'];
  readonly fault: string;
}

/** Runs one scenario; throws an Error naming every violated property. */
export async function runRelayScenario(s: RelayScenario): Promise<RunResult> {
  const fdsBefore = openFds();
  const failures: string[] = [];
  const world = FuzzWorld.start(s.kind);
  const parties: Party[] = [];
  const hostileScript = interpret(s.hostile.program);
  const faulted = applyFault(hostileScript, s.hostile.fault);
  const hostileVerdict = faulted.verdict;
  try {
    type Plan = Pick<Party, 'name' | 'hello' | 'body' | 'verdict'> & { delivery: Delivery };
    const plans: Plan[] = s.good.map((g, i) => {
      const script = interpret(g.program);
      return {
        name: `good#${i}`,
        hello: script.hello,
        body: script.body,
        verdict: { kind: 'valid' },
        delivery: g.delivery,
      };
    });
    plans.splice(Math.min(s.hostileSlot, plans.length), 0, {
      name: `hostile(${s.hostile.fault.f})`,
      hello: hostileScript.hello,
      body: faulted.body,
      verdict: faulted.verdict,
      delivery: s.hostile.delivery,
    });
    for (const plan of plans) {
      const { client, upstream } = await world.connect();
      parties.push({
        ...plan,
        chunks: chunk(plan.body, plan.delivery),
        client,
        upstream,
        sent: [],
        stopped: false,
      });
    }
    // Everyone asks for the registry and waits for the globals (binds need them).
    for (const p of parties) write(p, concat(p.hello.map((m) => m.bytes)), []);
    const visibleGlobals = GLOBALS.filter((g) => tableVersion(g.iface) > 0).length;
    for (const p of parties) {
      if (!(await waitFor(() => p.client.received.length >= visibleGlobals, 5000)))
        throw new Error(`${p.name} never received the globals`);
    }
    // Interleaved writes at random cut points.
    const next = parties.map(() => 0);
    let step = 0;
    for (;;) {
      const left = parties.filter((p, i) => next[i]! < p.chunks.length);
      if (left.length === 0) break;
      const p = left[(s.order[step % Math.max(1, s.order.length)] ?? 0) % left.length]!;
      const i = parties.indexOf(p);
      const c = p.chunks[next[i]!]!;
      next[i]!++;
      write(p, c.bytes, c.fds);
      if (s.yields[step % Math.max(1, s.yields.length)] === true) await turn();
      step++;
    }
    // Let everything settle: complete exchanges for valid streams, the hang-up for
    // rejected ones, and quiet for the rest.
    for (const p of parties) {
      if (p.verdict.kind === 'valid') {
        const sentBytes = concat(p.sent).length;
        await waitFor(
          () =>
            p.upstream.receivedBytes.length === sentBytes &&
            p.client.received.length >= p.upstream.expected.length,
          5000,
        );
      } else if (p.verdict.kind === 'error') {
        await waitFor(() => p.client.eof, 5000);
      }
    }
    await quiescent(
      () =>
        parties
          .map(
            (p) =>
              `${p.client.received.length}/${p.upstream.peer.received.length}/${p.client.eof}/${p.upstream.peer.eof}`,
          )
          .join(' '),
      25,
    );
    for (const p of parties) judgeClient(p, failures);
    // Hanging up: the bridge closes the matching upstream connection, and only it.
    const hostile = parties.find((p) => p.name.startsWith('hostile'))!;
    hostile.client.close();
    if (!(await waitFor(() => hostile.upstream.peer.eof || hostile.upstream.gone, 5000)))
      failures.push('the hostile client left but its compositor connection stayed open');
    for (const p of parties) {
      if (p !== hostile && (p.client.eof || p.upstream.peer.eof))
        failures.push(`${p.name}: disconnected along with the hostile client`);
    }
    for (const p of parties) p.client.close();
    await expectIdle(world, failures);
  } finally {
    world.close();
  }
  expectNoFdLeak(fdsBefore, failures);
  if (failures.length > 0) {
    const hostile = parties.find((p) => p.name.startsWith('hostile'));
    throw new Error(
      `${failures.join('\n')}\n  hostile verdict: ${JSON.stringify(hostile?.verdict)}\n  hostile stream: ${describe(hostile?.body ?? [])}`,
    );
  }
  return { verdict: hostileVerdict.kind, fault: s.hostile.fault.f };
}
