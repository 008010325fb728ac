// Reading procfs for the E3 oracle: whole small files into one shared buffer, directory
// listings and links, with every failure turned into a typed outcome instead of an
// exception, because the walk over /proc meets vanished processes and closed fds all the
// time and must tell "gone" (harmless) from "not allowed to look" (the verdict becomes
// 'unavailable').

import { closeSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';

/** Why a procfs read failed, as far as the oracle cares. */
export type ProcFailure = 'gone' | 'no-permission' | 'read-error';

export type ProcRead<T> =
  { readonly ok: T } | { readonly failed: ProcFailure; readonly code?: string };

/**
 * Read buffer shared by every reader: reads are synchronous and Node runs them on one
 * thread, so no two overlap. Grows (doubling) when a file does not fit.
 */
let scratch = Buffer.allocUnsafe(64 * 1024);

export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String(error.code)
    : undefined;
}

/** ENOENT/ESRCH: the process (or fd) went away; EACCES/EPERM: ptrace access denied. */
export function failureOf(error: unknown): ProcFailure {
  const code = errorCode(error);
  if (code === 'ENOENT' || code === 'ESRCH') return 'gone';
  if (code === 'EACCES' || code === 'EPERM') return 'no-permission';
  return 'read-error';
}

function attempt<T>(read: () => T): ProcRead<T> {
  try {
    return { ok: read() };
  } catch (error) {
    return { failed: failureOf(error), code: errorCode(error) };
  }
}

/** Whole content of a /proc file, as latin1 (maps fields are ASCII; paths are ignored). */
export function readProcText(path: string): ProcRead<string> {
  return attempt(() => {
    const fd = openSync(path, 'r');
    try {
      let length = 0;
      for (;;) {
        if (length === scratch.length) {
          const bigger = Buffer.allocUnsafe(scratch.length * 2);
          scratch.copy(bigger, 0, 0, length);
          scratch = bigger;
        }
        const n = readSync(fd, scratch, length, scratch.length - length, null);
        if (n === 0) break;
        length += n;
      }
      return scratch.toString('latin1', 0, length);
    } finally {
      closeSync(fd);
    }
  });
}

export function listProcDir(path: string): ProcRead<string[]> {
  return attempt(() => readdirSync(path));
}

export function readProcLink(path: string): ProcRead<string> {
  return attempt(() => readlinkSync(path));
}
