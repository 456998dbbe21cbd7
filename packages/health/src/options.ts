import { InvalidOptionsError, checkInteger } from '@x/core';
import type { Clock, EventBus } from '@x/core';

// Validators core does not have (yet); every factory of this package needs them. Each throws
// `INVALID_OPTIONS` naming the factory, the option, the allowed range and the value.

/**
 * Returns `value` when it is an SLO target strictly between 0 and 1 (0.999 = 99.9 %). Both ends
 * are excluded: an SLO of 1 leaves no error budget (every ratio divides by zero) and 0 is no
 * objective at all.
 *
 * @example
 * ```ts
 * const slo = checkSlo('createErrorBudget', options.slo);
 * ```
 */
export function checkSlo(owner: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0 && value < 1)) {
    throw new InvalidOptionsError(owner, 'slo', value, 'a number in (0, 1), e.g. 0.999 for 99.9 %');
  }
  return value;
}

/**
 * Returns `value` when it is a whole number of milliseconds in [1, max].
 *
 * @example
 * ```ts
 * const windowMs = checkDuration('createErrorBudget', 'windowMs', options.windowMs);
 * ```
 */
export function checkDuration(owner: string, option: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  return checkInteger(owner, option, value, { min: 1, max });
}

/**
 * `value`, or `fallback` when it is undefined. Unlike `??`, a `null` is kept, so validation
 * rejects it instead of quietly using the default.
 *
 * @example
 * ```ts
 * const intervalMs = checkDuration(OWNER, 'intervalMs', or(options.intervalMs, 10_000));
 * ```
 */
export function or<T>(value: T | undefined, fallback: T): T {
  return value === undefined ? fallback : value;
}

