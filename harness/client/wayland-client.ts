// Scripted Wayland clients in TypeScript through the real client library,
// libwayland-client.so.0, bound with koffi. Tests need a client whose behaviour on the
// wire is exactly libwayland's (object ids, fd passing, zombie handling) to judge the
// bridge and the harness compositors against; writing requests by hand would test our
// own codec against itself.
//
// Shape: a WaylandClient owns one wl_display connection; every protocol object is a
// Proxy over a `struct wl_proxy *`. Requests go through wl_proxy_marshal_array_flags
// with a `union wl_argument` array built here; events come back through ONE
// koffi-registered dispatcher (wl_proxy_add_dispatcher) shared by every proxy of every
// client, which finds the Proxy by its native address and decodes the arguments from
// the InterfaceSpec. The C tables libwayland needs are built by ./wl-interface.ts.
//
// Threading: everything runs on Node's main thread. Events are dispatched either inside
// the blocking calls (roundtrip, dispatchPending) or, after attachToLoop(), from a libuv
// poll on the display fd; libwayland never calls back on another thread.

import koffi from 'koffi';
import { ProtocolRegistry } from '../../bridge/protocol/registry.js';
import type { InterfaceSpec, MessageSpec } from '../../bridge/protocol/types.js';
import { SyscallError } from '../../ffi/errors.js';
import { type FdReadiness, type FdWatch, watchFd } from '../../ffi/fd-watch.js';
import { close as closeFd, fstat, type NativePointer, nativeView } from '../../ffi/libc.js';
import {
  WaylandArgumentError,
  WaylandClosedError,
  WaylandConnectError,
  WaylandDisplayError,
  WaylandNotAttachedError,
  WaylandProxyDestroyedError,
  WaylandUnknownInterfaceError,
  WaylandUnknownMessageError,
} from './wayland-errors.js';
import {
  type ArgSlot,
  allocBlock,
  argSlots,
  freeBlock,
  type InterfaceSource,
  NativeInterfaceTable,
} from '../../ffi/wl-interface.js';

export * from './wayland-errors.js';
export type { InterfaceSource } from '../../ffi/wl-interface.js';
export { messageSignature, nativeBlocksInUse } from '../../ffi/wl-interface.js';
// The brief's name for it; `WaylandProxy` inside, so JS's global Proxy is not shadowed.
export { WaylandProxy as Proxy };

// ---------------------------------------------------------------------------------------
// Native bindings (private: the classes below are the module's surface).

const lib = koffi.load('libwayland-client.so.0');

// int (*wl_dispatcher_func_t)(const void *data, void *target, uint32_t opcode,
//                             const struct wl_message *msg, union wl_argument *args)
// Anonymous on purpose: koffi type names are process-global, and vitest may evaluate
// this module more than once in one process.
const DispatcherFunc = koffi.proto('int', ['void *', 'void *', 'uint32_t', 'void *', 'void *']);

const wl = {
  displayConnect: lib.func('void *wl_display_connect(const char *name)'),
  displayDisconnect: lib.func('void wl_display_disconnect(void *display)'),
  displayGetFd: lib.func('int wl_display_get_fd(void *display)'),
  displayRoundtrip: lib.func('int wl_display_roundtrip(void *display)'),
  displayFlush: lib.func('int wl_display_flush(void *display)'),
  displayDispatchPending: lib.func('int wl_display_dispatch_pending(void *display)'),
  displayPrepareRead: lib.func('int wl_display_prepare_read(void *display)'),
  displayCancelRead: lib.func('void wl_display_cancel_read(void *display)'),
  displayReadEvents: lib.func('int wl_display_read_events(void *display)'),
  displayGetError: lib.func('int wl_display_get_error(void *display)'),
  displayGetProtocolError: lib.func(
    'uint32_t wl_display_get_protocol_error(void *display, _Out_ void **iface, _Out_ uint32_t *id)',
  ),
  proxyMarshalArrayFlags: lib.func(
    'void *wl_proxy_marshal_array_flags(void *proxy, uint32_t opcode, const void *iface, uint32_t version, uint32_t flags, void *args)',
  ),
  proxyDestroy: lib.func('void wl_proxy_destroy(void *proxy)'),
  proxyAddDispatcher: lib.func(
    'int wl_proxy_add_dispatcher(void *proxy, void *func, const void *data, void *user_data)',
  ),
  proxyGetId: lib.func('uint32_t wl_proxy_get_id(void *proxy)'),
  proxyGetVersion: lib.func('uint32_t wl_proxy_get_version(void *proxy)'),
};

const WL_MARSHAL_FLAG_DESTROY = 1;
const EAGAIN = koffi.os.errno.EAGAIN ?? 11;
/** sizeof(union wl_argument) on LP64. */
const ARG_SIZE = 8;
// struct wl_array { size_t size; size_t alloc; void *data; }
const WL_ARRAY_SIZE = 24;

/** koffi gives NULL pointers as null; 0n is easier to compare and store. */
function ptrOf(value: unknown): NativePointer {
  return typeof value === 'bigint' ? value : 0n;
}

// ---------------------------------------------------------------------------------------
// Public types.

/**
 * A request argument, by wire type: int/uint/fixed/fd → number (fixed as a real number;
 * fd stays owned by the caller, see {@link WaylandProxy.request}); string → string;
 * object → WaylandProxy; array → Uint8Array; null for a nullable string/object/array.
 * An untyped new_id (wl_registry.bind) takes two inputs: the InterfaceSpec, then the
 * version. A typed new_id takes none: request() returns the new proxy.
 */
export type ArgInput = number | string | null | WaylandProxy | Uint8Array | InterfaceSpec;

/**
 * A decoded event argument: int/uint/fixed → number; string → string or null; object →
 * the proxy or null (null also for an object already destroyed on this side); new_id →
 * the new proxy; array → a copy; fd → a number the handler now owns and must close.
 */
export type EventArg = number | string | null | WaylandProxy | Uint8Array;

export type EventHandler = (args: readonly EventArg[]) => void;

export interface ConnectOptions {
  /**
   * Where InterfaceSpecs come from (for wl_display, for every typed new_id and every
   * interface referenced by one). Default: the built-in ProtocolRegistry.
   */
  readonly protocols?: InterfaceSource;
}

export interface AttachOptions {
  /**
   * Failures found on the event loop: a handler that threw (the client goes on), or a
   * display error (the client is dead and detached). Without it, such an error rejects
   * the pending roundtripAsync() promises, or, when none is pending, is thrown on the
   * next tick so it cannot pass unnoticed.
   */
  readonly onError?: (error: Error) => void;
  /** Whether the fd watch keeps the process alive (default true). */
  readonly keepAlive?: boolean;
}

// ---------------------------------------------------------------------------------------
// The shared dispatcher.

/**
 * Live proxies by native address, across all clients. Invariant: an address is here
 * exactly while its wl_proxy is alive and owned by a proxy; it is removed before (or in
 * the same synchronous step as) the wl_proxy is destroyed, so an address reused by
 * malloc can never resolve to a stale WaylandProxy.
 */
const proxiesByAddress = new Map<NativePointer, WaylandProxy>();

/**
 * The one koffi-registered dispatcher, registered while at least one client is open and
 * unregistered when the last one closes. Invariant: no wl_proxy carries the trampoline
 * after its client's wl_display_disconnect, so unregistering then is safe.
 */
let dispatcherAddress: NativePointer | null = null;
let dispatcherUsers = 0;

function acquireDispatcher(): NativePointer {
  if (dispatcherAddress === null) {
    dispatcherAddress = koffi.register(onNativeEvent, koffi.pointer(DispatcherFunc));
  }
  dispatcherUsers++;
  return dispatcherAddress;
}

function releaseDispatcher(): void {
  dispatcherUsers--;
  if (dispatcherUsers === 0 && dispatcherAddress !== null) {
    koffi.unregister(dispatcherAddress);
    dispatcherAddress = null;
  }
}

/**
 * Called by libwayland for every event of every proxy we created. Must never throw into
 * C (koffi would hand C a 0 and lose the error): handler exceptions are captured on the
 * proxy's connection and rethrown by whichever call dispatched the event.
 */
function onNativeEvent(
  _data: unknown,
  target: unknown,
  opcode: number,
  _message: unknown,
  args: unknown,
): number {
  const proxy = proxiesByAddress.get(ptrOf(target));
  if (proxy !== undefined) proxyInternals.dispatch(proxy, opcode, ptrOf(args));
  return 0;
}

// ---------------------------------------------------------------------------------------
// Per-message caches (pure, derived from specs).

const opcodeCache = new WeakMap<readonly MessageSpec[], Map<string, number>>();
const slotCache = new WeakMap<MessageSpec, ArgSlot[]>();

function opcodeOf(messages: readonly MessageSpec[], name: string): number {
  let byName = opcodeCache.get(messages);
  if (byName === undefined) {
    byName = new Map(messages.map((m, i) => [m.name, i]));
    opcodeCache.set(messages, byName);
  }
  return byName.get(name) ?? -1;
}

function slotsOf(message: MessageSpec): ArgSlot[] {
  let slots = slotCache.get(message);
  if (slots === undefined) {
    slots = argSlots(message);
    slotCache.set(message, slots);
  }
  return slots;
}

function isInterfaceSpec(value: ArgInput | undefined): value is InterfaceSpec {
  return (
    typeof value === 'object' &&
    value !== null &&
    !(value instanceof WaylandProxy) &&
    !(value instanceof Uint8Array) &&
    Array.isArray(value.requests)
  );
}

/** A stand-in for a new_id of an interface nobody described (libwayland got NULL). */
function unknownInterface(name: string): InterfaceSpec {
  return { name, version: 0, requests: [], events: [], enums: [] };
}

// ---------------------------------------------------------------------------------------
// Connection: the native state of one client. Not exported; WaylandClient and
// WaylandProxy are its two faces.

class Connection {
  readonly display: NativePointer;
  readonly table: NativeInterfaceTable;
  readonly dispatcher: NativePointer;
  /**
   * Every live non-display proxy of this connection. Invariant: same members as this
   * connection's entries of proxiesByAddress (the display is in that map too but never
   * gets a dispatcher and is not destroyed by us: wl_display_disconnect frees it).
   */
  readonly proxies = new Set<WaylandProxy>();
  /** The wl_display's proxy, set right after construction. */
  displayProxy: WaylandProxy | null = null;
  closed = false;
  /** Handler exceptions caught in the dispatcher, waiting for the dispatching call. */
  captured: unknown[] = [];

  // The union wl_argument array for requests: one malloc block reused by every
  // request (grown when a message needs more slots), freed by close().
  argsBlock: NativePointer = 0n;
  argsCapacity = 0;
  argsView: DataView = new DataView(new ArrayBuffer(0));

  // Event-loop mode (attachToLoop).
  watch: FdWatch | null = null;
  onLoopError: ((error: Error) => void) | undefined;
  flushQueued = false;
  readonly pendingRoundtrips = new Set<(error: Error) => void>();

  constructor(display: NativePointer, protocols: InterfaceSource) {
    this.display = display;
    this.table = new NativeInterfaceTable(protocols);
    this.dispatcher = acquireDispatcher();
    this.ensureArgs(16);
  }

  ensureArgs(slots: number): void {
    if (slots <= this.argsCapacity) return;
    if (this.argsBlock !== 0n) freeBlock(this.argsBlock);
    this.argsBlock = allocBlock(slots * ARG_SIZE);
    this.argsCapacity = slots;
    const bytes = nativeView(this.argsBlock, slots * ARG_SIZE);
    this.argsView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  assertOpen(operation: string): void {
    if (this.closed) throw new WaylandClosedError(operation);
  }

  /** The display's fatal error as a typed error (call only after a failing call). */
  displayError(operation: string): WaylandDisplayError {
    const errno = wl.displayGetError(this.display) as number;
    const ifaceOut: unknown[] = [null];
    const idOut = [0];
    const code = wl.displayGetProtocolError(this.display, ifaceOut, idOut) as number;
    const iface = ptrOf(ifaceOut[0]);
    if (iface === 0n && code === 0) return new WaylandDisplayError(operation, errno);
    // The interface pointer is one of our tables (or libwayland's wl_display_interface):
    // its first field is the name.
    const interfaceName = iface === 0n ? '' : (koffi.decode(iface, 'const char *') as string);
    return new WaylandDisplayError(operation, errno, {
      interfaceName,
      objectId: idOut[0] ?? 0,
      code,
    });
  }

  /** Rethrows what handlers threw during the last native call, if anything. */
  rethrowCaptured(): void {
    if (this.captured.length === 0) return;
    const errors = this.captured;
    this.captured = [];
    if (errors.length === 1) throw errors[0];
    throw new AggregateError(errors, `${errors.length} Wayland event handlers threw`);
  }

  /**
   * After a native call that returned < 0: the display error. Handler exceptions caught
   * during the same call ride along as its `cause` (one error, or an AggregateError).
   */
  failure(operation: string): WaylandDisplayError {
    const error = this.displayError(operation);
    if (this.captured.length > 0) {
      const handlerErrors = this.captured;
      this.captured = [];
      error.cause =
        handlerErrors.length === 1
          ? handlerErrors[0]
          : new AggregateError(
              handlerErrors,
              `${handlerErrors.length} Wayland event handlers threw`,
            );
    }
    return error;
  }

  scheduleFlush(): void {
    if (this.watch === null || this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      if (this.watch === null) return;
      try {
        this.flushNow();
      } catch (error) {
        this.loopFailure(error, true);
      }
    });
  }

  /** Loop mode: flush, and watch for writability only while libwayland has a backlog. */
  flushNow(): void {
    if (this.closed) return;
    const ret = wl.displayFlush(this.display) as number;
    if (ret < 0) {
      if (koffi.errno() !== EAGAIN) throw this.failure('wl_display_flush');
      this.watch?.setInterest(true, true);
      return;
    }
    this.watch?.setInterest(true, false);
  }

  onReady(ready: FdReadiness): void {
    if (this.closed || this.watch === null) return;
    try {
      if (ready.readable || ready.hangup) {
        // A read intent is never held across loop turns: a blocking roundtrip() from a
        // handler or a later tick would otherwise wait for our read forever (same thread).
        while ((wl.displayPrepareRead(this.display) as number) !== 0) {
          if ((wl.displayDispatchPending(this.display) as number) < 0) {
            throw this.failure('wl_display_dispatch_pending');
          }
        }
        // The fd is readable (or hung up), and libwayland reads with MSG_DONTWAIT.
        if ((wl.displayReadEvents(this.display) as number) < 0) {
          throw this.failure('wl_display_read_events');
        }
      }
      // Always, also when called without readiness: events read by an earlier blocking
      // call sit in libwayland's queue, and the fd poll would never announce them.
      if ((wl.displayDispatchPending(this.display) as number) < 0) {
        throw this.failure('wl_display_dispatch_pending');
      }
      this.flushNow();
    } catch (error) {
      this.loopFailure(error, true);
      return;
    }
    if (this.captured.length > 0) {
      const errors = this.captured;
      this.captured = [];
      for (const error of errors) this.loopFailure(error, false);
    }
  }

  /** Reports a loop-side failure; a fatal one (display error) also detaches. */
  loopFailure(error: unknown, fatal: boolean): void {
    const err = error instanceof Error ? error : new Error(String(error));
    if (fatal) this.detach();
    const rejects = [...this.pendingRoundtrips];
    if (fatal || this.onLoopError === undefined) this.pendingRoundtrips.clear();
    if (this.onLoopError !== undefined) {
      if (fatal) for (const reject of rejects) reject(err);
      this.onLoopError(err);
      return;
    }
    if (rejects.length > 0) {
      for (const reject of rejects) reject(err);
      return;
    }
    process.nextTick(() => {
      throw err;
    });
  }

  detach(): void {
    if (this.watch === null) return;
    this.watch.close();
    this.watch = null;
  }

  close(): void {
    if (this.closed) return;
    // The poll handle must stop before the fd it watches is closed by disconnect.
    this.detach();
    this.closed = true;
    const closedError = new WaylandClosedError('roundtripAsync');
    for (const reject of this.pendingRoundtrips) reject(closedError);
    this.pendingRoundtrips.clear();
    // Destroy every proxy still alive, client side only (no requests): libwayland does
    // not free live proxies in wl_display_disconnect, and their dispatcher pointers must
    // be gone before the trampoline can be unregistered.
    for (const proxy of [...this.proxies]) proxyInternals.forget(proxy, true);
    if (this.displayProxy !== null) proxyInternals.forget(this.displayProxy, false);
    // Closes the socket; frees the display, its queues and any zombie proxies.
    wl.displayDisconnect(this.display);
    // Tables only now: until disconnect, libwayland held pointers into them.
    this.table.dispose();
    if (this.argsBlock !== 0n) freeBlock(this.argsBlock);
    this.argsBlock = 0n;
    this.argsCapacity = 0;
    this.argsView = new DataView(new ArrayBuffer(0));
    releaseDispatcher();
  }
}

// ---------------------------------------------------------------------------------------
// WaylandProxy.

/** Module-private access to WaylandProxy's internals, filled in by WaylandProxy's static block. */
let proxyInternals: {
  adopt(
    conn: Connection,
    address: NativePointer,
    spec: InterfaceSpec,
    isDisplay: boolean,
  ): WaylandProxy;
  dispatch(proxy: WaylandProxy, opcode: number, args: NativePointer): void;
  /** Drops the proxy; with destroyNative, wl_proxy_destroy too. */
  forget(proxy: WaylandProxy, destroyNative: boolean): void;
};

/**
 * One protocol object, over a libwayland `struct wl_proxy *`.
 *
 * Lifetime: a proxy is alive from its creation until destroy(), a destructor request or
 * event, or its client's close(); afterwards every method but destroy() throws
 * WaylandProxyDestroyedError (destroy() is idempotent). While alive, its wl_proxy carries
 * the shared dispatcher and the proxy is findable by address; both end in the same step.
 */
export class WaylandProxy {
  readonly #conn: Connection;
  #address: NativePointer;
  readonly #spec: InterfaceSpec;
  readonly #id: number;
  readonly #version: number;
  readonly #isDisplay: boolean;
  /** Handlers by event opcode. */
  readonly #handlers: EventHandler[][] = [];

  private constructor(
    conn: Connection,
    address: NativePointer,
    spec: InterfaceSpec,
    isDisplay: boolean,
  ) {
    this.#conn = conn;
    this.#address = address;
    this.#spec = spec;
    this.#isDisplay = isDisplay;
    this.#id = wl.proxyGetId(address) as number;
    this.#version = wl.proxyGetVersion(address) as number;
  }

  static {
    proxyInternals = {
      adopt(conn, address, spec, isDisplay) {
        const proxy = new WaylandProxy(conn, address, spec, isDisplay);
        proxiesByAddress.set(address, proxy);
        if (!isDisplay) {
          conn.proxies.add(proxy);
          // wl_display has libwayland's own listener and takes no dispatcher.
          const ret = wl.proxyAddDispatcher(address, conn.dispatcher, null, null) as number;
          if (ret !== 0) throw new Error(`wl_proxy_add_dispatcher failed on ${spec.name}`);
        }
        return proxy;
      },
      dispatch(proxy, opcode, args) {
        try {
          proxy.#dispatch(opcode, args);
        } catch (error) {
          proxy.#conn.captured.push(error);
        }
      },
      forget(proxy, destroyNative) {
        proxy.#forget(destroyNative);
      },
    };
  }

  /** The object id on the wire (1 for wl_display; ≥ 0xff000000 if the server made it). */
  get id(): number {
    return this.#id;
  }

  get interface(): InterfaceSpec {
    return this.#spec;
  }

  /**
   * libwayland's version for the proxy: the bound version for globals, inherited by
   * objects created from them. wl_display and what it creates directly (wl_registry,
   * wl_callback) are version 0, libwayland's "unversioned".
   */
  get version(): number {
    return this.#version;
  }

  get alive(): boolean {
    return this.#address !== 0n;
  }

  /**
   * Sends a request. Inputs follow the message's arguments in order, minus a typed
   * new_id (whose new proxy is returned) and with an untyped new_id given as
   * (InterfaceSpec, version): `registry.request('bind', [name, spec, version])`.
   *
   * Fds: libwayland dups each fd argument while marshalling and closes its duplicate
   * once sent; the caller keeps ownership of the fd it passed and closes it when it likes
   * (right after this call is fine). A destructor request destroys this proxy.
   *
   * libwayland buffers requests: they reach the socket at flush(), roundtrip(), when
   * its buffer fills, or, after attachToLoop(), at the end of the current JS job.
   */
  request(name: string, args: readonly ArgInput[] = []): WaylandProxy | undefined {
    const address = this.#live(name);
    const conn = this.#conn;
    const opcode = opcodeOf(this.#spec.requests, name);
    const message = this.#spec.requests[opcode];
    if (message === undefined) throw new WaylandUnknownMessageError(this.#spec.name, name);
    // Version 0 is libwayland's "unversioned" (display children): nothing to check.
    if (this.#version !== 0 && message.since > this.#version) {
      throw new WaylandUnknownMessageError(
        this.#spec.name,
        name,
        `since version ${message.since}, object is version ${this.#version}`,
      );
    }
    const slots = slotsOf(message);
    conn.ensureArgs(slots.length);
    const view = conn.argsView;
    const argError = (reason: string): WaylandArgumentError =>
      new WaylandArgumentError(this.#spec.name, name, reason);

    // Native copies of strings and arrays for this one call; freed in `finally`
    // (libwayland has serialized them into its buffer by the time the call returns).
    const temporaries: NativePointer[] = [];
    let newInterface: NativePointer = 0n;
    let newSpec: InterfaceSpec | undefined;
    let newVersion = this.#version;
    let input = 0;
    const next = (slot: ArgSlot): ArgInput => {
      if (input >= args.length) {
        throw argError(`missing argument ${slot.arg.name} (got ${args.length} inputs)`);
      }
      return args[input++] as ArgInput;
    };

    try {
      slots.forEach((slot, index) => {
        const at = index * ARG_SIZE;
        const arg = slot.arg;
        view.setBigUint64(at, 0n, true);
        if (slot.part === 'interface-name') {
          const spec = next(slot);
          if (!isInterfaceSpec(spec)) throw argError(`${arg.name}: expected an InterfaceSpec`);
          newSpec = spec;
          newInterface = conn.table.pointerOf(spec);
          view.setBigUint64(at, nativeString(spec.name, temporaries), true);
          return;
        }
        if (slot.part === 'interface-version') {
          const version = next(slot);
          const max = newSpec?.version ?? 0;
          if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
            throw argError(`${arg.name}: expected a version ≥ 1`);
          }
          if (version > max) {
            throw argError(`${arg.name}: version ${version} above the spec's ${max}`);
          }
          newVersion = version;
          view.setUint32(at, version, true);
          return;
        }
        switch (arg.type) {
          case 'int': {
            const value = next(slot);
            if (!isInt32(value)) throw argError(`${arg.name}: expected an int32`);
            view.setInt32(at, value, true);
            return;
          }
          case 'uint': {
            const value = next(slot);
            if (!isUint32(value)) throw argError(`${arg.name}: expected a uint32`);
            view.setUint32(at, value, true);
            return;
          }
          case 'fixed': {
            const value = next(slot);
            const raw = typeof value === 'number' ? Math.round(value * 256) : Number.NaN;
            if (!isInt32(raw)) throw argError(`${arg.name}: expected a number in fixed range`);
            view.setInt32(at, raw, true);
            return;
          }
          case 'fd': {
            const value = next(slot);
            if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
              throw argError(`${arg.name}: expected an fd`);
            }
            // libwayland aborts the process when it cannot dup an fd: check it is open.
            try {
              fstat(value);
            } catch (error) {
              const reason = error instanceof SyscallError ? error.errnoName : String(error);
              throw argError(`${arg.name}: fd ${value} is not open (${reason})`);
            }
            view.setInt32(at, value, true);
            return;
          }
          case 'string': {
            const value = next(slot);
            if (value === null && arg.nullable === true) return;
            if (typeof value !== 'string') throw argError(`${arg.name}: expected a string`);
            if (value.includes('\0')) throw argError(`${arg.name}: string contains NUL`);
            view.setBigUint64(at, nativeString(value, temporaries), true);
            return;
          }
          case 'array': {
            const value = next(slot);
            if (value === null && arg.nullable === true) return;
            if (!(value instanceof Uint8Array)) throw argError(`${arg.name}: expected Uint8Array`);
            view.setBigUint64(at, nativeArray(value, temporaries), true);
            return;
          }
          case 'object': {
            const value = next(slot);
            if (value === null && arg.nullable === true) return;
            if (!(value instanceof WaylandProxy))
              throw argError(`${arg.name}: expected a WaylandProxy`);
            if (value.#conn !== conn) throw argError(`${arg.name}: proxy of another client`);
            if (!value.alive) throw argError(`${arg.name}: ${value.#spec.name} is destroyed`);
            if (arg.interface !== undefined && value.#spec.name !== arg.interface) {
              throw argError(`${arg.name}: expected ${arg.interface}, got ${value.#spec.name}`);
            }
            view.setBigUint64(at, value.#address, true);
            return;
          }
          case 'new_id': {
            // Typed (the untyped one came as its two extra slots above): no input; the
            // id slot is filled in by libwayland with the proxy it creates.
            if (arg.interface !== undefined) {
              newSpec = conn.table.spec(arg.interface);
              newInterface = conn.table.pointerByName(arg.interface);
              if (newSpec === undefined || newInterface === 0n) {
                throw new WaylandUnknownInterfaceError(arg.interface);
              }
            }
            return;
          }
        }
      });
      if (input !== args.length) {
        throw argError(`expected ${input} inputs, got ${args.length}`);
      }

      const flags = message.destructor ? WL_MARSHAL_FLAG_DESTROY : 0;
      if (message.destructor) {
        // libwayland frees the wl_proxy inside the call: unlink it first (invariant of
        // proxiesByAddress), so nothing can find the dying address.
        this.#forget(false);
      }
      const created = ptrOf(
        wl.proxyMarshalArrayFlags(
          address,
          opcode,
          newInterface === 0n ? null : newInterface,
          newVersion,
          flags,
          conn.argsBlock,
        ),
      );
      conn.scheduleFlush();
      if (newInterface === 0n) return undefined;
      if (created === 0n) throw conn.failure(`${this.#spec.name}.${name}`);
      return proxyInternals.adopt(conn, created, newSpec ?? unknownInterface('?'), false);
    } finally {
      for (const ptr of temporaries) freeBlock(ptr);
    }
  }

  /**
   * Adds a handler for an event. Handlers run synchronously inside whatever dispatches
   * (roundtrip, dispatchPending, the loop); one that throws does not stop the others,
   * and its error surfaces from that dispatching call. Fds in an event with no handler
   * are closed here; with handlers, the fd belongs to them.
   */
  on(eventName: string, handler: EventHandler): this {
    this.#live(`on(${eventName})`);
    if (this.#isDisplay) {
      throw new WaylandUnknownMessageError(
        this.#spec.name,
        eventName,
        'wl_display events are handled inside libwayland (see WaylandDisplayError)',
      );
    }
    const opcode = opcodeOf(this.#spec.events, eventName);
    if (opcode < 0) throw new WaylandUnknownMessageError(this.#spec.name, eventName);
    let list = this.#handlers[opcode];
    if (list === undefined) {
      list = [];
      this.#handlers[opcode] = list;
    }
    list.push(handler);
    return this;
  }

  /** Removes a handler added with on(). */
  off(eventName: string, handler: EventHandler): this {
    const list = this.#handlers[opcodeOf(this.#spec.events, eventName)];
    const at = list?.indexOf(handler) ?? -1;
    if (list !== undefined && at >= 0) list.splice(at, 1);
    return this;
  }

  /**
   * Destroys the object. With `requestName`, sends that destructor request; otherwise
   * sends the interface's `destroy` destructor if it has one at this version, else its
   * only destructor request at this version; with none, only the client side goes
   * (wl_proxy_destroy: wl_registry, wl_callback…). Idempotent; the display cannot be
   * destroyed (close the client).
   */
  destroy(requestName?: string): void {
    if (this.#address === 0n) return;
    if (this.#isDisplay) {
      throw new WaylandArgumentError(this.#spec.name, 'destroy', 'close the client instead');
    }
    if (requestName !== undefined) {
      const message = this.#spec.requests[opcodeOf(this.#spec.requests, requestName)];
      if (message === undefined || !message.destructor) {
        throw new WaylandUnknownMessageError(this.#spec.name, requestName, 'not a destructor');
      }
      this.request(requestName, []);
      return;
    }
    const usable = this.#spec.requests.filter(
      (m) =>
        m.destructor && m.args.length === 0 && (this.#version === 0 || m.since <= this.#version),
    );
    const chosen =
      usable.find((m) => m.name === 'destroy') ?? (usable.length === 1 ? usable[0] : undefined);
    if (chosen !== undefined) {
      this.request(chosen.name, []);
      return;
    }
    this.#forget(true);
  }

  toString(): string {
    return `${this.#spec.name}@${this.#id}`;
  }

  #live(operation: string): NativePointer {
    this.#conn.assertOpen(`${this.#spec.name}.${operation}`);
    if (this.#address === 0n) throw new WaylandProxyDestroyedError(this.#spec.name, this.#id);
    return this.#address;
  }

  #forget(destroyNative: boolean): void {
    const address = this.#address;
    if (address === 0n) return;
    this.#address = 0n;
    proxiesByAddress.delete(address);
    this.#conn.proxies.delete(this);
    if (destroyNative) wl.proxyDestroy(address);
  }

  #dispatch(opcode: number, argsAddress: NativePointer): void {
    const message = this.#spec.events[opcode];
    // libwayland checked the opcode against our table: this cannot miss.
    if (message === undefined) return;
    const slots = slotsOf(message);
    const bytes = slots.length === 0 ? null : nativeView(argsAddress, slots.length * ARG_SIZE);
    const view =
      bytes === null ? null : new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const args: EventArg[] = [];
    const fds: number[] = [];
    let untypedName: string | null = null;
    slots.forEach((slot, index) => {
      if (view === null) return;
      const at = index * ARG_SIZE;
      switch (slot.code) {
        case 'i':
          args.push(view.getInt32(at, true));
          return;
        case 'u':
          args.push(view.getUint32(at, true));
          return;
        case 'f':
          args.push(view.getInt32(at, true) / 256);
          return;
        case 'h': {
          const fd = view.getInt32(at, true);
          fds.push(fd);
          args.push(fd);
          return;
        }
        case 's': {
          const ptr = view.getBigUint64(at, true);
          const value = ptr === 0n ? null : koffi.decode.string(ptr);
          if (slot.part === 'interface-name') untypedName = value;
          args.push(value);
          return;
        }
        case 'a': {
          const ptr = view.getBigUint64(at, true);
          if (ptr === 0n) {
            args.push(null);
            return;
          }
          const header = nativeView(ptr, WL_ARRAY_SIZE);
          const hv = new DataView(header.buffer, header.byteOffset, header.byteLength);
          const size = Number(hv.getBigUint64(0, true));
          const data = hv.getBigUint64(16, true);
          args.push(size === 0 ? new Uint8Array(0) : nativeView(data, size).slice());
          return;
        }
        case 'o': {
          const ptr = view.getBigUint64(at, true);
          args.push(ptr === 0n ? null : (proxiesByAddress.get(ptr) ?? null));
          return;
        }
        case 'n': {
          // libwayland already made the proxy and put its address in the slot.
          const ptr = view.getBigUint64(at, true);
          if (ptr === 0n) {
            args.push(null);
            return;
          }
          const name = slot.arg.interface ?? untypedName ?? '?';
          const spec = this.#conn.table.spec(name) ?? unknownInterface(name);
          args.push(proxyInternals.adopt(this.#conn, ptr, spec, false));
          return;
        }
      }
    });

    const handlers = this.#handlers[opcode];
    if (handlers === undefined || handlers.length === 0) {
      // Nobody took ownership of the fds libwayland received for us.
      for (const fd of fds) closeFd(fd);
    } else {
      for (const handler of [...handlers]) {
        try {
          handler(args);
        } catch (error) {
          this.#conn.captured.push(error);
        }
      }
    }
    // A destructor event (wl_callback.done…) ends the object: free the client side.
    if (message.destructor) this.#forget(true);
  }
}

function isInt32(value: ArgInput | undefined): value is number {
  return (
    typeof value === 'number' &&
    Number.isInteger(value) &&
    value >= -0x8000_0000 &&
    value <= 0x7fff_ffff
  );
}

function isUint32(value: ArgInput | undefined): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;
}

const utf8 = new TextEncoder();

/** A NUL-terminated native copy, recorded in `temporaries` for the caller to free. */
function nativeString(value: string, temporaries: NativePointer[]): NativePointer {
  const bytes = utf8.encode(value);
  const ptr = allocBlock(bytes.length + 1);
  temporaries.push(ptr);
  const view = nativeView(ptr, bytes.length + 1);
  view.set(bytes);
  view[bytes.length] = 0;
  return ptr;
}

/** A native struct wl_array with its data right after it, recorded in `temporaries`. */
function nativeArray(value: Uint8Array, temporaries: NativePointer[]): NativePointer {
  const ptr = allocBlock(WL_ARRAY_SIZE + Math.max(value.length, 1));
  temporaries.push(ptr);
  const view = nativeView(ptr, WL_ARRAY_SIZE + value.length);
  const dv = new DataView(view.buffer, view.byteOffset, WL_ARRAY_SIZE);
  dv.setBigUint64(0, BigInt(value.length), true);
  dv.setBigUint64(8, BigInt(value.length), true);
  dv.setBigUint64(16, ptr + BigInt(WL_ARRAY_SIZE), true);
  view.set(value, WL_ARRAY_SIZE);
  return ptr;
}

// ---------------------------------------------------------------------------------------
// WaylandClient.

let defaultRegistry: ProtocolRegistry | undefined;

/** The socket libwayland will try for `name`, spelled out for error messages. */
function describeSocket(name: string | undefined): string {
  if (name === undefined && process.env.WAYLAND_SOCKET !== undefined) {
    return `WAYLAND_SOCKET fd ${process.env.WAYLAND_SOCKET}`;
  }
  const socket = name ?? process.env.WAYLAND_DISPLAY ?? 'wayland-0';
  if (socket.startsWith('/')) return socket;
  const dir = process.env.XDG_RUNTIME_DIR;
  return dir === undefined ? `${socket} (XDG_RUNTIME_DIR is not set)` : `${dir}/${socket}`;
}

/**
 * One connection to a compositor through libwayland-client.
 *
 * Ownership: the client owns the display (and its socket fd), every proxy made on it,
 * the native tables and argument buffers; close() releases all of it, leaving no fd
 * and no native block behind. Fds received in events belong to the event handlers.
 */
export class WaylandClient {
  readonly #conn: Connection;
  readonly #display: WaylandProxy;

  private constructor(conn: Connection, display: WaylandProxy) {
    this.#conn = conn;
    this.#display = display;
  }

  /**
   * wl_display_connect: `name` is a socket name in XDG_RUNTIME_DIR or an absolute path;
   * without it, libwayland uses WAYLAND_SOCKET / WAYLAND_DISPLAY / `wayland-0` from the
   * process environment. Throws WaylandConnectError naming the socket.
   */
  static connect(name?: string, options: ConnectOptions = {}): WaylandClient {
    defaultRegistry ??= new ProtocolRegistry();
    const protocols = options.protocols ?? defaultRegistry;
    const displaySpec = protocols.get('wl_display');
    if (displaySpec === undefined) throw new WaylandUnknownInterfaceError('wl_display');
    koffi.errno(0);
    const display = ptrOf(wl.displayConnect(name ?? null));
    if (display === 0n) throw new WaylandConnectError(describeSocket(name), koffi.errno());
    const conn = new Connection(display, protocols);
    conn.displayProxy = proxyInternals.adopt(conn, display, displaySpec, true);
    return new WaylandClient(conn, conn.displayProxy);
  }

  /** The wl_display object (id 1). Its events are libwayland's own; on() rejects them. */
  get display(): WaylandProxy {
    return this.#display;
  }

  get closed(): boolean {
    return this.#conn.closed;
  }

  /** Whether attachToLoop() is in effect. */
  get attached(): boolean {
    return this.#conn.watch !== null;
  }

  /** The display fd (owned by libwayland: never close it). */
  get fd(): number {
    this.#conn.assertOpen('fd');
    return wl.displayGetFd(this.#conn.display) as number;
  }

  /**
   * wl_display_roundtrip: flushes, then blocks the thread until the compositor has
   * answered a wl_display.sync, dispatching every event before it. For tests and tools:
   * nothing else on the event loop runs meanwhile.
   */
  roundtrip(): void {
    const conn = this.#conn;
    conn.assertOpen('roundtrip');
    const ret = wl.displayRoundtrip(conn.display) as number;
    if (ret < 0) throw conn.failure('wl_display_roundtrip');
    conn.rethrowCaptured();
  }

  /**
   * wl_display_flush. Returns false when the socket is full and data is left in
   * libwayland's buffer (call again later, or let the loop do it); throws on a dead
   * display.
   */
  flush(): boolean {
    const conn = this.#conn;
    conn.assertOpen('flush');
    const ret = wl.displayFlush(conn.display) as number;
    if (ret >= 0) return true;
    if (koffi.errno() === EAGAIN) return false;
    throw conn.failure('wl_display_flush');
  }

  /** Dispatches events libwayland has already read, without reading. Returns the count. */
  dispatchPending(): number {
    const conn = this.#conn;
    conn.assertOpen('dispatchPending');
    const ret = wl.displayDispatchPending(conn.display) as number;
    if (ret < 0) throw conn.failure('wl_display_dispatch_pending');
    conn.rethrowCaptured();
    return ret;
  }

  /**
   * Dispatches events from Node's event loop: a libuv poll on the display fd reads with
   * prepare_read/read_events and dispatches; requests are flushed at the end of the JS
   * job that made them. Blocking calls (roundtrip) remain usable meanwhile. Idempotent.
   */
  attachToLoop(options: AttachOptions = {}): void {
    const conn = this.#conn;
    conn.assertOpen('attachToLoop');
    conn.onLoopError = options.onError;
    if (conn.watch !== null) return;
    const fd = wl.displayGetFd(conn.display) as number;
    conn.watch = watchFd(fd, (ready) => conn.onReady(ready));
    if (options.keepAlive === false) conn.watch.setKeepsAlive(false);
    queueMicrotask(() => conn.onReady({ readable: false, writable: false, hangup: false }));
  }

  /** Stops the loop dispatching (pending roundtripAsync promises stay pending). */
  detachFromLoop(): void {
    this.#conn.detach();
  }

  /**
   * Sends wl_display.sync and resolves when its done event is dispatched by the loop:
   * every event the compositor sent before has been dispatched by then. Needs
   * attachToLoop(); rejects if the display dies or the client closes first.
   */
  roundtripAsync(): Promise<void> {
    const conn = this.#conn;
    conn.assertOpen('roundtripAsync');
    if (conn.watch === null) return Promise.reject(new WaylandNotAttachedError('roundtripAsync'));
    return new Promise<void>((resolve, reject) => {
      const callback = this.#display.request('sync', []);
      if (callback === undefined) throw new WaylandUnknownInterfaceError('wl_callback');
      conn.pendingRoundtrips.add(reject);
      callback.on('done', () => {
        conn.pendingRoundtrips.delete(reject);
        resolve();
      });
    });
  }

  /**
   * Disconnects. Every proxy is destroyed client side (no requests sent), the socket is
   * closed, every native block of this client is freed, pending roundtripAsync promises
   * reject with WaylandClosedError. Idempotent.
   */
  close(): void {
    this.#conn.close();
  }
}
