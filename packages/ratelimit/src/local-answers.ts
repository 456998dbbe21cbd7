import type { Clock } from '@x/core';
import type { StoreGuard } from '@x/core/store';
import { CONSUME, REFUND, Verdict } from './algorithms.js';
import { KeyTable } from './key-table.js';
import { Params } from './rule.js';
import type { RateLimitRule } from './rule.js';
import type { StoreErrorMode, StoreRequest, StoreVerdict } from './store.js';

/** Settings of {@link StoreAnswers}; validated by the store that owns it. */
export interface StoreAnswersSettings {
  readonly mode: StoreErrorMode;
  readonly instances: number;
  readonly maxLocalKeys: number;
  readonly clock: Clock;
  /** The store's guard: its cooldown is the `retryAfterMs` of a `'closed'` rejection. */
  readonly guard: StoreGuard;
}

/**
 * The decisions a Redis store gives while Redis cannot answer, per `onStoreError`: `'open'`
 * admits, `'closed'` rejects until the next probe, `'local'` limits this process to its share of
 * the limit (`limit / instances`) in memory.
 *
 * The local state follows what Redis admitted while it was healthy (see {@link StoreAnswers.mirror}),
 * so a switch to local does not hand out a fresh burst: a process that has just spent its share
 * through Redis starts local with an empty bucket, however often Redis flaps.
 *
 * @example
 * ```ts
 * const answers = new StoreAnswers({ mode: 'local', instances: 4, maxLocalKeys: 100_000, clock, guard });
 * if (!result.ok) return answers.answer(request);
 * ```
 */
export class StoreAnswers {
  readonly #s: StoreAnswersSettings;
  readonly #tables = new Map<string, KeyTable>();
  readonly #localParams = new WeakMap<RateLimitRule, Params>();
  readonly #scratch = new Verdict();

  constructor(settings: StoreAnswersSettings) {
    this.#s = settings;
  }

  /**
   * Records in the local state a consumption Redis admitted, as far as the local share allows
   * (never beyond empty: a process that used more than its share through Redis is not punished
   * after the switch). Only in `'local'` mode; costs one in-memory step per admitted decision.
   */
  mirror(request: StoreRequest): void {
    if (this.#s.mode !== 'local' || request.op !== CONSUME) return;
    const params = this.#paramsFor(request.rule);
    if (request.cost > params.capacity) return;
    this.#tableOf(request.scope).apply(request.key, this.#s.clock.now(), request.cost, 0, CONSUME, params, this.#scratch);
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
    return { allowed: false, remaining: 0, retryAfterMs: this.#s.guard.retryAfterMs(), resetAfterMs: 0, waitMs: 0, degraded: 'closed' };
  }

  /** Forgets a key's local state (with the store's `reset`). */
  forget(scope: string, key: string): void {
    this.#tables.get(scope)?.delete(key);
  }

  #local(request: StoreRequest): StoreVerdict {
    const { clock } = this.#s;
    const params = this.#paramsFor(request.rule);
    const out = new Verdict();
    out.degraded = 'local';
    if (request.cost > params.capacity) {
      // This process's share of the limit cannot hold the request: wait for the store.
      out.retryAfterMs = this.#s.guard.retryAfterMs();
      return out;
    }
    const table = this.#tableOf(request.scope);
    const op = request.op;
    // A refund passes its reservation where a consume passes its wait (see `step`).
    const arg = op === CONSUME ? request.maxWaitMs : op === REFUND ? (request.reservation ?? Number.NaN) : 0;
    table.apply(request.key, clock.now(), request.cost, arg, op, params, out);
    if (op === REFUND) out.allowed = true;
    return out;
  }

  #tableOf(scope: string): KeyTable {
    let table = this.#tables.get(scope);
    if (table === undefined) {
      table = new KeyTable(this.#s.maxLocalKeys, this.#s.clock.now());
      this.#tables.set(scope, table);
    }
    return table;
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
