import type { Clock, EventBus } from '@x/core';
import { CONSUME, REFUND, Verdict } from './algorithms.js';
// The event types must be in this entry's program for the bus to accept them (declaration merging).
import type {} from './events.js';
import { KeyTable } from './key-table.js';
import { Params } from './rule.js';
import type { RateLimitRule } from './rule.js';
import type { StoreErrorMode, StoreRequest, StoreVerdict } from './store.js';

const CLOSED = 0;
const OPEN = 1;
const PROBING = 2;

/**
 * Health of a guarded store: `'healthy'` (calls go to the store), `'degraded'` (the store is
 * skipped until the cooldown ends) or `'probing'` (one call is testing whether it is back).
 */
export type StoreHealth = 'healthy' | 'degraded' | 'probing';

/** Settings of a {@link StoreGuard}; validated by the store that owns it. */
export interface StoreGuardSettings {
  readonly name: string;
  readonly mode: StoreErrorMode;
  readonly failureThreshold: number;
  readonly cooldownMs: number;
  readonly instances: number;
  readonly maxLocalKeys: number;
  readonly clock: Clock;
  readonly events: EventBus;
}

/**
 * A small circuit breaker in front of a store, plus the answers given without it.
 *
 * After `failureThreshold` consecutive failures (errors or timeouts) the store is skipped for
 * `cooldownMs`: every decision is answered per `mode` at in-memory cost, so a dead Redis costs
 * microseconds, not a timeout per call. Then one call probes the store; success closes the guard,
 * failure starts another cooldown. Calls are tagged with the guard's generation so that a late
 * answer from before a state change cannot flip the state.
 *
 * @example
 * ```ts
 * const generation = guard.admit();
 * if (generation < 0) return guard.answer(request);
 * ```
 */
export class StoreGuard {
  readonly #s: StoreGuardSettings;
  #state = CLOSED;
  #failures = 0;
  #generation = 0;
  #reopenAt = 0;
  #degradedSince = 0;
  readonly #tables = new Map<string, KeyTable>();
  readonly #localParams = new WeakMap<RateLimitRule, Params>();

  constructor(settings: StoreGuardSettings) {
    this.#s = settings;
  }

  get health(): StoreHealth {
    return this.#state === CLOSED ? 'healthy' : this.#state === OPEN ? 'degraded' : 'probing';
  }

  /** The generation to tag a store call with, or -1 when the store must be skipped now. */
  admit(): number {
    const state = this.#state;
    if (state === CLOSED) return this.#generation;
    if (state === PROBING || this.#s.clock.now() < this.#reopenAt) return -1;
    this.#state = PROBING;
    return this.#generation;
  }

  succeeded(generation: number): void {
    if (generation !== this.#generation) return;
    this.#failures = 0;
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    const { events, clock, name, mode } = this.#s;
    if (events.hasListeners('ratelimit.store_recovered')) {
      const now = clock.now();
      events.emit({
        type: 'ratelimit.store_recovered',
        source: 'ratelimit',
        name,
        time: now,
        mode,
        degradedForMs: now - this.#degradedSince,
      });
    }
  }

  failed(generation: number, error: unknown, timedOut: boolean): void {
    const current = generation === this.#generation;
    if (current) this.#failures++;
    const { events, clock, name, mode, cooldownMs } = this.#s;
    if (events.hasListeners('ratelimit.store_error')) {
      events.emit({
        type: 'ratelimit.store_error',
        source: 'ratelimit',
        name,
        time: clock.now(),
        error,
        timedOut,
        consecutiveFailures: this.#failures,
      });
    }
    if (!current) return;
    const state = this.#state;
    if (state === PROBING || (state === CLOSED && this.#failures >= this.#s.failureThreshold)) {
      const now = clock.now();
      this.#state = OPEN;
      this.#generation++;
      this.#reopenAt = now + cooldownMs;
      if (state === CLOSED) {
        this.#degradedSince = now;
        if (events.hasListeners('ratelimit.store_degraded')) {
          events.emit({
            type: 'ratelimit.store_degraded',
            source: 'ratelimit',
            name,
            time: now,
            mode,
            consecutiveFailures: this.#failures,
            cooldownMs,
          });
        }
      }
    }
  }

  /** When a caller rejected in `'closed'` mode may expect the store to be tried again. */
  retryAfterMs(): number {
    if (this.#state !== OPEN) return this.#s.cooldownMs;
    const left = this.#reopenAt - this.#s.clock.now();
    return left > 1 ? left : 1;
  }

  /** The answer given without the store, per `mode`. */
  answer(request: StoreRequest): StoreVerdict {
    const mode = this.#s.mode;
    if (mode === 'local') return this.#local(request);
    const rule = request.rule;
    const capacity = rule.algorithm === 'gcra' || rule.algorithm === 'token-bucket' ? rule.burst : rule.limit;
    if (mode === 'open' || request.op === REFUND) {
      return { allowed: true, remaining: capacity - request.cost, retryAfterMs: 0, resetAfterMs: 0, waitMs: 0, degraded: mode };
    }
    return { allowed: false, remaining: 0, retryAfterMs: this.retryAfterMs(), resetAfterMs: 0, waitMs: 0, degraded: 'closed' };
  }

  /** Forgets a key's local state (with the store's `reset`). */
  forget(scope: string, key: string): void {
    this.#tables.get(scope)?.delete(key);
  }

  #local(request: StoreRequest): StoreVerdict {
    const { clock, maxLocalKeys } = this.#s;
    const params = this.#paramsFor(request.rule);
    const out = new Verdict();
    out.degraded = 'local';
    if (request.cost > params.capacity) {
      // This process's share of the limit cannot hold the request: wait for the store.
      out.retryAfterMs = this.retryAfterMs();
      return out;
    }
    let table = this.#tables.get(request.scope);
    if (table === undefined) {
      table = new KeyTable(maxLocalKeys, clock.now());
      this.#tables.set(request.scope, table);
    }
    const op = request.op;
    // A refund passes its reservation where a consume passes its wait (see `step`).
    const arg = op === CONSUME ? request.maxWaitMs : op === REFUND ? (request.reservation ?? Number.NaN) : 0;
    table.apply(request.key, clock.now(), request.cost, arg, op, params, out);
    if (op === REFUND) out.allowed = true;
    return out;
  }

  /** The rule divided by `instances`: each process admits its share while the store is away. */
  #paramsFor(rule: RateLimitRule): Params {
    let params = this.#localParams.get(rule);
    if (params === undefined) {
      const n = this.#s.instances;
      const limit = Math.max(1, Math.floor(rule.limit / n));
      const burst = Math.max(1, Math.floor(rule.burst / n));
      params = new Params(Object.freeze({ ...rule, limit, burst: rule.algorithm === 'gcra' || rule.algorithm === 'token-bucket' ? burst : limit }));
      this.#localParams.set(rule, params);
    }
    return params;
  }
}
