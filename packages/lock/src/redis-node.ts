import { checkClock, checkEvents, checkInteger, checkNumber, checkString } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import { StoreCaller, StoreGuard, checkKeyPrefix, encodeKeyPart, storeGuardOptions } from '@x/core/store';
import type { StoreClient, StoreResult } from '@x/core/store';
import { ACQUIRE_LOCK, ACQUIRE_SLOT, EXTEND_LOCK, EXTEND_SLOT, RELEASE_LOCK, RELEASE_SLOT, tagOf } from './redis-scripts.js';
import type { LockStoreRequest } from './store.js';

/**
 * The part of an ioredis `Redis` or `Cluster` the lock stores use: Lua scripts only. Typed
 * structurally, so `@x/lock/redis` never imports ioredis at runtime.
 */
export type LockRedisClient = StoreClient;

/** @internal What one Redis node answered to an acquire. */
export type NodeGrant =
  | { readonly kind: 'granted'; readonly fence: number }
  | { readonly kind: 'held'; readonly retryAfterMs: number }
  | { readonly kind: 'behind'; readonly last: number }
  | { readonly kind: 'failed'; readonly error: unknown; readonly timedOut: boolean };

/** @internal What one node answered to an extend or a release. */
export type NodeAnswer = 'yes' | 'no' | { readonly kind: 'failed'; readonly error: unknown; readonly timedOut: boolean };

/** Options every Redis lock store takes. */
export interface RedisStoreCommonOptions {
  /**
   * Name in the store's events (`lock.store_error` …) and metrics labels. Default `'redis'`
   * (`'redlock'` for `redlockStore`).
   */
  readonly name?: string | undefined;
  /**
   * Namespace of every key: `{<prefix>:<encoded key>}:m` (lock), `:s` (semaphore) and `:f`
   * (fence counter). No `{` or `}`. Default `'lock'`.
   */
  readonly prefix?: string | undefined;
  /**
   * Deadline of each Redis call, ms (integer in [1, 60 000]). Default 500 for `redisLockStore`,
   * 50 for `redlockStore` (per node: keep it small next to the TTL, as the Redlock spec says).
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Share of the TTL given up for clock drift between this process and Redis (in [0, 0.5]);
   * validity is `ttl − elapsed − (ttl × driftFactor + 2 ms)`. Default 0.01.
   */
  readonly driftFactor?: number | undefined;
  /** Consecutive failures before the store (or a node) is skipped for `cooldownMs`. Default 3. */
  readonly failureThreshold?: number | undefined;
  /** How long a failing store (or node) is skipped before one probe, ms. Default 1 000. */
  readonly cooldownMs?: number | undefined;
  /** Clock of the deadlines and the guard; use the lock's. Default `systemClock`. */
  readonly clock?: Clock | undefined;
  /** Where store events go. Default `defaultEventBus()`. */
  readonly events?: EventBus | undefined;
}

/** @internal */
export const COMMON_KEYS = ['name', 'prefix', 'timeoutMs', 'driftFactor', 'failureThreshold', 'cooldownMs', 'clock', 'events'];

/** @internal Validated common settings. */
export interface CommonSettings {
  readonly name: string;
  readonly prefix: string;
  readonly timeoutMs: number;
  readonly driftFactor: number;
  readonly failureThreshold: number;
  readonly cooldownMs: number;
  readonly clock: Clock;
  readonly events: EventBus;
}

/** @internal */
export function commonSettings(owner: string, o: RedisStoreCommonOptions, defaults: { name: string; timeoutMs: number }): CommonSettings {
  return {
    name: o.name === undefined ? defaults.name : checkString(owner, 'name', o.name),
    prefix: checkKeyPrefix(owner, 'prefix', o.prefix ?? 'lock'),
    timeoutMs: checkInteger(owner, 'timeoutMs', o.timeoutMs ?? defaults.timeoutMs, { min: 1, max: 60_000 }),
    driftFactor: checkNumber(owner, 'driftFactor', o.driftFactor ?? 0.01, { min: 0, max: 0.5 }),
    ...storeGuardOptions(owner, o),
    clock: checkClock(owner, o.clock),
    events: checkEvents(owner, o.events),
  };
}

const isPair = (reply: unknown): boolean => Array.isArray(reply) && reply.length === 2 && typeof reply[0] === 'number' && typeof reply[1] === 'number';
const isFlag = (reply: unknown): boolean => reply === 0 || reply === 1;
const ACCEPT_PAIR = { accept: isPair };
const ACCEPT_FLAG = { accept: isFlag };

/** @internal One Redis server (or Cluster) behind its own deadline and guard. */
export class RedisNode {
  readonly caller: StoreCaller;
  readonly prefix: string;

  constructor(owner: string, client: LockRedisClient, settings: CommonSettings, guardName: string) {
    const guard = new StoreGuard({
      source: 'lock',
      name: guardName,
      mode: 'closed',
      failureThreshold: settings.failureThreshold,
      cooldownMs: settings.cooldownMs,
      clock: settings.clock,
      events: settings.events,
    });
    this.caller = new StoreCaller(client, { owner, timeoutMs: settings.timeoutMs, clock: settings.clock, guard });
    this.prefix = settings.prefix;
  }

  #keys(request: LockStoreRequest): [string, string] {
    const tag = tagOf(this.prefix, encodeKeyPart(request.key));
    return [request.limit === undefined ? `${tag}:m` : `${tag}:s`, `${tag}:f`];
  }

  acquire(request: LockStoreRequest, proposal: string): Promise<NodeGrant> {
    const keys = this.#keys(request);
    const call =
      request.limit === undefined
        ? this.caller.script(ACQUIRE_LOCK, keys, [request.token, request.ttlMs, proposal], ACCEPT_PAIR)
        : this.caller.script(ACQUIRE_SLOT, keys, [request.token, request.ttlMs, proposal, request.limit], ACCEPT_PAIR);
    return call.then(toGrant);
  }

  extend(request: LockStoreRequest): Promise<NodeAnswer> {
    const [key] = this.#keys(request);
    const script = request.limit === undefined ? EXTEND_LOCK : EXTEND_SLOT;
    return this.caller.script(script, [key], [request.token, request.ttlMs], ACCEPT_FLAG).then(toAnswer);
  }

  release(request: LockStoreRequest): Promise<NodeAnswer> {
    const [key] = this.#keys(request);
    const script = request.limit === undefined ? RELEASE_LOCK : RELEASE_SLOT;
    return this.caller.script(script, [key], [request.token], ACCEPT_FLAG).then(toAnswer);
  }
}

function toGrant(result: StoreResult): NodeGrant {
  if (!result.ok) return { kind: 'failed', error: result.error, timedOut: result.timedOut };
  const [status, value] = result.value as [number, number];
  if (status === 1) return { kind: 'granted', fence: value };
  if (status === 2) return { kind: 'behind', last: value };
  return { kind: 'held', retryAfterMs: value > 0 ? value : 0 };
}

function toAnswer(result: StoreResult): NodeAnswer {
  if (!result.ok) return { kind: 'failed', error: result.error, timedOut: result.timedOut };
  return result.value === 1 ? 'yes' : 'no';
}

/** @internal Short text for a failed node call, for error details. */
export function failureText(failure: { readonly error: unknown; readonly timedOut: boolean }): string {
  if (failure.timedOut) return 'timed out';
  const message = (failure.error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message.split('\n')[0] ?? 'failed' : 'failed';
}
