import {
  InvalidOptionsError,
  abortSignalOf,
  checkClock,
  checkEvents,
  checkFunction,
  checkInteger,
  checkNumber,
  checkOneOf,
  checkString,
  coarseNow,
  compose,
  earliestDeadline,
  invoke,
  isAbortedByCaller,
  readOptions,
  toPromise,
  trackInstance,
  withoutStack,
} from '@x/core';
import type { Clock, EventBus, ExecutionContext, Policy, XEvent } from '@x/core';
import { DeadlineQueue, StoreUnavailableError } from '@x/core/store';
import { Entry, JSON_SERIALIZER, decodeEntry, encodeEntry } from './entry.js';
import { CacheStoreError, CacheTimeoutError, CacheWriteQueueFullError } from './errors.js';
import type { CacheOperation, CacheStatus, StaleReason } from './events.js';
import { L1Tier } from './l1.js';
import type { L1Stats } from './l1.js';
import type {
  CacheLease,
  CacheLock,
  CacheSerializer,
  CacheStore,
  DeadLetterSinkLike,
  InvalidationBus,
  InvalidationInfo,
  MembershipFilter,
  StoreCallOptions,
  StoreWrite,
} from './types.js';

const OWNER = 'createCache';
const MAX_TTL_MS = 10 * 365 * 24 * 3_600_000;

/** Options of the in-memory first tier. */
export interface L1Options {
  /** Most entries kept (integer in [1, 10 000 000]). Default 10 000. */
  readonly maxEntries?: number;
  /** Most bytes kept, as `sizeOf` counts them (> 0, `Infinity` allowed). Default `Infinity`. */
  readonly maxBytes?: number;
  /**
   * Size of one entry in bytes. Default: the key's and the value's UTF-16 length × 2 (the value's
   * JSON form for objects, computed only when `maxBytes` is finite) plus 64.
   */
  readonly sizeOf?: (value: unknown, key: string) => number;
  /**
   * `'tinylfu'` (default): a new entry replaces an older one only if it is used more often (beats
   * LRU on skewed traffic; see the README's figures). `'lru'`: plain least-recently-used.
   */
  readonly admission?: 'tinylfu' | 'lru';
}

/** Options of write-behind. */
export interface WriteBehindOptions {
  /** Most keys waiting for (or in) their write to the source (integer >= 1). Default 10 000. */
  readonly maxPending?: number;
  /** Writes to the source running at once (integer >= 1). Default 4. */
  readonly concurrency?: number;
  /** How long a write waits before it starts, so quick successive writes to a key coalesce (ms, integer >= 0). Default 0. */
  readonly delayMs?: number;
  /** Attempts per write before it is dead-lettered (integer in [1, 100]). Default 3. */
  readonly attempts?: number;
  /** Wait between attempts, ms (integer >= 0). Default 100. */
  readonly retryDelayMs?: number;
  /** Where failed writes go (`@x/dlq`'s queue fits). Without one, a failed write is reported (`cache.write_failed`) and counted as lost. */
  readonly deadLetter?: DeadLetterSinkLike;
}

/**
 * The store calls' protection: one policy, or the three classic layers, which the cache composes
 * in the order that keeps an open breaker from being retried: `breaker → retry → timeout`
 * (the breaker outermost sees each retried call once; the timeout applies per attempt).
 */
export type StorePolicyOption = Policy | { readonly breaker?: Policy; readonly retry?: Policy; readonly timeout?: Policy };

/** Options of {@link createCache}. Per-call options win over these, which win over defaults. */
export interface CacheOptions<T> {
  /** Instance name for events and metrics. Default `'cache'`. */
  readonly name?: string;
  /** The in-memory tier: options, or `false` for none. Default `{ maxEntries: 10_000 }`. */
  readonly l1?: L1Options | false;
  /** The shared tier (`redisCacheStore(redis)` or `memoryCacheStore()`). Default none. */
  readonly l2?: CacheStore;
  /** Time to live of entries, ms (integer in [1, 10 years]). Default 300 000 (5 min). */
  readonly ttlMs?: number;
  /** After the TTL, how long an entry may still be served stale (SWR, stale-if-error), ms (integer >= 0). Default 0. */
  readonly graceMs?: number;
  /** Fraction in [0, 1) by which each TTL is shortened at random, so keys written together expire apart. Default 0.1. */
  readonly jitter?: number;
  /** TTL of a cached "not found" (a loader that returned undefined, or the filter said absent), ms (integer >= 0; 0 = not cached). Default 10 000. */
  readonly negativeTtlMs?: number;
  /** With L2: longest time L1 serves an entry without asking L2 again, ms (integer >= 1). Default 60 000. */
  readonly l1TtlMs?: number;
  /** Protection around every L2 call (see {@link StorePolicyOption}). Default: none beyond the store's own deadline and guard. */
  readonly storePolicy?: StorePolicyOption;
  /** Deadline of one L2 operation including the store policy's retries, ms (integer >= 1). Default 1 000. */
  readonly storeTimeoutMs?: number;
  /** `'fallback'` (default): an L2 failure is reported by event and the cache answers without L2. `'throw'`: operations reject with `CACHE_STORE_ERROR`. */
  readonly onStoreError?: 'fallback' | 'throw';
  /** `getOrSet`: with a graced value, serve it if the load takes longer than this, ms (integer >= 0; 0 = stale-while-revalidate). Default 0. */
  readonly softTimeoutMs?: number;
  /** `getOrSet`: reject with `CACHE_TIMEOUT` if the load takes longer (ms, integer >= 1, or Infinity). Default Infinity. */
  readonly hardTimeoutMs?: number;
  /** Single-flight across processes (`createLock()` from `@x/lock` fits). Default none. */
  readonly lock?: CacheLock;
  /** Lease length of the load lock, ms (integer >= 1). Default 10 000. */
  readonly lockTtlMs?: number;
  /** How long a process waits for another's load, ms (integer >= 1). Default `hardTimeoutMs`, or 10 000. */
  readonly lockWaitMs?: number;
  /** First wait between polls of L2 while another process loads, ms (integer >= 1); grows ×1.5 up to 250. Default 20. */
  readonly lockPollMs?: number;
  /** Membership filter consulted before the loader (`@x/bloom` fits). Default none. */
  readonly filter?: MembershipFilter;
  /** Invalidation bus between processes (`createInvalidationBus` from `@x/cache/redis`). Default none. */
  readonly bus?: InvalidationBus;
  /** Write-behind settings. */
  readonly writeBehind?: WriteBehindOptions;
  /** How values are stored in L2. Default JSON. */
  readonly serializer?: CacheSerializer<T>;
  readonly clock?: Clock;
  readonly events?: EventBus;
}

/** Per-call options of `set`. */
export interface SetOptions {
  /** Overrides the cache's `ttlMs`. */
  readonly ttlMs?: number;
  /** Overrides the cache's `graceMs`. */
  readonly graceMs?: number;
  /** Overrides the cache's `l1TtlMs` for this entry. */
  readonly l1TtlMs?: number;
}

/** Per-call options of `getOrSet`. */
export interface GetOrSetOptions extends SetOptions {
  readonly softTimeoutMs?: number;
  readonly hardTimeoutMs?: number;
  /** Aborting rejects this call with the signal's reason; the load goes on for other callers. */
  readonly signal?: AbortSignal;
}

/** What a loader receives. */
export interface LoaderContext<T> {
  readonly key: string;
  /** Aborts when the hard timeout fires. */
  readonly signal: AbortSignal;
  /** The graced value, when one exists (for conditional requests). */
  readonly stale: T | undefined;
}

/** A loader: the value, or `undefined` for "not found" (cached as a negative entry). */
export type Loader<T> = (context: LoaderContext<T>) => T | undefined | PromiseLike<T | undefined>;

/** The entry form of a read. */
export type CacheEntry<T> =
  | { readonly status: 'found'; readonly value: T; readonly expiresAt: number; readonly staleUntil: number }
  | { readonly status: 'negative'; readonly value: undefined; readonly expiresAt: number; readonly staleUntil: number }
  | { readonly status: 'stale'; readonly value: T | undefined; readonly expiresAt: number; readonly staleUntil: number }
  | { readonly status: 'miss'; readonly value: undefined };

/** One item of `setMany`. */
export interface SetManyItem<T> extends SetOptions {
  readonly key: string;
  readonly value: T;
}

/** Totals since creation. */
export interface CacheStats {
  /** Counts by operation, then by status. */
  readonly operations: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** (hits + negative hits) / lookups, over `get`, `getMany` and `getOrSet`; 0 before any lookup. */
  readonly hitRatio: number;
  readonly l1: L1Stats | undefined;
  /** `getOrSet` calls that joined a load already running in this process. */
  readonly singleFlightJoins: number;
  /** Loader calls. */
  readonly loads: number;
  /** Background refreshes started (SWR, soft timeout). */
  readonly backgroundRefreshes: number;
  /** Times this process waited for another's load (lock held elsewhere). */
  readonly lockWaits: number;
  readonly bus: { readonly invalidations: number; readonly gaps: number };
  readonly filter: { readonly skipped: number; readonly falsePositives: number };
  readonly writeBehind: {
    readonly pending: number;
    readonly written: number;
    readonly coalesced: number;
    readonly deadLettered: number;
    readonly lost: number;
  };
}

/**
 * A typed, two-tier, resilient cache. See {@link createCache}.
 *
 * @example
 * ```ts
 * const users = createCache<User>({ name: 'users', ttlMs: 60_000, graceMs: 300_000 });
 * const user = await users.getOrSet(`user:${id}`, ({ signal }) => db.user(id, { signal }));
 * ```
 */
export interface Cache<T> {
  readonly name: string;
  /** The fresh value, or undefined (absent, negative, expired). A graced value only when L2 failed. */
  get(key: string): Promise<T | undefined>;
  /** The entry form: found, negative, stale (within grace) or miss. */
  getEntry(key: string): Promise<CacheEntry<T>>;
  getMany(keys: readonly string[]): Promise<(T | undefined)[]>;
  has(key: string): Promise<boolean>;
  set(key: string, value: T, options?: SetOptions): Promise<void>;
  setMany(items: readonly SetManyItem<T>[]): Promise<void>;
  delete(key: string): Promise<void>;
  deleteMany(keys: readonly string[]): Promise<void>;
  /** Forgets everything (L1 now, L2 by a namespace version bump, other processes through the bus). */
  clear(): Promise<void>;
  /** The value, loading it once per key (in this process, and across processes with `lock`). */
  getOrSet(key: string, loader: Loader<T>, options?: GetOrSetOptions): Promise<T | undefined>;
  /** Updates the cache now and writes to the source later (coalesced per key; failures to the dead-letter sink). */
  writeBehind(key: string, value: T, writer: (value: T, key: string) => unknown, options?: SetOptions): Promise<void>;
  /** The lock's `tryLock` on this cache's key space (requires `lock`). */
  tryLock(key: string, options?: { ttlMs?: number }): Promise<CacheLease | null>;
  /** Resolves when every write-behind write queued so far has ended (in the source or the dead-letter sink). */
  flush(): Promise<void>;
  /** Flushes, waits for background work, stops listening to the bus. Reads keep working; writeBehind refuses. */
  close(): Promise<void>;
  stats(): CacheStats;
}

interface Resolved {
  readonly ttlMs: number;
  readonly graceMs: number;
  readonly l1TtlMs: number;
}

interface Flight<T> {
  readonly promise: Promise<T | undefined>;
  resolve(value: T | undefined): void;
  reject(error: unknown): void;
  settled: boolean;
  /** A graced entry found on the way (L1 or L2). */
  stale: Entry<T> | undefined;
  controller: AbortController | undefined;
}

interface WriteState<T> {
  next: { value: T; writer: (value: T, key: string) => unknown } | undefined;
  running: boolean;
  scheduled: boolean;
}

type L2Result<R> = { readonly ok: true; readonly value: R } | { readonly ok: false; readonly error: unknown };

const RESOLVED_UNDEFINED: Promise<undefined> = Promise.resolve(undefined);
const RESOLVED_VOID: Promise<void> = Promise.resolve();
const noop = (): void => {};

const OPTION_KEYS: readonly string[] = [
  'name',
  'l1',
  'l2',
  'ttlMs',
  'graceMs',
  'jitter',
  'negativeTtlMs',
  'l1TtlMs',
  'storePolicy',
  'storeTimeoutMs',
  'onStoreError',
  'softTimeoutMs',
  'hardTimeoutMs',
  'lock',
  'lockTtlMs',
  'lockWaitMs',
  'lockPollMs',
  'filter',
  'bus',
  'writeBehind',
  'serializer',
  'clock',
  'events',
];
const SET_KEYS: readonly string[] = ['ttlMs', 'graceMs', 'l1TtlMs'];
const GET_OR_SET_KEYS: readonly string[] = ['ttlMs', 'graceMs', 'l1TtlMs', 'softTimeoutMs', 'hardTimeoutMs', 'signal'];

function checkPolicyLike(option: string, value: unknown): Policy {
  const p = value as Partial<Policy> | null;
  if (typeof p !== 'object' || p === null || typeof p.execute !== 'function' || typeof p.executeOutcome !== 'function') {
    throw new InvalidOptionsError(OWNER, option, value, 'a Policy (execute, executeOutcome)');
  }
  return p as Policy;
}

function resolveStorePolicy(value: unknown): Policy | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'object' && value !== null && typeof (value as Partial<Policy>).execute === 'function') return checkPolicyLike('storePolicy', value);
  const o = readOptions<{ breaker?: Policy; retry?: Policy; timeout?: Policy }>(OWNER, value as object, ['breaker', 'retry', 'timeout']);
  const layers: Policy[] = [];
  if (o.breaker !== undefined) layers.push(checkPolicyLike('storePolicy.breaker', o.breaker));
  if (o.retry !== undefined) layers.push(checkPolicyLike('storePolicy.retry', o.retry));
  if (o.timeout !== undefined) layers.push(checkPolicyLike('storePolicy.timeout', o.timeout));
  if (layers.length === 0) return undefined;
  return layers.length === 1 ? layers[0] : (compose(...(layers as [Policy, ...Policy[]])) as unknown as Policy);
}

function checkTimeoutOrInfinity(owner: string, option: string, value: unknown): number {
  return value === Infinity ? Infinity : checkInteger(owner, option, value, { min: 1, max: 2_147_483_647 });
}

function checkTtl(owner: string, option: string, value: unknown): number {
  return checkInteger(owner, option, value, { min: 1, max: MAX_TTL_MS });
}

function defaultSize(value: unknown, key: string): number {
  let size = 64 + key.length * 2;
  if (typeof value === 'string') size += value.length * 2;
  else if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) size += 8;
  else {
    try {
      size += (JSON.stringify(value)?.length ?? 0) * 2;
    } catch {
      size += 1_024;
    }
  }
  return size;
}

class CacheImpl<T> implements Cache<T> {
  readonly name: string;
  readonly #clock: Clock;
  readonly #events: EventBus;
  readonly #l1: L1Tier<Entry<T>> | undefined;
  readonly #sizeOf: ((value: unknown, key: string) => number) | undefined;
  readonly #l2: CacheStore | undefined;
  readonly #ttlMs: number;
  readonly #graceMs: number;
  readonly #jitter: number;
  readonly #negativeTtlMs: number;
  readonly #l1TtlMs: number;
  readonly #storePolicy: Policy | undefined;
  readonly #storeTimeoutMs: number;
  readonly #throwOnStoreError: boolean;
  readonly #softTimeoutMs: number;
  readonly #hardTimeoutMs: number;
  readonly #lock: CacheLock | undefined;
  readonly #lockTtlMs: number;
  readonly #lockWaitMs: number;
  readonly #lockPollMs: number;
  readonly #filter: MembershipFilter | undefined;
  readonly #bus: InvalidationBus | undefined;
  readonly #serializer: CacheSerializer<T>;
  readonly #wb: Required<Omit<WriteBehindOptions, 'deadLetter'>> & { deadLetter: DeadLetterSinkLike | undefined };
  readonly #deadlines = new Map<number, DeadlineQueue>();
  readonly #inflight = new Map<string, Flight<T>>();
  readonly #background = new Set<Promise<unknown>>();
  readonly #writes = new Map<string, WriteState<T>>();
  readonly #readyWrites: string[] = [];
  #activeWrites = 0;
  #flushWaiters: Array<() => void> = [];
  #unsubscribe: (() => void) | undefined;
  #closed = false;
  // Observation: the bus version last seen and whether `cache.operation` had listeners then.
  #busVersion = -1;
  #observed = false;
  // Hot-path counters, then everything else by "operation.status".
  #getHits = 0;
  #getOrSetHits = 0;
  readonly #counts = new Map<string, number>();
  #lookups = 0;
  #lookupHits = 0;
  #joins = 0;
  #loads = 0;
  #refreshes = 0;
  #lockWaits = 0;
  #busInvalidations = 0;
  #busGaps = 0;
  #filterSkipped = 0;
  #filterFalsePositives = 0;
  #written = 0;
  #coalesced = 0;
  #deadLettered = 0;
  #lost = 0;

  constructor(options: CacheOptions<T> | undefined) {
    const o = readOptions<CacheOptions<T>>(OWNER, options, OPTION_KEYS);
    this.name = o.name === undefined ? 'cache' : checkString(OWNER, 'name', o.name);
    this.#clock = checkClock(OWNER, o.clock);
    this.#events = checkEvents(OWNER, o.events);
    if (o.l1 === false) {
      this.#l1 = undefined;
      this.#sizeOf = undefined;
    } else {
      const l1 = readOptions<L1Options>(OWNER, o.l1 === undefined ? undefined : (o.l1 as L1Options), ['maxEntries', 'maxBytes', 'sizeOf', 'admission']);
      const maxEntries = checkInteger(OWNER, 'l1.maxEntries', l1.maxEntries ?? 10_000, { min: 1, max: 10_000_000 });
      const maxBytes = checkNumber(OWNER, 'l1.maxBytes', l1.maxBytes ?? Infinity, { min: 0, minExclusive: true, allowInfinity: true });
      const admission = checkOneOf(OWNER, 'l1.admission', l1.admission ?? 'tinylfu', ['tinylfu', 'lru'] as const);
      this.#sizeOf = l1.sizeOf === undefined ? (maxBytes === Infinity ? undefined : defaultSize) : checkFunction<(value: unknown, key: string) => number>(OWNER, 'l1.sizeOf', l1.sizeOf);
      this.#l1 = new L1Tier<Entry<T>>(maxEntries, maxBytes, admission);
    }
    this.#l2 = o.l2 === undefined ? undefined : checkStore(o.l2);
    this.#ttlMs = checkTtl(OWNER, 'ttlMs', o.ttlMs ?? 300_000);
    this.#graceMs = checkInteger(OWNER, 'graceMs', o.graceMs ?? 0, { min: 0, max: MAX_TTL_MS });
    this.#jitter = checkNumber(OWNER, 'jitter', o.jitter ?? 0.1, { min: 0, max: 1, maxExclusive: true });
    this.#negativeTtlMs = checkInteger(OWNER, 'negativeTtlMs', o.negativeTtlMs ?? 10_000, { min: 0, max: MAX_TTL_MS });
    this.#l1TtlMs = checkTtl(OWNER, 'l1TtlMs', o.l1TtlMs ?? 60_000);
    this.#storePolicy = resolveStorePolicy(o.storePolicy);
    this.#storeTimeoutMs = checkInteger(OWNER, 'storeTimeoutMs', o.storeTimeoutMs ?? 1_000, { min: 1, max: 3_600_000 });
    this.#throwOnStoreError = checkOneOf(OWNER, 'onStoreError', o.onStoreError ?? 'fallback', ['fallback', 'throw'] as const) === 'throw';
    this.#softTimeoutMs = checkInteger(OWNER, 'softTimeoutMs', o.softTimeoutMs ?? 0, { min: 0, max: 2_147_483_647 });
    this.#hardTimeoutMs = checkTimeoutOrInfinity(OWNER, 'hardTimeoutMs', o.hardTimeoutMs ?? Infinity);
    this.#lock = o.lock === undefined ? undefined : checkLock(o.lock);
    this.#lockTtlMs = checkInteger(OWNER, 'lockTtlMs', o.lockTtlMs ?? 10_000, { min: 1, max: 2_147_483_647 });
    const defaultWait = this.#hardTimeoutMs === Infinity ? 10_000 : this.#hardTimeoutMs;
    this.#lockWaitMs = checkInteger(OWNER, 'lockWaitMs', o.lockWaitMs ?? defaultWait, { min: 1, max: 2_147_483_647 });
    this.#lockPollMs = checkInteger(OWNER, 'lockPollMs', o.lockPollMs ?? 20, { min: 1, max: 60_000 });
    this.#filter = o.filter === undefined ? undefined : checkFilter(o.filter);
    this.#bus = o.bus === undefined ? undefined : checkBus(o.bus);
    this.#serializer = o.serializer === undefined ? (JSON_SERIALIZER as CacheSerializer<T>) : checkSerializer<T>(o.serializer);
    const wb = readOptions<WriteBehindOptions>(OWNER, o.writeBehind, ['maxPending', 'concurrency', 'delayMs', 'attempts', 'retryDelayMs', 'deadLetter']);
    this.#wb = {
      maxPending: checkInteger(OWNER, 'writeBehind.maxPending', wb.maxPending ?? 10_000, { min: 1, max: 10_000_000 }),
      concurrency: checkInteger(OWNER, 'writeBehind.concurrency', wb.concurrency ?? 4, { min: 1, max: 1_024 }),
      delayMs: checkInteger(OWNER, 'writeBehind.delayMs', wb.delayMs ?? 0, { min: 0, max: 2_147_483_647 }),
      attempts: checkInteger(OWNER, 'writeBehind.attempts', wb.attempts ?? 3, { min: 1, max: 100 }),
      retryDelayMs: checkInteger(OWNER, 'writeBehind.retryDelayMs', wb.retryDelayMs ?? 100, { min: 0, max: 2_147_483_647 }),
      deadLetter: wb.deadLetter === undefined ? undefined : checkDeadLetter(wb.deadLetter),
    };
    if (this.#bus !== undefined) {
      this.#unsubscribe = this.#bus.subscribeInvalidations((keys, info) => this.#onInvalidation(keys, info));
    }
    trackInstance(this.#events, 'cache', this.name, this);
  }

  // ---------------------------------------------------------------- reads

  get(key: string): Promise<T | undefined> {
    if (typeof key !== 'string') return Promise.reject(keyError('get', key));
    const l1 = this.#l1;
    if (l1 !== undefined) {
      const entry = l1.get(key);
      if (entry !== undefined && coarseNow(this.#clock) < entry.checkAt) {
        this.#lookups++;
        this.#lookupHits++;
        if (this.#isObserved()) this.#emitOperation('get', entry.negative ? 'negative' : 'hit', 0);
        if (entry.negative) {
          this.#count('get', 'negative');
          return RESOLVED_UNDEFINED;
        }
        this.#getHits++;
        return Promise.resolve(entry.value);
      }
      return this.#readThrough(key, entry, 'get').then(entryValueForGet);
    }
    return this.#readThrough(key, undefined, 'get').then(entryValueForGet);
  }

  getEntry(key: string): Promise<CacheEntry<T>> {
    if (typeof key !== 'string') return Promise.reject(keyError('getEntry', key));
    const entry = this.#l1?.get(key);
    if (entry !== undefined && coarseNow(this.#clock) < entry.checkAt) {
      this.#lookups++;
      this.#lookupHits++;
      this.#count('get', entry.negative ? 'negative' : 'hit');
      return Promise.resolve(toEntryForm(entry, entry.negative ? 'negative' : 'found'));
    }
    return this.#readThrough(key, entry, 'get').then((r) => r.form);
  }

  async has(key: string): Promise<boolean> {
    return (await this.getEntry(key)).status === 'found';
  }

  async getMany(keys: readonly string[]): Promise<(T | undefined)[]> {
    if (!Array.isArray(keys)) throw new InvalidOptionsError('cache.getMany', 'keys', keys, 'an array of strings');
    for (const key of keys) if (typeof key !== 'string') throw keyError('getMany', key);
    const now = this.#clock.now();
    const out: (T | undefined)[] = new Array<T | undefined>(keys.length).fill(undefined);
    const missing: number[] = [];
    const l1Entries: (Entry<T> | undefined)[] = [];
    for (let i = 0; i < keys.length; i++) {
      const entry = this.#l1?.get(keys[i] as string);
      this.#lookups++;
      if (entry !== undefined && now < entry.checkAt) {
        this.#lookupHits++;
        this.#count('get', entry.negative ? 'negative' : 'hit');
        out[i] = entry.value;
      } else {
        missing.push(i);
        l1Entries.push(entry);
      }
    }
    if (missing.length === 0) return out;
    const l2 = this.#l2;
    if (l2 === undefined) {
      for (const _ of missing) this.#count('get', 'miss');
      return out;
    }
    const unique = [...new Set(missing.map((i) => keys[i] as string))];
    const result = await this.#l2Call('l2_get', (o) => l2.get(unique, o));
    if (!result.ok) {
      this.#l2Failed('l2_get', result.error);
      if (this.#throwOnStoreError) throw new CacheStoreError(this.name, 'getMany', result.error);
      const after = this.#clock.now();
      missing.forEach((index, j) => {
        const entry = l1Entries[j];
        if (entry !== undefined && after < entry.staleUntil) {
          this.#count('get', 'stale');
          this.#emitStale(keys[index] as string, 'store_error');
          out[index] = entry.value;
        } else this.#count('get', 'miss');
      });
      return out;
    }
    const found = new Map<string, Entry<T> | undefined>();
    const after = this.#clock.now();
    unique.forEach((key, j) => {
      const raw = result.value[j];
      const entry = raw === undefined ? undefined : this.#decode(raw, after);
      if (entry === undefined || after >= entry.staleUntil) {
        this.#l1?.delete(key);
        found.set(key, undefined);
      } else {
        this.#l1Put(key, entry);
        found.set(key, entry);
      }
    });
    for (const index of missing) {
      const entry = found.get(keys[index] as string);
      if (entry !== undefined && after < entry.expiresAt) {
        this.#lookupHits++;
        this.#count('get', entry.negative ? 'negative' : 'hit');
        out[index] = entry.value;
      } else this.#count('get', 'miss');
    }
    return out;
  }

  /**
   * L1 said nothing fresh: ask L2 (within the store deadline). Serves a graced L1 value when L2
   * fails; never rejects unless `onStoreError: 'throw'`.
   */
  async #readThrough(key: string, l1Entry: Entry<T> | undefined, operation: 'get'): Promise<{ value: T | undefined; form: CacheEntry<T> }> {
    const started = this.#isObserved() ? this.#clock.now() : 0;
    this.#lookups++;
    const l2 = this.#l2;
    let status: CacheStatus;
    let form: CacheEntry<T>;
    let value: T | undefined;
    if (l2 === undefined) {
      const now = this.#clock.now();
      if (l1Entry !== undefined && now < l1Entry.staleUntil) {
        status = 'stale';
        form = toEntryForm(l1Entry, 'stale');
      } else {
        if (l1Entry !== undefined) this.#l1?.delete(key);
        status = 'miss';
        form = MISS;
      }
      value = undefined;
    } else {
      const result = await this.#l2Call('l2_get', (o) => l2.get([key], o));
      const now = this.#clock.now();
      if (!result.ok) {
        this.#l2Failed('l2_get', result.error);
        if (this.#throwOnStoreError) {
          this.#count(operation, 'error');
          throw new CacheStoreError(this.name, operation, result.error);
        }
        if (l1Entry !== undefined && now < l1Entry.staleUntil) {
          // L2 cannot confirm: the L1 copy is the best answer there is, served as stale.
          status = 'stale';
          form = toEntryForm(l1Entry, 'stale');
          value = l1Entry.value;
          this.#emitStale(key, 'store_error');
        } else {
          status = 'miss';
          form = MISS;
          value = undefined;
        }
      } else {
        const raw = result.value[0];
        const entry = raw === undefined ? undefined : this.#decode(raw, now);
        if (entry === undefined || now >= entry.staleUntil) {
          this.#l1?.delete(key);
          status = 'miss';
          form = MISS;
          value = undefined;
        } else {
          this.#l1Put(key, entry);
          if (now < entry.expiresAt) {
            status = entry.negative ? 'negative' : 'hit';
            form = toEntryForm(entry, entry.negative ? 'negative' : 'found');
            value = entry.value;
            this.#lookupHits++;
          } else {
            status = 'stale';
            form = toEntryForm(entry, 'stale');
            value = undefined;
          }
        }
      }
    }
    this.#count(operation, status);
    if (started !== 0) this.#emitOperation(operation, status, this.#clock.now() - started);
    return { value, form };
  }

  // ---------------------------------------------------------------- getOrSet

  getOrSet(key: string, loader: Loader<T>, options?: GetOrSetOptions): Promise<T | undefined> {
    if (typeof key !== 'string') return Promise.reject(keyError('getOrSet', key));
    if (typeof loader !== 'function') return Promise.reject(new InvalidOptionsError('cache.getOrSet', 'loader', loader, 'a function (context) => value'));
    const l1 = this.#l1;
    if (options === undefined && l1 !== undefined) {
      const entry = l1.get(key);
      if (entry !== undefined && coarseNow(this.#clock) < entry.checkAt) {
        this.#lookups++;
        this.#lookupHits++;
        if (this.#isObserved()) this.#emitOperation('getOrSet', entry.negative ? 'negative' : 'hit', 0);
        if (entry.negative) {
          this.#count('getOrSet', 'negative');
          return RESOLVED_UNDEFINED;
        }
        this.#getOrSetHits++;
        return Promise.resolve(entry.value);
      }
      return this.#getOrSetSlow(key, loader, undefined, entry);
    }
    let resolved: GetOrSetOptions | undefined;
    try {
      resolved = options === undefined ? undefined : readOptions<GetOrSetOptions>('cache.getOrSet', options, GET_OR_SET_KEYS);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#getOrSetSlow(key, loader, resolved, l1?.get(key));
  }

  async #getOrSetSlow(key: string, loader: Loader<T>, options: GetOrSetOptions | undefined, l1Entry: Entry<T> | undefined): Promise<T | undefined> {
    const owner = 'cache.getOrSet';
    const ttl = this.#resolve(owner, options);
    const soft = options?.softTimeoutMs === undefined ? this.#softTimeoutMs : checkInteger(owner, 'softTimeoutMs', options.softTimeoutMs, { min: 0, max: 2_147_483_647 });
    const hard =
      options?.hardTimeoutMs === undefined
        ? this.#hardTimeoutMs
        : checkTimeoutOrInfinity(owner, 'hardTimeoutMs', options.hardTimeoutMs);
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionsError(owner, 'signal', signal, 'an AbortSignal');
    signal?.throwIfAborted();
    const started = this.#isObserved() ? this.#clock.now() : 0;
    const now = this.#clock.now();
    this.#lookups++;
    if (l1Entry !== undefined && now < l1Entry.checkAt) {
      this.#lookupHits++;
      this.#count('getOrSet', l1Entry.negative ? 'negative' : 'hit');
      return l1Entry.value;
    }
    const graced = l1Entry !== undefined && now < l1Entry.staleUntil ? l1Entry : undefined;
    let flight = this.#inflight.get(key);
    if (flight !== undefined) this.#joins++;
    else flight = this.#startFlight(key, loader, ttl, hard, graced);
    // Stale-while-revalidate: past its TTL but within grace, and no soft wait asked for.
    if (graced !== undefined && now >= graced.expiresAt && soft === 0) {
      this.#refreshes++;
      this.#count('getOrSet', 'stale');
      this.#emitStale(key, 'swr');
      if (started !== 0) this.#emitOperation('getOrSet', 'stale', this.#clock.now() - started);
      return graced.value;
    }
    let status: CacheStatus = 'miss';
    try {
      const value = await this.#wait(flight, graced, soft, signal);
      if (value === STALE) {
        const stale = (graced ?? flight.stale) as Entry<T>;
        this.#refreshes++;
        status = 'stale';
        this.#emitStale(key, 'soft_timeout');
        return stale.value;
      }
      status = value === undefined ? 'negative' : 'miss';
      return value;
    } catch (error) {
      if (signal?.aborted === true && error === signal.reason) {
        status = 'error';
        throw error;
      }
      const stale = graced ?? flight.stale;
      if (stale !== undefined && this.#clock.now() < stale.staleUntil) {
        status = 'stale';
        this.#emitStale(key, isTimeout(error) ? 'timeout' : 'loader_error');
        return stale.value;
      }
      status = 'error';
      throw error;
    } finally {
      this.#count('getOrSet', status);
      if (started !== 0) this.#emitOperation('getOrSet', status, this.#clock.now() - started);
    }
  }

  /** Waits for a flight, a soft timeout (when something graced can be served), or the caller's abort. */
  #wait(flight: Flight<T>, graced: Entry<T> | undefined, soft: number, signal: AbortSignal | undefined): Promise<T | undefined | typeof STALE> {
    const softWanted = soft > 0 && (graced !== undefined || flight.stale !== undefined);
    if (!softWanted && signal === undefined) return flight.promise;
    return new Promise((resolve, reject) => {
      let timer: unknown;
      const onAbort = () => finish(() => reject(signal?.reason));
      const finish = (then: () => void) => {
        if (timer !== undefined) this.#clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        then();
      };
      if (softWanted) {
        timer = this.#clock.setTimeout(() => {
          timer = undefined;
          if (graced !== undefined || flight.stale !== undefined) finish(() => resolve(STALE));
        }, soft);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (value) => finish(() => resolve(value)),
        (error: unknown) => finish(() => reject(error)),
      );
    });
  }

  #startFlight(key: string, loader: Loader<T>, ttl: Resolved, hard: number, graced: Entry<T> | undefined): Flight<T> {
    let resolve!: (value: T | undefined) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<T | undefined>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.then(undefined, noop);
    const flight: Flight<T> = {
      promise,
      settled: false,
      stale: graced,
      controller: undefined,
      resolve: (value) => {
        if (flight.settled) return;
        flight.settled = true;
        this.#land(key, flight);
        resolve(value);
      },
      reject: (error) => {
        if (flight.settled) return;
        flight.settled = true;
        this.#land(key, flight);
        reject(error);
      },
    };
    this.#inflight.set(key, flight);
    let hardTimer: unknown;
    if (hard !== Infinity) {
      hardTimer = this.#clock.setTimeout(() => {
        hardTimer = undefined;
        if (flight.settled) return;
        const error = new CacheTimeoutError(this.name, 'load', hard);
        flight.controller?.abort(error);
        flight.reject(error);
      }, hard);
    }
    const run = this.#runFlight(key, loader, ttl, flight).then(
      () => flight.resolve(undefined),
      (error: unknown) => flight.reject(error),
    );
    const done = run.finally(() => {
      if (hardTimer !== undefined) this.#clock.clearTimeout(hardTimer);
      if (this.#inflight.get(key) === flight) this.#inflight.delete(key);
    });
    this.#track(done);
    return flight;
  }

  /**
   * A settled flight takes no more joiners: its value is in L1 by now, and anything that changed
   * the key since (a delete, a clear) must not be undone by handing out the flight's old answer.
   */
  #land(key: string, flight: Flight<T>): void {
    if (this.#inflight.get(key) === flight) this.#inflight.delete(key);
  }

  /** The load: L2, filter, lock (or wait for another process), loader, writes. Settles the flight as soon as the value is known. */
  async #runFlight(key: string, loader: Loader<T>, ttl: Resolved, flight: Flight<T>): Promise<void> {
    const l2 = this.#l2;
    if (l2 !== undefined) {
      const found = await this.#readL2ForFlight(key, flight);
      if (found) return;
    }
    const filter = this.#filter;
    let filterSaidPresent = false;
    if (filter !== undefined) {
      let present = true;
      try {
        present = (await toPromise(filter.has(key))) !== false;
      } catch {
        present = true; // a failing filter can only cost a load, never hide a value
      }
      if (!present) {
        this.#filterSkipped++;
        this.#storeNegative(key, ttl, false);
        flight.resolve(undefined);
        return;
      }
      filterSaidPresent = true;
    }
    const lock = this.#lock;
    if (lock === undefined || l2 === undefined) {
      await this.#load(key, loader, ttl, flight, filterSaidPresent, undefined);
      return;
    }
    // Keyed by the L2 store (shared by every process of this cache), not by the cache's name.
    const lockKey = `getOrSet:${l2.name}:${key}`;
    let lease = await this.#tryLock(lock, lockKey, key);
    if (lease === null) {
      // Another process loads: wait for its value in L2, taking the lock over if it goes away.
      this.#lockWaits++;
      const deadline = this.#clock.now() + this.#lockWaitMs;
      let pause = this.#lockPollMs;
      for (;;) {
        const left = deadline - this.#clock.now();
        if (left <= 0) {
          flight.reject(new CacheTimeoutError(this.name, 'lock_wait', this.#lockWaitMs));
          return;
        }
        await this.#sleep(Math.min(pause, left));
        pause = Math.min(250, Math.ceil(pause * 1.5));
        if (flight.settled) return; // hard timeout
        if (await this.#readL2ForFlight(key, flight)) return;
        lease = await this.#tryLock(lock, lockKey, key);
        if (lease !== null) break;
      }
      // The holder went away without filling the cache (failed, or its lease expired): look once more, then load.
      if (lease !== 'none' && (await this.#readL2ForFlight(key, flight))) {
        this.#release(lease);
        return;
      }
    }
    try {
      await this.#load(key, loader, ttl, flight, filterSaidPresent, lease === 'none' ? undefined : lease);
    } finally {
      if (lease !== 'none') this.#release(lease);
    }
  }

  /** Reads L2 for a flight: true when it settled the flight (fresh or negative value). Records graced entries. */
  async #readL2ForFlight(key: string, flight: Flight<T>): Promise<boolean> {
    const l2 = this.#l2 as CacheStore;
    const result = await this.#l2Call('l2_get', (o) => l2.get([key], o));
    if (!result.ok) {
      this.#l2Failed('l2_get', result.error);
      return false;
    }
    const raw = result.value[0];
    if (raw === undefined) return false;
    const now = this.#clock.now();
    const entry = this.#decode(raw, now);
    if (entry === undefined || now >= entry.staleUntil) return false;
    this.#l1Put(key, entry);
    if (now < entry.expiresAt) {
      flight.resolve(entry.value);
      return true;
    }
    if (!entry.negative) flight.stale = entry;
    return false;
  }

  async #tryLock(lock: CacheLock, lockKey: string, key: string): Promise<CacheLease | null | 'none'> {
    try {
      const lease = await lock.tryLock(lockKey, { ttlMs: this.#lockTtlMs });
      return lease ?? null;
    } catch (error) {
      // The lock is an efficiency measure: without it, load here rather than fail the caller.
      if (this.#events.hasListeners('cache.lock_error')) {
        this.#events.emit({ type: 'cache.lock_error', source: 'cache', name: this.name, time: this.#clock.now(), key, error });
      }
      return 'none';
    }
  }

  #release(lease: CacheLease | null): void {
    if (lease === null) return;
    try {
      this.#track(toPromise(lease.release()).then(noop, noop));
    } catch {
      // a release that throws: the lease runs out by itself
    }
  }

  async #load(key: string, loader: Loader<T>, ttl: Resolved, flight: Flight<T>, filterSaidPresent: boolean, lease: CacheLease | undefined): Promise<void> {
    const controller = new AbortController();
    flight.controller = controller;
    this.#loads++;
    const started = this.#isObserved() ? this.#clock.now() : 0;
    let value: T | undefined;
    try {
      value = await invoke(loader, { key, signal: controller.signal, stale: flight.stale?.value });
    } catch (error) {
      this.#count('load', 'error');
      if (started !== 0) this.#emitOperation('load', 'error', this.#clock.now() - started);
      if (this.#events.hasListeners('cache.load_error')) {
        const servedStale = flight.stale !== undefined && this.#clock.now() < flight.stale.staleUntil;
        this.#events.emit({ type: 'cache.load_error', source: 'cache', name: this.name, time: this.#clock.now(), key, error, servedStale });
      }
      throw error;
    }
    if (started !== 0) this.#emitOperation('load', value === undefined ? 'negative' : 'ok', this.#clock.now() - started);
    this.#count('load', value === undefined ? 'negative' : 'ok');
    if (value === undefined) {
      if (filterSaidPresent) this.#filterFalsePositives++;
      flight.resolve(undefined);
      await this.#storeNegative(key, ttl, true);
      return;
    }
    const entry = this.#makeEntry(value, false, ttl);
    this.#l1Put(key, entry);
    this.#addToFilter(key);
    flight.resolve(value);
    // With a lock, followers poll L2: the write must land before the lease is released.
    const write = this.#writeL2([{ key, entry }]);
    if (lease !== undefined) await write;
    else this.#track(write);
  }

  /** A cached "not found": L1 always, L2 too when `toL2` (the loader said so; shared with waiting processes). */
  async #storeNegative(key: string, ttl: Resolved, toL2: boolean): Promise<void> {
    if (this.#negativeTtlMs === 0) return;
    const entry = this.#makeEntry(undefined, true, { ttlMs: this.#negativeTtlMs, graceMs: 0, l1TtlMs: ttl.l1TtlMs });
    this.#l1Put(key, entry);
    if (toL2 && this.#l2 !== undefined) await this.#writeL2([{ key, entry }]);
  }

  // ---------------------------------------------------------------- writes

  async set(key: string, value: T, options?: SetOptions): Promise<void> {
    if (typeof key !== 'string') throw keyError('set', key);
    if (value === undefined) throw new InvalidOptionsError('cache.set', 'value', value, 'a value (undefined means "not found": use delete())');
    const ttl = this.#resolve('cache.set', options === undefined ? undefined : readOptions<SetOptions>('cache.set', options, SET_KEYS));
    const entry = this.#makeEntry(value, false, ttl);
    this.#l1Put(key, entry);
    this.#addToFilter(key);
    await this.#writeThrough('set', [{ key, entry }]);
  }

  async setMany(items: readonly SetManyItem<T>[]): Promise<void> {
    if (!Array.isArray(items)) throw new InvalidOptionsError('cache.setMany', 'items', items, 'an array of { key, value, ttlMs? }');
    const writes: { key: string; entry: Entry<T> }[] = [];
    for (const item of items) {
      const o = readOptions<SetManyItem<T>>('cache.setMany', item, ['key', 'value', 'ttlMs', 'graceMs', 'l1TtlMs'], true);
      if (typeof o.key !== 'string') throw keyError('setMany', o.key);
      if (o.value === undefined) throw new InvalidOptionsError('cache.setMany', 'value', o.value, 'a value (undefined means "not found": use deleteMany())');
      writes.push({ key: o.key, entry: this.#makeEntry(o.value, false, this.#resolve('cache.setMany', o)) });
    }
    for (const { key, entry } of writes) {
      this.#l1Put(key, entry);
      this.#addToFilter(key);
    }
    await this.#writeThrough('set', writes);
  }

  delete(key: string): Promise<void> {
    if (typeof key !== 'string') return Promise.reject(keyError('delete', key));
    return this.deleteMany([key]);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    if (!Array.isArray(keys)) throw new InvalidOptionsError('cache.deleteMany', 'keys', keys, 'an array of strings');
    for (const key of keys) if (typeof key !== 'string') throw keyError('deleteMany', key);
    for (const key of keys) this.#l1?.delete(key);
    const l2 = this.#l2;
    if (l2 !== undefined && keys.length > 0) {
      const result = await this.#l2Call('l2_delete', (o) => l2.delete(keys, o));
      if (!result.ok) {
        this.#count('delete', 'error');
        this.#l2Failed('l2_delete', result.error);
        if (this.#throwOnStoreError) throw new CacheStoreError(this.name, 'delete', result.error);
        return;
      }
    }
    this.#count('delete', 'ok');
    if (keys.length > 0) await this.#publish(keys);
  }

  async clear(): Promise<void> {
    this.#l1?.clear();
    const l2 = this.#l2;
    if (l2 !== undefined) {
      const result = await this.#l2Call('clear', (o) => l2.clear(o));
      if (!result.ok) {
        this.#count('clear', 'error');
        this.#l2Failed('clear', result.error);
        if (this.#throwOnStoreError) throw new CacheStoreError(this.name, 'clear', result.error);
        return;
      }
    }
    this.#count('clear', 'ok');
    const bus = this.#bus;
    if (bus?.publishClear !== undefined) await toPromise(bus.publishClear()).then(noop, noop);
  }

  /** L2 write, then the bus message, per `onStoreError`. */
  async #writeThrough(operation: 'set', writes: { key: string; entry: Entry<T> }[]): Promise<void> {
    if (writes.length === 0) return;
    if (this.#l2 !== undefined) {
      const ok = await this.#writeL2(writes);
      if (!ok) {
        this.#count(operation, 'error');
        if (this.#throwOnStoreError) throw new CacheStoreError(this.name, operation, this.#lastL2Error);
        return;
      }
    }
    this.#count(operation, 'ok');
    await this.#publish(writes.map((w) => w.key));
  }

  #lastL2Error: unknown = undefined;

  /** Writes entries to L2; false (reported) when the store failed. Never rejects. */
  async #writeL2(writes: readonly { key: string; entry: Entry<T> }[]): Promise<boolean> {
    const l2 = this.#l2;
    if (l2 === undefined) return true;
    const now = this.#clock.now();
    const encoded: StoreWrite[] = [];
    for (const { key, entry } of writes) {
      const ttlMs = Math.ceil(entry.staleUntil - now);
      if (ttlMs < 1) continue;
      let payload = '';
      if (!entry.negative) {
        try {
          payload = this.#serializer.serialize(entry.value as T);
        } catch (error) {
          this.#l2Failed('l2_set', error);
          this.#lastL2Error = error;
          return false;
        }
      }
      encoded.push({ key, value: encodeEntry(entry.expiresAt, entry.staleUntil, entry.negative, payload), ttlMs });
    }
    if (encoded.length === 0) return true;
    const result = await this.#l2Call('l2_set', (o) => l2.set(encoded, o));
    if (!result.ok) {
      this.#lastL2Error = result.error;
      this.#l2Failed('l2_set', result.error);
      return false;
    }
    return true;
  }

  async #publish(keys: readonly string[]): Promise<void> {
    const bus = this.#bus;
    if (bus === undefined) return;
    try {
      await toPromise(bus.publishInvalidation(...keys)).then(noop, noop);
    } catch {
      // publishInvalidation never rejects by contract; a broken bus must not fail the write
    }
  }

  // ---------------------------------------------------------------- write-behind

  async writeBehind(key: string, value: T, writer: (value: T, key: string) => unknown, options?: SetOptions): Promise<void> {
    if (typeof key !== 'string') throw keyError('writeBehind', key);
    checkFunction('cache.writeBehind', 'writer', writer);
    if (this.#closed) throw new CacheWriteQueueFullError(this.name, this.#wb.maxPending, true);
    let state = this.#writes.get(key);
    if (state === undefined && this.#writes.size >= this.#wb.maxPending) throw new CacheWriteQueueFullError(this.name, this.#wb.maxPending, false);
    if (state === undefined) {
      state = { next: undefined, running: false, scheduled: false };
      this.#writes.set(key, state);
    }
    if (state.next !== undefined) this.#coalesced++;
    state.next = { value, writer };
    this.#count('write_behind', 'ok');
    if (!state.running && !state.scheduled) {
      state.scheduled = true;
      const ready = () => {
        state.scheduled = false;
        this.#readyWrites.push(key);
        this.#drainWrites();
      };
      if (this.#wb.delayMs > 0) unrefSafe(this.#clock.setTimeout(ready, this.#wb.delayMs));
      else queueMicrotask(ready);
    }
    // The cache is updated now; the source later.
    await this.set(key, value, options);
  }

  #drainWrites(): void {
    while (this.#activeWrites < this.#wb.concurrency && this.#readyWrites.length > 0) {
      const key = this.#readyWrites.shift() as string;
      const state = this.#writes.get(key);
      if (state === undefined || state.running || state.next === undefined) continue;
      const item = state.next;
      state.next = undefined;
      state.running = true;
      this.#activeWrites++;
      const run = this.#runWrite(key, item.value, item.writer).then(() => {
        this.#activeWrites--;
        state.running = false;
        if (state.next !== undefined) this.#readyWrites.push(key);
        else this.#writes.delete(key);
        this.#drainWrites();
        if (this.#writes.size === 0) {
          const waiters = this.#flushWaiters;
          this.#flushWaiters = [];
          for (const wake of waiters) wake();
        }
      });
      this.#track(run);
    }
  }

  async #runWrite(key: string, value: T, writer: (value: T, key: string) => unknown): Promise<void> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.#wb.attempts; attempt++) {
      try {
        await invoke(() => writer(value, key), undefined);
        this.#written++;
        return;
      } catch (error) {
        lastError = error;
        if (attempt < this.#wb.attempts && this.#wb.retryDelayMs > 0) await this.#sleep(this.#wb.retryDelayMs);
      }
    }
    const sink = this.#wb.deadLetter;
    let deadLettered = false;
    if (sink !== undefined) {
      try {
        await invoke(() => sink.add({ key, value }, { error: lastError, key, source: 'cache.writeBehind' }), undefined);
        deadLettered = true;
        this.#deadLettered++;
      } catch {
        deadLettered = false;
      }
    }
    if (!deadLettered) this.#lost++;
    if (this.#events.hasListeners('cache.write_failed')) {
      this.#events.emit({ type: 'cache.write_failed', source: 'cache', name: this.name, time: this.#clock.now(), key, error: lastError, deadLettered });
    }
  }

  flush(): Promise<void> {
    if (this.#writes.size === 0) return RESOLVED_VOID;
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    while (this.#background.size > 0) await Promise.all([...this.#background]);
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = undefined;
    try {
      unsubscribe?.();
    } catch {
      // closing must not throw because a bus does
    }
  }

  // ---------------------------------------------------------------- lock

  tryLock(key: string, options?: { ttlMs?: number }): Promise<CacheLease | null> {
    const lock = this.#lock;
    if (lock === undefined) return Promise.reject(new InvalidOptionsError('cache.tryLock', 'lock', undefined, 'a lock given to createCache({ lock })'));
    if (typeof key !== 'string') return Promise.reject(keyError('tryLock', key));
    const o = readOptions<{ ttlMs?: number }>('cache.tryLock', options, ['ttlMs']);
    const ttlMs = o.ttlMs === undefined ? this.#lockTtlMs : checkInteger('cache.tryLock', 'ttlMs', o.ttlMs, { min: 1, max: 2_147_483_647 });
    return toPromise(lock.tryLock(`tryLock:${this.name}:${key}`, { ttlMs }));
  }

  // ---------------------------------------------------------------- invalidation

  #onInvalidation(keys: readonly string[], info: InvalidationInfo): void {
    const l1 = this.#l1;
    if (info.clear === true) {
      l1?.clear();
      this.#l2?.namespaceChanged?.();
      return;
    }
    const now = this.#clock.now();
    if (info.resync !== undefined) {
      this.#busGaps++;
      if (l1 !== undefined) for (const entry of l1.values()) expireLogically(entry, now);
      if (this.#events.hasListeners('cache.bus_gap')) {
        this.#events.emit({ type: 'cache.bus_gap', source: 'cache', name: this.name, time: now, reason: info.resync });
      }
      return;
    }
    this.#busInvalidations++;
    if (l1 === undefined) return;
    for (const key of keys) {
      const entry = l1.peek(key);
      if (entry !== undefined) expireLogically(entry, now);
    }
  }

  // ---------------------------------------------------------------- helpers

  #resolve(owner: string, options: SetOptions | undefined): Resolved {
    if (options === undefined) return { ttlMs: this.#ttlMs, graceMs: this.#graceMs, l1TtlMs: this.#l1TtlMs };
    return {
      ttlMs: options.ttlMs === undefined ? this.#ttlMs : checkTtl(owner, 'ttlMs', options.ttlMs),
      graceMs: options.graceMs === undefined ? this.#graceMs : checkInteger(owner, 'graceMs', options.graceMs, { min: 0, max: MAX_TTL_MS }),
      l1TtlMs: options.l1TtlMs === undefined ? this.#l1TtlMs : checkTtl(owner, 'l1TtlMs', options.l1TtlMs),
    };
  }

  #makeEntry(value: T | undefined, negative: boolean, ttl: Resolved): Entry<T> {
    const now = this.#clock.now();
    const jitter = this.#jitter;
    const ttlMs = jitter === 0 || negative ? ttl.ttlMs : Math.max(1, Math.round(ttl.ttlMs * (1 - jitter * Math.random())));
    const expiresAt = now + ttlMs;
    const staleUntil = expiresAt + ttl.graceMs;
    const checkAt = this.#l2 === undefined ? expiresAt : Math.min(expiresAt, now + ttl.l1TtlMs);
    return new Entry<T>(value, negative, expiresAt, staleUntil, checkAt);
  }

  #decode(raw: string, now: number): Entry<T> | undefined {
    const entry = decodeEntry<T>(raw, this.#serializer, now + this.#l1TtlMs);
    if (entry === undefined) this.#count('l2_get', 'error');
    return entry;
  }

  #l1Put(key: string, entry: Entry<T>): void {
    const l1 = this.#l1;
    if (l1 === undefined) return;
    const sizeOf = this.#sizeOf;
    let size = 1;
    if (sizeOf !== undefined) {
      try {
        size = sizeOf(entry.value, key);
      } catch {
        size = Infinity;
      }
      if (!(size >= 0)) size = Infinity;
    }
    l1.set(key, entry, size);
  }

  #addToFilter(key: string): void {
    const add = this.#filter?.add;
    if (add === undefined) return;
    try {
      const result = add.call(this.#filter, key);
      if (result instanceof Promise) result.then(noop, noop);
    } catch {
      // a filter that cannot add only costs loads later
    }
  }

  /** One L2 call under the store policy and the store deadline; never rejects. */
  #l2Call<R>(operation: CacheOperation, run: (options: StoreCallOptions) => Promise<R>): Promise<L2Result<R>> {
    const timeoutMs = this.#storeTimeoutMs;
    const deadline = this.#clock.now() + timeoutMs;
    const policy = this.#storePolicy;
    let promise: Promise<R>;
    try {
      promise =
        policy === undefined
          ? toPromise(run({ deadline }))
          : toPromise(
              policy.execute(
                (ctx: ExecutionContext) => {
                  if (ctx.attempt > 1) this.#count(operation, 'retry');
                  return run({ signal: abortSignalOf(ctx), deadline: earliestDeadline(ctx.deadline, deadline) });
                },
                { deadline },
              ),
            );
    } catch (error) {
      return Promise.resolve({ ok: false, error });
    }
    return new Promise<L2Result<R>>((resolve) => {
      const item = {
        deadline,
        settled: false,
        expire: () => {
          if (item.settled) return;
          item.settled = true;
          resolve({ ok: false, error: withoutStack(() => new StoreUnavailableError(`cache "${this.name}": L2 did not answer within storeTimeoutMs (${timeoutMs} ms)`, true)) });
        },
      };
      let queue = this.#deadlines.get(timeoutMs);
      if (queue === undefined) {
        queue = new DeadlineQueue(this.#clock);
        this.#deadlines.set(timeoutMs, queue);
      }
      queue.add(item);
      promise.then(
        (value) => {
          if (item.settled) return;
          item.settled = true;
          resolve({ ok: true, value });
        },
        (error: unknown) => {
          if (item.settled) return;
          item.settled = true;
          resolve({ ok: false, error });
        },
      );
    });
  }

  #l2Failed(operation: 'l2_get' | 'l2_set' | 'l2_delete' | 'clear', error: unknown): void {
    if (this.#events.hasListeners('cache.l2_error')) {
      this.#events.emit({ type: 'cache.l2_error', source: 'cache', name: this.name, time: this.#clock.now(), operation, error });
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#clock.setTimeout(resolve, ms));
  }

  #track(promise: Promise<unknown>): void {
    const tracked = promise.then(noop, noop);
    this.#background.add(tracked);
    tracked.then(() => this.#background.delete(tracked), noop);
  }

  #count(operation: string, status: string): void {
    const key = `${operation}.${status}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  #isObserved(): boolean {
    const events = this.#events;
    const version = events.version;
    if (version === undefined) return events.hasListeners('cache.operation');
    if (version !== this.#busVersion) {
      this.#busVersion = version;
      this.#observed = events.hasListeners('cache.operation');
    }
    return this.#observed;
  }

  #emitOperation(operation: CacheOperation, status: CacheStatus, durationMs: number): void {
    this.#events.emit({ type: 'cache.operation', source: 'cache', name: this.name, time: this.#clock.now(), operation, status, durationMs } as XEvent);
  }

  #emitStale(key: string, reason: StaleReason): void {
    if (this.#events.hasListeners('cache.stale_served')) {
      this.#events.emit({ type: 'cache.stale_served', source: 'cache', name: this.name, time: this.#clock.now(), key, reason });
    }
  }

  stats(): CacheStats {
    const operations: Record<string, Record<string, number>> = {};
    const add = (op: string, status: string, n: number) => {
      if (n === 0) return;
      const row = (operations[op] ??= {});
      row[status] = (row[status] ?? 0) + n;
    };
    for (const [key, n] of this.#counts) {
      const dot = key.indexOf('.');
      add(key.slice(0, dot), key.slice(dot + 1), n);
    }
    add('get', 'hit', this.#getHits);
    add('getOrSet', 'hit', this.#getOrSetHits);
    return {
      operations,
      hitRatio: this.#lookups === 0 ? 0 : this.#lookupHits / this.#lookups,
      l1: this.#l1?.stats(),
      singleFlightJoins: this.#joins,
      loads: this.#loads,
      backgroundRefreshes: this.#refreshes,
      lockWaits: this.#lockWaits,
      bus: { invalidations: this.#busInvalidations, gaps: this.#busGaps },
      filter: { skipped: this.#filterSkipped, falsePositives: this.#filterFalsePositives },
      writeBehind: {
        pending: this.#writes.size,
        written: this.#written,
        coalesced: this.#coalesced,
        deadLettered: this.#deadLettered,
        lost: this.#lost,
      },
    };
  }
}

const STALE: unique symbol = Symbol('stale');
const MISS: CacheEntry<never> = Object.freeze({ status: 'miss', value: undefined });

function entryValueForGet<T>(result: { value: T | undefined }): T | undefined {
  return result.value;
}

function toEntryForm<T>(entry: Entry<T>, status: 'found' | 'negative' | 'stale'): CacheEntry<T> {
  return { status, value: entry.value, expiresAt: entry.expiresAt, staleUntil: entry.staleUntil } as CacheEntry<T>;
}

/** An invalidated entry: L1 must ask again, and it is servable only as a graced value from now on. */
function expireLogically<T>(entry: Entry<T>, now: number): void {
  entry.checkAt = -Infinity;
  if (entry.expiresAt > now) {
    const grace = entry.staleUntil - entry.expiresAt;
    entry.expiresAt = now;
    entry.staleUntil = now + grace;
  }
}

function isTimeout(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'CACHE_TIMEOUT';
}

function unrefSafe(handle: unknown): void {
  if (typeof handle === 'object' && handle !== null && 'unref' in handle) (handle as { unref(): void }).unref();
}

function keyError(method: string, key: unknown): InvalidOptionsError {
  return new InvalidOptionsError(`cache.${method}`, 'key', key, 'a string');
}

function checkStore(value: unknown): CacheStore {
  const s = value as Partial<CacheStore> | null;
  if (typeof s !== 'object' || s === null || typeof s.get !== 'function' || typeof s.set !== 'function' || typeof s.delete !== 'function' || typeof s.clear !== 'function') {
    throw new InvalidOptionsError(OWNER, 'l2', value, 'a CacheStore (get, set, delete, clear), e.g. redisCacheStore(redis)');
  }
  return s as CacheStore;
}

function checkLock(value: unknown): CacheLock {
  if (typeof value !== 'object' || value === null || typeof (value as Partial<CacheLock>).tryLock !== 'function') {
    throw new InvalidOptionsError(OWNER, 'lock', value, 'a lock with tryLock(key, { ttlMs }) => Promise<lease | null>, e.g. createLock() from @x/lock');
  }
  return value as CacheLock;
}

function checkFilter(value: unknown): MembershipFilter {
  const f = value as Partial<MembershipFilter> | null;
  if (typeof f !== 'object' || f === null || typeof f.has !== 'function' || (f.add !== undefined && typeof f.add !== 'function')) {
    throw new InvalidOptionsError(OWNER, 'filter', value, 'a membership filter with has(key) (and optionally add(key)), e.g. a @x/bloom filter');
  }
  return f as MembershipFilter;
}

function checkBus(value: unknown): InvalidationBus {
  const b = value as Partial<InvalidationBus> | null;
  if (typeof b !== 'object' || b === null || typeof b.publishInvalidation !== 'function' || typeof b.subscribeInvalidations !== 'function') {
    throw new InvalidOptionsError(OWNER, 'bus', value, 'an InvalidationBus (publishInvalidation, subscribeInvalidations), e.g. createInvalidationBus() from @x/cache/redis');
  }
  return b as InvalidationBus;
}

function checkSerializer<T>(value: unknown): CacheSerializer<T> {
  const s = value as Partial<CacheSerializer<T>> | null;
  if (typeof s !== 'object' || s === null || typeof s.serialize !== 'function' || typeof s.deserialize !== 'function') {
    throw new InvalidOptionsError(OWNER, 'serializer', value, 'an object with serialize(value) => string and deserialize(text) => value');
  }
  return s as CacheSerializer<T>;
}

function checkDeadLetter(value: unknown): DeadLetterSinkLike {
  if (typeof value !== 'object' || value === null || typeof (value as Partial<DeadLetterSinkLike>).add !== 'function') {
    throw new InvalidOptionsError(OWNER, 'writeBehind.deadLetter', value, 'a dead-letter sink with add(item, meta), e.g. createDeadLetterQueue() from @x/dlq');
  }
  return value as DeadLetterSinkLike;
}

/**
 * Creates a typed cache: an optional in-memory L1 (bounded by entries and bytes, TinyLFU
 * admission), an optional shared L2 (`redisCacheStore`), and `getOrSet` that loads each key once
 * per process (and once across processes with `lock`), serves graced values while refreshing
 * (SWR, soft timeout, stale-if-error), caches "not found" for `negativeTtlMs`, and consults a
 * membership filter before the loader. Every L2 call has a deadline and runs under `storePolicy`;
 * when L2 is slow or down, reads answer from L1 or the loader and never reject with a store
 * error (unless `onStoreError: 'throw'`). With a `bus`, writes tell other processes to drop their
 * L1 copies, and a lost message or a reconnect expires every L1 entry (kept for grace).
 *
 * @example
 * ```ts
 * import { createCache } from '@x/cache';
 * import { redisCacheStore, createInvalidationBus } from '@x/cache/redis';
 *
 * const users = createCache<User>({
 *   name: 'users',
 *   l2: redisCacheStore(redis, { prefix: 'users' }),
 *   bus: createInvalidationBus(subscriber, redis, { channel: 'users:invalidate' }),
 *   ttlMs: 60_000,
 *   graceMs: 600_000,
 * });
 * const user = await users.getOrSet(`user:${id}`, ({ signal }) => db.findUser(id, { signal }));
 * ```
 */
export function createCache<T = unknown>(options?: CacheOptions<T>): Cache<T> {
  return new CacheImpl<T>(options);
}
