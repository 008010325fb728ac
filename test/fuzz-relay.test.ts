// Fuzzing the relay with hostile clients (and, below, a hostile compositor) beside
// well-behaved ones, through one bridge over real sockets: the bridge never throws out
// of its event loop, a client that breaks the protocol gets wl_display.error and is
// disconnected alone, everyone else's bytes arrive unchanged and in order, and no fd
// is left behind. FUZZ_RUNS sets the budget (small in CI; `npm run fuzz` runs long).

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageSpec } from '../bridge/protocol/types.js';
import { encodeMessage } from '../bridge/wire/encode.js';
import type { ArgValue } from '../bridge/wire/values.js';
import { asDisplayError, concat, ErrorTrap, FuzzWorld, waitFor } from './support/fuzz-world.js';
import { event, request } from './support/raw-peer.js';
import { eventScenarioArb, runEventScenario } from './support/fuzz-event-scenarios.js';
import { relayScenarioArb, runRelayScenario } from './support/fuzz-scenarios.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 40);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const trap = new ErrorTrap();
const tried = new Map<string, number>();

beforeAll(() => trap.install());
afterAll(() => {
  trap.uninstall();
  const summary = [...tried].map(([k, n]) => `${k} ${n}`).join(', ');
  console.log(`fuzz: ${[...tried.values()].reduce((a, b) => a + b, 0)} inputs tried (${summary})`);
});

describe('relay fuzzing', () => {
  it(
    'hostile clients: protocol errors for them alone, others untouched, no fd leaked',
    async () => {
      await fc.assert(
        fc.asyncProperty(relayScenarioArb(), async (scenario) => {
          const result = await runRelayScenario(scenario);
          trap.check();
          const key = `client:${result.fault}/${result.verdict}`;
          tried.set(key, (tried.get(key) ?? 0) + 1);
        }),
        { numRuns: RUNS, seed: SEED },
      );
      expect(trap.errors).toEqual([]);
    },
    30_000 + RUNS * 500,
  );

  it(
    'a misbehaving compositor: its client gets wl_display.error, the bridge lives on',
    async () => {
      await fc.assert(
        fc.asyncProperty(eventScenarioArb(), async (scenario) => {
          const result = await runEventScenario(scenario);
          trap.check();
          const key = `compositor:${result.fault}/${result.verdict}`;
          tried.set(key, (tried.get(key) ?? 0) + 1);
        }),
        { numRuns: RUNS, seed: SEED },
      );
    },
    30_000 + RUNS * 500,
  );
});

// Minimal reproductions of what the fuzzers found in the relay (all three fixed in
// bridge/relay/session.ts): kept as regression tests.
describe('found by fuzzing', () => {
  const msg = (
    id: number,
    m: { opcode: number; spec: MessageSpec },
    args: ArgValue[],
  ): Uint8Array => encodeMessage(id, m.opcode, m.spec, args).bytes;
  const getRegistry = request('wl_display', 'get_registry');
  const bind = request('wl_registry', 'bind');
  const sync = request('wl_display', 'sync');
  const createSurface = request('wl_compositor', 'create_surface');
  const createPool = request('wl_shm', 'create_pool');
  const format = event('wl_shm', 'format');
  const deleteId = event('wl_display', 'delete_id');

  /** A client with the globals and wl_shm bound as id 3, and its upstream connection. */
  async function clientWithShm(world: FuzzWorld, auto: boolean) {
    const { client, upstream } = await world.connect(auto);
    client.sendBytes(msg(1, getRegistry, [2]));
    await waitFor(() => upstream.peer.received.length === 1, 5000);
    if (!auto) upstream.announceGlobals(2);
    await waitFor(() => client.received.length === 3, 5000);
    client.sendBytes(msg(2, bind, [2, { interface: 'wl_shm', version: 1, id: 3 }]));
    await waitFor(() => upstream.peer.received.length === 2, 5000);
    return { client, upstream };
  }

  // BUG (bridge/relay/session.ts, Session.handleInput): when handleMessage throws for a
  // message it decodes, the `finally` calls pipe.forward(runStart, pos) although that
  // run was already forwarded just before handleMessage; the plain messages before the
  // rejected one are queued twice. Here the client receives format, format, format,
  // format, then wl_display.error. (Requests are hit too, but today that output is
  // never flushed: see the next test.)
  it('a rejected event does not make the client see the events before it twice', async () => {
    const world = FuzzWorld.start('relay');
    try {
      const { client, upstream } = await clientWithShm(world, false);
      const f0 = msg(3, format, [0]);
      const f1 = msg(3, format, [1]);
      upstream.sendRaw(concat([f0, f1, msg(1, deleteId, [1])]), []);
      await waitFor(() => client.eof, 5000);
      const after = client.received.slice(3);
      expect(after.map((m) => asDisplayError(m)?.code ?? 'event')).toEqual(['event', 'event', 3]);
      expect(after.slice(0, 2).map((m) => [...m.bytes])).toEqual([[...f0], [...f1]]);
    } finally {
      world.close();
    }
  });

  // BUG (bridge/relay/session.ts, Session.fail → close): on a client protocol error the
  // session closes the upstream socket without flushing the requests pipe, so valid
  // requests that arrived in the same read as the bad one never reach the compositor.
  // libwayland-server would have dispatched them before posting the error. (Flushing
  // alone would send the duplicated run of the bug above to the compositor.)
  it('requests sent before a bad one in the same write still reach the compositor', async () => {
    const world = FuzzWorld.start('relay');
    try {
      const { client, upstream } = await world.connect(true);
      client.sendBytes(msg(1, getRegistry, [2]));
      await waitFor(() => client.received.length === 3, 5000);
      const good = [
        msg(2, bind, [1, { interface: 'wl_compositor', version: 4, id: 3 }]),
        msg(3, createSurface, [4]),
      ];
      client.sendBytes(concat([...good, msg(99, createSurface, [5])]));
      await waitFor(() => client.eof && upstream.peer.eof, 5000);
      expect(asDisplayError(client.received.at(-1))?.code).toBe(0);
      expect([...upstream.receivedBytes.subarray(12)]).toEqual([...concat(good)]);
    } finally {
      world.close();
    }
  });

  // DIVERGENCE (bridge/relay/session.ts, Session.handleInput: `if (meta.fdCount >
  // pipe.inFds.length) break; // its fds are still in flight`): a request whose fd
  // never came waits forever, and so does everything the client sends after it. Fds
  // travel with or before their message's first byte, so once the whole message is
  // read its fds have arrived; libwayland-server answers invalid_method ("file
  // descriptor expected") at once.
  it('a request whose fd never came gets wl_display.error, not an endless wait', async () => {
    const world = FuzzWorld.start('relay');
    try {
      const { client } = await clientWithShm(world, true);
      client.sendBytes(concat([msg(3, createPool, [4, 0, 4096]), msg(1, sync, [5])])); // no fd
      await waitFor(() => client.eof, 1000);
      expect(asDisplayError(client.received.at(-1))?.code).toBe(1);
    } finally {
      world.close();
    }
  });
});

describe('the error trap', () => {
  // Fixed in ffi/fd-watch.ts: koffi kept an exception thrown in a poll callback pending
  // and threw it out of the next FFI call anywhere (another session's recvmsg), so an
  // escape from the bridge's event loop neither reached 'uncaughtException' nor stayed
  // with its cause. The fuzzers' trap relies on the fix.
  it('sees an exception thrown in an fd callback, and the next FFI call does not', () => {
    const script = `
      import { watchFd } from './ffi/fd-watch.js';
      import { close, socketPair } from './ffi/libc.js';
      process.on('uncaughtException', (e) => { console.log('uncaught: ' + e.message); process.exit(0); });
      const [a, b] = socketPair();
      watchFd(a, () => { throw new Error('boom'); });
      close(b);
      setTimeout(() => {
        try { close(a); console.log('nothing'); } catch (e) { console.log('next FFI call: ' + e.message); }
        process.exit(0);
      }, 500);`;
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    expect(out.trim()).toBe('uncaught: boom');
  });
});
