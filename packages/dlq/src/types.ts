import type { Clock, EventBus } from '@x/core';

/** What happens when `add` finds the queue holding `maxSize` items. */
export type OverflowPolicy = 'reject' | 'drop-oldest';

/**
 * Failure metadata recorded with every item, after the fields Spring Kafka puts in its dead-letter
 * headers. Updated on each failed processing attempt.
 */
export interface FailureInfo {
  /** The error's `name` (`'TypeError'`, `'TimeoutError'`), or `typeof` for a non-error. */
  readonly name: string;
  /** The error's `code`, when it has a string or number one (`'ECONNRESET'`, `'TIMEOUT'`). */
  readonly code: string | undefined;
  readonly message: string;
  /** The stack, capped at 8 kB. */
  readonly stack: string | undefined;
  /** Who recorded the failure: the `source` given to `add`, `'wrap'`, or `'worker'` after a processing attempt. */
  readonly source: string;
  /** Epoch ms of the first recorded failure (the one `add` recorded). */
  readonly firstFailedAt: number;
  /** Epoch ms of the latest failure. */
  readonly lastFailedAt: number;
}

/** Where an item is. `pending` items wait for their due time or are being processed. */
export type DeadLetterState = 'pending' | 'dead';

/** One item of a queue, as `get` and `list` return it. */
export interface DeadLetterRecord<T> {
  readonly id: string;
  /** A JSON copy of the item that was added (or the `transform`ed one after a redrive). */
  readonly item: T;
  readonly state: DeadLetterState;
  /** True while a worker holds it (pending only). */
  readonly inFlight: boolean;
  /** The `key` given to `add` (an entity key, e.g. the cache key of a failed write). */
  readonly key: string | undefined;
  readonly idempotencyKey: string | undefined;
  readonly meta: Readonly<Record<string, unknown>> | undefined;
  readonly failure: FailureInfo;
  /** Processing attempts by workers that failed so far (a crash mid-attempt counts once redelivered). */
  readonly attempts: number;
  /** Epoch ms when it was added. */
  readonly addedAt: number;
  /** Epoch ms when it entered its current state (became pending, or dead). */
  readonly since: number;
  /** Epoch ms of its next processing attempt (pending, not in flight), else undefined. */
  readonly dueAt: number | undefined;
  /** How many times a redrive or `retry` moved it back from dead. */
  readonly revived: number;
}

/** The serialized form of a record's content (`doc`), shared by every store. */
export interface RecordDoc {
  readonly item: unknown;
  readonly key?: string;
  readonly idempotencyKey?: string;
  readonly meta?: Record<string, unknown>;
  readonly failure: FailureInfo;
  readonly attempts: number;
  readonly addedAt: number;
  readonly revived: number;
}

/** Sizes a store reports; pending counts waiting and in-flight items. */
export interface StoreSizes {
  readonly pending: number;
  /** Pending items handed to a worker and not yet finished (or whose lease has not expired). */
  readonly inFlight: number;
  readonly dead: number;
  /** When the oldest pending item became pending (epoch ms), if any. */
  readonly oldestPendingSince: number | undefined;
  /** When the oldest dead item died (epoch ms), if any. */
  readonly oldestDeadSince: number | undefined;
}

/** What `QueueStore.add` did. */
export type StoreAddOutcome =
  | { readonly kind: 'added'; readonly id: string; readonly dropped: { readonly id: string; readonly doc: string } | undefined }
  | { readonly kind: 'duplicate'; readonly id: string }
  | { readonly kind: 'full' };

/** An item handed to a worker. `token` proves the lease when finishing it. */
export interface ClaimedEntry {
  readonly id: string;
  readonly token: string;
  readonly doc: string;
  /** Deliveries of this scheduled attempt: 1, or more when it was reclaimed after a lease expired. */
  readonly deliveries: number;
}

/** What `QueueStore.claim` returns. */
export interface ClaimResult {
  readonly entries: readonly ClaimedEntry[];
  /** Due time of the earliest waiting item after this claim, if any. */
  readonly nextDueAt: number | undefined;
  readonly sizes: StoreSizes;
}

/** One stored entry as the operators see it. */
export interface StoredEntry {
  readonly id: string;
  readonly doc: string;
  readonly state: DeadLetterState;
  readonly inFlight: boolean;
  readonly since: number;
  readonly dueAt: number | undefined;
}

/** A page of entries; `cursor` is undefined on the last page. */
export interface StoredPage {
  readonly entries: readonly StoredEntry[];
  readonly cursor: string | undefined;
}

/** What a store needs from the queue it serves. */
export interface StoreContext {
  readonly queue: string;
  readonly clock: Clock;
  readonly events: EventBus;
}

/**
 * One queue's view of a store. Every method may reject (a Redis store rejects with
 * `DLQ_STORE_UNAVAILABLE` within its `timeoutMs`); none hangs.
 */
export interface QueueStore {
  add(doc: string, idempotencyKey: string | undefined, now: number, dueAt: number, maxSize: number, overflow: OverflowPolicy): Promise<StoreAddOutcome>;
  claim(consumer: string, count: number, now: number, visibilityMs: number): Promise<ClaimResult>;
  /** Removes a processed item; false when the lease was lost (the item moved on or is gone). */
  complete(id: string, token: string): Promise<boolean>;
  /** Puts a failed item back to wait until `dueAt`, with its updated doc. */
  reschedule(id: string, token: string, doc: string, dueAt: number): Promise<boolean>;
  /** Moves a failed item to dead, with its updated doc. */
  bury(id: string, token: string, doc: string, now: number): Promise<boolean>;
  get(id: string): Promise<StoredEntry | undefined>;
  list(state: DeadLetterState, limit: number, cursor: string | undefined): Promise<StoredPage>;
  /**
   * Dead → pending, due at `dueAt`, with `doc` (when given) replacing the stored one. Without a
   * doc, a pending item that is waiting is also made due at `dueAt`. False when there is no such
   * item, it is in flight, or a doc is given and the item is no longer dead (the doc was computed
   * from a dead record that has moved on since: applying it would overwrite a newer record).
   */
  revive(id: string, doc: string | undefined, dueAt: number, now: number): Promise<boolean>;
  /** Deletes an item whatever its state; false when there was none. */
  discard(id: string): Promise<boolean>;
  sizes(now: number): Promise<StoreSizes>;
  /** Releases what the store holds for this queue (timers, listeners); never the data. */
  close(): void;
}

/**
 * Where a queue keeps its items: {@link memoryDlqStore} (in this process) or `redisDlqStore`
 * from `@x/dlq/redis` (durable, shared by processes). One store can serve several queues; each
 * queue binds it under its own name.
 *
 * @example
 * ```ts
 * const dlq = createDeadLetterQueue({ name: 'writes', store: memoryDlqStore() });
 * ```
 */
export interface DeadLetterStore {
  /** `'memory'`, `'redis'`, or a custom store's kind, for logs. */
  readonly kind: string;
  /** Binds the store to one queue. Called once by `createDeadLetterQueue`. */
  bind(context: StoreContext): QueueStore;
}
