// What goes wrong on a session, and what the session does about it. The relay finds
// faults in either direction; the same fault is a ClientProtocolError when the client
// sent it (the client gets the wl_display.error libwayland-server would send, worded
// alike) and an UpstreamProtocolError when the compositor did. describeFailure turns
// any error that ends a session into the plan for ending it: what to log, what to tell
// the client, and whether the requests before the bad one still go to the compositor.

import { FdOverflowError, isPeerGone } from '../../ffi/unix-channel.js';
import { encodeMessage } from '../wire/encode.js';
import {
  ClientLimitError,
  ClientProtocolError,
  DisplayErrorCode,
  UpstreamProtocolError,
} from './errors.js';
import type { MessageMeta, MessageTables } from './message-table.js';
import type { WaylandObject } from './object-map.js';

/** How a session ends after an error. */
export interface FailurePlan {
  /** What the operator reads, at which level, with which fields. */
  readonly log: {
    readonly level: 'warn' | 'error' | 'debug';
    readonly fields: Record<string, unknown>;
    readonly message: string;
  };
  /** The wl_display.error for the client, if it gets one. */
  readonly tellClient?: {
    readonly objectId: number;
    readonly code: number;
    readonly message: string;
  };
  /**
   * The client's requests before the offending one go to the compositor first, which
   * would have dispatched them without the bridge.
   */
  readonly deliverRequests: boolean;
  /** Why the session closed (the debug log's `reason`). */
  readonly reason: string;
}

export function describeFailure(err: unknown): FailurePlan {
  if (err instanceof ClientLimitError) {
    // Operators need to know which limit cut a client off, to tell an attack from a
    // limit set too low for a real client.
    return {
      log: {
        level: 'warn',
        fields: { limit: err.limit, value: err.value },
        message: `client limit hit: ${err.message}`,
      },
      tellClient: { objectId: err.objectId, code: err.displayCode, message: err.message },
      deliverRequests: true,
      reason: `client limit ${err.limit}`,
    };
  }
  if (err instanceof ClientProtocolError) {
    return {
      log: {
        level: 'warn',
        fields: { code: err.displayCode, object: err.objectId },
        message: `client protocol error: ${err.message}`,
      },
      tellClient: { objectId: err.objectId, code: err.displayCode, message: err.message },
      deliverRequests: true,
      reason: 'client protocol error',
    };
  }
  if (err instanceof UpstreamProtocolError) {
    return {
      log: { level: 'error', fields: {}, message: `compositor protocol error: ${err.message}` },
      tellClient: {
        objectId: 1,
        code: DisplayErrorCode.implementation,
        message: `grantway: ${err.message}`,
      },
      deliverRequests: false,
      reason: 'upstream protocol error',
    };
  }
  if (isPeerGone(err)) {
    return {
      log: { level: 'debug', fields: {}, message: 'peer gone' },
      deliverRequests: false,
      reason: 'peer gone',
    };
  }
  if (err instanceof FdOverflowError) {
    return {
      log: { level: 'warn', fields: {}, message: err.message },
      tellClient: {
        objectId: 1,
        code: DisplayErrorCode.noMemory,
        message: `grantway: ${err.message}`,
      },
      deliverRequests: false,
      reason: 'fd overflow',
    };
  }
  return {
    log: { level: 'error', fields: { err }, message: 'session failed' },
    tellClient: {
      objectId: 1,
      code: DisplayErrorCode.implementation,
      message: 'grantway: internal error',
    },
    deliverRequests: false,
    reason: 'internal error',
  };
}

/** The bytes of wl_display.error (the message cut to what libwayland can carry). */
export function displayError(
  tables: MessageTables,
  objectId: number,
  code: number,
  message: string,
): Uint8Array | undefined {
  const spec = tables.display().events[0]?.spec;
  if (spec === undefined) return undefined;
  return encodeMessage(1, 0, spec, [objectId, code, message.slice(0, 3000)]).bytes;
}

// The faults the relay finds while walking messages. Each returns the error to throw:
// the client's version, worded as libwayland-server words it, or the compositor's.

export function malformed(fromClient: boolean, objectId: number, what: string): Error {
  if (fromClient) {
    return new ClientProtocolError(
      1,
      DisplayErrorCode.invalidMethod,
      `malformed message from object ${objectId}: ${what}`,
    );
  }
  return new UpstreamProtocolError(`malformed event: ${what}`);
}

export function unknownObject(fromClient: boolean, objectId: number): Error {
  if (fromClient) {
    return new ClientProtocolError(1, DisplayErrorCode.invalidObject, `invalid object ${objectId}`);
  }
  return new UpstreamProtocolError(`event for unknown object ${objectId}`);
}

export function unknownOpcode(fromClient: boolean, obj: WaylandObject, opcode: number): Error {
  if (fromClient) {
    return new ClientProtocolError(
      obj.id,
      DisplayErrorCode.invalidMethod,
      `invalid method ${opcode}, object ${obj.table.name}@${obj.id}`,
    );
  }
  return new UpstreamProtocolError(`invalid event ${opcode} for ${obj.table.name}@${obj.id}`);
}

/** A request newer than the version the client bound (only clients can send one). */
export function tooNew(obj: WaylandObject, meta: MessageMeta): Error {
  return new ClientProtocolError(
    obj.id,
    DisplayErrorCode.invalidMethod,
    `invalid method ${meta.opcode} (since ${meta.since} > version ${obj.version}) on ${obj.table.name}@${obj.id}`,
  );
}

/**
 * A whole message whose fds are not there. A sender's fds travel with (or before) the
 * first byte of the write that carries the message, and the kernel hands them over
 * with the first read of those bytes, so once the message is complete its fds will
 * never come: libwayland-server answers invalid_method at once, and so does the bridge.
 */
export function missingFds(fromClient: boolean, obj: WaylandObject, meta: MessageMeta): Error {
  const what = `${obj.table.name}@${obj.id}.${meta.spec.name}`;
  if (fromClient) {
    return new ClientProtocolError(
      obj.id,
      DisplayErrorCode.invalidMethod,
      `file descriptor expected: ${what}`,
    );
  }
  return new UpstreamProtocolError(`file descriptor expected: ${what}`);
}

/** Arguments that do not decode (wire/decode.ts says why). */
export function invalidArguments(
  fromClient: boolean,
  obj: WaylandObject,
  meta: MessageMeta,
  why: string,
): Error {
  const what = `${obj.table.name}@${obj.id}.${meta.spec.name}`;
  if (fromClient) {
    return new ClientProtocolError(
      obj.id,
      DisplayErrorCode.invalidMethod,
      `invalid arguments for ${what}: ${why}`,
    );
  }
  return new UpstreamProtocolError(`invalid arguments for ${what}: ${why}`);
}

/** A protocol that creates an interface no loaded protocol defines. */
export function undefinedInterface(
  fromClient: boolean,
  parent: WaylandObject,
  meta: MessageMeta,
  interfaceName: string,
): Error {
  const err = `${parent.table.name}.${meta.spec.name} creates ${interfaceName}, which no loaded protocol defines`;
  if (fromClient) return new ClientProtocolError(parent.id, DisplayErrorCode.implementation, err);
  return new UpstreamProtocolError(err);
}
