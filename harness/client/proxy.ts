// WaylandProxy: one protocol object of a scripted client, over a libwayland
// `struct wl_proxy *`. Requests go through wl_proxy_marshal_array_flags with a `union
// wl_argument` array built here; events come back through the one dispatcher every proxy
// shares (connection.ts), which finds the proxy by its native address and decodes the
// arguments from the interface's spec (native-args.ts).

import type { InterfaceSpec, MessageSpec } from '../../bridge/protocol/types.js';
import { SyscallError } from '../../ffi/errors.js';
import { close as closeFd, fstat, type NativePointer } from '../../ffi/libc.js';
import {
  WL_ARGUMENT_SIZE,
  WL_MARSHAL_FLAG_DESTROY,
  proxyAddDispatcher,
  proxyDestroy,
  proxyGetId,
  proxyGetVersion,
  proxyMarshalArrayFlags,
} from '../../ffi/libwayland-client.js';
import { type ArgSlot, argSlots, freeBlock } from '../../ffi/wl-interface.js';
import { type Connection, type ProxyEntry, proxiesByAddress } from './connection.js';
import { isInt32, isUint32, nativeArray, nativeString, readEventArgs } from './native-args.js';
import {
  WaylandArgumentError,
  WaylandProxyDestroyedError,
  WaylandUnknownInterfaceError,
  WaylandUnknownMessageError,
} from './wayland-errors.js';

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
export function unknownInterface(name: string): InterfaceSpec {
  return { name, version: 0, requests: [], events: [], enums: [] };
}

/** Makes the proxy for a wl_proxy libwayland created (set by WaylandProxy's static block). */
let adopt: (
  conn: Connection,
  address: NativePointer,
  spec: InterfaceSpec,
  isDisplay: boolean,
) => ProxyEntry;

/** A proxy for `address`, known to the connection and the dispatcher from now on. */
export function adoptProxy(
  conn: Connection,
  address: NativePointer,
  spec: InterfaceSpec,
  isDisplay: boolean,
): ProxyEntry {
  return adopt(conn, address, spec, isDisplay);
}

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
  /** How the connection and the dispatcher know it (set at adoption). */
  #entry!: ProxyEntry;
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
    this.#id = proxyGetId(address);
    this.#version = proxyGetVersion(address);
  }

  static {
    adopt = (conn, address, spec, isDisplay) => {
      const proxy = new WaylandProxy(conn, address, spec, isDisplay);
      const entry: ProxyEntry = {
        proxy,
        dispatch(opcode, args) {
          try {
            proxy.#dispatch(opcode, args);
          } catch (error) {
            conn.captured.push(error);
          }
        },
        forget: (destroyNative) => proxy.#forget(destroyNative),
      };
      proxy.#entry = entry;
      proxiesByAddress.set(address, entry);
      if (!isDisplay) {
        conn.proxies.add(entry);
        // wl_display has libwayland's own listener and takes no dispatcher.
        if (proxyAddDispatcher(address, conn.dispatcher) !== 0) {
          throw new Error(`wl_proxy_add_dispatcher failed on ${spec.name}`);
        }
      }
      return entry;
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
        const at = index * WL_ARGUMENT_SIZE;
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
      const created = proxyMarshalArrayFlags(
        address,
        opcode,
        newInterface,
        newVersion,
        flags,
        conn.argsBlock,
      );
      conn.scheduleFlush();
      if (newInterface === 0n) return undefined;
      if (created === 0n) throw conn.failure(`${this.#spec.name}.${name}`);
      return adopt(conn, created, newSpec ?? unknownInterface('?'), false).proxy;
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
    this.#conn.proxies.delete(this.#entry);
    if (destroyNative) proxyDestroy(address);
  }

  #dispatch(opcode: number, argsAddress: NativePointer): void {
    const message = this.#spec.events[opcode];
    // libwayland checked the opcode against our table: this cannot miss.
    if (message === undefined) return;
    const { args, fds } = readEventArgs<WaylandProxy>(slotsOf(message), argsAddress, {
      existing: (address) => proxiesByAddress.get(address)?.proxy ?? null,
      created: (address, name) =>
        adopt(this.#conn, address, this.#conn.table.spec(name) ?? unknownInterface(name), false)
          .proxy,
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
