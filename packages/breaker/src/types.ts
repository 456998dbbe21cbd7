import type { Policy } from '@x/core';
import type { BreakerReconfigureOptions } from './options.js';

/**
 * The state of a circuit. `'isolated'` is a manually forced open circuit (`forceOpen()` or an
 * outstanding `isolate()` handle): it refuses every call and never half-opens by itself.
 * `'disabled'` (`disable()`) lets every call through and records nothing; `'metrics_only'`
 * (`metricsOnly()`) lets every call through and records outcomes, stats and events as when
 * closed, but never opens. Both last until `forceClose()`, `reset()` or another manual control.
 */
export type BreakerState = 'closed' | 'open' | 'half_open' | 'isolated' | 'disabled' | 'metrics_only';

/**
 * What an `openMs` function receives besides the streak: the counts at the moment the circuit
 * opens and why it opens (Polly's break-duration generator gets the same: failure count and rate).
 */
export interface BreakerOpenInfo extends BreakerCounts {
  /** How many times in a row the circuit has opened, 1 for the first time (the first argument). */
  readonly consecutiveOpens: number;
  /** The rule or event that opens it. */
  readonly reason: string;
}

/** The counts a custom `shouldTrip` rule sees, taken right after the outcome that triggered it. */
export interface BreakerCounts {
  /** Failures in a row since the last success (closed state). */
  readonly consecutiveFailures: number;
  /** Successes in a row since the last failure (closed state). */
  readonly consecutiveSuccesses: number;
  /** Calls recorded in the window (0 without a window). */
  readonly windowCalls: number;
  /** Failures recorded in the window. */
  readonly windowFailures: number;
  /** Calls in the window that took at least `slowCallMs`. */
  readonly windowSlowCalls: number;
  /** `windowFailures / windowCalls`, 0 when the window is empty. */
  readonly failureRate: number;
  /** `windowSlowCalls / windowCalls`, 0 when the window is empty. */
  readonly slowCallRate: number;
}

/** Lifetime counters of a breaker (since creation or the last `reset()`). */
export interface BreakerTotals {
  /** Every call that asked to run: admitted ones plus rejected ones. */
  readonly requests: number;
  readonly successes: number;
  /** Failures, including expired probe leases. */
  readonly failures: number;
  /** Failures whose error has `code: 'TIMEOUT'`, plus expired probe leases. Included in `failures`. */
  readonly timeouts: number;
  /** Calls refused: open, isolated, half-open full, or over `maxConcurrent`. */
  readonly rejected: number;
  /** Outcomes that did not count: caller aborts, errors `isFailure` rejected, released permits. */
  readonly ignored: number;
  /** Calls (successful or not) that took at least `slowCallMs`. */
  readonly slowCalls: number;
}

/** A point-in-time view of a breaker, for dashboards, health endpoints and scrape-time gauges. */
export interface BreakerStats {
  readonly name: string;
  readonly state: BreakerState;
  readonly totals: BreakerTotals;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
  /** How many times in a row the circuit has opened without closing since (what `openMs(n)` gets). */
  readonly consecutiveOpens: number;
  /** Counts in the current window (zeros without a window). */
  readonly window: { readonly calls: number; readonly failures: number; readonly slowCalls: number };
  /**
   * Failures ÷ (successes + failures): over the window when there is one, else over every call
   * recorded since the breaker was created or `reset()`. 0 when nothing was recorded.
   */
  readonly failureRate: number;
  /** Successes ÷ (successes + failures) over the same calls as `failureRate`; 1 when nothing was recorded. */
  readonly successRate: number;
  /** Slow calls ÷ calls in the window (0 without a window or `slowCallMs`). */
  readonly slowCallRate: number;
  /** True when calls flow normally: closed, `metrics_only` or `disabled`. */
  readonly isHealthy: boolean;
  /** Calls admitted and not yet settled (including late ones from an earlier state). */
  readonly runningCalls: number;
  /** Probe permits in use (half-open only). */
  readonly halfOpenProbes: number;
  /** Milliseconds until the circuit half-opens: 0 unless open; `Infinity` when isolated. */
  readonly timeUntilHalfOpenMs: number;
  /** The last error counted as a failure, or undefined. */
  readonly lastError: unknown;
  /** When the last failure was counted (clock ms), or undefined. */
  readonly lastFailureAt: number | undefined;
  /** When the state last changed (clock ms); the creation time before any change. */
  readonly lastStateChangeAt: number;
}

/**
 * Permission to make one call, from {@link Breaker.tryAcquire}. Report the outcome exactly once;
 * later reports are ignored. A permit taken in the half-open state is a lease: if it is not settled
 * within `probeTimeoutMs`, it counts as a failure and frees its slot.
 */
export interface BreakerPermit {
  /** The call succeeded. */
  success(): void;
  /** The call failed with `error`; it counts only if `isFailure(error)` says so. */
  failure(error: unknown): void;
  /** The call was cancelled or its outcome says nothing about the dependency: returns the permit. */
  ignore(): void;
}

/** A handle from {@link Breaker.isolate}; the circuit stays isolated until every handle is released. */
export interface BreakerIsolation {
  /** Releases this handle. Idempotent; does nothing after `forceClose()` or `reset()`. */
  release(): void;
}

/** Options of {@link Breaker.waitUntilReady}. */
export interface WaitUntilReadyOptions {
  /** Aborting it rejects the wait with `signal.reason` and removes every listener and timer. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Serialized state from {@link Breaker.toJSON}, accepted back as the `initialState` option. Times
 * are in the breaker clock's milliseconds (epoch ms for the system clock).
 */
export interface BreakerSnapshot {
  readonly version: 1;
  /** `'isolated'` only for a `forceOpen()`; `isolate()` handles belong to the process that took them. */
  readonly state: BreakerState;
  /** When an open circuit half-opens, else null. */
  readonly openUntil: number | null;
  readonly consecutiveOpens: number;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
  /** Successful probes so far (half-open). */
  readonly halfOpenSuccesses: number;
  readonly lastStateChangeAt: number;
  readonly lastFailureAt: number | null;
  /** The window's contents, or null without a window. */
  readonly window: BreakerWindowSnapshot | null;
}

/**
 * A window's contents. Count windows list outcomes oldest first (bit 0: failure, bit 1: slow);
 * time windows list non-empty buckets as `[bucketIndex, calls, failures, slowCalls]` where
 * `bucketIndex = floor(time / bucketMs)`.
 */
export type BreakerWindowSnapshot =
  | { readonly kind: 'count'; readonly outcomes: readonly number[] }
  | {
      readonly kind: 'time';
      readonly bucketMs: number;
      readonly buckets: readonly (readonly [number, number, number, number])[];
    };

/**
 * A circuit breaker: a {@link Policy} that stops calling a failing dependency for a while, then
 * lets a few probes through to see whether it recovered.
 */
export interface Breaker extends Policy {
  /** The instance name used in events, errors and stats. */
  readonly name: string;
  /** The current state, computed from timestamps on every read (no timers run). */
  readonly state: BreakerState;
  /**
   * Two-step use for work that is not one function (streams, interceptors): returns a permit when
   * a call may start now, else null (the refusal counts as rejected and emits `breaker.rejected`).
   */
  tryAcquire(): BreakerPermit | null;
  /** Isolates the circuit (refuses every call) until `forceClose()` or `reset()`. Idempotent. */
  forceOpen(): void;
  /** Closes the circuit now, ending any isolation and clearing trip counts; totals are kept. */
  forceClose(): void;
  /** Like `forceClose()`, and also clears totals, `lastError` and the open streak: as new. */
  reset(): void;
  /**
   * Opens the circuit now for `ms` milliseconds (default: what `openMs` gives for the next open),
   * after which it half-opens as usual. Ends isolation, `disabled` and `metrics_only`.
   */
  open(ms?: number): void;
  /** Moves the circuit to half-open now: the next calls are probes. Ends isolation and the other modes. */
  halfOpen(): void;
  /** Lets every call through without recording anything (`'disabled'`) until another manual control. */
  disable(): void;
  /**
   * Lets every call through and records outcomes, stats and events, but never opens
   * (`'metrics_only'`), until another manual control.
   */
  metricsOnly(): void;
  /** Isolates the circuit until the returned handle (and every other one) is released. */
  isolate(): BreakerIsolation;
  /**
   * Resolves when a call would be admitted (closed, or half-open with a free probe permit). It
   * reserves nothing: another caller may take the permit first.
   */
  waitUntilReady(options?: WaitUntilReadyOptions): Promise<void>;
  /** A point-in-time view; see {@link BreakerStats}. */
  stats(): BreakerStats;
  /** Serializable state, to pass back as `initialState` after a restart. */
  toJSON(): BreakerSnapshot;
  /**
   * Changes trip rules, open duration and half-open settings on the live breaker: its state,
   * counts, window and running calls are kept, and the next decision uses the new values (an
   * open circuit keeps its current open period). Throws `INVALID_OPTIONS` and changes nothing
   * when an option is invalid.
   */
  reconfigure(changes: BreakerReconfigureOptions): void;
}
