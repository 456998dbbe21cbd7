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
  unrefTimer,
  withoutStack,
} from '@x/core';
import type { Clock, EventBus, ExecutionContext, Policy, XEvent } from '@x/core';
import { DeadlineQueue, StoreUnavailableError, encodeKeyPart } from '@x/core/store';
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
 * The L2 write queue: what `l2WriteQueue` configures. An L2 write (`set`, `delete`, their batch
 * forms, `writeBehind`'s cache update, `clear`) that failed or could not be sent waits here, one per
 * key (a later write or delete of the key replaces it), and is replayed once L2 answers again.
 */
export interface L2WriteQueueOptions {
  /** Most keys waiting (integer in [1, 10 000 000]). Beyond it the oldest is dropped (`cache.l2_write_dropped`, `reason: 'overflow'`). Default 10 000. */
  readonly maxKeys?: number;
  /** A write older than this when its turn comes is dropped instead (`reason: 'expired'`), ms (integer >= 1). Default 60 000. */
  readonly maxAgeMs?: number;
  /** Wait before a replay after a failure, ms (integer >= 1); doubles after each failed replay up to 30 s (or this, if larger). Default 500. */
  readonly retryMs?: number;
  /** Most writes one replay call sends (integer in [1, 10 000]). Default 100. */
  readonly batchSize?: number;
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
  /**
   * What happens to an L2 write that failed or could not be sent: `false` (default) drops it
   * (reported as `cache.l2_error`; L2 keeps its older entry until that expires); `true` or
   * {@link L2WriteQueueOptions} queue it per key (last write wins) and replay it once L2 answers.
   */
  readonly l2WriteQueue?: boolean | L2WriteQueueOptions;
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
  /** The L2 write queue (all zero without `l2WriteQueue`). */
  readonly l2Queue: {
    /** Keys whose write waits for replay now. */
    readonly pending: number;
    /** Writes that went into the queue. */
    readonly queued: number;
    /** Writes replayed to L2. */
    readonly replayed: number;
    /** Queued writes replaced before replay by a later write, delete or clear (here, or announced by the bus). */
    readonly superseded: number;
    /** Writes dropped because the queue was full (the oldest goes). */
    readonly overflow: number;
    /** Writes dropped because they were older than `maxAgeMs` or past their grace, or left when the cache closed. */
    readonly expired: number;
  };
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
  /** The cache's change counter when the flight started (see `#unchanged`). */
  readonly since: number;
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

/** One write waiting in the L2 write queue. */
interface QueuedWrite {
  /** Its generation: the newest write of the key owns `#l2Latest`. */
  readonly gen: number;
  /** When it was queued. */
  readonly at: number;
  /** The encoded entry, or undefined for a delete. */
  readonly value: string | undefined;
  /** End of the entry's grace (a set past it is not worth replaying). */
  readonly staleUntil: number;
}

interface QueueSettings {
  readonly maxKeys: number;
  readonly maxAgeMs: number;
  readonly retryMs: number;
  readonly batchSize: number;
}

/** Keys remembered as changed while reads are in flight, before the oldest is forgotten (making older reads count as stale). */
const MAX_TOUCHED = 10_000;
/** Longest wait between replays of the L2 write queue. */
const MAX_REPLAY_DELAY_MS = 30_000;

const RESOLVED_UNDEFINED: Promise<undefined> = Promise.resolve(undefined);
const RESOLVED_VOID: Promise<void> = Promise.resolve();
const OK: Promise<L2Result<void>> = Promise.resolve({ ok: true, value: undefined });
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
  'l2WriteQueue',
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
  // A change counter, so reads and loads in flight never put an answer older than a local change
  // (set, delete, clear, invalidation) back into L1 or L2 (see #touch / #unchanged).
  #changes = 0;
  #reads = 0;
  readonly #touched = new Map<string, number>();
  #touchFloor = 0;
  // L2 writes: the newest write (set or delete) issued per key while it is in flight or queued,
  // so a retry or a replay never sends an older one after it.
  readonly #l2Latest = new Map<string, number>();
  #writeGen = 0;
  readonly #queueSettings: QueueSettings | undefined;
  readonly #queue: Map<string, QueuedWrite> | undefined;
  #clearQueued = false;
  #replaying = false;
  #replayTimer: unknown = undefined;
  #replayDelay = 0;
  #queued = 0;
  #replayed = 0;
  #superseded = 0;
  #overflow = 0;
  #expired = 0;

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
    this.#queueSettings = readQueueSettings(o.l2WriteQueue);
    this.#queue = this.#queueSettings === undefined ? undefined : new Map();
    this.#replayDelay = this.#queueSettings?.retryMs ?? 0;
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
    const since = this.#beginRead();
    const result = await this.#l2Get(unique);
    const changed = since === this.#changes ? undefined : unique.filter((key) => !this.#unchanged(key, since));
    this.#endRead();
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
      // A key changed here while the read was in flight keeps its newer L1 state.
      const keep = changed === undefined || !changed.includes(key);
      if (entry === undefined || after >= entry.staleUntil) {
        if (keep) this.#l1?.delete(key);
        found.set(key, undefined);
      } else {
        if (keep) this.#l1Put(key, entry);
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
      const since = this.#beginRead();
      const result = await this.#l2Get([key]);
      // A change made here while the read was in flight is newer than its answer: L1 keeps it.
      const keep = this.#unchanged(key, since);
      this.#endRead();
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
          if (keep) this.#l1?.delete(key);
          status = 'miss';
          form = MISS;
          value = undefined;
        } else {
          if (keep) this.#l1Put(key, entry);
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
        timer = unrefTimer(
          this.#clock.setTimeout(() => {
            timer = undefined;
            if (graced !== undefined || flight.stale !== undefined) finish(() => resolve(STALE));
          }, soft),
        );
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
      since: this.#beginRead(),
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
      hardTimer = unrefTimer(
        this.#clock.setTimeout(() => {
          hardTimer = undefined;
          if (flight.settled) return;
          const error = new CacheTimeoutError(this.name, 'load', hard);
          flight.controller?.abort(error);
          flight.reject(error);
        }, hard),
      );
    }
    const run = this.#runFlight(key, loader, ttl, flight).then(
      () => flight.resolve(undefined),
      (error: unknown) => flight.reject(error),
    );
    const done = run.finally(() => {
      if (hardTimer !== undefined) this.#clock.clearTimeout(hardTimer);
      if (this.#inflight.get(key) === flight) this.#inflight.delete(key);
      this.#endRead();
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
        const answer: unknown = filter.has(key);
        if ((typeof answer === 'object' && answer !== null) || typeof answer === 'function') {
          // An async filter (on Redis, say) answers within the store deadline or counts as "maybe present".
          const result = await this.#deadline(toPromise(answer as PromiseLike<unknown>), this.#storeTimeoutMs, 'the filter');
          present = !result.ok || result.value !== false;
        } else present = answer !== false;
      } catch {
        present = true; // a failing filter can only cost a load, never hide a value
      }
      if (!present) {
        this.#filterSkipped++;
        if (this.#unchanged(key, flight.since)) void this.#storeNegative(key, ttl, false);
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
    // Keyed by the L2 store (shared by every process of this cache), not by the cache's name; both
    // parts encoded, so no two (store, key) pairs share a lock.
    const lockKey = `getOrSet:${encodeKeyPart(l2.name)}:${encodeKeyPart(key)}`;
    let lease = await this.#tryLock(lock, lockKey, key);
    if (lease === null) {
      // Another process loads: wait for its value in L2, taking the lock over if it goes away. The
      // wait ends at lockWaitMs whatever a poll costs (a stalled L2 or lock store included).
      this.#lockWaits++;
      const giveUp = unrefTimer(this.#clock.setTimeout(() => flight.reject(new CacheTimeoutError(this.name, 'lock_wait', this.#lockWaitMs)), this.#lockWaitMs));
      try {
        let pause = this.#lockPollMs;
        for (;;) {
          await this.#sleep(pause);
          pause = Math.min(250, Math.ceil(pause * 1.5));
          if (flight.settled) return; // the wait or the hard timeout ran out
          if (await this.#readL2ForFlight(key, flight)) return;
          if (flight.settled) return;
          lease = await this.#tryLock(lock, lockKey, key);
          if (flight.settled) {
            if (lease !== null && lease !== 'none') this.#release(lease);
            return;
          }
          if (lease !== null) break;
        }
      } finally {
        this.#clock.clearTimeout(giveUp);
      }
      // The holder went away without filling the cache (failed, or its lease expired): look once more, then load.
      if (lease !== 'none' && (await this.#readL2ForFlight(key, flight))) {
        this.#release(lease);
        return;
      }
    }
    const held = lease === 'none' ? undefined : lease;
    // The lease must outlive a slow loader, or another process would load too.
    const stopExtending = held === undefined ? noop : this.#keepLease(held);
    try {
      await this.#load(key, loader, ttl, flight, filterSaidPresent, held);
    } finally {
      stopExtending();
      if (held !== undefined) this.#release(held);
    }
  }

  /** Reads L2 for a flight: true when it settled the flight (fresh or negative value). Records graced entries. */
  async #readL2ForFlight(key: string, flight: Flight<T>): Promise<boolean> {
    const result = await this.#l2Get([key]);
    if (!result.ok) {
      this.#l2Failed('l2_get', result.error);
      return false;
    }
    const raw = result.value[0];
    if (raw === undefined) return false;
    const now = this.#clock.now();
    const entry = this.#decode(raw, now);
    if (entry === undefined || now >= entry.staleUntil) return false;
    if (this.#unchanged(key, flight.since)) this.#l1Put(key, entry);
    if (now < entry.expiresAt) {
      flight.resolve(entry.value);
      return true;
    }
    if (!entry.negative) flight.stale = entry;
    return false;
  }

  /** One lock attempt within the store deadline. `'none'`: the lock failed or did not answer (load here without it). */
  async #tryLock(lock: CacheLock, lockKey: string, key: string): Promise<CacheLease | null | 'none'> {
    const attempt = invoke(() => lock.tryLock(lockKey, { ttlMs: this.#lockTtlMs }), undefined);
    const result = await this.#deadline(attempt, this.#storeTimeoutMs, 'the lock');
    if (result.ok) return result.value ?? null;
    // A grant that arrives after the deadline is given back at once.
    attempt.then((late) => this.#release(late ?? null), noop);
    // The lock is an efficiency measure: without it, load here rather than fail the caller.
    if (this.#events.hasListeners('cache.lock_error')) {
      this.#events.emit({ type: 'cache.lock_error', source: 'cache', name: this.name, time: this.#clock.now(), key, error: result.error });
    }
    return 'none';
  }

  /** Releases a lease in the background, within the store deadline (a release that hangs never holds up close()). */
  #release(lease: CacheLease | null): void {
    if (lease === null) return;
    this.#track(this.#deadline(invoke(() => lease.release(), undefined), this.#storeTimeoutMs, 'the lock'));
  }

  /** Extends a load's lease every third of lockTtlMs until the returned function is called (leases without `extend` are left alone). */
  #keepLease(lease: CacheLease): () => void {
    const extend = lease.extend;
    if (typeof extend !== 'function') return noop;
    const every = Math.max(1, Math.floor(this.#lockTtlMs / 3));
    let active = true;
    let timer: unknown;
    const tick = () => {
      timer = undefined;
      if (!active) return;
      this.#track(this.#deadline(invoke(() => extend.call(lease, this.#lockTtlMs), undefined), this.#storeTimeoutMs, 'the lock'));
      timer = unrefTimer(this.#clock.setTimeout(tick, every));
    };
    timer = unrefTimer(this.#clock.setTimeout(tick, every));
    return () => {
      active = false;
      if (timer !== undefined) this.#clock.clearTimeout(timer);
    };
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
    // A change made here while the loader ran (set, delete, clear, invalidation) is newer than
    // what the loader read: its answer goes to its callers only, never into L1 or L2.
    const keep = this.#unchanged(key, flight.since);
    if (value === undefined) {
      if (filterSaidPresent) this.#filterFalsePositives++;
      flight.resolve(undefined);
      if (keep) await this.#storeNegative(key, ttl, true);
      return;
    }
    this.#addToFilter(key);
    if (!keep) {
      flight.resolve(value);
      return;
    }
    const entry = this.#makeEntry(value, false, ttl);
    this.#l1Put(key, entry);
    flight.resolve(value);
    // With a lock, followers poll L2: the write must land before the lease is released.
    const write = this.#writeL2([{ key, entry }], false);
    if (lease !== undefined) await write;
    else this.#track(write);
  }

  /** A cached "not found": L1 always, L2 too when `toL2` (the loader said so; shared with waiting processes). */
  async #storeNegative(key: string, ttl: Resolved, toL2: boolean): Promise<void> {
    if (this.#negativeTtlMs === 0) return;
    const entry = this.#makeEntry(undefined, true, { ttlMs: this.#negativeTtlMs, graceMs: 0, l1TtlMs: ttl.l1TtlMs });
    this.#l1Put(key, entry);
    if (toL2 && this.#l2 !== undefined) await this.#writeL2([{ key, entry }], false);
  }

  // ---------------------------------------------------------------- writes

  async set(key: string, value: T, options?: SetOptions): Promise<void> {
    if (typeof key !== 'string') throw keyError('set', key);
    if (value === undefined) throw new InvalidOptionsError('cache.set', 'value', value, 'a value (undefined means "not found": use delete())');
    const ttl = this.#resolve('cache.set', options === undefined ? undefined : readOptions<SetOptions>('cache.set', options, SET_KEYS));
    await this.#set(key, value, ttl);
  }

  #set(key: string, value: T, ttl: Resolved): Promise<void> {
    const entry = this.#makeEntry(value, false, ttl);
    this.#l1Put(key, entry);
    this.#touch(key);
    this.#addToFilter(key);
    return this.#writeThrough('set', [{ key, entry }]);
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
      this.#touch(key);
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
    for (const key of keys) {
      this.#l1?.delete(key);
      this.#touch(key);
    }
    const l2 = this.#l2;
    if (l2 !== undefined && keys.length > 0) {
      const result = await this.#deleteL2(keys);
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
    this.#touchAll();
    // Every L2 write made before the clear is void: none may be retried or replayed into the
    // cleared namespace.
    this.#voidWrites();
    const l2 = this.#l2;
    if (l2 !== undefined) {
      const result = await this.#l2Call('clear', (o) => l2.clear(o));
      if (!result.ok) {
        this.#count('clear', 'error');
        this.#l2Failed('clear', result.error);
        if (this.#queue !== undefined && !this.#closed) {
          // Replayed first; until then writes wait behind it and reads see an empty L2.
          this.#clearQueued = true;
          this.#queued++;
          this.#scheduleReplay();
        }
        if (this.#throwOnStoreError) throw new CacheStoreError(this.name, 'clear', result.error);
        return;
      }
    }
    this.#count('clear', 'ok');
    await this.#publishClear();
  }

  /** L2 write, then the bus message, per `onStoreError`. */
  async #writeThrough(operation: 'set', writes: { key: string; entry: Entry<T> }[]): Promise<void> {
    if (writes.length === 0) return;
    if (this.#l2 !== undefined) {
      const ok = await this.#writeL2(writes, true);
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

  /**
   * Writes entries to L2; false (reported) when the store failed. Never rejects. `queue`: a user
   * write, queued on failure in queue mode (a load's fill is not: it can be loaded again).
   */
  async #writeL2(writes: readonly { key: string; entry: Entry<T> }[], queue: boolean): Promise<boolean> {
    const l2 = this.#l2;
    if (l2 === undefined) return true;
    const now = this.#clock.now();
    const encoded: StoreWrite[] = [];
    const staleUntil: number[] = [];
    for (const { key, entry } of writes) {
      const ttlMs = Math.ceil(entry.staleUntil - now);
      if (ttlMs < 1) continue;
      // A load's fill never replaces a queued user write of its key: that one is replayed first.
      if (!queue && (this.#clearQueued || this.#queue?.has(key) === true)) continue;
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
      staleUntil.push(entry.staleUntil);
    }
    if (encoded.length === 0) return true;
    const gens = encoded.map((w) => this.#issue(w.key));
    const result: L2Result<void> = this.#clearQueued
      ? { ok: false, error: behindClear(this.name) }
      : await this.#l2Call('l2_set', (o) => {
          // Only writes still the newest for their key: a retry never sends one that a later write replaced.
          const current = encoded.filter((w, i) => this.#l2Latest.get(w.key) === gens[i]);
          return current.length === 0 ? RESOLVED_VOID : l2.set(current, o);
        });
    encoded.forEach((w, i) => this.#settleWrite(w.key, gens[i] as number, result.ok, queue, w.value, staleUntil[i] as number));
    if (!result.ok) {
      this.#lastL2Error = result.error;
      this.#l2Failed('l2_set', result.error);
      return false;
    }
    return true;
  }

  /** Deletes keys from L2 (queued on failure in queue mode). Never rejects. */
  async #deleteL2(keys: readonly string[]): Promise<L2Result<void>> {
    const l2 = this.#l2 as CacheStore;
    const gens = keys.map((key) => this.#issue(key));
    const result: L2Result<void> = this.#clearQueued
      ? { ok: false, error: behindClear(this.name) }
      : await this.#l2Call('l2_delete', (o) => {
          const current = keys.filter((key, i) => this.#l2Latest.get(key) === gens[i]);
          return current.length === 0 ? RESOLVED_VOID : l2.delete(current, o);
        });
    keys.forEach((key, i) => this.#settleWrite(key, gens[i] as number, result.ok, true, undefined, 0));
    return result;
  }

  /** A new L2 write of `key`: it replaces whatever older write of the key is in flight or queued. */
  #issue(key: string): number {
    const gen = ++this.#writeGen;
    this.#l2Latest.set(key, gen);
    if (this.#queue !== undefined && this.#queue.delete(key)) this.#superseded++;
    return gen;
  }

  /** An L2 write ended: forget it, or (queue mode, failed, still the newest of its key) queue it. */
  #settleWrite(key: string, gen: number, ok: boolean, queue: boolean, value: string | undefined, staleUntil: number): void {
    if (this.#l2Latest.get(key) !== gen) return; // a later write owns the key
    const q = this.#queue;
    if (ok || !queue || q === undefined || this.#closed) {
      this.#l2Latest.delete(key);
      return;
    }
    q.set(key, { gen, at: this.#clock.now(), value, staleUntil });
    this.#queued++;
    const max = (this.#queueSettings as QueueSettings).maxKeys;
    while (q.size > max) {
      const [oldest, item] = q.entries().next().value as [string, QueuedWrite];
      this.#overflow++;
      this.#dropQueued(oldest, item, 'overflow');
    }
    this.#scheduleReplay();
  }

  /** Forgets every L2 write made so far (a clear, here or announced by the bus, replaced them all). */
  #voidWrites(): void {
    this.#l2Latest.clear();
    this.#clearQueued = false;
    const q = this.#queue;
    if (q !== undefined && q.size > 0) {
      this.#superseded += q.size;
      q.clear();
    }
  }

  #forgetQueued(key: string, item: QueuedWrite): void {
    this.#queue?.delete(key);
    if (this.#l2Latest.get(key) === item.gen) this.#l2Latest.delete(key);
  }

  #dropQueued(key: string, item: QueuedWrite, reason: 'overflow' | 'expired' | 'closed'): void {
    this.#forgetQueued(key, item);
    if (this.#events.hasListeners('cache.l2_write_dropped')) {
      this.#events.emit({ type: 'cache.l2_write_dropped', source: 'cache', name: this.name, time: this.#clock.now(), key, reason });
    }
  }

  #hasQueued(): boolean {
    return this.#clearQueued || (this.#queue !== undefined && this.#queue.size > 0);
  }

  /** Replays at the backoff timer (only while something is queued). */
  #scheduleReplay(): void {
    if (this.#replayTimer !== undefined || this.#replaying || this.#closed) return;
    this.#replayTimer = unrefTimer(
      this.#clock.setTimeout(() => {
        this.#replayTimer = undefined;
        this.#track(this.#replay());
      }, this.#replayDelay),
    );
  }

  /** An L2 call succeeded, so L2 is back: replay now rather than at the timer (at most once per `retryMs`). */
  #replaySoon(): void {
    if (this.#replaying || this.#closed || !this.#hasQueued()) return;
    if (this.#clock.now() - this.#lastReplayAt < (this.#queueSettings as QueueSettings).retryMs) return;
    if (this.#replayTimer !== undefined) {
      this.#clock.clearTimeout(this.#replayTimer);
      this.#replayTimer = undefined;
    }
    this.#track(this.#replay());
  }

  #lastReplayAt = -Infinity;

  /**
   * Sends the queue to L2: a queued clear first, then batches of the oldest writes. A write is
   * sent only while it is still the newest of its key (checked at every attempt), so nothing older
   * than a later write or delete ever reaches L2. Replayed keys are announced on the bus.
   */
  async #replay(): Promise<void> {
    const queue = this.#queue;
    const settings = this.#queueSettings;
    const l2 = this.#l2;
    if (queue === undefined || settings === undefined || l2 === undefined || this.#replaying) return;
    this.#replaying = true;
    let failed = false;
    try {
      for (;;) {
        this.#lastReplayAt = this.#clock.now();
        if (this.#clearQueued) {
          const result = await this.#l2Call('clear', (o) => l2.clear(o));
          if (!result.ok) {
            failed = true;
            return;
          }
          if (this.#clearQueued) {
            this.#clearQueued = false;
            this.#replayed++;
            await this.#publishClear();
          }
        }
        const now = this.#clock.now();
        const batch: [string, QueuedWrite][] = [];
        for (const [key, item] of queue) {
          if (now - item.at > settings.maxAgeMs || (item.value !== undefined && item.staleUntil - now < 1)) {
            this.#expired++;
            this.#dropQueued(key, item, 'expired');
            continue;
          }
          batch.push([key, item]);
          if (batch.length >= settings.batchSize) break;
        }
        if (batch.length === 0) return;
        const current = ([key, item]: [string, QueuedWrite]) => this.#l2Latest.get(key) === item.gen && queue.get(key) === item;
        const sets = batch.filter(([, item]) => item.value !== undefined);
        const deletes = batch.filter(([, item]) => item.value === undefined);
        const [setResult, deleteResult] = await Promise.all([
          sets.length === 0
            ? OK
            : this.#l2Call('l2_set', (o) => {
                const at = this.#clock.now();
                const writes = sets.filter(current).map(([key, item]) => ({ key, value: item.value as string, ttlMs: Math.ceil(item.staleUntil - at) }));
                const live = writes.filter((w) => w.ttlMs >= 1);
                return live.length === 0 ? RESOLVED_VOID : l2.set(live, o);
              }),
          deletes.length === 0
            ? OK
            : this.#l2Call('l2_delete', (o) => {
                const keys = deletes.filter(current).map(([key]) => key);
                return keys.length === 0 ? RESOLVED_VOID : l2.delete(keys, o);
              }),
        ]);
        const replayed: string[] = [];
        for (const [key, item] of batch) {
          if (!(item.value === undefined ? deleteResult.ok : setResult.ok)) continue;
          if (queue.get(key) !== item) continue; // replaced meanwhile: the newer write is on its way
          queue.delete(key);
          if (this.#l2Latest.get(key) === item.gen) this.#l2Latest.delete(key);
          this.#replayed++;
          replayed.push(key);
        }
        // Other processes may hold the older value in L1: tell them, now that L2 has the newer one.
        if (replayed.length > 0) await this.#publish(replayed);
        if (!setResult.ok || !deleteResult.ok) {
          failed = true;
          return;
        }
        if (!this.#hasQueued()) return;
      }
    } finally {
      this.#replaying = false;
      if (failed) {
        this.#replayDelay = Math.min(this.#replayDelay * 2, Math.max(MAX_REPLAY_DELAY_MS, settings.retryMs));
        this.#scheduleReplay();
      } else this.#replayDelay = settings.retryMs;
    }
  }

  async #publish(keys: readonly string[]): Promise<void> {
    const bus = this.#bus;
    if (bus === undefined) return;
    // publishInvalidation never rejects by contract; a broken or stalled bus must not fail or hold up the write.
    await this.#deadline(
      invoke(() => bus.publishInvalidation(...keys), undefined),
      this.#storeTimeoutMs,
      'the bus',
    );
  }

  async #publishClear(): Promise<void> {
    const bus = this.#bus;
    if (bus?.publishClear === undefined) return;
    await this.#deadline(
      invoke(() => (bus.publishClear as () => Promise<boolean>)(), undefined),
      this.#storeTimeoutMs,
      'the bus',
    );
  }

  // ---------------------------------------------------------------- write-behind

  async writeBehind(key: string, value: T, writer: (value: T, key: string) => unknown, options?: SetOptions): Promise<void> {
    if (typeof key !== 'string') throw keyError('writeBehind', key);
    checkFunction('cache.writeBehind', 'writer', writer);
    // Everything checked before anything is queued: a refused call changes nothing.
    if (value === undefined) throw new InvalidOptionsError('cache.writeBehind', 'value', value, 'a value (undefined means "not found": use delete())');
    const ttl = this.#resolve('cache.writeBehind', options === undefined ? undefined : readOptions<SetOptions>('cache.writeBehind', options, SET_KEYS));
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
    await this.#set(key, value, ttl);
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
      const run = this.#runWrite(key, state, item.value, item.writer).then(() => {
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

  async #runWrite(key: string, state: WriteState<T>, value: T, writer: (value: T, key: string) => unknown): Promise<void> {
    let lastError: unknown;
    for (let attempt = 1; ; attempt++) {
      try {
        await invoke(() => writer(value, key), undefined);
        this.#written++;
        return;
      } catch (error) {
        lastError = error;
      }
      // A newer value of the key waits: it replaces this one (last write wins). Retrying or
      // dead-lettering this one could only let it overwrite the newer value later (a redrive).
      if (state.next !== undefined) {
        this.#coalesced++;
        return;
      }
      if (attempt >= this.#wb.attempts) break;
      if (this.#wb.retryDelayMs > 0) await this.#sleep(this.#wb.retryDelayMs);
      if (state.next !== undefined) {
        this.#coalesced++;
        return;
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
    // The L2 write queue gets one last replay; what it could not send is dropped and reported.
    if (this.#replayTimer !== undefined) {
      this.#clock.clearTimeout(this.#replayTimer);
      this.#replayTimer = undefined;
    }
    if (this.#hasQueued()) await this.#replay();
    this.#clearQueued = false;
    for (const [key, item] of this.#queue ?? []) {
      this.#expired++;
      this.#dropQueued(key, item, 'closed');
    }
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
    return toPromise(lock.tryLock(`tryLock:${encodeKeyPart(this.name)}:${encodeKeyPart(key)}`, { ttlMs }));
  }

  // ---------------------------------------------------------------- invalidation

  #onInvalidation(keys: readonly string[], info: InvalidationInfo): void {
    const l1 = this.#l1;
    if (info.clear === true) {
      l1?.clear();
      this.#touchAll();
      // Another process cleared L2 after our queued writes were made: they must not come back.
      this.#voidWrites();
      this.#l2?.namespaceChanged?.();
      return;
    }
    const now = this.#clock.now();
    if (info.resync !== undefined) {
      this.#touchAll();
      // Nothing cached and nothing being read: nothing can be stale, so nothing to report (the
      // bus's first subscription, confirmed before any read, lands here).
      if ((l1 === undefined || l1.size === 0) && this.#reads === 0) return;
      this.#busGaps++;
      if (l1 !== undefined) for (const entry of l1.values()) expireLogically(entry, now);
      if (this.#events.hasListeners('cache.bus_gap')) {
        this.#events.emit({ type: 'cache.bus_gap', source: 'cache', name: this.name, time: now, reason: info.resync });
      }
      return;
    }
    this.#busInvalidations++;
    const queue = this.#queue;
    for (const key of keys) {
      this.#touch(key);
      // Another process wrote the key after our queued write was made: replaying ours would undo theirs.
      const queued = queue?.get(key);
      if (queued !== undefined) {
        this.#superseded++;
        this.#forgetQueued(key, queued);
      }
      const entry = l1?.peek(key);
      if (entry !== undefined) expireLogically(entry, now);
    }
  }

  // ---------------------------------------------------------------- changes while reads are in flight

  /**
   * A local change to `key` (write, delete, invalidation). Reads and loads in flight from before
   * it must not put their older answer into L1 or L2, and later callers must not join a load that
   * started before it.
   */
  #touch(key: string): void {
    this.#changes++;
    if (this.#reads > 0) {
      const touched = this.#touched;
      touched.delete(key);
      touched.set(key, this.#changes);
      if (touched.size > MAX_TOUCHED) {
        // Forget the oldest change: every read older than it now counts as overtaken.
        const [oldest, at] = touched.entries().next().value as [string, number];
        touched.delete(oldest);
        this.#touchFloor = at;
      }
    }
    this.#inflight.delete(key);
  }

  /** A change to every key (clear, resync). */
  #touchAll(): void {
    this.#changes++;
    this.#touchFloor = this.#changes;
    this.#touched.clear();
    this.#inflight.clear();
  }

  #beginRead(): number {
    this.#reads++;
    return this.#changes;
  }

  #endRead(): void {
    if (--this.#reads === 0) this.#touched.clear();
  }

  /** Whether nothing changed `key` here since a read began (at change count `since`): only then may its answer go into L1. */
  #unchanged(key: string, since: number): boolean {
    if (since === this.#changes) return true;
    if (since < this.#touchFloor) return false;
    const at = this.#touched.get(key);
    return at === undefined || at <= since;
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

  /**
   * An L2 read. Keys with a queued write are answered from the queue (L2 is known to be behind
   * for them: this process reads its own writes); behind a queued clear, L2 counts as empty.
   */
  #l2Get(keys: readonly string[]): Promise<L2Result<(string | undefined)[]>> {
    const l2 = this.#l2 as CacheStore;
    const queue = this.#queue;
    if (queue === undefined || (queue.size === 0 && !this.#clearQueued)) return this.#l2Call('l2_get', (o) => l2.get(keys, o));
    const local = new Map<string, string | undefined>();
    const ask: string[] = [];
    for (const key of keys) {
      const item = queue.get(key);
      if (item !== undefined) local.set(key, item.value);
      else if (this.#clearQueued) local.set(key, undefined);
      else ask.push(key);
    }
    if (ask.length === 0) return Promise.resolve({ ok: true, value: keys.map((key) => local.get(key)) });
    return this.#l2Call('l2_get', (o) => l2.get(ask, o)).then((result) => {
      if (!result.ok) return result;
      const answers = new Map(ask.map((key, i) => [key, result.value[i]]));
      return { ok: true, value: keys.map((key) => (local.has(key) ? local.get(key) : answers.get(key))) };
    });
  }

  /** The work's outcome, or a failure once `timeoutMs` passed (the work goes on unobserved). Never rejects. */
  #deadline<R>(work: Promise<R>, timeoutMs: number, what: string): Promise<L2Result<R>> {
    return new Promise((resolve) => {
      let done = false;
      const timer = unrefTimer(
        this.#clock.setTimeout(() => {
          if (done) return;
          done = true;
          resolve({ ok: false, error: withoutStack(() => new StoreUnavailableError(`cache "${this.name}": ${what} did not answer within ${timeoutMs} ms`, true)) });
        }, timeoutMs),
      );
      work.then(
        (value) => {
          if (done) return;
          done = true;
          this.#clock.clearTimeout(timer);
          resolve({ ok: true, value });
        },
        (error: unknown) => {
          if (done) return;
          done = true;
          this.#clock.clearTimeout(timer);
          resolve({ ok: false, error });
        },
      );
    });
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
          if (this.#queue !== undefined) this.#replaySoon();
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
    return new Promise((resolve) => unrefTimer(this.#clock.setTimeout(resolve, ms)));
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
      l2Queue: {
        pending: (this.#queue?.size ?? 0) + (this.#clearQueued ? 1 : 0),
        queued: this.#queued,
        replayed: this.#replayed,
        superseded: this.#superseded,
        overflow: this.#overflow,
        expired: this.#expired,
      },
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

function behindClear(cache: string): StoreUnavailableError {
  return withoutStack(() => new StoreUnavailableError(`cache "${cache}": the write waits in the L2 write queue behind a clear that has not reached L2 yet`, false));
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

function readQueueSettings(value: unknown): QueueSettings | undefined {
  if (value === undefined || value === false) return undefined;
  if (value !== true && (typeof value !== 'object' || value === null)) {
    throw new InvalidOptionsError(OWNER, 'l2WriteQueue', value, 'true, false or { maxKeys, maxAgeMs, retryMs, batchSize }');
  }
  const o = readOptions<L2WriteQueueOptions>(OWNER, value === true ? undefined : (value as L2WriteQueueOptions), ['maxKeys', 'maxAgeMs', 'retryMs', 'batchSize']);
  return {
    maxKeys: checkInteger(OWNER, 'l2WriteQueue.maxKeys', o.maxKeys ?? 10_000, { min: 1, max: 10_000_000 }),
    maxAgeMs: checkInteger(OWNER, 'l2WriteQueue.maxAgeMs', o.maxAgeMs ?? 60_000, { min: 1, max: MAX_TTL_MS }),
    retryMs: checkInteger(OWNER, 'l2WriteQueue.retryMs', o.retryMs ?? 500, { min: 1, max: 3_600_000 }),
    batchSize: checkInteger(OWNER, 'l2WriteQueue.batchSize', o.batchSize ?? 100, { min: 1, max: 10_000 }),
  };
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
