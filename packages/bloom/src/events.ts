import type { BaseEvent } from '@x/core';

/**
 * A caller reported a false positive (`recordFalsePositive()`): the filter said "possibly
 * present", the source of truth said no. Counted in `bloom_filter_false_positives_total`.
 */
export interface BloomFalsePositiveEvent extends BaseEvent {
  readonly type: 'bloom.false_positive';
  readonly source: 'bloom';
  /** False positives recorded on this filter so far, this one included. */
  readonly falsePositives: number;
}

/**
 * A filter now holds more items than it was sized for: its false-positive rate climbs above the
 * target from here on. Emitted once per filter (again after `clear()`). A scalable filter never
 * emits it: it adds a stage instead.
 */
export interface BloomCapacityExceededEvent extends BaseEvent {
  readonly type: 'bloom.capacity_exceeded';
  readonly source: 'bloom';
  readonly items: number;
  readonly capacity: number;
  /** The estimated false-positive rate at the moment the capacity was passed. */
  readonly estimatedFpr: number;
}

/** A scalable filter's last stage filled up and a larger, tighter one was added. */
export interface BloomStageAddedEvent extends BaseEvent {
  readonly type: 'bloom.stage_added';
  readonly source: 'bloom';
  /** Index of the new stage (the first one is 0). */
  readonly stage: number;
  /** Items the new stage holds at its own rate. */
  readonly capacity: number;
  /** The new stage's false-positive rate. */
  readonly falsePositiveRate: number;
}

/**
 * A Redis filter was opened: it either created the filter (metadata written, bits pre-allocated
 * when asked) or found one with the same parameters.
 */
export interface BloomOpenedEvent extends BaseEvent {
  readonly type: 'bloom.opened';
  readonly source: 'bloom';
  /** True when this call created the filter. */
  readonly created: boolean;
  /** Bytes pre-allocated on the server by this call (0 when nothing was allocated). */
  readonly preallocatedBytes: number;
}

/** One Redis call of a filter failed, timed out or was skipped while the store was degraded. */
export interface BloomStoreErrorEvent extends BaseEvent {
  readonly type: 'bloom.store_error';
  readonly source: 'bloom';
  readonly error: unknown;
  readonly timedOut: boolean;
  readonly consecutiveFailures: number;
}

/** After repeated failures the Redis filter skips the server for `cooldownMs`. */
export interface BloomStoreDegradedEvent extends BaseEvent {
  readonly type: 'bloom.store_degraded';
  readonly source: 'bloom';
  readonly mode: string;
  readonly consecutiveFailures: number;
  readonly cooldownMs: number;
}

/** A probe succeeded: the Redis filter answers from the server again. */
export interface BloomStoreRecoveredEvent extends BaseEvent {
  readonly type: 'bloom.store_recovered';
  readonly source: 'bloom';
  readonly mode: string;
  readonly degradedForMs: number;
}

/** Every event `@x/bloom` emits. */
export type BloomEvent =
  | BloomFalsePositiveEvent
  | BloomCapacityExceededEvent
  | BloomStageAddedEvent
  | BloomOpenedEvent
  | BloomStoreErrorEvent
  | BloomStoreDegradedEvent
  | BloomStoreRecoveredEvent;

declare module '@x/core' {
  interface XEventMap {
    'bloom.false_positive': BloomFalsePositiveEvent;
    'bloom.capacity_exceeded': BloomCapacityExceededEvent;
    'bloom.stage_added': BloomStageAddedEvent;
    'bloom.opened': BloomOpenedEvent;
    'bloom.store_error': BloomStoreErrorEvent;
    'bloom.store_degraded': BloomStoreDegradedEvent;
    'bloom.store_recovered': BloomStoreRecoveredEvent;
  }
}
