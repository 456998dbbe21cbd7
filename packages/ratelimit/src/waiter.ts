import { unwatchAbort, watchAbort } from '@x/core';
import type { Clock } from '@x/core';
import { Decision } from './decision.js';
import { rateLimitRejection } from './errors.js';
import type { RateLimitRejectReason } from './events.js';
import type { RateLimitRule } from './rule.js';
import type { StoreErrorMode } from './store.js';

/** The longest delay `setTimeout` honours; longer waits are re-armed in steps. */
const MAX_TIMER_MS = 2_147_483_647;

/** The fields of a verdict a waiter reads (both the memory `Verdict` and a `StoreVerdict`). */
export interface VerdictLike {
  readonly allowed: boolean;
  readonly remaining: number;
  readonly retryAfterMs: number;
  readonly resetAfterMs: number;
  readonly waitMs: number;
  readonly degraded: StoreErrorMode | undefined;
  /** For an admission: its place on the key's schedule, passed back with a refund. */
  readonly reservation?: number | undefined;
}

/** A rejection in `executeOutcome` form. */
export interface Failed {
  readonly ok: false;
  readonly error: unknown;
}

/**
 * What a waiter needs from its limiter. The limiter decides again when the waiter wakes up
 * (`attempt`), gives back reservations of aborted waits (`refund`) and reports outcomes.
 *
 * @example
 * ```ts
 * class MyLimiter implements WaiterHost { ... }
 * ```
 */
export interface WaiterHost {
  readonly name: string;
  readonly clock: Clock;
  /** The time base of waits (differences only; see the limiter's `now`). */
  now(): number;
  /** The rule in force (admissions are reported under it). */
  readonly rule: RateLimitRule;
  /** Decides again for `waiter` with `waiter.budget(now)` and calls `waiter.onVerdict`. */
  attempt(waiter: Waiter): void;
  /**
   * Gives `cost` back on `key` (best effort), only if the admission identified by `reservation`
   * is still the last one on the key's schedule.
   */
  refund(key: string, cost: number, reservation: number | undefined): void;
  emitAllowed(key: string, cost: number, remaining: number, waitedMs: number, degraded: StoreErrorMode | undefined): void;
  emitRejected(key: string, cost: number, reason: RateLimitRejectReason, retryAfterMs: number, degraded: StoreErrorMode | undefined): void;
}

/**
 * One `acquire` (or policy execution) that could not be admitted at once. It sleeps on the
 * limiter's hint instead of polling: until a reserved slot is due (GCRA, token bucket), or until
 * `retryAfterMs` and then decides again (windows, or a store that answered "closed"). It listens
 * to the caller's signal while waiting and while a store decides for it, always removes that
 * listener, and gives a reservation back if the caller aborts (an admission the store makes after
 * the abort too).
 *
 * It is its own abort listener (`handleEvent`), and one callback (`fire`) serves all its timers,
 * so a wait allocates the waiter, its promise and that callback, nothing per timer.
 *
 * @example
 * ```ts
 * const waiter = new Waiter(host, key, cost, deadline, signal, false, clock.now());
 * waiter.onVerdict(verdict, clock.now());
 * return waiter.promise;
 * ```
 */
export class Waiter {
  readonly promise: Promise<Decision | Failed>;
  declare resolve: (value: Decision | Failed) => void;
  declare reject: (reason: unknown) => void;
  #timer: unknown = undefined;
  #target = 0;
  #reserved: Decision | undefined = undefined;
  #reservation: number | undefined = undefined;
  #settled = false;
  #slept = false;
  #listening = false;
  readonly fire: () => void;

  constructor(
    readonly host: WaiterHost,
    readonly key: string,
    readonly cost: number,
    /** Absolute time after which the request must not be admitted (may be Infinity). */
    readonly deadline: number,
    readonly signal: AbortSignal | undefined,
    /** When true, failures resolve as `{ ok: false, error }` instead of rejecting. */
    readonly outcome: boolean,
    readonly startedAt: number,
  ) {
    this.promise = new Promise<Decision | Failed>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.fire = () => this.#wake();
  }

  /** How long a reservation made now may wait. */
  budget(now: number): number {
    const left = this.deadline - now;
    return left > 0 ? left : 0;
  }

  /** Takes the limiter's answer: admit, reserve and sleep, sleep and retry, or give up. */
  onVerdict(v: VerdictLike, now: number): void {
    if (this.#settled) {
      // The caller aborted while the store was deciding: give back what it admitted for us.
      if (v.allowed) this.host.refund(this.key, this.cost, v.reservation);
      return;
    }
    if (v.allowed) {
      const decision = new Decision(true, v.remaining, 0, v.resetAfterMs, this.host.rule, v.degraded);
      if (v.waitMs > 0) {
        this.#reserved = decision;
        this.#reservation = v.reservation;
        this.#sleep(now + v.waitMs, now);
        return;
      }
      this.#admit(decision, now);
      return;
    }
    const retry = v.retryAfterMs;
    if (retry <= this.deadline - now && retry < Infinity) {
      this.#sleep(now + (retry > 0 ? retry : 0), now);
      return;
    }
    const closed = v.degraded === 'closed';
    this.host.emitRejected(this.key, this.cost, closed ? 'store_unavailable' : 'limited', retry, v.degraded);
    this.#fail(rateLimitRejection(this.host.name, retry, closed));
  }

  /** The store call failed outright (a store that broke its contract): pass the error on. */
  onError(error: unknown): void {
    if (this.#settled) return;
    this.#fail(error);
  }

  /**
   * Listens to the caller's signal while a store decides for this waiter, so that an abort during
   * the round trip rejects at once. False when the signal has already aborted (the waiter then
   * failed and nothing must be sent).
   */
  watch(): boolean {
    if (this.#listening || this.signal === undefined) return true;
    if (this.signal.aborted) {
      this.handleEvent();
      return false;
    }
    watchAbort(this.signal, this);
    this.#listening = true;
    return true;
  }

  #sleep(target: number, now: number): void {
    this.#target = target;
    this.#slept = true;
    if (!this.watch()) return;
    const delay = target - now;
    this.#timer = this.host.clock.setTimeout(this.fire, delay > MAX_TIMER_MS ? MAX_TIMER_MS : delay);
  }

  #wake(): void {
    this.#timer = undefined;
    if (this.#settled) return;
    const now = this.host.now();
    if (now < this.#target && this.#target - now > MAX_TIMER_MS / 2) {
      // A wait longer than one timer allows: keep sleeping.
      this.#sleep(this.#target, now);
      return;
    }
    const reserved = this.#reserved;
    if (reserved !== undefined) {
      this.#admit(reserved, now);
      return;
    }
    this.host.attempt(this);
  }

  #admit(decision: Decision, now: number): void {
    this.#settled = true;
    this.#unlisten();
    this.host.emitAllowed(this.key, this.cost, decision.remaining, this.#slept ? now - this.startedAt : 0, decision.degraded);
    this.resolve(decision);
  }

  #fail(error: unknown): void {
    this.#settled = true;
    this.#unlisten();
    if (this.outcome) this.resolve({ ok: false, error });
    else this.reject(error);
  }

  #unlisten(): void {
    if (this.#listening) {
      this.#listening = false;
      if (this.signal !== undefined) unwatchAbort(this.signal, this);
    }
  }

  /**
   * The caller's signal aborted while waiting or while a store was deciding (whatever the store
   * then admits is given back by `onVerdict`).
   */
  handleEvent(): void {
    if (this.#settled) return;
    if (this.#timer !== undefined) {
      this.host.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#reserved !== undefined) {
      this.#reserved = undefined;
      this.host.refund(this.key, this.cost, this.#reservation);
    }
    this.host.emitRejected(this.key, this.cost, 'aborted', 0, undefined);
    this.#fail((this.signal as AbortSignal).reason);
  }
}
