// One error class for every failed system call, so callers can match on a stable code
// and still read which call failed and why (errno name, not just a number).

import { constants } from 'node:os';

const errnoNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, value]) => [value, name]),
);

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

export class SyscallError extends Error {
  readonly code = 'ERR_SYSCALL';
  /** e.g. 'ENOENT'. */
  readonly errnoName: string;

  constructor(
    readonly syscall: string,
    readonly errno: number,
    readonly detail?: string,
  ) {
    const name = errnoName(errno);
    super(`${syscall}${detail ? ` (${detail})` : ''} failed: ${name}`);
    this.name = 'SyscallError';
    this.errnoName = name;
  }
}

/**
 * Why a call failed, for a one-line message: "ENOENT: no such file or directory" from a
 * Node fs error (without its call and path), the errno name from a SyscallError.
 */
export function errorReason(err: unknown): string {
  if (err instanceof SyscallError) return err.errnoName;
  if (err instanceof Error && 'code' in err && typeof err.code === 'string') {
    const detail = /^[A-Z]+: ([^,]+)/.exec(err.message)?.[1];
    return detail === undefined ? err.code : `${err.code}: ${detail}`;
  }
  return String(err);
}
