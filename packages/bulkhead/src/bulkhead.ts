import { abortSignalOf, callError, isContextAborted, toContext, toPromise, trackInstance, watchAbort, unwatchAbort } from '@x/core';
import type { Clock, EventBus, ExecuteOptions, ExecutionContext, Outcome, Policy, PolicyFn, TimerHandle } from '@x/core';
import { bulkheadRejection } from './errors.js';
import type { BulkheadErrorReason, BulkheadRejectedError, BulkheadRejectReason } from './errors.js';
import { checkLimit, resolveBulkheadOptions } from './options.js';
import type { BulkheadOptions, BulkheadOrder } from './options.js';
import { ExpiryHeap, WaiterQueue } from './queue.js';

/**
 * A held slot. Call `release()` when the work is done (in a `finally`); later calls do nothing, so
 * a double release never frees two slots.
 */
export interface BulkheadPermit {
  /** Gives the slot back (to the next waiter, if any). Idempotent. */
  release(): void;
  /** Whether `release()` was called. */
  readonly released: boolean;
}

/** Rejections counted by reason since the bulkhead was created. */
export interface BulkheadRejections {
  readonly full: number;
  readonly timeout: number;
  readonly aborted: number;
}

/** A snapshot of a bulkhead's state and counters. */
export interface BulkheadStats {
  /** Calls holding a slot (`<prefix>_bulkhead_concurrent`). */
  readonly active: number;
  /** Calls waiting for a slot (`<prefix>_bulkhead_queued`). */
  readonly queued: number;
  /** The current concurrency limit. */
  readonly limit: number;
  /** Queue capacity. */
  readonly maxQueue: number;
  /** Longest queue wait in ms. */
  readonly maxWaitMs: number;
  /** Which waiter gets a freed slot. */
  readonly order: BulkheadOrder;
  /** Calls that got a slot, at once or after waiting. */
  readonly admitted: number;
  /** Calls that left without a slot, by reason (`<prefix>_bulkhead_rejected_total{reason}`). */
  readonly rejected: BulkheadRejections;
}

/**
 * A concurrency limit with a bounded queue: a `Policy` that also hands out permits for work that
 * does not fit in one function.
 *
 * `execute(fn, options)` runs `fn` once a slot is free, waiting in the queue if allowed. It rejects
 * with {@link BulkheadRejectedError} when the queue is full or the wait is too long, and with the
 * caller's `signal.reason` when the caller aborts first. `fn` receives the caller's context
 * unchanged (signal, deadline and any fields of enclosing policies). `executeOutcome` does the
 * same but never rejects: rejections come back as `{ ok: false, error }`.
 */
export interface Bulkhead extends Policy {
  /**
   * Waits for a slot like `execute` and resolves with a permit; you must `release()` it.
   * Accepts the caller's `signal` and `deadline`, or an enclosing policy's context.
   */
  acquire(options?: ExecuteOptions): Promise<BulkheadPermit>;
  /** Takes a slot if one is free right now and nobody waits; never queues. Counts a miss as `'full'`. */
  tryAcquire(): BulkheadPermit | undefined;
  /**
   * Changes the concurrency limit (an integer >= 1). Raising it admits waiters at once; lowering
   * it admits nobody until the running calls drop below the new limit (none is interrupted).
   */
  setLimit(limit: number): void;
  /** Calls holding a slot. */
  readonly active: number;
  /** Calls waiting for a slot. */
  readonly queued: number;
  /** The current concurrency limit. */
  readonly limit: number;
  /** A snapshot of state and counters, cheap enough for every metrics scrape. */
  stats(): BulkheadStats;
}

// What a waiter does once it gets a slot.
/** Stands for the work of an `acquire` (which has no function) when its arguments are checked. */
const ACQUIRE_FN = (): void => {};

const PROMISE_THEN = Promise.prototype.then;
const ACQUIRE = 0;
const EXECUTE = 1;
const OUTCOME = 2;
type Mode = typeof ACQUIRE | typeof EXECUTE | typeof OUTCOME;

// Node and browsers fire a delay above 2^31 - 1 ms at once; longer waits re-arm on wake-up.
const MAX_DELAY = 0x7fffffff;

/**
 * One queued call. It is its own abort listener (`handleEvent`) and its own queue and heap node,
 * so waiting costs this object, the caller's promise, and nothing else.
 */
class Waiter {
  prev: Waiter | undefined = undefined;
  next: Waiter | undefined = undefined;
  queued = false;
  heapIndex = -1;
  signal: AbortSignal | undefined = undefined;
  declare resolve: (value: unknown) => void;
  declare reject: (reason: unknown) => void;

  constructor(
    readonly owner: BulkheadImpl,
    readonly mode: Mode,
    readonly fn: PolicyFn<unknown> | undefined,
    readonly ctx: ExecutionContext,
    readonly enqueuedAt: number,
    readonly expiresAt: number,
  ) {}

  handleEvent(): void {
    this.owner._abortWaiter(this);
  }
}

class Permit implements BulkheadPermit {
  #owner: BulkheadImpl | undefined;

  constructor(owner: BulkheadImpl) {
    this.#owner = owner;
  }

  get released(): boolean {
    return this.#owner === undefined;
  }

  release(): void {
    const owner = this.#owner;
    if (owner === undefined) return;
    this.#owner = undefined;
    owner._release();
  }
}

function reasonOf(ctx: ExecutionContext): unknown {
  return (abortSignalOf(ctx) ?? ctx.signal).reason;
}

class BulkheadImpl implements Bulkhead {
  readonly name: string;
  readonly #clock: Clock;
  readonly #events: EventBus;
  readonly #maxQueue: number;
  readonly #maxWaitMs: number;
  readonly #order: BulkheadOrder;
  readonly #lifo: boolean;
  #limit: number;
  #active = 0;
  readonly #queue = new WaiterQueue<Waiter>();
  readonly #expiries = new ExpiryHeap<Waiter>();
  #timer: TimerHandle | undefined = undefined;
  #timerAt = Infinity;
  // Execute-waiters that got a slot; their functions start together on one microtask, so a
  // `release()` or `setLimit()` never runs somebody else's function inside the caller's stack.
  readonly #starting: Waiter[] = [];
  #startScheduled = false;
  #admitted = 0;
  #rejectedFull = 0;
  #rejectedTimeout = 0;
  #rejectedAborted = 0;

  // Settlement handlers are made once per bulkhead, so a call allocates no closure for them.
  readonly #onValue = (value: unknown): unknown => {
    this._release();
    return value;
  };
  readonly #onError = (error: unknown): never => {
    this._release();
    throw error;
  };
  readonly #onOkOutcome = (value: unknown): Outcome<unknown> => {
    this._release();
    return { ok: true, value };
  };
  readonly #onErrorOutcome = (error: unknown): Outcome<unknown> => {
    this._release();
    return { ok: false, error };
  };
  readonly #onTimer = (): void => this.#expire();
  readonly #startAdmitted = (): void => this.#start();

  constructor(options: BulkheadOptions) {
    const resolved = resolveBulkheadOptions(options);
    this.name = resolved.name;
    this.#clock = resolved.clock;
    this.#events = resolved.events;
    this.#limit = resolved.maxConcurrent;
    this.#maxQueue = resolved.maxQueue;
    this.#maxWaitMs = resolved.maxWaitMs;
    this.#order = resolved.order;
    this.#lifo = resolved.order === 'lifo';
    // Exporters read `stats()` at scrape time.
    trackInstance(this.#events, 'bulkhead', this.name, this);
  }

  get active(): number {
    return this.#active;
  }

  get queued(): number {
    return this.#queue.size;
  }

  get limit(): number {
    return this.#limit;
  }

  execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
    if (typeof fn !== 'function' || options !== undefined) {
      // A wrong argument fails at this call, before it takes a slot or a place in the queue.
      const bad = callError('bulkhead.execute', fn, options);
      if (bad !== undefined) return Promise.reject(bad);
    }
    const ctx = toContext(options);
    // A context made from no options has nothing that could abort it.
    if (options !== undefined && isContextAborted(ctx)) return this.#abortedAtEntry(ctx, EXECUTE) as Promise<T>;
    // A free slot only counts when nobody waits: a new caller never barges past a waiter.
    if (this.#active < this.#limit && this.#queue.size === 0) {
      this.#admitNow();
      try {
        const result = fn(ctx);
        // The standard-`then` check inline: the common case pays one comparison, no call.
        return (result instanceof Promise && result.then === PROMISE_THEN ? result : toPromise(result)).then(
          this.#onValue,
          this.#onError,
        ) as Promise<T>;
      } catch (error) {
        // `fn` threw.
        this._release();
        return Promise.reject(error);
      }
    }
    return this.#enqueue(EXECUTE, fn as PolicyFn<unknown>, ctx) as Promise<T>;
  }

  executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
    if (typeof fn !== 'function' || options !== undefined) {
      const bad = callError('bulkhead.executeOutcome', fn, options);
      if (bad !== undefined) return Promise.resolve({ ok: false, error: bad });
    }
    const ctx = toContext(options);
    if (options !== undefined && isContextAborted(ctx)) return this.#abortedAtEntry(ctx, OUTCOME) as Promise<Outcome<T>>;
    if (this.#active < this.#limit && this.#queue.size === 0) {
      this.#admitNow();
      try {
        return toPromise(fn(ctx)).then(this.#onOkOutcome, this.#onErrorOutcome) as Promise<Outcome<T>>;
      } catch (error) {
        // `fn` threw.
        this._release();
        return Promise.resolve({ ok: false, error });
      }
    }
    return this.#enqueue(OUTCOME, fn as PolicyFn<unknown>, ctx) as Promise<Outcome<T>>;
  }

  acquire(options?: ExecuteOptions): Promise<BulkheadPermit> {
    if (options !== undefined) {
      const bad = callError('bulkhead.acquire', ACQUIRE_FN, options);
      if (bad !== undefined) return Promise.reject(bad);
    }
    const ctx = toContext(options);
    if (options !== undefined && isContextAborted(ctx)) return this.#abortedAtEntry(ctx, ACQUIRE) as Promise<BulkheadPermit>;
    if (this.#active < this.#limit && this.#queue.size === 0) {
      this.#admitNow();
      return Promise.resolve(new Permit(this));
    }
    return this.#enqueue(ACQUIRE, undefined, ctx) as Promise<BulkheadPermit>;
  }

  tryAcquire(): BulkheadPermit | undefined {
    if (this.#active < this.#limit && this.#queue.size === 0) {
      this.#admitNow();
      return new Permit(this);
    }
    this.#rejectedFull++;
    if (this.#events.hasListeners('bulkhead.rejected')) this.#emitRejected('full', 0);
    return undefined;
  }

  setLimit(limit: number): void {
    const to = checkLimit('bulkhead.setLimit', 'limit', limit);
    const from = this.#limit;
    if (to === from) return;
    this.#limit = to;
    if (this.#events.hasListeners('bulkhead.limit_changed')) {
      this.#events.emit({
        type: 'bulkhead.limit_changed',
        source: 'bulkhead',
        name: this.name,
        time: this.#clock.now(),
        from,
        to,
        active: this.#active,
        queued: this.#queue.size,
        limit: to,
      });
    }
    if (to > from) this.#drain();
  }

  stats(): BulkheadStats {
    return {
      active: this.#active,
      queued: this.#queue.size,
      limit: this.#limit,
      maxQueue: this.#maxQueue,
      maxWaitMs: this.#maxWaitMs,
      order: this.#order,
      admitted: this.#admitted,
      rejected: { full: this.#rejectedFull, timeout: this.#rejectedTimeout, aborted: this.#rejectedAborted },
    };
  }

  /** Frees one slot and hands it to the next waiter. Internal: permits and settlement call it. */
  _release(): void {
    this.#active--;
    if (this.#queue.size > 0) this.#drain();
  }

  /** A queued caller's signal aborted: it leaves the queue at once with its own reason. */
  _abortWaiter(waiter: Waiter): void {
    if (!waiter.queued) return;
    this.#unlink(waiter);
    this.#rejectedAborted++;
    if (this.#events.hasListeners('bulkhead.rejected')) {
      this.#emitRejected('aborted', this.#clock.now() - waiter.enqueuedAt);
    }
    const reason = (waiter.signal as AbortSignal).reason;
    this.#settleRejected(waiter, reason);
  }

  #admitNow(): void {
    this.#active++;
    this.#admitted++;
    if (this.#events.hasListeners('bulkhead.admitted')) this.#emitAdmitted(false, 0);
  }

  #abortedAtEntry(ctx: ExecutionContext, mode: Mode): Promise<unknown> {
    this.#rejectedAborted++;
    if (this.#events.hasListeners('bulkhead.rejected')) this.#emitRejected('aborted', 0);
    const reason = reasonOf(ctx);
    return mode === OUTCOME ? Promise.resolve({ ok: false, error: reason }) : Promise.reject(reason);
  }

  #rejectNow(mode: Mode, reason: BulkheadErrorReason): Promise<unknown> {
    if (reason === 'full') this.#rejectedFull++;
    else this.#rejectedTimeout++;
    if (this.#events.hasListeners('bulkhead.rejected')) this.#emitRejected(reason, 0);
    const error = this.#error(reason, 0);
    return mode === OUTCOME ? Promise.resolve({ ok: false, error }) : Promise.reject(error);
  }

  #error(reason: BulkheadErrorReason, waitedMs: number): BulkheadRejectedError {
    return bulkheadRejection(this.name, reason, this.#limit, this.#maxQueue, waitedMs);
  }

  #enqueue(mode: Mode, fn: PolicyFn<unknown> | undefined, ctx: ExecutionContext): Promise<unknown> {
    if (this.#queue.size >= this.#maxQueue) return this.#rejectNow(mode, 'full');
    const now = this.#clock.now();
    const maxWaitMs = this.#maxWaitMs;
    let expiresAt = maxWaitMs === Infinity ? Infinity : now + maxWaitMs;
    const deadline = ctx.deadline;
    if (deadline !== undefined && deadline < expiresAt) expiresAt = deadline;
    if (expiresAt <= now) return this.#rejectNow(mode, 'timeout');

    const waiter = new Waiter(this, mode, fn, ctx, now, expiresAt);
    const promise = new Promise<unknown>((resolve, reject) => {
      waiter.resolve = resolve;
      waiter.reject = reject;
    });
    this.#queue.push(waiter);
    if (expiresAt !== Infinity) {
      this.#expiries.push(waiter);
      if (expiresAt < this.#timerAt) this.#arm(expiresAt, now);
    }
    const signal = abortSignalOf(ctx);
    if (signal !== undefined) {
      waiter.signal = signal;
      watchAbort(signal, waiter);
    }
    if (this.#events.hasListeners('bulkhead.queued')) {
      this.#events.emit({
        type: 'bulkhead.queued',
        source: 'bulkhead',
        name: this.name,
        time: now,
        active: this.#active,
        queued: this.#queue.size,
        limit: this.#limit,
      });
    }
    return promise;
  }

  /** Gives free slots to waiters, oldest (FIFO) or newest (LIFO) first. */
  #drain(): void {
    const queue = this.#queue;
    while (this.#active < this.#limit) {
      const waiter = this.#lifo ? queue.takeNewest() : queue.takeOldest();
      if (waiter === undefined) return;
      this.#detach(waiter);
      this.#active++;
      if (waiter.mode === ACQUIRE) {
        this.#admittedFromQueue(waiter);
        waiter.resolve(new Permit(this));
      } else {
        // Counted as admitted when it starts: it may still abort before then.
        this.#starting.push(waiter);
        if (!this.#startScheduled) {
          this.#startScheduled = true;
          queueMicrotask(this.#startAdmitted);
        }
      }
    }
  }

  #admittedFromQueue(waiter: Waiter): void {
    this.#admitted++;
    if (this.#events.hasListeners('bulkhead.admitted')) this.#emitAdmitted(true, this.#clock.now() - waiter.enqueuedAt);
  }

  /** Runs the functions of execute-waiters that got a slot. */
  #start(): void {
    const starting = this.#starting;
    // Starting a function may free a slot and admit more; the loop picks those up too.
    for (let i = 0; i < starting.length; i++) {
      const waiter = starting[i] as Waiter;
      starting[i] = undefined as unknown as Waiter;
      const outcome = waiter.mode === OUTCOME;
      const ctx = waiter.ctx;
      if (isContextAborted(ctx)) {
        // Aborted between getting the slot and starting: do not run work nobody wants. It never
        // ran, so it counts as an aborted wait, not an admission.
        this._release();
        this.#rejectedAborted++;
        if (this.#events.hasListeners('bulkhead.rejected')) this.#emitRejected('aborted', this.#clock.now() - waiter.enqueuedAt);
        this.#settleRejected(waiter, reasonOf(ctx));
        continue;
      }
      this.#admittedFromQueue(waiter);
      let settled: Promise<unknown>;
      try {
        const result = toPromise((waiter.fn as PolicyFn<unknown>)(ctx));
        settled = outcome ? result.then(this.#onOkOutcome, this.#onErrorOutcome) : result.then(this.#onValue, this.#onError);
      } catch (error) {
        // `fn` threw: the waiters behind it still start.
        this._release();
        this.#settleRejected(waiter, error);
        continue;
      }
      waiter.resolve(settled);
    }
    starting.length = 0;
    this.#startScheduled = false;
  }

  /** Fires when the earliest queued wait may have expired; rejects every expired waiter. */
  #expire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const heap = this.#expiries;
    const now = this.#clock.now();
    for (let waiter = heap.peek(); waiter !== undefined && waiter.expiresAt <= now; waiter = heap.peek()) {
      this.#unlink(waiter);
      this.#rejectedTimeout++;
      const waitedMs = now - waiter.enqueuedAt;
      if (this.#events.hasListeners('bulkhead.rejected')) this.#emitRejected('timeout', waitedMs);
      this.#settleRejected(waiter, this.#error('timeout', waitedMs));
    }
    // A listener may have queued a call (and armed the timer) meanwhile; arm only if earlier.
    const next = heap.peek();
    if (next !== undefined && next.expiresAt < this.#timerAt) this.#arm(next.expiresAt, now);
  }

  #arm(at: number, now: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(this.#onTimer, Math.min(MAX_DELAY, Math.max(0, Math.ceil(at - now))));
  }

  /** Takes a waiter out of the queue and everything that watches it. */
  #unlink(waiter: Waiter): void {
    this.#queue.remove(waiter);
    this.#detach(waiter);
  }

  /** Stops watching a waiter that left the queue: expiry heap, timer, abort listener. */
  #detach(waiter: Waiter): void {
    if (waiter.heapIndex >= 0) {
      const heap = this.#expiries;
      heap.remove(waiter);
      // An idle bulkhead holds no timer. A timer armed for an earlier waiter is otherwise left
      // to fire and re-arm: cheaper than clearing and setting one on every admission.
      if (heap.size === 0 && this.#timer !== undefined) {
        this.#clock.clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#timerAt = Infinity;
      }
    }
    const signal = waiter.signal;
    if (signal !== undefined) unwatchAbort(signal, waiter);
  }

  #settleRejected(waiter: Waiter, error: unknown): void {
    if (waiter.mode === OUTCOME) waiter.resolve({ ok: false, error });
    else waiter.reject(error);
  }

  #emitAdmitted(fromQueue: boolean, waitedMs: number): void {
    this.#events.emit({
      type: 'bulkhead.admitted',
      source: 'bulkhead',
      name: this.name,
      time: this.#clock.now(),
      fromQueue,
      waitedMs,
      active: this.#active,
      queued: this.#queue.size,
      limit: this.#limit,
    });
  }

  #emitRejected(reason: BulkheadRejectReason, waitedMs: number): void {
    this.#events.emit({
      type: 'bulkhead.rejected',
      source: 'bulkhead',
      name: this.name,
      time: this.#clock.now(),
      reason,
      waitedMs,
      active: this.#active,
      queued: this.#queue.size,
      limit: this.#limit,
    });
  }
}

/**
 * Creates a bulkhead: at most `maxConcurrent` calls run at once, up to `maxQueue` more wait (each
 * at most `maxWaitMs`, and never past its context's deadline), and a freed slot goes straight to
 * the next waiter, so a newcomer never overtakes someone already waiting.
 *
 * @example
 * ```ts
 * const db = createBulkhead({ name: 'db', maxConcurrent: 10, maxQueue: 50, maxWaitMs: 2_000 });
 * const rows = await db.execute(({ signal }) => pool.query(sql, { signal }));
 *
 * const permit = await db.acquire({ signal });
 * try { await stream.pipeTo(sink) } finally { permit.release() }
 * ```
 */
export function createBulkhead(options: BulkheadOptions): Bulkhead {
  return new BulkheadImpl(options);
}
