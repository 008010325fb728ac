// Per-client limits: how much one client may make the bridge (and, through it, the
// compositor) hold. The bridge is a security boundary (SECURITY.md), so a hostile client
// must run into these rather than into the host's memory or the process's fd table,
// and a client that hits one is disconnected alone, told which limit and its value.
//
// Every limit is checked where the resource comes into being — an object id is
// created, fds arrive, a pool is created or grown — never per relayed message.
// Buffered bytes need no check at all: they live in fixed-size buffers whose sizes are
// derived from maxBufferedBytes (channelCapacities), and the relay never reads more than
// its destination buffer has room for.

import { z } from 'zod';
import { MAX_MESSAGE_SIZE, SERVER_ID_BASE } from '../wire/constants.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** The largest size wl_shm can express (create_pool and resize take an int32). */
export const MAX_SHM_SIZE = 0x7fff_ffff;

/** A channel's input buffer never exceeds this (the relay's historical rx size). */
const MAX_RX_CAPACITY = 64 * KiB;

/**
 * Each limit with its range and default. Ranges keep the relay able to make progress
 * (see channelCapacities) and the numbers meaningful; the defaults are argued in
 * SECURITY.md and summed up here.
 */
export const clientLimitFields = {
  /**
   * Bytes of one wl_shm pool that its live buffers cover (each buffer offset .. offset
   * + stride × height, page-rounded; overlaps counted once), checked at create_buffer —
   * not the declared size: foot declares 512 MiB pools and draws in a few MiB of them.
   * Where the backend grants pools whole (gntalloc), the declared size. 256 MiB holds a
   * double-buffered 8K (7680×4320) ARGB8888 surface in one pool (2 × 132.7 MB), or seven
   * 4K (3840×2160) buffers of 33.2 MB.
   */
  maxPoolSize: z
    .number()
    .int()
    .min(4096)
    .max(MAX_SHM_SIZE)
    .default(256 * MiB),
  /**
   * Bytes the bridge holds for all of a client's pools that are not final yet (alive, or
   * destroyed and still possibly mapped): what their buffers cover, and in grant mode,
   * for a sealed pool, as much again for the client pages the bridge may read in
   * (bridge/shm/accounting.ts). Without it maxPoolSize bounds nothing: maxFds pools of
   * maxPoolSize each. 1 GiB: sixteen 4K (3840×2160) ARGB8888 buffers in sealed pools,
   * thirty-two in unsealed ones; a desktop client shows two or three at a time.
   */
  maxShmTotal: z
    .number()
    .int()
    .min(4096)
    .max(Number.MAX_SAFE_INTEGER)
    .default(1 * GiB),
  /**
   * Declared bytes of all of a client's pools that are not final yet: address space,
   * not memory (a sparse pool costs what its buffers cover, above), which the compositor
   * maps and grant mode maps three times over (the extent, and the client's pool beside
   * it). Each pool is bounded by wl_shm itself (int32, 2 GiB); this bounds their sum.
   * 64 GiB: foot's two 512 MiB pools are 1 GiB, and sixty more pools of that size may
   * wait for the compositor to unmap them during a resize; 192 GiB of the bridge's
   * 128 TiB of address space per client.
   */
  maxShmDeclared: z
    .number()
    .int()
    .min(4096)
    .max(Number.MAX_SAFE_INTEGER)
    .default(64 * GiB),
  /**
   * Object ids a client may have in use at once (live objects, and destroyed ones the
   * compositor has not yet acknowledged). Ordinary clients need far fewer; 32768
   * leaves room for 10 000 buffers and more. Each costs the bridge an entry in
   * its object map, plus the tracker's state for pools, buffers and surfaces.
   */
  maxObjects: z
    .number()
    .int()
    .min(16)
    .max(SERVER_ID_BASE - 1)
    .default(32768),
  /**
   * Fds the bridge holds for a client: received and not yet forwarded, plus those it
   * keeps for each pool (its dup of the client's fd; in grant mode with the memfd
   * backend, the extent's fd too). 1024 is what libwayland-server itself (up to 1.22)
   * can queue from one client (its 4 KiB fd ring); a client needs one or two per pool.
   */
  maxFds: z.number().int().min(32).max(1_000_000).default(1024),
  /**
   * Bytes the bridge buffers for a client, both directions together (input and output
   * buffers of its two sockets). 640 KiB is 64 KiB in + 256 KiB out per direction: a
   * burst of ten thousand small events passes without a stall.
   */
  maxBufferedBytes: z
    .number()
    .int()
    .min(64 * KiB)
    .max(256 * MiB)
    .default(640 * KiB),
  /**
   * How long a client may leave its output buffer full without reading a byte before it
   * is disconnected (0: never). libwayland-server would have disconnected it as soon as
   * its own 4 KiB buffer overflowed; 30 s is lenient to a stopped or busy client.
   */
  stallTimeoutMs: z
    .number()
    .int()
    .min(0)
    .max(24 * 3600 * 1000)
    .default(30_000),
} as const;

export const clientLimitsSchema = z.object(clientLimitFields).strict();

export type ClientLimits = z.infer<typeof clientLimitsSchema>;
export type ClientLimitName = keyof ClientLimits;

export const DEFAULT_CLIENT_LIMITS: ClientLimits = Object.freeze(clientLimitsSchema.parse({}));

/** The unit each limit is counted in, for messages. */
export const LIMIT_UNITS: Readonly<Record<ClientLimitName, string>> = {
  maxPoolSize: 'bytes',
  maxShmTotal: 'bytes',
  maxShmDeclared: 'bytes',
  maxObjects: 'objects',
  maxFds: 'fds',
  maxBufferedBytes: 'bytes',
  stallTimeoutMs: 'ms',
};

/** Limits given to the bridge that are out of range; the message names each field. */
export class InvalidClientLimitsError extends Error {
  readonly code = 'ERR_INVALID_CLIENT_LIMITS';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidClientLimitsError';
  }
}

/** Fills in defaults and validates; throws InvalidClientLimitsError naming the fields. */
export function resolveClientLimits(limits: Partial<ClientLimits> = {}): ClientLimits {
  const result = clientLimitsSchema.safeParse(limits);
  if (result.success) return Object.freeze(result.data);
  const lines = result.error.issues.map((i) => `${i.path.join('.') || 'limits'}: ${i.message}`);
  throw new InvalidClientLimitsError(`invalid client limits: ${lines.join('; ')}`);
}

/**
 * Sizes of each socket's input (rx) and output (tx) buffer: one direction of a session
 * is one socket's rx plus the other's tx, and gets half of maxBufferedBytes. So the
 * bytes a session holds are at most maxBufferedBytes, by construction.
 *
 * Invariants the relay needs to make progress (session.ts, pump): rx ≥ 2 maximal
 * messages, so a partial message always fits; tx ≥ rx + MAX_MESSAGE_SIZE, so once the
 * output has drained there is room for everything the input can hold. The schema's
 * minimum (64 KiB) gives rx = 8 KiB and tx = 24 KiB.
 */
export function channelCapacities(limits: Pick<ClientLimits, 'maxBufferedBytes'>): {
  rx: number;
  tx: number;
} {
  const perDirection = Math.floor(limits.maxBufferedBytes / 2);
  const rx = Math.min(MAX_RX_CAPACITY, Math.floor(perDirection / 4));
  const tx = perDirection - rx;
  if (rx < 2 * MAX_MESSAGE_SIZE || tx < rx + MAX_MESSAGE_SIZE) {
    throw new InvalidClientLimitsError(
      `maxBufferedBytes ${limits.maxBufferedBytes} is too small for the relay`,
    );
  }
  return { rx, tx };
}
