import {
  InvalidOptionsError,
  checkFunction,
  checkInteger,
  checkOneOf,
  checkOptionKeys,
  checkString,
  defaultEventBus,
  systemClock,
  withoutStack,
} from '@x/core';
import type { Clock, EventBus } from '@x/core';
import { REFUND } from './algorithms.js';
import { DeadlineQueue } from '@x/core/store';
import type { Deadlined } from '@x/core/store';
import { RateLimitStoreUnavailableError } from './errors.js';
import { RATE_LIMIT_SCRIPT, RATE_LIMIT_SCRIPT_SHA, REPLY_PER_DECISION, SCRIPT_EPOCH_MS } from './redis-script.js';
import { ALGORITHMS } from './rule.js';
import type { RateLimitRule } from './rule.js';
import type { RateLimitStore, StoreErrorMode, StoreRequest, StoreVerdict } from './store.js';
import { StoreGuard } from './store-guard.js';
import type { StoreHealth } from './store-guard.js';

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

const ESCAPES: Record<string, string> = { '%': '%25', '{': '%7B', '}': '%7D', ':': '%3A' };
const SPECIAL = /[%{}:]/;
const SPECIAL_ALL = /[%{}:]/g;
const escapeOne = (c: string): string => ESCAPES[c] as string;

/**
 * Percent-encodes the characters that structure a key (`%`, `{`, `}`, `:`), so no user key can
 * end the hash tag early, reach another limiter's keys or collide with another key.
 *
 * @example
 * ```ts
 * encodeKeyPart('a:b}'); // 'a%3Ab%7D'
 * ```
 */
export function encodeKeyPart(part: string): string {
  return SPECIAL.test(part) ? part.replace(SPECIAL_ALL, escapeOne) : part;
}

const SUFFIX = ['g', 't', 's', 'f'] as const;

/** Decisions sent together: one EVALSHA, each decision on its own key. */
class Batch {
  readonly calls: PendingCall[] = [];
  readonly keys: string[] = [];
  readonly args: string[] = [];
  /** Whether a failure of this batch was already counted by the guard. */
  failed = false;
  retried = false;

  constructor(readonly generation: number) {}
}

/** One decision in flight. */
class PendingCall implements Deadlined {
  settled = false;
  declare resolve: (verdict: StoreVerdict) => void;

  constructor(
    readonly store: RedisStore,
    readonly request: StoreRequest,
    readonly batch: Batch,
    readonly deadline: number,
  ) {}

  expire(): void {
    this.settled = true;
    this.store.timedOut(this);
  }
}

/** One `reset` in flight. */
class PendingReset implements Deadlined {
  settled = false;
  declare resolve: () => void;
  declare reject: (error: unknown) => void;

  constructor(
    readonly deadline: number,
    readonly timeoutMs: number,
  ) {}

  expire(): void {
    this.settled = true;
    this.reject(new RateLimitStoreUnavailableError(`redis reset timed out after ${this.timeoutMs} ms`, true));
  }
}

type Defer = (callback: () => void) => void;
/** Runs `callback` once the current job and its promise chains are done (process.nextTick in Node). */
const defer: Defer =
  (globalThis as { process?: { nextTick?: Defer } }).process?.nextTick ?? ((callback) => queueMicrotask(callback));

/** Most decisions per script call: bounds how long one call holds Redis (about 1 µs each). */
const MAX_BATCH = 128;

class RedisStore implements RedisRateLimitStore {
  readonly name: string;
  readonly #redis: RedisClientLike;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #clientTime: boolean;
  readonly #maxBatch: number;
  readonly #clock: Clock;
  readonly #guard: StoreGuard;
  readonly #deadlines: DeadlineQueue;
  readonly #scopes = new Map<string, string>();
  readonly #ruleArgs = new WeakMap<RateLimitRule, readonly string[]>();
  #everReady = false;
  #open: Batch | undefined = undefined;
  readonly #flushOpen = (): void => {
    const batch = this.#open;
    if (batch === undefined) return;
    this.#open = undefined;
    this.#send(batch, false);
  };

  constructor(redis: RedisClientLike, options: RedisStoreOptions) {
    if (typeof redis !== 'object' || redis === null) {
      throw new InvalidOptionsError(OWNER, 'redis', redis, 'an ioredis Redis or Cluster instance');
    }
    checkFunction(OWNER, 'redis.evalsha', (redis as Partial<RedisClientLike>).evalsha);
    checkFunction(OWNER, 'redis.eval', (redis as Partial<RedisClientLike>).eval);
    this.#redis = redis;
    const prefix = checkString(OWNER, 'prefix', options.prefix ?? 'rl');
    if (/[{}]/.test(prefix)) throw new InvalidOptionsError(OWNER, 'prefix', prefix, 'a string without "{" or "}" (the store adds the hash tag)');
    this.#prefix = prefix;
    this.name = checkString(OWNER, 'name', options.name ?? 'redis');
    const mode = checkOneOf(OWNER, 'onStoreError', options.onStoreError ?? 'local', ['open', 'closed', 'local'] as const);
    this.#timeoutMs = checkInteger(OWNER, 'timeoutMs', options.timeoutMs ?? 50, { min: 1, max: 60_000 });
    const instances = checkInteger(OWNER, 'instances', options.instances ?? 1, { min: 1, max: 1_000_000 });
    const failureThreshold = checkInteger(OWNER, 'failureThreshold', options.failureThreshold ?? 3, { min: 1, max: 1_000_000 });
    const cooldownMs = checkInteger(OWNER, 'cooldownMs', options.cooldownMs ?? 1_000, { min: 1, max: 3_600_000 });
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
    this.#guard = new StoreGuard({ name: this.name, mode, failureThreshold, cooldownMs, instances, maxLocalKeys, clock, events });
    this.#deadlines = new DeadlineQueue(clock);
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
    const guard = this.#guard;
    const generation = guard.admit();
    if (generation < 0) return Promise.resolve(guard.answer(request));
    const status = this.#redis.status;
    if (status !== 'ready') {
      // Before the first connection, let ioredis connect (the deadline bounds the wait). Once it
      // has been ready, a connection that is not is down: sending would only queue the command.
      if (this.#everReady || (status !== 'wait' && status !== 'connecting' && status !== 'connect')) {
        guard.failed(generation, withoutStack(() => new RateLimitStoreUnavailableError(`redis connection is "${status}"`, false)), false);
        return Promise.resolve(guard.answer(request));
      }
    } else if (!this.#everReady) {
      this.#everReady = true;
    }
    let batch = this.#open;
    if (batch === undefined || batch.generation !== generation) {
      if (batch !== undefined) this.#flushOpen();
      batch = this.#open = new Batch(generation);
      if (this.#maxBatch > 1) defer(this.#flushOpen);
    }
    const call = new PendingCall(this, request, batch, this.#clock.now() + this.#timeoutMs);
    const promise = new Promise<StoreVerdict>((resolve) => {
      call.resolve = resolve;
    });
    const ruleArgs = this.#argsOf(request.rule);
    const op = request.op;
    const wait = request.maxWaitMs;
    const reservation = request.reservation;
    batch.calls.push(call);
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
    if (batch.calls.length >= this.#maxBatch) this.#flushOpen();
    this.#deadlines.add(call);
    return promise;
  }

  #send(batch: Batch, full: boolean): void {
    const now = this.#clientTime ? String(this.#clock.now() - SCRIPT_EPOCH_MS) : '';
    const redis = this.#redis;
    const n = batch.calls.length;
    const argv = batch.keys.concat(batch.args);
    argv.push(now);
    const sent = full ? redis.eval(RATE_LIMIT_SCRIPT, n, ...argv) : redis.evalsha(RATE_LIMIT_SCRIPT_SHA, n, ...argv);
    sent.then(
      (reply) => this.#onReply(batch, reply),
      (error: unknown) => this.#onError(batch, error),
    );
  }

  #onReply(batch: Batch, reply: unknown): void {
    const calls = batch.calls;
    if (!Array.isArray(reply) || reply.length !== calls.length * REPLY_PER_DECISION + 1) {
      this.#onError(batch, new Error(`unexpected reply from the rate limit script: ${JSON.stringify(reply)}`));
      return;
    }
    // A reply after the batch's deadline already counted as a failure: it is not a success. Redis
    // answering, but slower than the deadline, must trip the breaker rather than have every call
    // pay the timeout while late replies keep resetting the count.
    if (!batch.failed) this.#guard.succeeded(batch.generation);
    const storeTimeMs = SCRIPT_EPOCH_MS + (reply[reply.length - 1] as number) / 1000;
    for (let i = 0, j = 0; i < calls.length; i++, j += REPLY_PER_DECISION) {
      const call = calls[i] as PendingCall;
      if (call.settled) continue;
      call.settled = true;
      const reservation = reply[j + 5];
      call.resolve({
        allowed: reply[j] === 1,
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

  #onError(batch: Batch, error: unknown): void {
    if (!batch.retried && isNoScript(error)) {
      // The script cache was flushed (restart, failover, SCRIPT FLUSH): send the script itself.
      batch.retried = true;
      this.#send(batch, true);
      return;
    }
    this.#fail(batch, error, false);
    const guard = this.#guard;
    for (const call of batch.calls) {
      if (call.settled) continue;
      call.settled = true;
      call.resolve(guard.answer(call.request));
    }
  }

  /** Counts a batch's failure once, however many of its calls fail. */
  #fail(batch: Batch, error: unknown, timedOut: boolean): void {
    if (batch.failed) return;
    batch.failed = true;
    this.#guard.failed(batch.generation, error, timedOut);
  }

  /** Called by a call's deadline. */
  timedOut(call: PendingCall): void {
    if (!call.batch.failed) {
      const error = withoutStack(() => new RateLimitStoreUnavailableError(`redis did not answer within ${this.#timeoutMs} ms`, true));
      this.#fail(call.batch, error, true);
    }
    call.resolve(this.#guard.answer(call.request));
  }

  reset(scope: string, key: string): Promise<void> {
    this.#guard.forget(scope, key);
    const keys = SUFFIX.map((_, algorithm) => this.#keyOf(scope, key, algorithm));
    const pending = new PendingReset(this.#clock.now() + this.#timeoutMs, this.#timeoutMs);
    const promise = new Promise<void>((resolve, reject) => {
      pending.resolve = resolve;
      pending.reject = reject;
    });
    this.#redis.del(...keys).then(
      () => {
        if (pending.settled) return;
        pending.settled = true;
        pending.resolve();
      },
      (error: unknown) => {
        if (pending.settled) return;
        pending.settled = true;
        pending.reject(error);
      },
    );
    this.#deadlines.add(pending);
    return promise;
  }
}

function isNoScript(error: unknown): boolean {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' && message.startsWith('NOSCRIPT');
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
export function redisStore(redis: RedisClientLike, options: RedisStoreOptions = {}): RedisRateLimitStore {
  checkOptionKeys(OWNER, options, REDIS_STORE_OPTION_KEYS);
  return new RedisStore(redis, options);
}
