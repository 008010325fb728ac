// JS values → one message's bytes, the mirror of decode.ts. Used by the relay when it
// rewrites or synthesises messages (most traffic is forwarded as the original bytes).
// Validates everything first, so it never writes a partial message and never produces
// bytes that decodeArgs would reject.

import type { ArgSpec, MessageSpec } from '../protocol/types.js';
import { HEADER_SIZE, MAX_MESSAGE_SIZE } from './constants.js';
import { EncodeError, type WireErrorContext } from './errors.js';
import { writeHeader } from './header.js';
import { pad4, writeU32 } from './le.js';
import type { ArgValue, UntypedNewId } from './values.js';

const utf8 = new TextEncoder();

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;

/**
 * Validates `args` against `spec` and returns the encoded message size in bytes
 * (header included). Throws EncodeError on a type mismatch, a count mismatch, a null
 * where the spec does not allow one, or a size over 4096.
 */
export function measureMessage(spec: MessageSpec, args: readonly ArgValue[]): number {
  return measure(spec, args, {});
}

/**
 * Encodes one message into a fresh buffer. `fds` are the fd arguments in arg order; the
 * caller must send them with (or before) the bytes.
 */
export function encodeMessage(
  objectId: number,
  opcode: number,
  spec: MessageSpec,
  args: readonly ArgValue[],
): { bytes: Uint8Array; fds: number[] } {
  const ctx = checkIds(objectId, opcode);
  const size = measure(spec, args, ctx);
  const bytes = new Uint8Array(size);
  const fds: number[] = [];
  write(bytes, 0, objectId, opcode, size, spec, args, fds);
  return { bytes, fds };
}

/**
 * Encodes one message into `buf` at `offset` without allocating (for ASCII strings;
 * a non-ASCII string costs one subarray view) and returns the bytes written. Fd
 * arguments are appended to `fdsOut` in arg order. On any error nothing is written and
 * nothing is appended; a buffer too small for the message is an EncodeError.
 */
export function encodeMessageInto(
  buf: Uint8Array,
  offset: number,
  objectId: number,
  opcode: number,
  spec: MessageSpec,
  args: readonly ArgValue[],
  fdsOut: number[],
): number {
  const ctx = checkIds(objectId, opcode);
  const size = measure(spec, args, ctx);
  if (!(offset >= 0 && offset + size <= buf.length)) {
    throw new EncodeError(
      `${spec.name}: ${size} bytes do not fit at offset ${offset} of a ${buf.length}-byte buffer`,
      ctx,
    );
  }
  write(buf, offset, objectId, opcode, size, spec, args, fdsOut);
  return size;
}

function checkIds(objectId: number, opcode: number): WireErrorContext {
  if (!isUint(objectId) || objectId === 0) {
    throw new EncodeError(`sender object id ${objectId} is not a non-zero uint32`);
  }
  if (!Number.isInteger(opcode) || opcode < 0 || opcode > 0xffff) {
    throw new EncodeError(`opcode ${opcode} does not fit 16 bits`, { objectId });
  }
  return { objectId, opcode };
}

/** The validating pass: every check of the encoder lives here; `write` trusts it. */
function measure(spec: MessageSpec, args: readonly ArgValue[], ctx: WireErrorContext): number {
  const specArgs = spec.args;
  if (args.length !== specArgs.length) {
    throw new EncodeError(
      `${spec.name}: ${args.length} arguments given, spec has ${specArgs.length}`,
      ctx,
    );
  }
  let size = HEADER_SIZE;
  for (let i = 0; i < specArgs.length; i++) {
    const arg = specArgs[i]!;
    const v = args[i];
    switch (arg.type) {
      case 'int':
        if (!(Number.isInteger(v) && (v as number) >= INT32_MIN && (v as number) <= INT32_MAX)) {
          throw mismatch(spec, arg, v, 'an int32', ctx);
        }
        size += 4;
        break;
      case 'uint':
        if (!isUint(v)) throw mismatch(spec, arg, v, 'a uint32', ctx);
        size += 4;
        break;
      case 'fixed': {
        const raw = typeof v === 'number' ? Math.round(v * 256) : Number.NaN;
        if (!(raw >= INT32_MIN && raw <= INT32_MAX)) {
          throw mismatch(spec, arg, v, 'a finite number within 24.8 fixed range', ctx);
        }
        size += 4;
        break;
      }
      case 'object':
        checkId(spec, arg, v, ctx);
        size += 4;
        break;
      case 'new_id':
        if (arg.interface !== undefined) {
          checkId(spec, arg, v, ctx);
          size += 4;
        } else {
          const n = v as Partial<UntypedNewId> | null;
          if (typeof n !== 'object' || n === null || n instanceof Uint8Array) {
            throw mismatch(spec, arg, v, '{ interface, version, id }', ctx);
          }
          if (typeof n.interface !== 'string') {
            throw mismatch(spec, arg, n.interface, 'an interface name', ctx);
          }
          if (!isUint(n.version)) throw mismatch(spec, arg, n.version, 'a uint32 version', ctx);
          checkId(spec, arg, n.id, ctx);
          size += 4 + stringSpace(spec, arg, n.interface, ctx) + 8;
        }
        break;
      case 'string':
        if (v === null) {
          if (arg.nullable !== true) throw mismatch(spec, arg, v, 'a non-null string', ctx);
          size += 4;
        } else if (typeof v === 'string') {
          size += 4 + stringSpace(spec, arg, v, ctx);
        } else {
          throw mismatch(spec, arg, v, 'a string', ctx);
        }
        break;
      case 'array':
        if (!(v instanceof Uint8Array)) throw mismatch(spec, arg, v, 'a Uint8Array', ctx);
        // Checked per argument so that a huge array cannot overflow pad4.
        if (v.length > MAX_MESSAGE_SIZE) throw tooBig(spec, size + v.length, ctx);
        size += 4 + pad4(v.length);
        break;
      case 'fd':
        if (!(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= INT32_MAX)) {
          throw mismatch(spec, arg, v, 'an fd (non-negative int32)', ctx);
        }
        break;
      default:
        return unknownType(arg.type);
    }
  }
  if (size > MAX_MESSAGE_SIZE) throw tooBig(spec, size, ctx);
  return size;
}

/** The writing pass. Precondition: `measure` accepted exactly these args. */
function write(
  buf: Uint8Array,
  offset: number,
  objectId: number,
  opcode: number,
  size: number,
  spec: MessageSpec,
  args: readonly ArgValue[],
  fdsOut: number[],
): void {
  writeHeader(buf, offset, objectId, opcode, size);
  let pos = offset + HEADER_SIZE;
  const specArgs = spec.args;
  for (let i = 0; i < specArgs.length; i++) {
    const arg = specArgs[i]!;
    const v = args[i];
    switch (arg.type) {
      case 'int':
      case 'uint':
      case 'object':
        writeU32(buf, pos, v as number);
        pos += 4;
        break;
      case 'fixed':
        writeU32(buf, pos, Math.round((v as number) * 256));
        pos += 4;
        break;
      case 'new_id':
        if (arg.interface !== undefined) {
          writeU32(buf, pos, v as number);
          pos += 4;
        } else {
          const n = v as UntypedNewId;
          pos = writeString(buf, pos, n.interface);
          writeU32(buf, pos, n.version);
          writeU32(buf, pos + 4, n.id);
          pos += 8;
        }
        break;
      case 'string':
        pos = v === null ? writeNullString(buf, pos) : writeString(buf, pos, v as string);
        break;
      case 'array': {
        const a = v as Uint8Array;
        writeU32(buf, pos, a.length);
        buf.set(a, pos + 4);
        pos = zeroPad(buf, pos + 4, pos + 4 + a.length);
        break;
      }
      case 'fd':
        fdsOut.push(v as number);
        break;
      default:
        unknownType(arg.type);
    }
  }
}

function isUint(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= UINT32_MAX;
}

function checkId(spec: MessageSpec, arg: ArgSpec, v: unknown, ctx: WireErrorContext): void {
  if (!isUint(v)) throw mismatch(spec, arg, v, 'an object id (uint32)', ctx);
  if (v === 0 && arg.nullable !== true) throw mismatch(spec, arg, v, 'a non-null id', ctx);
}

/** Bytes a non-null string takes after its length word: UTF-8 + NUL, padded. */
function stringSpace(spec: MessageSpec, arg: ArgSpec, s: string, ctx: WireErrorContext): number {
  if (s.includes('\0')) throw mismatch(spec, arg, s, 'a string without NUL characters', ctx);
  // Bounded before measuring: a UTF-8 string is never shorter than its UTF-16 length / 2.
  if (s.length > 2 * MAX_MESSAGE_SIZE) throw tooBig(spec, s.length, ctx);
  return pad4(utf8Length(s) + 1);
}

/** UTF-8 byte length; lone surrogates count 3 (U+FFFD), as TextEncoder writes them. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/** Writes length word, UTF-8 bytes, NUL and zero padding; returns the new position. */
function writeString(buf: Uint8Array, pos: number, s: string): number {
  const start = pos + 4;
  let p = start;
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      ascii = false;
      break;
    }
    buf[p++] = c;
  }
  if (!ascii) {
    const n = utf8Length(s);
    utf8.encodeInto(s, buf.subarray(start, start + n));
    p = start + n;
  }
  buf[p++] = 0;
  writeU32(buf, pos, p - start);
  return zeroPad(buf, start, p);
}

function writeNullString(buf: Uint8Array, pos: number): number {
  writeU32(buf, pos, 0);
  return pos + 4;
}

/**
 * Zero-fills from `p` until `p - start` is a multiple of 4, returning the new position.
 * Alignment is relative to `start` (itself 4-aligned relative to the message start), so
 * a message written at an unaligned offset of `buf` is still padded correctly.
 */
function zeroPad(buf: Uint8Array, start: number, p: number): number {
  const end = start + pad4(p - start);
  while (p < end) buf[p++] = 0;
  return p;
}

function mismatch(
  spec: MessageSpec,
  arg: ArgSpec,
  v: unknown,
  expected: string,
  ctx: WireErrorContext,
): EncodeError {
  return new EncodeError(
    `${spec.name}: argument ${arg.name} (${arg.type}) must be ${expected}, got ${describe(v)}`,
    ctx,
  );
}

function tooBig(spec: MessageSpec, size: number, ctx: WireErrorContext): EncodeError {
  return new EncodeError(`${spec.name}: ${size} bytes exceed ${MAX_MESSAGE_SIZE}`, ctx);
}

function describe(v: unknown): string {
  if (v instanceof Uint8Array) return `Uint8Array(${v.length})`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'object' && v !== null) return 'an object';
  return String(v);
}

function unknownType(type: never): never {
  throw new TypeError(`unknown wire type ${String(type)}`);
}
