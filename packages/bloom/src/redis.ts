import { checkBoolean, checkClock, checkEvents, checkInteger, checkOneOf, checkString, isXError, readOptions, trackInstance } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import { StoreCaller, StoreGuard, checkKeyPrefix, defineScript, encodeKeyPart, storeGuardOptions } from '@x/core/store';
import type { StoreClient, StoreHealth, StoreResult } from '@x/core/store';
import { badKey } from './bits.js';
import type { BloomFilterStats } from './bloom.js';
import { BloomMetadataMismatchError, BloomModuleUnavailableError, BloomStoreUnavailableError } from './errors.js';
// The event types must be in this entry's program for the bus to accept them (declaration merging).
import type {} from './events.js';
import { HASH_VERSION, hashKey, lastH1, lastH2, shardOf } from './hash.js';
import { bloomSizing } from './sizing.js';
import type { BloomSizing } from './sizing.js';

const OWNER = 'redisBloomFilter';
const OPTION_KEYS = [
  'key',
  'expectedItems',
  'falsePositiveRate',
  'timeoutMs',
  'prefix',
  'shards',
  'maxShardBits',
  'preallocate',
  'onStoreError',
  'backend',
  'batchSize',
  'failureThreshold',
  'cooldownMs',
  'name',
  'clock',
  'events',
];

/** A pipeline as ioredis returns it: queue commands, then `exec()`. */
export interface RedisBloomPipeline {
  bitfield(key: string, ...args: (string | number)[]): unknown;
  bitfield_ro(key: string, ...args: (string | number)[]): unknown;
  call(command: string, ...args: (string | number)[]): unknown;
  exec(): Promise<Array<[Error | null, unknown]> | null>;
}

/**
 * The part of an ioredis `Redis` or `Cluster` client the filter uses (typed structurally: this
 * entry never imports ioredis). The filter never creates connections of its own.
 */
export interface RedisBloomClient extends StoreClient {
  bitfield(key: string, ...args: (string | number)[]): Promise<unknown>;
  bitfield_ro(key: string, ...args: (string | number)[]): Promise<unknown>;
  bitcount(key: string): Promise<number>;
  del(...keys: string[]): Promise<number>;
  exists(...keys: string[]): Promise<number>;
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
  pipeline(): RedisBloomPipeline;
}

/**
 * What `has` answers when Redis cannot (down, slow past `timeoutMs`, or skipped while degraded):
 * `'present'` resolves true ("possibly present": the caller goes to the source of truth, as for a
 * false positive), `'throw'` rejects with `BLOOM_STORE_UNAVAILABLE`. Never "absent": that would be
 * a false negative.
 */
export type BloomStoreErrorMode = 'present' | 'throw';

/** Options of {@link redisBloomFilter}. */
export interface RedisBloomFilterOptions {
  /** The filter's name on Redis (any string; encoded losslessly into the keys). */
  readonly key: string;
  /** Items the filter holds at `falsePositiveRate` (n): an integer >= 1. */
  readonly expectedItems: number;
  /** Target false-positive rate at `expectedItems`, in (0, 1). */
  readonly falsePositiveRate: number;
  /** Deadline of each Redis call in ms (integer in [1, 60000]). Default 100. */
  readonly timeoutMs?: number;
  /** First part of every key, inside the hash tag (no `{` or `}`). Default `'bloom'`. */
  readonly prefix?: string;
  /**
   * Split the bits over at least this many keys, each with its own hash tag, so a large or hot
   * filter spreads over a Cluster's nodes (integer in [1, 1024]). Default 1; filters past 2³² bits
   * always shard (one Redis string holds at most 2³² bits).
   */
  readonly shards?: number;
  /** Largest shard in bits (a multiple of 64, at most 2³²). Default 2³². */
  readonly maxShardBits?: number;
  /**
   * When this call creates the filter, allocate every shard's full string at once (one `BITFIELD
   * … INCRBY u1 <last bit> 0` per shard) instead of on a first write that would block the server
   * unexpectedly. Allocating 512 MiB takes Redis a moment too: do it at deploy time. Default true.
   */
  readonly preallocate?: boolean;
  /** What `has` answers when Redis cannot. Default `'present'`. See {@link BloomStoreErrorMode}. */
  readonly onStoreError?: BloomStoreErrorMode;
  /**
   * `'bitfield'` (default): plain Redis strings, this package's hash contract, any Redis >= 6.2.
   * `'module'`: RedisBloom / Redis 8 / valkey-bloom `BF.*` commands; refused with
   * `BLOOM_MODULE_UNAVAILABLE` when the server has none. The two are not bit-compatible and a
   * filter never switches between them.
   */
  readonly backend?: 'bitfield' | 'module';
  /** Keys per pipeline in `addMany` / `hasMany` (each pipeline has its own deadline). Default 500. */
  readonly batchSize?: number;
  /** Consecutive failures that make the filter skip Redis for `cooldownMs`. Default 3. */
  readonly failureThreshold?: number;
  /** How long Redis is skipped before one call probes it, in ms. Default 1000. */
  readonly cooldownMs?: number;
  /** Instance name in events and metrics. Default: `key`. */
  readonly name?: string;
  readonly clock?: Clock;
  readonly events?: EventBus;
}

/** What a Redis filter's `stats()` reports (read from the server with `BITCOUNT`): a plain filter's fields, plus the backend. */
export interface RedisBloomFilterStats extends BloomFilterStats {
  /**
   * Distinct items, estimated from the set bits: −(m/k)·ln(1 − set/m). With `backend: 'module'`,
   * the module's own count (`BF.CARD`), and `fillRatio` / `estimatedFpr` estimated from it.
   */
  readonly items: number;
  /** False positives reported through this instance's `recordFalsePositive()`. */
  readonly falsePositives: number;
  readonly backend: 'bitfield' | 'module';
}

/**
 * A bloom filter on Redis, shared by every process (and, through the hash contract, every
 * language) that opens the same key.
 *
 * @example
 * ```ts
 * const ids = await redisBloomFilter(redis, { key: 'user-ids', expectedItems: 1e6, falsePositiveRate: 0.01 });
 * await ids.add('user:42');
 * await ids.has('user:42'); // true
 * ```
 */
export interface RedisBloomFilter {
  readonly name: string;
  readonly key: string;
  readonly sizing: BloomSizing;
  /** The Redis keys of the bits, one per shard, and of the metadata hash. */
  readonly keys: { readonly bits: readonly string[]; readonly meta: string };
  /** `'healthy'`, `'degraded'` (Redis skipped until the cooldown ends) or `'probing'`. */
  readonly health: StoreHealth;
  /**
   * Adds `key` with one `BITFIELD … SET u1` call; resolves true when it was possibly present.
   * Rejects with `BLOOM_STORE_UNAVAILABLE` when Redis does not confirm (a lost add would be a false
   * negative for every reader): adds are idempotent, retry them.
   */
  add(key: string): Promise<boolean>;
  /** One `BITFIELD_RO … GET u1` call. When Redis cannot answer: see `onStoreError` (never false). */
  has(key: string): Promise<boolean>;
  /** `add` for many keys, pipelined (`batchSize` per pipeline, one pipeline per shard). */
  addMany(keys: readonly string[]): Promise<boolean[]>;
  /** `has` for many keys, pipelined. Keys whose batch failed get the `onStoreError` answer. */
  hasMany(keys: readonly string[]): Promise<boolean[]>;
  recordFalsePositive(): void;
  /**
   * Reads the fill from Redis (`BITCOUNT` per shard: O(size), keep it off hot paths; `BF.CARD`
   * per shard with `backend: 'module'`).
   */
  stats(): Promise<RedisBloomFilterStats>;
  /** Clears the bits (keeps the metadata, re-allocates when `preallocate`). */
  clear(): Promise<void>;
}

// HGETALL the metadata; write it when absent, unless ARGV[1] says bit keys exist already (bits
// without metadata: refused, nothing written). One key: Cluster-safe.
const OPEN_SCRIPT = defineScript(`
local existing = redis.call('HGETALL', KEYS[1])
if #existing > 0 then return existing end
if ARGV[1] == '1' then return 1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 0
`);

/** Fields that must match for two processes to share a filter. */
const IDENTITY = ['backend', 'hashVersion', 'm', 'k', 'shards', 'shardBits'] as const;

/** Keys whose sub-operations share one BITFIELD in `addMany` / `hasMany` (64 × k sub-operations, a few µs of server time). */
const KEYS_PER_COMMAND = 64;

const isBitReply = (reply: unknown, k: number): reply is number[] => Array.isArray(reply) && reply.length === k;
/** `BF.ADD` / `BF.EXISTS` answer 0 or 1; anything else is a failed call, never "absent". */
const isFlagReply = (reply: unknown): reply is 0 | 1 => reply === 0 || reply === 1;
const allOnes = (reply: readonly unknown[]): boolean => {
  for (let i = 0; i < reply.length; i++) if (reply[i] !== 1) return false;
  return true;
};

class RedisFilter implements RedisBloomFilter {
  readonly name: string;
  readonly key: string;
  readonly sizing: BloomSizing;
  readonly keys: { readonly bits: readonly string[]; readonly meta: string };
  readonly #caller: StoreCaller<RedisBloomClient>;
  readonly #guard: StoreGuard;
  readonly #mode: BloomStoreErrorMode;
  readonly #module: boolean;
  readonly #batchSize: number;
  readonly #preallocate: boolean;
  readonly #expectedItems: number;
  readonly #falsePositiveRate: number;
  readonly #clock: Clock;
  readonly #events: EventBus;
  #falsePositives = 0;
  /** What the metrics exporter reads at scrape time (the last estimate plus this process's new adds). */
  readonly #gauges = { items: 0, capacity: 0, falsePositives: 0 };
  readonly #metrics = { stats: () => this.#gauges };

  constructor(
    client: RedisBloomClient,
    settings: {
      name: string;
      key: string;
      prefix: string;
      sizing: BloomSizing;
      timeoutMs: number;
      mode: BloomStoreErrorMode;
      module: boolean;
      batchSize: number;
      preallocate: boolean;
      expectedItems: number;
      falsePositiveRate: number;
      failureThreshold: number;
      cooldownMs: number;
      clock: Clock;
      events: EventBus;
    },
  ) {
    const s = settings;
    this.name = s.name;
    this.key = s.key;
    this.sizing = s.sizing;
    const base = `${s.prefix}:${encodeKeyPart(s.key)}`;
    this.keys = {
      meta: `{${base}}:meta`,
      bits: Array.from({ length: s.sizing.shards }, (_, i) => `{${base}:${i}}:${s.module ? 'bf' : 'bits'}`),
    };
    this.#mode = s.mode;
    this.#module = s.module;
    this.#batchSize = s.batchSize;
    this.#preallocate = s.preallocate;
    this.#expectedItems = s.expectedItems;
    this.#falsePositiveRate = s.falsePositiveRate;
    this.#clock = s.clock;
    this.#events = s.events;
    this.#guard = new StoreGuard({
      source: 'bloom',
      name: s.name,
      mode: s.mode,
      failureThreshold: s.failureThreshold,
      cooldownMs: s.cooldownMs,
      clock: s.clock,
      events: s.events,
    });
    this.#caller = new StoreCaller(client, {
      owner: OWNER,
      timeoutMs: s.timeoutMs,
      clock: s.clock,
      guard: this.#guard,
      unavailable: (message, timedOut) => new BloomStoreUnavailableError(message, timedOut, false),
    });
    this.#gauges.capacity = s.expectedItems;
  }

  get health(): StoreHealth {
    return this.#guard.health;
  }

  /** The failure as the error callers see. */
  #error(result: Extract<StoreResult, { ok: false }>, what: string): BloomStoreUnavailableError {
    const { error, timedOut, skipped } = result;
    if (isXError(error, 'BLOOM_STORE_UNAVAILABLE') && !skipped) return error;
    const reason = skipped ? 'redis is skipped after repeated failures' : error instanceof Error ? error.message : String(error);
    return new BloomStoreUnavailableError(`bloom filter "${this.key}": ${what} got no answer from redis (${reason})`, timedOut, skipped, error);
  }

  /** Opens (creates or verifies) the filter; see {@link redisBloomFilter}. */
  async open(): Promise<void> {
    const sz = this.sizing;
    const requested: Record<string, string> = {
      backend: this.#module ? 'module' : 'bitfield',
      hashVersion: String(this.#module ? 0 : HASH_VERSION),
      m: String(sz.m),
      k: String(sz.k),
      shards: String(sz.shards),
      shardBits: String(sz.shardBits),
      expectedItems: String(this.#expectedItems),
      falsePositiveRate: String(this.#falsePositiveRate),
      createdAt: String(Date.now()),
    };
    // Bits that exist before any metadata does were written under parameters nobody can know any
    // more (metadata deleted or evicted): reading them with ours would give false negatives. Checked
    // before the script, so a filter created meanwhile by another process is found by the script.
    const exists = await Promise.all(this.keys.bits.map((key) => this.#caller.command((c) => c.exists(key))));
    let orphan = false;
    for (const result of exists) {
      if (!result.ok) throw this.#error(result, 'open');
      if (Number(result.value) > 0) orphan = true;
    }
    const argv = [orphan ? '1' : '0', ...Object.entries(requested).flat()];
    const result = await this.#caller.script(OPEN_SCRIPT, [this.keys.meta], argv);
    if (!result.ok) throw this.#error(result, 'open');
    if (result.value === 1) throw BloomMetadataMismatchError.orphaned(this.key);
    const created = result.value === 0;
    if (!created) {
      const flat = result.value as string[];
      const stored: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) stored[String(flat[i])] = String(flat[i + 1]);
      const differing = IDENTITY.filter((field) => stored[field] !== requested[field]);
      if (differing.length > 0) throw new BloomMetadataMismatchError(this.key, differing, stored, requested);
    }
    let preallocated = 0;
    if (this.#module) {
      if (created) await this.#reserveModule();
    } else if (created && this.#preallocate) {
      preallocated = await this.#allocate();
    }
    if (!created) await this.#refreshItems();
    trackInstance(this.#events, 'bloom', this.name, this.#metrics);
    if (this.#events.hasListeners('bloom.opened')) {
      this.#events.emit({ type: 'bloom.opened', source: 'bloom', name: this.name, time: this.#clock.now(), created, preallocatedBytes: preallocated });
    }
  }

  async #reserveModule(): Promise<void> {
    const perShard = Math.ceil(this.#expectedItems / this.sizing.shards);
    for (const key of this.keys.bits) {
      const result = await this.#caller.command((c) => c.call('BF.RESERVE', key, this.#falsePositiveRate, perShard, 'NONSCALING'));
      if (result.ok) continue;
      const message = result.error instanceof Error ? result.error.message : String(result.error);
      if (/unknown command|ERR unknown/i.test(message)) {
        // Leave no metadata behind that would pin this key to a backend the server lacks.
        await this.#caller.command((c) => c.del(this.keys.meta));
        throw new BloomModuleUnavailableError(`bloom filter "${this.key}": backend 'module' asked for, but the server has no BF.* commands (${message})`, result.error);
      }
      if (/item exists/i.test(message)) continue;
      throw this.#error(result, 'BF.RESERVE');
    }
  }

  /** Allocates every shard's string; returns the bytes allocated. */
  async #allocate(): Promise<number> {
    const last = this.sizing.shardBits - 1;
    for (const key of this.keys.bits) {
      // INCRBY 0 extends the string to the last bit without changing any bit.
      const result = await this.#caller.command((c) => c.bitfield(key, 'INCRBY', 'u1', last, 0));
      if (!result.ok) throw this.#error(result, 'pre-allocation');
    }
    return this.sizing.bytes;
  }

  async #refreshItems(): Promise<void> {
    const stats = await this.stats();
    this.#gauges.items = Math.round(stats.items);
  }

  #shardKey(key: string): string {
    const shards = this.sizing.shards;
    return this.keys.bits[shards === 1 ? 0 : shardOf(key, shards)]!;
  }

  /** BITFIELD arguments for the last hashed key: `<op> u1 <offset> [1]` k times. */
  #args(set: boolean): (string | number)[] {
    const args: (string | number)[] = [];
    this.#pushArgs(args, set);
    return args;
  }

  #pushArgs(args: (string | number)[], set: boolean): void {
    const m = this.sizing.shardBits;
    const k = this.sizing.k;
    let pos = lastH1 % m;
    const step = ((lastH2 | 1) >>> 0) % m;
    for (let i = 0; i < k; i++) {
      if (set) args.push('SET', 'u1', pos, 1);
      else args.push('GET', 'u1', pos);
      pos += step;
      if (pos >= m) pos -= m;
    }
  }

  async add(key: string): Promise<boolean> {
    if (typeof key !== 'string') throw badKey('RedisBloomFilter.add', key);
    const shardKey = this.#shardKey(key);
    let result: StoreResult;
    if (this.#module) {
      result = await this.#caller.command((c) => c.call('BF.ADD', shardKey, key), { accept: isFlagReply });
      if (!result.ok) throw this.#error(result, 'add');
      const fresh = result.value === 1;
      if (fresh) this.#gauges.items++;
      return !fresh;
    }
    hashKey(key);
    const args = this.#args(true);
    result = await this.#caller.command((c) => c.bitfield(shardKey, ...args));
    if (!result.ok) throw this.#error(result, 'add');
    const present = allOnes(result.value as unknown[]);
    if (!present) this.#gauges.items++;
    return present;
  }

  async has(key: string): Promise<boolean> {
    if (typeof key !== 'string') throw badKey('RedisBloomFilter.has', key);
    const shardKey = this.#shardKey(key);
    let result: StoreResult;
    if (this.#module) {
      result = await this.#caller.command((c) => c.call('BF.EXISTS', shardKey, key), { accept: isFlagReply });
      if (result.ok) return result.value === 1;
    } else {
      hashKey(key);
      const args = this.#args(false);
      const k = this.sizing.k;
      result = await this.#caller.command((c) => c.bitfield_ro(shardKey, ...args), { accept: (reply) => isBitReply(reply, k) });
      if (result.ok) return allOnes(result.value as unknown[]);
    }
    if (this.#mode === 'throw') throw this.#error(result, 'has');
    return true;
  }

  /**
   * Runs `keys` through pipelines (per shard, `batchSize` keys each, 4 in flight). Within a
   * pipeline, up to {@link KEYS_PER_COMMAND} keys share one BITFIELD / BITFIELD_RO: their
   * sub-operations run in order on the server, so the answers are what one call per key, in
   * turn, would give, at a fraction of the commands. Answers come back in the keys' order.
   */
  async #many(keys: readonly string[], set: boolean): Promise<boolean[]> {
    const owner = set ? 'RedisBloomFilter.addMany' : 'RedisBloomFilter.hasMany';
    if (!Array.isArray(keys)) throw badKey(owner, keys);
    for (const key of keys) if (typeof key !== 'string') throw badKey(owner, key);
    const out = new Array<boolean>(keys.length);
    const k = this.sizing.k;
    // Group by shard: each pipeline touches one key (one slot), as a Cluster requires.
    const byShard = new Map<string, number[]>();
    for (let i = 0; i < keys.length; i++) {
      const shardKey = this.#shardKey(keys[i]!);
      let list = byShard.get(shardKey);
      if (list === undefined) byShard.set(shardKey, (list = []));
      list.push(i);
    }
    const batches: { shardKey: string; indexes: number[] }[] = [];
    for (const [shardKey, indexes] of byShard) {
      for (let from = 0; from < indexes.length; from += this.#batchSize) batches.push({ shardKey, indexes: indexes.slice(from, from + this.#batchSize) });
    }
    const module = this.#module;
    const perCommand = module ? 1 : KEYS_PER_COMMAND;
    let failure: BloomStoreUnavailableError | undefined;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < batches.length) {
        const { shardKey, indexes } = batches[next++]!;
        const result = await this.#caller.command((c) => {
          const pipeline = c.pipeline();
          for (let from = 0; from < indexes.length; from += perCommand) {
            const to = Math.min(indexes.length, from + perCommand);
            if (module) {
              pipeline.call(set ? 'BF.ADD' : 'BF.EXISTS', shardKey, keys[indexes[from]!]!);
              continue;
            }
            const args: (string | number)[] = [];
            for (let j = from; j < to; j++) {
              hashKey(keys[indexes[j]!]!);
              this.#pushArgs(args, set);
            }
            if (set) pipeline.bitfield(shardKey, ...args);
            else pipeline.bitfield_ro(shardKey, ...args);
          }
          return pipeline.exec();
        });
        const replies = result.ok && Array.isArray(result.value) ? (result.value as Array<[Error | null, unknown]>) : undefined;
        for (let from = 0, command = 0; from < indexes.length; from += perCommand, command++) {
          const to = Math.min(indexes.length, from + perCommand);
          const reply = replies?.[command];
          const value = reply !== undefined && reply[0] === null ? reply[1] : undefined;
          const ok = module ? value === 0 || value === 1 : isBitReply(value, (to - from) * k);
          if (!ok) {
            if (set || this.#mode === 'throw') {
              failure ??= result.ok
                ? new BloomStoreUnavailableError(`bloom filter "${this.key}": a pipelined command failed (${String(reply?.[0] ?? 'no reply')})`, false, false, reply?.[0])
                : this.#error(result, set ? 'addMany' : 'hasMany');
            }
            for (let j = from; j < to; j++) out[indexes[j]!] = true;
            continue;
          }
          for (let j = from; j < to; j++) {
            let answer: boolean;
            if (module) answer = set ? value === 0 : value === 1;
            else {
              answer = true;
              const bits = value as number[];
              for (let b = (j - from) * k, end = b + k; b < end; b++) if (bits[b] !== 1) answer = false;
            }
            if (set && !answer) this.#gauges.items++;
            out[indexes[j]!] = answer;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, batches.length) }, worker));
    if (failure !== undefined) throw failure;
    return out;
  }

  addMany(keys: readonly string[]): Promise<boolean[]> {
    return this.#many(keys, true);
  }

  hasMany(keys: readonly string[]): Promise<boolean[]> {
    return this.#many(keys, false);
  }

  recordFalsePositive(): void {
    this.#falsePositives++;
    this.#gauges.falsePositives = this.#falsePositives;
    if (!this.#events.hasListeners('bloom.false_positive')) return;
    this.#events.emit({ type: 'bloom.false_positive', source: 'bloom', name: this.name, time: this.#clock.now(), falsePositives: this.#falsePositives });
  }

  async stats(): Promise<RedisBloomFilterStats> {
    const { m, k, shards, bytes } = this.sizing;
    // Bitfield: set bits per shard (BITCOUNT). Module: the items it counted per shard (BF.CARD);
    // it sizes its own bit array, so fill is estimated from that count for the requested sizing.
    const counts = await Promise.all(this.keys.bits.map((key) => this.#caller.command((c) => (this.#module ? c.call('BF.CARD', key) : c.bitcount(key)))));
    let count = 0;
    for (const result of counts) {
      if (!result.ok) throw this.#error(result, 'stats');
      count += Number(result.value);
    }
    let fill: number;
    let items: number;
    if (this.#module) {
      items = count;
      fill = 1 - Math.exp((-k * items) / m);
    } else {
      fill = count / m;
      items = fill >= 1 ? Number.POSITIVE_INFINITY : -(m / k) * Math.log(1 - fill);
    }
    this.#gauges.items = Math.round(items);
    return {
      m,
      k,
      shards,
      items,
      capacity: this.#expectedItems,
      fillRatio: fill,
      estimatedFpr: fill ** k,
      targetFpr: this.#falsePositiveRate,
      bytes,
      falsePositives: this.#falsePositives,
      // 0 for the module: its hashing is its own, not this package's contract (as in the metadata).
      hashVersion: this.#module ? 0 : HASH_VERSION,
      backend: this.#module ? 'module' : 'bitfield',
    };
  }

  async clear(): Promise<void> {
    for (const key of this.keys.bits) {
      const result = await this.#caller.command((c) => c.del(key));
      if (!result.ok) throw this.#error(result, 'clear');
    }
    this.#gauges.items = 0;
    if (this.#module) await this.#reserveModule();
    else if (this.#preallocate) await this.#allocate();
  }
}

/**
 * Opens a bloom filter on plain Redis: creates it (metadata hash + pre-allocated bit strings) or
 * finds one with the same parameters, and rejects with `BLOOM_METADATA_MISMATCH` when the key
 * holds a filter with another m, k, shard layout, hash version or backend (nothing is rebuilt
 * silently). Bit offsets are computed here by the hash contract, so each `add` is one `BITFIELD`
 * and each `has` one `BITFIELD_RO`, on one key (Cluster-safe); `addMany` / `hasMany` pipeline.
 * Every call has a deadline (`timeoutMs`) and goes through a store guard; `has` never answers
 * "absent" when Redis cannot answer (see `onStoreError`). Rejects with `BLOOM_STORE_UNAVAILABLE`
 * when Redis does not answer the open, and with `INVALID_OPTIONS` for bad options.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { redisBloomFilter } from '@x/bloom/redis';
 *
 * const redis = new Redis({ enableOfflineQueue: false, maxRetriesPerRequest: 1 });
 * const userIds = await redisBloomFilter(redis, { key: 'user-ids', expectedItems: 10_000_000, falsePositiveRate: 0.01 });
 * await userIds.add(id);                  // on every insert into the users table
 * if (!(await userIds.has(id))) return null; // definitely no such user: skip the database
 * ```
 */
export async function redisBloomFilter(redis: RedisBloomClient, options: RedisBloomFilterOptions): Promise<RedisBloomFilter> {
  const o = readOptions<RedisBloomFilterOptions>(OWNER, options, OPTION_KEYS, true);
  const key = checkString(OWNER, 'key', o.key);
  const sizing = bloomSizing(o, OWNER);
  const guard = storeGuardOptions(OWNER, o);
  const filter = new RedisFilter(redis, {
    name: checkString(OWNER, 'name', o.name ?? key),
    key,
    prefix: checkKeyPrefix(OWNER, 'prefix', o.prefix ?? 'bloom'),
    sizing,
    timeoutMs: checkInteger(OWNER, 'timeoutMs', o.timeoutMs ?? 100, { min: 1, max: 60_000 }),
    mode: checkOneOf(OWNER, 'onStoreError', o.onStoreError ?? 'present', ['present', 'throw'] as const),
    module: checkOneOf(OWNER, 'backend', o.backend ?? 'bitfield', ['bitfield', 'module'] as const) === 'module',
    batchSize: checkInteger(OWNER, 'batchSize', o.batchSize ?? 500, { min: 1, max: 100_000 }),
    preallocate: checkBoolean(OWNER, 'preallocate', o.preallocate ?? true),
    expectedItems: o.expectedItems,
    falsePositiveRate: o.falsePositiveRate,
    failureThreshold: guard.failureThreshold,
    cooldownMs: guard.cooldownMs,
    clock: checkClock(OWNER, o.clock),
    events: checkEvents(OWNER, o.events),
  });
  await filter.open();
  return filter;
}

export type { StoreHealth };
