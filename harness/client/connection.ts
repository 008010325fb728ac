// The native state of one libwayland-client connection, and the one dispatcher every
// proxy of every connection shares. Not part of the public surface: WaylandClient
// (wayland-client.ts) and WaylandProxy (proxy.ts) are its two faces. Everything native
// goes through ffi/libwayland-client.ts, the C interface tables through
// ffi/wl-interface.ts.
//
// Threading: everything runs on Node's main thread. Events are dispatched either inside
// the blocking calls (roundtrip, dispatchPending) or, after attachToLoop(), from a libuv
// poll on the display fd; libwayland never calls back on another thread.

import type { InterfaceSpec } from '../../bridge/protocol/types.js';
import type { FdReadiness, FdWatch } from '../../ffi/fd-watch.js';
import { type NativePointer, nativeView } from '../../ffi/libc.js';
import {
  EAGAIN,
  WL_ARGUMENT_SIZE as ARG_SIZE,
  displayDisconnect,
  displayDispatchPending,
  displayFlush,
  displayGetError,
  displayGetProtocolError,
  displayPrepareRead,
  displayReadEvents,
  errno,
  readCStringField,
  registerDispatcher,
  unregisterDispatcher,
} from '../../ffi/libwayland-client.js';
import {
  allocBlock,
  freeBlock,
  type InterfaceSource,
  NativeInterfaceTable,
} from '../../ffi/wl-interface.js';
import type { WaylandProxy } from './proxy.js';
import { WaylandClosedError, WaylandDisplayError } from './wayland-errors.js';

/**
 * A live proxy as the connection sees it: what the dispatcher calls for its events, and
 * how the connection drops it (made by proxy.ts, which keeps the proxy's internals).
 */
export interface ProxyEntry {
  readonly proxy: WaylandProxy;
  /** libwayland dispatched an event to it; never throws (errors go to `captured`). */
  dispatch(opcode: number, args: NativePointer): void;
  /** Drops it; with destroyNative, wl_proxy_destroy too. */
  forget(destroyNative: boolean): void;
}

// ---------------------------------------------------------------------------------------
// The shared dispatcher.

/**
 * Live proxies by native address, across all clients. Invariant: an address is here
 * exactly while its wl_proxy is alive and owned by a proxy; it is removed before (or in
 * the same synchronous step as) the wl_proxy is destroyed, so an address reused by
 * malloc can never resolve to a stale WaylandProxy.
 */
export const proxiesByAddress = new Map<NativePointer, ProxyEntry>();

/**
 * The one koffi-registered dispatcher, registered while at least one client is open and
 * unregistered when the last one closes. Invariant: no wl_proxy carries the trampoline
 * after its client's wl_display_disconnect, so unregistering then is safe.
 */
let dispatcherAddress: NativePointer | null = null;
let dispatcherUsers = 0;

export function acquireDispatcher(): NativePointer {
  if (dispatcherAddress === null) {
    dispatcherAddress = registerDispatcher(onNativeEvent);
  }
  dispatcherUsers++;
  return dispatcherAddress;
}

export function releaseDispatcher(): void {
  dispatcherUsers--;
  if (dispatcherUsers === 0 && dispatcherAddress !== null) {
    unregisterDispatcher(dispatcherAddress);
    dispatcherAddress = null;
  }
}

/**
 * Called by libwayland for every event of every proxy we created. Must never throw into
 * C (koffi would hand C a 0 and lose the error): handler exceptions are captured on the
 * proxy's connection and rethrown by whichever call dispatched the event.
 */
function onNativeEvent(target: NativePointer, opcode: number, args: NativePointer): void {
  proxiesByAddress.get(target)?.dispatch(opcode, args);
}

export class Connection {
  readonly display: NativePointer;
  readonly table: NativeInterfaceTable<InterfaceSpec>;
  readonly dispatcher: NativePointer;
  /**
   * Every live non-display proxy of this connection. Invariant: same members as this
   * connection's entries of proxiesByAddress (the display is in that map too but never
   * gets a dispatcher and is not destroyed by us: wl_display_disconnect frees it).
   */
  readonly proxies = new Set<ProxyEntry>();
  /** The wl_display's proxy, set right after construction. */
  displayProxy: ProxyEntry | null = null;
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

  constructor(display: NativePointer, protocols: InterfaceSource<InterfaceSpec>) {
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
    const errnoValue = displayGetError(this.display);
    const { iface, objectId, code } = displayGetProtocolError(this.display);
    if (iface === 0n && code === 0) return new WaylandDisplayError(operation, errnoValue);
    // The interface pointer is one of our tables (or libwayland's wl_display_interface):
    // its first field is the name.
    const interfaceName = iface === 0n ? '' : readCStringField(iface);
    return new WaylandDisplayError(operation, errnoValue, { interfaceName, objectId, code });
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
    const ret = displayFlush(this.display);
    if (ret < 0) {
      if (errno() !== EAGAIN) throw this.failure('wl_display_flush');
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
        while (displayPrepareRead(this.display) !== 0) {
          if (displayDispatchPending(this.display) < 0) {
            throw this.failure('wl_display_dispatch_pending');
          }
        }
        // The fd is readable (or hung up), and libwayland reads with MSG_DONTWAIT.
        if (displayReadEvents(this.display) < 0) {
          throw this.failure('wl_display_read_events');
        }
      }
      // Always, also when called without readiness: events read by an earlier blocking
      // call sit in libwayland's queue, and the fd poll would never announce them.
      if (displayDispatchPending(this.display) < 0) {
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
    for (const proxy of [...this.proxies]) proxy.forget(true);
    if (this.displayProxy !== null) this.displayProxy.forget(false);
    // Closes the socket; frees the display, its queues and any zombie proxies.
    displayDisconnect(this.display);
    // Tables only now: until disconnect, libwayland held pointers into them.
    this.table.dispose();
    if (this.argsBlock !== 0n) freeBlock(this.argsBlock);
    this.argsBlock = 0n;
    this.argsCapacity = 0;
    this.argsView = new DataView(new ArrayBuffer(0));
    releaseDispatcher();
  }
}
