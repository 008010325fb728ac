// A small seeded PRNG (mulberry32) so that synthetic traces and the `lazy` remote model
// are the same on every run and every machine: replays must be reproducible to be
// compared, and Math.random cannot be seeded.

export type Random = () => number;

/** Uniform in [0, 1), fully determined by `seed` (any 32-bit integer). */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [min, max]. */
export function randomInt(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** Exponentially distributed with the given mean (inverse transform of u ∈ [0, 1)). */
export function exponential(u: number, mean: number): number {
  return -mean * Math.log(1 - u);
}
