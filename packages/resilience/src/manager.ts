import { createBreaker, createBreakerGroup } from '@x/breaker';
import type { Breaker, BreakerGroup, BreakerOptions, BreakerReconfigureOptions, BreakerState, BreakerStats } from '@x/breaker';
import { createBulkhead } from '@x/bulkhead';
import type { Bulkhead, BulkheadStats } from '@x/bulkhead';
import {
  callError,
  checkClock,
  checkEvents,
  checkFunction,
  checkString,
  compose,
  createEventBus,
  fallback,
  InvalidOptionsError,
  invoke,
  isAbortedByCaller,
  readOptions,
  toContext,
  toOutcome,
  trackInstance,
} from '@x/core';
import type { Clock, EventBus, ExecuteOptions, ExecutionContext, FallbackHandler, Outcome, Policy, PolicyFn, XEvent } from '@x/core';
import { createErrorBudget, createHealthMonitor } from '@x/health';
import type { ErrorBudget, ErrorBudgetSnapshot, HealthCheckDefinition, HealthMonitor, HealthReport } from '@x/health';
import { createRateLimiter } from '@x/ratelimit';
import type { AnyRateLimiter, RateLimiterStats, RateLimitRule } from '@x/ratelimit';
import { redisStore } from '@x/ratelimit/redis';
import type { RedisClientLike } from '@x/ratelimit/redis';
import { constantBackoff, createRetry, exponentialBackoff, linearBackoff } from '@x/retry';
import type { Backoff, RetryPolicy, RetryPolicyStats } from '@x/retry';
import { createTimeout } from '@x/timeout';
import type { TimeoutPolicy, TimeoutStats } from '@x/timeout';
import { resolveResilienceConfig } from './config.js';
import { parseDuration } from './duration.js';
import type {
  BreakerGroupSettings,
  BreakerSettings,
  BulkheadSettings,
  CheckSettingsResolved,
  ErrorBudgetSettings,
  LayerKind,
  NotApplied,
  OperationPlan,
  RateLimitSettings,
  ResolvedResilienceConfig,
  ResolveOptions,
  RetrySettings,
  TimeoutSettings,
} from './config.js';
import type { ChangeMode, InstanceKind } from './events.js';
import './events.js';
import { joinPath, ResilienceConfigError } from './validate.js';
import type { ConfigIssue } from './validate.js';

/** A fallback handler, or a handler with the failures it applies to. */
export type FallbackDefinition =
  | FallbackHandler<unknown>
  | {
      readonly handler: FallbackHandler<unknown>;
      readonly shouldHandle?: ((error: unknown) => boolean) | undefined;
      readonly isFailureResult?: ((value: unknown) => boolean) | undefined;
    };

/** A health check implementation: a ping (`(signal) => unknown`) or a threshold reading (`{ value }`). */
export type CheckImplementation = ((signal: AbortSignal) => unknown) | { readonly value: (signal: AbortSignal) => number | PromiseLike<number> };

/** Options of {@link createResilience}. */
export interface ResilienceOptions extends ResolveOptions {
  /** Name of the manager and of its health monitor. Default `'resilience'`. */
  readonly name?: string | undefined;
  /** Bus every instance reports to (and is tracked on, so `@x/metrics` exports it). Default `defaultEventBus()`. */
  readonly events?: EventBus | undefined;
  /** One clock for every instance. Default `systemClock`. */
  readonly clock?: Clock | undefined;
  /** An ioredis client (or Cluster) for rate limiters with `store: redis`, through `@x/ratelimit/redis`. */
  readonly redis?: RedisClientLike | undefined;
  /** Key prefix of Redis rate limiters. Default `'x-resilience'`. */
  readonly redisPrefix?: string | undefined;
  /** Fallback handlers by name (`fallback: true` uses the operation's name, `fallback: <name>` another). */
  readonly fallbacks?: Readonly<Record<string, FallbackDefinition>> | undefined;
  /** Implementations of the config's health checks by name (built-in `breaker` / `error_budget` checks need none). */
  readonly checks?: Readonly<Record<string, CheckImplementation>> | undefined;
  /** Random source for retry jitter, in [0, 1). Default `Math.random`. */
  readonly random?: (() => number) | undefined;
}

/** Per-call options of `execute`: the core ones, plus the key of a breaker group. */
export interface ResilienceExecuteOptions extends ExecuteOptions {
  /** For an operation with a `breaker_group`: which breaker (host, tenant) the call goes through; also `ctx.key`. */
  readonly key?: string | undefined;
}

/** The instance types `get(kind, name)` returns. */
export interface ResilienceInstances {
  breaker: Breaker;
  breaker_group: BreakerGroup;
  retry: RetryPolicy;
  timeout: TimeoutPolicy;
  bulkhead: Bulkhead;
  rate_limiter: AnyRateLimiter;
  error_budget: ErrorBudget;
  health_monitor: HealthMonitor;
  operation: Policy;
}

/** One change applied by `update`, as in the `resilience.change_applied` event. */
export interface AppliedChange {
  readonly kind: InstanceKind;
  readonly name: string;
  readonly setting: string;
  readonly from: unknown;
  readonly to: unknown;
  readonly mode: ChangeMode;
}

/** One change `update` could not apply without losing state, as in `resilience.change_skipped`. */
export interface SkippedChange {
  readonly kind: InstanceKind;
  readonly name: string;
  readonly setting: string;
  readonly from: unknown;
  readonly to: unknown;
  readonly reason: string;
}

/** What `update` did. */
export interface ReloadReport {
  readonly applied: readonly AppliedChange[];
  readonly skipped: readonly SkippedChange[];
  /** Sections of the new config validated but not applied (see `ResolvedResilienceConfig.notApplied`). */
  readonly notApplied: readonly NotApplied[];
}

/** What `stats()` returns: every instance's own stats, by kind and name. */
export interface ResilienceStats {
  readonly operations: Readonly<Record<string, { readonly layers: readonly string[]; readonly errorBudget?: string }>>;
  readonly breakers: Readonly<Record<string, BreakerStats>>;
  readonly breakerGroups: Readonly<Record<string, Readonly<Record<string, BreakerStats>>>>;
  readonly retries: Readonly<Record<string, RetryPolicyStats>>;
  readonly timeouts: Readonly<Record<string, TimeoutStats>>;
  readonly bulkheads: Readonly<Record<string, BulkheadStats>>;
  readonly rateLimiters: Readonly<Record<string, RateLimiterStats & { readonly rule: RateLimitRule }>>;
  readonly errorBudgets: Readonly<Record<string, ErrorBudgetSnapshot>>;
  readonly notApplied: readonly NotApplied[];
}

/**
 * What the config gives `@x/cache` (go-cachex's `cache:` and `pubsub:` sections), without this
 * package depending on it: spread `cacheOptions` into `createCache`, pass
 * `invalidationBusOptions` to `createInvalidationBus` from `@x/cache/redis`.
 */
export interface CacheWiring {
  /** `storePolicy`: the operation's layers (breaker → retry → timeout from `cache.circuit_breaker`, `cache.retry`, `cache.timeout`), following reloads. */
  readonly cacheOptions: { readonly storePolicy: Policy };
  /** From `pubsub`: `invalidation_channel` → `channel`, `message_timeout` → `timeoutMs`; undefined without a `pubsub` section or when it is disabled. */
  readonly invalidationBusOptions: { readonly channel?: string; readonly timeoutMs?: number } | undefined;
  /** What the config asks for that you create and pass to `createCache` (`filter`, `writeBehind.deadLetter`). */
  readonly wants: { readonly bloomFilter: boolean; readonly deadLetterQueue: boolean };
}

/** What `health()` returns. */
export interface ResilienceHealth {
  /** `fail`: a critical check fails; `warn`: a circuit is not closed, a budget is exhausted or a non-critical check fails; else `pass`. */
  readonly status: 'pass' | 'warn' | 'fail';
  readonly healthy: boolean;
  readonly breakers: Readonly<Record<string, BreakerState>>;
  readonly errorBudgets: Readonly<Record<string, { readonly remaining: number; readonly exhausted: boolean }>>;
  /** The health monitor's report, when the config has a `health` section. */
  readonly checks: HealthReport | undefined;
}

/**
 * Named policies built from one config, and `execute(name, fn)` through all of an operation's
 * protections. See {@link createResilience}.
 */
export interface Resilience {
  readonly name: string;
  /** Runs `fn` through the operation's layers (default order fallback → rate limit → bulkhead → breaker → retry → timeout). */
  execute<T>(operation: string, fn: PolicyFn<T>, options?: ResilienceExecuteOptions): Promise<T>;
  /** Like `execute`, but never rejects: failures come back as `{ ok: false, error }`. */
  executeOutcome<T>(operation: string, fn: PolicyFn<T>, options?: ResilienceExecuteOptions): Promise<Outcome<T>>;
  /** The operation as a `Policy` (for `compose`); it follows reloads. Throws `INVALID_OPTIONS` for an unknown name. */
  policy(operation: string): Policy;
  /** An instance by kind and name (undefined when there is none). */
  get<K extends keyof ResilienceInstances>(kind: K, name: string): ResilienceInstances[K] | undefined;
  /** The names of every instance of a kind. */
  names(kind: keyof ResilienceInstances): string[];
  /** Every instance's stats. */
  stats(): ResilienceStats;
  /** One summary of breakers, error budgets and health checks. */
  health(): ResilienceHealth;
  /** The config's cache settings in `@x/cache`'s terms (see {@link CacheWiring}); `operation` defaults to `'cache'`. */
  cacheWiring(operation?: string): CacheWiring;
  /** Runs the health checks now and resolves with the summary. */
  checkHealth(): Promise<ResilienceHealth>;
  /**
   * Applies a new config to the live instances: limits, thresholds and backoffs change in place
   * (breaker state, rate-limit state and calls in flight are kept); stateless policies are
   * replaced; what cannot change without losing state is skipped and reported. Throws
   * `INVALID_OPTIONS` (listing every problem) and changes nothing when the config is invalid.
   */
  update(config: unknown): ReloadReport;
  /** The config in force. */
  readonly config: ResolvedResilienceConfig;
  /** Starts the health monitor's scheduled runs (an unref'd timer). */
  start(): void;
  /** Stops the health monitor. Instances keep working. */
  close(): void;
}

interface Env {
  readonly name: string;
  readonly clock: Clock;
  readonly events: EventBus;
  readonly redis: RedisClientLike | undefined;
  readonly redisPrefix: string;
  readonly random: (() => number) | undefined;
}

interface BreakerEntry {
  readonly settings: BreakerSettings;
  readonly breaker: Breaker;
}
interface RetryEntry {
  readonly settings: RetrySettings;
  readonly retry: RetryPolicy;
  readonly backoff: { fn: Backoff };
}
interface TimeoutEntry {
  readonly settings: TimeoutSettings;
  readonly timeout: TimeoutPolicy;
}
interface BulkheadEntry {
  readonly settings: BulkheadSettings;
  readonly bulkhead: Bulkhead;
}
interface RateLimitEntry {
  readonly settings: RateLimitSettings;
  readonly limiter: AnyRateLimiter;
  readonly policy: Policy;
}
interface BudgetEntry {
  readonly settings: ErrorBudgetSettings;
  readonly budget: ErrorBudget;
}
interface GroupEntry {
  readonly settings: BreakerGroupSettings;
  readonly group: BreakerGroup;
}

/** What one operation runs: its plan and the composed pipeline, swapped whole on reload. */
interface Operation {
  plan: OperationPlan;
  pipeline: Policy;
  keyed: boolean;
  facade: Policy | undefined;
}

const OWNER = 'createResilience';
const OPTION_KEYS = ['name', 'events', 'clock', 'redis', 'redisPrefix', 'fallbacks', 'checks', 'random', 'env', 'envPrefix'];
const DEFAULT_OPEN_MS = 60_000;

/** Options undefined-free (exactOptionalPropertyTypes): drops undefined values. */
function defined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]: Exclude<T[K], undefined> };
}

function breakerOptions(name: string, s: BreakerSettings, env: Env, events: EventBus): BreakerOptions {
  const w = s.window;
  return defined({
    name,
    clock: env.clock,
    events,
    failureThreshold: s.failure_threshold,
    failureRateThreshold: s.failure_rate_threshold,
    minimumCalls: s.minimum_calls,
    window: w === undefined ? undefined : 'calls' in w ? { kind: 'count' as const, size: w.calls } : { kind: 'time' as const, ms: w.duration, buckets: w.buckets },
    slowCallMs: s.slow_call_duration,
    slowCallRateThreshold: s.slow_call_rate_threshold,
    openMs: s.open_duration,
    halfOpenMax: s.half_open_max,
    successThreshold: s.success_threshold,
    probeTimeoutMs: s.probe_timeout,
    maxConcurrent: s.max_concurrent,
  });
}

function backoffOf(s: RetrySettings): Backoff {
  if (s.backoff === 'constant') return constantBackoff(s.initial_delay, { jitter: s.jitter === 'decorrelated' ? 'full' : s.jitter });
  if (s.backoff === 'linear') return linearBackoff({ initialMs: s.initial_delay, maxMs: s.max_delay, jitter: s.jitter === 'decorrelated' ? 'full' : s.jitter });
  return exponentialBackoff({ initialMs: s.initial_delay, maxMs: s.max_delay, multiplier: s.multiplier, jitter: s.jitter });
}

function makeRetry(name: string, s: RetrySettings, env: Env, events: EventBus, holder: { fn: Backoff }): RetryPolicy {
  return createRetry(
    defined({
      name,
      clock: env.clock,
      events,
      maxAttempts: s.max_attempts,
      maxElapsedMs: s.max_elapsed,
      // The backoff is read through a holder, so a reload changes it in place.
      backoff: (attempt: number, previous: number, random: () => number) => holder.fn(attempt, previous, random),
      random: env.random,
      retryOn: s.retry_on,
    }),
  );
}

const ALGORITHM = { gcra: 'gcra', token_bucket: 'token-bucket', sliding_window: 'sliding-window', fixed_window: 'fixed-window' } as const;

function makeLimiter(name: string, s: RateLimitSettings, env: Env, events: EventBus, scratch: boolean): AnyRateLimiter {
  const base = defined({ name, algorithm: ALGORITHM[s.algorithm], limit: s.limit, periodMs: s.period, burst: s.burst, clock: env.clock, events });
  if (s.store === 'redis' && !scratch) {
    if (env.redis === undefined) {
      throw new InvalidOptionsError(OWNER, 'redis', undefined, 'an ioredis client: this rate limiter has store: redis');
    }
    const store = redisStore(env.redis, defined({ prefix: env.redisPrefix, onStoreError: s.on_store_error, clock: env.clock, events }));
    return createRateLimiter({ ...base, store });
  }
  return createRateLimiter(base);
}

/** Records each execution's outcome in an error budget (a caller's own abort is not counted). */
class BudgetLayer implements Policy {
  readonly name: string;
  readonly #budget: ErrorBudget;
  constructor(budget: ErrorBudget) {
    this.name = `error_budget:${budget.name}`;
    this.#budget = budget;
  }
  execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
    const ctx = toContext(options);
    const budget = this.#budget;
    return invoke(fn, ctx).then(
      (value) => {
        budget.record(true);
        return value;
      },
      (error: unknown) => {
        if (!isAbortedByCaller(ctx)) budget.record(false);
        throw error;
      },
    );
  }
  executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
    return toOutcome(this.execute(fn, options));
  }
}

/** The breaker layer of an operation with a breaker group: the call's `key` picks the breaker. */
class GroupLayer implements Policy {
  readonly name: string;
  readonly #group: BreakerGroup;
  constructor(name: string, group: BreakerGroup) {
    this.name = `breaker_group:${name}`;
    this.#group = group;
  }
  execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
    const ctx = toContext(options) as ExecutionContext & { key?: unknown };
    if (typeof ctx.key !== 'string' || ctx.key === '') {
      return Promise.reject(new InvalidOptionsError('resilience.execute', 'key', ctx.key, `a non-empty string: this operation's breaker is the group ${this.name}, picked per key`));
    }
    return this.#group.execute(ctx.key, fn, ctx);
  }
  executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
    return toOutcome(this.execute(fn, options));
  }
}

/** An operation with no layers: runs `fn` with the caller's context. */
const passThrough: Policy = {
  name: 'none',
  execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
    // Wrong arguments fail like in any policy: INVALID_OPTIONS, as a rejection.
    const bad = callError('resilience.execute', fn, options);
    if (bad !== undefined) return Promise.reject(bad);
    return invoke(fn, toContext(options));
  },
  executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
    return toOutcome(passThrough.execute(fn, options));
  },
};

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Fields of every settings object, old and new, in a stable order. */
function fieldsOf(a: object | undefined, b: object | undefined): string[] {
  return [...new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])];
}

const BREAKER_IN_PLACE: Readonly<Record<string, keyof BreakerReconfigureOptions>> = {
  failure_threshold: 'failureThreshold',
  failure_rate_threshold: 'failureRateThreshold',
  minimum_calls: 'minimumCalls',
  slow_call_rate_threshold: 'slowCallRateThreshold',
  open_duration: 'openMs',
  half_open_max: 'halfOpenMax',
  success_threshold: 'successThreshold',
  probe_timeout: 'probeTimeoutMs',
};
/** What a breaker uses when a reconfigurable setting is left out (so removing one reverts it). */
const BREAKER_DEFAULTS: Readonly<Record<string, number>> = {
  open_duration: DEFAULT_OPEN_MS,
  half_open_max: 1,
  success_threshold: 2,
  probe_timeout: 30_000,
};

class ResilienceImpl implements Resilience {
  readonly name: string;
  readonly #env: Env;
  readonly #options: ResilienceOptions;
  #config!: ResolvedResilienceConfig;
  readonly #operations = new Map<string, Operation>();
  #breakers = new Map<string, BreakerEntry>();
  #groups = new Map<string, GroupEntry>();
  #retries = new Map<string, RetryEntry>();
  #timeouts = new Map<string, TimeoutEntry>();
  #bulkheads = new Map<string, BulkheadEntry>();
  #limiters = new Map<string, RateLimitEntry>();
  #budgets = new Map<string, BudgetEntry>();
  #monitor: HealthMonitor | undefined;
  readonly #checkOff = new Map<string, { settings: CheckSettingsResolved; off: () => void }>();
  #started = false;

  constructor(config: unknown, options: ResilienceOptions) {
    const o = readOptions<ResilienceOptions>(OWNER, options, OPTION_KEYS);
    this.name = o.name === undefined ? 'resilience' : checkString(OWNER, 'name', o.name);
    if (o.fallbacks !== undefined && (typeof o.fallbacks !== 'object' || o.fallbacks === null)) {
      throw new InvalidOptionsError(OWNER, 'fallbacks', o.fallbacks, 'an object of fallback handlers by name');
    }
    if (o.checks !== undefined && (typeof o.checks !== 'object' || o.checks === null)) {
      throw new InvalidOptionsError(OWNER, 'checks', o.checks, 'an object of check implementations by name');
    }
    if (o.random !== undefined) checkFunction(OWNER, 'random', o.random);
    this.#options = o;
    this.#env = {
      name: this.name,
      clock: checkClock(OWNER, o.clock),
      events: checkEvents(OWNER, o.events),
      redis: o.redis,
      redisPrefix: o.redisPrefix === undefined ? 'x-resilience' : checkString(OWNER, 'redisPrefix', o.redisPrefix),
      random: o.random,
    };
    const resolved = resolveResilienceConfig(config, defined({ env: o.env, envPrefix: o.envPrefix }));
    this.#check(resolved);
    this.#build(resolved);
    trackInstance(this.#env.events, 'resilience', this.name, this);
  }

  get config(): ResolvedResilienceConfig {
    return this.#config;
  }

  // ---------------------------------------------------------------------------------------------
  // Building

  /** Checks what the config cannot check alone: handlers, check implementations, a Redis client, and every instance's own options (built on a scratch bus). */
  #check(config: ResolvedResilienceConfig, previous?: ResolvedResilienceConfig): void {
    const issues: ConfigIssue[] = [];
    const scratch = createEventBus({ onUnhandledListenerError: () => {} });
    const env = this.#env;
    const at = (section: string, name: string, kind: string): string => {
      const has = (o: unknown, k: string) => typeof o === 'object' && o !== null && Object.prototype.hasOwnProperty.call(o, k);
      if (has(config.raw[section], name)) return joinPath(section, name);
      const op = has(config.raw.operations, name) ? (config.raw.operations as Record<string, Record<string, unknown>>)[name] : undefined;
      if (op !== undefined && op[kind] !== undefined) return joinPath(joinPath('operations', name), kind);
      const cacheKey = ({ breaker: 'circuit_breaker', retry: 'retry', timeout: 'timeout' } as Record<string, string>)[kind];
      if (op === undefined && name === 'cache' && cacheKey !== undefined && has(config.raw.cache, cacheKey)) return joinPath('cache', cacheKey);
      // Inherited whole from the preset and defaults.
      return joinPath(joinPath('operations', name), kind);
    };
    const attempt = (path: string, make: () => unknown) => {
      try {
        make();
      } catch (error) {
        issues.push({ path, message: error instanceof Error ? error.message : String(error) });
      }
    };
    for (const [name, s] of Object.entries(config.breakers)) {
      if (previous !== undefined && same(previous.breakers[name], s)) continue;
      attempt(at('breakers', name, 'breaker'), () => createBreaker(breakerOptions(name, s, env, scratch)));
    }
    for (const [name, s] of Object.entries(config.retries)) {
      attempt(at('retries', name, 'retry'), () => makeRetry(name, s, env, scratch, { fn: backoffOf(s) }));
    }
    for (const [name, s] of Object.entries(config.timeouts)) {
      attempt(at('timeouts', name, 'timeout'), () => createTimeout(s.duration, { name, strategy: s.strategy, clock: env.clock, events: scratch }));
    }
    for (const [name, s] of Object.entries(config.bulkheads)) {
      attempt(at('bulkheads', name, 'bulkhead'), () => createBulkhead(defined({ name, maxConcurrent: s.max_concurrent, maxQueue: s.max_queue, maxWaitMs: s.max_wait, order: s.order, clock: env.clock, events: scratch })));
    }
    for (const [name, s] of Object.entries(config.rateLimiters)) {
      const path = at('rate_limiters', name, 'rate_limit');
      attempt(path, () => makeLimiter(name, s, env, scratch, true).policy(s.key, { maxWaitMs: s.max_wait }));
      if (s.store === 'redis' && env.redis === undefined) issues.push({ path: joinPath(path, 'store'), message: 'is redis, but no redis client was passed to createResilience' });
    }
    for (const [name, s] of Object.entries(config.errorBudgets)) {
      attempt(joinPath('error_budgets', name), () => createErrorBudget(defined({ name, slo: s.slo, windowMs: s.window, bucketMs: s.bucket, clock: env.clock, events: scratch })));
    }
    for (const [name, s] of Object.entries(config.breakerGroups)) {
      attempt(joinPath('breaker_groups', name), () =>
        createBreakerGroup(defined({ defaults: breakerOptions(name, s.defaults, env, scratch) as never, maxKeys: s.max_keys, idleMs: s.idle, clock: env.clock, events: scratch })),
      );
    }
    const fallbacks = this.#options.fallbacks ?? {};
    for (const [op, plan] of Object.entries(config.operations)) {
      for (const layer of plan.layers) {
        if (layer.kind !== 'fallback') continue;
        const def = Object.prototype.hasOwnProperty.call(fallbacks, layer.instance) ? fallbacks[layer.instance] : undefined;
        const ok = typeof def === 'function' || (typeof def === 'object' && def !== null && typeof def.handler === 'function');
        if (!ok) issues.push({ path: joinPath(joinPath('operations', op), 'fallback'), message: `needs a fallback handler named "${layer.instance}" in createResilience's fallbacks option` });
      }
    }
    if (config.health !== undefined) {
      const impls = this.#options.checks ?? {};
      for (const [name, c] of Object.entries(config.health.checks)) {
        if (c.breaker !== undefined || c.error_budget !== undefined) continue;
        const impl = Object.prototype.hasOwnProperty.call(impls, name) ? impls[name] : undefined;
        const path = joinPath(joinPath('health', 'checks'), name);
        const threshold = c.min !== undefined || c.max !== undefined;
        if (impl === undefined) issues.push({ path, message: `needs an implementation named "${name}" in createResilience's checks option (or breaker: / error_budget: for a built-in check)` });
        else if (threshold && (typeof impl !== 'object' || typeof impl.value !== 'function')) issues.push({ path, message: 'has min/max: its implementation must be { value: (signal) => number }' });
        else if (!threshold && typeof impl !== 'function') issues.push({ path, message: 'is a ping check: its implementation must be a function (signal) => unknown' });
      }
      attempt('health', () => createHealthMonitor(defined({ name: this.name, intervalMs: config.health?.interval, timeoutMs: config.health?.timeout, historySize: config.health?.history_size, failureThreshold: config.health?.failure_threshold, successThreshold: config.health?.success_threshold, unknownIsHealthy: config.health?.unknown_is_healthy, clock: env.clock, events: scratch })));
    }
    if (issues.length > 0) throw new ResilienceConfigError(OWNER, issues);
  }

  #build(config: ResolvedResilienceConfig): void {
    const env = this.#env;
    const events = env.events;
    for (const [name, s] of Object.entries(config.breakers)) this.#breakers.set(name, { settings: s, breaker: createBreaker(breakerOptions(name, s, env, events)) });
    for (const [name, s] of Object.entries(config.breakerGroups)) this.#groups.set(name, this.#makeGroup(name, s));
    for (const [name, s] of Object.entries(config.retries)) this.#retries.set(name, this.#makeRetryEntry(name, s));
    for (const [name, s] of Object.entries(config.timeouts)) this.#timeouts.set(name, this.#makeTimeout(name, s));
    for (const [name, s] of Object.entries(config.bulkheads)) this.#bulkheads.set(name, this.#makeBulkhead(name, s));
    for (const [name, s] of Object.entries(config.rateLimiters)) {
      const limiter = makeLimiter(name, s, env, events, false);
      this.#limiters.set(name, { settings: s, limiter, policy: limiter.policy(s.key, { maxWaitMs: s.max_wait }) });
    }
    for (const [name, s] of Object.entries(config.errorBudgets)) this.#budgets.set(name, this.#makeBudget(name, s));
    if (config.health !== undefined) {
      const h = config.health;
      this.#monitor = createHealthMonitor(
        defined({
          name: this.name,
          intervalMs: h.interval,
          timeoutMs: h.timeout,
          historySize: h.history_size,
          failureThreshold: h.failure_threshold,
          successThreshold: h.success_threshold,
          unknownIsHealthy: h.unknown_is_healthy,
          clock: env.clock,
          events,
        }),
      );
      for (const [name, c] of Object.entries(h.checks)) this.#register(name, c);
    }
    this.#config = config;
    for (const [name, plan] of Object.entries(config.operations)) {
      this.#operations.set(name, { plan, pipeline: this.#pipeline(plan), keyed: plan.breakerGroup !== undefined, facade: undefined });
    }
  }

  #makeGroup(name: string, s: BreakerGroupSettings): GroupEntry {
    const env = this.#env;
    const defaults = breakerOptions(name, s.defaults, env, env.events) as Record<string, unknown>;
    delete defaults.name;
    delete defaults.clock;
    delete defaults.events;
    return { settings: s, group: createBreakerGroup(defined({ defaults: defaults as never, maxKeys: s.max_keys, idleMs: s.idle, clock: env.clock, events: env.events })) };
  }

  #makeRetryEntry(name: string, s: RetrySettings): RetryEntry {
    const backoff = { fn: backoffOf(s) };
    return { settings: s, backoff, retry: makeRetry(name, s, this.#env, this.#env.events, backoff) };
  }

  #makeTimeout(name: string, s: TimeoutSettings): TimeoutEntry {
    return { settings: s, timeout: createTimeout(s.duration, { name, strategy: s.strategy, clock: this.#env.clock, events: this.#env.events }) };
  }

  #makeBulkhead(name: string, s: BulkheadSettings): BulkheadEntry {
    const env = this.#env;
    return {
      settings: s,
      bulkhead: createBulkhead(defined({ name, maxConcurrent: s.max_concurrent, maxQueue: s.max_queue, maxWaitMs: s.max_wait, order: s.order, clock: env.clock, events: env.events })),
    };
  }

  #makeBudget(name: string, s: ErrorBudgetSettings): BudgetEntry {
    const env = this.#env;
    return { settings: s, budget: createErrorBudget(defined({ name, slo: s.slo, windowMs: s.window, bucketMs: s.bucket, clock: env.clock, events: env.events })) };
  }

  #register(name: string, c: CheckSettingsResolved): void {
    const monitor = this.#monitor;
    if (monitor === undefined) return;
    const common = defined({ name, critical: c.critical, timeoutMs: c.timeout, failureThreshold: c.failure_threshold, successThreshold: c.success_threshold });
    let definition: HealthCheckDefinition;
    if (c.breaker !== undefined) {
      const breakerName = c.breaker;
      definition = {
        ...common,
        check: () => {
          const state = this.#breakers.get(breakerName)?.breaker.state;
          if (state === 'open' || state === 'isolated') throw new Error(`breaker ${breakerName} is ${state}`);
          return true;
        },
      };
    } else if (c.error_budget !== undefined) {
      const budgetName = c.error_budget;
      definition = {
        ...common,
        check: () => {
          if (this.#budgets.get(budgetName)?.budget.exhausted === true) throw new Error(`error budget ${budgetName} is exhausted`);
          return true;
        },
      };
    } else {
      const impl = (this.#options.checks ?? {})[name] as CheckImplementation;
      definition =
        typeof impl === 'function'
          ? { ...common, check: impl }
          : ({ ...common, value: impl.value, ...defined({ min: c.min, max: c.max }) } as HealthCheckDefinition);
    }
    this.#checkOff.set(name, { settings: c, off: monitor.register(definition) });
  }

  /** The policies of an operation, outermost first, composed. */
  #pipeline(plan: OperationPlan): Policy {
    const env = this.#env;
    const policies: Policy[] = [];
    for (const { kind, instance } of plan.layers) {
      if (kind === 'fallback') {
        const def = (this.#options.fallbacks ?? {})[instance] as FallbackDefinition;
        const handler = typeof def === 'function' ? def : def.handler;
        const extra = typeof def === 'function' ? {} : defined({ shouldHandle: def.shouldHandle, isFailureResult: def.isFailureResult });
        policies.push(fallback(handler, { name: instance, events: env.events, clock: env.clock, ...extra }) as Policy);
        if (plan.errorBudget !== undefined) policies.push(new BudgetLayer((this.#budgets.get(plan.errorBudget) as BudgetEntry).budget));
        continue;
      }
      policies.push(this.#layer(kind, instance, plan));
    }
    if (plan.errorBudget !== undefined && plan.layers[0]?.kind !== 'fallback') {
      policies.unshift(new BudgetLayer((this.#budgets.get(plan.errorBudget) as BudgetEntry).budget));
    }
    if (policies.length === 0) return passThrough;
    return compose(...(policies as [Policy, ...Policy[]])) as Policy;
  }

  #layer(kind: Exclude<LayerKind, 'fallback'>, instance: string, plan: OperationPlan): Policy {
    switch (kind) {
      case 'rate_limit':
        return (this.#limiters.get(instance) as RateLimitEntry).policy;
      case 'bulkhead':
        return (this.#bulkheads.get(instance) as BulkheadEntry).bulkhead;
      case 'breaker':
        if (plan.breakerGroup !== undefined) return new GroupLayer(plan.breakerGroup, (this.#groups.get(plan.breakerGroup) as GroupEntry).group);
        return (this.#breakers.get(instance) as BreakerEntry).breaker;
      case 'retry':
        return (this.#retries.get(instance) as RetryEntry).retry;
      case 'timeout':
        return (this.#timeouts.get(instance) as TimeoutEntry).timeout;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Running

  execute<T>(operation: string, fn: PolicyFn<T>, options?: ResilienceExecuteOptions): Promise<T> {
    const op = this.#operations.get(operation);
    if (op === undefined) return Promise.reject(this.#unknown('resilience.execute', operation));
    if (op.keyed) return op.pipeline.execute(fn, keyedContext(options)) as Promise<T>;
    return op.pipeline.execute(fn, options) as Promise<T>;
  }

  executeOutcome<T>(operation: string, fn: PolicyFn<T>, options?: ResilienceExecuteOptions): Promise<Outcome<T>> {
    const op = this.#operations.get(operation);
    if (op === undefined) return Promise.resolve({ ok: false, error: this.#unknown('resilience.executeOutcome', operation) });
    if (op.keyed) return op.pipeline.executeOutcome(fn, keyedContext(options)) as Promise<Outcome<T>>;
    return op.pipeline.executeOutcome(fn, options) as Promise<Outcome<T>>;
  }

  #unknown(owner: string, operation: unknown): InvalidOptionsError {
    const known = [...this.#operations.keys()];
    return new InvalidOptionsError(owner, 'operation', operation, known.length === 0 ? 'a configured operation (the config has none)' : `one of the configured operations (${known.join(', ')})`);
  }

  policy(operation: string): Policy {
    const op = this.#operations.get(operation);
    if (op === undefined) throw this.#unknown('resilience.policy', operation);
    if (op.facade !== undefined) return op.facade;
    const operations = this.#operations;
    const facade: Policy = {
      name: operation,
      execute: <T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> => {
        const current = operations.get(operation);
        if (current === undefined) return Promise.reject(this.#unknown('resilience.policy', operation));
        return current.pipeline.execute(fn, current.keyed ? keyedContext(options) : options) as Promise<T>;
      },
      executeOutcome: <T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> => {
        const current = operations.get(operation);
        if (current === undefined) return Promise.resolve({ ok: false, error: this.#unknown('resilience.policy', operation) });
        return current.pipeline.executeOutcome(fn, current.keyed ? keyedContext(options) : options) as Promise<Outcome<T>>;
      },
    };
    op.facade = facade;
    return facade;
  }

  get<K extends keyof ResilienceInstances>(kind: K, name: string): ResilienceInstances[K] | undefined {
    const found: unknown = (() => {
      switch (kind) {
        case 'breaker':
          return this.#breakers.get(name)?.breaker;
        case 'breaker_group':
          return this.#groups.get(name)?.group;
        case 'retry':
          return this.#retries.get(name)?.retry;
        case 'timeout':
          return this.#timeouts.get(name)?.timeout;
        case 'bulkhead':
          return this.#bulkheads.get(name)?.bulkhead;
        case 'rate_limiter':
          return this.#limiters.get(name)?.limiter;
        case 'error_budget':
          return this.#budgets.get(name)?.budget;
        case 'health_monitor':
          return name === this.name ? this.#monitor : undefined;
        case 'operation':
          return this.#operations.has(name) ? this.policy(name) : undefined;
        default:
          throw new InvalidOptionsError('resilience.get', 'kind', kind, 'one of breaker | breaker_group | retry | timeout | bulkhead | rate_limiter | error_budget | health_monitor | operation');
      }
    })();
    return found as ResilienceInstances[K] | undefined;
  }

  names(kind: keyof ResilienceInstances): string[] {
    const maps: Record<keyof ResilienceInstances, { keys(): IterableIterator<string> } | undefined> = {
      breaker: this.#breakers,
      breaker_group: this.#groups,
      retry: this.#retries,
      timeout: this.#timeouts,
      bulkhead: this.#bulkheads,
      rate_limiter: this.#limiters,
      error_budget: this.#budgets,
      health_monitor: this.#monitor === undefined ? undefined : new Map([[this.name, 0]]),
      operation: this.#operations,
    };
    if (!Object.prototype.hasOwnProperty.call(maps, kind)) {
      throw new InvalidOptionsError('resilience.names', 'kind', kind, `one of ${Object.keys(maps).join(' | ')}`);
    }
    return [...(maps[kind]?.keys() ?? [])];
  }

  stats(): ResilienceStats {
    const map = <E, V>(m: Map<string, E>, f: (e: E) => V): Record<string, V> => {
      const out: Record<string, V> = {};
      for (const [k, e] of m) out[k] = f(e);
      return out;
    };
    return {
      operations: map(this.#operations, (op) => defined({ layers: op.plan.layers.map((l) => `${l.kind}:${l.kind === 'breaker' && op.plan.breakerGroup !== undefined ? `group ${op.plan.breakerGroup}` : l.instance}`), errorBudget: op.plan.errorBudget })),
      breakers: map(this.#breakers, (e) => e.breaker.stats()),
      breakerGroups: map(this.#groups, (e) => e.group.statsAll()),
      retries: map(this.#retries, (e) => e.retry.stats()),
      timeouts: map(this.#timeouts, (e) => e.timeout.stats()),
      bulkheads: map(this.#bulkheads, (e) => e.bulkhead.stats()),
      rateLimiters: map(this.#limiters, (e) => ({ ...e.limiter.stats(), rule: e.limiter.rule })),
      errorBudgets: map(this.#budgets, (e) => e.budget.snapshot()),
      notApplied: this.#config.notApplied,
    };
  }

  health(): ResilienceHealth {
    const breakers: Record<string, BreakerState> = {};
    let warn = false;
    for (const [name, e] of this.#breakers) {
      const state = e.breaker.state;
      breakers[name] = state;
      if (state === 'open' || state === 'half_open' || state === 'isolated') warn = true;
    }
    const errorBudgets: Record<string, { remaining: number; exhausted: boolean }> = {};
    for (const [name, e] of this.#budgets) {
      const exhausted = e.budget.exhausted;
      errorBudgets[name] = { remaining: e.budget.remaining, exhausted };
      if (exhausted) warn = true;
    }
    const checks = this.#monitor?.report();
    const fail = checks !== undefined && checks.status === 'fail';
    if (checks?.status === 'warn') warn = true;
    return { status: fail ? 'fail' : warn ? 'warn' : 'pass', healthy: !fail, breakers, errorBudgets, checks };
  }

  cacheWiring(operation = 'cache'): CacheWiring {
    const storePolicy = this.policy(operation);
    const raw = this.#config.raw;
    const section = (name: string): Record<string, unknown> | undefined => {
      const value = raw[name];
      return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
    };
    const pubsub = section('pubsub');
    const cache = section('cache');
    let invalidationBusOptions: CacheWiring['invalidationBusOptions'];
    if (pubsub !== undefined && pubsub.enabled !== false) {
      const timeoutMs = pubsub.message_timeout === undefined ? undefined : parseDuration(pubsub.message_timeout);
      invalidationBusOptions = defined({ channel: pubsub.invalidation_channel as string | undefined, timeoutMs });
    }
    return {
      cacheOptions: { storePolicy },
      invalidationBusOptions,
      wants: { bloomFilter: cache?.enable_bloom_filter === true || section('bloom')?.enabled === true, deadLetterQueue: cache?.enable_dead_letter_queue === true || section('dlq')?.enabled === true },
    };
  }

  async checkHealth(): Promise<ResilienceHealth> {
    if (this.#monitor !== undefined) await this.#monitor.runOnce();
    return this.health();
  }

  start(): void {
    this.#started = true;
    this.#monitor?.start();
  }

  close(): void {
    this.#started = false;
    this.#monitor?.stop();
  }

  // ---------------------------------------------------------------------------------------------
  // Reload

  update(input: unknown): ReloadReport {
    const o = this.#options;
    const next = resolveResilienceConfig(input, defined({ env: o.env, envPrefix: o.envPrefix }));
    const prev = this.#config;
    // Everything is checked before anything changes: an invalid config leaves the manager as it was.
    this.#check(next, prev);
    const applied: AppliedChange[] = [];
    const skipped: SkippedChange[] = [];
    const env = this.#env;
    const apply = (kind: InstanceKind, name: string, setting: string, from: unknown, to: unknown, mode: ChangeMode) => applied.push({ kind, name, setting, from, to, mode });
    const skip = (kind: InstanceKind, name: string, setting: string, from: unknown, to: unknown, reason: string) => skipped.push({ kind, name, setting, from, to, reason });

    // Breakers: thresholds, open duration and half-open settings in place; the rest would need a new breaker.
    this.#breakers = this.#reconcile(this.#breakers, next.breakers, 'breaker', apply, (name, s) => ({ settings: s, breaker: createBreaker(breakerOptions(name, s, env, env.events)) }), (name, entry, s) => {
      const changes: Record<string, unknown> = {};
      const kept: Record<string, unknown> = { ...entry.settings };
      for (const field of fieldsOf(entry.settings, s)) {
        const from = (entry.settings as Record<string, unknown>)[field];
        const to = (s as Record<string, unknown>)[field];
        if (same(from, to)) continue;
        const option = BREAKER_IN_PLACE[field];
        const value = to ?? BREAKER_DEFAULTS[field];
        if (option !== undefined && value !== undefined) {
          changes[option] = value;
          kept[field] = to;
          apply('breaker', name, field, from, to, 'in_place');
        } else {
          skip('breaker', name, field, from, to, `@x/breaker fixes ${field} when the breaker is created; a new breaker would lose the circuit's state and counts. Restart (or rename the breaker) to apply it`);
        }
      }
      if (Object.keys(changes).length > 0) {
        try {
          entry.breaker.reconfigure(changes);
        } catch (error) {
          // A combination the live breaker refuses (e.g. minimum_calls beyond the window it was
          // created with): nothing was changed, so report every one of these as skipped.
          for (let i = applied.length - 1; i >= 0; i--) {
            const c = applied[i] as AppliedChange;
            if (c.kind !== 'breaker' || c.name !== name || c.mode !== 'in_place') continue;
            applied.splice(i, 1);
            skip('breaker', name, c.setting, c.from, c.to, `the live breaker refused it: ${(error as Error).message}`);
          }
          return entry;
        }
      }
      return { settings: kept as BreakerSettings, breaker: entry.breaker };
    });

    this.#groups = this.#reconcile(this.#groups, next.breakerGroups, 'breaker_group', apply, (name, s) => this.#makeGroup(name, s), (name, entry, s) => {
      for (const field of fieldsOf(entry.settings, s)) {
        const from = (entry.settings as unknown as Record<string, unknown>)[field];
        const to = (s as unknown as Record<string, unknown>)[field];
        if (!same(from, to)) skip('breaker_group', name, field, from, to, "@x/breaker's groups fix their settings at creation; a new group would forget every key's circuit. Restart to apply it");
      }
      return entry;
    });

    // Retries: backoffs in place; attempts, elapsed bound and classification by a new (stateless) policy.
    this.#retries = this.#reconcile(this.#retries, next.retries, 'retry', apply, (name, s) => this.#makeRetryEntry(name, s), (name, entry, s) => {
      let replace = false;
      let backoff = false;
      for (const field of fieldsOf(entry.settings, s)) {
        const from = (entry.settings as unknown as Record<string, unknown>)[field];
        const to = (s as unknown as Record<string, unknown>)[field];
        if (same(from, to)) continue;
        const inPlace = field === 'backoff' || field === 'initial_delay' || field === 'max_delay' || field === 'multiplier' || field === 'jitter';
        if (inPlace) backoff = true;
        else replace = true;
        apply('retry', name, field, from, to, inPlace ? 'in_place' : 'replaced');
      }
      if (replace) {
        const fresh = this.#makeRetryEntry(name, s);
        return fresh;
      }
      if (backoff) entry.backoff.fn = backoffOf(s);
      return { settings: s, retry: entry.retry, backoff: entry.backoff };
    });

    this.#timeouts = this.#reconcile(this.#timeouts, next.timeouts, 'timeout', apply, (name, s) => this.#makeTimeout(name, s), (name, entry, s) => {
      for (const field of fieldsOf(entry.settings, s)) {
        const from = (entry.settings as unknown as Record<string, unknown>)[field];
        const to = (s as unknown as Record<string, unknown>)[field];
        if (!same(from, to)) apply('timeout', name, field, from, to, 'replaced');
      }
      return this.#makeTimeout(name, s);
    });

    this.#bulkheads = this.#reconcile(this.#bulkheads, next.bulkheads, 'bulkhead', apply, (name, s) => this.#makeBulkhead(name, s), (name, entry, s) => {
      const kept: Record<string, unknown> = { ...entry.settings };
      for (const field of fieldsOf(entry.settings, s)) {
        const from = (entry.settings as unknown as Record<string, unknown>)[field];
        const to = (s as unknown as Record<string, unknown>)[field];
        if (same(from, to)) continue;
        if (field === 'max_concurrent') {
          entry.bulkhead.setLimit(to as number);
          kept[field] = to;
          apply('bulkhead', name, field, from, to, 'in_place');
        } else {
          skip('bulkhead', name, field, from, to, `@x/bulkhead fixes ${field} when it is created; a new bulkhead would not know the calls running and queued in this one. Restart to apply it`);
        }
      }
      return { settings: kept as unknown as BulkheadSettings, bulkhead: entry.bulkhead };
    });

    this.#limiters = this.#reconcile(this.#limiters, next.rateLimiters, 'rate_limiter', apply, (name, s) => {
      const limiter = makeLimiter(name, s, env, env.events, false);
      return { settings: s, limiter, policy: limiter.policy(s.key, { maxWaitMs: s.max_wait }) };
    }, (name, entry, s) => {
      const kept: Record<string, unknown> = { ...entry.settings };
      let rate = false;
      let policy = false;
      for (const field of fieldsOf(entry.settings, s)) {
        const from = (entry.settings as unknown as Record<string, unknown>)[field];
        const to = (s as unknown as Record<string, unknown>)[field];
        if (same(from, to)) continue;
        if (field === 'limit' || field === 'period' || field === 'burst') rate = true;
        else if (field === 'max_wait' || field === 'key') policy = true;
        else {
          skip('rate_limiter', name, field, from, to, `@x/ratelimit fixes ${field} when the limiter is created (its state is kept in that form); a new limiter would start every key with a fresh burst. Restart to apply it`);
          continue;
        }
        kept[field] = to;
        apply('rate_limiter', name, field, from, to, 'in_place');
      }
      if (rate) {
        entry.limiter.setLimit(s.limit, s.period);
        if (s.burst !== undefined) entry.limiter.setBurst(s.burst);
        else if (entry.settings.burst !== undefined && s.algorithm !== 'sliding_window' && s.algorithm !== 'fixed_window') entry.limiter.setBurst(s.limit);
      }
      const settings = kept as unknown as RateLimitSettings;
      return { settings, limiter: entry.limiter, policy: policy ? entry.limiter.policy(settings.key, { maxWaitMs: settings.max_wait }) : entry.policy };
    });

    this.#budgets = this.#reconcile(this.#budgets, next.errorBudgets, 'error_budget', apply, (name, s) => this.#makeBudget(name, s), (name, entry, s) => {
      for (const field of fieldsOf(entry.settings, s)) {
        const from = (entry.settings as unknown as Record<string, unknown>)[field];
        const to = (s as unknown as Record<string, unknown>)[field];
        if (!same(from, to)) skip('error_budget', name, field, from, to, `@x/health fixes an error budget's ${field} at creation; a new budget would forget the requests in its window. Restart to apply it`);
      }
      return entry;
    });

    this.#reloadHealth(prev, next, apply, skip);

    // Operations: every pipeline is rebuilt from the instances now in force (cheap, and a call in
    // flight keeps the pipeline it started with); a changed plan is reported.
    this.#config = this.#merged(next);
    for (const [name, plan] of Object.entries(next.operations)) {
      const existing = this.#operations.get(name);
      const pipeline = this.#pipeline(plan);
      if (existing === undefined) {
        this.#operations.set(name, { plan, pipeline, keyed: plan.breakerGroup !== undefined, facade: undefined });
        apply('operation', name, '*', undefined, describePlan(plan), 'added');
        continue;
      }
      if (!same(existing.plan, plan)) apply('operation', name, 'layers', describePlan(existing.plan), describePlan(plan), 'replaced');
      existing.plan = plan;
      existing.pipeline = pipeline;
      existing.keyed = plan.breakerGroup !== undefined;
    }
    for (const name of [...this.#operations.keys()]) {
      if (!Object.prototype.hasOwnProperty.call(next.operations, name)) {
        apply('operation', name, '*', describePlan((this.#operations.get(name) as Operation).plan), undefined, 'removed');
        this.#operations.delete(name);
      }
    }

    this.#report(applied, skipped);
    return { applied, skipped, notApplied: next.notApplied };
  }

  /** The new config, with the settings that were skipped kept at their running values. */
  #merged(next: ResolvedResilienceConfig): ResolvedResilienceConfig {
    const settings = <E extends { settings: unknown }, S>(m: Map<string, E>): Record<string, S> => {
      const out: Record<string, S> = {};
      for (const [k, e] of m) out[k] = e.settings as S;
      return out;
    };
    const merged: ResolvedResilienceConfig = {
      ...next,
      breakers: settings(this.#breakers),
      breakerGroups: settings(this.#groups),
      retries: settings(this.#retries),
      timeouts: settings(this.#timeouts),
      bulkheads: settings(this.#bulkheads),
      rateLimiters: settings(this.#limiters),
      errorBudgets: settings(this.#budgets),
      health: this.#config.health === undefined || next.health === undefined ? next.health : { ...this.#config.health, checks: next.health.checks },
    };
    Object.defineProperty(merged, Symbol.for('@x/resilience/resolved'), { value: true });
    return merged;
  }

  /** Adds, removes and updates the entries of one kind; returns the new map (built aside, then swapped). */
  #reconcile<E extends { settings: unknown }, S>(
    current: Map<string, E>,
    wanted: Readonly<Record<string, S>>,
    kind: InstanceKind,
    apply: (kind: InstanceKind, name: string, setting: string, from: unknown, to: unknown, mode: ChangeMode) => void,
    create: (name: string, settings: S) => E,
    change: (name: string, entry: E, settings: S) => E,
  ): Map<string, E> {
    const out = new Map<string, E>();
    for (const [name, s] of Object.entries(wanted)) {
      const entry = current.get(name);
      if (entry === undefined) {
        out.set(name, create(name, s));
        apply(kind, name, '*', undefined, s, 'added');
      } else out.set(name, same(entry.settings, s) ? entry : change(name, entry, s));
    }
    for (const [name, entry] of current) if (!out.has(name)) apply(kind, name, '*', entry.settings, undefined, 'removed');
    return out;
  }

  #reloadHealth(
    prev: ResolvedResilienceConfig,
    next: ResolvedResilienceConfig,
    apply: (kind: InstanceKind, name: string, setting: string, from: unknown, to: unknown, mode: ChangeMode) => void,
    skip: (kind: InstanceKind, name: string, setting: string, from: unknown, to: unknown, reason: string) => void,
  ): void {
    const a = prev.health;
    const b = next.health;
    if (a === undefined && b === undefined) return;
    if (a === undefined || b === undefined || this.#monitor === undefined) {
      skip('health_monitor', this.name, '*', a, b, 'adding or removing the health section needs a restart');
      return;
    }
    for (const field of fieldsOf(a, b)) {
      if (field === 'checks') continue;
      const from = (a as unknown as Record<string, unknown>)[field];
      const to = (b as unknown as Record<string, unknown>)[field];
      if (!same(from, to)) skip('health_monitor', this.name, field, from, to, `@x/health fixes the monitor's ${field} at creation. Restart to apply it`);
    }
    for (const [name, c] of Object.entries(b.checks)) {
      const running = this.#checkOff.get(name);
      if (running !== undefined && same(running.settings, c)) continue;
      running?.off();
      this.#register(name, c);
      apply('health_monitor', this.name, `checks.${name}`, running?.settings, c, running === undefined ? 'added' : 'replaced');
    }
    for (const [name, running] of [...this.#checkOff]) {
      if (Object.prototype.hasOwnProperty.call(b.checks, name)) continue;
      running.off();
      this.#checkOff.delete(name);
      apply('health_monitor', this.name, `checks.${name}`, running.settings, undefined, 'removed');
    }
    if (this.#started) this.#monitor.start();
  }

  #report(applied: readonly AppliedChange[], skipped: readonly SkippedChange[]): void {
    const events = this.#env.events;
    const time = (): number => this.#env.clock.now();
    if (events.hasListeners('resilience.change_applied')) {
      for (const c of applied) events.emit({ type: 'resilience.change_applied', source: 'resilience', name: c.name, time: time(), kind: c.kind, setting: c.setting, from: c.from, to: c.to, mode: c.mode } as XEvent);
    }
    if (events.hasListeners('resilience.change_skipped')) {
      for (const c of skipped) events.emit({ type: 'resilience.change_skipped', source: 'resilience', name: c.name, time: time(), kind: c.kind, setting: c.setting, from: c.from, to: c.to, reason: c.reason } as XEvent);
    }
    if (events.hasListeners('resilience.reloaded')) {
      events.emit({ type: 'resilience.reloaded', source: 'resilience', name: this.name, time: time(), applied: applied.length, skipped: skipped.length } as XEvent);
    }
  }
}

function describePlan(plan: OperationPlan): string {
  return plan.layers.map((l) => (l.kind === 'breaker' && plan.breakerGroup !== undefined ? `breaker(group ${plan.breakerGroup})` : `${l.kind}(${l.instance})`)).join(' → ') || 'none';
}

/** The caller's options as a context carrying `key` (for a breaker group), so every layer and `fn` see it. */
function keyedContext(options: ResilienceExecuteOptions | undefined): ExecuteOptions {
  if (options === undefined || options === null || typeof options !== 'object') return options as unknown as ExecuteOptions;
  return { signal: options.signal, deadline: options.deadline, attempt: 1, key: options.key } as ExecuteOptions;
}

/**
 * Builds every policy a config names, and runs operations through them. `config` is what
 * {@link loadResilienceConfig} returned, or a plain object in the same form (validated here: an
 * invalid one throws `INVALID_OPTIONS` listing every problem with its path).
 *
 * Every instance reports to `events` and is tracked there, so `@x/metrics` exports it with no
 * other wiring. Nothing runs a timer until `start()` (the health monitor's schedule).
 *
 * @example
 * ```ts
 * const resilience = createResilience(
 *   { operations: { api: { rate_limit: { limit: 100, period: '1s' }, retry: { max_attempts: 3 }, timeout: '2s' } } },
 *   { events },
 * );
 * const user = await resilience.execute('api', ({ signal }) => fetchUser(id, { signal }));
 * ```
 */
export function createResilience(config: unknown, options: ResilienceOptions = {}): Resilience {
  return new ResilienceImpl(config, options);
}
