// One error class per way a message can be wrong, each with a stable `code`, so the
// relay can decide (kill the client, forward wl_display.error, drop a frame) by class or
// code without parsing messages. All of them extend WireError, and nothing else is ever
// thrown by the decoder on bad input (a property test holds us to that).

/** What is known about the message an error is about. */
export interface WireErrorContext {
  /** Sender object id from the header, when the header could be read. */
  readonly objectId?: number;
  /** Opcode from the header, when the header could be read. */
  readonly opcode?: number;
  /**
   * Fds the failed operation had already taken from its FdSource. They are no longer
   * in the queue, so whoever catches the error owns them and must close them.
   */
  readonly fds?: readonly number[];
}

export abstract class WireError extends Error {
  abstract readonly code: string;
  readonly objectId: number | undefined;
  readonly opcode: number | undefined;
  /**
   * Fds taken from the stream before the error. Invariant: never undefined, so teardown
   * code can always `for (const fd of err.fds) close(fd)`. Empty unless the error is a
   * MissingFdError raised after earlier fd args of the same message were filled.
   */
  readonly fds: readonly number[];

  constructor(message: string, context: WireErrorContext = {}) {
    super(message);
    this.name = new.target.name;
    this.objectId = context.objectId;
    this.opcode = context.opcode;
    this.fds = context.fds ?? [];
  }
}

/** size < 8, size not a multiple of 4, or size > 4096. The stream cannot be re-framed. */
export class MalformedHeaderError extends WireError {
  readonly code = 'ERR_WIRE_HEADER';
}

/** An argument (or its length prefix) runs past the end of the message. */
export class TruncatedMessageError extends WireError {
  readonly code = 'ERR_WIRE_TRUNCATED';
}

/** Bytes remain in the message after its last argument. */
export class TrailingBytesError extends WireError {
  readonly code = 'ERR_WIRE_TRAILING';
}

/** A string lacks its NUL terminator where its length says, or contains a NUL before it. */
export class BadStringError extends WireError {
  readonly code = 'ERR_WIRE_STRING';
}

/** A null object, null string or new_id 0 where the argument is not `allow-null`. */
export class NullNotAllowedError extends WireError {
  readonly code = 'ERR_WIRE_NULL';
}

/** An fd argument, but no fd has arrived for it (yet). */
export class MissingFdError extends WireError {
  readonly code = 'ERR_WIRE_FD';
}

/** Arguments do not match the spec's types, or the message would exceed 4096 bytes. */
export class EncodeError extends WireError {
  readonly code = 'ERR_WIRE_ENCODE';
}
