// The fds that arrived on one stream (SCM_RIGHTS), in arrival order, until a decoded
// message claims them. Fds are not tied to byte positions in the stream — a message's
// fds may arrive with, before or (from a buggy peer) after its bytes — so they wait
// here and the decoder takes them in arg order. Whatever is left on teardown is
// drained and closed by the owner: an fd in this queue is owned by the queue.

import type { FdSource } from './values.js';

export class FdQueue implements FdSource {
  // Invariant: the queued fds are items[head..items.length), oldest first.
  private items: number[] = [];
  private head = 0;

  /** Number of fds waiting. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** Appends fds in arrival order. */
  push(fds: Iterable<number>): void {
    for (const fd of fds) this.items.push(fd);
  }

  /** Removes and returns the oldest fd, or `undefined` when empty. */
  take(): number | undefined {
    if (this.head === this.items.length) return undefined;
    const fd = this.items[this.head++];
    if (this.head === this.items.length) {
      // Empty: reset so the array does not grow forever.
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= 64 && this.head * 2 >= this.items.length) {
      // Mostly consumed prefix: drop it (amortised O(1) per fd).
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return fd;
  }

  /** Removes and returns every queued fd, oldest first (for closing on teardown). */
  drain(): number[] {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }
}
