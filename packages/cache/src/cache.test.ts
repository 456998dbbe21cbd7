import { createEventBus, isXError } from '@x/core';
import type { Policy, XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { unhandledRejections } from '@x/test-support';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCache, createMemoryInvalidationBus, memoryCacheStore } from './index.js';
import type { CacheLease, CacheLock, CacheStore, StoreWrite } from './index.js';

const watch = unhandledRejections();
beforeEach(watch.start);
afterEach(() => {
  watch.stop();
  expect(watch.reasons).toEqual([]);
});

const setup = (extra: Record<string, unknown> = {}) => {
  const clock = createVirtualClock();
  const events = createEventBus();
  const seen: XEvent[] = [];
  events.on('*', (e) => void seen.push(e));
  return { clock, events, seen, ...extra };
};

/** An L2 store that fails, stalls or answers as the test says. */
function faultyStore(inner: CacheStore) {
  const state = { mode: 'ok' as 'ok' | 'fail' | 'hang', calls: 0 };
  const wrap =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      state.calls++;
      if (state.mode === 'fail') return Promise.reject(new Error('ECONNREFUSED'));
      if (state.mode === 'hang') return new Promise<R>(() => {});
      return fn(...args);
    };
  const store: CacheStore = {
    name: 'faulty',
    get: wrap((keys: readonly string[]) => inner.get(keys)),
    set: wrap((writes: readonly StoreWrite[]) => inner.set(writes)),
    delete: wrap((keys: readonly string[]) => inner.delete(keys)),
    clear: wrap(() => inner.clear()),
  };
  return { store, state };
}

describe('createCache: reads and writes', () => {
  it('stores, reads, expires after ttlMs and deletes', async () => {
    const { clock, events } = setup();
    const cache = createCache<number>({ clock, events, ttlMs: 1_000, jitter: 0 });
    await cache.set('a', 1);
    expect(await cache.get('a')).toBe(1);
    expect(await cache.has('a')).toBe(true);
    await clock.advance(999);
    expect(await cache.get('a')).toBe(1);
    await clock.advance(1);
    expect(await cache.get('a')).toBeUndefined();
    await cache.set('b', 2);
    await cache.delete('b');
    expect(await cache.get('b')).toBeUndefined();
  });

  it('reports found, stale (within grace) and miss in the entry form', async () => {
    const { clock, events } = setup();
    const cache = createCache<string>({ clock, events, ttlMs: 100, graceMs: 50, jitter: 0 });
    await cache.set('k', 'v');
    expect((await cache.getEntry('k')).status).toBe('found');
    await clock.advance(120);
    const stale = await cache.getEntry('k');
    expect(stale).toMatchObject({ status: 'stale', value: 'v' });
    expect(await cache.get('k')).toBeUndefined(); // get never returns a stale value while nothing failed
    await clock.advance(30);
    expect((await cache.getEntry('k')).status).toBe('miss');
  });

  it('keeps TTL absolute when an entry moves from L2 to L1', async () => {
    const { clock, events } = setup();
    const l2 = memoryCacheStore({ clock });
    const a = createCache<number>({ clock, events, l2, ttlMs: 1_000, jitter: 0 });
    const b = createCache<number>({ clock, events, l2, ttlMs: 1_000, jitter: 0 });
    await a.set('k', 7);
    await clock.advance(600);
    expect(await b.get('k')).toBe(7); // back-filled into b's L1
    await clock.advance(400);
    expect(await b.get('k')).toBeUndefined(); // expired at a's absolute time, not 1 000 ms after b's read
  });

  it('spreads TTLs with jitter so keys written together do not expire together', async () => {
    const { clock, events } = setup();
    const cache = createCache<number>({ clock, events, ttlMs: 10_000, jitter: 0.5 });
    const expiries = new Set<number>();
    for (let i = 0; i < 50; i++) {
      await cache.set(`k${i}`, i);
      const entry = await cache.getEntry(`k${i}`);
      if (entry.status !== 'found') throw new Error('expected found');
      expect(entry.expiresAt - clock.now()).toBeGreaterThan(5_000 - 1);
      expect(entry.expiresAt - clock.now()).toBeLessThanOrEqual(10_000);
      expiries.add(entry.expiresAt);
    }
    expect(expiries.size).toBeGreaterThan(40);
  });

  it('batches getMany / setMany / deleteMany through one L2 call each', async () => {
    const { clock, events } = setup();
    const inner = memoryCacheStore({ clock });
    const get = vi.spyOn(inner, 'get');
    const set = vi.spyOn(inner, 'set');
    const other = createCache<number>({ clock, events, l2: inner, jitter: 0 });
    const cache = createCache<number>({ clock, events, l2: inner, jitter: 0 });
    await other.setMany([
      { key: 'a', value: 1 },
      { key: 'b', value: 2 },
      { key: 'c', value: 3, ttlMs: 10 },
    ]);
    expect(set).toHaveBeenCalledTimes(1);
    expect(await cache.getMany(['a', 'b', 'x', 'a'])).toEqual([1, 2, undefined, 1]);
    expect(get).toHaveBeenCalledTimes(1);
    await cache.deleteMany(['a', 'b']);
    expect(await other.getMany(['a', 'b'])).toEqual([1, 2]); // other's L1 still holds them (no bus)
    expect(await createCache<number>({ clock, events, l2: inner }).getMany(['a', 'b'])).toEqual([undefined, undefined]);
  });

  it('clear() forgets every entry by a namespace bump, in L1 and L2', async () => {
    const { clock, events } = setup();
    const l2 = memoryCacheStore({ clock });
    const cache = createCache<number>({ clock, events, l2 });
    await cache.setMany([
      { key: 'a', value: 1 },
      { key: 'b', value: 2 },
    ]);
    await cache.clear();
    expect(await cache.getMany(['a', 'b'])).toEqual([undefined, undefined]);
  });

  it('never confuses hostile keys', async () => {
    const { clock, events } = setup();
    const l2 = memoryCacheStore({ clock });
    const cache = createCache<string>({ clock, events, l2, l1: false });
    const keys = ['a:b', 'a%3Ab', '{a}', '\uD800', '\uDC00', '\uFFFD', '', 'x'.repeat(10_000), 'line\nbreak', '__proto__'];
    for (const key of keys) await cache.set(key, `v(${key})`);
    for (const key of keys) expect(await cache.get(key)).toBe(`v(${key})`);
  });

  it('rejects bad options and arguments with INVALID_OPTIONS naming them', async () => {
    expect(() => createCache({ ttlMs: 0 })).toThrow(/ttlMs/);
    expect(() => createCache({ jitter: 1 })).toThrow(/jitter/);
    expect(() => createCache({ l1: { maxEntries: -1 } })).toThrow(/l1.maxEntries/);
    expect(() => createCache({ lock: {} as CacheLock })).toThrow(/lock/);
    expect(() => createCache({ ttlMS: 5 } as never)).toThrow(/did you mean "ttlMs"/);
    const cache = createCache();
    await expect(cache.get(5 as never)).rejects.toSatisfy((e) => isXError(e, 'INVALID_OPTIONS'));
    await expect(cache.set('k', undefined)).rejects.toThrow(/delete/);
    await expect(cache.getOrSet('k', 'nope' as never)).rejects.toThrow(/loader/);
    await expect(cache.tryLock('k')).rejects.toThrow(/lock/);
  });
});

describe('createCache: getOrSet', () => {
  it('runs the loader once for 1 000 concurrent callers of one key', async () => {
    const { clock, events } = setup();
    const cache = createCache<number>({ clock, events });
    let calls = 0;
    const loader = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      return 42;
    };
    const results = await Promise.all(Array.from({ length: 1_000 }, () => cache.getOrSet('hot', loader)));
    expect(calls).toBe(1);
    expect(new Set(results)).toEqual(new Set([42]));
    expect(cache.stats().singleFlightJoins).toBe(999);
    expect(await cache.getOrSet('hot', loader)).toBe(42);
    expect(calls).toBe(1);
  });

  it('a load that has answered takes no more joiners: a delete or clear right after it is not undone', async () => {
    const { clock, events } = setup();
    const cache = createCache<string>({ clock, events });
    expect(await cache.getOrSet('k', async () => 'old')).toBe('old');
    await cache.clear();
    expect(await cache.getOrSet('k', async () => undefined)).toBeUndefined();
    expect(await cache.getOrSet('j', async () => 'old')).toBe('old');
    await cache.delete('j');
    expect(await cache.getOrSet('j', async () => 'new')).toBe('new');
  });

  it('caches a loader that returns undefined as a negative entry for negativeTtlMs', async () => {
    const { clock, events } = setup();
    const cache = createCache<number>({ clock, events, negativeTtlMs: 500 });
    const loader = vi.fn(async () => undefined);
    expect(await cache.getOrSet('ghost', loader)).toBeUndefined();
    expect(await cache.getOrSet('ghost', loader)).toBeUndefined();
    expect(loader).toHaveBeenCalledTimes(1);
    expect((await cache.getEntry('ghost')).status).toBe('negative');
    await clock.advance(500);
    await cache.getOrSet('ghost', loader);
    expect(loader).toHaveBeenCalledTimes(2);
  });

  it('serves the stale value at once and refreshes in the background, once (SWR)', async () => {
    const { clock, events, seen } = setup();
    const cache = createCache<number>({ clock, events, ttlMs: 100, graceMs: 1_000, jitter: 0 });
    let version = 1;
    const loader = vi.fn(async () => {
      await new Promise((r) => setTimeout(r, 5));
      return version;
    });
    expect(await cache.getOrSet('k', loader)).toBe(1);
    version = 2;
    await clock.advance(150);
    const many = await Promise.all(Array.from({ length: 20 }, () => cache.getOrSet('k', loader)));
    expect(many.every((v) => v === 1)).toBe(true);
    expect(loader).toHaveBeenCalledTimes(2); // one background refresh for 20 stale reads
    await new Promise((r) => setTimeout(r, 20));
    expect(await cache.getOrSet('k', loader)).toBe(2);
    expect(seen.some((e) => e.type === 'cache.stale_served' && e.reason === 'swr')).toBe(true);
  });

  it('soft timeout serves the graced value while the load goes on; the late value is cached', async () => {
    const { clock, events } = setup();
    const cache = createCache<string>({ clock, events, ttlMs: 100, graceMs: 10_000, jitter: 0 });
    await cache.set('k', 'old');
    await clock.advance(200);
    let finish!: (v: string) => void;
    const pending = cache.getOrSet('k', () => new Promise<string>((r) => (finish = r)), { softTimeoutMs: 50 });
    await clock.advance(50);
    expect(await pending).toBe('old');
    finish('new');
    await clock.flush();
    expect(await cache.get('k')).toBe('new');
  });

  it('hard timeout rejects with CACHE_TIMEOUT and aborts the loader signal; a graced value wins over the error', async () => {
    const { clock, events } = setup();
    const cache = createCache<string>({ clock, events, ttlMs: 100, jitter: 0 });
    let signal!: AbortSignal;
    const pending = cache.getOrSet('k', (ctx) => {
      signal = ctx.signal;
      return new Promise<string>(() => {});
    }, { hardTimeoutMs: 200 });
    const failed = pending.catch((e: unknown) => e);
    await clock.advance(200);
    await expect(failed).resolves.toSatisfy((e) => isXError(e, 'CACHE_TIMEOUT'));
    expect(signal.aborted).toBe(true);

    const graced = createCache<string>({ clock, events, ttlMs: 100, graceMs: 5_000, jitter: 0, softTimeoutMs: 10_000 });
    await graced.set('k', 'old');
    await clock.advance(150);
    const served = graced.getOrSet('k', () => new Promise<string>(() => {}), { hardTimeoutMs: 300 });
    await clock.advance(300);
    expect(await served).toBe('old');
  });

  it('serves the graced value when the loader fails (stale-if-error), else rejects with its error', async () => {
    const { clock, events, seen } = setup();
    const cache = createCache<string>({ clock, events, ttlMs: 100, graceMs: 1_000, jitter: 0, softTimeoutMs: 10_000 });
    await cache.set('k', 'old');
    await clock.advance(150);
    expect(await cache.getOrSet('k', () => Promise.reject(new Error('db down')))).toBe('old');
    expect(seen.some((e) => e.type === 'cache.stale_served' && e.reason === 'loader_error')).toBe(true);
    await clock.advance(2_000);
    await expect(cache.getOrSet('k', () => Promise.reject(new Error('db down')))).rejects.toThrow('db down');
  });

  it("rejects one caller's abort without cancelling the load for the others", async () => {
    const { clock, events } = setup();
    const cache = createCache<number>({ clock, events });
    let finish!: (v: number) => void;
    const loader = () => new Promise<number>((r) => (finish = r));
    const controller = new AbortController();
    const a = cache.getOrSet('k', loader, { signal: controller.signal });
    const b = cache.getOrSet('k', loader);
    controller.abort(new Error('gone'));
    await expect(a).rejects.toThrow('gone');
    finish(5);
    expect(await b).toBe(5);
  });

  it('skips the loader when the filter says absent, and counts false positives it lets through', async () => {
    const { clock, events } = setup();
    const present = new Set(['exists']);
    const filter = { has: (k: string) => present.has(k) || k === 'fp', add: (k: string) => void present.add(k) };
    const cache = createCache<string>({ clock, events, filter });
    const loader = vi.fn(async ({ key }: { key: string }) => (key === 'exists' || key === 'new' ? `v:${key}` : undefined));
    expect(await cache.getOrSet('nope', loader)).toBeUndefined();
    expect(loader).not.toHaveBeenCalled();
    expect(await cache.getOrSet('exists', loader)).toBe('v:exists');
    expect(await cache.getOrSet('fp', loader)).toBeUndefined();
    await cache.set('new', 'v:new'); // a writer adds what exists
    expect(present.has('new')).toBe(true);
    expect(cache.stats().filter).toEqual({ skipped: 1, falsePositives: 1 });
    // an async filter that fails costs a load, never hides a value
    const broken = createCache<string>({ clock, events, filter: { has: () => Promise.reject(new Error('redis down')) } });
    expect(await broken.getOrSet('exists', loader)).toBe('v:exists');
  });
});

describe('createCache: L2 failures', () => {
  it('answers from L1 and the loader within storeTimeoutMs when L2 hangs, and never throws a store error', async () => {
    const { clock, events, seen } = setup();
    const { store, state } = faultyStore(memoryCacheStore({ clock }));
    const cache = createCache<string>({ clock, events, l2: store, storeTimeoutMs: 100, ttlMs: 1_000, l1TtlMs: 100, graceMs: 10_000, jitter: 0 });
    await cache.set('k', 'v');
    await clock.advance(150); // past l1TtlMs: L1 must ask L2 again
    state.mode = 'hang';
    const read = cache.get('k');
    await clock.advance(100);
    expect(await read).toBe('v'); // the L1 copy, served as stale
    const loaded = cache.getOrSet('other', async () => 'loaded');
    await clock.advance(100);
    expect(await loaded).toBe('loaded');
    expect(seen.filter((e) => e.type === 'cache.l2_error').length).toBeGreaterThan(0);
    state.mode = 'fail';
    expect(await cache.get('missing')).toBeUndefined();
    await expect(cache.set('k2', 'x')).resolves.toBeUndefined();
  });

  it("rejects with CACHE_STORE_ERROR only when asked (onStoreError: 'throw')", async () => {
    const { clock, events } = setup();
    const { store, state } = faultyStore(memoryCacheStore({ clock }));
    const cache = createCache<string>({ clock, events, l2: store, onStoreError: 'throw' });
    state.mode = 'fail';
    await expect(cache.get('k')).rejects.toSatisfy((e) => isXError(e, 'CACHE_STORE_ERROR'));
    await expect(cache.set('k', 'v')).rejects.toSatisfy((e) => isXError(e, 'CACHE_STORE_ERROR'));
  });

  it('runs every L2 call under storePolicy, composing breaker → retry → timeout', async () => {
    const { clock, events } = setup();
    const { store, state } = faultyStore(memoryCacheStore({ clock }));
    const order: string[] = [];
    const layer = (name: string, attempts = 1): Policy => ({
      name,
      async execute(fn, options) {
        order.push(name);
        let last: unknown;
        for (let attempt = 1; attempt <= attempts; attempt++) {
          try {
            const outer = (options as { attempt?: number } | undefined)?.attempt ?? 1;
            return await fn({ signal: new AbortController().signal, attempt: attempts > 1 ? attempt : outer, deadline: options?.deadline });
          } catch (error) {
            last = error;
          }
        }
        throw last;
      },
      async executeOutcome(fn, options) {
        try {
          return { ok: true, value: await this.execute(fn, options) };
        } catch (error) {
          return { ok: false, error };
        }
      },
    });
    const cache = createCache<string>({ clock, events, l2: store, l1: false, storePolicy: { timeout: layer('timeout'), retry: layer('retry', 3), breaker: layer('breaker') } });
    state.mode = 'fail';
    expect(await cache.get('k')).toBeUndefined();
    expect(order).toEqual(['breaker', 'retry', 'timeout', 'timeout', 'timeout']);
    expect(state.calls).toBe(3);
    expect(cache.stats().operations['l2_get']?.['retry']).toBe(2);
  });
});

describe('createCache: invalidation', () => {
  it("a write in one cache expires the other's L1 copy through the bus", async () => {
    const { clock, events } = setup();
    const l2 = memoryCacheStore({ clock });
    const hub = createMemoryInvalidationBus();
    const a = createCache<number>({ clock, events, l2, bus: hub.bus() });
    const b = createCache<number>({ clock, events, l2, bus: hub.bus() });
    await a.set('k', 1);
    expect(await b.get('k')).toBe(1);
    await a.set('k', 2);
    expect(await b.get('k')).toBe(2);
    await a.delete('k');
    expect(await b.get('k')).toBeUndefined();
    await a.set('x', 1);
    expect(await b.get('x')).toBe(1);
    await a.clear();
    expect(await b.get('x')).toBeUndefined();
  });

  it('on a resync (gap or reconnect) expires every L1 entry, kept for grace only', async () => {
    const { clock, events, seen } = setup();
    const { store, state } = faultyStore(memoryCacheStore({ clock }));
    const hub = createMemoryInvalidationBus();
    const cache = createCache<number>({ clock, events, l2: store, bus: hub.bus(), graceMs: 1_000, jitter: 0, storeTimeoutMs: 50 });
    await cache.set('k', 1);
    hub.resync('gap');
    expect(cache.stats().bus.gaps).toBe(1);
    expect(seen.some((e) => e.type === 'cache.bus_gap')).toBe(true);
    state.mode = 'fail';
    expect(await cache.get('k')).toBe(1); // L2 down: the graced copy is the answer
    await clock.advance(1_000);
    expect(await cache.get('k')).toBeUndefined(); // never past grace
  });
});

describe('createCache: cross-process single-flight (lock)', () => {
  /** An in-memory lock shaped like @x/lock's. */
  function fakeLock(): CacheLock & { held: Set<string> } {
    const held = new Set<string>();
    return {
      held,
      tryLock(key) {
        if (held.has(key)) return Promise.resolve(null);
        held.add(key);
        const lease: CacheLease = { release: () => Promise.resolve(held.delete(key)) };
        return Promise.resolve(lease);
      },
    };
  }

  it('caches sharing L2 and a lock run the loader once; followers read the value from L2', async () => {
    const { clock, events } = setup();
    const l2 = memoryCacheStore({ clock });
    const lock = fakeLock();
    const caches = Array.from({ length: 4 }, (_, i) => createCache<number>({ name: `p${i}`, clock, events, l2, lock, lockPollMs: 10 }));
    let calls = 0;
    let finish!: (v: number) => void;
    const loader = () => {
      calls++;
      return new Promise<number>((r) => (finish = r));
    };
    const all = Promise.all(caches.map((c) => c.getOrSet('k', loader)));
    await clock.advance(30);
    finish(9);
    await clock.advance(300);
    expect(await all).toEqual([9, 9, 9, 9]);
    expect(calls).toBe(1);
    expect(lock.held.size).toBe(0);
  });

  it('followers give up with CACHE_TIMEOUT after lockWaitMs; a failing lock loads locally', async () => {
    const { clock, events } = setup();
    const l2 = memoryCacheStore({ clock });
    const lock = fakeLock();
    lock.held.add('getOrSet:memory:k');
    const cache = createCache<number>({ name: 'c', clock, events, l2, lock, lockWaitMs: 100 });
    const waiting = cache.getOrSet('k', async () => 1).catch((e: unknown) => e);
    await clock.advance(200);
    await expect(waiting).resolves.toSatisfy((e) => isXError(e, 'CACHE_TIMEOUT') && (e as { phase: string }).phase === 'lock_wait');
    const broken = createCache<number>({ clock, events, l2, lock: { tryLock: () => Promise.reject(new Error('lock store down')) } });
    expect(await broken.getOrSet('k', async () => 3)).toBe(3);
  });
});

describe('createCache: write-behind', () => {
  it('updates the cache at once, coalesces per key (last write wins) and writes later', async () => {
    const { clock, events } = setup();
    const cache = createCache<number>({ clock, events, writeBehind: { delayMs: 10 } });
    const written: [string, number][] = [];
    const writer = async (value: number, key: string) => void written.push([key, value]);
    await cache.writeBehind('a', 1, writer);
    await cache.writeBehind('a', 2, writer);
    await cache.writeBehind('b', 1, writer);
    expect(await cache.get('a')).toBe(2);
    await clock.advance(10);
    await cache.flush();
    expect(written.sort()).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
    expect(cache.stats().writeBehind).toMatchObject({ written: 2, coalesced: 1, pending: 0 });
  });

  it('hands writes that keep failing to the dead-letter sink; every write ends in the source or the sink', async () => {
    const { clock, events } = setup();
    const dead: { key: string; value: unknown }[] = [];
    const cache = createCache<number>({
      clock,
      events,
      writeBehind: { attempts: 2, retryDelayMs: 5, concurrency: 2, deadLetter: { add: async (item) => void dead.push(item) } },
    });
    const source = new Map<string, number>();
    const writer = async (value: number, key: string) => {
      if (Number(key.slice(1)) % 3 === 0) throw new Error('constraint violation');
      source.set(key, value);
    };
    for (let i = 0; i < 30; i++) await cache.writeBehind(`k${i}`, i, writer);
    const flushed = cache.flush();
    await clock.runAll();
    await flushed;
    for (let i = 0; i < 30; i++) {
      const inSource = source.get(`k${i}`) === i;
      const inSink = dead.some((d) => d.key === `k${i}` && d.value === i);
      expect(inSource !== inSink).toBe(true);
    }
    expect(cache.stats().writeBehind).toMatchObject({ deadLettered: 10, written: 20, lost: 0 });
  });

  it('refuses writes beyond maxPending keys and after close()', async () => {
    const { clock, events } = setup();
    const cache = createCache<number>({ clock, events, writeBehind: { maxPending: 1, delayMs: 100 } });
    const writer = vi.fn();
    await cache.writeBehind('a', 1, writer);
    await cache.writeBehind('a', 2, writer); // same key: coalesced, not a new slot
    await expect(cache.writeBehind('b', 1, writer)).rejects.toSatisfy((e) => isXError(e, 'CACHE_WRITE_QUEUE_FULL'));
    const closing = cache.close();
    await clock.advance(100);
    await closing;
    expect(writer).toHaveBeenCalledTimes(1);
    await expect(cache.writeBehind('c', 1, writer)).rejects.toSatisfy((e) => isXError(e, 'CACHE_WRITE_QUEUE_FULL') && (e as { closed: boolean }).closed);
  });
});

describe('createCache: L1 bounds', () => {
  it('holds at most maxEntries entries and maxBytes bytes', async () => {
    const { clock, events } = setup();
    const cache = createCache<string>({ clock, events, l1: { maxEntries: 100, maxBytes: 10_000, sizeOf: (v) => (v as string).length } });
    for (let i = 0; i < 1_000; i++) await cache.set(`k${i}`, 'x'.repeat(50 + (i % 100)));
    const l1 = cache.stats().l1;
    expect(l1?.entries).toBeLessThanOrEqual(100);
    expect(l1?.bytes).toBeLessThanOrEqual(10_000);
    await cache.set('huge', 'x'.repeat(20_000));
    expect(await cache.get('huge')).toBeUndefined(); // larger than the whole tier: not kept
  });
});
