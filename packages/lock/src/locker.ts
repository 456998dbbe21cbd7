import {
  InvalidOptionsError,
  checkBoolean,
  checkClock,
  checkEvents,
  checkFunction,
  checkInteger,
  checkNumber,
  coarseNow,
  linkSignal,
  readOptions,
  sleep,
  trackInstance,
  unwatchAbort,
  watchAbort,
  MAX_TIMER_MS,
} from '@x/core';
import type { Clock, EventBus } from '@x/core';
import { LockLostError, LockNotAcquiredError } from './errors.js';
import type { LockFailureReason, LockLostReason } from './errors.js';
import { LeaseImpl } from './lease.js';
import type { Lease, ReleaseResult } from './lease.js';
import { MemoryLockStore, memoryLockStore } from './memory-store.js';
import type { LockStore, LockStoreGrant, LockStoreRequest } from './store.js';

/** How `acquire` waits between attempts. */
export interface LockRetryOptions {
  /** Most attempts per `acquire` (integer >= 1, `Infinity` allowed). Default `Infinity`: bounded by `waitMs`. */
  readonly attempts?: number | undefined;
  /** Mean wait between attempts, ms (>= 0). Default 50. */
  readonly delayMs?: number | undefined;
  /**
   * Spread of each wait around `delayMs`, as a fraction in [0, 1]: a wait is uniform in
   * `delayMs × [1 − jitter, 1 + jitter]`, so contenders do not retry in step. Default 0.5.
   */
  readonly jitter?: number | undefined;
}

/** Totals of a lock or semaphore since it was created. */
export interface LockStats {
  /** Leases granted and not yet released or lost. */
  readonly held: number;
  readonly acquired: number;
  /** Releases by result. */
  readonly released: Readonly<Record<ReleaseResult, number>>;
  /** Leases lost while held, by reason. */
  readonly lost: Readonly<Record<LockLostReason, number>>;
  /** Attempts that found the key held (or failed), by reason. */
  readonly contended: Readonly<Record<LockFailureReason, number>>;
  /** `acquire` / `tryLock` calls that gave up with `LOCK_NOT_ACQUIRED`. */
  readonly failed: number;
}

/** @internal What createLock and createSemaphore share. */
export interface LockerOptions {
  readonly name?: string | undefined;
  readonly store?: LockStore | undefined;
  readonly ttlMs?: number | undefined;
  readonly waitMs?: number | undefined;
  readonly retry?: LockRetryOptions | undefined;
  readonly clock?: Clock | undefined;
  readonly events?: EventBus | undefined;
}

/** Options of a single attempt. */
export interface TryLockOptions {
  /** Lease length, ms (integer in [1, 2³¹ − 1]); default the lock's `ttlMs`. */
  readonly ttlMs?: number | undefined;
  /**
   * Already aborted: the call rejects with its reason and asks nothing of the store. Aborted
   * while the store call is in flight: rejects at once; a grant that arrives later is released.
   */
  readonly signal?: AbortSignal | undefined;
}

/** Options of a waiting acquire. */
export interface AcquireOptions extends TryLockOptions {
  /** Longest wait for the lease, ms (>= 0, `Infinity` allowed); default the lock's `waitMs`. */
  readonly waitMs?: number | undefined;
  /** Aborting it ends the wait at once: the call rejects with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
}

/** What `withLock`'s function receives. */
export interface LockContext {
  /**
   * Aborts when the lease is lost, `maxHoldMs` is reached, or the caller's `signal` aborts
   * (with that signal's reason). Pass it to everything the function awaits.
   */
  readonly signal: AbortSignal;
  /** The lease's fence: hand it to the resource so it rejects older holders. */
  readonly fence: number;
  readonly lease: Lease;
}

/** Options of `withLock`. */
export interface WithLockOptions extends AcquireOptions {
  /** Extend the lease in the background while the function runs. Default true. */
  readonly autoExtend?: boolean | undefined;
  /**
   * Longest time the lease is held from its grant, ms (>= 1, `Infinity` allowed; default
   * `Infinity`). Extensions never go past it, and the signal aborts when it is reached.
   */
  readonly maxHoldMs?: number | undefined;
}

const RETRY_KEYS = ['attempts', 'delayMs', 'jitter'];
const TRY_KEYS = ['ttlMs', 'signal'];
const ACQUIRE_KEYS = ['ttlMs', 'waitMs', 'signal'];
const WITH_KEYS = ['ttlMs', 'waitMs', 'signal', 'autoExtend', 'maxHoldMs'];

type Failure = Extract<LockStoreGrant, { granted: false }>;
const HELD: Failure = Object.freeze({ granted: false, reason: 'held' });
/** `tryLock`'s answer when the key is held on a synchronous store: one settled promise, shared. */
const NONE: Promise<null> = Promise.resolve(null);
const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';

/** 96 random bits, so tokens never collide across processes. */
function randomId(): string {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  let id = '';
  for (const byte of bytes) id += byte.toString(16).padStart(2, '0');
  return id;
}

/** @internal The engine behind createLock and createSemaphore. */
export class Locker {
  readonly name: string;
  readonly store: LockStore;
  readonly clock: Clock;
  readonly events: EventBus;
  readonly ttlMs: number;
  readonly waitMs: number;
  readonly attempts: number;
  readonly delayMs: number;
  readonly jitter: number;
  /** Undefined for a lock; slots per key for a semaphore. */
  readonly limit: number | undefined;
  /**
   * The built-in memory store, when it is this lock's store (not a semaphore's): asked directly
   * and synchronously, with leases named by their fence, so a grant needs no token, no request
   * object and no grant object. Any other store (a wrapped memory store included) goes through
   * the `LockStore` interface.
   */
  readonly memory: MemoryLockStore | undefined;
  readonly owner: string;
  readonly #tokenPrefix = `${randomId()}:`;
  #tokenSeq = 0;
  #held = 0;
  #acquired = 0;
  #failed = 0;
  readonly #released: Record<ReleaseResult, number> = { released: 0, expired: 0, unconfirmed: 0 };
  readonly #lost: Record<LockLostReason, number> = { expired: 0, not_held: 0, max_hold: 0 };
  readonly #contended: Record<LockFailureReason, number> = { held: 0, store_unavailable: 0, validity: 0, fence: 0 };

  constructor(owner: string, o: LockerOptions, limit: number | undefined, defaultName: string) {
    this.owner = owner;
    this.name = o.name === undefined ? defaultName : checkName(owner, o.name);
    this.store = o.store === undefined ? memoryLockStore() : checkStore(owner, o.store);
    this.ttlMs = o.ttlMs === undefined ? 30_000 : this.checkTtl(owner, 'ttlMs', o.ttlMs);
    this.waitMs = o.waitMs === undefined ? 10_000 : checkNumber(owner, 'waitMs', o.waitMs, { min: 0, allowInfinity: true });
    const retry = readOptions<LockRetryOptions>(owner, o.retry, RETRY_KEYS);
    this.attempts = retry.attempts === undefined ? Infinity : checkInteger(owner, 'retry.attempts', retry.attempts, { min: 1, allowInfinity: true });
    this.delayMs = retry.delayMs === undefined ? 50 : checkNumber(owner, 'retry.delayMs', retry.delayMs, { min: 0, max: MAX_TIMER_MS });
    this.jitter = retry.jitter === undefined ? 0.5 : checkNumber(owner, 'retry.jitter', retry.jitter, { min: 0, max: 1 });
    this.clock = checkClock(owner, o.clock);
    this.events = checkEvents(owner, o.events);
    this.limit = limit;
    this.memory = limit === undefined && this.store instanceof MemoryLockStore ? this.store : undefined;
    trackInstance(this.events, 'lock', this.name, this);
  }

  checkTtl(owner: string, option: string, value: unknown): number {
    return checkInteger(owner, option, value, { min: 1, max: MAX_TIMER_MS });
  }

  stats(): LockStats {
    return {
      held: this.#held,
      acquired: this.#acquired,
      released: { ...this.#released },
      lost: { ...this.#lost },
      contended: { ...this.#contended },
      failed: this.#failed,
    };
  }

  #key(method: string, key: unknown): string {
    if (typeof key !== 'string' || key.length === 0) throw new InvalidOptionsError(`${this.owner}.${method}`, 'key', key, 'a non-empty string');
    return key;
  }

  #token(): string {
    return this.#tokenPrefix + (this.#tokenSeq++).toString(36);
  }

  /** One attempt: `tryLock` / `tryAcquire`. Null when held; rejects when the store fails. */
  tryLock(method: string, key: string, options?: TryLockOptions): Promise<Lease | null> {
    let ttlMs = this.ttlMs;
    let signal: AbortSignal | undefined;
    try {
      this.#key(method, key);
      if (options !== undefined) {
        const o = readOptions<TryLockOptions>(`${this.owner}.${method}`, options, TRY_KEYS);
        if (o.ttlMs !== undefined) ttlMs = this.checkTtl(`${this.owner}.${method}`, 'ttlMs', o.ttlMs);
        signal = checkSignal(`${this.owner}.${method}`, o.signal);
        if (signal?.aborted) return Promise.reject(signal.reason);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const start = coarseNow(this.clock);
    const outcome = this.#attempt(key, this.memory === undefined ? this.#token() : undefined, ttlMs, start);
    // Like acquire: a caller who aborts while the store call is in flight is rejected at once and
    // never handed the lease; a grant that lands afterwards is given back (nobody else would).
    if (isThenable(outcome)) {
      if (signal === undefined) return outcome.then((o) => this.#tried(key, o, start));
      const aborting = signal;
      return abortable(outcome, aborting).then(async (o) => {
        if (o instanceof LeaseImpl && aborting.aborted) {
          await o.discard();
          throw aborting.reason;
        }
        return this.#tried(key, o, start);
      });
    }
    try {
      const lease = this.#tried(key, outcome, start);
      return lease === null ? NONE : Promise.resolve(lease);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #tried(key: string, outcome: LeaseImpl | Failure, start: number): Lease | null {
    if (outcome instanceof LeaseImpl) {
      this.#granted(outcome, start, 1);
      return outcome;
    }
    this.#contend(key, 1, outcome.reason);
    if (outcome.reason === 'held') return null;
    this.#failed++;
    throw new LockNotAcquiredError(this.name, key, outcome.reason, 1, this.clock.now() - start, outcome.detail, outcome.error);
  }

  /**
   * Asks the store once; a grant whose validity is already gone is released and reported as such.
   * `token` is undefined exactly when the store is the built-in memory store (see `memory`).
   */
  #attempt(key: string, token: string | undefined, ttlMs: number, start: number): LeaseImpl | Failure | Promise<LeaseImpl | Failure> {
    if (token === undefined) {
      const fence = (this.memory as MemoryLockStore).grantLock(key, ttlMs, start);
      return fence === 0 ? HELD : new LeaseImpl(this, key, undefined, fence, start, start + ttlMs, ttlMs);
    }
    const request: LockStoreRequest = { key, token, ttlMs, now: start, limit: this.limit };
    let grant: LockStoreGrant | Promise<LockStoreGrant>;
    try {
      grant = this.store.acquire(request);
    } catch (error) {
      return { granted: false, reason: 'store_unavailable', error };
    }
    if (!isThenable(grant)) {
      if (!grant.granted) return grant;
      // Answered in this turn: no time to subtract beyond the store's drift.
      return new LeaseImpl(this, key, token, grant.fence, start, start + ttlMs - this.store.drift(ttlMs), ttlMs);
    }
    return grant.then(
      (g) => this.#checked(g, key, token, ttlMs, start),
      (error: unknown): Failure => ({ granted: false, reason: 'store_unavailable', error }),
    );
  }

  async #checked(grant: LockStoreGrant, key: string, token: string, ttlMs: number, start: number): Promise<LeaseImpl | Failure> {
    if (!grant.granted) return grant;
    const validUntil = start + ttlMs - this.store.drift(ttlMs);
    const now = this.clock.now();
    if (now < validUntil) return new LeaseImpl(this, key, token, grant.fence, start, validUntil, ttlMs);
    // Granted too late to be of use: give it back so the next contender need not wait for the TTL.
    try {
      await this.store.release({ key, token, ttlMs, now, limit: this.limit });
    } catch {
      // It expires by itself.
    }
    return { granted: false, reason: 'validity', detail: `granted after ${Math.round(now - start)} ms of a ${ttlMs} ms TTL` };
  }

  #granted(lease: LeaseImpl, start: number, attempts: number): void {
    this.#held++;
    this.#acquired++;
    if (this.events.hasListeners('lock.acquired')) {
      const now = this.clock.now();
      this.events.emit({
        type: 'lock.acquired',
        source: 'lock',
        name: this.name,
        time: now,
        key: lease.key,
        fence: lease.fence,
        waitedMs: now - start,
        attempts,
        validityMs: lease.validUntil - now,
      });
    }
  }

  #contend(key: string, attempt: number, reason: LockFailureReason): void {
    this.#contended[reason]++;
    if (this.events.hasListeners('lock.contended')) {
      this.events.emit({ type: 'lock.contended', source: 'lock', name: this.name, time: this.clock.now(), key, attempt, reason });
    }
  }

  /** Waits with jittered retries until granted, `waitMs`, `retry.attempts` or the caller's abort. */
  async acquire(method: string, key: string, options?: AcquireOptions): Promise<Lease> {
    const owner = `${this.owner}.${method}`;
    this.#key(method, key);
    const o = readOptions<AcquireOptions>(owner, options, method === 'withLock' ? WITH_KEYS : ACQUIRE_KEYS);
    const ttlMs = o.ttlMs === undefined ? this.ttlMs : this.checkTtl(owner, 'ttlMs', o.ttlMs);
    const waitMs = o.waitMs === undefined ? this.waitMs : checkNumber(owner, 'waitMs', o.waitMs, { min: 0, allowInfinity: true });
    const signal = checkSignal(owner, o.signal);
    if (signal?.aborted) throw signal.reason;
    const clock = this.clock;
    const start = clock.now();
    const deadline = start + waitMs;
    const token = this.memory === undefined ? this.#token() : undefined;
    for (let attempt = 1; ; attempt++) {
      const attemptStart = clock.now();
      const pending = this.#attempt(key, token, ttlMs, attemptStart);
      const outcome = isThenable(pending) ? await (signal === undefined ? pending : abortable(pending, signal)) : pending;
      if (outcome instanceof LeaseImpl) {
        if (signal?.aborted) {
          // The caller gave up as the grant arrived: hand it back.
          await outcome.discard();
          throw signal.reason;
        }
        this.#granted(outcome, start, attempt);
        return outcome;
      }
      this.#contend(key, attempt, outcome.reason);
      const left = deadline - clock.now();
      if (outcome.reason === 'store_unavailable' || attempt >= this.attempts || left <= 0) {
        this.#failed++;
        throw new LockNotAcquiredError(this.name, key, outcome.reason, attempt, clock.now() - start, outcome.detail, outcome.error);
      }
      const spread = this.jitter * (2 * Math.random() - 1);
      await sleep(Math.min(left, this.delayMs * (1 + spread)), { signal, clock });
    }
  }

  async withLock<T>(key: string, fn: (context: LockContext) => T | PromiseLike<T>, options?: WithLockOptions): Promise<T> {
    const owner = `${this.owner}.withLock`;
    checkFunction(owner, 'fn', fn);
    const o = readOptions<WithLockOptions>(owner, options, WITH_KEYS);
    const autoExtend = o.autoExtend === undefined ? true : checkBoolean(owner, 'autoExtend', o.autoExtend);
    const maxHoldMs = o.maxHoldMs === undefined ? Infinity : checkNumber(owner, 'maxHoldMs', o.maxHoldMs, { min: 1, allowInfinity: true });
    const lease = (await this.acquire('withLock', key, o)) as LeaseImpl;
    lease.startAuto(autoExtend, maxHoldMs);
    const callerSignal = o.signal;
    let signal = lease.signal;
    let link: ReturnType<typeof linkSignal> | undefined;
    let watcher: { handleEvent(): void } | undefined;
    if (callerSignal !== undefined) {
      const child = (link = linkSignal(callerSignal));
      const leaseSignal = signal;
      watcher = { handleEvent: () => child.abort(leaseSignal.reason) };
      if (leaseSignal.aborted) child.abort(leaseSignal.reason);
      else watchAbort(leaseSignal, watcher);
      signal = child.signal;
    }
    let value: T | undefined;
    let failed = false;
    let error: unknown;
    try {
      value = await fn({ signal, fence: lease.fence, lease });
    } catch (e) {
      failed = true;
      error = e;
    }
    const held = lease.held();
    const lostReason = (lease.signal.reason as LockLostError | undefined)?.reason;
    if (watcher !== undefined) unwatchAbort(lease.signal, watcher);
    link?.dispose();
    await lease.release();
    if (!held) throw new LockLostError(this.name, key, lostReason ?? 'expired', failed ? error : undefined);
    if (failed) throw error;
    return value as T;
  }

  extended(lease: LeaseImpl, validityMs: number): void {
    if (this.events.hasListeners('lock.extended')) {
      this.events.emit({ type: 'lock.extended', source: 'lock', name: this.name, time: this.clock.now(), key: lease.key, fence: lease.fence, validityMs });
    }
  }

  lost(lease: LeaseImpl, reason: LockLostReason): void {
    this.#held--;
    this.#lost[reason]++;
    if (this.events.hasListeners('lock.lost')) {
      const now = this.clock.now();
      this.events.emit({ type: 'lock.lost', source: 'lock', name: this.name, time: now, key: lease.key, fence: lease.fence, reason, heldMs: now - lease.grantedAt });
    }
  }

  released(lease: LeaseImpl, result: ReleaseResult, wasHeld: boolean): void {
    if (wasHeld) this.#held--;
    this.#released[result]++;
    if (this.events.hasListeners('lock.released')) {
      const now = this.clock.now();
      this.events.emit({ type: 'lock.released', source: 'lock', name: this.name, time: now, key: lease.key, fence: lease.fence, result, heldMs: now - lease.grantedAt });
    }
  }
}

/**
 * Settles with `pending`, or rejects with the signal's reason as soon as it aborts; a lease that
 * arrives after the abort is released (nobody else will).
 */
function abortable(pending: Promise<LeaseImpl | Failure>, signal: AbortSignal): Promise<LeaseImpl | Failure> {
  if (signal.aborted) return pending;
  return new Promise((resolve, reject) => {
    let settled = false;
    const watcher = {
      handleEvent(): void {
        if (settled) return;
        settled = true;
        reject(signal.reason);
        void pending.then((late) => (late instanceof LeaseImpl ? late.discard() : undefined));
      },
    };
    watchAbort(signal, watcher);
    void pending.then((outcome) => {
      if (settled) return;
      settled = true;
      unwatchAbort(signal, watcher);
      resolve(outcome);
    });
  });
}

function checkName(owner: string, name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidOptionsError(owner, 'name', name, 'a non-empty string');
  return name;
}

function checkStore(owner: string, store: unknown): LockStore {
  const s = store as Partial<LockStore> | null;
  if (typeof s !== 'object' || s === null || typeof s.acquire !== 'function' || typeof s.extend !== 'function' || typeof s.release !== 'function' || typeof s.drift !== 'function') {
    throw new InvalidOptionsError(owner, 'store', store, 'a LockStore (memoryLockStore(), redisLockStore(redis) or redlockStore([...]))');
  }
  return s as LockStore;
}

function checkSignal(owner: string, signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (typeof signal !== 'object' || signal === null || typeof (signal as AbortSignal).aborted !== 'boolean' || typeof (signal as AbortSignal).addEventListener !== 'function') {
    throw new InvalidOptionsError(owner, 'signal', signal, 'an AbortSignal or undefined');
  }
  return signal as AbortSignal;
}
