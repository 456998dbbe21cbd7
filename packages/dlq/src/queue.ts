import {
  InvalidOptionsError,
  MAX_TIMER_MS,
  checkClock,
  checkEvents,
  checkFunction,
  checkInteger,
  checkOneOf,
  checkString,
  describeValue,
  invoke,
  isAbortError,
  isAbortedByCaller,
  isXError,
  readOptions,
  sleep,
  toContext,
  toOutcome,
  toPromise,
  trackInstance,
  unrefTimer,
} from '@x/core';
import type { Clock, EventBus, ExecuteOptions, Outcome, Policy, PolicyFn, TimerHandle, XEvent } from '@x/core';
import { exponentialJitterBackoff } from './backoff.js';
import type { DeadLetterBackoff } from './backoff.js';
import { decodeDoc, encodeDoc, encodeNewDoc, failureInfo } from './doc.js';
import { DeadLetterInvalidItemError, DeadLetterQueueClosedError, DeadLetterQueueFullError } from './errors.js';
import type { DeadLetterDropReason } from './events.js';
import { memoryDlqStore } from './memory-store.js';
import type {
  ClaimedEntry,
  DeadLetterRecord,
  DeadLetterState,
  DeadLetterStore,
  FailureInfo,
  OverflowPolicy,
  QueueStore,
  RecordDoc,
  StoreSizes,
  StoredEntry,
} from './types.js';

/** What `process` receives besides the item. */
export interface ProcessContext {
  /** The item's id in the queue. */
  readonly id: string;
  /** 1 for the first processing attempt (a delivery that a crashed worker never finished counts). */
  readonly attempt: number;
  readonly key: string | undefined;
  readonly idempotencyKey: string | undefined;
  readonly meta: Readonly<Record<string, unknown>> | undefined;
  /** The latest recorded failure. */
  readonly failure: FailureInfo;
  /** Aborts when the queue is closed without draining. */
  readonly signal: AbortSignal;
}

/** Options of {@link createDeadLetterQueue}. */
export interface DeadLetterQueueOptions<T> {
  /** Queue name: events, metrics and the store's keys use it. Default `'dlq'`. */
  readonly name?: string;
  /** Where items live. Default a new {@link memoryDlqStore}. */
  readonly store?: DeadLetterStore;
  /**
   * Reprocesses one item; resolve to remove it, throw to schedule another attempt (or to make it
   * dead). Without it the queue only stores items for the operators (`list`, `redrive`, ...) and
   * `start()` throws. Must be idempotent: delivery is at least once.
   */
  readonly process?: (item: T, ctx: ProcessContext) => unknown;
  /** Wait before the next attempt, from the number of failures so far. Default exponential with full jitter from 1 s to 5 min. */
  readonly backoff?: DeadLetterBackoff;
  /** Processing attempts before an item is dead (kept, not processed). Integer >= 1 or Infinity. Default 5. */
  readonly maxAttempts?: number;
  /** Items held (pending and dead). Integer >= 1 or Infinity. Default 100 000. */
  readonly maxSize?: number;
  /** What `add` does when the queue is full. Default `'reject'` (`DLQ_FULL`). */
  readonly overflow?: OverflowPolicy;
  /** Items processed at once by this queue's workers. Default 4. */
  readonly concurrency?: number;
  /**
   * How long a worker owns an item it took. An item whose worker died (or hangs) is delivered again
   * after this. Make it longer than `process` ever takes. Default 30 000.
   */
  readonly visibilityMs?: number;
  /**
   * Longest wait between two polls of a shared (Redis) store while started, ms: items other
   * processes add and leases that expire are found within it. Default 1 000. A memory store is not
   * polled while nothing is due.
   */
  readonly pollIntervalMs?: number;
  /** Whether an error from `process` skips the remaining attempts. Default: `PermanentFailureError` (`DLQ_PERMANENT`). */
  readonly isPermanent?: (error: unknown) => boolean;
  /**
   * What `add` does when the store fails: `'reject'` (default; `DLQ_STORE_UNAVAILABLE` within the
   * store's deadline) or `'buffer'` (keep the item in the local buffer, resolve with a `local:` id,
   * record it once the store answers). A `wrap`ped function and a stage always buffer.
   */
  readonly onStoreError?: 'reject' | 'buffer';
  /** Records held in memory while the store is unavailable. Beyond it they are dropped, counted and emitted. Default 1 000. */
  readonly bufferSize?: number;
  readonly clock?: Clock;
  readonly events?: EventBus;
}

/** Options of {@link DeadLetterQueue.add}. */
export interface AddOptions {
  /** The failure to record (any thrown value). */
  readonly error?: unknown;
  /** The entity the item is about (a cache key, an order id): kept for operators and filters. */
  readonly key?: string;
  /** Adding twice with the same key stores the item once and returns the first id (until it is processed or discarded). */
  readonly idempotencyKey?: string;
  /** Small JSON-serializable facts to keep with the item. */
  readonly meta?: Record<string, unknown>;
  /** Who failed: kept in the failure metadata. Default `'add'`. */
  readonly source?: string;
}

/** Options of {@link DeadLetterQueue.wrap}. */
export interface WrapOptions {
  /** Which failures are recorded. Default: all but caller aborts, `BREAKER_OPEN` and `INVALID_OPTIONS`. */
  readonly shouldDeadLetter?: (error: unknown) => boolean;
  /**
   * Called when recording fails (store down, item not serializable), with the recording error, the
   * item and the original error. The item stays in the local buffer for the next attempt to
   * record. What it throws is ignored.
   */
  readonly onHandlerError?: (error: unknown, item: unknown, original: unknown) => void;
  /** Key stored with each item, computed from it. */
  readonly keyOf?: (item: never) => string | undefined;
  /** Idempotency key computed from each item. */
  readonly idempotencyKeyOf?: (item: never) => string | undefined;
}

/** Options of {@link DeadLetterQueue.list}. */
export interface ListOptions {
  /** Default `'dead'`. */
  readonly state?: DeadLetterState;
  /** Page size, 1..1000. Default 100. */
  readonly limit?: number;
  /** The `cursor` of the previous page. */
  readonly cursor?: string;
}

/** A page of {@link DeadLetterQueue.list}. */
export interface ListPage<T> {
  readonly items: readonly DeadLetterRecord<T>[];
  /** Pass it back for the next page; undefined on the last one. */
  readonly cursor: string | undefined;
}

/** Options of {@link DeadLetterQueue.redrive}. */
export interface RedriveOptions<T> {
  /** Which dead items to move back. Default all. */
  readonly filter?: (record: DeadLetterRecord<T>) => boolean;
  /** Replaces the item before it is processed again (fix a bad payload). */
  readonly transform?: (record: DeadLetterRecord<T>) => T;
  /** Moves per second at most. Default Infinity. */
  readonly ratePerSecond?: number;
  /** Stops the redrive; it resolves with what it did so far and `aborted: true`. */
  readonly signal?: AbortSignal;
  /** Moves at most this many items. Default Infinity. */
  readonly limit?: number;
}

/** What a {@link DeadLetterQueue.redrive} did. */
export interface RedriveResult {
  readonly scanned: number;
  readonly moved: number;
  readonly skipped: number;
  readonly failed: number;
  readonly aborted: boolean;
}

/** Counts since the queue was created (this process only). */
export interface DeadLetterTotals {
  /** Items recorded (`dlq_failed_operations_total`). */
  readonly recorded: number;
  /** `add`s answered with an existing item by idempotency key. */
  readonly duplicates: number;
  /** Processing attempts (`dlq_retried_operations_total`). */
  readonly attempts: number;
  /** Items processed successfully (`dlq_succeeded_operations_total`). */
  readonly succeeded: number;
  /** Items that became dead. */
  readonly dead: number;
  /** Items dropped or refused, by reason (`dlq_dropped_operations_total`). */
  readonly dropped: Readonly<Record<DeadLetterDropReason, number>>;
  /** Dead items moved back by `retry` or `redrive`. */
  readonly revived: number;
  readonly discarded: number;
  /** Store calls that failed. */
  readonly storeErrors: number;
}

/** Sizes and totals of a queue. */
export interface DeadLetterStats {
  /** Pending items (waiting or in flight). */
  readonly pending: number;
  readonly inFlight: number;
  readonly dead: number;
  /** Age of the oldest pending item, counted from when it became pending (0 when none). */
  readonly oldestPendingAgeMs: number;
  /** Age of the oldest dead item, counted from its death (0 when none). */
  readonly oldestDeadAgeMs: number;
  /** Records waiting in the local buffer for the store. */
  readonly buffered: number;
  /** Items this queue's workers are running now. */
  readonly running: number;
  readonly totals: DeadLetterTotals;
  /** When the sizes were read from the store (epoch ms); `snapshot` may be older than `stats()`. */
  readonly sizesAt: number;
}

/** Options of {@link DeadLetterQueue.close}. */
export interface CloseOptions {
  /**
   * True: keep processing until no item is due, then close. False (default): stop taking items,
   * abort the running ones' signals and wait for them to settle.
   */
  readonly drain?: boolean;
}

/**
 * A dead-letter queue: records failed items with their failure, reprocesses them with backoff, and
 * lets operators look, retry, discard and redrive.
 */
export interface DeadLetterQueue<T> {
  readonly name: string;
  /**
   * Records a failed item; resolves with its id (the existing id for a known idempotency key).
   * Rejects with `DLQ_FULL`, `DLQ_INVALID_ITEM`, `DLQ_STORE_UNAVAILABLE` (within the store's
   * deadline) or `DLQ_CLOSED`.
   */
  add(item: T, options?: AddOptions): Promise<string>;
  /**
   * Fluxus's dead-letter stage: the returned function runs `fn(item)`; when it fails with an error
   * that `shouldDeadLetter` accepts, the item is recorded, then the call rejects with the original
   * error. Recording failures go to `onHandlerError` and the item waits in the local buffer.
   */
  wrap<A extends T, R>(fn: (item: A) => R | PromiseLike<R>, options?: WrapOptions): (item: A) => Promise<R>;
  /** A `Policy` for `compose` that records `item` when the composed call fails. */
  stage(item: T, options?: WrapOptions): Policy;
  /** Starts this queue's workers (requires `process`). Idempotent. */
  start(): void;
  /** Stops taking items; resolves once the running ones finished. */
  stop(): Promise<void>;
  /** Stops workers (see {@link CloseOptions}), flushes the local buffer once, releases timers. */
  close(options?: CloseOptions): Promise<void>;
  list(options?: ListOptions): Promise<ListPage<T>>;
  get(id: string): Promise<DeadLetterRecord<T> | undefined>;
  /** Dead → pending (attempts reset), due now; a waiting item is made due now. False when unknown or in flight. */
  retry(id: string): Promise<boolean>;
  /** Deletes an item whatever its state. False when unknown. */
  discard(id: string): Promise<boolean>;
  /** Moves dead items back to pending at a bounded rate, with progress events. */
  redrive(options?: RedriveOptions<T>): Promise<RedriveResult>;
  /** Reads sizes from the store. */
  stats(): Promise<DeadLetterStats>;
  /** The last known stats without a store call (sizes as of the last poll or `stats()`); metrics read this. */
  readonly snapshot: DeadLetterStats;
}

/**
 * The small interface a producer of failed work needs (`@x/cache` takes one for write-behind).
 *
 * @example
 * ```ts
 * const sink: DeadLetterSink<Write> = dlq; // any DeadLetterQueue<Write> is one
 * await sink.add(write, { error, key: write.key, idempotencyKey: write.id });
 * ```
 */
export interface DeadLetterSink<T> {
  add(item: T, options?: AddOptions): Promise<string>;
}

const OWNER = 'createDeadLetterQueue';
const KNOWN: readonly string[] = [
  'name',
  'store',
  'process',
  'backoff',
  'maxAttempts',
  'maxSize',
  'overflow',
  'concurrency',
  'visibilityMs',
  'pollIntervalMs',
  'isPermanent',
  'onStoreError',
  'bufferSize',
  'clock',
  'events',
];
const ADD_KEYS: readonly string[] = ['error', 'key', 'idempotencyKey', 'meta', 'source'];
const WRAP_KEYS: readonly string[] = ['shouldDeadLetter', 'onHandlerError', 'keyOf', 'idempotencyKeyOf'];
const MAX_KEY_LENGTH = 4_096;

/**
 * The default `shouldDeadLetter`: every failure except a caller's abort, an open circuit
 * (`BREAKER_OPEN`: the call never ran) and `INVALID_OPTIONS` (a bug to fix, not an item to replay).
 *
 * @example
 * ```ts
 * dlq.wrap(fn, { shouldDeadLetter: (e) => defaultShouldDeadLetter(e) && !isValidationError(e) });
 * ```
 */
export function defaultShouldDeadLetter(error: unknown): boolean {
  return !isAbortError(error) && !isXError(error, 'BREAKER_OPEN') && !isXError(error, 'INVALID_OPTIONS');
}

const isPermanentByDefault = (error: unknown): boolean => isXError(error, 'DLQ_PERMANENT');

function emptyDropped(): Record<DeadLetterDropReason, number> {
  return { rejected: 0, drop_oldest: 0, buffer_full: 0, closed: 0, unserializable: 0 };
}

function consumerId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  return typeof c?.randomUUID === 'function' ? c.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function checkKey(method: string, option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_KEY_LENGTH) {
    throw new DeadLetterInvalidItemError(`${method}: ${option} must be a non-empty string of at most ${MAX_KEY_LENGTH} characters, got ${describeValue(value)}`);
  }
  return value;
}

function checkMeta(method: string, value: unknown): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DeadLetterInvalidItemError(`${method}: meta must be a plain object, got ${describeValue(value)}`);
  }
  return value as Record<string, unknown>;
}

interface Buffered {
  readonly doc: string;
  readonly key: string | undefined;
  readonly idempotencyKey: string | undefined;
  readonly item: unknown;
}

class Queue<T> implements DeadLetterQueue<T> {
  readonly name: string;
  readonly #store: QueueStore;
  readonly #process: ((item: T, ctx: ProcessContext) => unknown) | undefined;
  readonly #backoff: DeadLetterBackoff;
  readonly #maxAttempts: number;
  readonly #maxSize: number;
  readonly #overflow: OverflowPolicy;
  readonly #concurrency: number;
  readonly #visibilityMs: number;
  readonly #pollIntervalMs: number;
  readonly #shared: boolean;
  readonly #isPermanent: (error: unknown) => boolean;
  readonly #onStoreError: 'reject' | 'buffer';
  readonly #bufferSize: number;
  readonly #clock: Clock;
  readonly #events: EventBus;
  readonly #consumer = consumerId();
  readonly #untrack: () => void;

  #running = false;
  #closed = false;
  #active = 0;
  #polling = false;
  #pollAgain = false;
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  #abort: AbortController | undefined;
  #idleWaiters: Array<() => void> = [];
  #buffer: Buffered[] = [];
  #flushing: Promise<void> | undefined;
  /** Recordings (add, wrap, stage) still waiting on the store: close() lets them settle before its last flush. */
  readonly #recording = new Set<Promise<unknown>>();
  /** The poll in progress, if any: stop() and close() wait for it so no claim lands after them. */
  #pollDone: Promise<void> | undefined;
  /** True while close({ drain: true }) processes what is due (workers are stopped, claims are wanted). */
  #draining = false;
  /** True once close() began aborting processors: an attempt they abandon is handed back, not counted. */
  #closing = false;
  #localIds = 0;
  #sizes: StoreSizes = { pending: 0, inFlight: 0, dead: 0, oldestPendingSince: undefined, oldestDeadSince: undefined };
  #sizesAt = 0;
  readonly #totals = {
    recorded: 0,
    duplicates: 0,
    attempts: 0,
    succeeded: 0,
    dead: 0,
    dropped: emptyDropped(),
    revived: 0,
    discarded: 0,
    storeErrors: 0,
  };

  constructor(options: DeadLetterQueueOptions<T> | undefined) {
    const o = readOptions<DeadLetterQueueOptions<T>>(OWNER, options, KNOWN);
    this.name = checkString(OWNER, 'name', o.name ?? 'dlq');
    const store = o.store ?? memoryDlqStore();
    if (typeof store !== 'object' || store === null || typeof (store as Partial<DeadLetterStore>).bind !== 'function') {
      throw new InvalidOptionsError(OWNER, 'store', store, 'a DeadLetterStore (memoryDlqStore() or redisDlqStore(redis))');
    }
    this.#process = o.process === undefined ? undefined : checkFunction<(item: T, ctx: ProcessContext) => unknown>(OWNER, 'process', o.process);
    this.#backoff = o.backoff === undefined ? exponentialJitterBackoff() : checkFunction<DeadLetterBackoff>(OWNER, 'backoff', o.backoff);
    this.#maxAttempts = checkInteger(OWNER, 'maxAttempts', o.maxAttempts ?? 5, { min: 1, allowInfinity: true });
    this.#maxSize = checkInteger(OWNER, 'maxSize', o.maxSize ?? 100_000, { min: 1, allowInfinity: true });
    this.#overflow = checkOneOf(OWNER, 'overflow', o.overflow ?? 'reject', ['reject', 'drop-oldest'] as const);
    this.#concurrency = checkInteger(OWNER, 'concurrency', o.concurrency ?? 4, { min: 1, max: 10_000 });
    this.#visibilityMs = checkInteger(OWNER, 'visibilityMs', o.visibilityMs ?? 30_000, { min: 1, max: MAX_TIMER_MS });
    this.#pollIntervalMs = checkInteger(OWNER, 'pollIntervalMs', o.pollIntervalMs ?? 1_000, { min: 1, max: MAX_TIMER_MS });
    this.#isPermanent = o.isPermanent === undefined ? isPermanentByDefault : checkFunction<(error: unknown) => boolean>(OWNER, 'isPermanent', o.isPermanent);
    this.#onStoreError = checkOneOf(OWNER, 'onStoreError', o.onStoreError ?? 'reject', ['reject', 'buffer'] as const);
    this.#bufferSize = checkInteger(OWNER, 'bufferSize', o.bufferSize ?? 1_000, { min: 0, max: 10_000_000 });
    this.#clock = checkClock(OWNER, o.clock);
    this.#events = checkEvents(OWNER, o.events);
    this.#store = (store as DeadLetterStore).bind({ queue: this.name, clock: this.#clock, events: this.#events });
    this.#shared = (store as DeadLetterStore).kind !== 'memory';
    this.#untrack = trackInstance(this.#events, 'dlq', this.name, this);
  }

  // ---- events ----------------------------------------------------------------------------------

  #emit(type: XEvent['type'], payload: Record<string, unknown>): void {
    const events = this.#events;
    if (!events.hasListeners(type)) return;
    events.emit({ type, source: 'dlq', name: this.name, time: this.#clock.now(), ...payload } as unknown as XEvent);
  }

  #drop(reason: DeadLetterDropReason, id: string | undefined, item: unknown): void {
    this.#totals.dropped[reason]++;
    this.#emit('dlq.dropped', { reason, id, item });
  }

  #storeFailed(): void {
    this.#totals.storeErrors++;
  }

  // ---- recording -------------------------------------------------------------------------------

  #checkOpen(): void {
    if (this.#closed) throw new DeadLetterQueueClosedError(this.name);
  }

  #firstDelay(): number {
    return this.#delay(1);
  }

  /** The backoff's wait for `failures`, sanitized: NaN and negatives are 0, and a throwing backoff is Infinity. */
  #delay(failures: number): number {
    let ms: number;
    try {
      ms = Number(this.#backoff(failures, 0, Math.random));
    } catch {
      return Infinity;
    }
    return ms > 0 ? ms : ms === Infinity ? Infinity : 0;
  }

  #buildDoc(item: unknown, error: unknown, source: string, key: string | undefined, idempotencyKey: string | undefined, meta: Record<string, unknown> | undefined): string {
    const now = this.#clock.now();
    return encodeNewDoc(item, key, idempotencyKey, meta, failureInfo(error, source, now), now);
  }

  add(item: T, options?: AddOptions): Promise<string> {
    try {
      this.#checkOpen();
      const o = readOptions<AddOptions>('add', options, ADD_KEYS);
      const key = checkKey('add', 'key', o.key);
      const idempotencyKey = checkKey('add', 'idempotencyKey', o.idempotencyKey);
      const source = o.source === undefined ? 'add' : checkString('add', 'source', o.source);
      const doc = this.#buildDoc(item, o.error, source, key, idempotencyKey, checkMeta('add', o.meta));
      return this.#track(this.#record({ doc, key, idempotencyKey, item }, this.#onStoreError === 'buffer'));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Keeps `promise` in #recording until it settles (close() waits for them). */
  #track<R>(promise: Promise<R>): Promise<R> {
    this.#recording.add(promise);
    const forget = () => void this.#recording.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  /** Stores one record; on a store failure buffers it (when `buffer`) or rejects. */
  async #record(entry: Buffered, buffer: boolean): Promise<string> {
    if (this.#buffer.length > 0) void this.#flush();
    let outcome;
    try {
      outcome = await this.#storeAdd(entry);
    } catch (error) {
      // A full queue is an answer, not a store failure: the caller gets DLQ_FULL (already counted
      // and emitted as 'rejected'); buffering it would record it later behind that report.
      if (isXError(error, 'DLQ_FULL')) throw error;
      this.#storeFailed();
      if (!buffer) throw error;
      if (this.#buffer.length >= this.#bufferSize) {
        this.#drop('buffer_full', undefined, entry.item);
        throw error;
      }
      this.#buffer.push(entry);
      return `local:${++this.#localIds}`;
    }
    return outcome;
  }

  /** One store add with its bookkeeping; rejects with DLQ_FULL or the store's error. */
  async #storeAdd(entry: Buffered, fromBuffer = false): Promise<string> {
    const now = this.#clock.now();
    const dueAt = now + Math.min(this.#firstDelay(), MAX_TIMER_MS * 4);
    const outcome = await this.#store.add(entry.doc, entry.idempotencyKey, now, dueAt, this.#maxSize, this.#overflow);
    if (outcome.kind === 'full') {
      this.#drop('rejected', undefined, entry.item);
      throw new DeadLetterQueueFullError(this.name, this.#maxSize);
    }
    if (outcome.kind === 'duplicate') {
      this.#totals.duplicates++;
      this.#emit('dlq.recorded', { id: outcome.id, key: entry.key, duplicate: true, fromBuffer });
      return outcome.id;
    }
    if (outcome.dropped !== undefined) this.#drop('drop_oldest', outcome.dropped.id, decodeDoc(outcome.dropped.doc).item);
    this.#totals.recorded++;
    this.#emit('dlq.recorded', { id: outcome.id, key: entry.key, duplicate: false, fromBuffer });
    this.#wake(dueAt);
    return outcome.id;
  }

  /** Records buffered entries in order until one fails. */
  #flush(): Promise<void> {
    this.#flushing ??= (async () => {
      try {
        while (this.#buffer.length > 0) {
          const entry = this.#buffer[0] as Buffered;
          try {
            await this.#storeAdd(entry, true);
          } catch (error) {
            if (isXError(error, 'DLQ_FULL')) {
              this.#buffer.shift(); // counted and emitted as rejected
              continue;
            }
            this.#storeFailed();
            return;
          }
          this.#buffer.shift();
        }
      } finally {
        this.#flushing = undefined;
      }
    })();
    return this.#flushing;
  }

  /** Records `item` after a failure of a wrapped call or stage; never rejects. */
  async #deadLetter(item: unknown, error: unknown, options: ResolvedWrap): Promise<void> {
    let entry: Buffered;
    try {
      if (this.#closed) throw new DeadLetterQueueClosedError(this.name);
      const key = options.keyOf === undefined ? undefined : checkKey('wrap', 'keyOf(item)', options.keyOf(item as never));
      const idempotencyKey = options.idempotencyKeyOf === undefined ? undefined : checkKey('wrap', 'idempotencyKeyOf(item)', options.idempotencyKeyOf(item as never));
      entry = { doc: this.#buildDoc(item, error, 'wrap', key, idempotencyKey, undefined), key, idempotencyKey, item };
    } catch (recordError) {
      // Nothing can ever store this item (or the queue is closed): reported, never silent.
      this.#drop(this.#closed ? 'closed' : 'unserializable', undefined, item);
      this.#handlerError(options, recordError, item, error, false);
      return;
    }
    try {
      await this.#record(entry, false);
    } catch (recordError) {
      let buffered = false;
      if (!isXError(recordError, 'DLQ_FULL')) {
        if (this.#buffer.length < this.#bufferSize) {
          this.#buffer.push(entry);
          buffered = true;
        } else this.#drop('buffer_full', undefined, item);
      }
      this.#handlerError(options, recordError, item, error, buffered);
    }
  }

  #handlerError(options: ResolvedWrap, recordError: unknown, item: unknown, original: unknown, buffered: boolean): void {
    this.#emit('dlq.handler_error', { error: recordError, buffered });
    try {
      options.onHandlerError?.(recordError, item, original);
    } catch {
      // The user's logger failed; the event above already reported the recording failure.
    }
  }

  wrap<A extends T, R>(fn: (item: A) => R | PromiseLike<R>, options?: WrapOptions): (item: A) => Promise<R> {
    checkFunction('wrap', 'fn', fn);
    const resolved = resolveWrap(options);
    return (item: A): Promise<R> => {
      if (this.#buffer.length > 0 && !this.#closed) void this.#flush();
      return invoke((value: A) => fn(value), item).then(undefined, (error: unknown) => {
        if (!safeFilter(resolved.shouldDeadLetter, error)) throw error;
        return this.#track(this.#deadLetter(item, error, resolved)).then(() => {
          throw error;
        });
      });
    };
  }

  stage(item: T, options?: WrapOptions): Policy {
    const resolved = resolveWrap(options);
    const queue = this;
    const policy = {
      name: this.name,
      execute<R>(fn: PolicyFn<R>, executeOptions?: ExecuteOptions): Promise<R> {
        const ctx = toContext(executeOptions);
        return invoke(fn, ctx).then(undefined, (error: unknown) => {
          if (isAbortedByCaller(ctx) || !safeFilter(resolved.shouldDeadLetter, error)) throw error;
          return queue.#track(queue.#deadLetter(item, error, resolved)).then(() => {
            throw error;
          });
        });
      },
      executeOutcome<R>(fn: PolicyFn<R>, executeOptions?: ExecuteOptions): Promise<Outcome<R>> {
        return toOutcome(policy.execute(fn, executeOptions));
      },
    };
    return policy;
  }

  // ---- workers ---------------------------------------------------------------------------------

  start(): void {
    this.#checkOpen();
    if (this.#process === undefined) {
      throw new InvalidOptionsError(OWNER, 'process', undefined, 'a function to start workers (this queue only stores items)');
    }
    if (this.#running) return;
    this.#running = true;
    this.#abort ??= new AbortController();
    this.#kick();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#clearTimer();
    await this.#pollDone;
    await this.#settleRunning();
  }

  async close(options?: CloseOptions): Promise<void> {
    if (this.#closed) return;
    const o = readOptions<CloseOptions>('close', options, ['drain']);
    const drain = o.drain ?? false;
    if (typeof drain !== 'boolean') throw new InvalidOptionsError('close', 'drain', drain, 'a boolean');
    if (drain && this.#process !== undefined) {
      this.#running = false;
      this.#clearTimer();
      await this.#pollDone;
      await this.#settleRunning();
      this.#abort ??= new AbortController();
      this.#draining = true;
      try {
        await this.#drain();
      } finally {
        this.#draining = false;
      }
    } else {
      this.#running = false;
      this.#clearTimer();
      this.#closing = true;
      this.#abort?.abort(new DeadLetterQueueClosedError(this.name));
      await this.#pollDone;
      await this.#settleRunning();
    }
    this.#closed = true;
    // Recordings that were waiting on the store when close began settle first (each within the
    // store's deadline), so one that failed is in the buffer for the flush below, never after it.
    while (this.#recording.size > 0) await Promise.allSettled([...this.#recording]);
    if (this.#buffer.length > 0) await this.#flush();
    for (const entry of this.#buffer.splice(0)) this.#drop('closed', undefined, entry.item);
    this.#clearTimer();
    this.#store.close();
    this.#untrack();
  }

  /** Processes until nothing is due and nothing runs. */
  async #drain(): Promise<void> {
    for (;;) {
      const claimed = await this.#claimOnce();
      if (claimed === 0 && this.#active === 0) return;
      if (claimed === 0 || this.#active >= this.#concurrency) await this.#whenSlotFree();
    }
  }

  /**
   * Waits for the running items, at most `visibilityMs` (after that their leases are gone and the
   * items are delivered again anyway): a processor that ignores its signal cannot hang `close`.
   */
  async #settleRunning(): Promise<void> {
    if (this.#active === 0) return;
    let timer: TimerHandle | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = unrefTimer(this.#clock.setTimeout(resolve, this.#visibilityMs));
    });
    await Promise.race([this.#whenIdle(), limit]);
    this.#clock.clearTimeout(timer);
  }

  async #whenIdle(): Promise<void> {
    while (this.#active > 0) await this.#whenSlotFree();
  }

  #whenSlotFree(): Promise<void> {
    if (this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#timerAt = Infinity;
  }

  /** Makes sure a poll happens by `at` (now when due). */
  #wake(at: number): void {
    if (!this.#running) return;
    const now = this.#clock.now();
    if (at <= now) {
      this.#kick();
      return;
    }
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    this.#clearTimer();
    this.#timerAt = at;
    this.#timer = unrefTimer(
      this.#clock.setTimeout(() => {
        this.#timer = undefined;
        this.#timerAt = Infinity;
        this.#kick();
      }, Math.min(at - now, MAX_TIMER_MS)),
    );
  }

  /** Polls now, or right after the poll in progress. */
  #kick(): void {
    if (!this.#running) return;
    if (this.#polling) {
      this.#pollAgain = true;
      return;
    }
    this.#pollDone = this.#poll();
  }

  async #poll(): Promise<void> {
    this.#polling = true;
    try {
      do {
        this.#pollAgain = false;
        if (!this.#running) return;
        if (this.#buffer.length > 0) await this.#flush();
        await this.#claimOnce();
      } while (this.#pollAgain && this.#running);
    } finally {
      this.#polling = false;
    }
  }

  /** Claims what free slots can take and starts it; schedules the next poll. Returns how many it started. */
  async #claimOnce(): Promise<number> {
    const free = this.#concurrency - this.#active;
    if (free <= 0) return 0;
    const now = this.#clock.now();
    let result;
    try {
      result = await this.#store.claim(this.#consumer, free, now, this.#visibilityMs);
    } catch {
      this.#storeFailed();
      this.#wake(this.#clock.now() + this.#pollIntervalMs);
      return 0;
    }
    this.#sizes = result.sizes;
    this.#sizesAt = now;
    if (!this.#running && !this.#draining) {
      // stop() or close() came while this claim was in flight: hand the items back at once (the
      // same record, due now) instead of processing them after the queue said it stopped.
      await Promise.all(result.entries.map((entry) => this.#release(entry)));
      return 0;
    }
    for (const entry of result.entries) void this.#run(entry);
    if (result.entries.length < free) {
      // Nothing more is due now: sleep until the next due item, and poll a shared store at least every pollIntervalMs.
      const poll = this.#shared ? now + this.#pollIntervalMs : Infinity;
      const next = result.nextDueAt === undefined ? poll : Math.min(result.nextDueAt, poll);
      // Nothing waits and nothing is in flight: no timer while idle.
      if (next === Infinity) this.#clearTimer();
      else this.#wake(Math.max(next, now + 1));
    }
    return result.entries.length;
  }

  async #run(entry: ClaimedEntry): Promise<void> {
    this.#active++;
    try {
      const doc = decodeDoc(entry.doc);
      const attempt = doc.attempts + Math.max(1, entry.deliveries);
      if (attempt > this.#maxAttempts) {
        // Delivered again after workers died on it: it already used its attempts (a poison item).
        const failure = failureInfo(new Error('the item was delivered again after its workers stopped before finishing it'), 'worker', this.#clock.now(), doc.failure);
        await this.#bury(entry, { ...doc, attempts: attempt - 1, failure }, 'max_attempts', undefined);
        return;
      }
      this.#totals.attempts++;
      this.#emit('dlq.attempt', { id: entry.id, attempt });
      const started = this.#clock.now();
      const ctx: ProcessContext = {
        id: entry.id,
        attempt,
        key: doc.key,
        idempotencyKey: doc.idempotencyKey,
        meta: doc.meta,
        failure: doc.failure,
        signal: (this.#abort ??= new AbortController()).signal,
      };
      let failed = false;
      let error: unknown;
      try {
        await toPromise((this.#process as (item: T, ctx: ProcessContext) => unknown)(doc.item as T, ctx));
      } catch (e) {
        failed = true;
        error = e;
      }
      const now = this.#clock.now();
      if (failed && this.#closing && ctx.signal.aborted) {
        // close() aborted it: the queue's shutdown is not the item's failure. Hand it back
        // with its attempts unchanged (counting it could make an item on its last attempt dead).
        await this.#release(entry);
        return;
      }
      if (!failed) {
        try {
          // False: the lease ran out meanwhile and another delivery owns the item now.
          if (!(await this.#store.complete(entry.id, entry.token))) return;
        } catch {
          // The lease runs out and the item is delivered again: at least once, never lost.
          this.#storeFailed();
          return;
        }
        this.#totals.succeeded++;
        this.#emit('dlq.succeeded', { id: entry.id, attempt, durationMs: now - started });
        return;
      }
      const cause = isXError(error, 'DLQ_PERMANENT') && (error as Error).cause !== undefined ? (error as Error).cause : error;
      const next: RecordDoc = { ...doc, attempts: attempt, failure: failureInfo(cause, 'worker', now, doc.failure) };
      if (safeFilter(this.#isPermanent, error)) {
        await this.#bury(entry, next, 'permanent', error);
        return;
      }
      if (attempt >= this.#maxAttempts) {
        await this.#bury(entry, next, 'max_attempts', error);
        return;
      }
      const delay = this.#delay(attempt + 1);
      if (delay === Infinity) {
        await this.#bury(entry, next, 'never', error);
        return;
      }
      try {
        await this.#store.reschedule(entry.id, entry.token, encodeDoc(next), now + delay);
      } catch {
        this.#storeFailed();
        return;
      }
      this.#emit('dlq.retry_scheduled', { id: entry.id, attempt, delayMs: delay, error });
      this.#wake(now + delay);
    } finally {
      this.#active--;
      const waiters = this.#idleWaiters.splice(0);
      for (const resolve of waiters) resolve();
      this.#kick();
    }
  }

  /** Puts a claimed item back, due now, with its record unchanged (no attempt counted). */
  async #release(entry: ClaimedEntry): Promise<void> {
    try {
      await this.#store.reschedule(entry.id, entry.token, entry.doc, this.#clock.now());
    } catch {
      // The lease runs out and the item is delivered again: never lost.
      this.#storeFailed();
    }
  }

  async #bury(entry: ClaimedEntry, doc: RecordDoc, reason: 'max_attempts' | 'permanent' | 'never', error: unknown): Promise<void> {
    try {
      if (!(await this.#store.bury(entry.id, entry.token, encodeDoc(doc), this.#clock.now()))) return;
    } catch {
      this.#storeFailed();
      return;
    }
    this.#totals.dead++;
    this.#emit('dlq.dead', { id: entry.id, attempts: doc.attempts, reason, error });
  }

  // ---- operators -------------------------------------------------------------------------------

  #toRecord(entry: StoredEntry): DeadLetterRecord<T> {
    const doc = decodeDoc(entry.doc);
    return {
      id: entry.id,
      item: doc.item as T,
      state: entry.state,
      inFlight: entry.inFlight,
      key: doc.key,
      idempotencyKey: doc.idempotencyKey,
      meta: doc.meta,
      failure: doc.failure,
      attempts: doc.attempts,
      addedAt: doc.addedAt,
      since: entry.since,
      dueAt: entry.dueAt,
      revived: doc.revived,
    };
  }

  async list(options?: ListOptions): Promise<ListPage<T>> {
    this.#checkOpen();
    const o = readOptions<ListOptions>('list', options, ['state', 'limit', 'cursor']);
    const state = checkOneOf('list', 'state', o.state ?? 'dead', ['pending', 'dead'] as const);
    const limit = checkInteger('list', 'limit', o.limit ?? 100, { min: 1, max: 1_000 });
    if (o.cursor !== undefined && (typeof o.cursor !== 'string' || !/^\d{1,16}$/.test(o.cursor))) {
      throw new InvalidOptionsError('list', 'cursor', o.cursor, 'a cursor returned by a previous list()');
    }
    const page = await this.#store.list(state, limit, o.cursor);
    return { items: page.entries.map((entry) => this.#toRecord(entry)), cursor: page.cursor };
  }

  async get(id: string): Promise<DeadLetterRecord<T> | undefined> {
    this.#checkOpen();
    const entry = await this.#store.get(checkId('get', id));
    return entry === undefined ? undefined : this.#toRecord(entry);
  }

  async retry(id: string): Promise<boolean> {
    this.#checkOpen();
    const entry = await this.#store.get(checkId('retry', id));
    if (entry === undefined || entry.inFlight) return false;
    const now = this.#clock.now();
    let doc: string | undefined;
    if (entry.state === 'dead') {
      const old = decodeDoc(entry.doc);
      doc = encodeDoc({ ...old, attempts: 0, revived: old.revived + 1 });
    }
    const done = await this.#store.revive(entry.id, doc, now, now);
    if (done) {
      if (entry.state === 'dead') this.#totals.revived++;
      this.#emit('dlq.operator', { action: 'retry', id: entry.id });
      this.#wake(now);
    }
    return done;
  }

  async discard(id: string): Promise<boolean> {
    this.#checkOpen();
    const done = await this.#store.discard(checkId('discard', id));
    if (done) {
      this.#totals.discarded++;
      this.#emit('dlq.operator', { action: 'discard', id });
    }
    return done;
  }

  async redrive(options?: RedriveOptions<T>): Promise<RedriveResult> {
    this.#checkOpen();
    const o = readOptions<RedriveOptions<T>>('redrive', options, ['filter', 'transform', 'ratePerSecond', 'signal', 'limit']);
    const filter = o.filter === undefined ? undefined : checkFunction<(r: DeadLetterRecord<T>) => boolean>('redrive', 'filter', o.filter);
    const transform = o.transform === undefined ? undefined : checkFunction<(r: DeadLetterRecord<T>) => T>('redrive', 'transform', o.transform);
    const rate = o.ratePerSecond ?? Infinity;
    if (typeof rate !== 'number' || !(rate > 0)) throw new InvalidOptionsError('redrive', 'ratePerSecond', rate, 'a number > 0 (or Infinity)');
    const limit = checkInteger('redrive', 'limit', o.limit ?? Infinity, { min: 1, allowInfinity: true });
    const signal = o.signal;
    if (signal !== undefined && (typeof signal !== 'object' || signal === null || typeof (signal as AbortSignal).aborted !== 'boolean')) {
      throw new InvalidOptionsError('redrive', 'signal', signal, 'an AbortSignal');
    }
    const clock = this.#clock;
    const counts = { scanned: 0, moved: 0, skipped: 0, failed: 0 };
    const seen = new Set<string>();
    const started = clock.now();
    const interval = rate === Infinity ? 0 : 1_000 / rate;
    let aborted = false;
    let cursor: string | undefined;
    const progress = (done: boolean) => this.#emit('dlq.redrive_progress', { ...counts, done, aborted });
    outer: do {
      const page = await this.#store.list('dead', 100, cursor);
      cursor = page.cursor;
      for (const entry of page.entries) {
        if (signal?.aborted) {
          aborted = true;
          break outer;
        }
        if (counts.moved >= limit) break outer;
        if (seen.has(entry.id)) continue;
        seen.add(entry.id);
        counts.scanned++;
        const record = this.#toRecord(entry);
        let keep: boolean;
        try {
          keep = filter === undefined || filter(record) === true;
        } catch {
          counts.failed++;
          continue;
        }
        if (!keep) {
          counts.skipped++;
          continue;
        }
        let doc: string;
        try {
          const old = decodeDoc(entry.doc);
          const item = transform === undefined ? old.item : transform(record);
          doc = encodeDoc({ ...old, item, attempts: 0, revived: old.revived + 1 });
        } catch {
          counts.failed++;
          continue;
        }
        // Spaced at `interval` from the start, so a slow store does not lower the rate further.
        const at = started + counts.moved * interval;
        const wait = at - clock.now();
        if (wait > 0) {
          try {
            await sleep(wait, { clock, ...(signal !== undefined && { signal }) });
          } catch {
            aborted = true;
            break outer;
          }
        }
        const now = clock.now();
        if (await this.#store.revive(entry.id, doc, now, now)) {
          counts.moved++;
          this.#totals.revived++;
          this.#wake(now);
        } else counts.skipped++;
      }
      progress(false);
    } while (cursor !== undefined);
    progress(true);
    return { ...counts, aborted };
  }

  async stats(): Promise<DeadLetterStats> {
    this.#checkOpen();
    const now = this.#clock.now();
    this.#sizes = await this.#store.sizes(now);
    this.#sizesAt = now;
    return this.snapshot;
  }

  get snapshot(): DeadLetterStats {
    const s = this.#sizes;
    const now = this.#clock.now();
    const t = this.#totals;
    return {
      pending: s.pending,
      inFlight: s.inFlight,
      dead: s.dead,
      oldestPendingAgeMs: s.oldestPendingSince === undefined ? 0 : Math.max(0, now - s.oldestPendingSince),
      oldestDeadAgeMs: s.oldestDeadSince === undefined ? 0 : Math.max(0, now - s.oldestDeadSince),
      buffered: this.#buffer.length,
      running: this.#active,
      totals: { ...t, dropped: { ...t.dropped } },
      sizesAt: this.#sizesAt,
    };
  }
}

interface ResolvedWrap {
  readonly shouldDeadLetter: (error: unknown) => boolean;
  readonly onHandlerError: ((error: unknown, item: unknown, original: unknown) => void) | undefined;
  readonly keyOf: ((item: never) => string | undefined) | undefined;
  readonly idempotencyKeyOf: ((item: never) => string | undefined) | undefined;
}

function resolveWrap(options: WrapOptions | undefined): ResolvedWrap {
  const o = readOptions<WrapOptions>('wrap', options, WRAP_KEYS);
  const fn = <F extends (...args: never[]) => unknown>(key: keyof WrapOptions): F | undefined =>
    o[key] === undefined ? undefined : checkFunction<F>('wrap', key, o[key]);
  return {
    shouldDeadLetter: fn<(error: unknown) => boolean>('shouldDeadLetter') ?? defaultShouldDeadLetter,
    onHandlerError: fn('onHandlerError'),
    keyOf: fn('keyOf'),
    idempotencyKeyOf: fn('idempotencyKeyOf'),
  };
}

/** A predicate that throws answers false for filters (record nothing) and for `isPermanent`. */
function safeFilter(predicate: (error: unknown) => boolean, error: unknown): boolean {
  try {
    return predicate(error) === true;
  } catch {
    return false;
  }
}

function checkId(method: string, id: unknown): string {
  if (typeof id !== 'string' || !/^\d{1,16}$/.test(id)) {
    throw new DeadLetterInvalidItemError(`${method}: id must be an id returned by add() (digits), got ${describeValue(id)}`);
  }
  return id;
}


/**
 * Creates a dead-letter queue. Items are recorded with their failure (`add`, `wrap`, `stage`),
 * reprocessed by workers (`start`) with exponential backoff and full jitter, made *dead* after
 * `maxAttempts` (kept, never deleted silently), and handled by operators (`list`, `get`, `retry`,
 * `discard`, `redrive`, `stats`). In memory by default; durable and shared across processes with
 * `redisDlqStore` from `@x/dlq/redis`. Delivery is at least once: `process` must be idempotent.
 *
 * @example
 * ```ts
 * const dlq = createDeadLetterQueue<Order>({ name: 'orders', process: (order) => erp.push(order), maxAttempts: 8 });
 * dlq.start();
 * const pushOrder = dlq.wrap((order: Order) => erp.push(order)); // failures are recorded, then rethrown
 * ```
 */
export function createDeadLetterQueue<T = unknown>(options?: DeadLetterQueueOptions<T>): DeadLetterQueue<T> {
  return new Queue<T>(options);
}
