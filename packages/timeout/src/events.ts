import type { BaseEvent } from '@x/core';
import type { TimeoutStrategy } from './errors.js';

/**
 * A call ran out of time. Emitted when the deadline is enforced: the function's signal aborts
 * (cooperative) or the call rejects (aggressive). A cooperative function that never read
 * `ctx.signal` cannot be told; if it finishes after its deadline the event is emitted then, with
 * `signalled: false`.
 *
 * @example
 * ```ts
 * events.on('timeout.timed_out', (e) => metrics.inc('timeouts', { policy: e.name, strategy: e.strategy }));
 * ```
 */
export interface TimeoutTimedOutEvent extends BaseEvent {
  readonly type: 'timeout.timed_out';
  readonly source: 'timeout';
  /** Milliseconds the call was given (less than the policy's `ms` when an outer deadline was earlier). */
  readonly timeoutMs: number;
  readonly strategy: TimeoutStrategy;
  /** Whether the function had a signal that was aborted (false: it never read `ctx.signal`). */
  readonly signalled: boolean;
}

/**
 * An aggressive timeout stopped waiting for work that is still running, because its deadline
 * passed (`reason: 'timeout'`) or the caller aborted (`reason: 'abort'`). The matching
 * `timeout.abandoned_settled` follows when the work finishes.
 *
 * @example
 * ```ts
 * events.on('timeout.abandoned', (e) => log.warn(`${e.name}: left work running (${e.reason})`));
 * ```
 */
export interface TimeoutAbandonedEvent extends BaseEvent {
  readonly type: 'timeout.abandoned';
  readonly source: 'timeout';
  readonly reason: 'timeout' | 'abort';
  /** Milliseconds the call was given. */
  readonly timeoutMs: number;
}

/**
 * Work that an aggressive timeout had abandoned has finished.
 *
 * @example
 * ```ts
 * events.on('timeout.abandoned_settled', (e) => histogram.observe(e.durationMs, { ok: e.ok }));
 * ```
 */
export interface TimeoutAbandonedSettledEvent extends BaseEvent {
  readonly type: 'timeout.abandoned_settled';
  readonly source: 'timeout';
  /** Milliseconds from the start of the call until the work settled. */
  readonly durationMs: number;
  /** Whether the work fulfilled (true) or rejected (false). */
  readonly ok: boolean;
  /** Why it had been abandoned. */
  readonly reason: 'timeout' | 'abort';
}

/**
 * Every event `@x/timeout` emits.
 *
 * @example
 * ```ts
 * events.on('*', (e) => { if (e.source === 'timeout') log((e as TimeoutEvent).type) });
 * ```
 */
export type TimeoutEvent = TimeoutTimedOutEvent | TimeoutAbandonedEvent | TimeoutAbandonedSettledEvent;

declare module '@x/core' {
  interface XEventMap {
    'timeout.timed_out': TimeoutTimedOutEvent;
    'timeout.abandoned': TimeoutAbandonedEvent;
    'timeout.abandoned_settled': TimeoutAbandonedSettledEvent;
  }
}
