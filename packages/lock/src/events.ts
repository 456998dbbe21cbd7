import type { BaseEvent } from '@x/core';
import type { LockFailureReason, LockLostReason } from './errors.js';
import type { ReleaseResult } from './lease.js';
import type { StoreDegradedPayload, StoreErrorPayload, StoreRecoveredPayload } from '@x/core/store';

/**
 * A lease was granted. `key` is there for logs and debugging only: a metrics exporter labels by
 * `name` (the lock), never by key, whose cardinality callers control.
 */
export interface LockAcquiredEvent extends BaseEvent {
  readonly type: 'lock.acquired';
  readonly source: 'lock';
  readonly key: string;
  readonly fence: number;
  /** From the call to the grant, ms (0-ish for an uncontended `tryLock`). */
  readonly waitedMs: number;
  readonly attempts: number;
  /** Validity of the new lease, ms. */
  readonly validityMs: number;
}

/** An attempt found the key held (or the store failing) and `acquire` will try again, or `tryLock` returns null. */
export interface LockContendedEvent extends BaseEvent {
  readonly type: 'lock.contended';
  readonly source: 'lock';
  readonly key: string;
  /** Attempt number, from 1. */
  readonly attempt: number;
  readonly reason: LockFailureReason;
}

/** A lease was released (or found expired at release). */
export interface LockReleasedEvent extends BaseEvent {
  readonly type: 'lock.released';
  readonly source: 'lock';
  readonly key: string;
  readonly fence: number;
  readonly result: ReleaseResult;
  /** From the grant to the release, ms. */
  readonly heldMs: number;
}

/** A lease was extended (by `extend()` or the background extension of `withLock`). */
export interface LockExtendedEvent extends BaseEvent {
  readonly type: 'lock.extended';
  readonly source: 'lock';
  readonly key: string;
  readonly fence: number;
  /** Validity from now, ms. */
  readonly validityMs: number;
}

/**
 * A lease was lost while its holder still had it: its `signal` aborted with a `LockLostError`.
 * Emitted once per lease.
 */
export interface LockLostEvent extends BaseEvent {
  readonly type: 'lock.lost';
  readonly source: 'lock';
  readonly key: string;
  readonly fence: number;
  readonly reason: LockLostReason;
  /** From the grant to the loss, ms. */
  readonly heldMs: number;
}

/** Every lease event `@x/lock` emits (the store events are declared with the stores). */
export type LockEvent = LockAcquiredEvent | LockContendedEvent | LockReleasedEvent | LockExtendedEvent | LockLostEvent;

declare module '@x/core' {
  interface XEventMap {
    'lock.acquired': LockAcquiredEvent;
    'lock.contended': LockContendedEvent;
    'lock.released': LockReleasedEvent;
    'lock.extended': LockExtendedEvent;
    'lock.lost': LockLostEvent;
  }
}

/**
 * One call to a Redis store (or to one Redlock node) failed or missed its deadline. `name` is the
 * store's name; for a Redlock node it is `<name>[<index>]`.
 */
export interface LockStoreErrorEvent extends BaseEvent, StoreErrorPayload {
  readonly type: 'lock.store_error';
  readonly source: 'lock';
}

/** After repeated failures the store (or one Redlock node) is skipped for `cooldownMs`: it answers "unavailable" at once. */
export interface LockStoreDegradedEvent extends BaseEvent, StoreDegradedPayload {
  readonly type: 'lock.store_degraded';
  readonly source: 'lock';
}

/** A probe succeeded: the store (or node) is used again. */
export interface LockStoreRecoveredEvent extends BaseEvent, StoreRecoveredPayload {
  readonly type: 'lock.store_recovered';
  readonly source: 'lock';
}

declare module '@x/core' {
  interface XEventMap {
    'lock.store_error': LockStoreErrorEvent;
    'lock.store_degraded': LockStoreDegradedEvent;
    'lock.store_recovered': LockStoreRecoveredEvent;
  }
}
