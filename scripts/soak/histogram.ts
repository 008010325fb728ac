// Latency histograms for the soak run. A 10-minute run with 64 clients yields millions
// of frame-callback samples spread over several processes; keeping every sample and
// shipping it over IPC would cost the load generator more than the bridge it measures.
// Buckets of bounded relative error merge exactly across workers and give p50/p99/max.

/** What crosses the IPC channel: sparse [bucket, count] pairs plus exact extremes. */
export interface HistogramSnapshot {
  readonly buckets: readonly (readonly [number, number])[];
  readonly count: number;
  readonly sumUs: number;
  readonly maxUs: number;
}

// Bucket widths: 1 µs below 1 ms, 10 µs below 100 ms, 1 ms above (capped at 60 s).
const FINE_END = 1_000;
const MID_END = 100_000;
const MID_BASE = FINE_END;
const COARSE_BASE = MID_BASE + (MID_END - FINE_END) / 10;
const CAP_US = 60_000_000;

function bucketOf(us: number): number {
  const v = Math.min(Math.max(us, 0), CAP_US);
  if (v < FINE_END) return Math.floor(v);
  if (v < MID_END) return MID_BASE + Math.floor((v - FINE_END) / 10);
  return COARSE_BASE + Math.floor((v - MID_END) / 1000);
}

/** The middle of a bucket, in µs. */
function valueOf(bucket: number): number {
  if (bucket < MID_BASE) return bucket + 0.5;
  if (bucket < COARSE_BASE) return FINE_END + (bucket - MID_BASE) * 10 + 5;
  return MID_END + (bucket - COARSE_BASE) * 1000 + 500;
}

export class LatencyHistogram {
  readonly #counts = new Map<number, number>();
  #count = 0;
  #sumUs = 0;
  #maxUs = 0;

  get count(): number {
    return this.#count;
  }

  recordMs(ms: number): void {
    const us = ms * 1000;
    const b = bucketOf(us);
    this.#counts.set(b, (this.#counts.get(b) ?? 0) + 1);
    this.#count++;
    this.#sumUs += us;
    if (us > this.#maxUs) this.#maxUs = us;
  }

  merge(s: HistogramSnapshot): void {
    for (const [b, n] of s.buckets) this.#counts.set(b, (this.#counts.get(b) ?? 0) + n);
    this.#count += s.count;
    this.#sumUs += s.sumUs;
    if (s.maxUs > this.#maxUs) this.#maxUs = s.maxUs;
  }

  /** The q-quantile (0..1) in ms, or NaN without samples. */
  quantileMs(q: number): number {
    if (this.#count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    const sorted = [...this.#counts.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const b of sorted) {
      seen += this.#counts.get(b)!;
      if (seen >= rank) return Math.min(valueOf(b), this.#maxUs) / 1000;
    }
    return this.#maxUs / 1000;
  }

  get maxMs(): number {
    return this.#maxUs / 1000;
  }

  get meanMs(): number {
    return this.#count === 0 ? Number.NaN : this.#sumUs / this.#count / 1000;
  }

  snapshot(): HistogramSnapshot {
    return {
      buckets: [...this.#counts.entries()],
      count: this.#count,
      sumUs: this.#sumUs,
      maxUs: this.#maxUs,
    };
  }

  static from(snapshots: readonly HistogramSnapshot[]): LatencyHistogram {
    const h = new LatencyHistogram();
    for (const s of snapshots) h.merge(s);
    return h;
  }
}
