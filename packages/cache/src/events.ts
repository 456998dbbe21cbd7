import type { BaseEvent } from '@x/core';
import type { StoreDegradedPayload, StoreErrorPayload, StoreRecoveredPayload } from '@x/core/store';

/** Operations reported in `cache.operation` events and in `stats().operations`. */
export type CacheOperation = 'get' | 'getOrSet' | 'set' | 'delete' | 'clear' | 'l2_get' | 'l2_set' | 'l2_delete' | 'load' | 'write_behind';

/**
 * Outcomes of an operation: `hit` (found fresh), `miss` (absent, or loaded), `stale` (a graced
 * value was served), `negative` (a cached "not found"), `error` (failed), `retry` (an L2 attempt
 * after the first, under the store policy), `ok` (a write that succeeded).
 */
export type CacheStatus = 'hit' | 'miss' | 'stale' | 'negative' | 'error' | 'retry' | 'ok';

/**
 * One operation finished, with its duration. Emitted only while someone listens (the metrics
 * exporter does with `durations: true`), so an unobserved cache never reads the clock for it.
 * `key` is deliberately absent: label by `name` and `operation`, never by key.
 */
export interface CacheOperationEvent extends BaseEvent {
  readonly type: 'cache.operation';
  readonly source: 'cache';
  readonly operation: CacheOperation;
  readonly status: CacheStatus;
  readonly durationMs: number;
}

/**
 * Why a value past its TTL (within `graceMs`) was served:
 * - `'swr'`: stale-while-revalidate, a refresh runs in the background;
 * - `'soft_timeout'`: the loader ran past `softTimeoutMs`; it goes on in the background;
 * - `'loader_error'`: the loader failed (stale-if-error);
 * - `'store_error'`: the L2 store failed and there is no loader (`get`);
 * - `'timeout'`: the hard timeout or the wait for another process's load ran out.
 */
export type StaleReason = 'swr' | 'soft_timeout' | 'loader_error' | 'store_error' | 'timeout';

/** A graced (stale) value was served. `key` is for logs only: never a metric label. */
export interface CacheStaleServedEvent extends BaseEvent {
  readonly type: 'cache.stale_served';
  readonly source: 'cache';
  readonly key: string;
  readonly reason: StaleReason;
}

/** A loader failed (or hit its hard timeout). The caller got a graced value or the error. */
export interface CacheLoadErrorEvent extends BaseEvent {
  readonly type: 'cache.load_error';
  readonly source: 'cache';
  readonly key: string;
  readonly error: unknown;
  /** True when a graced value was served instead of the error. */
  readonly servedStale: boolean;
}

/**
 * An L2 call failed (after the store policy gave up) and the cache answered without L2: from L1,
 * the loader, or nothing. The Redis store's own `cache.store_error` events say why each call failed.
 */
export interface CacheL2ErrorEvent extends BaseEvent {
  readonly type: 'cache.l2_error';
  readonly source: 'cache';
  readonly operation: 'l2_get' | 'l2_set' | 'l2_delete' | 'clear';
  readonly error: unknown;
}

/**
 * The invalidation bus may have lost messages: a sequence gap from a publisher (`'gap'`) or the
 * subscriber connection was re-established (`'reconnect'`). Every L1 entry was expired (kept for
 * grace), so nothing stale is served as fresh.
 */
export interface CacheBusGapEvent extends BaseEvent {
  readonly type: 'cache.bus_gap';
  readonly source: 'cache';
  readonly reason: 'gap' | 'reconnect';
}

/** A write-behind write failed; the write was handed to the dead-letter sink, or lost (no sink, or the sink failed). */
export interface CacheWriteFailedEvent extends BaseEvent {
  readonly type: 'cache.write_failed';
  readonly source: 'cache';
  readonly key: string;
  readonly error: unknown;
  readonly deadLettered: boolean;
}

/**
 * A write waiting in the L2 write queue (`l2WriteQueue`) was dropped without reaching L2: the
 * queue was full (`'overflow'`: the oldest goes), the write was older than `maxAgeMs` or past its
 * grace when its turn came (`'expired'`), or it was still queued when the cache closed
 * (`'closed'`). L2 keeps its older entry for the key until that expires. `key` is for logs only.
 */
export interface CacheL2WriteDroppedEvent extends BaseEvent {
  readonly type: 'cache.l2_write_dropped';
  readonly source: 'cache';
  readonly key: string;
  readonly reason: 'overflow' | 'expired' | 'closed';
}

/** The lock failed (not "held": the lock store itself), so this process loaded without it. */
export interface CacheLockErrorEvent extends BaseEvent {
  readonly type: 'cache.lock_error';
  readonly source: 'cache';
  readonly key: string;
  readonly error: unknown;
}

/** One call of `redisCacheStore` (or the invalidation bus) failed or missed its deadline. `name` is the store's. */
export interface CacheStoreErrorEvent extends BaseEvent, StoreErrorPayload {
  readonly type: 'cache.store_error';
  readonly source: 'cache';
}

/** `redisCacheStore` is skipped after repeated failures; the cache answers from L1 and loaders. */
export interface CacheStoreDegradedEvent extends BaseEvent, StoreDegradedPayload {
  readonly type: 'cache.store_degraded';
  readonly source: 'cache';
}

/** `redisCacheStore` answered a probe; calls go to Redis again. */
export interface CacheStoreRecoveredEvent extends BaseEvent, StoreRecoveredPayload {
  readonly type: 'cache.store_recovered';
  readonly source: 'cache';
}

/** Every event `@x/cache` emits. */
export type CacheEvent =
  | CacheOperationEvent
  | CacheStaleServedEvent
  | CacheLoadErrorEvent
  | CacheL2ErrorEvent
  | CacheBusGapEvent
  | CacheWriteFailedEvent
  | CacheL2WriteDroppedEvent
  | CacheLockErrorEvent
  | CacheStoreErrorEvent
  | CacheStoreDegradedEvent
  | CacheStoreRecoveredEvent;

declare module '@x/core' {
  interface XEventMap {
    'cache.operation': CacheOperationEvent;
    'cache.stale_served': CacheStaleServedEvent;
    'cache.load_error': CacheLoadErrorEvent;
    'cache.l2_error': CacheL2ErrorEvent;
    'cache.bus_gap': CacheBusGapEvent;
    'cache.write_failed': CacheWriteFailedEvent;
    'cache.l2_write_dropped': CacheL2WriteDroppedEvent;
    'cache.lock_error': CacheLockErrorEvent;
    'cache.store_error': CacheStoreErrorEvent;
    'cache.store_degraded': CacheStoreDegradedEvent;
    'cache.store_recovered': CacheStoreRecoveredEvent;
  }
}
