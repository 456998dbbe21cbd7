import { abortSignalOf, checkFunction, checkInteger, checkNumber, readOptions, checkString, coarseNow, defaultEventBus, InvalidOptionsError, systemClock, trackInstance } from '@x/core';
import type { Clock, EventBus, ExecutionContext, Policy } from '@x/core';
import { CONSUME, PEEK, REFUND, Verdict } from './algorithms.js';
import { Decision } from './decision.js';
import type { RateLimitDecision } from './decision.js';
import { rateLimitRejection } from './errors.js';
import type { RateLimitRejectReason } from './events.js';
import { KeyTable } from './key-table.js';
import { LimiterPolicy } from './policy.js';
import type { RateLimitPolicyOptions } from './policy.js';
import { Params, hasBurst, makeRule } from './rule.js';
import type { RateLimitAlgorithm, RateLimitRule } from './rule.js';
import type { RateLimitStore, StoreErrorMode, StoreRequest, StoreVerdict } from './store.js';
import { Waiter } from './waiter.js';
import type { Failed, WaiterHost } from './waiter.js';

const OWNER = 'createRateLimiter';

/** Options of {@link createRateLimiter}. */
export interface RateLimiterOptions {
  /**
   * Instance name for events and metrics; also the namespace of this limiter's keys in a shared
   * store, so two limiters on one store need different names. Default `'ratelimit'`.
   */
  readonly name?: string | undefined;
  /** Default `'gcra'`. See {@link RateLimitAlgorithm}. */
  readonly algorithm?: RateLimitAlgorithm | undefined;
  /** Cost units admitted per `periodMs` (integer in [1, 1e9]). */
  readonly limit: number;
  /** Length of the period in ms (integer in [1, one year]); `periodMs / limit` must be >= 0.001. */
  readonly periodMs: number;
  /**
   * GCRA and token bucket only: cost units admitted at once (integer in [1, 1e9]). Defaults to
   * `limit` and follows `setLimit` until set explicitly. Windows admit `limit` per window.
   */
  readonly burst?: number | undefined;
  /**
   * Longest `acquire` and the limiter's policies wait for capacity, in ms (>= 0, `Infinity`
   * allowed). Default `Infinity`: wait as long as needed, bounded only by the caller's deadline
   * and signal. `0` turns `acquire` into "admit now or reject".
   */
  readonly maxWaitMs?: number | undefined;
  /**
   * Memory limiter only: most keys held (integer >= 1, default 100 000). Idle keys are dropped as
   * new ones arrive; at the bound, the least recently used live key is evicted (it starts fresh).
   */
  readonly maxKeys?: number | undefined;
  /**
   * With the system clock, in-memory decisions read the time once per event-loop turn (re-read
   * every 64 decisions), like Envoy's and nginx's cached loop time: a clock read costs more than
   * the rest of a decision. The error is bounded by the time the loop spends between reads within
   * one turn. Set true to read the clock on every decision. Default false.
   */
  readonly exactTime?: boolean | undefined;
  /** Keep state in a shared store (e.g. `redisStore` from `@x/ratelimit/redis`); calls turn async. */
  readonly store?: RateLimitStore | undefined;
  /** Time source; default `systemClock`. */
  readonly clock?: Clock | undefined;
  /** Where events go; default `defaultEventBus()`. */
  readonly events?: EventBus | undefined;
}

/** Options of `limit`, `allow` and `peek`. */
export interface LimitOptions {
  /** Cost units this request takes (integer in [1, burst]; windows: [1, limit]). Default 1. */
  readonly cost?: number | undefined;
}

/** Options of `acquire`. */
export interface AcquireOptions extends LimitOptions {
  /** Longest wait for capacity in ms; default the limiter's `maxWaitMs`. */
  readonly maxWaitMs?: number | undefined;
  /** Aborting it ends the wait at once: `acquire` rejects with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Totals of a rate limiter since it was created.
 *
 * @example
 * ```ts
 * const { allowed, rejected } = limiter.stats();
 * console.log(`${rejected.limited} of ${allowed + rejected.limited} requests were limited`);
 * ```
 */
export interface RateLimiterStats {
  /** Requests admitted (each decision once, whatever its cost). */
  readonly allowed: number;
  /** Requests refused, by reason. */
  readonly rejected: Readonly<Record<RateLimitRejectReason, number>>;
}

/** What the memory and store-backed limiters share. */
export interface RateLimiterBase {
  readonly name: string;
  /** Totals since creation; see {@link RateLimiterStats}. */
  stats(): RateLimiterStats;
  /** The rule in force. */
  readonly rule: RateLimitRule;
  /**
   * Changes the rate at runtime; takes effect on the next decision, existing state is kept.
   * `burst` follows the new limit unless it was set explicitly. Throws `INVALID_OPTIONS`.
   */
  setLimit(limit: number, periodMs?: number): void;
  /** Changes the burst at runtime (GCRA and token bucket only). Throws `INVALID_OPTIONS`. */
  setBurst(burst: number): void;
  /**
   * Waits until `key` can take `cost`, then resolves with the admission. For GCRA and the token
   * bucket the capacity is reserved at once and the wait is exactly the time until it is due (FIFO
   * among waiters); windows sleep until the hinted time and decide again. Rejects with
   * `RateLimitedError` (`RATE_LIMITED`) as soon as it knows the wait would exceed `maxWaitMs`, and
   * with `signal.reason` on abort, also during a store's round trip (a reservation, or a store's
   * admission, is then given back if it is still the last one on the key's schedule).
   */
  acquire(key: string, options?: AcquireOptions): Promise<RateLimitDecision>;
  /**
   * A {@link Policy} that admits each execution through this limiter under `key` (waiting up to
   * `maxWaitMs`, and never past the caller's `deadline`), for use with `compose`.
   * `executeOutcome` reports a rejection as `{ ok: false, error }` without throwing.
   */
  policy(key: string, options?: RateLimitPolicyOptions): Policy;
}

/**
 * An in-memory limiter. Its decisions are synchronous (a few dozen nanoseconds, no promise);
 * `await limiter.limit(key)` still works, so code written against a store-backed limiter runs
 * unchanged on this one.
 */
export interface RateLimiter extends RateLimiterBase {
  /** Decides for one request of `cost` (default 1) and consumes it if admitted. */
  limit(key: string, options?: LimitOptions): RateLimitDecision;
  /** `limit(key, options).allowed`, without building the decision. */
  allow(key: string, options?: LimitOptions): boolean;
  /** What `limit` would answer, without consuming anything. */
  peek(key: string, options?: LimitOptions): RateLimitDecision;
  /** Forgets `key`'s state. */
  reset(key: string): void;
  /** Number of keys currently holding state (at most `maxKeys`). */
  readonly size: number;
}

/**
 * A limiter whose state lives in a {@link RateLimitStore} shared between processes. Every call is
 * one store round trip (or, while the store is unavailable, its `onStoreError` answer).
 */
export interface StoreRateLimiter extends RateLimiterBase {
  /** Decides for one request of `cost` (default 1) and consumes it if admitted. Never rejects for a store failure. */
  limit(key: string, options?: LimitOptions): Promise<RateLimitDecision>;
  /** `(await limit(key, options)).allowed`. */
  allow(key: string, options?: LimitOptions): Promise<boolean>;
  /** What `limit` would answer, without consuming anything. */
  peek(key: string, options?: LimitOptions): Promise<RateLimitDecision>;
  /** Forgets `key`'s state in the store. */
  reset(key: string): Promise<void>;
  readonly store: RateLimitStore;
}

/** Either kind of limiter, for code that accepts both (`await` works on both `limit` results). */
export type AnyRateLimiter = RateLimiter | StoreRateLimiter;

function keyError(key: unknown): InvalidOptionsError {
  return new InvalidOptionsError('rate limiter', 'key', key, 'a string');
}

// With the system clock, decisions read core's per-turn cached time (a clock read costs more than
// the rest of a decision) unless `exactTime` asks for a read per decision.
const turnNow = (): number => coarseNow(systemClock);
const exactNow = (): number => systemClock.now();

/** Everything both limiters share: options, rule changes, events, waiting, policies. */
abstract class LimiterCore implements WaiterHost {
  readonly name: string;
  readonly clock: Clock;
  readonly events: EventBus;
  readonly maxWaitMs: number;
  params: Params;
  #burstExplicit: boolean;
  readonly #fast: (() => number) | undefined;

  constructor(options: RateLimiterOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionsError(OWNER, 'options', options, 'an object with limit and periodMs');
    }
    this.name = checkString(OWNER, 'name', options.name ?? 'ratelimit');
    const rule = makeRule(OWNER, this.name, options.algorithm ?? 'gcra', options.limit, options.periodMs, options.burst);
    this.params = new Params(rule);
    this.#burstExplicit = options.burst !== undefined;
    this.maxWaitMs = checkNumber(OWNER, 'maxWaitMs', options.maxWaitMs ?? Infinity, { min: 0, allowInfinity: true });
    const clock = options.clock === undefined ? systemClock : options.clock;
    if (typeof clock !== 'object' || clock === null) throw new InvalidOptionsError(OWNER, 'clock', clock, 'a Clock (now, setTimeout, clearTimeout)');
    checkFunction(OWNER, 'clock.now', (clock as Partial<Clock>).now);
    checkFunction(OWNER, 'clock.setTimeout', (clock as Partial<Clock>).setTimeout);
    this.clock = clock;
    const exact = options.exactTime ?? false;
    if (typeof exact !== 'boolean') throw new InvalidOptionsError(OWNER, 'exactTime', exact, 'a boolean');
    this.#fast = clock !== systemClock ? undefined : exact ? exactNow : turnNow;
    const events = options.events === undefined ? defaultEventBus() : options.events;
    if (typeof events !== 'object' || events === null) throw new InvalidOptionsError(OWNER, 'events', events, 'an EventBus (on, emit, hasListeners)');
    checkFunction(OWNER, 'events.emit', (events as Partial<EventBus>).emit);
    checkFunction(OWNER, 'events.hasListeners', (events as Partial<EventBus>).hasListeners);
    this.events = events;
    // Exporters read `stats()` at scrape time.
    trackInstance(events, 'ratelimit', this.name, this);
  }

  get rule(): RateLimitRule {
    return this.params.rule;
  }

  /**
   * The time base of decisions and waits. With the system clock it is cached per event-loop turn
   * (core's `coarseNow`) unless `exactTime` is set; only differences matter to decisions.
   * Deadlines and event times use `clock.now()`.
   */
  now(): number {
    const fast = this.#fast;
    return fast === undefined ? this.clock.now() : fast();
  }

  setLimit(limit: number, periodMs: number = this.params.periodMs): void {
    const current = this.params.rule;
    const burst = this.#burstExplicit ? current.burst : undefined;
    this.params = new Params(makeRule('setLimit', this.name, current.algorithm, limit, periodMs, burst));
  }

  setBurst(burst: number): void {
    const current = this.params.rule;
    if (!hasBurst(current.algorithm)) {
      throw new InvalidOptionsError('setBurst', 'burst', burst, `not set: '${current.algorithm}' takes no burst (a window admits \`limit\` per window)`);
    }
    this.params = new Params(makeRule('setBurst', this.name, current.algorithm, current.limit, current.periodMs, burst));
    this.#burstExplicit = true;
  }

  /** The cost of a call, validated against the rule in force. */
  costOf(options: LimitOptions | undefined): number {
    const cost = options?.cost;
    if (cost === undefined) return 1;
    const capacity = this.params.capacity;
    if (typeof cost === 'number' && Number.isInteger(cost) && cost >= 1 && cost <= capacity) return cost;
    const what = hasBurst(this.params.rule.algorithm) ? 'burst' : 'limit';
    const note =
      typeof cost === 'number' && Number.isInteger(cost) && cost > capacity
        ? ` (a cost above the ${what} can never be admitted)`
        : '';
    throw new InvalidOptionsError(`rate limiter "${this.name}"`, 'cost', cost, `an integer in [1, ${capacity}]${note}`);
  }

  waitOf(options: AcquireOptions | undefined): number {
    const wait = options?.maxWaitMs;
    if (wait === undefined) return this.maxWaitMs;
    return checkNumber(`rate limiter "${this.name}"`, 'maxWaitMs', wait, { min: 0, allowInfinity: true });
  }

  /** The longest a reservation made now may wait: `maxWait`, or less before the caller's deadline. */
  budget(maxWait: number, deadline: number | undefined): number {
    if (deadline === undefined) return maxWait;
    const left = deadline - this.clock.now();
    if (left >= maxWait) return maxWait;
    return left > 0 ? left : 0;
  }

  acquire(key: string, options?: AcquireOptions): Promise<RateLimitDecision> {
    let cost: number;
    let maxWait: number;
    try {
      if (typeof key !== 'string') throw keyError(key);
      cost = this.costOf(options);
      maxWait = this.waitOf(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const signal = options?.signal;
    if (signal !== undefined && !isSignal(signal)) {
      return Promise.reject(new InvalidOptionsError(`rate limiter "${this.name}"`, 'signal', signal, 'an AbortSignal or undefined'));
    }
    if (signal?.aborted) {
      this.emitRejected(key, cost, 'aborted', 0, undefined);
      return Promise.reject(signal.reason);
    }
    const gate = this.begin(key, cost, maxWait, undefined, undefined, signal, false);
    if (gate instanceof Decision) return Promise.resolve(gate);
    if (gate instanceof Promise) return gate as Promise<Decision>;
    return Promise.reject(gate.error);
  }

  policy(key: string, options?: RateLimitPolicyOptions): Policy {
    const owner = 'policy';
    if (typeof key !== 'string') throw new InvalidOptionsError(owner, 'key', key, 'a string');
    options = readOptions(owner, options, ['cost', 'maxWaitMs', 'name']);
    const cost = options.cost === undefined ? 1 : checkInteger(owner, 'cost', options.cost, { min: 1, max: this.params.capacity });
    const maxWait =
      options.maxWaitMs === undefined ? this.maxWaitMs : checkNumber(owner, 'maxWaitMs', options.maxWaitMs, { min: 0, allowInfinity: true });
    const name = checkString(owner, 'name', options.name ?? this.name);
    return new LimiterPolicy(name, this, key, cost, maxWait);
  }

  /**
   * Admits (a `Decision`), fails at once (a `Failed`), or waits (a promise that resolves with the
   * admission, or with a `Failed` when `outcome` is true, else rejects).
   */
  abstract begin(
    key: string,
    cost: number,
    maxWait: number,
    deadline: number | undefined,
    ctx: ExecutionContext | undefined,
    signal: AbortSignal | undefined,
    outcome: boolean,
  ): Decision | Failed | Promise<Decision | Failed>;

  abstract attempt(waiter: Waiter): void;
  abstract refund(key: string, cost: number, reservation: number | undefined): void;

  /** A cost that no longer fits the rule (after `setBurst`): a `Failed`, or undefined when fine. */
  misfit(cost: number): Failed | undefined {
    if (cost <= this.params.capacity) return undefined;
    try {
      this.costOf({ cost });
    } catch (error) {
      return { ok: false, error };
    }
    return undefined;
  }

  rejection(key: string, cost: number, retryAfterMs: number, degraded: StoreErrorMode | undefined): Failed {
    const closed = degraded === 'closed';
    this.emitRejected(key, cost, closed ? 'store_unavailable' : 'limited', retryAfterMs, degraded);
    return { ok: false, error: rateLimitRejection(this.name, retryAfterMs, closed) };
  }

  /**
   * Totals since the limiter was created: decisions (not cost units), rejections by reason.
   * Counted here, where every decision is reported, so exporters read them at scrape time.
   */
  stats(): RateLimiterStats {
    return { allowed: this.#allowed, rejected: { ...this.#rejected } };
  }

  #allowed = 0;
  readonly #rejected: Record<RateLimitRejectReason, number> = { limited: 0, store_unavailable: 0, aborted: 0 };

  emitAllowed(key: string, cost: number, remaining: number, waitedMs: number, degraded: StoreErrorMode | undefined): void {
    this.#allowed++;
    const events = this.events;
    if (!events.hasListeners('ratelimit.allowed')) return;
    events.emit({
      type: 'ratelimit.allowed',
      source: 'ratelimit',
      name: this.name,
      time: this.clock.now(),
      key,
      cost,
      remaining,
      waitedMs,
      degraded,
    });
  }

  emitRejected(
    key: string,
    cost: number,
    reason: RateLimitRejectReason,
    retryAfterMs: number,
    degraded: StoreErrorMode | undefined,
  ): void {
    this.#rejected[reason]++;
    const events = this.events;
    if (!events.hasListeners('ratelimit.rejected')) return;
    events.emit({
      type: 'ratelimit.rejected',
      source: 'ratelimit',
      name: this.name,
      time: this.clock.now(),
      key,
      cost,
      reason,
      retryAfterMs,
      degraded,
    });
  }
}

/** The in-memory limiter: synchronous decisions over a bounded {@link KeyTable}. */
class MemoryLimiter extends LimiterCore implements RateLimiter {
  readonly #table: KeyTable;
  /** Scratch verdict reused by every synchronous decision. */
  readonly #out = new Verdict();

  constructor(options: RateLimiterOptions) {
    super(options);
    const maxKeys = checkInteger(OWNER, 'maxKeys', options.maxKeys ?? 100_000, { min: 1, max: 1e9 });
    this.#table = new KeyTable(maxKeys, this.now());
    this.#table.onEvicted = (evicted, size) => {
      if (!this.events.hasListeners('ratelimit.keys_evicted')) return;
      this.events.emit({ type: 'ratelimit.keys_evicted', source: 'ratelimit', name: this.name, time: this.clock.now(), evicted, size });
    };
  }

  get size(): number {
    return this.#table.size;
  }

  limit(key: string, options?: LimitOptions): RateLimitDecision {
    if (typeof key !== 'string') throw keyError(key);
    const cost = options === undefined ? 1 : this.costOf(options);
    const out = this.#out;
    const params = this.params;
    this.#table.apply(key, this.now(), cost, 0, CONSUME, params, out);
    const decision = new Decision(out.allowed, out.remaining, out.retryAfterMs, out.resetAfterMs, params.rule, undefined);
    if (out.allowed) this.emitAllowed(key, cost, out.remaining, 0, undefined);
    else this.emitRejected(key, cost, 'limited', out.retryAfterMs, undefined);
    return decision;
  }

  allow(key: string, options?: LimitOptions): boolean {
    if (typeof key !== 'string') throw keyError(key);
    const cost = options === undefined ? 1 : this.costOf(options);
    const out = this.#out;
    this.#table.apply(key, this.now(), cost, 0, CONSUME, this.params, out);
    if (out.allowed) {
      this.emitAllowed(key, cost, out.remaining, 0, undefined);
      return true;
    }
    this.emitRejected(key, cost, 'limited', out.retryAfterMs, undefined);
    return false;
  }

  peek(key: string, options?: LimitOptions): RateLimitDecision {
    if (typeof key !== 'string') throw keyError(key);
    const cost = options === undefined ? 1 : this.costOf(options);
    const out = this.#out;
    const params = this.params;
    this.#table.apply(key, this.now(), cost, 0, PEEK, params, out);
    return new Decision(out.allowed, out.remaining, out.retryAfterMs, out.resetAfterMs, params.rule, undefined);
  }

  reset(key: string): void {
    this.#table.delete(key);
  }

  begin(
    key: string,
    cost: number,
    maxWait: number,
    deadline: number | undefined,
    ctx: ExecutionContext | undefined,
    signal: AbortSignal | undefined,
    outcome: boolean,
  ): Decision | Failed | Promise<Decision | Failed> {
    const misfit = this.misfit(cost);
    if (misfit !== undefined) return misfit;
    const now = this.now();
    const budget = this.budget(maxWait, deadline);
    const out = this.#out;
    const params = this.params;
    this.#table.apply(key, now, cost, budget, CONSUME, params, out);
    if (out.allowed) {
      if (out.waitMs === 0) {
        this.emitAllowed(key, cost, out.remaining, 0, undefined);
        return new Decision(true, out.remaining, 0, out.resetAfterMs, params.rule, undefined);
      }
    } else if (!(out.retryAfterMs <= budget)) {
      return this.rejection(key, cost, out.retryAfterMs, undefined);
    }
    const waiter = new Waiter(this, key, cost, now + budget, signal ?? (ctx === undefined ? undefined : abortSignalOf(ctx)), outcome, now);
    waiter.onVerdict(out, now);
    return waiter.promise;
  }

  attempt(waiter: Waiter): void {
    const now = this.now();
    const misfit = this.misfit(waiter.cost);
    if (misfit !== undefined) {
      waiter.onError(misfit.error);
      return;
    }
    this.#table.apply(waiter.key, now, waiter.cost, waiter.budget(now), CONSUME, this.params, this.#out);
    waiter.onVerdict(this.#out, now);
  }

  refund(key: string, cost: number, reservation: number | undefined): void {
    // `step` takes a refund's reservation where a consume takes its wait.
    this.#table.apply(key, this.now(), cost, reservation ?? Number.NaN, REFUND, this.params, this.#out);
  }
}

/** Whether `value` looks like an AbortSignal (from any realm or polyfill). */
function isSignal(value: unknown): value is AbortSignal {
  const s = value as { aborted?: unknown; addEventListener?: unknown } | null;
  return typeof s === 'object' && s !== null && typeof s.aborted === 'boolean' && typeof s.addEventListener === 'function';
}

/** The store-backed limiter: one store call per decision. */
class StoreLimiter extends LimiterCore implements StoreRateLimiter {
  readonly store: RateLimitStore;

  constructor(options: RateLimiterOptions & { readonly store: RateLimitStore }) {
    super(options);
    const store = options.store;
    checkFunction(OWNER, 'store.apply', (store as Partial<RateLimitStore>).apply);
    this.store = store;
  }

  #request(key: string, cost: number, maxWaitMs: number, op: StoreRequest['op']): StoreRequest {
    return { scope: this.name, key, rule: this.params.rule, cost, maxWaitMs, op };
  }

  #decide(key: string, cost: number, v: StoreVerdict): Decision {
    const decision = new Decision(v.allowed, v.remaining, v.retryAfterMs, v.resetAfterMs, this.params.rule, v.degraded);
    if (v.allowed) this.emitAllowed(key, cost, v.remaining, 0, v.degraded);
    else this.emitRejected(key, cost, v.degraded === 'closed' ? 'store_unavailable' : 'limited', v.retryAfterMs, v.degraded);
    return decision;
  }

  limit(key: string, options?: LimitOptions): Promise<RateLimitDecision> {
    let cost: number;
    try {
      if (typeof key !== 'string') throw keyError(key);
      cost = this.costOf(options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.store.apply(this.#request(key, cost, 0, CONSUME)).then((v) => this.#decide(key, cost, v));
  }

  allow(key: string, options?: LimitOptions): Promise<boolean> {
    return this.limit(key, options).then((d) => d.allowed);
  }

  peek(key: string, options?: LimitOptions): Promise<RateLimitDecision> {
    let cost: number;
    try {
      if (typeof key !== 'string') throw keyError(key);
      cost = this.costOf(options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.store
      .apply(this.#request(key, cost, 0, PEEK))
      .then((v) => new Decision(v.allowed, v.remaining, v.retryAfterMs, v.resetAfterMs, this.params.rule, v.degraded));
  }

  reset(key: string): Promise<void> {
    if (typeof key !== 'string') return Promise.reject(keyError(key));
    return this.store.reset(this.name, key);
  }

  begin(
    key: string,
    cost: number,
    maxWait: number,
    deadline: number | undefined,
    ctx: ExecutionContext | undefined,
    signal: AbortSignal | undefined,
    outcome: boolean,
  ): Decision | Failed | Promise<Decision | Failed> {
    const misfit = this.misfit(cost);
    if (misfit !== undefined) return misfit;
    const now = this.now();
    const budget = this.budget(maxWait, deadline);
    const waiter = new Waiter(this, key, cost, now + budget, signal ?? (ctx === undefined ? undefined : abortSignalOf(ctx)), outcome, now);
    this.#send(waiter, budget);
    return waiter.promise;
  }

  attempt(waiter: Waiter): void {
    const misfit = this.misfit(waiter.cost);
    if (misfit !== undefined) {
      waiter.onError(misfit.error);
      return;
    }
    this.#send(waiter, waiter.budget(this.now()));
  }

  #send(waiter: Waiter, budget: number): void {
    // Listen to the caller's signal during the round trip: an abort then rejects at once.
    if (!waiter.watch()) return;
    this.store.apply(this.#request(waiter.key, waiter.cost, budget, CONSUME)).then(
      (v) => waiter.onVerdict(v, this.now()),
      (error: unknown) => waiter.onError(error),
    );
  }

  refund(key: string, cost: number, reservation: number | undefined): void {
    // Best effort: a failed refund only means the reserved capacity expires on its own.
    const request: StoreRequest = { ...this.#request(key, cost, 0, REFUND), reservation };
    this.store.apply(request).then(undefined, () => {});
  }
}

/**
 * Creates a rate limiter: in memory (synchronous decisions), or on a shared store such as Redis
 * (`store: redisStore(redis)`; decisions return promises).
 *
 * `{ limit: 10, periodMs: 1000 }` admits 10 at once, then one every 100 ms (GCRA, burst = limit).
 *
 * @example
 * ```ts
 * const limiter = createRateLimiter({ name: 'api', limit: 100, periodMs: 60_000 });
 * const d = limiter.limit(clientIp);
 * if (!d.allowed) return reply(429, rateLimitHeaders(d));
 *
 * // Throttle outgoing calls instead: wait up to 2 s for a slot.
 * const throttled = compose(limiter.policy('partner-api', { maxWaitMs: 2_000 }), retry);
 * ```
 */
export function createRateLimiter(options: RateLimiterOptions & { readonly store: RateLimitStore }): StoreRateLimiter;
export function createRateLimiter(options: RateLimiterOptions & { readonly store?: undefined }): RateLimiter;
export function createRateLimiter(options: RateLimiterOptions): AnyRateLimiter;
export function createRateLimiter(options: RateLimiterOptions): AnyRateLimiter {
  // Own properties only: a value set on Object.prototype is never an option.
  options = readOptions(OWNER, options, ['name', 'algorithm', 'limit', 'periodMs', 'burst', 'maxWaitMs', 'maxKeys', 'exactTime', 'store', 'clock', 'events'], true);
  if (options.store !== undefined) {
    const store = options.store as unknown;
    if (typeof store !== 'object' || store === null) {
      throw new InvalidOptionsError(OWNER, 'store', store, 'a RateLimitStore (an object with apply and reset, e.g. redisStore(client)) or undefined');
    }
    checkFunction(OWNER, 'store.apply', (store as Partial<RateLimitStore>).apply);
    checkFunction(OWNER, 'store.reset', (store as Partial<RateLimitStore>).reset);
    return new StoreLimiter(options as RateLimiterOptions & { readonly store: RateLimitStore });
  }
  return new MemoryLimiter(options);
}
