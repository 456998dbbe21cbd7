import type { BaseEvent } from '@x/core';
import type { StoreDegradedPayload, StoreErrorPayload, StoreRecoveredPayload } from '@x/core/store';

/** An item was recorded (by `add`, a `wrap`ped function, a stage, or a buffered record flushed). */
export interface DeadLetterRecordedEvent extends BaseEvent {
  readonly type: 'dlq.recorded';
  readonly source: 'dlq';
  readonly id: string;
  /** The entity key given to `add`, for logs; metrics never label by it. */
  readonly key: string | undefined;
  /** True when the idempotency key was already known: nothing new was stored, `id` is the existing item. */
  readonly duplicate: boolean;
  /** True when the record had waited in the local buffer because the store was unavailable. */
  readonly fromBuffer: boolean;
}

/**
 * Why an item left (or never entered) the queue without being processed:
 * - `'rejected'`: `add` found the queue full with `overflow: 'reject'` (the caller got `DLQ_FULL`);
 * - `'drop_oldest'`: the queue was full with `overflow: 'drop-oldest'`, this older item made room;
 * - `'buffer_full'`: the store was unavailable and the local buffer was full;
 * - `'closed'`: the queue closed with records still in its local buffer and the store unavailable;
 * - `'unserializable'`: a `wrap`ped function failed with an item JSON cannot represent.
 */
export type DeadLetterDropReason = 'rejected' | 'drop_oldest' | 'buffer_full' | 'closed' | 'unserializable';

/** An item was dropped or refused: counted and reported, never silent. */
export interface DeadLetterDroppedEvent extends BaseEvent {
  readonly type: 'dlq.dropped';
  readonly source: 'dlq';
  readonly reason: DeadLetterDropReason;
  /** The dropped item's id, when it had one. */
  readonly id: string | undefined;
  /** The dropped item (a JSON copy when it came from the store), so a listener can still save it. */
  readonly item: unknown;
}

/** A worker is about to process an item. */
export interface DeadLetterAttemptEvent extends BaseEvent {
  readonly type: 'dlq.attempt';
  readonly source: 'dlq';
  readonly id: string;
  /** 1 for the first processing attempt. */
  readonly attempt: number;
}

/** `process` succeeded: the item was removed. */
export interface DeadLetterSucceededEvent extends BaseEvent {
  readonly type: 'dlq.succeeded';
  readonly source: 'dlq';
  readonly id: string;
  readonly attempt: number;
  /** How long `process` took. */
  readonly durationMs: number;
}

/** `process` failed and the item waits `delayMs` for its next attempt. */
export interface DeadLetterRetryScheduledEvent extends BaseEvent {
  readonly type: 'dlq.retry_scheduled';
  readonly source: 'dlq';
  readonly id: string;
  /** The attempt that failed. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
}

/** An item became dead: kept, no longer processed, until `retry` or `redrive`. */
export interface DeadLetterDeadEvent extends BaseEvent {
  readonly type: 'dlq.dead';
  readonly source: 'dlq';
  readonly id: string;
  readonly attempts: number;
  /** `'max_attempts'`, `'permanent'` (the error was marked permanent) or `'never'` (the backoff returned Infinity). */
  readonly reason: 'max_attempts' | 'permanent' | 'never';
  readonly error: unknown;
}

/** An operator moved items: `retry`, `discard`, or one `redrive` step. */
export interface DeadLetterOperatorEvent extends BaseEvent {
  readonly type: 'dlq.operator';
  readonly source: 'dlq';
  readonly action: 'retry' | 'discard';
  readonly id: string;
}

/** Progress of a `redrive`, after each page of dead items and once at the end (`done: true`). */
export interface DeadLetterRedriveProgressEvent extends BaseEvent {
  readonly type: 'dlq.redrive_progress';
  readonly source: 'dlq';
  /** Dead items looked at so far. */
  readonly scanned: number;
  /** Moved back to pending. */
  readonly moved: number;
  /** Left dead by the filter (or moved on by someone else meanwhile). */
  readonly skipped: number;
  /** `transform` threw or produced an item JSON cannot represent; left dead. */
  readonly failed: number;
  readonly done: boolean;
  /** True when the redrive's signal stopped it. */
  readonly aborted: boolean;
}

/**
 * Recording a failed item did not work (the store was down, the item could not be serialized):
 * what Fluxus logs through its handler-error logger. The item is kept in the local buffer for the
 * next attempt when `buffered` is true.
 */
export interface DeadLetterHandlerErrorEvent extends BaseEvent {
  readonly type: 'dlq.handler_error';
  readonly source: 'dlq';
  readonly error: unknown;
  readonly buffered: boolean;
}

/** A Redis store call failed or exceeded its deadline (`name` is the store's name). */
export interface DeadLetterStoreErrorEvent extends BaseEvent, StoreErrorPayload {
  readonly type: 'dlq.store_error';
  readonly source: 'dlq';
}

/** The store guard opened after repeated failures: calls fail fast for `cooldownMs`. */
export interface DeadLetterStoreDegradedEvent extends BaseEvent, StoreDegradedPayload {
  readonly type: 'dlq.store_degraded';
  readonly source: 'dlq';
}

/** A probe succeeded: the store is used again. */
export interface DeadLetterStoreRecoveredEvent extends BaseEvent, StoreRecoveredPayload {
  readonly type: 'dlq.store_recovered';
  readonly source: 'dlq';
}

/** Every event `@x/dlq` emits. */
export type DeadLetterEvent =
  | DeadLetterRecordedEvent
  | DeadLetterDroppedEvent
  | DeadLetterAttemptEvent
  | DeadLetterSucceededEvent
  | DeadLetterRetryScheduledEvent
  | DeadLetterDeadEvent
  | DeadLetterOperatorEvent
  | DeadLetterRedriveProgressEvent
  | DeadLetterHandlerErrorEvent
  | DeadLetterStoreErrorEvent
  | DeadLetterStoreDegradedEvent
  | DeadLetterStoreRecoveredEvent;

declare module '@x/core' {
  interface XEventMap {
    'dlq.recorded': DeadLetterRecordedEvent;
    'dlq.dropped': DeadLetterDroppedEvent;
    'dlq.attempt': DeadLetterAttemptEvent;
    'dlq.succeeded': DeadLetterSucceededEvent;
    'dlq.retry_scheduled': DeadLetterRetryScheduledEvent;
    'dlq.dead': DeadLetterDeadEvent;
    'dlq.operator': DeadLetterOperatorEvent;
    'dlq.redrive_progress': DeadLetterRedriveProgressEvent;
    'dlq.handler_error': DeadLetterHandlerErrorEvent;
    'dlq.store_error': DeadLetterStoreErrorEvent;
    'dlq.store_degraded': DeadLetterStoreDegradedEvent;
    'dlq.store_recovered': DeadLetterStoreRecoveredEvent;
  }
}
