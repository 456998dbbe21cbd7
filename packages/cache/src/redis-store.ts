import { checkClock, checkEvents, checkInteger, checkString, readOptions } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import { StoreCaller, StoreGuard, checkKeyPrefix, encodeKeyPart, storeGuardOptions } from '@x/core/store';
import type { StoreClient, StoreResult } from '@x/core/store';
import type { CacheStore, StoreWrite } from './types.js';

/** A pipeline as ioredis returns it. */
interface PipelineLike {
  set(key: string, value: string, mode: 'PX', ms: number): PipelineLike;
  exec(): Promise<[Error | null, unknown][] | null>;
}

/**
 * The part of an ioredis `Redis` or `Cluster` the cache store uses, typed structurally so
 * `@x/cache/redis` never imports ioredis at runtime.
 */
export interface CacheRedisClient extends StoreClient {
  get?(key: string): Promise<string | null>;
  mget?(...keys: string[]): Promise<(string | null)[]>;
  set?(key: string, value: string, mode: 'PX', ms: number): Promise<unknown>;
  del?(...keys: string[]): Promise<number>;
  incr?(key: string): Promise<number>;
  pipeline?(): PipelineLike;
}

/** Options of {@link redisCacheStore}. */
export interface RedisCacheStoreOptions {
  /** Namespace of every key (`{<prefix>:v<version>:<encoded key>}`); no `{` or `}`. Default `'cache'`. */
  readonly prefix?: string;
  /** Name in events and in the cache's lock keys. Default: the prefix. */
  readonly name?: string;
  /** Deadline of each Redis call, ms (integer in [1, 60 000]). Default 200. */
  readonly timeoutMs?: number;
  /** How often the namespace version (bumped by `clear()`) is re-read in the background, ms (integer >= 1). Default 1 000. */
  readonly versionCheckMs?: number;
  /** Consecutive failures before Redis is skipped for `cooldownMs` (integer >= 1). Default 3. */
  readonly failureThreshold?: number;
  /** How long Redis is skipped before one probe, ms. Default 1 000. */
  readonly cooldownMs?: number;
  /** Use the cache's clock. Default `systemClock`. */
  readonly clock?: Clock;
  /** Where `cache.store_*` events go. Default `defaultEventBus()`. */
  readonly events?: EventBus;
}

const OWNER = 'redisCacheStore';
const KEYS = ['prefix', 'name', 'timeoutMs', 'versionCheckMs', 'failureThreshold', 'cooldownMs', 'clock', 'events'];
const isArray = (reply: unknown): boolean => Array.isArray(reply);

/** Turns a failed result into the rejection a store policy sees. */
function unwrap<T>(result: StoreResult): T {
  if (!result.ok) throw result.error;
  return result.value as T;
}

/** Reads waiting for one MGET. */
interface ReadBatch {
  readonly keys: string[];
  readonly waiters: Array<{ index: number; resolve(values: (string | undefined)[]): void; reject(error: unknown): void }>;
}

/** Most keys one batched MGET carries. */
const MAX_BATCH = 512;

class RedisCacheStore implements CacheStore {
  readonly name: string;
  readonly #caller: StoreCaller<CacheRedisClient>;
  readonly #prefix: string;
  readonly #cluster: boolean;
  readonly #clock: Clock;
  readonly #versionKey: string;
  readonly #versionCheckMs: number;
  #version: number | undefined = undefined;
  /** Single-key reads made in the same tick, sent as one MGET (not on a Cluster). */
  #batch: ReadBatch | undefined = undefined;
  #versionAt = 0;
  #versionLoad: Promise<number> | undefined = undefined;
  /** The version may have moved (a clear elsewhere, or ours that failed): calls wait for a fresh read. */
  #stale = false;
  /** Bumped whenever the version may have moved: a read begun before the last bump cannot end staleness. */
  #staleCount = 0;
  /** Our own clear in flight: calls wait for its new version rather than write into the old namespace. */
  #clearing: Promise<void> | undefined = undefined;

  constructor(client: CacheRedisClient, options: RedisCacheStoreOptions | undefined) {
    const o = readOptions<RedisCacheStoreOptions>(OWNER, options, KEYS);
    this.#prefix = checkKeyPrefix(OWNER, 'prefix', o.prefix ?? 'cache');
    this.name = o.name === undefined ? this.#prefix : checkString(OWNER, 'name', o.name);
    const timeoutMs = checkInteger(OWNER, 'timeoutMs', o.timeoutMs ?? 200, { min: 1, max: 60_000 });
    this.#versionCheckMs = checkInteger(OWNER, 'versionCheckMs', o.versionCheckMs ?? 1_000, { min: 1, max: 3_600_000 });
    this.#clock = checkClock(OWNER, o.clock);
    const events = checkEvents(OWNER, o.events);
    const guard = new StoreGuard({ source: 'cache', name: this.name, mode: 'fallback', ...storeGuardOptions(OWNER, o), clock: this.#clock, events });
    this.#caller = new StoreCaller<CacheRedisClient>(client, { owner: OWNER, timeoutMs, clock: this.#clock, guard });
    this.#cluster = client.isCluster === true;
    this.#versionKey = `{${this.#prefix}}:ns`;
  }

  /** The current namespace version: read once, then refreshed in the background every `versionCheckMs`. */
  #namespace(): Promise<number> | number {
    if (this.#clearing !== undefined) return this.#clearing.then(() => this.#namespace());
    const version = this.#version;
    if (version !== undefined && !this.#stale) {
      if (this.#clock.now() - this.#versionAt >= this.#versionCheckMs && this.#versionLoad === undefined) {
        this.#loadVersion().then(undefined, () => undefined);
      }
      return version;
    }
    return this.#versionLoad ?? this.#loadVersion();
  }

  #loadVersion(): Promise<number> {
    const asked = this.#staleCount;
    const load = this.#caller
      .command((c) => (c.get as NonNullable<CacheRedisClient['get']>)(this.#versionKey))
      .then((result) => {
        const raw = unwrap<string | null>(result);
        const version = raw === null ? 0 : Number(raw);
        // A clear() from this process may have raced the read: never go back.
        if (this.#version === undefined || version > this.#version) this.#version = Number.isSafeInteger(version) ? version : 0;
        this.#versionAt = this.#clock.now();
        if (this.#staleCount === asked) this.#stale = false;
        return this.#version as number;
      })
      .finally(() => {
        if (this.#versionLoad === load) this.#versionLoad = undefined;
      });
    this.#versionLoad = load;
    return load;
  }

  namespaceChanged(): void {
    // Until the new version is read, no call may use the old one (it would read cleared entries
    // back into L1, or write where nobody reads).
    this.#stale = true;
    this.#staleCount++;
    this.#versionAt = 0;
    this.#loadVersion().then(undefined, () => undefined);
  }

  #key(version: number, key: string): string {
    return `{${this.#prefix}:v${version}:${encodeKeyPart(key)}}`;
  }

  get(keys: readonly string[]): Promise<(string | undefined)[]> {
    if (keys.length === 0) return Promise.resolve([]);
    if (keys.length === 1 && !this.#cluster) return this.#batched(keys[0] as string);
    return this.#getNow(keys);
  }

  /**
   * Concurrent single-key reads (many `get`/`getOrSet` calls in one tick) share one MGET: one
   * round trip and one deadline for all of them instead of one each.
   */
  #batched(key: string): Promise<(string | undefined)[]> {
    let batch = this.#batch;
    if (batch === undefined || batch.keys.length >= MAX_BATCH) {
      const fresh: ReadBatch = { keys: [], waiters: [] };
      this.#batch = batch = fresh;
      queueMicrotask(() => {
        if (this.#batch === fresh) this.#batch = undefined;
        this.#getNow(fresh.keys).then(
          (values) => {
            for (const w of fresh.waiters) w.resolve([values[w.index]]);
          },
          (error: unknown) => {
            for (const w of fresh.waiters) w.reject(error);
          },
        );
      });
    }
    const target = batch;
    return new Promise((resolve, reject) => {
      // Small batches dedupe repeated keys; the scan stops being worth it beyond that.
      let index = target.keys.length <= 32 ? target.keys.indexOf(key) : -1;
      if (index < 0) index = target.keys.push(key) - 1;
      target.waiters.push({ index, resolve, reject });
    });
  }

  async #getNow(keys: readonly string[]): Promise<(string | undefined)[]> {
    const version = await this.#namespace();
    const ids = keys.map((key) => this.#key(version, key));
    let result: StoreResult;
    if (ids.length === 1) result = await this.#caller.command((c) => (c.get as NonNullable<CacheRedisClient['get']>)(ids[0] as string));
    else if (!this.#cluster) result = await this.#caller.command((c) => (c.mget as NonNullable<CacheRedisClient['mget']>)(...ids), { accept: isArray });
    // On a Cluster every key has its own slot: one GET each, sent together (one store call).
    else result = await this.#caller.command((c) => Promise.all(ids.map((id) => (c.get as NonNullable<CacheRedisClient['get']>)(id))), { accept: isArray });
    const reply = unwrap<string | null | (string | null)[]>(result);
    const values = Array.isArray(reply) ? reply : [reply];
    return values.map((v) => (typeof v === 'string' ? v : undefined));
  }

  async set(writes: readonly StoreWrite[]): Promise<void> {
    if (writes.length === 0) return;
    const version = await this.#namespace();
    const send = (c: CacheRedisClient, w: StoreWrite) => (c.set as NonNullable<CacheRedisClient['set']>)(this.#key(version, w.key), w.value, 'PX', Math.max(1, Math.ceil(w.ttlMs)));
    let result: StoreResult;
    if (writes.length === 1) result = await this.#caller.command((c) => send(c, writes[0] as StoreWrite));
    else if (!this.#cluster && typeof this.#caller.client.pipeline === 'function') {
      result = await this.#caller.command(async (c) => {
        const pipeline = (c.pipeline as NonNullable<CacheRedisClient['pipeline']>)();
        for (const w of writes) pipeline.set(this.#key(version, w.key), w.value, 'PX', Math.max(1, Math.ceil(w.ttlMs)));
        const replies = await pipeline.exec();
        const failed = replies?.find(([error]) => error !== null);
        if (failed !== undefined) throw failed[0];
        return replies;
      });
    } else result = await this.#caller.command((c) => Promise.all(writes.map((w) => send(c, w))));
    unwrap(result);
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const version = await this.#namespace();
    const ids = keys.map((key) => this.#key(version, key));
    const del = (c: CacheRedisClient, ...some: string[]) => (c.del as NonNullable<CacheRedisClient['del']>)(...some);
    const result =
      ids.length === 1 || !this.#cluster
        ? await this.#caller.command((c) => del(c, ...ids))
        : await this.#caller.command((c) => Promise.all(ids.map((id) => del(c, id))));
    unwrap(result);
  }

  async clear(): Promise<void> {
    const incr = this.#caller.command((c) => (c.incr as NonNullable<CacheRedisClient['incr']>)(this.#versionKey));
    const clearing: Promise<void> = incr.then(
      (result) => {
        if (this.#clearing === clearing) this.#clearing = undefined;
        const version = result.ok ? Number(result.value) : NaN;
        if (Number.isSafeInteger(version) && (this.#version === undefined || version > this.#version)) this.#version = version;
        else {
          // Failed or timed out: the INCR may still have happened. Read the version again before the next call.
          this.#stale = true;
          this.#staleCount++;
        }
        this.#versionAt = this.#clock.now();
      },
      () => undefined,
    );
    this.#clearing = clearing;
    await clearing;
    unwrap(await incr);
  }
}

/**
 * An L2 store on Redis (a `Redis` or a `Cluster` from ioredis). Entries live under
 * `{<prefix>:v<version>:<encoded key>}` with a physical TTL of the entry's TTL plus its grace;
 * keys are encoded losslessly (`encodeKeyPart`), so hostile keys can neither collide nor leave
 * the prefix, and each key is its own hash tag (Cluster-safe). Batches are one `MGET`, one
 * pipeline of `SET PX` or one `DEL` (on a Cluster: one command per key, sent together). `clear()`
 * bumps the namespace version (`INCR`), never `KEYS`/`SCAN`; old entries expire by their TTL.
 *
 * Every call goes through `@x/core/store`: a deadline (`timeoutMs`), a guard that skips Redis
 * after `failureThreshold` consecutive failures for `cooldownMs` (events `cache.store_error`,
 * `cache.store_degraded`, `cache.store_recovered`), no offline queueing, and a connecting client
 * waited for within the deadline. A failed call rejects, so the cache's `storePolicy` sees it.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { createCache } from '@x/cache';
 * import { redisCacheStore } from '@x/cache/redis';
 *
 * const redis = new Redis({ enableOfflineQueue: false, maxRetriesPerRequest: 1 });
 * const cache = createCache<User>({ name: 'users', l2: redisCacheStore(redis, { prefix: 'users', timeoutMs: 100 }) });
 * ```
 */
export function redisCacheStore(redis: CacheRedisClient, options?: RedisCacheStoreOptions): CacheStore {
  return new RedisCacheStore(redis, options);
}
