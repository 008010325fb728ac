// Failures of the embedded compositor, one class per kind with a stable `code`. A
// ProtocolError is what a handler throws when a client breaks the protocol: the
// connection turns it into wl_display.error for that client alone and disconnects it.
// The others are failures of the harness and the control channel around the process.

import { wayland } from '../../bridge/protocol/enums.js';

/** wl_display.error codes (wayland.xml); interface errors use their own enums. */
export const DisplayError = wayland.wl_display.error;

/** A client broke the protocol: posted as wl_display.error(objectId, code, message). */
export class ProtocolError extends Error {
  readonly code = 'ERR_COMPOSITOR_PROTOCOL';
  constructor(
    /** The object the error is about (1 = wl_display when no better one exists). */
    readonly objectId: number,
    /** The error code in the enum of that object's interface (or wl_display's). */
    readonly protocolCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** The embedded compositor process did not come up (exited, or never listened). */
export class CompositorStartError extends Error {
  readonly code = 'ERR_COMPOSITOR_START';
  constructor(
    reason: string,
    /** The child's stderr up to the failure. */
    readonly output: string,
    /** The runtime dir it was given (already removed). */
    readonly runtimeDir: string,
  ) {
    super(`embedded compositor did not start: ${reason}\n--- output ---\n${output}`);
    this.name = 'CompositorStartError';
  }
}

/** A control request failed: refused by the compositor, or the channel is gone. */
export class ControlError extends Error {
  readonly code = 'ERR_COMPOSITOR_CONTROL';
  constructor(message: string) {
    super(message);
    this.name = 'ControlError';
  }
}

/** A read-back was asked for something that has no pixels (unknown or unmapped surface). */
export class ReadbackError extends Error {
  readonly code = 'ERR_COMPOSITOR_READBACK';
  constructor(message: string) {
    super(message);
    this.name = 'ReadbackError';
  }
}

/** Bytes that are not a PNG this module can read. */
export class PngFormatError extends Error {
  readonly code = 'ERR_PNG_FORMAT';
  constructor(message: string) {
    super(message);
    this.name = 'PngFormatError';
  }
}
