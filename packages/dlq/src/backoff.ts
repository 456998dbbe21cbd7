import { MAX_TIMER_MS, checkNumber, readOptions } from '@x/core';

/**
 * Computes the wait before the next processing attempt from the number of failures so far: the
 * failure `add` recorded is the first, so `backoff(1)` is the wait before the first worker
 * attempt and `backoff(n + 1)` the wait after worker attempt `n` failed. The backoffs of
 * `@x/retry` fit (it is called with `(failures, 0, Math.random)`). Return milliseconds; negative
 * values and NaN count as 0, `Infinity` makes the item dead at once.
 *
 * @example
 * ```ts
 * const backoff: DeadLetterBackoff = (failures) => [1_000, 10_000, 60_000][failures - 1] ?? 300_000;
 * ```
 */
export type DeadLetterBackoff = (failures: number, previousDelayMs: number, random: () => number) => number;

/** Options of {@link exponentialJitterBackoff}. */
export interface ExponentialJitterBackoffOptions {
  /** Nominal wait after the first failure, ms. Default 1 000. */
  readonly initialMs?: number;
  /** Cap on the nominal wait, ms. Default 300 000 (5 minutes). */
  readonly maxMs?: number;
  /** Growth per failure. Default 2. */
  readonly multiplier?: number;
}

/**
 * The default backoff: exponential with full jitter (AWS's recommendation against thundering
 * herds): uniform in `[0, min(maxMs, initialMs × multiplier^(failures − 1)))`.
 *
 * @example
 * ```ts
 * createDeadLetterQueue({ name: 'q', backoff: exponentialJitterBackoff({ initialMs: 500, maxMs: 60_000 }) });
 * ```
 */
export function exponentialJitterBackoff(options: ExponentialJitterBackoffOptions = {}): DeadLetterBackoff {
  const owner = 'exponentialJitterBackoff';
  const o = readOptions<ExponentialJitterBackoffOptions>(owner, options, ['initialMs', 'maxMs', 'multiplier']);
  const maxMs = checkNumber(owner, 'maxMs', o.maxMs ?? 300_000, { min: 0, max: MAX_TIMER_MS });
  const initialMs = checkNumber(owner, 'initialMs', o.initialMs ?? Math.min(1_000, maxMs), { min: 0, max: maxMs });
  const multiplier = checkNumber(owner, 'multiplier', o.multiplier ?? 2, { min: 1, max: 1_000 });
  return (failures, _previous, random) => {
    const nominal = initialMs * multiplier ** Math.max(0, failures - 1);
    return random() * (nominal < maxMs ? nominal : maxMs);
  };
}
