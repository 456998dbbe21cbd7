/** Read once: in Node the global `performance` is a getter that costs as much as `now()` itself. */
const perf = performance;

type Immediate = (callback: () => void) => unknown;
const immediate = (globalThis as { setImmediate?: Immediate }).setImmediate;

/** Reads served from the cache before the clock is read again within one turn. */
const REFRESH_EVERY = 64;

let cached = 0;
let valid = false;
let reads = 0;
const invalidate = (): void => {
  valid = false;
};

/**
 * Whether {@link turnNow} can cache (it needs `setImmediate`: Node, Bun, Deno). Elsewhere the
 * limiter reads the clock on every decision.
 *
 * @example
 * ```ts
 * const now = TURN_CLOCK_AVAILABLE ? turnNow : () => performance.now();
 * ```
 */
export const TURN_CLOCK_AVAILABLE = immediate !== undefined;

/**
 * `performance.now()`, cached for the rest of the current event-loop turn and re-read every 64
 * calls: the approximate monotonic time Envoy's dispatcher keeps per loop iteration, or nginx's
 * cached time. Reading the clock costs more than the whole rest of an in-memory decision, and a
 * burst of decisions in one turn needs it once.
 *
 * The cache is dropped by a `setImmediate` scheduled on the first read of a turn, so no timer or
 * immediate exists while nothing reads it. Staleness is bounded by the time the loop spends
 * between two reads in one turn, so a limiter may admit up to `staleness / interval` more than
 * exact GCRA in a window (far below one request for ordinary rates and loops).
 *
 * @example
 * ```ts
 * const t0 = turnNow(); // same value for the rest of this turn (up to 64 reads)
 * ```
 */
export function turnNow(): number {
  if (valid) {
    if (++reads < REFRESH_EVERY) return cached;
    reads = 0;
    return (cached = perf.now());
  }
  valid = true;
  reads = 0;
  (immediate as Immediate)(invalidate);
  return (cached = perf.now());
}

/**
 * `performance.now()` read every time (the `exactTime` option).
 *
 * @example
 * ```ts
 * const now = exactNow();
 * ```
 */
export function exactNow(): number {
  return perf.now();
}
