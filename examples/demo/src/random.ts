/** A random source in [0, 1), like `Math.random`. */
export type Random = () => number;

/**
 * A small seeded generator (mulberry32). The demo takes a `seed` so a run's story (which calls
 * fail, how slow they are) can be replayed; timing on a busy machine still varies.
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A value in [min, max), skewed towards `min` so most draws are fast and a few form a tail. */
export function skewed(random: Random, min: number, max: number): number {
  const r = random();
  return min + (max - min) * r * r;
}
