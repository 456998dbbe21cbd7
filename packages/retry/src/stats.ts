import { isXError } from '@x/core';
// Brings the RETRY_EXHAUSTED registration into scope for the `isXError` narrowing below.
import type {} from './errors.js';

/**
 * How much retrying one execution took.
 *
 * @example
 * ```ts
 * const stats: RetryStats | undefined = retryStatsOf(error);
 * ```
 */
export interface RetryStats {
  /** Calls made, the first one included. */
  readonly attempts: number;
  /** Milliseconds spent waiting between attempts (not running them). */
  readonly totalDelayMs: number;
}

/**
 * What `executeWithStats` resolves with.
 *
 * @example
 * ```ts
 * const { value, attempts, totalDelayMs }: RetryResult<User> = await retry.executeWithStats(loadUser);
 * ```
 */
export interface RetryResult<T> extends RetryStats {
  readonly value: T;
}

// Same arrangement as the marks: a WeakMap (nothing retained, user errors untouched) shared by
// every installed copy through a registered symbol, created on first use.
const STATS_KEY = Symbol.for('@x/retry.stats');
type StatsMap = WeakMap<object, RetryStats>;

/** Records the stats of a failed `executeWithStats` call against the error it rejected with. @internal */
export function recordStats(error: unknown, stats: RetryStats): void {
  if ((typeof error !== 'object' || error === null) && typeof error !== 'function') return;
  const holder = globalThis as { [STATS_KEY]?: StatsMap };
  (holder[STATS_KEY] ??= new WeakMap()).set(error as object, stats);
}

/**
 * The stats of a failed `executeWithStats` call, read from the error it rejected with. A
 * `RetryExhaustedError` carries them itself; for errors rethrown as they are (not retryable, the
 * caller's abort reason) they are looked up by identity. Undefined for other errors and for thrown
 * primitives. When one error object is rethrown by several executions, the latest one wins.
 *
 * @example
 * ```ts
 * try { const { value, attempts } = await retry.executeWithStats(load) }
 * catch (e) { metrics.observe(retryStatsOf(e)?.attempts ?? 1) }
 * ```
 */
export function retryStatsOf(error: unknown): RetryStats | undefined {
  if (isXError(error, 'RETRY_EXHAUSTED')) return { attempts: error.attempts, totalDelayMs: error.totalDelayMs };
  if ((typeof error !== 'object' || error === null) && typeof error !== 'function') return undefined;
  const holder = globalThis as { [STATS_KEY]?: StatsMap };
  return holder[STATS_KEY]?.get(error as object);
}
