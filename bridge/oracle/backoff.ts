// How long to wait before looking at /proc again: the one backoff of the bridge's E3
// poller (shm/mapping-watcher.ts) and of the 'evidence' policy's re-checks in a replay.
// Right after a pool is destroyed the compositor usually unmaps within a roundtrip, but
// a compositor that holds a buffer may keep it for seconds: exponential backoff keeps
// the first looks quick and the long tail cheap. Pure: the caller passes the time in, so
// policies stay replayable and tests need no clock.

export interface BackoffOptions {
  /** First delay, ms (> 0). */
  readonly startMs: number;
  /** Growth per poll (≥ 1). */
  readonly factor: number;
  /** Ceiling, ms (≥ startMs). */
  readonly maxMs: number;
}

/**
 * Sized for the reclaim-latency target: an unmap is seen within one 60 Hz frame (looks
 * 1, 2, 4, 8, 8… ms apart, unless the oracle's CPU budget asks for more).
 */
export const DEFAULT_BACKOFF: BackoffOptions = { startMs: 1, factor: 2, maxMs: 8 };

function validate(options: BackoffOptions): void {
  const { startMs, factor, maxMs } = options;
  if (!(Number.isFinite(startMs) && startMs > 0)) {
    throw new RangeError(`startMs must be > 0, got ${startMs}`);
  }
  if (!(Number.isFinite(factor) && factor >= 1)) {
    throw new RangeError(`factor must be ≥ 1, got ${factor}`);
  }
  if (!(Number.isFinite(maxMs) && maxMs >= startMs)) {
    throw new RangeError(`maxMs must be ≥ startMs, got ${maxMs}`);
  }
}

/** The delay before poll number `attempt` (0-based): min(max, start × factor^attempt). */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  validate(options);
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError(`attempt must be an integer ≥ 0, got ${attempt}`);
  }
  return Math.min(options.maxMs, options.startMs * options.factor ** attempt);
}

/** Successive poll delays for one thing being watched. */
export class Backoff {
  /** Exponent of the next delay; stops growing once the delay reaches maxMs. */
  private step = 0;
  private polls = 0;
  private readonly options: BackoffOptions;

  constructor(options: BackoffOptions = DEFAULT_BACKOFF) {
    validate(options);
    this.options = { ...options };
  }

  /** Polls scheduled since construction or the last reset(). */
  get attempts(): number {
    return this.polls;
  }

  /** The next delay, ms; each call advances (start, start×factor, … capped at max). */
  nextDelay(): number {
    const delay = backoffDelay(this.step, this.options);
    // Once capped, the exponent stays put (factor^step would overflow to Infinity).
    if (delay < this.options.maxMs) this.step++;
    this.polls++;
    return delay;
  }

  /** The time of the next poll, given the current time `nowMs` (any clock, ms). */
  nextAt(nowMs: number): number {
    return nowMs + this.nextDelay();
  }

  /** Back to the start delay (e.g. after new evidence arrived). */
  reset(): void {
    this.step = 0;
    this.polls = 0;
  }
}
