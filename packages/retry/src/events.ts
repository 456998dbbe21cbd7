import type { BaseEvent } from '@x/core';

/**
 * Why a retry stopped without a value: the three `RetryExhaustedReason`s, plus
 * `'not_retryable'` (the failure was not one to retry; it is rethrown as it is) and `'aborted'`
 * (the caller's context aborted; the caller's reason is rethrown).
 *
 * @example
 * ```ts
 * bus.on('retry.gave_up', (e) => counter.inc({ policy: e.name, reason: e.reason }));
 * ```
 */
export type RetryGiveUpReason = 'exhausted' | 'deadline' | 'budget' | 'not_retryable' | 'aborted';

/**
 * One attempt failed (it threw, rejected, or `retryOnResult` rejected its value). Emitted for
 * every failed attempt, the last one included, before the retry decides what to do next.
 *
 * @example
 * ```ts
 * bus.on('retry.attempt_failed', (e) => log.warn(`${e.name}: attempt ${e.attempt} failed after ${e.durationMs} ms`));
 * ```
 */
export interface RetryAttemptFailedEvent extends BaseEvent {
  readonly type: 'retry.attempt_failed';
  readonly source: 'retry';
  /** The attempt that failed (1 = first call). */
  readonly attempt: number;
  /** What it failed with (an `UnacceptableResultError` for a rejected value). */
  readonly error: unknown;
  /** How long the attempt ran. */
  readonly durationMs: number;
}

/**
 * A retry was decided and its wait starts now.
 *
 * @example
 * ```ts
 * bus.on('retry.scheduled', (e) => backoffSeconds.observe({ policy: e.name }, e.delayMs / 1000));
 * ```
 */
export interface RetryScheduledEvent extends BaseEvent {
  readonly type: 'retry.scheduled';
  readonly source: 'retry';
  /** The attempt that will run after the wait (2 = first retry). */
  readonly attempt: number;
  /** The wait: the backoff's delay, raised to the Retry-After if one was given. */
  readonly delayMs: number;
  /** The Retry-After that was honoured, if the failure carried one. */
  readonly retryAfterMs: number | undefined;
  /** The failure being retried. */
  readonly error: unknown;
}

/**
 * The retry stopped without a value.
 *
 * @example
 * ```ts
 * bus.on('retry.gave_up', (e) => log.error(`${e.name} gave up (${e.reason}) after ${e.attempts} attempts`));
 * ```
 */
export interface RetryGaveUpEvent extends BaseEvent {
  readonly type: 'retry.gave_up';
  readonly source: 'retry';
  /** Calls made, the first one included. */
  readonly attempts: number;
  readonly reason: RetryGiveUpReason;
  /** The last attempt's failure (for `'aborted'`, the caller's abort reason). */
  readonly error: unknown;
  /** Milliseconds spent waiting between attempts. */
  readonly totalDelayMs: number;
}

/**
 * An execution succeeded **after retrying** (`attempts >= 2`). A first-attempt success emits
 * nothing: that path is kept free of event checks so that an unobserved retry costs close to a
 * bare call. Count retries per attempt number from `retry.scheduled` (each carries the attempt it
 * schedules and its delay); count outcomes from this event and `retry.gave_up`.
 *
 * @example
 * ```ts
 * bus.on('retry.succeeded', (e) => recovered.inc({ policy: e.name, attempts: String(e.attempts) }));
 * ```
 */
export interface RetrySucceededEvent extends BaseEvent {
  readonly type: 'retry.succeeded';
  readonly source: 'retry';
  /** Calls made, the successful one included (always >= 2). */
  readonly attempts: number;
  /** Milliseconds spent waiting between attempts. */
  readonly totalDelayMs: number;
}

/**
 * A retry budget refused a retry. `name` is the budget's name; `policy` the retry that asked.
 *
 * @example
 * ```ts
 * bus.on('retry.budget_exhausted', (e) => log.warn(`budget ${e.name} refused a retry of ${e.policy}`));
 * ```
 */
export interface RetryBudgetExhaustedEvent extends BaseEvent {
  readonly type: 'retry.budget_exhausted';
  readonly source: 'retry';
  /** Name of the retry policy whose retry was refused. */
  readonly policy: string;
  /** Executions recorded in the window. */
  readonly calls: number;
  /** Retries granted in the window. */
  readonly retries: number;
  /** Retries the window allows: `ratio × calls + minPerSecond × window seconds`. */
  readonly allowance: number;
}

/**
 * Every event `@x/retry` emits.
 *
 * @example
 * ```ts
 * bus.on('*', (e) => { if (e.source === 'retry') record(e as RetryEvent); });
 * ```
 */
export type RetryEvent =
  | RetryAttemptFailedEvent
  | RetryScheduledEvent
  | RetryGaveUpEvent
  | RetrySucceededEvent
  | RetryBudgetExhaustedEvent;

declare module '@x/core' {
  interface XEventMap {
    'retry.attempt_failed': RetryAttemptFailedEvent;
    'retry.scheduled': RetryScheduledEvent;
    'retry.gave_up': RetryGaveUpEvent;
    'retry.succeeded': RetrySucceededEvent;
    'retry.budget_exhausted': RetryBudgetExhaustedEvent;
  }
}
