// Limits across the whole proxy: per-client limits (limits.ts) bound what one connection
// can make the bridge hold, but nothing in them bounds the sum, and one local user can
// open as many connections as the listening socket lets them. These bound the number of
// clients, the clients of one uid (SO_PEERCRED), and the shared memory held for all
// clients together. A new client over a client limit is refused before anything is made
// for it (no compositor connection); a pool that would pass the total is refused with
// no_memory (bridge/shm/). Either way everyone else is served as before.
//
// The defaults come from the machine the proxy runs on (its memory and its fd limit),
// argued here and in SECURITY.md; flags and the config file override them.

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { ClientLimits } from './limits.js';

/** The largest number of clients the schema accepts (any real fd table is smaller). */
const MAX_CLIENTS = 1_000_000;

export const proxyLimitFields = {
  /** Clients served at once (sessions, including ones ending). */
  maxClients: z.number().int().min(1).max(MAX_CLIENTS),
  /** Clients of one uid (the connecting process's SO_PEERCRED uid) served at once. */
  maxClientsPerUid: z.number().int().min(1).max(MAX_CLIENTS),
  /**
   * Bytes of shared memory held for all clients together: what every client's pools are
   * charged (bridge/shm/accounting.ts: extents, and client pages read through a mapping),
   * plus extents let go of but not yet reclaimed.
   */
  maxShmTotalAll: z.number().int().min(4096).max(Number.MAX_SAFE_INTEGER),
} as const;

export const proxyLimitsSchema = z.object(proxyLimitFields).strict();
export type ProxyLimits = z.infer<typeof proxyLimitsSchema>;
export type ProxyLimitName = keyof ProxyLimits;

export const PROXY_LIMIT_UNITS: Readonly<Record<ProxyLimitName, string>> = {
  maxClients: 'clients',
  maxClientsPerUid: 'clients',
  maxShmTotalAll: 'bytes',
};

/** What the defaults are derived from. */
export interface MachineFacts {
  /** MemTotal from /proc/meminfo, in bytes. */
  readonly memTotalBytes: number;
  /** This process's RLIMIT_NOFILE (soft; Node raises it to the hard limit at start). */
  readonly fdLimit: number;
}

/** Reads /proc/meminfo and /proc/self/limits; conservative stand-ins where unreadable. */
export function readMachineFacts(): MachineFacts {
  let memTotalBytes = 1024 ** 3;
  let fdLimit = 1024;
  try {
    const kib = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
    if (kib !== undefined) memTotalBytes = Number(kib) * 1024;
  } catch {
    // keep the stand-in
  }
  try {
    const soft = /^Max open files\s+(\d+|unlimited)/m.exec(
      readFileSync('/proc/self/limits', 'utf8'),
    )?.[1];
    if (soft !== undefined) fdLimit = soft === 'unlimited' ? MAX_CLIENTS : Number(soft);
  } catch {
    // keep the stand-in
  }
  return { memTotalBytes, fdLimit };
}

/**
 * The defaults for this machine (SECURITY.md argues each):
 * - maxShmTotalAll: a quarter of the machine's memory. Grant extents are shared memory
 *   that nothing else reclaims or swaps out under pressure while the bridge holds it,
 *   so the proxy may take a share, never the machine; a quarter leaves the compositor,
 *   the clients' own copies of the same pixels and everything else the rest.
 * - maxClients: what both the fd table and memory can serve as ordinary clients. A
 *   client costs 2 fds (its socket and its compositor connection) plus 2 per pool in
 *   grant mode; 16 fds covers a client with 7 pools. Its relay buffers cost up to
 *   maxBufferedBytes; an eighth of the memory for all of them. The smaller of the two.
 * - maxClientsPerUid: half of maxClients, so one user (one uid) can never take every
 *   slot: when several users may connect, the others (and root's tools) always find
 *   room; a one-user desktop still gets hundreds of clients on any real machine.
 */
export function defaultProxyLimits(
  machine: MachineFacts,
  clientLimits: Pick<ClientLimits, 'maxBufferedBytes'>,
): { -readonly [K in ProxyLimitName]: number } {
  const page = 4096;
  const maxShmTotalAll = Math.max(page, Math.floor(machine.memTotalBytes / 4 / page) * page);
  const byFds = Math.floor(machine.fdLimit / 16);
  const byMemory = Math.floor(machine.memTotalBytes / 8 / clientLimits.maxBufferedBytes);
  const maxClients = Math.min(MAX_CLIENTS, Math.max(1, Math.min(byFds, byMemory)));
  return { maxClients, maxClientsPerUid: Math.max(1, Math.floor(maxClients / 2)), maxShmTotalAll };
}

/** Proxy limits given to the bridge that are out of range; the message names each field. */
export class InvalidProxyLimitsError extends Error {
  readonly code = 'ERR_INVALID_PROXY_LIMITS';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidProxyLimitsError';
  }
}

/** The machine's defaults with `given` over them, validated. */
export function resolveProxyLimits(
  given: Partial<ProxyLimits>,
  clientLimits: Pick<ClientLimits, 'maxBufferedBytes'>,
  machine: MachineFacts = readMachineFacts(),
): ProxyLimits {
  const defaults = defaultProxyLimits(machine, clientLimits);
  // One uid's share follows the total the operator chose.
  if (given.maxClients !== undefined) {
    defaults.maxClientsPerUid = Math.max(1, Math.floor(given.maxClients / 2));
  }
  const merged = Object.fromEntries(
    Object.entries({ ...defaults, ...given }).map(([k, v]) => [
      k,
      v ?? defaults[k as ProxyLimitName],
    ]),
  );
  const result = proxyLimitsSchema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${i.path.join('.') || 'limits'}: ${i.message}`);
    throw new InvalidProxyLimitsError(`invalid proxy limits: ${lines.join('; ')}`);
  }
  return Object.freeze(result.data);
}
