import type { Clock } from '../clock.js';
import type { EventBus, XEvent, XEventType } from '../events.js';
import { checkInteger } from '../options.js';

const CLOSED = 0;
const OPEN = 1;
const PROBING = 2;

/**
 * Health of a guarded store: `'healthy'` (calls go to the store), `'degraded'` (the store is
 * skipped until the cooldown ends) or `'probing'` (one call is testing whether it is back).
 */
export type StoreHealth = 'healthy' | 'degraded' | 'probing';

/** Settings of a {@link StoreGuard}. */
export interface StoreGuardSettings {
  /** The package whose events the guard emits: `'<source>.store_error'` and so on. */
  readonly source: string;
  /** Instance name in the events. */
  readonly name: string;
  /** The package's fail mode, reported in the degraded and recovered events. */
  readonly mode: string;
  /** Consecutive failures (integer >= 1) that make the store skipped for `cooldownMs`. */
  readonly failureThreshold: number;
  /** How long the store is skipped before one call probes it (ms, integer >= 1). */
  readonly cooldownMs: number;
  readonly clock: Clock;
  readonly events: EventBus;
}

/**
 * Reads and validates the guard's two tuning options with their defaults (3 failures, 1000 ms),
 * for a store factory that exposes them.
 *
 * @example
 * ```ts
 * const { failureThreshold, cooldownMs } = storeGuardOptions('redisLockStore', options);
 * ```
 */
export function storeGuardOptions(
  owner: string,
  options: { readonly failureThreshold?: number | undefined; readonly cooldownMs?: number | undefined },
): { failureThreshold: number; cooldownMs: number } {
  return {
    failureThreshold: checkInteger(owner, 'failureThreshold', options.failureThreshold ?? 3, { min: 1, max: 1_000_000 }),
    cooldownMs: checkInteger(owner, 'cooldownMs', options.cooldownMs ?? 1_000, { min: 1, max: 3_600_000 }),
  };
}

/**
 * A small circuit breaker in front of a store. After `failureThreshold` consecutive failures
 * (errors or missed deadlines) the store is skipped for `cooldownMs`: callers answer per their fail
 * mode at in-memory cost, so a dead Redis costs microseconds, not a deadline per call. Then one
 * call probes the store; success closes the guard, failure starts another cooldown.
 *
 * Every call holds a ticket from {@link StoreGuard.admit}. Tickets make two things exact:
 * - a late answer from before a state change cannot flip the state;
 * - calls that were in flight together when they failed count as one failure: only a call
 *   admitted after the last counted failure counts again. One event-loop stall or one dropped
 *   connection fails every call in flight, but it is one fault, not `failureThreshold` of them.
 *
 * {@link StoreCaller} drives a guard; packages only read `health` and `retryAfterMs()`.
 *
 * @example
 * ```ts
 * const guard = new StoreGuard({ source: 'lock', name: 'orders', mode: 'closed', failureThreshold: 3, cooldownMs: 1000, clock, events });
 * const caller = new StoreCaller(redis, { owner: 'redisLockStore', timeoutMs: 100, clock, guard });
 * ```
 */
export class StoreGuard {
  readonly #s: StoreGuardSettings;
  #state = CLOSED;
  #failures = 0;
  /** The next ticket handed out. */
  #next = 0;
  /** Tickets below this were admitted before the last state change: their answers are stale. */
  #generationStart = 0;
  /** Tickets below this were in flight at the last counted failure. */
  #countFrom = 0;
  #reopenAt = 0;
  #degradedSince = 0;

  constructor(settings: StoreGuardSettings) {
    this.#s = settings;
  }

  get health(): StoreHealth {
    return this.#state === CLOSED ? 'healthy' : this.#state === OPEN ? 'degraded' : 'probing';
  }

  /** Consecutive failures counted since the last success. */
  get consecutiveFailures(): number {
    return this.#failures;
  }

  /** True while calls are skipped (degraded before the cooldown ends, or a probe in flight). */
  get skipping(): boolean {
    const state = this.#state;
    return state === PROBING || (state === OPEN && this.#s.clock.now() < this.#reopenAt);
  }

  /** A ticket for one store call, or -1 when the store must be skipped now. */
  admit(): number {
    const state = this.#state;
    if (state === CLOSED) return this.#next++;
    if (state === PROBING || this.#s.clock.now() < this.#reopenAt) return -1;
    this.#state = PROBING;
    return this.#next++;
  }

  /** The call holding `ticket` got an answer. */
  succeeded(ticket: number): void {
    if (ticket < this.#generationStart) return;
    this.#failures = 0;
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#generationStart = this.#next;
    const { events, clock, name, mode, source } = this.#s;
    const type = `${source}.store_recovered` as XEventType;
    if (events.hasListeners(type)) {
      const now = clock.now();
      events.emit({ type, source, name, time: now, mode, degradedForMs: now - this.#degradedSince } as unknown as XEvent);
    }
  }

  /** The call holding `ticket` failed (`timedOut`: it missed its deadline). */
  failed(ticket: number, error: unknown, timedOut: boolean): void {
    const current = ticket >= this.#generationStart;
    const counts = current && ticket >= this.#countFrom;
    if (counts) {
      this.#failures++;
      this.#countFrom = this.#next;
    }
    const { events, clock, name, mode, cooldownMs, source } = this.#s;
    const errorType = `${source}.store_error` as XEventType;
    if (events.hasListeners(errorType)) {
      events.emit({ type: errorType, source, name, time: clock.now(), error, timedOut, consecutiveFailures: this.#failures } as unknown as XEvent);
    }
    if (!current) return;
    const state = this.#state;
    if (state === PROBING || (state === CLOSED && counts && this.#failures >= this.#s.failureThreshold)) {
      const now = clock.now();
      this.#state = OPEN;
      this.#generationStart = this.#next;
      this.#reopenAt = now + cooldownMs;
      if (state === CLOSED) {
        this.#degradedSince = now;
        const type = `${source}.store_degraded` as XEventType;
        if (events.hasListeners(type)) {
          events.emit({ type, source, name, time: now, mode, consecutiveFailures: this.#failures, cooldownMs } as unknown as XEvent);
        }
      }
    }
  }

  /** While degraded, how long until a call may probe the store again (at least 1 ms); else `cooldownMs`. */
  retryAfterMs(): number {
    if (this.#state !== OPEN) return this.#s.cooldownMs;
    const left = this.#reopenAt - this.#s.clock.now();
    return left > 1 ? left : 1;
  }
}
