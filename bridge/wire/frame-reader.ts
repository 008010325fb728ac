// Re-frames a byte stream into whole messages. Reads from a socket end at arbitrary
// byte boundaries — mid-header, mid-argument, several messages at once — so bytes are
// accumulated here and handed out one complete message at a time.
//
// Buffering: one growable buffer; `push` copies the chunk in (so the caller may reuse
// its read buffer at once). Consumed bytes are reclaimed lazily: only when a push does
// not fit at the tail are the live bytes moved to the front, and only if they fill at
// most half the buffer; otherwise the buffer doubles. Each pushed byte is thus copied
// O(1) times amortised — never the O(n²) of concatenating on every read.

import { HEADER_SIZE } from './constants.js';
import { checkHeader, readObjectId, readOpcode, readSize } from './header.js';

export interface Frame {
  readonly objectId: number;
  readonly opcode: number;
  /** Bytes, header included; equals `bytes.length`. */
  readonly size: number;
  /**
   * The whole message, header included: a view into the reader's buffer, valid only
   * until the next `push` (which may overwrite or move those bytes). Copy to keep.
   */
  readonly bytes: Uint8Array;
}

export class FrameReader {
  // Invariant: 0 <= start <= end <= buf.length; buf[start..end) are the bytes pushed
  // and not yet returned by next(), and `start` is always at a message boundary.
  private buf: Uint8Array;
  private start = 0;
  private end = 0;

  constructor(initialCapacity = 16 * 1024) {
    this.buf = new Uint8Array(Math.max(HEADER_SIZE, initialCapacity));
  }

  /** Bytes received and not yet returned as frames (including a partial message). */
  get buffered(): number {
    return this.end - this.start;
  }

  /** Appends bytes read from the stream. The chunk is copied; the caller keeps it. */
  push(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n === 0) return;
    if (this.end + n > this.buf.length) this.makeRoom(n);
    this.buf.set(chunk, this.end);
    this.end += n;
  }

  /**
   * The next complete message, or `undefined` when more bytes are needed. Throws
   * MalformedHeaderError as soon as a bad header's 8 bytes are buffered (without
   * waiting for a body that may never come). After that the stream cannot be
   * re-framed: the reader keeps the bad header and every later call throws again.
   */
  next(): Frame | undefined {
    const start = this.start;
    const available = this.end - start;
    if (available < HEADER_SIZE) return undefined;
    const buf = this.buf;
    const size = readSize(buf, start);
    const objectId = readObjectId(buf, start);
    const opcode = readOpcode(buf, start);
    if (!checkHeader(size, available, objectId, opcode)) return undefined;
    const bytes = buf.subarray(start, start + size);
    if (size === available) {
      // Drained: restart at the front, which makes compaction free. The returned view
      // stays intact until the next push writes over it, as documented on Frame.bytes.
      this.start = 0;
      this.end = 0;
    } else {
      this.start = start + size;
    }
    return { objectId, opcode, size, bytes };
  }

  private makeRoom(n: number): void {
    const live = this.end - this.start;
    const cap = this.buf.length;
    if (live <= cap >>> 1 && live + n <= cap) {
      // Compact: moves at most half the buffer, into a buffer at least half free
      // afterwards; with doubling on growth, copying stays amortised O(1) per byte.
      this.buf.copyWithin(0, this.start, this.end);
    } else {
      let newCap = cap * 2;
      while (newCap < live + n) newCap *= 2;
      const grown = new Uint8Array(newCap);
      grown.set(this.buf.subarray(this.start, this.end));
      this.buf = grown;
    }
    this.start = 0;
    this.end = live;
  }
}
