import { checkClock, checkEvents, checkInteger, checkNumber, checkString } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import { StoreCaller, StoreGuard, checkKeyPrefix, encodeKeyPart, storeGuardOptions } from '@x/core/store';
import type { StoreClient, StoreResult, StoreScript } from '@x/core/store';
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

/** Most leases one batched script call serves (bounds how long one script holds Redis). */
const MAX_BATCH = 128;

/** One lease's part of a script call. */
interface Entry {
  readonly keys: readonly string[];
  readonly args: readonly (string | number)[];
  resolve(result: StoreResult, index: number): void;
}

/**
 * Requests for one script made in the same tick, sent as one call when the client is not a
 * Cluster (on a Cluster every call keeps to its own hash slot).
 */
class Batch {
  entries: Entry[] = [];
  constructor(
    readonly node: RedisNode,
    readonly script: StoreScript,
    /** Reply values per lease: 2 for acquire ({status, value}), 1 for extend and release. */
    readonly width: number,
  ) {}

  readonly flush = (): void => {
    const entries = this.entries;
    this.entries = [];
    for (let from = 0; from < entries.length; from += MAX_BATCH) this.node.send(this, entries.slice(from, from + MAX_BATCH));
  };
}

/** @internal One Redis server (or Cluster) behind its own deadline and guard. */
export class RedisNode {
  readonly caller: StoreCaller;
  readonly prefix: string;
  readonly #cluster: boolean;
  readonly #batches = new Map<StoreScript, Batch>();

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
    this.#cluster = client.isCluster === true;
  }

  #keys(request: LockStoreRequest): [string, string] {
    const tag = tagOf(this.prefix, encodeKeyPart(request.key));
    return [request.limit === undefined ? `${tag}:m` : `${tag}:s`, `${tag}:f`];
  }

  #run(script: StoreScript, width: number, keys: readonly string[], args: readonly (string | number)[]): Promise<StoreResult | { ok: true; value: unknown[] }> {
    return new Promise((resolve) => {
      const entry: Entry = {
        keys,
        args,
        resolve: (result, index) => resolve(result.ok ? { ok: true, value: (result.value as unknown[]).slice(index * width, index * width + width) } : result),
      };
      let batch = this.#batches.get(script);
      if (batch === undefined) {
        batch = new Batch(this, script, width);
        this.#batches.set(script, batch);
      }
      batch.entries.push(entry);
      if (this.#cluster) batch.flush();
      else if (batch.entries.length === 1) queueMicrotask(batch.flush);
    });
  }

  /** @internal Sends one call for `entries` and hands each its part of the reply. */
  send(batch: Batch, entries: readonly Entry[]): void {
    const keys: string[] = [];
    const args: (string | number)[] = [];
    for (const entry of entries) {
      keys.push(...entry.keys);
      args.push(...entry.args);
    }
    const expected = entries.length * batch.width;
    const accept = (reply: unknown): boolean => Array.isArray(reply) && reply.length === expected && reply.every((v) => typeof v === 'number');
    void this.caller.script(batch.script, keys, args, { accept }).then((result) => {
      if (!result.ok && entries.length > 1 && isReplyError(result.error)) {
        // The script stopped partway (one key holding foreign data, say): Redis keeps what it did
        // before the error, so earlier entries may be granted (or extended, or released) with
        // nobody told. Resend each alone: the bad key fails by itself and the others get their own
        // answer (a grant to the same token is granted again; an extension applied again; a
        // release already done answers "not held", reported as 'expired').
        for (const entry of entries) this.send(batch, [entry]);
        return;
      }
      for (let i = 0; i < entries.length; i++) (entries[i] as Entry).resolve(result, i);
    });
  }

  acquire(request: LockStoreRequest, proposal: string): Promise<NodeGrant> {
    const keys = this.#keys(request);
    const call =
      request.limit === undefined
        ? this.#run(ACQUIRE_LOCK, 2, keys, [request.token, request.ttlMs, proposal])
        : this.#run(ACQUIRE_SLOT, 2, keys, [request.token, request.ttlMs, proposal, request.limit]);
    return call.then(toGrant);
  }

  extend(request: LockStoreRequest): Promise<NodeAnswer> {
    const [key] = this.#keys(request);
    return this.#run(request.limit === undefined ? EXTEND_LOCK : EXTEND_SLOT, 1, [key], [request.token, request.ttlMs]).then(toAnswer);
  }

  release(request: LockStoreRequest): Promise<NodeAnswer> {
    const [key] = this.#keys(request);
    return this.#run(request.limit === undefined ? RELEASE_LOCK : RELEASE_SLOT, 1, [key], [request.token]).then(toAnswer);
  }
}

/** An error Redis replied with (the call reached the server and ran, at least in part). */
function isReplyError(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'ReplyError';
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
  return (result.value as unknown[])[0] === 1 ? 'yes' : 'no';
}

/** @internal Short text for a failed node call, for error details. */
export function failureText(failure: { readonly error: unknown; readonly timedOut: boolean }): string {
  if (failure.timedOut) return 'timed out';
  const message = (failure.error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message.split('\n')[0] ?? 'failed' : 'failed';
}
