import { exponentialBackoff } from './backoff.js';
import type { DescribedBackoff, Jitter } from './backoff.js';

/**
 * A ready-made `maxAttempts` + `backoff` pair; spread it into `createRetry`'s options.
 *
 * @example
 * ```ts
 * const { maxAttempts, backoff } = retryPresets.conservative;
 * ```
 */
export interface RetryPreset {
  /** Counts the first call. */
  readonly maxAttempts: number;
  readonly backoff: DescribedBackoff<'exponential', { initialMs: number; maxMs: number; multiplier: number; jitter: Jitter }>;
}

/**
 * go-cachex's three retry policies, with its numbers: `maxAttempts` counts the first call, delays
 * grow from `initialMs` by `multiplier` up to `maxMs`, and all are jittered. go-cachex only says
 * "jitter: true"; these use `'equal'` jitter, which keeps every delay within [½, 1] of the nominal
 * one, so the documented spacing (first retry ≈ 100 ms for `default`) still holds.
 *
 * | preset | maxAttempts | initialMs | maxMs | multiplier |
 * |---|---|---|---|---|
 * | `default` | 3 | 100 | 5 000 | 2 |
 * | `aggressive` | 5 | 50 | 10 000 | 1.5 |
 * | `conservative` | 2 | 500 | 2 000 | 2 |
 *
 * `createRetry()` without options uses `default`.
 *
 * @example
 * ```ts
 * const retry = createRetry({ ...retryPresets.aggressive, name: 'cache-get' });
 * ```
 */
export const retryPresets: {
  readonly default: RetryPreset;
  readonly aggressive: RetryPreset;
  readonly conservative: RetryPreset;
} = /*#__PURE__*/ Object.freeze({
  default: /*#__PURE__*/ Object.freeze({
    maxAttempts: 3,
    backoff: /*#__PURE__*/ exponentialBackoff({ initialMs: 100, maxMs: 5_000, multiplier: 2, jitter: 'equal' }),
  }),
  aggressive: /*#__PURE__*/ Object.freeze({
    maxAttempts: 5,
    backoff: /*#__PURE__*/ exponentialBackoff({ initialMs: 50, maxMs: 10_000, multiplier: 1.5, jitter: 'equal' }),
  }),
  conservative: /*#__PURE__*/ Object.freeze({
    maxAttempts: 2,
    backoff: /*#__PURE__*/ exponentialBackoff({ initialMs: 500, maxMs: 2_000, multiplier: 2, jitter: 'equal' }),
  }),
});
