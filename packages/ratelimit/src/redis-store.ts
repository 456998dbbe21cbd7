import { InvalidOptionsError, checkFunction, checkInteger, checkOneOf, checkString, defaultEventBus, readOptions, systemClock } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import { StoreCaller, StoreGuard, checkKeyPrefix, encodeKeyPart, storeGuardOptions } from '@x/core/store';
import type { StoreHealth, StoreResult } from '@x/core/store';
import { REFUND } from './algorithms.js';
import { RateLimitStoreUnavailableError } from './errors.js';
// The event types must be in this entry's program for the bus to accept them (declaration merging).
import type {} from './events.js';
import { StoreAnswers } from './local-answers.js';
import { RATE_LIMIT_SCRIPT_REF, REPLY_PER_DECISION, SCRIPT_EPOCH_MS } from './redis-script.js';
import { ALGORITHMS } from './rule.js';
import type { RateLimitRule } from './rule.js';
import type { RateLimitStore, StoreErrorMode, StoreRequest, StoreVerdict } from './store.js';

const OWNER = 'redisStore';
const REDIS_STORE_OPTION_KEYS = [
  'prefix',
  'onStoreError',
  'timeoutMs',
  'instances',
  'failureThreshold',
  'cooldownMs',
  'time',
  'maxLocalKeys',
  'batch',
  'name',
  'clock',
  'events',
];

/**
 * The part of an ioredis `Redis` or `Cluster` client the store uses. Any client with these
 * methods works (ioredis 5, iovalkey); the store never creates connections of its own.
 */
export interface RedisClientLike {
  /** ioredis' connection status; `'ready'` means commands can be sent. */
  readonly status: string;
  /** ioredis sets it on `Cluster` instances; the store then sends one decision per script call. */
  readonly isCluster?: boolean;
  evalsha(sha1: string, numkeys: number, ...args: string[]): Promise<unknown>;
  eval(script: string, numkeys: number, ...args: string[]): Promise<unknown>;
  del(...keys: string[]): Promise<number>;
  /** ioredis' `once('ready')`: a process's first calls wait for the connection being made. */
  once?(event: 'ready', listener: () => void): unknown;
  /** Starts a lazily connecting client (ioredis `lazyConnect`). */
  connect?(): unknown;
}

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /**
   * First part of every key, inside the hash tag: `{<prefix>:<limiter name>:<key>}:<algorithm>`.
   * No `{` or `}`. Default `'rl'`.
   */
  readonly prefix?: string | undefined;
  /** What decisions do while Redis fails or is slow. Default `'local'`. See {@link StoreErrorMode}. */
  readonly onStoreError?: StoreErrorMode | undefined;
  /**
   * Deadline of each Redis call in ms (integer in [1, 60000]); past it the decision comes from
   * `onStoreError`. Default 50. Independent of ioredis' own timeouts and retries.
   */
  readonly timeoutMs?: number | undefined;
  /**
   * For `onStoreError: 'local'`: how many processes share the limit. Each one then admits
   * `limit / instances` (and `burst / instances`, at least 1) while Redis is away. Default 1.
   */
  readonly instances?: number | undefined;
  /** Consecutive failures that make the store skip Redis for `cooldownMs` (integer >= 1). Default 3. */
  readonly failureThreshold?: number | undefined;
  /** How long Redis is skipped before one call probes it again, in ms (integer >= 1). Default 1000. */
  readonly cooldownMs?: number | undefined;
  /**
   * `'server'` (default): the script reads Redis' `TIME`, one clock for every process.
   * `'client'`: each call sends this process's `clock.now()`, for managed Redis offerings that
   * refuse `TIME` in scripts; keep the processes' clocks in sync (NTP).
   */
  readonly time?: 'server' | 'client' | undefined;
  /** Bound on keys held by the `'local'` fallback, per limiter (integer >= 1). Default 100 000. */
  readonly maxLocalKeys?: number | undefined;
  /**
   * Send the decisions made in the same tick together, in one script call (up to 128; each still
   * touches only its own key). Fewer commands, fewer writes, far higher throughput. Default true,
   * except on a Redis Cluster (its keys live on different nodes): there, enable ioredis'
   * `enableAutoPipelining` instead.
   */
  readonly batch?: boolean | undefined;
  /** Name in the store's events (`ratelimit.store_*`). Default `'redis'`. */
  readonly name?: string | undefined;
  readonly clock?: Clock | undefined;
  readonly events?: EventBus | undefined;
}

/** A {@link RateLimitStore} on Redis, with its health for dashboards and health checks. */
export interface RedisRateLimitStore extends RateLimitStore {
  readonly name: string;
  /** `'healthy'`, `'degraded'` (Redis skipped until the cooldown ends) or `'probing'`. */
  readonly health: StoreHealth;
}

/**
 * Encodes one part of a key losslessly (`%`, `{`, `}`, `:` and lone UTF-16 surrogates escaped), so
 * no user key can end the hash tag early, reach another limiter's keys or collide with another
 * key. The same encoding every `@x` Redis entry uses (`@x/core/store`).
 *
 * @example
 * ```ts
 * encodeKeyPart('a:b}'); // 'a%3Ab%7D'
 * ```
 */
export { encodeKeyPart };

const SUFFIX = ['g', 't', 's', 'f'] as const;

/** Decisions sent together: one EVALSHA, each decision on its own key. */
class Batch {
  readonly requests: StoreRequest[] = [];
  readonly resolves: ((verdict: StoreVerdict) => void)[] = [];
  readonly keys: string[] = [];
  readonly args: string[] = [];
}

type Defer = (callback: () => void) => void;
/** Runs `callback` once the current job and its promise chains are done (process.nextTick in Node). */
const defer: Defer =
  (globalThis as { process?: { nextTick?: Defer } }).process?.nextTick ?? ((callback) => queueMicrotask(callback));

/** A reply of the script has its shape; anything else is a failed call (see `StoreCallOptions.accept`). */
const SCRIPT_CALL = {
  accept: (reply: unknown): boolean => Array.isArray(reply) && reply.length % REPLY_PER_DECISION === 1 && reply.length > 1,
};

/** Most decisions per script call: bounds how long one call holds Redis (about 1 µs each). */
const MAX_BATCH = 128;

class RedisStore implements RedisRateLimitStore {
  readonly name: string;
  readonly #prefix: string;
  readonly #clientTime: boolean;
  readonly #maxBatch: number;
  readonly #clock: Clock;
  readonly #guard: StoreGuard;
  readonly #answers: StoreAnswers;
  readonly #caller: StoreCaller<RedisClientLike>;
  readonly #scopes = new Map<string, string>();
  readonly #ruleArgs = new WeakMap<RateLimitRule, readonly string[]>();
  #open: Batch | undefined = undefined;
  readonly #flushOpen = (): void => {
    const batch = this.#open;
    if (batch === undefined) return;
    this.#open = undefined;
    this.#send(batch);
  };

  constructor(redis: RedisClientLike, options: RedisStoreOptions) {
    if (typeof redis !== 'object' || redis === null) {
      throw new InvalidOptionsError(OWNER, 'redis', redis, 'an ioredis Redis or Cluster instance');
    }
    checkFunction(OWNER, 'redis.evalsha', (redis as Partial<RedisClientLike>).evalsha);
    checkFunction(OWNER, 'redis.eval', (redis as Partial<RedisClientLike>).eval);
    this.#prefix = checkKeyPrefix(OWNER, 'prefix', options.prefix ?? 'rl');
    this.name = checkString(OWNER, 'name', options.name ?? 'redis');
    const mode = checkOneOf(OWNER, 'onStoreError', options.onStoreError ?? 'local', ['open', 'closed', 'local'] as const);
    const timeoutMs = checkInteger(OWNER, 'timeoutMs', options.timeoutMs ?? 50, { min: 1, max: 60_000 });
    const instances = checkInteger(OWNER, 'instances', options.instances ?? 1, { min: 1, max: 1_000_000 });
    const { failureThreshold, cooldownMs } = storeGuardOptions(OWNER, options);
    this.#clientTime = checkOneOf(OWNER, 'time', options.time ?? 'server', ['server', 'client'] as const) === 'client';
    const maxLocalKeys = checkInteger(OWNER, 'maxLocalKeys', options.maxLocalKeys ?? 100_000, { min: 1, max: 1e9 });
    const batch = options.batch ?? redis.isCluster !== true;
    if (typeof batch !== 'boolean') throw new InvalidOptionsError(OWNER, 'batch', batch, 'a boolean');
    this.#maxBatch = batch ? MAX_BATCH : 1;
    const clock = options.clock ?? systemClock;
    checkFunction(OWNER, 'clock.now', (clock as Partial<Clock>).now);
    this.#clock = clock;
    const events = options.events ?? defaultEventBus();
    checkFunction(OWNER, 'events.emit', (events as Partial<EventBus>).emit);
    this.#guard = new StoreGuard({ source: 'ratelimit', name: this.name, mode, failureThreshold, cooldownMs, clock, events });
    this.#answers = new StoreAnswers({ mode, instances, maxLocalKeys, clock, guard: this.#guard });
    this.#caller = new StoreCaller(redis, {
      owner: OWNER,
      timeoutMs,
      clock,
      guard: this.#guard,
      unavailable: (message, timedOut) => new RateLimitStoreUnavailableError(message, timedOut),
    });
  }

  get health(): StoreHealth {
    return this.#guard.health;
  }

  /** `{prefix:scope:key}:a`, with scope and key encoded. */
  #keyOf(scope: string, key: string, algorithm: number): string {
    let head = this.#scopes.get(scope);
    if (head === undefined) {
      head = `{${this.#prefix}:${encodeKeyPart(scope)}:`;
      this.#scopes.set(scope, head);
    }
    return `${head}${encodeKeyPart(key)}}:${SUFFIX[algorithm] as string}`;
  }

  /** The rule's part of the script arguments, computed once per rule. */
  #argsOf(rule: RateLimitRule): readonly string[] {
    let args = this.#ruleArgs.get(rule);
    if (args === undefined) {
      args = [String(ALGORITHMS.indexOf(rule.algorithm)), String(rule.limit), String(rule.periodMs), String(rule.burst)];
      this.#ruleArgs.set(rule, args);
    }
    return args;
  }

  apply(request: StoreRequest): Promise<StoreVerdict> {
    // While Redis is skipped, answer at once (no batch, no tick).
    if (this.#guard.skipping) return Promise.resolve(this.#answers.answer(request));
    let batch = this.#open;
    if (batch === undefined) {
      batch = this.#open = new Batch();
      if (this.#maxBatch > 1) defer(this.#flushOpen);
    }
    const promise = new Promise<StoreVerdict>((resolve) => {
      (batch as Batch).resolves.push(resolve);
    });
    const ruleArgs = this.#argsOf(request.rule);
    const op = request.op;
    const wait = request.maxWaitMs;
    const reservation = request.reservation;
    batch.requests.push(request);
    batch.keys.push(this.#keyOf(request.scope, request.key, ALGORITHMS.indexOf(request.rule.algorithm)));
    batch.args.push(
      ruleArgs[0] as string,
      ruleArgs[1] as string,
      ruleArgs[2] as string,
      ruleArgs[3] as string,
      String(request.cost),
      // A refund carries its reservation in the wait slot ('' when it has none: nothing to give back).
      op === REFUND ? (reservation === undefined ? '' : String(reservation)) : wait === 0 ? '0' : wait === Infinity ? '1e300' : String(wait),
      String(op),
    );
    if (batch.requests.length >= this.#maxBatch) this.#flushOpen();
    return promise;
  }

  #send(batch: Batch): void {
    batch.args.push(this.#clientTime ? String(this.#clock.now() - SCRIPT_EPOCH_MS) : '');
    void this.#caller.script(RATE_LIMIT_SCRIPT_REF, batch.keys, batch.args, SCRIPT_CALL).then((result) => this.#settle(batch, result));
  }

  #settle(batch: Batch, result: StoreResult): void {
    const { requests, resolves } = batch;
    const reply = result.ok ? result.value : undefined;
    if (!Array.isArray(reply) || reply.length !== requests.length * REPLY_PER_DECISION + 1) {
      const answers = this.#answers;
      for (let i = 0; i < requests.length; i++) (resolves[i] as (v: StoreVerdict) => void)(answers.answer(requests[i] as StoreRequest));
      return;
    }
    const storeTimeMs = SCRIPT_EPOCH_MS + (reply[reply.length - 1] as number) / 1000;
    const answers = this.#answers;
    for (let i = 0, j = 0; i < requests.length; i++, j += REPLY_PER_DECISION) {
      const allowed = reply[j] === 1;
      const reservation = reply[j + 5];
      if (allowed) answers.mirror(requests[i] as StoreRequest);
      (resolves[i] as (v: StoreVerdict) => void)({
        allowed,
        remaining: reply[j + 1] as number,
        retryAfterMs: (reply[j + 2] as number) / 1000,
        resetAfterMs: (reply[j + 3] as number) / 1000,
        waitMs: (reply[j + 4] as number) / 1000,
        degraded: undefined,
        reservation: typeof reservation === 'string' ? Number(reservation) : undefined,
        storeTimeMs,
      });
    }
  }

  async reset(scope: string, key: string): Promise<void> {
    this.#answers.forget(scope, key);
    const keys = SUFFIX.map((_, algorithm) => this.#keyOf(scope, key, algorithm));
    const result = await this.#caller.command((redis) => redis.del(...keys));
    if (!result.ok) throw result.error;
  }
}

/**
 * A {@link RateLimitStore} on Redis (ioredis `Redis` or `Cluster`, passed in by you; the store
 * opens no connection). Each decision is one EVALSHA of one Lua script on one hash-tagged key,
 * using Redis' clock. Every call has a deadline; failures and slow calls are answered per
 * `onStoreError`, behind a small breaker that skips Redis for `cooldownMs` after
 * `failureThreshold` consecutive failures.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { createRateLimiter } from '@x/ratelimit';
 * import { redisStore } from '@x/ratelimit/redis';
 *
 * const redis = new Redis({ enableOfflineQueue: false, maxRetriesPerRequest: 1 });
 * const store = redisStore(redis, { onStoreError: 'local', instances: 4 });
 * const limiter = createRateLimiter({ name: 'api', limit: 100, periodMs: 1_000, store });
 * const decision = await limiter.limit(apiKey);
 * ```
 */
export function redisStore(redis: RedisClientLike, options?: RedisStoreOptions): RedisRateLimitStore {
  return new RedisStore(redis, readOptions(OWNER, options, REDIS_STORE_OPTION_KEYS));
}
