import { checkInteger, checkNumber, checkString, InvalidOptionsError, readOptions } from '@x/core';
import type { Clock, EventBus, ExecuteOptions, Outcome, PolicyFn } from '@x/core';
import { createBreakerWithInternals } from './breaker.js';
import type { BreakerInternals } from './breaker.js';
import { resolveClockAndEvents, resolveOptions } from './options.js';
import type { BreakerOptions } from './options.js';
import type { Breaker, BreakerStats } from './types.js';

/** Options applied to every breaker a group creates (each breaker is named after its key). */
export type BreakerGroupDefaults = Omit<BreakerOptions, 'name' | 'initialState' | 'clock' | 'events'>;

/** Options of {@link createBreakerGroup}. */
export interface BreakerGroupOptions {
  /** Options for breakers the group creates; `getOrCreate(name, options)` overrides them per key. */
  readonly defaults?: BreakerGroupDefaults | undefined;
  /**
   * Most breakers the group creates and keeps (per host, per tenant...). When a new key would go
   * over, the least recently used one is evicted, preferring closed circuits with no running
   * calls. Breakers given to `add()` are pinned: never evicted, not counted. Integer >= 1 or
   * `Infinity`; default 1 000.
   */
  readonly maxKeys?: number | undefined;
  /**
   * Evict a created breaker that has not been used through the group for this long and has no
   * running calls (isolated ones stay). Checked lazily on group calls; no timer runs. > 0 or
   * `Infinity` (default: never). Choose it longer than `openMs`, or a dependency that is down and
   * idle forgets that it was.
   */
  readonly idleMs?: number | undefined;
  /** Clock for created breakers and idle tracking. Default `systemClock`. */
  readonly clock?: Clock | undefined;
  /** Event bus for created breakers. Default `defaultEventBus()`. */
  readonly events?: EventBus | undefined;
}

/** A set of named breakers: explicit ones (`add`) and keyed ones created on demand. */
export interface BreakerGroup {
  /** Adds a breaker under `name` (pinned: never evicted). Throws `INVALID_OPTIONS` if the name is taken. */
  add(name: string, breaker: Breaker): Breaker;
  /** The breaker under `name`, or undefined. Counts as a use for idle and LRU tracking. */
  get(name: string): Breaker | undefined;
  /** The breaker under `name`, created from the group defaults and `options` if missing. */
  getOrCreate(name: string, options?: BreakerGroupDefaults): Breaker;
  /** Whether a breaker is registered under `name` (not a use). */
  has(name: string): boolean;
  /** Removes the breaker under `name`; returns whether there was one. */
  remove(name: string): boolean;
  /** Runs `fn` through the breaker under `name`, creating it with the group defaults if missing. */
  execute<T>(name: string, fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T>;
  /** Like `execute`, but never rejects (see `Policy.executeOutcome`). */
  executeOutcome<T>(name: string, fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>>;
  /** Stats of every breaker, keyed by name. */
  statsAll(): Record<string, BreakerStats>;
  /** Calls `reset()` on every breaker. */
  resetAll(): void;
  /** Names of every breaker, pinned ones first, then created ones from least to most recently used. */
  names(): string[];
  /** How many breakers the group holds. */
  readonly size: number;
}

const OWNER = 'createBreakerGroup';
const EVICTION_SCAN = 32;

interface Entry {
  readonly breaker: Breaker;
  readonly internals: BreakerInternals;
  lastUsed: number;
}

class BreakerGroupImpl implements BreakerGroup {
  readonly #defaults: BreakerGroupDefaults;
  readonly #clock: Clock;
  readonly #events: EventBus;
  readonly #maxKeys: number;
  readonly #idleMs: number;
  readonly #pinned = new Map<string, Breaker>();
  /** Created breakers in least-recently-used-first order (a Map iterates in insertion order). */
  readonly #keyed = new Map<string, Entry>();
  #mostRecent: string | undefined = undefined;
  #nextSweep = -Infinity;

  constructor(options: BreakerGroupOptions) {
    const { clock, events } = resolveClockAndEvents(OWNER, options);
    this.#clock = clock;
    this.#events = events;
    this.#defaults = options.defaults ?? {};
    if (typeof this.#defaults !== 'object' || this.#defaults === null) {
      throw new InvalidOptionsError(OWNER, 'defaults', options.defaults, 'an options object');
    }
    // Validate the defaults now rather than at the first key.
    resolveOptions({ ...this.#defaults, clock, events });
    this.#maxKeys = options.maxKeys === undefined ? 1_000 : checkInteger(OWNER, 'maxKeys', options.maxKeys, { min: 1, allowInfinity: true });
    this.#idleMs =
      options.idleMs === undefined ? Infinity : checkNumber(OWNER, 'idleMs', options.idleMs, { min: 0, minExclusive: true, allowInfinity: true });
  }

  get size(): number {
    return this.#pinned.size + this.#keyed.size;
  }

  add(name: string, breaker: Breaker): Breaker {
    checkString('BreakerGroup.add', 'name', name);
    if (typeof breaker !== 'object' || breaker === null || typeof breaker.execute !== 'function') {
      throw new InvalidOptionsError('BreakerGroup.add', 'breaker', breaker, 'a Breaker');
    }
    if (this.has(name)) throw new InvalidOptionsError('BreakerGroup.add', 'name', name, 'a name not already in the group');
    this.#pinned.set(name, breaker);
    return breaker;
  }

  get(name: string): Breaker | undefined {
    const pinned = this.#pinned.get(name);
    if (pinned !== undefined) return pinned;
    const now = this.#now();
    this.#sweep(now);
    const entry = this.#keyed.get(name);
    if (entry === undefined) return undefined;
    this.#touch(name, entry, now);
    return entry.breaker;
  }

  getOrCreate(name: string, options?: BreakerGroupDefaults): Breaker {
    const pinned = this.#pinned.get(name);
    if (pinned !== undefined) return pinned;
    const now = this.#now();
    this.#sweep(now);
    const entry = this.#keyed.get(name);
    if (entry !== undefined) {
      this.#touch(name, entry, now);
      return entry.breaker;
    }
    let internals!: BreakerInternals;
    const breaker = createBreakerWithInternals({ ...this.#defaults, ...options, clock: this.#clock, events: this.#events, name }, (i) => {
      internals = i;
    });
    if (this.#keyed.size >= this.#maxKeys) this.#evictOne();
    this.#keyed.set(name, { breaker, internals, lastUsed: now });
    this.#mostRecent = name;
    return breaker;
  }

  has(name: string): boolean {
    return this.#pinned.has(name) || this.#keyed.has(name);
  }

  remove(name: string): boolean {
    if (this.#pinned.delete(name)) return true;
    const entry = this.#keyed.get(name);
    if (entry === undefined) return false;
    if (this.#mostRecent === name) this.#mostRecent = undefined;
    this.#keyed.delete(name);
    // The group created it, so the group stops reporting it (a pinned breaker is the caller's).
    entry.internals.untrack();
    return true;
  }

  execute<T>(name: string, fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
    return this.getOrCreate(name).execute(fn, options);
  }

  executeOutcome<T>(name: string, fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
    return this.getOrCreate(name).executeOutcome(fn, options);
  }

  statsAll(): Record<string, BreakerStats> {
    this.#sweep(this.#now());
    const all: [string, BreakerStats][] = [];
    for (const [name, breaker] of this.#pinned) all.push([name, breaker.stats()]);
    for (const [name, entry] of this.#keyed) all.push([name, entry.breaker.stats()]);
    return Object.fromEntries(all);
  }

  resetAll(): void {
    for (const breaker of this.#pinned.values()) breaker.reset();
    for (const entry of this.#keyed.values()) entry.breaker.reset();
  }

  names(): string[] {
    return [...this.#pinned.keys(), ...this.#keyed.keys()];
  }

  #now(): number {
    // Without idle eviction the time of use does not matter, so the clock is not read.
    return this.#idleMs === Infinity ? 0 : this.#clock.now();
  }

  #touch(name: string, entry: Entry, now: number): void {
    entry.lastUsed = now;
    if (this.#mostRecent === name) return;
    this.#keyed.delete(name);
    this.#keyed.set(name, entry);
    this.#mostRecent = name;
  }

  /** Evicts idle breakers, oldest first, stopping at the first one used recently. */
  #sweep(now: number): void {
    const idleMs = this.#idleMs;
    if (idleMs === Infinity || now < this.#nextSweep) return;
    // Sweeping at most 8 times per idle period keeps a busy group's calls O(1).
    this.#nextSweep = now + idleMs / 8;
    for (const [name, entry] of this.#keyed) {
      if (now - entry.lastUsed < idleMs) break;
      if (entry.internals.running() > 0 || entry.breaker.state === 'isolated') continue;
      // A state that changed lately (a long call that just opened it) is news about the key.
      if (now - entry.internals.lastStateChangeAt() < idleMs) continue;
      this.remove(name);
    }
  }

  /**
   * Makes room for one key. Among the least recently used few, prefers a closed breaker with no
   * running calls, then any quiet one that is not isolated, then simply the least recently used:
   * the bound on memory wins over keeping a key's state.
   */
  #evictOne(): void {
    let oldest: string | undefined;
    let quiet: string | undefined;
    let scanned = 0;
    for (const [name, entry] of this.#keyed) {
      oldest ??= name;
      if (entry.internals.running() === 0) {
        const state = entry.breaker.state;
        if (state === 'closed') {
          this.remove(name);
          return;
        }
        if (state !== 'isolated') quiet ??= name;
      }
      if (++scanned >= EVICTION_SCAN) break;
    }
    const victim = quiet ?? oldest;
    if (victim !== undefined) this.remove(victim);
  }
}

/**
 * Creates a group of named circuit breakers: register explicit ones with `add`, or let the group
 * create one per key (host, tenant, route) on first use, bounded by `maxKeys` and evicted after
 * `idleMs` without use.
 *
 * @example
 * ```ts
 * const hosts = createBreakerGroup({ defaults: { failureThreshold: 3, openMs: 10_000 }, maxKeys: 500, idleMs: 600_000 });
 * const res = await hosts.execute(new URL(url).host, ({ signal }) => fetch(url, { signal }));
 *
 * hosts.add('database', createBreaker({ ...breakerPresets.conservative, name: 'database' }));
 * console.table(hosts.statsAll());
 * ```
 */
export function createBreakerGroup(options: BreakerGroupOptions = {}): BreakerGroup {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionsError(OWNER, 'options', options, 'an options object');
  // Own properties only: a value set on Object.prototype is never an option.
  return new BreakerGroupImpl(readOptions(OWNER, options, ['defaults', 'maxKeys', 'idleMs', 'clock', 'events']));
}
