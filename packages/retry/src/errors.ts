import { XError } from '@x/core';

/**
 * Why a retry stopped while the last failure was still retryable:
 * - `'exhausted'`: `maxAttempts` calls were made (the count includes the first call);
 * - `'deadline'`: the next wait would pass the caller's deadline or `maxElapsedMs`, so the retry
 *   gave up at once instead of sleeping and failing later;
 * - `'budget'`: the shared retry budget refused the retry.
 *
 * @example
 * ```ts
 * if (isXError(e, 'RETRY_EXHAUSTED') && e.reason === 'budget') shedLoad();
 * ```
 */
export type RetryExhaustedReason = 'exhausted' | 'deadline' | 'budget';

const REASON_TEXT: Record<RetryExhaustedReason, string> = {
  exhausted: '',
  deadline: '; the next retry would pass the deadline',
  budget: '; the retry budget refused another retry',
};

function messageOf(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const message = (error as { message?: unknown }).message;
    if (typeof message === 'string' && message.length > 0) return message;
  }
  return String(error);
}

/**
 * The retry gave up on a failure it would otherwise have retried. `cause` is the last attempt's
 * error, `attempts` counts every call made (the first one included), `totalDelayMs` sums the waits
 * between them, and `reason` says what stopped it.
 *
 * @example
 * ```ts
 * try { await retry.execute(callApi) }
 * catch (e) {
 *   if (isXError(e, 'RETRY_EXHAUSTED')) log(e.reason, e.attempts, e.cause);
 * }
 * ```
 */
export class RetryExhaustedError extends XError<'RETRY_EXHAUSTED'> {
  override name = 'RetryExhaustedError';
  /** Calls made, the first one included. */
  readonly attempts: number;
  /** Milliseconds spent waiting between attempts (backoff and Retry-After), not running them. */
  readonly totalDelayMs: number;
  /** What stopped the retry. */
  readonly reason: RetryExhaustedReason;
  /** The name of the retry policy that gave up. */
  readonly policy: string;

  constructor(policy: string, attempts: number, totalDelayMs: number, reason: RetryExhaustedReason, lastError: unknown) {
    super(
      'RETRY_EXHAUSTED',
      `retry "${policy}" failed after ${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}` +
        `${REASON_TEXT[reason]}: ${messageOf(lastError)}`,
      { cause: lastError },
    );
    this.attempts = attempts;
    this.totalDelayMs = totalDelayMs;
    this.reason = reason;
    this.policy = policy;
  }
}

/**
 * Stands for a successful value that `retryOnResult` rejected. It becomes the `cause` of the
 * {@link RetryExhaustedError} when the retry runs out on such values, so the last value is
 * reported instead of being lost.
 *
 * @example
 * ```ts
 * catch (e) {
 *   if (isXError(e, 'RETRY_EXHAUSTED') && isXError(e.cause, 'UNACCEPTABLE_RESULT')) show(e.cause.value);
 * }
 * ```
 */
export class UnacceptableResultError extends XError<'UNACCEPTABLE_RESULT'> {
  override name = 'UnacceptableResultError';
  /** The value the attempt returned. */
  readonly value: unknown;
  /** The attempt that returned it (1 = first call). */
  readonly attempt: number;

  constructor(value: unknown, attempt: number) {
    super('UNACCEPTABLE_RESULT', `attempt ${attempt} returned a value that retryOnResult rejected`);
    this.value = value;
    this.attempt = attempt;
  }
}

declare module '@x/core' {
  interface XErrorMap {
    RETRY_EXHAUSTED: RetryExhaustedError;
    UNACCEPTABLE_RESULT: UnacceptableResultError;
  }
}
