// Surface and damage state: what each wl_surface has pending (buffer, damage, scale,
// transform) and what a commit makes current. Pure bookkeeping, kept apart from the
// tracker so that the per-frame path reads in one place; the tracker decides what a
// commit means for pools and evidence.

import type { ArgValue } from '../wire/values.js';
import {
  type BufferState,
  MAX_DAMAGE_RECTS,
  type Rect,
  type SurfaceState,
  damageInBufferCoordinates,
  newSurfaceState,
} from './state.js';

const EVERYTHING: Rect = [0, 0, 0x7fffffff, 0x7fffffff];

/**
 * What a commit does to a surface's content. SurfaceTable.commit returns one object,
 * reused for every commit (a commit per frame per client): valid until the next commit.
 */
export interface CommittedContent {
  /** The buffer now shown, or null (none, or detached). */
  readonly buffer: BufferState | null;
  /** A buffer was attached with this commit (not only damage to the one shown). */
  readonly attached: boolean;
  /** Damage in buffer coordinates; null when it cannot be mapped (or is not tracked). */
  readonly damage: Rect[] | null;
}

type MutableCommittedContent = { -readonly [K in keyof CommittedContent]: CommittedContent[K] };

export class SurfaceTable {
  private readonly surfaces = new Map<number, SurfaceState>();
  /**
   * The surface get() returned last: a frame's requests (attach, damage…, commit) all
   * name one surface, and a flood of damage requests costs one Map lookup each without
   * it. Invariant: `last` is undefined or the entry of surfaces for last.id.
   */
  private last: SurfaceState | undefined;
  /** What commit() returns, reused (see CommittedContent). */
  private readonly committed: MutableCommittedContent = {
    buffer: null,
    attached: false,
    damage: null,
  };

  constructor(
    /** Follow damage requests (see shmInterest, tracker-factory.ts); without it commits report damage null. */
    private readonly trackDamage: boolean,
  ) {}

  /** The state of a surface, made on first use (the relay has validated the id). */
  get(id: number): SurfaceState {
    const last = this.last;
    if (last !== undefined && last.id === id) return last;
    let surface = this.surfaces.get(id);
    if (surface === undefined) {
      surface = newSurfaceState(id);
      this.surfaces.set(id, surface);
    }
    this.last = surface;
    return surface;
  }

  delete(id: number): void {
    this.surfaces.delete(id);
    if (this.last?.id === id) this.last = undefined;
  }

  clear(): void {
    this.surfaces.clear();
    this.last = undefined;
  }

  /**
   * A wl_surface request other than commit and destroy (attach, damage, damage_buffer,
   * set_buffer_scale, set_buffer_transform); `buffer` resolves attach's argument.
   */
  pending(
    id: number,
    name: string,
    a: readonly ArgValue[],
    buffer: (id: number) => BufferState | undefined,
  ): void {
    switch (name) {
      case 'attach':
        this.get(id).pendingBuffer = a[0] === 0 ? null : buffer(a[0] as number);
        break;
      case 'damage':
        addDamage(this.get(id).pendingDamage, a);
        break;
      case 'damage_buffer':
        addDamage(this.get(id).pendingBufferDamage, a);
        break;
      case 'set_buffer_scale':
        this.get(id).pendingScale = a[0] as number;
        break;
      case 'set_buffer_transform':
        this.get(id).pendingTransform = a[0] as number;
        break;
    }
  }

  /** A damage (surface coordinates) or damage_buffer request, its arguments as sent. */
  damage(
    id: number,
    inBufferCoordinates: boolean,
    x: number,
    y: number,
    w: number,
    h: number,
  ): void {
    const surface = this.get(id);
    addRect(inBufferCoordinates ? surface.pendingBufferDamage : surface.pendingDamage, x, y, w, h);
  }

  /** Applies a commit's pending state and says what content it shows. */
  commit(id: number): CommittedContent {
    const surface = this.get(id);
    if (surface.pendingScale !== undefined) surface.scale = surface.pendingScale;
    if (surface.pendingTransform !== undefined) surface.transform = surface.pendingTransform;
    surface.pendingScale = undefined;
    surface.pendingTransform = undefined;
    const attached = surface.pendingBuffer;
    if (attached !== undefined) surface.current = attached;
    const buffer = surface.current;
    const damage =
      buffer !== null && this.trackDamage ? damageInBufferCoordinates(surface, buffer) : null;
    surface.pendingBuffer = undefined;
    // Emptied in place, not replaced: the damage above is a new list of new rectangles,
    // and most commits (every one without tracked damage) have nothing pending.
    clearRects(surface.pendingDamage);
    clearRects(surface.pendingBufferDamage);
    const out = this.committed;
    out.buffer = buffer;
    out.attached = attached !== undefined;
    out.damage = damage;
    return out;
  }
}

/**
 * Adds a damage rectangle to a surface's pending list. Bounded: a client may send
 * damage forever without committing, and the list must not grow with it.
 */
function addDamage(list: Rect[], a: readonly ArgValue[]): void {
  addRect(list, a[0] as number, a[1] as number, a[2] as number, a[3] as number);
}

/**
 * The rectangle is made only once it is kept: a client that floods damage without
 * committing reaches "everything" after MAX_DAMAGE_RECTS, and from then on each of its
 * requests costs a comparison, no allocation (issue 10: no garbage per message).
 */
function addRect(list: Rect[], x: number, y: number, w: number, h: number): void {
  if (list[0] === EVERYTHING) return; // nothing can add to "everything"
  if (list.length >= MAX_DAMAGE_RECTS) {
    list.splice(0, list.length, EVERYTHING);
    return;
  }
  list.push([x, y, w, h]);
}

/** Empties a pending damage list (setting an array's length is a runtime call: skipped when empty). */
function clearRects(list: Rect[]): void {
  if (list.length > 0) list.length = 0;
}
