import { XError } from '@x/core';

/**
 * A health check did not finish within its timeout (`code: 'HEALTH_CHECK_TIMEOUT'`). It is the
 * `error` of the check's status and the `reason` of the signal the check received, so a check
 * that passes its signal on (to `fetch`, a driver) sees why it was aborted.
 *
 * @example
 * ```ts
 * const status = monitor.status('database');
 * if (isXError(status?.error, 'HEALTH_CHECK_TIMEOUT')) console.warn(`slower than ${status.error.timeoutMs} ms`);
 * ```
 */
export class HealthCheckTimeoutError extends XError<'HEALTH_CHECK_TIMEOUT'> {
  override name = 'HealthCheckTimeoutError';
  /** Name of the monitor that ran the check. */
  readonly checker: string;
  /** Name of the check that timed out. */
  readonly check: string;
  /** The timeout it was given, ms. */
  readonly timeoutMs: number;

  constructor(checker: string, check: string, timeoutMs: number) {
    super('HEALTH_CHECK_TIMEOUT', `${checker}: health check "${check}" timed out after ${timeoutMs} ms`);
    this.checker = checker;
    this.check = check;
    this.timeoutMs = timeoutMs;
  }
}

/** Why a threshold check failed: the value was below `min`, above `max`, or not a number at all. */
export type ThresholdViolation = 'below_min' | 'above_max' | 'not_a_number';

/**
 * A threshold check read a value outside `[min, max]`, or something that is not a finite number
 * (`code: 'HEALTH_THRESHOLD'`). The value and the bounds are on the error, so a report or a log
 * line can say by how much.
 *
 * @example
 * ```ts
 * const { error } = monitor.status('queue_depth') ?? {};
 * if (isXError(error, 'HEALTH_THRESHOLD')) console.warn(`queue at ${error.value}, max ${error.max}`);
 * ```
 */
export class ThresholdError extends XError<'HEALTH_THRESHOLD'> {
  override name = 'ThresholdError';
  /** Name of the check. */
  readonly check: string;
  /** What the value function returned (kept as is when it was not a number). */
  readonly value: unknown;
  /** The check's lower bound, if it has one. */
  readonly min: number | undefined;
  /** The check's upper bound, if it has one. */
  readonly max: number | undefined;
  /** Which bound was crossed. */
  readonly violation: ThresholdViolation;

  constructor(check: string, value: unknown, min: number | undefined, max: number | undefined, violation: ThresholdViolation) {
    super('HEALTH_THRESHOLD', thresholdMessage(check, value, min, max, violation));
    this.check = check;
    this.value = value;
    this.min = min;
    this.max = max;
    this.violation = violation;
  }
}

function thresholdMessage(
  check: string,
  value: unknown,
  min: number | undefined,
  max: number | undefined,
  violation: ThresholdViolation,
): string {
  switch (violation) {
    case 'below_min':
      return `"${check}" is ${String(value)}, below the minimum ${String(min)}`;
    case 'above_max':
      return `"${check}" is ${String(value)}, above the maximum ${String(max)}`;
    default:
      return `"${check}" returned ${typeof value === 'number' ? String(value) : typeof value}, not a finite number`;
  }
}

declare module '@x/core' {
  interface XErrorMap {
    HEALTH_CHECK_TIMEOUT: HealthCheckTimeoutError;
    HEALTH_THRESHOLD: ThresholdError;
  }
}

/**
 * A ping check returned (or resolved to) `false` (`code: 'HEALTH_CHECK_FAILED'`). Returning
 * `false` fails a check just as throwing does, so `check: () => redis.status === 'ready'` works.
 *
 * @example
 * ```ts
 * monitor.register({ name: 'redis', check: () => redis.status === 'ready' });
 * // when it is not ready: status('redis').error is a HealthCheckFailedError
 * ```
 */
export class HealthCheckFailedError extends XError<'HEALTH_CHECK_FAILED'> {
  override name = 'HealthCheckFailedError';
  /** Name of the check. */
  readonly check: string;

  constructor(check: string) {
    super('HEALTH_CHECK_FAILED', `health check "${check}" returned false`);
    this.check = check;
  }
}

declare module '@x/core' {
  interface XErrorMap {
    HEALTH_CHECK_FAILED: HealthCheckFailedError;
  }
}
