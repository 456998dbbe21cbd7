/** The fields a preset sets; spread it into {@link createBreaker} options and override what you need. */
export interface BreakerPreset {
  /** Failures in a row that open the circuit. */
  readonly failureThreshold: number;
  /** How long the circuit stays open, in ms. */
  readonly openMs: number;
  /** Limit of running calls (`Infinity`: unlimited). */
  readonly maxConcurrent: number;
  /** Successful half-open probes needed to close. */
  readonly successThreshold: number;
}

/** The presets in {@link breakerPresets}. */
export interface BreakerPresets {
  /** 5 failures in a row, 60 s open, unlimited concurrency, 2 successes to close. */
  readonly default: BreakerPreset;
  /** Fast tripping: 3 failures, 30 s open, at most 100 running calls, 3 successes to close. */
  readonly aggressive: BreakerPreset;
  /** Slow tripping: 10 failures, 120 s open, unlimited concurrency, 5 successes to close. */
  readonly conservative: BreakerPreset;
}

/**
 * Ready-made settings (the numbers of TDTP's `DefaultConfig`, `AggressiveConfig` and
 * `ConservativeConfig`). `createBreaker()` with no trip options behaves like `default`.
 *
 * @example
 * ```ts
 * const api = createBreaker({ ...breakerPresets.aggressive, name: 'api' });
 * const jobs = createBreaker({ ...breakerPresets.conservative, name: 'jobs', halfOpenMax: 2 });
 * ```
 */
export const breakerPresets: BreakerPresets = /*#__PURE__*/ Object.freeze({
  default: /*#__PURE__*/ Object.freeze({ failureThreshold: 5, openMs: 60_000, maxConcurrent: Infinity, successThreshold: 2 }),
  aggressive: /*#__PURE__*/ Object.freeze({ failureThreshold: 3, openMs: 30_000, maxConcurrent: 100, successThreshold: 3 }),
  conservative: /*#__PURE__*/ Object.freeze({ failureThreshold: 10, openMs: 120_000, maxConcurrent: Infinity, successThreshold: 5 }),
});
