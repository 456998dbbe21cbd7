// The cache with the real @x packages it is designed to take (devDependencies only: the cache's
// runtime depends on @x/core alone and sees them through its small interfaces).
import { createBloomFilter } from '@x/bloom';
import { createBreaker } from '@x/breaker';
import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { createDeadLetterQueue } from '@x/dlq';
import { createLock } from '@x/lock';
import { constantBackoff, createRetry } from '@x/retry';
import { createTimeout } from '@x/timeout';
import { describe, expect, it } from 'vitest';
import { createCache, memoryCacheStore } from './index.js';
import type { CacheStore } from './index.js';

describe('@x/cache with the real @x packages', () => {
  it('@x/lock: caches sharing L2 load once; cache.tryLock is exclusive', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const l2 = memoryCacheStore({ clock });
    const lock = createLock({ clock, events, ttlMs: 5_000 });
    const caches = [0, 1, 2].map(() => createCache<string>({ clock, events, l2, lock, lockPollMs: 5 }));
    let loads = 0;
    let finish!: (v: string) => void;
    const all = Promise.all(caches.map((c) => c.getOrSet('k', () => (loads++, new Promise<string>((r) => (finish = r))))));
    await clock.advance(10);
    finish('v');
    await clock.advance(100);
    expect(await all).toEqual(['v', 'v', 'v']);
    expect(loads).toBe(1);
    const lease = await caches[0]?.tryLock('report');
    expect(lease).not.toBeNull();
    expect(await caches[1]?.tryLock('report')).toBeNull();
    await lease?.release();
    expect(await caches[1]?.tryLock('report')).not.toBeNull();
  });

  it('@x/bloom: a definitely-absent key skips the loader; written keys are added', async () => {
    const filter = createBloomFilter({ expectedItems: 1_000, falsePositiveRate: 0.01 });
    const cache = createCache<string>({ filter });
    let loads = 0;
    const loader = async () => (loads++, 'v');
    expect(await cache.getOrSet('never-written', loader)).toBeUndefined();
    expect(loads).toBe(0);
    await cache.set('written', 'w');
    expect(filter.has('written')).toBe(true);
    await cache.delete('written');
    expect(await cache.getOrSet('written', loader)).toBe('v');
    expect(cache.stats().filter.skipped).toBe(1);
  });

  it('@x/dlq: write-behind failures land in a real dead-letter queue with their error and key', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const dlq = createDeadLetterQueue<{ key: string; value: number }>({ name: 'writes', clock, events });
    const cache = createCache<number>({ clock, events, writeBehind: { attempts: 1, deadLetter: dlq } });
    await cache.writeBehind('order:1', 5, () => {
      throw new Error('db rejected');
    });
    await cache.flush();
    const page = await dlq.list({ state: 'pending' });
    expect(page.items.map((r) => r.item)).toEqual([{ key: 'order:1', value: 5 }]);
    expect(page.items[0]?.failure.message).toBe('db rejected');
    await dlq.close?.();
  });

  it('breaker → retry → timeout as storePolicy: an open breaker is not retried, reads fall back', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    let calls = 0;
    const down: CacheStore = {
      name: 'down',
      get: () => (calls++, Promise.reject(new Error('ECONNREFUSED'))),
      set: () => (calls++, Promise.reject(new Error('ECONNREFUSED'))),
      delete: () => Promise.reject(new Error('ECONNREFUSED')),
      clear: () => Promise.reject(new Error('ECONNREFUSED')),
    };
    const cache = createCache<string>({
      clock,
      events,
      l2: down,
      storeTimeoutMs: 5_000,
      storePolicy: {
        breaker: createBreaker({ name: 'l2', failureThreshold: 2, openMs: 30_000, clock, events }),
        retry: createRetry({ name: 'l2', maxAttempts: 3, backoff: constantBackoff(1), clock, events }),
        timeout: createTimeout(100, { clock, events }),
      },
    });
    const first = cache.get('a');
    await clock.advance(100);
    expect(await first).toBeUndefined();
    const second = cache.get('b');
    await clock.advance(100);
    expect(await second).toBeUndefined();
    const before = calls;
    expect(await cache.getOrSet('c', async () => 'loaded')).toBe('loaded'); // breaker open: fails fast
    expect(calls).toBe(before);
  });

  it('rejects a lock that is not lease-shaped (an acquire-only object) at construction', () => {
    expect(() => createCache({ lock: { acquire() {} } as never })).toThrow(/tryLock/);
  });
});
