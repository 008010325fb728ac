// When a wl_buffer is released. A buffer is "in use" while something of the compositor
// still needs its pixels: a surface's committed state, a surface's displayed (latched)
// state, or a hold slot of the holdBuffers knob. Each of those takes one use; the
// buffer's release is owed from its first use and sent when the count returns to 0 —
// at once, or releaseDelayMs later (knob). A buffer used again before a delayed
// release fires keeps its debt and is not released; a destroyed buffer is never sent
// anything (its object is gone).

import type { Knobs } from './knobs.js';
import type { ShmBuffer } from './shm.js';

export class BufferReleaser {
  /** Releases sent so far (for the control channel's state). */
  released = 0;
  /** Buffers whose delayed release is pending, so shutdown can cancel the timers. */
  readonly #waiting = new Set<ShmBuffer>();

  constructor(private readonly knobs: () => Knobs) {}

  use(buffer: ShmBuffer): void {
    buffer.uses++;
    buffer.owesRelease = true;
    if (buffer.releaseTimer !== null) {
      clearTimeout(buffer.releaseTimer);
      buffer.releaseTimer = null;
      this.#waiting.delete(buffer);
    }
  }

  unuse(buffer: ShmBuffer): void {
    buffer.uses--;
    // Invariant: every unuse matches an earlier use (a bug otherwise, loud).
    if (buffer.uses < 0) throw new Error('buffer use count below zero');
    if (buffer.uses > 0 || !buffer.owesRelease || buffer.destroyed) return;
    const delay = this.knobs().releaseDelayMs;
    // A disconnecting client gets nothing more: no timer for it.
    if (delay === 0 || buffer.resource.client.closed) {
      this.#send(buffer);
      return;
    }
    if (buffer.releaseTimer !== null) return;
    this.#waiting.add(buffer);
    buffer.releaseTimer = setTimeout(() => {
      buffer.releaseTimer = null;
      this.#waiting.delete(buffer);
      if (buffer.uses === 0 && buffer.owesRelease && !buffer.destroyed) this.#send(buffer);
    }, delay);
  }

  /** The buffer is being destroyed: nothing is owed to a dead object. */
  forget(buffer: ShmBuffer): void {
    buffer.owesRelease = false;
    buffer.uses = 0;
    if (buffer.releaseTimer !== null) clearTimeout(buffer.releaseTimer);
    buffer.releaseTimer = null;
    this.#waiting.delete(buffer);
  }

  /** Shutdown: cancels every delayed release. */
  cancelAll(): void {
    for (const buffer of this.#waiting) this.forget(buffer);
  }

  #send(buffer: ShmBuffer): void {
    buffer.owesRelease = false;
    buffer.resource.send('release', []);
    this.released++;
  }
}
