import { InvalidOptionsError, checkInteger, checkOneOf } from '@x/core';

/**
 * How a limiter decides:
 * - `'gcra'` (default): the generic cell rate algorithm. One number per key, exact, smooth:
 *   `burst` at once, then one every `periodMs / limit`.
 * - `'token-bucket'`: a bucket of `burst` tokens refilled continuously at `limit` per `periodMs`.
 *   Admits exactly what GCRA admits; its state is "tokens left", which some find easier to read.
 * - `'sliding-window'`: the sliding-window counter approximation: the current window's count plus
 *   the previous window's count weighted by how much of it still overlaps the last `periodMs`.
 * - `'fixed-window'`: at most `limit` per window; a key's window starts at its first request.
 */
export type RateLimitAlgorithm = 'gcra' | 'token-bucket' | 'sliding-window' | 'fixed-window';

/**
 * The algorithms, in the order of their internal codes.
 *
 * @example
 * ```ts
 * ALGORITHMS.indexOf('gcra'); // 0
 * ```
 */
export const ALGORITHMS = ['gcra', 'token-bucket', 'sliding-window', 'fixed-window'] as const;

/**
 * What a limiter enforces at one moment. Every decision points at the rule it was made under,
 * and `setLimit` / `setBurst` replace the rule (they never mutate it).
 */
export interface RateLimitRule {
  /** The limiter's name (also the key namespace in a shared store). */
  readonly name: string;
  readonly algorithm: RateLimitAlgorithm;
  /** Requests (cost units) admitted per `periodMs` on average. */
  readonly limit: number;
  readonly periodMs: number;
  /**
   * Most cost units admitted at once (GCRA and token bucket). For the window algorithms it equals
   * `limit`: a window never admits more than `limit`.
   */
  readonly burst: number;
}

/**
 * Largest accepted `limit` and `burst`.
 *
 * @example
 * ```ts
 * createRateLimiter({ limit: MAX_COUNT, periodMs: 3_600_000 });
 * ```
 */
export const MAX_COUNT = 1e9;
/**
 * Longest accepted `periodMs`: one year.
 *
 * @example
 * ```ts
 * createRateLimiter({ limit: 1_000, periodMs: MAX_PERIOD_MS });
 * ```
 */
export const MAX_PERIOD_MS = 365 * 24 * 60 * 60 * 1000;
/**
 * Shortest accepted emission interval (`periodMs / limit`): one decision per microsecond.
 *
 * @example
 * ```ts
 * createRateLimiter({ limit: 1_000, periodMs: 1 }); // the fastest rate accepted
 * ```
 */
export const MIN_INTERVAL_MS = 0.001;

/**
 * A rule plus the numbers every decision needs, computed once per rule. Internal: the engines and
 * stores use it, users see {@link RateLimitRule}.
 *
 * @example
 * ```ts
 * const params = new Params(makeRule('x', 'api', 'gcra', 10, 1_000, undefined));
 * params.interval; // 100
 * ```
 */
export class Params {
  /** Index into {@link ALGORITHMS}. */
  readonly code: number;
  readonly limit: number;
  readonly periodMs: number;
  readonly burst: number;
  /** Largest admissible cost: `burst` for GCRA and token bucket, `limit` for windows. */
  readonly capacity: number;
  /** Emission interval `periodMs / limit`: the time one unit of cost occupies. */
  readonly interval: number;
  /** `1 / interval`: cost units earned per ms (multiplying is cheaper than dividing). */
  readonly rate: number;
  /** GCRA tolerance `burst * interval`: how far ahead of now the schedule may run. */
  readonly tolerance: number;

  constructor(readonly rule: RateLimitRule) {
    this.code = ALGORITHMS.indexOf(rule.algorithm);
    this.limit = rule.limit;
    this.periodMs = rule.periodMs;
    this.burst = rule.burst;
    this.capacity = this.code <= 1 ? rule.burst : rule.limit;
    this.interval = rule.periodMs / rule.limit;
    this.rate = rule.limit / rule.periodMs;
    this.tolerance = rule.burst * this.interval;
  }
}

/**
 * True for the algorithms that take a `burst` (and can reserve future capacity).
 *
 * @example
 * ```ts
 * hasBurst('fixed-window'); // false
 * ```
 */
export function hasBurst(algorithm: RateLimitAlgorithm): boolean {
  return algorithm === 'gcra' || algorithm === 'token-bucket';
}

/**
 * Validates the numbers of a rule and builds it. `burst` undefined means "follow `limit`".
 * Throws `INVALID_OPTIONS` naming the option, range and value.
 *
 * @example
 * ```ts
 * const rule = makeRule('createRateLimiter', 'api', 'gcra', 10, 1_000, 20);
 * ```
 */
export function makeRule(
  owner: string,
  name: string,
  algorithm: unknown,
  limit: unknown,
  periodMs: unknown,
  burst: unknown,
): RateLimitRule {
  const algo = checkOneOf(owner, 'algorithm', algorithm, ALGORITHMS);
  const lim = checkInteger(owner, 'limit', limit, { min: 1, max: MAX_COUNT });
  const period = checkInteger(owner, 'periodMs', periodMs, { min: 1, max: MAX_PERIOD_MS });
  if (period / lim < MIN_INTERVAL_MS) {
    throw new InvalidOptionsError(
      owner,
      'limit',
      lim,
      `at most ${period * 1000} for periodMs ${period} (one decision per microsecond at most)`,
    );
  }
  let b = lim;
  if (burst !== undefined) {
    if (!hasBurst(algo)) {
      throw new InvalidOptionsError(
        owner,
        'burst',
        burst,
        `left out for '${algo}' (only 'gcra' and 'token-bucket' take a burst; a window admits \`limit\` per window)`,
      );
    }
    b = checkInteger(owner, 'burst', burst, { min: 1, max: MAX_COUNT });
  }
  return Object.freeze({ name, algorithm: algo, limit: lim, periodMs: period, burst: b });
}
