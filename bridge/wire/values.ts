// The JS shapes of decoded arguments, shared by the decoder, the encoder and the
// formatter, plus the 24.8 fixed-point conversions that all three must agree on.

import type { MessageSpec } from '../protocol/types.js';

/**
 * The untyped new_id of `wl_registry.bind`: on the wire (string interface, uint version,
 * new_id), decoded as one value because it is one argument of the spec.
 */
export interface UntypedNewId {
  readonly interface: string;
  readonly version: number;
  /** The new object id; 0 only where the arg is nullable. */
  readonly id: number;
}

/**
 * One decoded argument, by ArgSpec type:
 * - int, uint, object, new_id (typed), fd → number (object 0 = null object);
 * - fixed → number (a double, exactly representable: raw / 256);
 * - string → string | null;
 * - array → Uint8Array (a copy, owned by the caller);
 * - new_id without `interface` → UntypedNewId.
 */
export type ArgValue = number | string | null | Uint8Array | UntypedNewId;

/** Where the decoder gets the fds of fd arguments, in arg order. FdQueue implements it. */
export interface FdSource {
  /** Removes and returns the oldest fd, or `undefined` when none has arrived. */
  take(): number | undefined;
}

/** 24.8 fixed → double. Exact: every int32 / 256 is representable. */
export function fixedToDouble(raw: number): number {
  return raw / 256;
}

/**
 * double → 24.8 fixed, rounded to nearest (libwayland ≥ 1.22 truncates; both agree on
 * every value that came off the wire). May lie outside int32: callers range-check.
 */
export function doubleToFixed(value: number): number {
  return Math.round(value * 256);
}

/**
 * How many fds a message of this spec carries. The relay checks
 * `fdQueue.length >= countFds(spec)` before decoding, so that a message whose fds are
 * still in flight is retried later instead of failing with MissingFdError.
 */
export function countFds(spec: MessageSpec): number {
  let n = 0;
  for (const arg of spec.args) if (arg.type === 'fd') n++;
  return n;
}
