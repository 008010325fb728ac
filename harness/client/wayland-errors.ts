// The ways a scripted Wayland client can fail, one class each with a stable `code`, so
// tests and the harness match on the kind of failure rather than on message text.

import { errnoName } from '../../ffi/errors.js';

/** wl_display_connect failed: nothing listens on the socket, or it could not be reached. */
export class WaylandConnectError extends Error {
  readonly code = 'ERR_WAYLAND_CONNECT';
  override readonly name = 'WaylandConnectError';
  readonly errnoName: string;

  constructor(
    /** The socket libwayland tried: an absolute path, or a name in XDG_RUNTIME_DIR. */
    readonly socket: string,
    readonly errno: number,
  ) {
    const reason = errno === 0 ? 'failed' : `failed: ${errnoName(errno)}`;
    super(`wl_display_connect to ${socket} ${reason}`);
    this.errnoName = errnoName(errno);
  }
}

/** The protocol error the compositor sent in wl_display.error, as libwayland kept it. */
export interface ProtocolErrorInfo {
  /** Interface of the object the error is about ('' when libwayland does not know). */
  readonly interfaceName: string;
  readonly objectId: number;
  /** The interface's error enum value (e.g. wl_display.error.invalid_object = 0). */
  readonly code: number;
}

/**
 * The display is dead (wl_display_get_error is set): a protocol error from the
 * compositor (`protocolError` set, errno EPROTO) or a broken connection (errno only).
 * Every later call on the client fails the same way.
 */
export class WaylandDisplayError extends Error {
  readonly code = 'ERR_WAYLAND_DISPLAY';
  override readonly name = 'WaylandDisplayError';
  readonly errnoName: string;

  constructor(
    readonly operation: string,
    readonly errno: number,
    readonly protocolError?: ProtocolErrorInfo,
  ) {
    const detail =
      protocolError === undefined
        ? errnoName(errno)
        : `protocol error ${protocolError.code} on ${protocolError.interfaceName || 'object'}@${protocolError.objectId}`;
    super(`${operation} failed: ${detail}`);
    this.errnoName = errnoName(errno);
  }
}

/** A request argument does not fit the message signature (count, type, range, null). */
export class WaylandArgumentError extends Error {
  readonly code = 'ERR_WAYLAND_ARGUMENT';
  override readonly name = 'WaylandArgumentError';

  constructor(
    readonly interfaceName: string,
    readonly messageName: string,
    reason: string,
  ) {
    super(`${interfaceName}.${messageName}: ${reason}`);
  }
}

/** No request or event of that name on the interface (or not at the object's version). */
export class WaylandUnknownMessageError extends Error {
  readonly code = 'ERR_WAYLAND_UNKNOWN_MESSAGE';
  override readonly name = 'WaylandUnknownMessageError';

  constructor(
    readonly interfaceName: string,
    readonly messageName: string,
    reason = 'no such message',
  ) {
    super(`${interfaceName}.${messageName}: ${reason}`);
  }
}

/** An interface the client needs (to create a proxy of it) has no InterfaceSpec. */
export class WaylandUnknownInterfaceError extends Error {
  readonly code = 'ERR_WAYLAND_UNKNOWN_INTERFACE';
  override readonly name = 'WaylandUnknownInterfaceError';

  constructor(readonly interfaceName: string) {
    super(`no InterfaceSpec for ${interfaceName}`);
  }
}

/** A proxy was used after destroy(), after a destructor, or after its client closed. */
export class WaylandProxyDestroyedError extends Error {
  readonly code = 'ERR_WAYLAND_PROXY_DESTROYED';
  override readonly name = 'WaylandProxyDestroyedError';

  constructor(
    readonly interfaceName: string,
    readonly objectId: number,
  ) {
    super(`${interfaceName}@${objectId} is destroyed`);
  }
}

/** The client was closed: close() was called, so no call on it or its proxies works. */
export class WaylandClosedError extends Error {
  readonly code = 'ERR_WAYLAND_CLOSED';
  override readonly name = 'WaylandClosedError';

  constructor(readonly operation: string) {
    super(`${operation}: the Wayland client is closed`);
  }
}

/** An async call (roundtripAsync) needs attachToLoop() first. */
export class WaylandNotAttachedError extends Error {
  readonly code = 'ERR_WAYLAND_NOT_ATTACHED';
  override readonly name = 'WaylandNotAttachedError';

  constructor(readonly operation: string) {
    super(`${operation} needs attachToLoop() first`);
  }
}
