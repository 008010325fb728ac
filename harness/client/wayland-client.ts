// Scripted Wayland clients in TypeScript through the real client library,
// libwayland-client.so.0 (bound in ffi/libwayland-client.ts). Tests need a client whose
// behaviour on the wire is exactly libwayland's (object ids, fd passing, zombie
// handling) to judge the bridge and the harness compositors against; writing requests
// by hand would test our own codec against itself.
//
// Shape: a WaylandClient owns one wl_display connection (connection.ts); every protocol
// object is a WaylandProxy (proxy.ts) over a `struct wl_proxy *`. The C tables
// libwayland needs are built by ffi/wl-interface.ts from the bridge's protocol specs.
//
// Threading: everything runs on Node's main thread. Events are dispatched either inside
// the blocking calls (roundtrip, dispatchPending) or, after attachToLoop(), from a libuv
// poll on the display fd; libwayland never calls back on another thread.

import { ProtocolRegistry } from '../../bridge/protocol/registry.js';
import type { InterfaceSpec } from '../../bridge/protocol/types.js';
import { watchFd } from '../../ffi/fd-watch.js';
import {
  EAGAIN,
  displayConnect,
  displayDispatchPending,
  displayFlush,
  displayGetFd,
  displayRoundtrip,
  errno,
  setErrno,
} from '../../ffi/libwayland-client.js';
import type { InterfaceSource } from '../../ffi/wl-interface.js';
import { Connection } from './connection.js';
import { adoptProxy, type WaylandProxy } from './proxy.js';
import {
  WaylandConnectError,
  WaylandNotAttachedError,
  WaylandUnknownInterfaceError,
} from './wayland-errors.js';

export * from './wayland-errors.js';
export { type ArgInput, type EventArg, type EventHandler, WaylandProxy } from './proxy.js';
export type { InterfaceSource } from '../../ffi/wl-interface.js';
export { messageSignature, nativeBlocksInUse } from '../../ffi/wl-interface.js';
// The brief's name for it; `WaylandProxy` inside, so JS's global Proxy is not shadowed.
export { WaylandProxy as Proxy } from './proxy.js';

export interface ConnectOptions {
  /**
   * Where InterfaceSpecs come from (for wl_display, for every typed new_id and every
   * interface referenced by one). Default: the built-in ProtocolRegistry.
   */
  readonly protocols?: InterfaceSource<InterfaceSpec>;
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
    setErrno(0);
    const display = displayConnect(name);
    if (display === 0n) throw new WaylandConnectError(describeSocket(name), errno());
    const conn = new Connection(display, protocols);
    conn.displayProxy = adoptProxy(conn, display, displaySpec, true);
    return new WaylandClient(conn, conn.displayProxy.proxy);
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
    return displayGetFd(this.#conn.display);
  }

  /**
   * wl_display_roundtrip: flushes, then blocks the thread until the compositor has
   * answered a wl_display.sync, dispatching every event before it. For tests and tools:
   * nothing else on the event loop runs meanwhile.
   */
  roundtrip(): void {
    const conn = this.#conn;
    conn.assertOpen('roundtrip');
    const ret = displayRoundtrip(conn.display);
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
    const ret = displayFlush(conn.display);
    if (ret >= 0) return true;
    if (errno() === EAGAIN) return false;
    throw conn.failure('wl_display_flush');
  }

  /** Dispatches events libwayland has already read, without reading. Returns the count. */
  dispatchPending(): number {
    const conn = this.#conn;
    conn.assertOpen('dispatchPending');
    const ret = displayDispatchPending(conn.display);
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
    const fd = displayGetFd(conn.display);
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
