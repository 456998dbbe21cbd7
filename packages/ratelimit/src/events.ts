import type { BaseEvent } from '@x/core';
import type { StoreErrorMode } from './store.js';

/**
 * A request was admitted. `key` is there for logs and debugging only: a metrics exporter must
 * label by `name` (the limiter), never by key, or an attacker controls its cardinality.
 */
export interface RateLimitAllowedEvent extends BaseEvent {
  readonly type: 'ratelimit.allowed';
  readonly source: 'ratelimit';
  readonly key: string;
  readonly cost: number;
  /** Cost units still admissible at once after this request. */
  readonly remaining: number;
  /** How long `acquire` (or the policy) waited for capacity; 0 for `limit()`. */
  readonly waitedMs: number;
  /** Set when the store was unavailable and the decision came from `onStoreError`. */
  readonly degraded: StoreErrorMode | undefined;
}

/**
 * Why a request was not admitted:
 * - `'limited'`: over the limit (for `acquire`, the wait would have exceeded `maxWaitMs` or the
 *   caller's deadline);
 * - `'store_unavailable'`: the store failed and `onStoreError` is `'closed'`;
 * - `'aborted'`: the caller aborted while `acquire` waited.
 *
 * Dashboards use it to tell attack traffic from infrastructure trouble.
 */
export type RateLimitRejectReason = 'limited' | 'store_unavailable' | 'aborted';

/** A request was not admitted. See {@link RateLimitAllowedEvent} about `key`. */
export interface RateLimitRejectedEvent extends BaseEvent {
  readonly type: 'ratelimit.rejected';
  readonly source: 'ratelimit';
  readonly key: string;
  readonly cost: number;
  readonly reason: RateLimitRejectReason;
  /** ms until the request would be admitted (0 for `'aborted'`). */
  readonly retryAfterMs: number;
  /** Set when the store was unavailable and the decision came from `onStoreError`. */
  readonly degraded: StoreErrorMode | undefined;
}

/**
 * The memory table was full and live keys had to be evicted: those keys lost their state (they
 * start fresh). A steady stream of these means `maxKeys` is too small or someone is rotating keys.
 */
export interface RateLimitKeysEvictedEvent extends BaseEvent {
  readonly type: 'ratelimit.keys_evicted';
  readonly source: 'ratelimit';
  /** Live keys evicted by this insertion. */
  readonly evicted: number;
  /** Keys held after the eviction. */
  readonly size: number;
}

/**
 * One store call failed or exceeded `timeoutMs`; the decision came from `onStoreError`. A call
 * that exceeded the deadline, or was not sent because the connection was down, carries a
 * `RATELIMIT_STORE_UNAVAILABLE` error.
 */
export interface RateLimitStoreErrorEvent extends BaseEvent {
  readonly type: 'ratelimit.store_error';
  readonly source: 'ratelimit';
  readonly error: unknown;
  /** True when the call exceeded the store's `timeoutMs`. */
  readonly timedOut: boolean;
  /** Consecutive failures so far, this one included. */
  readonly consecutiveFailures: number;
}

/**
 * The store guard opened: after `failureThreshold` consecutive failures the store is skipped for
 * `cooldownMs` and every decision comes from `onStoreError`, at in-memory cost.
 */
export interface RateLimitStoreDegradedEvent extends BaseEvent {
  readonly type: 'ratelimit.store_degraded';
  readonly source: 'ratelimit';
  readonly mode: StoreErrorMode;
  readonly consecutiveFailures: number;
  /** How long until the next probe of the store. */
  readonly cooldownMs: number;
}

/** A probe succeeded: decisions come from the store again. */
export interface RateLimitStoreRecoveredEvent extends BaseEvent {
  readonly type: 'ratelimit.store_recovered';
  readonly source: 'ratelimit';
  readonly mode: StoreErrorMode;
  /** How long the store was skipped. */
  readonly degradedForMs: number;
}

/** An adaptive rate limiter changed its limiter's limit. */
export interface RateLimitLimitChangedEvent extends BaseEvent {
  readonly type: 'ratelimit.limit_changed';
  readonly source: 'ratelimit';
  readonly from: number;
  readonly to: number;
  /** `'latency'` (over target), `'drops'` (overload signals) or `'headroom'` (under target). */
  readonly reason: 'latency' | 'drops' | 'headroom';
  /** The window's latency percentile, ms. */
  readonly latencyMs: number;
  /** Drops recorded in the window. */
  readonly drops: number;
}

/** Every event `@x/ratelimit` emits. */
export type RateLimitEvent =
  | RateLimitAllowedEvent
  | RateLimitRejectedEvent
  | RateLimitKeysEvictedEvent
  | RateLimitStoreErrorEvent
  | RateLimitStoreDegradedEvent
  | RateLimitStoreRecoveredEvent
  | RateLimitLimitChangedEvent;

declare module '@x/core' {
  interface XEventMap {
    'ratelimit.allowed': RateLimitAllowedEvent;
    'ratelimit.rejected': RateLimitRejectedEvent;
    'ratelimit.keys_evicted': RateLimitKeysEvictedEvent;
    'ratelimit.store_error': RateLimitStoreErrorEvent;
    'ratelimit.store_degraded': RateLimitStoreDegradedEvent;
    'ratelimit.store_recovered': RateLimitStoreRecoveredEvent;
    'ratelimit.limit_changed': RateLimitLimitChangedEvent;
  }
}
