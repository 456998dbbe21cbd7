import type { BaseEvent } from '@x/core';
import type { BreakerState } from './types.js';

/**
 * Why the circuit changed state.
 *
 * - `consecutive_failures`, `failure_rate`, `slow_call_rate`, `custom`: a trip rule fired (closed → open);
 * - `open_elapsed`: `openMs` passed (open → half-open);
 * - `half_open_success`: enough probes succeeded (half-open → closed);
 * - `half_open_failure`, `half_open_slow_call`, `probe_timeout`: a probe failed, was slower than
 *   `slowCallMs`, or outlived its lease (half-open → open);
 * - `force_open`, `isolate`: manual isolation began;
 * - `isolation_released`, `force_close`, `reset`: manual controls that close the circuit;
 * - `manual_open`, `manual_half_open`, `disable`, `metrics_only`: the manual controls `open(ms)`,
 *   `halfOpen()`, `disable()` and `metricsOnly()`.
 */
export type BreakerTransitionReason =
  | 'consecutive_failures'
  | 'failure_rate'
  | 'slow_call_rate'
  | 'custom'
  | 'open_elapsed'
  | 'half_open_success'
  | 'half_open_failure'
  | 'half_open_slow_call'
  | 'probe_timeout'
  | 'force_open'
  | 'isolate'
  | 'isolation_released'
  | 'force_close'
  | 'reset'
  | 'manual_open'
  | 'manual_half_open'
  | 'disable'
  | 'metrics_only';

/** Why a call was refused; `open` covers the isolated state too. */
export type BreakerRejectionReason = 'open' | 'half_open_full' | 'too_many_calls';

/**
 * Why an outcome was ignored (neither a success nor a failure): the caller aborted, `isFailure`
 * said no, a two-step permit was released, or a timeout inside refused to start the call because
 * its deadline had already passed (`TimeoutError.started === false`: the dependency was never asked).
 */
export type BreakerIgnoreReason = 'caller_abort' | 'not_failure' | 'released' | 'not_started';

/**
 * The circuit moved from one state to another. Lazy transitions (open → half-open, a probe lease
 * running out) are emitted when the breaker is next used or read, with `time` set to the moment
 * the transition really happened.
 */
export interface BreakerStateChangeEvent extends BaseEvent {
  readonly type: 'breaker.state_change';
  readonly source: 'breaker';
  readonly from: BreakerState;
  readonly to: BreakerState;
  readonly reason: BreakerTransitionReason;
  /** When `to` is `'open'`: how long it stays open, in ms. Otherwise undefined. */
  readonly openMs: number | undefined;
}

/**
 * A call the breaker admitted succeeded. Success and failure events are reported for calls that
 * started while someone listened to either (their duration needs the start time, and the clock is
 * not read otherwise).
 */
export interface BreakerSuccessEvent extends BaseEvent {
  readonly type: 'breaker.success';
  readonly source: 'breaker';
  /** How long the call ran, in ms. */
  readonly durationMs: number;
  /** The state the call was admitted in: a probe ran in `'half_open'`. */
  readonly state: 'closed' | 'half_open';
  /** True when `slowCallMs` is set and the call took at least that long. */
  readonly slow: boolean;
}

/** A call the breaker admitted failed (an error `isFailure` accepted, or a probe lease ran out). */
export interface BreakerFailureEvent extends BaseEvent {
  readonly type: 'breaker.failure';
  readonly source: 'breaker';
  /** How long the call ran (for a probe timeout: how long its lease lasted), in ms. */
  readonly durationMs: number;
  /** The state the call was admitted in. */
  readonly state: 'closed' | 'half_open';
  /** What the call failed with (a `BreakerProbeTimeoutError` for an expired probe lease). */
  readonly error: unknown;
  /** True for errors with `code: 'TIMEOUT'` and for expired probe leases. */
  readonly timeout: boolean;
  /** True when `slowCallMs` is set and the call took at least that long. */
  readonly slow: boolean;
}

/** A call was refused without running. */
export interface BreakerRejectedEvent extends BaseEvent {
  readonly type: 'breaker.rejected';
  readonly source: 'breaker';
  readonly reason: BreakerRejectionReason;
  /** The breaker's state at the time. */
  readonly state: BreakerState;
  /** The rejection's `retryAfterMs` (undefined for `too_many_calls`). */
  readonly retryAfterMs: number | undefined;
}

/** An admitted call ended in an outcome that does not count: a caller abort, or an error `isFailure` rejected. */
export interface BreakerIgnoredEvent extends BaseEvent {
  readonly type: 'breaker.ignored';
  readonly source: 'breaker';
  readonly reason: BreakerIgnoreReason;
  /** The state the call was admitted in. */
  readonly state: 'closed' | 'half_open';
  /** The error, when there was one (`released` permits have none). */
  readonly error: unknown;
}

/** Every event `@x/breaker` emits. */
export type BreakerEvent =
  | BreakerStateChangeEvent
  | BreakerSuccessEvent
  | BreakerFailureEvent
  | BreakerRejectedEvent
  | BreakerIgnoredEvent;

declare module '@x/core' {
  interface XEventMap {
    'breaker.state_change': BreakerStateChangeEvent;
    'breaker.success': BreakerSuccessEvent;
    'breaker.failure': BreakerFailureEvent;
    'breaker.rejected': BreakerRejectedEvent;
    'breaker.ignored': BreakerIgnoredEvent;
  }
}
