import { XError } from '@x/core';

/**
 * How a timeout enforces its deadline; see `TimeoutOptions.strategy`.
 *
 * @example
 * ```ts
 * const strategy: TimeoutStrategy = process.env.HARD_TIMEOUTS ? 'aggressive' : 'cooperative';
 * ```
 */
export type TimeoutStrategy = 'cooperative' | 'aggressive';

/**
 * Fields of a {@link TimeoutError} besides its message (what its constructor takes).
 *
 * @example
 * ```ts
 * const error = new TimeoutError({ policy: 'db', timeoutMs: 500, strategy: 'cooperative', abandoned: false });
 * ```
 */
export interface TimeoutErrorDetails {
  /** Instance name of the timeout policy that fired. */
  readonly policy: string;
  /** Milliseconds the call was given: the policy's `ms`, or less when an outer deadline was earlier. */
  readonly timeoutMs: number;
  /** The strategy of the policy that fired. */
  readonly strategy: TimeoutStrategy;
  /**
   * True when the policy stopped waiting while the work was still running (an aggressive
   * timeout). The `timeout.abandoned_settled` event reports when that work finishes.
   */
  readonly abandoned: boolean;
  /**
   * False when the deadline had already passed before the function was called: the call never
   * reached the dependency, so it says nothing about its health (a breaker ignores it). Default true.
   */
  readonly started?: boolean;
  /** What the function rejected with after its signal aborted, when that was not this error. */
  readonly cause?: unknown;
}

/**
 * The rejection of a call that ran out of time (`code: 'TIMEOUT'`). It is never used for a
 * caller's own abort: that rejects with the caller's `signal.reason`, so the two stay apart.
 * It is also the `reason` of the signal a timed-out function sees.
 *
 * @example
 * ```ts
 * try {
 *   await timeout.execute(({ signal }) => fetch(url, { signal }));
 * } catch (error) {
 *   if (isXError(error, 'TIMEOUT')) console.warn(`gave up after ${error.timeoutMs} ms`);
 *   else throw error; // includes the caller's own abort reason
 * }
 * ```
 */
export class TimeoutError extends XError<'TIMEOUT'> {
  override name = 'TimeoutError';
  /** Instance name of the timeout policy that fired. */
  readonly policy: string;
  /** Milliseconds the call was given: the policy's `ms`, or less when an outer deadline was earlier. */
  readonly timeoutMs: number;
  /** The strategy of the policy that fired. */
  readonly strategy: TimeoutStrategy;
  /** True when the work was still running when the policy gave up on it (aggressive). */
  readonly abandoned: boolean;
  /** False when the deadline had passed before the function was called (it never ran). */
  readonly started: boolean;

  constructor(details: TimeoutErrorDetails) {
    const { policy, timeoutMs, strategy, abandoned } = details;
    const started = details.started !== false;
    super(
      'TIMEOUT',
      started
        ? `${policy}: timed out after ${formatMs(timeoutMs)} ms${abandoned ? ' (the work is still running)' : ''}`
        : `${policy}: the deadline had passed before the call started`,
      'cause' in details ? { cause: details.cause } : undefined,
    );
    this.policy = policy;
    this.timeoutMs = timeoutMs;
    this.strategy = strategy;
    this.abandoned = abandoned;
    this.started = started;
  }
}

// Deadlines from `performance.now()` are fractional; a message needs no more than 3 decimals.
function formatMs(ms: number): string {
  return Number.isInteger(ms) ? String(ms) : ms.toFixed(3).replace(/\.?0+$/, '');
}

declare module '@x/core' {
  interface XErrorMap {
    TIMEOUT: TimeoutError;
  }
}
