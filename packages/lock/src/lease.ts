import { coarseNow, unrefTimer } from '@x/core';
import type { TimerHandle } from '@x/core';
import { LockLostError } from './errors.js';
import type { LockLostReason } from './errors.js';
import type { LockStoreExtend, LockStoreRelease, LockStoreRequest } from './store.js';
import type { Locker } from './locker.js';
import type { MemoryLockStore } from './memory-store.js';

declare global {
  interface SymbolConstructor {
    /** The `await using` disposal symbol (ES2024 explicit resource management). */
    readonly asyncDispose: unique symbol;
  }
}

/** `Symbol.asyncDispose`, or the registered symbol polyfills use where the runtime has none. */
const ASYNC_DISPOSE: typeof Symbol.asyncDispose = (Symbol.asyncDispose ?? Symbol.for('Symbol.asyncDispose')) as typeof Symbol.asyncDispose;

/**
 * What `release()` found:
 * - `'released'`: the lease was still valid and the store removed it;
 * - `'expired'`: it had already ended (its validity ran out, it was lost, or the store no longer
 *   had it), so there was nothing to remove. A result, never an error;
 * - `'unconfirmed'`: the store did not answer while the lease was still valid; it ends by
 *   itself when its TTL runs out (a `lock.store_error` event says what failed).
 */
export type ReleaseResult = 'released' | 'expired' | 'unconfirmed';

/**
 * A granted lock (or semaphore slot). Check `signal` or `remainingMs()` before side effects, and
 * hand `fence` to the resource so it can reject writes from an older holder.
 *
 * @example
 * ```ts
 * await using lease = await lock.acquire('invoice:42');
 * if (lease.remainingMs() > 1_000) await db.write(row, { fence: lease.fence });
 * ```
 */
export interface Lease {
  /** The key it was granted on. */
  readonly key: string;
  /**
   * Strictly greater than the fence of every earlier grant on this key, across holders and
   * processes (within the store's guarantee; see the README). A safe integer.
   */
  readonly fence: number;
  /**
   * Aborts (with a `LockLostError`) when the lease is lost: its validity ran out, the store
   * said it is no longer held, or `withLock`'s `maxHoldMs` was reached. Created on first read;
   * not aborted by a normal `release()`.
   */
  readonly signal: AbortSignal;
  /** Milliseconds of validity left, from the monotonic clock; 0 once lost or released. */
  remainingMs(): number;
  /**
   * Extends the lease to `ms` from now (default: its TTL). True when the store confirmed it;
   * false when the lease is no longer held (it is then lost) or the store did not answer (it
   * stays valid until `remainingMs()` runs out). Never rejects; runs after any extension or
   * release in flight.
   */
  extend(ms?: number): Promise<boolean>;
  /**
   * Releases the lease. Never rejects and never hangs past the store's deadline; later calls
   * return the first call's result. Waits for an extension in flight first.
   */
  release(): Promise<ReleaseResult>;
  /** `await using lease = ...` releases it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void>;
}

const HELD = 0;
const LOST = 1;
const RELEASING = 2;

const RESOLVED: Record<ReleaseResult, Promise<ReleaseResult>> = {
  released: Promise.resolve('released'),
  expired: Promise.resolve('expired'),
  unconfirmed: Promise.resolve('unconfirmed'),
};
const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';

/** @internal The one implementation of {@link Lease}, driven by its {@link Locker}. */
export class LeaseImpl implements Lease {
  readonly key: string;
  readonly fence: number;
  /** The owner token the store knows it by; undefined on the built-in memory store, which knows it by its fence. */
  readonly token: string | undefined;
  readonly grantedAt: number;
  /** Clock time the lease stops being valid. */
  validUntil: number;
  /** Length of background extensions and of `extend()` without an argument. */
  readonly ttlMs: number;
  readonly #locker: Locker;
  #state = HELD;
  /** Set once lost; the signal's abort reason. */
  #lost: LockLostError | undefined;
  /** The store had it no longer: release has nothing to remove. */
  #gone = false;
  /** Never handed out: its release is not counted or reported. */
  #discarded = false;
  #controller: AbortController | undefined;
  /** The extension in flight, which release and other extensions wait for. */
  #busy: Promise<unknown> | undefined;
  #released: Promise<ReleaseResult> | undefined;
  #timer: TimerHandle | undefined;
  #timerFn: (() => void) | undefined;
  /** Background extension is on (`withLock`'s `autoExtend`). */
  #auto = false;
  /** `maxHoldMs` deadline, clock time. */
  #holdUntil = Infinity;
  /** When the next background extension is due. */
  #extendAt = Infinity;
  /** The last extension was cut short at `maxHoldMs`: no more are due, and running out is `'max_hold'`. */
  #capped = false;

  constructor(locker: Locker, key: string, token: string | undefined, fence: number, grantedAt: number, validUntil: number, ttlMs: number) {
    this.#locker = locker;
    this.key = key;
    this.token = token;
    this.fence = fence;
    this.grantedAt = grantedAt;
    this.validUntil = validUntil;
    this.ttlMs = ttlMs;
  }

  get signal(): AbortSignal {
    let controller = this.#controller;
    if (controller === undefined) {
      controller = this.#controller = new AbortController();
      if (this.#lost !== undefined) controller.abort(this.#lost);
      else if (this.#state === HELD) {
        if (this.#locker.clock.now() >= this.validUntil) this.lose(this.#ranOut());
        else this.#arm();
      }
    }
    return controller.signal;
  }

  /** Held: not lost, not released, and still valid by the clock. */
  held(): boolean {
    return this.#state === HELD && this.#locker.clock.now() < Math.min(this.validUntil, this.#holdUntil);
  }

  remainingMs(): number {
    if (this.#state !== HELD) return 0;
    const now = this.#locker.clock.now();
    // Never more than maxHoldMs allows: the lease is lost there even if its validity runs longer.
    const left = Math.min(this.validUntil, this.#holdUntil) - now;
    if (left > 0) return left;
    this.lose(now >= this.#holdUntil ? 'max_hold' : this.#ranOut());
    return 0;
  }

  /** Starts background extension (and the `maxHoldMs` deadline) for `withLock`. */
  startAuto(autoExtend: boolean, maxHoldMs: number): void {
    if (this.#state !== HELD) return;
    this.#auto = autoExtend;
    if (maxHoldMs !== Infinity) this.#holdUntil = this.grantedAt + maxHoldMs;
    if (autoExtend) this.#extendAt = this.#nextExtension(this.grantedAt);
    if (autoExtend || maxHoldMs !== Infinity || this.#controller !== undefined) this.#arm();
  }

  extend(ms?: number): Promise<boolean> {
    const locker = this.#locker;
    if (ms !== undefined) {
      try {
        locker.checkTtl('Lease.extend', 'ms', ms);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const run = (): Promise<boolean> => this.#extend(ms ?? this.ttlMs, false);
    const busy = this.#busy;
    const result = busy === undefined ? run() : busy.then(run, run);
    this.#busy = result;
    void result.then(() => {
      if (this.#busy !== result) return;
      this.#busy = undefined;
      // While it was in flight the timer watched only expiry and maxHoldMs (see #arm).
      if (this.#auto || this.#controller !== undefined || this.#timer !== undefined) this.#arm();
    });
    return result;
  }

  /** One extension: never rejects; a definite "not held" loses the lease. */
  async #extend(ms: number, background: boolean): Promise<boolean> {
    if (this.#state !== HELD) return false;
    const locker = this.#locker;
    const start = locker.clock.now();
    if (start >= this.validUntil) {
      this.lose(this.#ranOut());
      return false;
    }
    let length = ms;
    const capped = this.#holdUntil - start <= length;
    if (capped) length = this.#holdUntil - start;
    if (length <= 0) {
      this.lose('max_hold');
      return false;
    }
    let answer: LockStoreExtend;
    try {
      const pending =
        this.token === undefined ? (locker.memory as MemoryLockStore).extendLock(this.key, this.fence, length, start) : locker.store.extend(this.#request(length, start));
      answer = isThenable(pending) ? await pending : pending;
    } catch {
      answer = 'unavailable'; // a store that broke its contract
    }
    if (this.#state !== HELD) return false;
    if (locker.clock.now() >= this.validUntil) {
      // The validity ran out while the store call was in flight: the lease was lost then, whatever
      // the store says now (a watched lease's timer already said so; this covers an unwatched one).
      this.lose(this.#ranOut());
      return false;
    }
    if (answer === 'extended') {
      // The store now expires it `length` from its receipt, even if that is sooner than before.
      this.validUntil = start + length - locker.store.drift(length);
      this.#capped = capped;
      if (background || this.#auto) this.#extendAt = this.#nextExtension(locker.clock.now());
      locker.extended(this, this.validUntil - locker.clock.now());
      if (this.#timer !== undefined || this.#controller !== undefined || this.#auto) this.#arm();
      return true;
    }
    if (answer === 'not_held') {
      this.#gone = true;
      this.lose('not_held');
      return false;
    }
    // No answer: still valid until validUntil. The background retries well before that.
    if (background) this.#extendAt = locker.clock.now() + Math.max(1, Math.min(this.ttlMs / 10, (this.validUntil - locker.clock.now()) / 3));
    if (this.#state === HELD && (this.#auto || this.#controller !== undefined)) this.#arm();
    return false;
  }

  /**
   * The next background extension: once a third of the validity left has passed (a third of the
   * TTL after a full extension), leaving two thirds for retries; never once validity reaches
   * the `maxHoldMs` deadline.
   */
  #nextExtension(now: number): number {
    // Once an extension was cut at maxHoldMs (its validity ends drift short of it), further ones
    // could only creep towards the cap in ever shorter steps.
    if (this.#capped || this.validUntil >= this.#holdUntil) return Infinity;
    return now + Math.max(1, (this.validUntil - now) / 3);
  }

  #request(ttlMs: number, now: number): LockStoreRequest {
    return { key: this.key, token: this.token as string, ttlMs, now, limit: this.#locker.limit };
  }

  /** Arms the one timer: the next background extension, the `maxHoldMs` deadline or expiry. */
  #arm(): void {
    const clock = this.#locker.clock;
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#state !== HELD) return;
    // While an extension is in flight only expiry and maxHoldMs are timed, so a store call that
    // outlasts the validity loses the lease on time (it re-arms when it settles).
    const at = Math.min(this.validUntil, this.#holdUntil, this.#auto && this.#busy === undefined ? this.#extendAt : Infinity);
    const delay = Math.max(0, Math.min(at - clock.now(), 2_147_483_647));
    this.#timerFn ??= () => this.#wake();
    this.#timer = unrefTimer(clock.setTimeout(this.#timerFn, delay));
  }

  #wake(): void {
    this.#timer = undefined;
    if (this.#state !== HELD) return;
    const now = this.#locker.clock.now();
    if (now >= this.#holdUntil) return this.lose('max_hold');
    if (now >= this.validUntil) return this.lose(this.#ranOut());
    if (!this.#auto || now < this.#extendAt || this.#busy !== undefined) {
      // Early wake-up, or an extension in flight (#arm then times only expiry and maxHoldMs).
      this.#arm();
      return;
    }
    const result = this.#extend(this.ttlMs, true);
    this.#busy = result;
    // Keep timing the validity while the store call is in flight: if it outlasts the validity
    // the lease is lost (and its signal aborted) then, not whenever the store answers.
    this.#arm();
    void result.then(() => {
      if (this.#busy === result) this.#busy = undefined;
      this.#arm();
    });
  }

  /** Why a lease whose validity ran out is lost: `'max_hold'` once extensions stopped at the cap. */
  #ranOut(): LockLostReason {
    return this.#capped ? 'max_hold' : 'expired';
  }

  /** Marks the lease lost once: aborts the signal, stops the timer, emits `lock.lost`. */
  lose(reason: LockLostReason): void {
    if (this.#state !== HELD) return;
    this.#state = LOST;
    const locker = this.#locker;
    if (this.#timer !== undefined) locker.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const error = (this.#lost = new LockLostError(locker.name, this.key, reason));
    locker.lost(this, reason);
    this.#controller?.abort(error);
  }

  release(): Promise<ReleaseResult> {
    if (this.#released !== undefined) return this.#released;
    const wasHeld = this.#state === HELD;
    this.#state = RELEASING;
    const locker = this.#locker;
    if (this.#timer !== undefined) locker.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#gone) return (this.#released = this.#finish('expired', wasHeld));
    const busy = this.#busy;
    if (busy !== undefined) {
      const after = (): Promise<ReleaseResult> => this.#storeRelease(wasHeld);
      return (this.#released = busy.then(after, after));
    }
    return (this.#released = this.#storeRelease(wasHeld));
  }

  #storeRelease(wasHeld: boolean): Promise<ReleaseResult> {
    if (this.#gone) return this.#finish('expired', wasHeld);
    const locker = this.#locker;
    const now = coarseNow(locker.clock);
    let pending: LockStoreRelease | Promise<LockStoreRelease>;
    try {
      pending = this.token === undefined ? (locker.memory as MemoryLockStore).releaseLock(this.key, this.fence, now) : locker.store.release(this.#request(0, now));
    } catch {
      pending = 'unavailable';
    }
    if (!isThenable(pending)) return this.#finish(this.#verdict(pending, now), wasHeld);
    return pending.then(
      (answer) => this.#finish(this.#verdict(answer, locker.clock.now()), wasHeld),
      () => this.#finish(this.#verdict('unavailable', locker.clock.now()), wasHeld),
    );
  }

  /** A lease whose validity ran out is `'expired'` whatever the store says (it may lag behind). */
  #verdict(answer: LockStoreRelease, now: number): ReleaseResult {
    if (now >= this.validUntil) return 'expired';
    return answer === 'released' ? 'released' : answer === 'expired' ? 'expired' : 'unconfirmed';
  }

  #finish(result: ReleaseResult, wasHeld: boolean): Promise<ReleaseResult> {
    if (!this.#discarded) this.#locker.released(this, result, wasHeld);
    return RESOLVED[result];
  }

  /** Gives back a grant that was never handed out (the caller had aborted): counted nowhere. */
  discard(): Promise<unknown> {
    this.#discarded = true;
    return this.release();
  }

  [ASYNC_DISPOSE](): Promise<void> {
    return this.release().then(noop);
  }
}

const noop = (): void => {};
