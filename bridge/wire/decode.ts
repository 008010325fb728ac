// Message body → JS values, given the message's spec. Pure: bytes and an FdSource in,
// an array out, or a WireError. Never reads outside [offset, offset + size) and never
// throws anything but a WireError on any input bytes.

import type { ArgSpec, MessageSpec } from '../protocol/types.js';
import { HEADER_SIZE } from './constants.js';
import {
  BadStringError,
  MissingFdError,
  NullNotAllowedError,
  TrailingBytesError,
  TruncatedMessageError,
  type WireErrorContext,
} from './errors.js';
import { checkHeader, readObjectId, readOpcode } from './header.js';
import { pad4, readI32, readU32 } from './le.js';
import type { ArgValue, FdSource } from './values.js';

// Strings are decoded only for what the bridge itself reads (interface names, traces).
// The relay forwards the exact original bytes, so lossy decoding here (invalid UTF-8 →
// U+FFFD, as libwayland never validates UTF-8) changes nothing on the wire.
const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * Decodes the arguments of the message whose header starts at `offset`; `size` is the
 * size from that header (normally `readSize(buf, offset)` or `Frame.size`).
 *
 * Fds: fd arguments take from `fds` in arg order, and only after every other argument
 * has been parsed and the message checked for trailing bytes. So a structural error
 * (header, truncation, string, null, trailing) never consumes an fd; a MissingFdError
 * carries in `error.fds` the fds this message had already taken, which the caller now
 * owns and must close. On success the fds are in the returned values and the caller
 * owns them. The relay avoids MissingFdError for fds still in flight by decoding only
 * once `fdQueue.length >= countFds(spec)`.
 *
 * Array values are copies: they stay valid after the source buffer is reused.
 */
export function decodeArgs(
  spec: MessageSpec,
  buf: Uint8Array,
  offset: number,
  size: number,
  fds: FdSource,
): ArgValue[] {
  if (offset < 0 || offset + HEADER_SIZE > buf.length) {
    throw new TruncatedMessageError(
      `no complete header at offset ${offset} of a ${buf.length}-byte buffer`,
    );
  }
  const ctx: WireErrorContext = {
    objectId: readObjectId(buf, offset),
    opcode: readOpcode(buf, offset),
  };
  if (!checkHeader(size, buf.length - offset, ctx.objectId, ctx.opcode)) {
    throw new TruncatedMessageError(
      `${spec.name}: message of ${size} bytes, only ${buf.length - offset} available`,
      ctx,
    );
  }
  // Invariant: (pos - offset) % 4 === 0 and size % 4 === 0, so end - pos is a multiple
  // of 4 and a length that fits before `end` still fits once padded.
  const end = offset + size;
  let pos = offset + HEADER_SIZE;
  const specArgs = spec.args;
  const out: ArgValue[] = [];
  let fdCount = 0;

  for (let i = 0; i < specArgs.length; i++) {
    const arg = specArgs[i]!;
    // Every type but fd starts with a 32-bit word; fd args take no bytes at all.
    if (pos + 4 > end && arg.type !== 'fd') throw truncated(spec, arg, ctx);
    switch (arg.type) {
      case 'int':
        out.push(readI32(buf, pos));
        pos += 4;
        break;
      case 'uint':
        out.push(readU32(buf, pos));
        pos += 4;
        break;
      case 'fixed':
        out.push(readI32(buf, pos) / 256);
        pos += 4;
        break;
      case 'object': {
        const id = readU32(buf, pos);
        if (id === 0 && arg.nullable !== true) throw nullError(spec, arg, ctx);
        out.push(id);
        pos += 4;
        break;
      }
      case 'new_id': {
        if (arg.interface !== undefined) {
          const id = readU32(buf, pos);
          if (id === 0 && arg.nullable !== true) throw nullError(spec, arg, ctx);
          out.push(id);
          pos += 4;
          break;
        }
        // Untyped new_id: (string interface, uint version, new_id).
        const iface = decodeString(spec, arg, buf, pos, end, ctx);
        if (iface === null) throw nullError(spec, arg, ctx);
        pos += 4 + pad4(readU32(buf, pos));
        if (pos + 8 > end) throw truncated(spec, arg, ctx);
        const version = readU32(buf, pos);
        const id = readU32(buf, pos + 4);
        if (id === 0 && arg.nullable !== true) throw nullError(spec, arg, ctx);
        out.push({ interface: iface, version, id });
        pos += 8;
        break;
      }
      case 'string': {
        const s = decodeString(spec, arg, buf, pos, end, ctx);
        if (s === null && arg.nullable !== true) throw nullError(spec, arg, ctx);
        out.push(s);
        pos += 4 + pad4(readU32(buf, pos));
        break;
      }
      case 'array': {
        const len = readU32(buf, pos);
        pos += 4;
        if (len > end - pos) throw truncated(spec, arg, ctx);
        out.push(buf.slice(pos, pos + len));
        pos += pad4(len);
        break;
      }
      case 'fd':
        // Placeholder, filled below once the message is known to be well-formed.
        out.push(-1);
        fdCount++;
        break;
      default:
        return unknownType(arg.type);
    }
  }
  if (pos !== end) {
    throw new TrailingBytesError(`${spec.name}: ${end - pos} bytes after the last argument`, ctx);
  }

  if (fdCount > 0) {
    const taken: number[] = [];
    for (let i = 0; i < specArgs.length; i++) {
      const arg = specArgs[i]!;
      if (arg.type !== 'fd') continue;
      const fd = fds.take();
      if (fd === undefined) {
        throw new MissingFdError(`${spec.name}: no fd for argument ${arg.name}`, {
          ...ctx,
          fds: taken,
        });
      }
      taken.push(fd);
      out[i] = fd;
    }
  }
  return out;
}

/**
 * Validates and decodes the string whose length word is at `pos`; `null` for length 0.
 * The caller advances by `4 + pad4(length)`, which the checks here keep within `end`.
 *
 * libwayland's rule (wl_connection_demarshal, up to 1.23 — Debian 12 ships 1.21): the
 * length counts the terminating NUL, whose byte must be the last one; NULs before it
 * are allowed, and C code reads the string up to the first one. "wl_shm\0\0" with
 * length 8 is therefore "wl_shm" to the compositor, and must be to the bridge too, or
 * the two would disagree on what a bind names. (libwayland 1.24 refuses such strings;
 * a compositor built on it sends its own error, as it would without the bridge.)
 */
function decodeString(
  spec: MessageSpec,
  arg: ArgSpec,
  buf: Uint8Array,
  pos: number,
  end: number,
  ctx: WireErrorContext,
): string | null {
  const len = readU32(buf, pos);
  if (len === 0) return null;
  const start = pos + 4;
  if (len > end - start) throw truncated(spec, arg, ctx);
  const nul = start + len - 1;
  if (buf[nul] !== 0) {
    throw new BadStringError(`${spec.name}: string ${arg.name} is not NUL-terminated`, ctx);
  }
  // The terminator at `nul` bounds this search to the string's own bytes.
  return utf8.decode(buf.subarray(start, buf.indexOf(0, start)));
}

function truncated(spec: MessageSpec, arg: ArgSpec, ctx: WireErrorContext): TruncatedMessageError {
  return new TruncatedMessageError(`${spec.name}: argument ${arg.name} runs past the message`, ctx);
}

function nullError(spec: MessageSpec, arg: ArgSpec, ctx: WireErrorContext): NullNotAllowedError {
  return new NullNotAllowedError(`${spec.name}: null ${arg.type} ${arg.name} is not allowed`, ctx);
}

/** Only reachable with a malformed spec (a programming error), never with bad bytes. */
function unknownType(type: never): never {
  throw new TypeError(`unknown wire type ${String(type)}`);
}

/** How fixedWordKinds says each word of a fixed-size message is read. */
export const FixedWordKind = { unsigned: 0, int: 1, fixed: 2 } as const;

/**
 * The kind of each argument word of a fixed-size message (see decodeFixedArgs), worked
 * out once per message type so that decoding one does not compare type names per word.
 */
export function fixedWordKinds(spec: MessageSpec): Uint8Array {
  return Uint8Array.from(spec.args, (arg) =>
    arg.type === 'int'
      ? FixedWordKind.int
      : arg.type === 'fixed'
        ? FixedWordKind.fixed
        : FixedWordKind.unsigned,
  );
}

/**
 * The fast path for messages whose arguments are all fixed-size words (int, uint,
 * fixed, object, typed new_id — no string, array, fd or untyped new_id): each word read
 * where it must be, nothing validated beyond that. The caller has checked the message
 * size against the spec (MessageMeta.fixedSize); use decodeArgs for anything else.
 */
export function decodeFixedArgs(spec: MessageSpec, buf: Uint8Array, offset: number): ArgValue[] {
  return decodeFixedArgsInto(fixedWordKinds(spec), buf, offset, []);
}

/**
 * decodeFixedArgs into `args` (its length set to the number of words), for a caller
 * that reuses the array and has the message's fixedWordKinds at hand.
 */
export function decodeFixedArgsInto(
  kinds: Uint8Array,
  buf: Uint8Array,
  offset: number,
  args: ArgValue[],
): ArgValue[] {
  const count = kinds.length;
  // Setting an array's length is a runtime call even when it does not change: on the
  // relay's fast path (one reused array per session) it cost more than the decoding.
  if (args.length !== count) args.length = count;
  let pos = offset + HEADER_SIZE;
  for (let i = 0; i < count; i++) {
    const kind = kinds[i];
    const word = readI32(buf, pos);
    args[i] =
      kind === FixedWordKind.int ? word : kind === FixedWordKind.fixed ? word / 256 : word >>> 0;
    pos += 4;
  }
  return args;
}
