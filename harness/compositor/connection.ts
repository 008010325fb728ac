// One client of the embedded compositor: its socket, its object map, and the dispatch of
// its requests to per-object handlers, on the project's own codec (bridge/wire). This is
// the server half of what libwayland-server does for a client, with the same rules: ids
// are checked as libwayland checks them, a broken request becomes wl_display.error with
// libwayland's code and the client alone is disconnected, and destroying a client-made
// object sends wl_display.delete_id. Protocol areas (core, shm, surface…) only see
// Resources and Requests; nothing about bytes or fds leaks to them except fd arguments,
// whose ownership is explicit (Request.takeFd).

import type { Logger } from 'pino';
import { type FdWatch, watchFd } from '../../ffi/fd-watch.js';
import { close as closeFd, peerCredentials } from '../../ffi/libc.js';
import { FdOverflowError, isPeerGone, UnixChannel } from '../../ffi/unix-channel.js';
import { clientNewIdProblem } from '../../bridge/protocol/ids.js';
import type { InterfaceSpec, MessageSpec } from '../../bridge/protocol/types.js';
import {
  SERVER_ID_BASE,
  decodeArgs,
  encodeMessage,
  WireError,
  FdQueue,
  FrameReader,
} from '../../bridge/wire/index.js';
import type { ArgValue, UntypedNewId } from '../../bridge/wire/index.js';
import { DisplayError, ProtocolError } from './errors.js';

/** A request handler; it may throw ProtocolError. */
export type RequestHandler = (req: Request) => void;

/**
 * How one object answers requests. A missing handler means "nothing to do" (e.g. a
 * destructor whose whole effect is the destruction). `destroyed` runs exactly once,
 * whether the client destroyed the object or disconnected.
 */
export interface Implementation {
  readonly requests: Readonly<Record<string, RequestHandler>>;
  readonly destroyed?: (resource: Resource) => void;
}

/** Where interface specs come from (the ProtocolRegistry, in practice). */
export interface InterfaceLookup {
  get(name: string): InterfaceSpec | undefined;
}

/** Bytes of events a client may leave unread before it is disconnected (libwayland: ~4 KiB ring + its own limit). */
const MAX_PENDING_OUTPUT = 4 * 1024 * 1024;
/** Reads per wake-up, so one chatty client cannot starve the others. */
const MAX_READS_PER_WAKE = 16;

/** One object of one client, like libwayland's wl_resource. */
export class Resource {
  #alive = true;
  readonly #destroyListeners: (() => void)[] = [];

  constructor(
    readonly client: Client,
    readonly id: number,
    readonly iface: InterfaceSpec,
    readonly version: number,
    /** The area's own state for this object (checked with instanceof, never cast). */
    readonly data: unknown,
    readonly impl: Implementation,
  ) {}

  get alive(): boolean {
    return this.#alive;
  }

  /** `wl_surface@12`, for messages. */
  toString(): string {
    return `${this.iface.name}@${this.id}`;
  }

  /**
   * Queues an event. Invariant: never called for an event newer than the object's
   * version (callers check `version >=` first; sending one anyway is a bug, thrown).
   * Events to a dead object are dropped, as libwayland drops them.
   */
  send(event: string, args: readonly ArgValue[]): void {
    if (!this.#alive || this.client.closed) return;
    const opcode = eventOpcode(this.iface, event);
    const spec = this.iface.events[opcode]!;
    if (spec.since > this.version) {
      throw new Error(`${this.toString()}: event ${event} needs version ${spec.since}`);
    }
    this.client.queueEvent(this.id, opcode, spec, args);
  }

  /** A protocol error about this object, with a code of its interface's error enum. */
  error(code: number, message: string): ProtocolError {
    return new ProtocolError(this.id, code, message);
  }

  /** Like wl_resource_add_destroy_listener: runs after `impl.destroyed`. */
  onDestroy(listener: () => void): void {
    this.#destroyListeners.push(listener);
  }

  /** Destroys the object (server side); client-made ids get wl_display.delete_id. */
  destroy(): void {
    if (!this.#alive) return;
    this.#alive = false;
    this.client.forget(this);
    this.impl.destroyed?.(this);
    for (const listener of this.#destroyListeners.splice(0)) listener();
  }
}

const opcodeCache = new WeakMap<readonly MessageSpec[], Map<string, number>>();

function opcodeIn(messages: readonly MessageSpec[], name: string): number | undefined {
  let byName = opcodeCache.get(messages);
  if (byName === undefined) {
    byName = new Map(messages.map((m, i) => [m.name, i]));
    opcodeCache.set(messages, byName);
  }
  return byName.get(name);
}

function eventOpcode(iface: InterfaceSpec, name: string): number {
  const opcode = opcodeIn(iface.events, name);
  if (opcode === undefined) throw new Error(`${iface.name} has no event ${name}`);
  return opcode;
}

const argIndexCache = new WeakMap<MessageSpec, Map<string, number>>();

/** One decoded request, read by argument name. */
export class Request {
  readonly #values: readonly ArgValue[];
  readonly #objects: readonly (Resource | null | undefined)[];
  readonly #fdTaken: boolean[] = [];

  constructor(
    readonly resource: Resource,
    readonly spec: MessageSpec,
    values: readonly ArgValue[],
    objects: readonly (Resource | null | undefined)[],
  ) {
    this.#values = values;
    this.#objects = objects;
  }

  get client(): Client {
    return this.resource.client;
  }

  #index(name: string): number {
    let byName = argIndexCache.get(this.spec);
    if (byName === undefined) {
      byName = new Map(this.spec.args.map((a, i) => [a.name, i]));
      argIndexCache.set(this.spec, byName);
    }
    const i = byName.get(name);
    if (i === undefined) throw new Error(`${this.spec.name} has no argument ${name}`);
    return i;
  }

  /** int, uint, fixed (as a real number) and typed new_id arguments. */
  number(name: string): number {
    const v = this.#values[this.#index(name)];
    if (typeof v !== 'number') throw new Error(`${this.spec.name}.${name} is not a number`);
    return v;
  }

  string(name: string): string | null {
    const v = this.#values[this.#index(name)];
    if (v !== null && typeof v !== 'string') throw new Error(`${name} is not a string`);
    return v;
  }

  array(name: string): Uint8Array {
    const v = this.#values[this.#index(name)];
    if (!(v instanceof Uint8Array)) throw new Error(`${name} is not an array`);
    return v;
  }

  /** An object argument, already checked to exist and to have the spec's interface. */
  object(name: string): Resource | null {
    return this.#objects[this.#index(name)] ?? null;
  }

  untypedNewId(name: string): UntypedNewId {
    const v = this.#values[this.#index(name)];
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array) {
      throw new Error(`${name} is not an untyped new_id`);
    }
    return v;
  }

  /** Takes ownership of an fd argument; fds not taken are closed after the handler. */
  takeFd(name: string): number {
    const i = this.#index(name);
    const v = this.#values[i];
    if (typeof v !== 'number' || this.#fdTaken[i]) throw new Error(`fd ${name} unavailable`);
    this.#fdTaken[i] = true;
    return v;
  }

  /** Fds of this request that no handler took (the dispatcher closes them). */
  untakenFds(): number[] {
    const out: number[] = [];
    this.spec.args.forEach((arg, i) => {
      const v = this.#values[i];
      if (arg.type === 'fd' && !this.#fdTaken[i] && typeof v === 'number') out.push(v);
    });
    return out;
  }
}

export interface ClientOptions {
  readonly serial: number;
  readonly interfaces: InterfaceLookup;
  readonly log: Logger;
  /** Runs once when the connection is gone, after every resource was destroyed. */
  readonly onClosed: (client: Client) => void;
}

/** One connected client. */
export class Client {
  /** Compositor-wide number of this client, for logs and the control channel. */
  readonly serial: number;
  /** The peer's pid (SO_PEERCRED), or 0 when it cannot be read. */
  readonly pid: number;
  readonly #channel: UnixChannel;
  readonly #watch: FdWatch;
  readonly #frames = new FrameReader();
  readonly #fds = new FdQueue();
  readonly #options: ClientOptions;
  #display!: Resource;
  /**
   * Live objects by id. Invariant: a client id (< 0xff000000) is here from the request
   * that created it until its destruction; the id may then be reused by the client.
   */
  readonly #objects = new Map<number, Resource>();
  /** One past the highest client id ever used: libwayland allows no gaps. */
  #idLimit = 2;
  // Queued event bytes are #out[#outStart, #outEnd).
  #out = new Uint8Array(16 * 1024);
  #outStart = 0;
  #outEnd = 0;
  #flushQueued = false;
  #closing = false;
  #closed = false;

  constructor(
    fd: number,
    display: InterfaceSpec,
    displayImpl: (client: Client) => Implementation,
    options: ClientOptions,
  ) {
    this.serial = options.serial;
    this.#options = options;
    let pid = 0;
    try {
      pid = peerCredentials(fd).pid;
    } catch {
      // not a unix socket peer with credentials (socketpair in tests): unknown
    }
    this.pid = pid;
    this.#channel = new UnixChannel(fd);
    this.#watch = watchFd(fd, (ready) => {
      if (ready.writable) this.#guard(() => this.flush());
      if (ready.readable || ready.hangup) this.#guard(() => this.#read());
    });
    this.#display = new Resource(this, 1, display, 1, null, displayImpl(this));
    this.#objects.set(1, this.#display);
  }

  get closed(): boolean {
    return this.#closed || this.#closing;
  }

  get log(): Logger {
    return this.#options.log;
  }

  /** The wl_display object (id 1), alive for the whole connection. */
  get display(): Resource {
    return this.#display;
  }

  lookup(id: number): Resource | undefined {
    return this.#objects.get(id);
  }

  get objectCount(): number {
    return this.#objects.size;
  }

  /** Every live resource (a copy, safe to destroy from). */
  resources(): Resource[] {
    return [...this.#objects.values()];
  }

  /** The interface spec by name, or a bug. */
  interfaceSpec(name: string): InterfaceSpec {
    const spec = this.#options.interfaces.get(name);
    if (spec === undefined) throw new Error(`no protocol table for ${name}`);
    return spec;
  }

  /**
   * Creates the object for a client-chosen new_id. The dispatcher has already checked
   * the id (in sequence, not in use) before the handler that calls this ran.
   */
  createResource(
    id: number,
    iface: string | InterfaceSpec,
    version: number,
    data: unknown,
    impl: Implementation,
  ): Resource {
    const spec = typeof iface === 'string' ? this.interfaceSpec(iface) : iface;
    const resource = new Resource(this, id, spec, version, data, impl);
    this.#objects.set(id, resource);
    if (id >= this.#idLimit) this.#idLimit = id + 1;
    return resource;
  }

  /** Called by Resource.destroy: unmaps the id and tells the client it is free. */
  forget(resource: Resource): void {
    if (this.#objects.get(resource.id) !== resource) return;
    this.#objects.delete(resource.id);
    if (resource.id < SERVER_ID_BASE && !this.closed) {
      this.display.send('delete_id', [resource.id]);
    }
  }

  /** Encodes an event behind those already queued; flushed at the end of this JS job. */
  queueEvent(objectId: number, opcode: number, spec: MessageSpec, args: readonly ArgValue[]): void {
    const { bytes, fds } = encodeMessage(objectId, opcode, spec, args);
    // The compositor never sends fds (no keymaps, no data offers): nothing to carry.
    if (fds.length > 0) throw new Error(`${spec.name}: events with fds are not supported`);
    if (!this.#append(bytes)) {
      // libwayland-server gives up on a client that does not read its events. Events are
      // sent from timers too (repaint), so the disconnect is deferred, never thrown.
      this.#closing = true;
      queueMicrotask(() => this.close('client does not read its events'));
      return;
    }
    this.#scheduleFlush();
  }

  /** Queues bytes; false when the client has left too much unread. */
  #append(bytes: Uint8Array): boolean {
    if (this.#outEnd + bytes.length > this.#out.length) {
      const live = this.#outEnd - this.#outStart;
      if (live + bytes.length > MAX_PENDING_OUTPUT) return false;
      let cap = this.#out.length;
      while (cap < live + bytes.length) cap *= 2;
      if (cap === this.#out.length) {
        this.#out.copyWithin(0, this.#outStart, this.#outEnd);
      } else {
        const grown = new Uint8Array(cap);
        grown.set(this.#out.subarray(this.#outStart, this.#outEnd), 0);
        this.#out = grown;
      }
      this.#outStart = 0;
      this.#outEnd = live;
    }
    this.#out.set(bytes, this.#outEnd);
    this.#outEnd += bytes.length;
    return true;
  }

  #scheduleFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#guard(() => this.flush());
    });
  }

  /** Sends what the socket takes now; watches for writability while some is left. */
  flush(): void {
    if (this.#closed) return;
    const tx = this.#channel.tx;
    while (this.#outEnd > this.#outStart) {
      const length = Math.min(this.#outEnd - this.#outStart, tx.length);
      tx.set(this.#out.subarray(this.#outStart, this.#outStart + length), 0);
      const sent = this.#channel.send(0, length);
      if (sent === 'again') break;
      this.#outStart += sent;
      if (sent < length) break;
    }
    if (this.#outStart === this.#outEnd) {
      this.#outStart = 0;
      this.#outEnd = 0;
    }
    this.#watch.setInterest(!this.#closing, this.#outEnd > this.#outStart);
  }

  /** Posts wl_display.error, flushes what it can, and disconnects this client alone. */
  postError(objectId: number, code: number, message: string): void {
    if (this.closed) return;
    this.#options.log.warn(
      { client: this.serial, pid: this.pid, object: objectId, code },
      `protocol error: ${message}`,
    );
    try {
      this.display.send('error', [objectId, code, message.slice(0, 3000)]);
      this.flush();
    } catch {
      // the peer is gone already
    }
    this.close('protocol error');
  }

  /** Disconnects: destroys every object (in id order, as libwayland), then the socket. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closing = true;
    this.#options.log.debug({ client: this.serial, reason }, 'client disconnected');
    const ids = [...this.#objects.keys()].sort((a, b) => a - b);
    for (const id of ids) {
      const resource = this.#objects.get(id);
      if (resource !== undefined && id !== 1) {
        try {
          resource.destroy();
        } catch (err) {
          this.#options.log.error({ err, client: this.serial }, 'destroying an object failed');
        }
      }
    }
    this.#objects.clear();
    this.#closed = true;
    this.#watch.close();
    for (const fd of this.#fds.drain()) closeFd(fd);
    this.#channel.close();
    this.#options.onClosed(this);
  }

  /** Every event-loop callback goes through here: a failure ends this client only. */
  #guard(work: () => void): void {
    if (this.#closed) return;
    try {
      work();
    } catch (err) {
      this.#fail(err);
    }
  }

  #fail(err: unknown): void {
    if (err instanceof ProtocolError) {
      this.postError(err.objectId, err.protocolCode, err.message);
    } else if (isPeerGone(err)) {
      this.close('peer gone');
    } else if (err instanceof FdOverflowError) {
      this.postError(1, DisplayError.implementation, err.message);
    } else {
      this.#options.log.error({ err, client: this.serial }, 'compositor bug while serving client');
      this.postError(1, DisplayError.implementation, 'grantway compositor: internal error');
    }
  }

  #read(): void {
    for (let i = 0; i < MAX_READS_PER_WAKE && !this.closed; i++) {
      const fds: number[] = [];
      const got = this.#channel.recv(0, this.#channel.rx.length, fds);
      if (fds.length > 0) this.#fds.push(fds);
      if (got === 'again') return;
      if (got === 'eof') {
        // A client that only half-closed still reads: as libwayland-server's
        // wl_client_destroy does, the replies to what it sent last go out first.
        this.flush();
        this.close('client disconnected');
        return;
      }
      this.#frames.push(this.#channel.rx.subarray(0, got));
      this.#dispatchFrames();
    }
  }

  #dispatchFrames(): void {
    for (;;) {
      if (this.closed) return;
      let frame;
      try {
        frame = this.#frames.next();
      } catch (err) {
        if (err instanceof WireError) {
          throw new ProtocolError(
            1,
            DisplayError.invalidMethod,
            `malformed message: ${err.message}`,
          );
        }
        throw err;
      }
      if (frame === undefined) return;
      this.#dispatch(frame.objectId, frame.opcode, frame.bytes);
    }
  }

  #dispatch(objectId: number, opcode: number, bytes: Uint8Array): void {
    const resource = this.#objects.get(objectId);
    if (resource === undefined) {
      throw new ProtocolError(1, DisplayError.invalidObject, `invalid object ${objectId}`);
    }
    const spec = resource.iface.requests[opcode];
    if (spec === undefined || spec.since > resource.version) {
      throw new ProtocolError(
        objectId,
        DisplayError.invalidMethod,
        `invalid method ${opcode} (since ${spec?.since ?? '?'} > version ${resource.version}), object ${resource.toString()}`,
      );
    }
    const what = `${resource.toString()}.${spec.name}`;
    let values: ArgValue[];
    try {
      values = decodeArgs(spec, bytes, 0, bytes.length, this.#fds);
    } catch (err) {
      if (err instanceof WireError) {
        for (const fd of err.fds) closeFd(fd);
        throw new ProtocolError(
          objectId,
          DisplayError.invalidMethod,
          `invalid arguments for ${what}: ${err.message}`,
        );
      }
      throw err;
    }
    const objects: (Resource | null | undefined)[] = [];
    let request: Request | undefined;
    try {
      spec.args.forEach((arg, i) => {
        const v = values[i];
        if (arg.type === 'object') {
          objects[i] = this.#resolveObject(what, objectId, v as number, arg.interface);
        } else if (arg.type === 'new_id') {
          const id = arg.interface === undefined ? (v as UntypedNewId).id : (v as number);
          this.#checkNewId(what, id, objectId);
        }
      });
      request = new Request(resource, spec, values, objects);
      const handler = resource.impl.requests[spec.name];
      handler?.(request);
      if (spec.destructor && resource.alive) resource.destroy();
    } finally {
      const leftover = request?.untakenFds() ?? collectFds(spec, values);
      for (const fd of leftover) closeFd(fd);
    }
  }

  /** libwayland's wl_closure_lookup_objects: the error is posted on the sender. */
  #resolveObject(
    what: string,
    sender: number,
    id: number,
    iface: string | undefined,
  ): Resource | null {
    if (id === 0) return null; // the decoder already refused null where not allowed
    const target = this.#objects.get(id);
    if (target === undefined) {
      throw new ProtocolError(
        sender,
        DisplayError.invalidMethod,
        `invalid arguments for ${what}: unknown object (${id})`,
      );
    }
    if (iface !== undefined && target.iface.name !== iface) {
      throw new ProtocolError(
        sender,
        DisplayError.invalidMethod,
        `invalid arguments for ${what}: object ${target.toString()} is not a ${iface}`,
      );
    }
    return target;
  }

  /** libwayland's wl_map_reserve_new (the rule: bridge/protocol/ids.ts). */
  #checkNewId(what: string, id: number, sender: number): void {
    if (clientNewIdProblem(id, this.#idLimit, this.#objects.has(id)) !== undefined) {
      throw new ProtocolError(
        sender,
        DisplayError.invalidMethod,
        `invalid arguments for ${what}: not a valid new object id (${id})`,
      );
    }
  }
}

function collectFds(spec: MessageSpec, values: readonly ArgValue[]): number[] {
  const out: number[] = [];
  spec.args.forEach((arg, i) => {
    const v = values[i];
    if (arg.type === 'fd' && typeof v === 'number' && v >= 0) out.push(v);
  });
  return out;
}
