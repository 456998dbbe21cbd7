// Concurrency and deadline defects found in review: each test failed before its fix.
import { createEventBus, isXError } from '@x/core';
import type { Clock, Policy, XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import type { VirtualClock } from '@x/core/testing';
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

const setup = () => {
  const clock = createVirtualClock();
  const events = createEventBus();
  const seen: XEvent[] = [];
  events.on('*', (e) => void seen.push(e));
  return { clock, events, seen };
};

/**
 * An L2 store whose reads are answered from the data as it was when the read was made (as Redis
 * does), but delivered only when the test releases them: a read "in flight" across other calls.
 */
function heldReads(inner: CacheStore) {
  const held: Array<() => void> = [];
  let holding = false;
  const store: CacheStore = {
    name: inner.name,
    get(keys) {
      const answer = inner.get(keys);
      if (!holding) return answer;
      return new Promise((resolve) => held.push(() => resolve(answer)));
    },
    set: (writes) => inner.set(writes),
    delete: (keys) => inner.delete(keys),
    clear: () => inner.clear(),
  };
  return {
    store,
    hold: () => void (holding = true),
    release: () => {
      holding = false;
      for (const fn of held.splice(0)) fn();
    },
  };
}

async function settle(clock: VirtualClock): Promise<void> {
  for (let i = 0; i < 5; i++) await clock.advance(0);
}

describe('a read in flight never puts an older value back into L1', () => {
  for (const change of ['set', 'delete', 'clear', 'remote set (bus)'] as const) {
    it(`get in flight across a ${change}: later reads see the change`, async () => {
      const { clock, events } = setup();
      const inner = memoryCacheStore({ clock });
      const hub = createMemoryInvalidationBus();
      const writer = createCache<string>({ name: 'writer', clock, events, l2: inner, bus: hub.bus(), jitter: 0 });
      await writer.set('k', 'v1');
      const { store, hold, release } = heldReads(inner);
      const cache = createCache<string>({ clock, events, l2: store, bus: hub.bus(), jitter: 0 });
      hold();
      const read = cache.get('k');
      if (change === 'set') await cache.set('k', 'v2');
      else if (change === 'delete') await cache.delete('k');
      else if (change === 'clear') await cache.clear();
      else await writer.set('k', 'v2');
      release();
      expect(await read).toBe('v1'); // the read began before the change: its answer is fine
      const expected = change === 'set' || change === 'remote set (bus)' ? 'v2' : undefined;
      expect(await cache.get('k')).toBe(expected);
      expect(await cache.getMany(['k'])).toEqual([expected]);
    });
  }

  it('getMany in flight across a set does not put the older value back', async () => {
    const { clock, events } = setup();
    const inner = memoryCacheStore({ clock });
    await createCache<string>({ clock, events, l2: inner }).setMany([
      { key: 'a', value: 'a1' },
      { key: 'b', value: 'b1' },
    ]);
    const { store, hold, release } = heldReads(inner);
    const cache = createCache<string>({ clock, events, l2: store });
    hold();
    const read = cache.getMany(['a', 'b']);
    await cache.set('a', 'a2');
    release();
    expect(await read).toEqual(['a1', 'b1']);
    expect(await cache.getMany(['a', 'b'])).toEqual(['a2', 'b1']);
  });

  it('a load running across a delete is not cached, and later callers do not join it', async () => {
    const { clock, events } = setup();
    const l2 = memoryCacheStore({ clock });
    const cache = createCache<string>({ clock, events, l2 });
    let finish!: (v: string) => void;
    const first = cache.getOrSet('k', () => new Promise<string>((r) => (finish = r)));
    await settle(clock);
    await cache.delete('k');
    const second = cache.getOrSet('k', async () => 'new');
    finish('old');
    expect(await first).toBe('old');
    expect(await second).toBe('new');
    await settle(clock);
    expect(await cache.get('k')).toBe('new');
    expect(await createCache<string>({ clock, events, l2 }).get('k')).toBe('new');
  });

  it('a load running across a set does not overwrite the newer value in L1 or L2', async () => {
    const { clock, events } = setup();
    const l2 = memoryCacheStore({ clock });
    const cache = createCache<string>({ clock, events, l2 });
    let finish!: (v: string) => void;
    const load = cache.getOrSet('k', () => new Promise<string>((r) => (finish = r)));
    await settle(clock);
    await cache.set('k', 'set-during-load');
    finish('loaded-before');
    expect(await load).toBe('loaded-before');
    await settle(clock);
    expect(await cache.get('k')).toBe('set-during-load');
    expect(await createCache<string>({ clock, events, l2 }).get('k')).toBe('set-during-load');
  });
});

/** A lock on the virtual clock whose leases expire unless extended, shaped like @x/lock's. */
function expiringLock(clock: Clock) {
  const held = new Map<string, { until: number; owner: object }>();
  const attempts: string[] = [];
  const lock: CacheLock = {
    tryLock(key, options) {
      attempts.push(key);
      const ttl = options?.ttlMs ?? 1_000;
      const current = held.get(key);
      if (current !== undefined && clock.now() < current.until) return Promise.resolve(null);
      const owner = {};
      held.set(key, { until: clock.now() + ttl, owner });
      const mine = () => held.get(key)?.owner === owner && clock.now() < (held.get(key)?.until ?? 0);
      const lease: CacheLease & { extend(ms?: number): Promise<boolean> } = {
        release: () => Promise.resolve(mine() && held.delete(key)),
        extend: (ms = ttl) => {
          if (!mine()) return Promise.resolve(false);
          held.set(key, { until: clock.now() + ms, owner });
          return Promise.resolve(true);
        },
      };
      return Promise.resolve(lease);
    },
  };
  return { lock, held, attempts };
}

describe('cross-process single-flight keeps its promises', () => {
  it('extends the lease while a loader runs longer than lockTtlMs: the loader still runs once', async () => {
    const { clock, events } = setup();
    const l2 = memoryCacheStore({ clock });
    const { lock } = expiringLock(clock);
    const caches = [0, 1].map((i) => createCache<string>({ name: `p${i}`, clock, events, l2, lock, lockTtlMs: 100, lockWaitMs: 5_000, lockPollMs: 10 }));
    let calls = 0;
    const loader = async () => {
      calls++;
      await new Promise<void>((r) => clock.setTimeout(r, 500));
      return 'v';
    };
    const all = Promise.all(caches.map((c) => c.getOrSet('k', loader)));
    await clock.advance(1_000);
    expect(await all).toEqual(['v', 'v']);
    expect(calls).toBe(1);
  });

  it('a lock that never answers costs at most storeTimeoutMs: the load runs here', async () => {
    const { clock, events, seen } = setup();
    const l2 = memoryCacheStore({ clock });
    const lock: CacheLock = { tryLock: () => new Promise(() => {}) };
    const cache = createCache<string>({ clock, events, l2, lock, storeTimeoutMs: 100 });
    const read = cache.getOrSet('k', async () => 'v');
    await clock.advance(100);
    await settle(clock);
    expect(await Promise.race([read, Promise.resolve('still waiting')])).toBe('v');
    expect(seen.some((e) => e.type === 'cache.lock_error')).toBe(true);
  });

  it('a late lease from a lock attempt that timed out is given back', async () => {
    const { clock, events } = setup();
    const l2 = memoryCacheStore({ clock });
    const release = vi.fn(() => Promise.resolve());
    let grant!: (lease: CacheLease) => void;
    const lock: CacheLock = { tryLock: () => new Promise((r) => (grant = r)) };
    const cache = createCache<string>({ clock, events, l2, lock, storeTimeoutMs: 100 });
    const read = cache.getOrSet('k', async () => 'v');
    await clock.advance(100);
    expect(await read).toBe('v');
    grant({ release });
    await settle(clock);
    expect(release).toHaveBeenCalledTimes(1);
  });

  it('a lease release that never answers does not hang close()', async () => {
    const { clock, events } = setup();
    const l2 = memoryCacheStore({ clock });
    const lock: CacheLock = { tryLock: () => Promise.resolve({ release: () => new Promise(() => {}) }) };
    const cache = createCache<string>({ clock, events, l2, lock, storeTimeoutMs: 100 });
    expect(await cache.getOrSet('k', async () => 'v')).toBe('v');
    let closed = false;
    void cache.close().then(() => (closed = true));
    await clock.advance(100);
    await settle(clock);
    expect(closed).toBe(true);
  });

  it('a filter that never answers costs at most storeTimeoutMs and counts as "maybe present"', async () => {
    const { clock, events } = setup();
    const cache = createCache<string>({ clock, events, filter: { has: () => new Promise<boolean>(() => {}) }, storeTimeoutMs: 100 });
    const read = cache.getOrSet('k', async () => 'v');
    await clock.advance(100);
    await settle(clock);
    expect(await Promise.race([read, Promise.resolve('still waiting')])).toBe('v');
  });

  it('followers give up at lockWaitMs even while L2 stalls (no poll outlives the deadline)', async () => {
    const { clock, events } = setup();
    const inner = memoryCacheStore({ clock });
    let reads = 0;
    const store: CacheStore = {
      name: 'stalls',
      get: (keys) => (++reads > 1 ? new Promise(() => {}) : inner.get(keys)),
      set: (w) => inner.set(w),
      delete: (k) => inner.delete(k),
      clear: () => inner.clear(),
    };
    const { lock } = expiringLock(clock);
    await lock.tryLock('getOrSet:stalls:k', { ttlMs: 60_000 }); // another process loads
    const cache = createCache<string>({ clock, events, l2: store, lock, storeTimeoutMs: 1_000, lockWaitMs: 100, lockPollMs: 20 });
    let outcome: unknown = 'pending';
    cache.getOrSet('k', async () => 'v').then(
      (v) => (outcome = v),
      (e: unknown) => (outcome = e),
    );
    await clock.advance(110);
    await settle(clock);
    expect(isXError(outcome, 'CACHE_TIMEOUT')).toBe(true);
  });
});

describe('hostile names and keys in lock keys', () => {
  it('cache "a" key "b:c" and cache "a:b" key "c" never share a lock', async () => {
    const { clock, events } = setup();
    const { lock, attempts } = expiringLock(clock);
    const a = createCache({ name: 'a', clock, events, lock });
    const ab = createCache({ name: 'a:b', clock, events, lock });
    expect(await a.tryLock('b:c')).not.toBeNull();
    expect(await ab.tryLock('c')).not.toBeNull();
    const x = createCache({ clock, events, lock, l2: memoryCacheStore({ clock, name: 'a' }) });
    const y = createCache({ clock, events, lock, l2: memoryCacheStore({ clock, name: 'a:b' }) });
    await x.getOrSet('b:c', async () => 1);
    await y.getOrSet('c', async () => 2);
    expect(new Set(attempts).size).toBe(attempts.length);
  });
});

describe('L2 writes are never reordered by retries', () => {
  it('a retried write older than a later one is not sent again', async () => {
    const { clock, events } = setup();
    const inner = memoryCacheStore({ clock });
    let failNext = true;
    const store: CacheStore = {
      name: 'flaky',
      get: (k) => inner.get(k),
      set: (writes: readonly StoreWrite[]) => {
        if (failNext) {
          failNext = false;
          return Promise.reject(new Error('ETIMEDOUT'));
        }
        return inner.set(writes);
      },
      delete: (k) => inner.delete(k),
      clear: () => inner.clear(),
    };
    // A retry layer that waits 50 ms between attempts (as @x/retry's backoff does).
    const retry: Policy = {
      name: 'retry',
      async execute(fn, options) {
        try {
          return await fn({ signal: new AbortController().signal, attempt: 1, deadline: options?.deadline });
        } catch {
          await new Promise<void>((r) => clock.setTimeout(r, 50));
          return fn({ signal: new AbortController().signal, attempt: 2, deadline: options?.deadline });
        }
      },
      async executeOutcome(fn, options) {
        try {
          return { ok: true, value: await this.execute(fn, options) };
        } catch (error) {
          return { ok: false, error };
        }
      },
    };
    const cache = createCache<string>({ clock, events, l2: store, storePolicy: retry, jitter: 0 });
    const older = cache.set('k', 'v1'); // first attempt fails; retried in 50 ms
    await settle(clock);
    await cache.set('k', 'v2'); // goes through at once
    await clock.advance(50);
    await older;
    expect(await createCache<string>({ clock, events, l2: inner }).get('k')).toBe('v2');
  });
});

describe('write-behind', () => {
  it('refuses bad per-call options and undefined values before queueing anything', async () => {
    const { clock, events } = setup();
    const cache = createCache<number>({ clock, events });
    const writer = vi.fn();
    await expect(cache.writeBehind('k', 1, writer, { ttlMs: -1 })).rejects.toSatisfy((e) => isXError(e, 'INVALID_OPTIONS'));
    await expect(cache.writeBehind('k', undefined as never, writer)).rejects.toSatisfy((e) => isXError(e, 'INVALID_OPTIONS'));
    await clock.runAll();
    await cache.flush();
    expect(writer).not.toHaveBeenCalled();
    expect(cache.stats().writeBehind.pending).toBe(0);
  });

  it('a failed write superseded by a newer one for the same key is not dead-lettered (a redrive would undo the newer one)', async () => {
    const { clock, events } = setup();
    const dead: unknown[] = [];
    const cache = createCache<number>({ clock, events, writeBehind: { attempts: 2, retryDelayMs: 10, deadLetter: { add: (item) => void dead.push(item) } } });
    const source = new Map<string, number>();
    const writer = async (value: number, key: string) => {
      if (value === 1) throw new Error('deadlock');
      source.set(key, value);
    };
    await cache.writeBehind('k', 1, writer);
    await settle(clock); // the first attempt of 1 has failed
    await cache.writeBehind('k', 2, writer);
    await clock.runAll();
    await cache.flush();
    expect(source.get('k')).toBe(2);
    expect(dead).toEqual([]);
    expect(cache.stats().writeBehind).toMatchObject({ written: 1, deadLettered: 0, lost: 0 });
  });
});

describe('listeners and background work', () => {
  it('listeners that throw or reject change no outcome and leave no unhandled rejection', async () => {
    const clock = createVirtualClock();
    let reported = 0;
    const events = createEventBus({ onUnhandledListenerError: () => void reported++ });
    let heard = 0;
    events.on('*', () => {
      heard++;
      throw new Error('listener bug');
    });
    events.on('*', () => Promise.reject(new Error('async listener bug')));
    const inner = memoryCacheStore({ clock });
    let failing = false;
    const store: CacheStore = {
      name: 'flaky',
      get: (k) => (failing ? Promise.reject(new Error('ECONNRESET')) : inner.get(k)),
      set: (w) => (failing ? Promise.reject(new Error('ECONNRESET')) : inner.set(w)),
      delete: (k) => inner.delete(k),
      clear: () => inner.clear(),
    };
    const hub = createMemoryInvalidationBus();
    const cache = createCache<string>({
      clock,
      events,
      l2: store,
      bus: hub.bus(),
      ttlMs: 100,
      graceMs: 10_000,
      jitter: 0,
      l2WriteQueue: { maxKeys: 1, retryMs: 10 },
      lock: { tryLock: () => Promise.reject(new Error('lock store down')) },
      writeBehind: { attempts: 1, deadLetter: { add: () => Promise.reject(new Error('dlq down')) } },
    });
    await cache.set('k', 'v1');
    await clock.advance(150);
    // Stale-while-revalidate whose background refresh fails (lock error, load error).
    expect(await cache.getOrSet('k', () => Promise.reject(new Error('db down')))).toBe('v1');
    await settle(clock);
    failing = true;
    expect(await cache.get('k')).toBe('v1'); // L2 error: the graced copy
    await cache.set('a', '1'); // queued
    await cache.set('b', '2'); // queued; 'a' overflows
    await cache.writeBehind('w', 'x', () => Promise.reject(new Error('source down')), { ttlMs: 60_000 });
    await settle(clock);
    await cache.flush();
    hub.resync('gap');
    failing = false;
    await clock.advance(1_000);
    await settle(clock);
    expect(await cache.get('w')).toBe('x'); // queued last ('a' and 'b' overflowed), replayed
    expect(cache.stats().l2Queue).toMatchObject({ overflow: 2, replayed: 1 });
    expect(heard).toBeGreaterThan(5);
    expect(reported).toBeGreaterThan(5);
    expect(cache.stats().writeBehind.lost).toBe(1);
    await cache.close();
  });
});
