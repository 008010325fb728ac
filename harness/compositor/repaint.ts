// The repaint clock: a fixed-rate "vblank" (default 60 Hz) that runs only while there is
// work (a commit to latch, a frame callback to fire), the way a real compositor idles
// between frames. Ticks stay on the phase of the clock's start, so a client paced by
// frame callbacks sees the same steady period it would see on real hardware.

/** Milliseconds on CLOCK_MONOTONIC, the base weston uses for wl_callback.done. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

export class RepaintClock {
  readonly periodMs: number;
  #timer: NodeJS.Timeout | null = null;
  readonly #origin = performance.now();
  #stopped = false;
  /** Ticks run so far. */
  frames = 0;

  constructor(
    refreshHz: number,
    private readonly onTick: (timeMs: number) => void,
  ) {
    this.periodMs = 1000 / refreshHz;
  }

  /** Makes sure a tick comes at the next vblank (idempotent until it fires). */
  schedule(): void {
    if (this.#timer !== null || this.#stopped) return;
    const now = performance.now();
    const elapsed = now - this.#origin;
    let next = this.#origin + Math.ceil(elapsed / this.periodMs) * this.periodMs;
    if (next - now < 1) next += this.periodMs;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.frames++;
      this.onTick(monotonicMs());
    }, next - now);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
