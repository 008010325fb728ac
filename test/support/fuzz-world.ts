// The stage the relay fuzzers play on, all in this process over real unix sockets: a
// fake compositor that answers like libwayland-server would (globals, callbacks,
// delete_id, releases, and wl_display.error + hang-up on anything it cannot parse), a
// bridge in front of it (plain relay, or grant mode with the shm tracker), and raw
// clients. Every event the compositor sends is recorded as the client should see it,
// so tests can byte-compare both directions.

import { mkdtempSync, openSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { type AssembledBridge, assembleBridge } from '../../bridge/assembly/assemble.js';
import { silentLogger } from '../../bridge/log.js';
import { Bridge } from '../../bridge/relay/bridge.js';
import { WaylandListener } from '../../bridge/relay/listener.js';
import type { Lifecycle } from '../../bridge/shm/lifecycle.js';
import { decodeArgs } from '../../bridge/wire/decode.js';
import { encodeMessage } from '../../bridge/wire/encode.js';
import { FdQueue } from '../../bridge/wire/fd-queue.js';
import type { ArgValue, UntypedNewId } from '../../bridge/wire/values.js';
import {
  addSeals,
  close as closeFd,
  F_SEAL_SHRINK,
  ftruncate,
  memfdCreate,
  socketPair,
} from '../../ffi/libc.js';
import { isPeerGone } from '../../ffi/unix-channel.js';
import { evt, type FdRecipe, GLOBALS, type Msg, tableVersion } from './fuzz-model.js';
import { iface, RawPeer, type ReceivedMessage, registry } from './raw-peer.js';

export const openFds = (): number => readdirSync('/proc/self/fd').length;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** One turn of the event loop (its poll phase included). */
export const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Creates the fd a recipe describes; the caller owns (and closes) it. */
export function materialize(recipe: FdRecipe): number {
  switch (recipe.kind) {
    case 'memfd': {
      const fd = memfdCreate('gw-fuzz');
      ftruncate(fd, recipe.size);
      if (recipe.sealed) addSeals(fd, F_SEAL_SHRINK);
      return fd;
    }
    case 'socket': {
      const [a, b] = socketPair();
      closeFd(b);
      return a;
    }
    case 'devnull':
      return openSync('/dev/null', 'r');
  }
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

const displayError = evt('wl_display', 'error');
const deleteId = evt('wl_display', 'delete_id');
const global = evt('wl_registry', 'global');
const callbackDone = evt('wl_callback', 'done');
const shmFormat = evt('wl_shm', 'format');
const bufferRelease = evt('wl_buffer', 'release');

/** wl_display.error's arguments, if `m` is one. */
export function asDisplayError(
  m: ReceivedMessage | undefined,
): { objectId: number; code: number; message: string } | undefined {
  if (m === undefined || m.objectId !== 1 || m.opcode !== displayError.opcode) return undefined;
  const [objectId, code, message] = decodeArgs(
    displayError.spec,
    m.bytes,
    0,
    m.bytes.length,
    new FdQueue(),
  ) as [number, number, string];
  return { objectId, code, message };
}

/**
 * What a client sees of wl_registry.global: nothing for an interface the bridge has no
 * protocol for, the version clamped to the bridge's table, or (undefined) the original.
 */
export function seenGlobal(
  registryId: number,
  g: { name: number; iface: string; version: number },
): Uint8Array | null | undefined {
  const table = tableVersion(g.iface);
  if (table === 0) return null;
  if (g.version <= table) return undefined;
  return encodeMessage(registryId, global.opcode, global.spec, [g.name, g.iface, table]).bytes;
}

interface SurfaceModel {
  pending: number | undefined;
  committed: number;
  frames: number[];
}

/**
 * One connection the bridge opened to the fake compositor. With `auto`, it answers
 * requests as a libwayland-server compositor would; otherwise the test speaks for it.
 */
export class Upstream {
  /** Every event sent that the client should receive, as it should receive it. */
  readonly expected: Uint8Array[] = [];
  /** The compositor posted wl_display.error itself (and hung up). */
  errorSent: string | undefined;
  /** Sending failed: the bridge closed this connection. */
  gone = false;
  private readonly objects = new Map<number, string>([[1, 'wl_display']]);
  private readonly surfaces = new Map<number, SurfaceModel>();
  private serial = 1;

  constructor(
    readonly peer: RawPeer,
    readonly auto: boolean,
  ) {
    if (auto) peer.onMessage = (m) => this.handle(m);
  }

  get receivedBytes(): Uint8Array {
    return concat(this.peer.received.map((m) => m.bytes));
  }

  /** Sends an event; `as` is what the client should see instead (clamped), or null (hidden). */
  send(objectId: number, msg: Msg, args: ArgValue[], as?: Uint8Array | null): void {
    if (this.gone) return;
    const { bytes } = encodeMessage(objectId, msg.opcode, msg.spec, args);
    try {
      this.peer.sendBytes(bytes);
    } catch (err) {
      if (!isPeerGone(err)) throw err;
      this.gone = true;
      return;
    }
    if (as !== null) this.expected.push(as ?? bytes);
  }

  /** Raw bytes and fds, for the compositor-side fuzzer (nothing expected is recorded). */
  sendRaw(bytes: Uint8Array, fds: number[]): void {
    if (this.gone) return;
    try {
      this.peer.sendBytes(bytes, fds);
    } catch (err) {
      if (!isPeerGone(err)) throw err;
      this.gone = true;
    }
  }

  /** wl_registry.global for each of GLOBALS, recording what the bridge lets through. */
  announceGlobals(registryId: number): void {
    for (const g of GLOBALS) {
      this.send(registryId, global, [g.name, g.iface, g.version], seenGlobal(registryId, g));
    }
  }

  private fail(reason: string): void {
    this.errorSent = reason;
    this.send(1, displayError, [1, 1, reason]);
    this.peer.close();
    this.gone = true;
  }

  private handle(m: ReceivedMessage): void {
    if (this.gone) return;
    const name = this.objects.get(m.objectId);
    if (name === undefined) return this.fail(`invalid object ${m.objectId}`);
    const spec = iface(name).requests[m.opcode];
    if (spec === undefined) return this.fail(`invalid method ${m.opcode} on ${name}`);
    let args: ArgValue[];
    try {
      args = decodeArgs(spec, m.bytes, 0, m.bytes.length, this.peer.fds);
    } catch (err) {
      return this.fail(`invalid arguments for ${name}.${spec.name}: ${String(err)}`);
    }
    spec.args.forEach((a, i) => {
      if (a.type === 'fd') closeFd(args[i] as number);
      if (a.type !== 'new_id') return;
      const target = args[i] as number | UntypedNewId;
      if (typeof target === 'number') this.objects.set(target, a.interface!);
      else this.objects.set(target.id, target.interface);
    });
    const id = m.objectId;
    switch (`${name}.${spec.name}`) {
      case 'wl_display.get_registry':
        this.announceGlobals(args[0] as number);
        break;
      case 'wl_display.sync':
        this.done(args[0] as number);
        break;
      case 'wl_registry.bind': {
        const target = args[1] as UntypedNewId;
        if (target.interface === 'wl_shm') {
          this.send(target.id, shmFormat, [0]);
          this.send(target.id, shmFormat, [1]);
        }
        break;
      }
      case 'wl_compositor.create_surface':
        this.surfaces.set(args[0] as number, { pending: undefined, committed: 0, frames: [] });
        break;
      case 'wl_surface.attach':
        this.surface(id).pending = args[0] as number;
        break;
      case 'wl_surface.frame':
        this.surface(id).frames.push(args[0] as number);
        break;
      case 'wl_surface.commit': {
        const s = this.surface(id);
        if (s.pending !== undefined) {
          const previous = s.committed;
          s.committed = s.pending;
          s.pending = undefined;
          if (previous !== 0 && previous !== s.committed && this.objects.has(previous)) {
            this.send(previous, bufferRelease, []);
          }
        }
        for (const cb of s.frames.splice(0)) this.done(cb);
        break;
      }
    }
    if (spec.destructor) {
      this.objects.delete(id);
      this.surfaces.delete(id);
      this.send(1, deleteId, [id]);
    }
  }

  private surface(id: number): SurfaceModel {
    let s = this.surfaces.get(id);
    if (s === undefined)
      this.surfaces.set(id, (s = { pending: undefined, committed: 0, frames: [] }));
    return s;
  }

  private done(callback: number): void {
    this.objects.delete(callback);
    this.send(callback, callbackDone, [this.serial++]);
    this.send(1, deleteId, [callback]);
  }
}

/** Accepts the bridge's upstream connections, each handled by an Upstream. */
export class FuzzCompositor {
  readonly dir: string;
  readonly path: string;
  readonly connections: Upstream[] = [];
  /** Whether the next connections answer by themselves (see Upstream). */
  auto = true;
  private readonly listener: WaylandListener;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'gw-fuzz-'));
    this.path = join(this.dir, 'compositor');
    this.listener = WaylandListener.open(this.path, (fd) =>
      this.connections.push(new Upstream(new RawPeer(fd), this.auto)),
    );
  }

  async connection(index: number, timeoutMs = 5000): Promise<Upstream> {
    const deadline = Date.now() + timeoutMs;
    while (this.connections[index] === undefined) {
      if (Date.now() > deadline) throw new Error(`no upstream connection #${index}`);
      await sleep(1);
    }
    return this.connections[index];
  }

  close(): void {
    for (const c of this.connections) c.peer.close();
    this.listener.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export type BridgeKind = 'relay' | 'grant';

/** A bridge (with or without grant mode) in front of a FuzzCompositor. */
export class FuzzWorld {
  readonly clients: RawPeer[] = [];

  private constructor(
    readonly compositor: FuzzCompositor,
    readonly bridge: Bridge,
    readonly lifecycle: Lifecycle | undefined,
    private readonly assembled?: AssembledBridge,
  ) {}

  static start(kind: BridgeKind): FuzzWorld {
    const compositor = new FuzzCompositor();
    // Grant mode with no E3 oracle (the compositor is this very process): evidence stops
    // at E2, and the default policy reclaims extents then. The relay alone otherwise.
    if (kind === 'grant') {
      const assembled = assembleBridge({
        listenPath: join(compositor.dir, 'bridge'),
        upstreamPath: compositor.path,
        registry,
        oracle: 'none',
      });
      return new FuzzWorld(compositor, assembled.bridge, assembled.lifecycle, assembled);
    }
    const bridge = Bridge.start({
      listenPath: join(compositor.dir, 'bridge'),
      upstreamPath: compositor.path,
      registry,
      log: silentLogger,
    });
    return new FuzzWorld(compositor, bridge, undefined);
  }

  /** Connects a raw client and returns it with the upstream connection the bridge made for it. */
  async connect(auto = true): Promise<{ client: RawPeer; upstream: Upstream }> {
    this.compositor.auto = auto;
    const index = this.compositor.connections.length;
    const client = RawPeer.connect(this.bridge.listenPath);
    this.clients.push(client);
    const upstream = await this.compositor.connection(index);
    return { client, upstream };
  }

  close(): void {
    for (const c of this.clients) c.close();
    if (this.assembled !== undefined) this.assembled.close();
    else this.bridge.close();
    this.compositor.close();
  }
}

/** Uncaught exceptions and unhandled rejections seen while installed. */
export class ErrorTrap {
  readonly errors: unknown[] = [];
  private readonly onError = (err: unknown): void => {
    this.errors.push(err);
  };

  install(): void {
    process.on('uncaughtException', this.onError);
    process.on('unhandledRejection', this.onError);
  }

  uninstall(): void {
    process.off('uncaughtException', this.onError);
    process.off('unhandledRejection', this.onError);
  }

  /** Throws (with the first one) if anything escaped since the last call. */
  check(): void {
    const first = this.errors.shift();
    this.errors.length = 0;
    if (first !== undefined) {
      throw new Error(
        `escaped the event loop: ${first instanceof Error ? first.stack : inspect(first)}`,
      );
    }
  }
}

/** Resolves once `predicate` holds, or after `timeoutMs` (then returns false). */
export async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await sleep(2);
  }
  return true;
}

/** Resolves once `snapshot` has not changed for `quietMs` (or `timeoutMs` passed). */
export async function quiescent(
  snapshot: () => string,
  quietMs: number,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = snapshot();
  let since = Date.now();
  while (Date.now() - since < quietMs && Date.now() < deadline) {
    await sleep(3);
    const now = snapshot();
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
}
