// Failures the relay can meet on a connection, one class each with a stable `code`.
// A ClientProtocolError becomes a wl_display.error sent to that client alone, whose
// session is then closed; no other session is touched.

import { wayland } from '../protocol/enums.js';
import { type ClientLimitName, LIMIT_UNITS } from './limits.js';
import { PROXY_LIMIT_UNITS, type ProxyLimitName } from './proxy-limits.js';

/** Any limit a client can be refused or cut off for: its own, or the whole proxy's. */
export type LimitName = ClientLimitName | ProxyLimitName;

/** "<what>: over the per-client limit maxFds = 1024 fds" (or "the proxy-wide limit"). */
export function overLimitMessage(limit: LimitName, value: number, what: string): string {
  const proxyWide = limit in PROXY_LIMIT_UNITS;
  const unit = proxyWide
    ? PROXY_LIMIT_UNITS[limit as ProxyLimitName]
    : LIMIT_UNITS[limit as ClientLimitName];
  return `${what}: over the ${proxyWide ? 'proxy-wide' : 'per-client'} limit ${limit} = ${value} ${unit}`;
}

/** wl_display.error codes (the wl_display.error enum of wayland.xml). */
export const DisplayErrorCode = wayland.wl_display.error;
export type DisplayErrorCode = (typeof DisplayErrorCode)[keyof typeof DisplayErrorCode];

/** The client broke the protocol; it gets wl_display.error and is disconnected. */
export class ClientProtocolError extends Error {
  readonly code: 'ERR_CLIENT_PROTOCOL' | 'ERR_CLIENT_LIMIT' | 'ERR_BRIDGE_RESOURCES' =
    'ERR_CLIENT_PROTOCOL';
  constructor(
    /** Object the error is about (1 = wl_display when no better one exists). */
    readonly objectId: number,
    readonly displayCode: DisplayErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ClientProtocolError';
  }
}

/** The compositor sent something the bridge cannot follow; the session is closed. */
export class UpstreamProtocolError extends Error {
  readonly code = 'ERR_UPSTREAM_PROTOCOL';
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamProtocolError';
  }
}

/**
 * A client exceeded a per-client limit (limits.ts), or what it asked for would take the
 * whole proxy over one of its limits (proxy-limits.ts). Like any protocol error it ends
 * that client alone, with wl_display.error no_memory on the display, as
 * libwayland-server's wl_client_post_no_memory does; the message and the fields name the
 * limit and its value.
 */
export class ClientLimitError extends ClientProtocolError {
  override readonly code = 'ERR_CLIENT_LIMIT';
  constructor(
    readonly limit: LimitName,
    /** The configured value of the limit. */
    readonly value: number,
    /** What the client did, e.g. "wl_shm.create_pool of 2147483647 bytes". */
    what: string,
  ) {
    super(1, DisplayErrorCode.noMemory, overLimitMessage(limit, value, what));
    this.name = 'ClientLimitError';
  }
}

/**
 * The bridge itself ran out of something a client's request needed: fds (EMFILE,
 * ENFILE), memory or address space (ENOMEM), grant refs. The client did nothing wrong,
 * but its request cannot be served: like libwayland-server's wl_client_post_no_memory, it
 * gets wl_display.error no_memory, with the cause named, and is disconnected alone.
 */
export class BridgeResourceError extends ClientProtocolError {
  override readonly code = 'ERR_BRIDGE_RESOURCES';
  constructor(
    /** What the client asked for, e.g. "wl_shm.create_pool of 65536 bytes". */
    readonly what: string,
    /** What ran out, e.g. "the bridge's fd table is full (EMFILE)". */
    readonly shortage: string,
  ) {
    super(1, DisplayErrorCode.noMemory, `${what}: ${shortage}`);
    this.name = 'BridgeResourceError';
  }
}

/** The listening socket is held by a live process (its .lock is locked). */
export class SocketInUseError extends Error {
  readonly code = 'ERR_SOCKET_IN_USE';
  constructor(readonly path: string) {
    super(`socket ${path} is in use by another Wayland server (its lock file is held)`);
    this.name = 'SocketInUseError';
  }
}

/** The listening socket cannot be made at its path (and nothing was left there). */
export class ListenSocketError extends Error {
  readonly code = 'ERR_LISTEN_SOCKET';
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`cannot listen on ${path}: ${reason}`);
    this.name = 'ListenSocketError';
  }
}

/** Nothing is listening where the compositor was expected. */
export class UpstreamUnavailableError extends Error {
  readonly code = 'ERR_UPSTREAM_UNAVAILABLE';
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`no compositor at ${path}: ${reason} (is it running? choose it with --upstream)`);
    this.name = 'UpstreamUnavailableError';
  }
}

/** A socket name cannot be resolved to a path. */
export class SocketPathError extends Error {
  readonly code = 'ERR_SOCKET_PATH';
  constructor(message: string) {
    super(message);
    this.name = 'SocketPathError';
  }
}
