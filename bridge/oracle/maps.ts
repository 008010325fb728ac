// A pure parser of /proc/PID/maps: which files (device, inode) a process maps. It is the
// core of the E3 oracle's /proc walk (ARCHITECTURE.md §2) and is kept free of I/O so it can be
// tested against literal maps text. Anonymous mappings (inode 0: heap, stack, [vdso], MAP_ANONYMOUS)
// are not files and are skipped; a memfd shows as `/memfd:NAME (deleted)` with the
// shmem device and its own inode, and is kept like any other file.
//
// Line format (fs/proc/task_mmu.c, show_vma_header_prefix):
//   START-END PERMS OFFSET MAJOR:MINOR INODE[ padding PATH]
// with MAJOR and MINOR in hex (at least two digits) and INODE in decimal. The first five
// fields are separated by single spaces; PATH is free text chosen by whoever named the
// file (a memfd's name is chosen by the client), so nothing is ever read from it: a
// crafted name cannot fake an entry, and newlines in paths are escaped by the kernel.

import { devMajor, devMinor } from './dev-t.js';
import type { FileIdentity } from './types.js';

const hex2 = (n: number): string => (n < 16 ? '0' : '') + n.toString(16);

/** Keys already made, per identity object (extents keep theirs for life; BigInt math is slow). */
const keys = new WeakMap<FileIdentity, string>();

/**
 * Key of a file in a MappedFiles set: exactly how maps prints its device and inode,
 * `MAJOR:MINOR INODE` (`%02x:%02x %lu`), so a line's key is one slice of its text.
 */
export function fileKey(file: FileIdentity): string {
  let key = keys.get(file);
  if (key === undefined) {
    key = `${hex2(devMajor(file.dev))}:${hex2(devMinor(file.dev))} ${file.ino}`;
    keys.set(file, key);
  }
  return key;
}

/** The files one maps text mentions. */
export interface MappedFiles {
  /** Distinct (dev, ino) pairs with at least one mapping. */
  readonly size: number;
  has(file: FileIdentity): boolean;
  /** has() by fileKey(file), for callers that keep keys of the files they look for. */
  hasKey(key: string): boolean;
  /** The fileKey of every file mapped. */
  keys(): IterableIterator<string>;
}

class KeySet implements MappedFiles {
  constructor(private readonly set: ReadonlySet<string>) {}
  get size(): number {
    return this.set.size;
  }
  has(file: FileIdentity): boolean {
    return this.set.has(fileKey(file));
  }
  hasKey(key: string): boolean {
    return this.set.has(key);
  }
  keys(): IterableIterator<string> {
    return this.set.keys();
  }
}

/** Thrown for a line that does not have the five fixed fields of a maps line. */
export class MapsParseError extends Error {
  readonly code = 'ERR_PROC_MAPS_PARSE';
  override readonly name = 'MapsParseError';
  constructor(
    readonly lineNumber: number,
    readonly line: string,
  ) {
    super(`/proc/PID/maps line ${lineNumber} is malformed: ${JSON.stringify(line)}`);
  }
}

/**
 * Every file mapped according to `text` (the whole content of a /proc/PID/maps).
 * Malformed lines throw MapsParseError: the oracle must not turn text it does not
 * understand into 'unmapped'.
 */
export function parseMappedFiles(text: string): MappedFiles {
  const keys = new Set<string>();
  let lineNumber = 0;
  let start = 0;
  const length = text.length;
  while (start < length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = length;
    lineNumber++;
    if (end > start) {
      // Fields 1–3 (range, perms, offset) are skipped by position; 4 and 5 are read.
      const s1 = text.indexOf(' ', start);
      const s2 = s1 < 0 || s1 >= end ? -1 : text.indexOf(' ', s1 + 1);
      const s3 = s2 < 0 || s2 >= end ? -1 : text.indexOf(' ', s2 + 1);
      const s4 = s3 < 0 || s3 >= end ? -1 : text.indexOf(' ', s3 + 1);
      if (s4 < 0 || s4 >= end || !wellFormedDevice(text, s3 + 1, s4)) {
        throw new MapsParseError(lineNumber, text.slice(start, end));
      }
      let s5 = text.indexOf(' ', s4 + 1);
      if (s5 < 0 || s5 > end) s5 = end;
      if (!isDecimal(text, s4 + 1, s5))
        throw new MapsParseError(lineNumber, text.slice(start, end));
      // Inode 0: an anonymous mapping (heap, stack, [vdso], MAP_ANONYMOUS): not a file.
      if (!(s5 === s4 + 2 && text.charCodeAt(s4 + 1) === 0x30)) keys.add(text.slice(s3 + 1, s5));
    }
    start = end + 1;
  }
  return new KeySet(keys);
}

/** `hh:hh` with at least two lowercase hex digits each side (kernel `%02x:%02x`). */
function wellFormedDevice(text: string, from: number, to: number): boolean {
  const colon = text.indexOf(':', from);
  if (colon < 0 || colon >= to || colon - from < 2 || to - colon - 1 < 2) return false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (i !== colon && !((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** Decimal digits without a leading zero (kernel `%lu`), or exactly "0". */
function isDecimal(text: string, from: number, to: number): boolean {
  if (to <= from || (to - from > 1 && text.charCodeAt(from) === 0x30)) return false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
