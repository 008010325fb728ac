// What each live buffer has missed since grant mode last copied it (grant-mode.ts, "What
// to copy"). A client draws a frame into a buffer and commits it with the damage
// relative to the frame before, which may have come from another buffer; the extent
// holds what the buffer held at its last copy, so every damage committed on a surface
// since then applies to every other buffer that surface has shown. The ledger keeps that
// damage per buffer and says, at each commit, what the commit must copy.

import { type BufferState, MAX_DAMAGE_RECTS, type PoolState, type Rect } from './state.js';

/** What the ledger keeps per live buffer. */
interface BufferDamage {
  /** Damage the buffer has missed since its last copy; 'full' = copy it whole. */
  pending: Rect[] | 'full';
  /** Surfaces it has been shown on (whose commits grow `pending`). */
  readonly surfaces: Set<number>;
}

export class DamageLedger {
  /**
   * Per buffer committed at least once and not destroyed. Invariant: `missed` and
   * `shownOn` mirror each other, and a buffer leaves both when the client destroys it
   * (a client may create and destroy buffers for ever on one pool).
   */
  private readonly missed = new Map<BufferState, BufferDamage>();
  /** The buffers each surface has shown, whose pending damage its commits grow. */
  private readonly shownOn = new Map<number, Set<BufferState>>();

  /**
   * `buffer` is committed on `surfaceId` with `damage` (buffer coordinates; null: the
   * whole buffer). Returns what the commit must copy — its own damage and all it missed
   * since its last copy; null: the whole buffer (its first commit, or damage that
   * cannot be said in its coordinates) — and counts it as copied from now on.
   */
  committed(surfaceId: number, buffer: BufferState, damage: Rect[] | null): Rect[] | null {
    let shown = this.shownOn.get(surfaceId);
    if (shown === undefined) this.shownOn.set(surfaceId, (shown = new Set()));
    // Everything this surface has shown missed this damage too.
    for (const other of shown) if (other !== buffer) this.addMissed(other, damage, buffer);
    let entry = this.missed.get(buffer);
    if (entry === undefined)
      this.missed.set(buffer, (entry = { pending: 'full', surfaces: new Set() }));
    const missed = entry.pending;
    entry.surfaces.add(surfaceId);
    shown.add(buffer);
    if (missed === 'full' || damage === null) {
      entry.pending = [];
      return null;
    }
    // The commonest case (one buffer per surface, or nothing missed): the commit's own
    // damage as it is, and the empty list kept; no list made per commit.
    if (missed.length === 0) return damage;
    entry.pending = [];
    for (const rect of damage) missed.push(rect);
    return missed;
  }

  bufferDestroyed(buffer: BufferState): void {
    const entry = this.missed.get(buffer);
    if (entry === undefined) return;
    this.missed.delete(buffer);
    for (const surfaceId of entry.surfaces) {
      const shown = this.shownOn.get(surfaceId);
      shown?.delete(buffer);
      if (shown?.size === 0) this.shownOn.delete(surfaceId);
    }
  }

  surfaceDestroyed(surfaceId: number): void {
    for (const buffer of this.shownOn.get(surfaceId) ?? []) {
      this.missed.get(buffer)?.surfaces.delete(surfaceId);
    }
    this.shownOn.delete(surfaceId);
  }

  /** The client let go of `pool`: nothing of it is copied again. */
  poolLetGo(pool: PoolState): void {
    for (const buffer of [...this.missed.keys()]) {
      if (buffer.pool === pool) this.bufferDestroyed(buffer);
    }
  }

  /** Buffers followed (live buffers committed at least once). */
  get size(): number {
    return this.missed.size;
  }

  /** `buffer` (already shown on this surface) missed the damage `from` just committed. */
  private addMissed(buffer: BufferState, damage: Rect[] | null, from: BufferState): void {
    const entry = this.missed.get(buffer);
    if (entry === undefined || entry.pending === 'full') return;
    // Damage in another buffer's coordinates only carries over between equal sizes.
    if (damage === null || from.width !== buffer.width || from.height !== buffer.height) {
      entry.pending = 'full';
      return;
    }
    entry.pending.push(...damage);
    if (entry.pending.length > MAX_DAMAGE_RECTS) entry.pending = 'full';
  }
}
