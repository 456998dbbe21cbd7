// The L2 write queue (`l2WriteQueue`): failed or unsent L2 writes wait per key (last write wins)
// and are replayed once L2 answers again, never over a later write or delete; bounded, with an
// overflow that is counted and emitted.
import { createEventBus, isXError } from '@x/core';
import type { Policy, XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import type { VirtualClock } from '@x/core/testing';
import { unhandledRejections } from '@x/test-support';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCache, createMemoryInvalidationBus, memoryCacheStore } from './index.js';
import type { CacheStore, StoreWrite } from './index.js';

const watch = unhandledRejections();
beforeEach(watch.start);
afterEach(() => {
  watch.stop();
  expect(watch.reasons).toEqual([]);
});

type Mode = 'ok' | 'fail' | 'hang';

/** An L2 store in front of `inner` that fails or stalls on command; counts calls by method. */
function faultyStore(inner: CacheStore) {
  const state = { mode: 'ok' as Mode, calls: { get: 0, set: 0, delete: 0, clear: 0 } };
  const wrap =
    <A extends unknown[], R>(method: keyof typeof state.calls, fn: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      state.calls[method]++;
      if (state.mode === 'fail') return Promise.reject(new Error('ECONNREFUSED'));
      if (state.mode === 'hang') return new Promise<R>(() => {});
      return fn(...args);
    };
  const store: CacheStore = {
    name: 'faulty',
    get: wrap('get', (keys: readonly string[]) => inner.get(keys)),
    set: wrap('set', (writes: readonly StoreWrite[]) => inner.set(writes)),
    delete: wrap('delete', (keys: readonly string[]) => inner.delete(keys)),
    clear: wrap('clear', () => inner.clear()),
  };
  return { store, state };
}

const setup = () => {
  const clock = createVirtualClock();
  const events = createEventBus();
  const seen: XEvent[] = [];
  events.on('*', (e) => void seen.push(e));
  const inner = memoryCacheStore({ clock });
  const { store, state } = faultyStore(inner);
  /** What L2 holds, read without any L1. */
  const inL2 = (...keys: string[]) => createCache<string>({ clock, events, l2: inner, l1: false }).getMany(keys);
  return { clock, events, seen, inner, store, state, inL2 };
};

/** A store policy that retries a failed call once after `delayMs` (so other calls run in between). */
function retryOnce(clock: VirtualClock, delayMs: number): Policy {
  return {
    name: 'retry',
    async execute(fn, options) {
      try {
        return await fn({ signal: new AbortController().signal, attempt: 1, deadline: options?.deadline });
      } catch {
        await new Promise<void>((r) => clock.setTimeout(r, delayMs));
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
}

async function settle(clock: VirtualClock): Promise<void> {
  for (let i = 0; i < 5; i++) await clock.advance(0);
}

describe('l2WriteQueue', () => {
  it('queues a failed set, replays it once L2 answers again, and tells other processes', async () => {
    const { clock, events, inner, store, state, inL2 } = setup();
    const hub = createMemoryInvalidationBus();
    const a = createCache<string>({ clock, events, l2: store, bus: hub.bus(), l2WriteQueue: { retryMs: 100 }, jitter: 0 });
    const b = createCache<string>({ clock, events, l2: inner, bus: hub.bus(), jitter: 0 });
    await b.set('k', 'v0');
    expect(await b.get('k')).toBe('v0');
    state.mode = 'fail';
    await a.set('k', 'v1');
    expect(a.stats().l2Queue).toMatchObject({ pending: 1, queued: 1 });
    expect(await inL2('k')).toEqual(['v0']);
    expect(await b.get('k')).toBe('v0'); // nothing announced while L2 lacks it
    await clock.advance(100); // still failing: backs off
    state.mode = 'ok';
    await clock.advance(200);
    await settle(clock);
    expect(await inL2('k')).toEqual(['v1']);
    expect(await b.get('k')).toBe('v1'); // the replay was announced on the bus
    expect(a.stats().l2Queue).toMatchObject({ pending: 0, replayed: 1 });
  });

  it('keeps one write per key (last write wins); a later delete wins over a queued set', async () => {
    const { clock, events, store, state, inL2 } = setup();
    const cache = createCache<string>({ clock, events, l2: store, l2WriteQueue: { retryMs: 100 }, jitter: 0 });
    await cache.set('j', 'j0');
    state.mode = 'fail';
    await cache.set('k', 'v1');
    await cache.set('k', 'v2');
    await cache.set('j', 'j1');
    await cache.delete('j');
    expect(cache.stats().l2Queue).toMatchObject({ pending: 2, queued: 4, superseded: 2 });
    state.mode = 'ok';
    await clock.advance(100);
    await settle(clock);
    expect(await inL2('k', 'j')).toEqual(['v2', undefined]);
    expect(state.calls.set).toBeGreaterThan(0);
  });

  it('never replays over a write made after it: here, or announced by another process on the bus', async () => {
    const { clock, events, inner, store, state, inL2 } = setup();
    const hub = createMemoryInvalidationBus();
    const a = createCache<string>({ clock, events, l2: store, bus: hub.bus(), l2WriteQueue: { retryMs: 100 }, jitter: 0 });
    const b = createCache<string>({ clock, events, l2: inner, bus: hub.bus(), jitter: 0 });
    state.mode = 'fail';
    await a.set('mine', 'old');
    await a.set('theirs', 'old');
    state.mode = 'ok';
    await b.set('theirs', 'new'); // another process, after ours: announced on the bus
    await a.set('mine', 'new'); // goes straight through: the queued one is void
    await clock.advance(1_000);
    await settle(clock);
    expect(await inL2('mine', 'theirs')).toEqual(['new', 'new']);
    expect(a.stats().l2Queue).toMatchObject({ pending: 0, replayed: 0, superseded: 2 });
  });

  it('reads of a queued key answer from the queue, not from the older L2 entry', async () => {
    const { clock, events, inner, store, state, inL2 } = setup();
    await createCache<string>({ clock, events, l2: inner }).setMany([
      { key: 'k', value: 'v0' },
      { key: 'gone', value: 'g0' },
    ]);
    const cache = createCache<string>({ clock, events, l2: store, l1: false, l2WriteQueue: { retryMs: 10_000 }, jitter: 0 });
    state.mode = 'fail';
    await cache.set('k', 'v1');
    await cache.delete('gone');
    state.mode = 'ok';
    expect(await inL2('k', 'gone')).toEqual(['v0', 'g0']);
    expect(await cache.get('k')).toBe('v1');
    expect(await cache.get('gone')).toBeUndefined();
    expect(await cache.getMany(['k', 'gone'])).toEqual(['v1', undefined]);
    expect(await cache.getOrSet('k', async () => 'loaded')).toBe('v1');
  });

  it("a load's fill never replaces a queued write of its key (a queued delete is not lost when the fill fails too)", async () => {
    const { clock, events, inner, store, state, inL2 } = setup();
    await createCache<string>({ clock, events, l2: inner }).set('k', 'old');
    const cache = createCache<string>({ clock, events, l2: store, l1: false, l2WriteQueue: { retryMs: 100 }, jitter: 0 });
    state.mode = 'fail';
    await cache.delete('k');
    expect(await cache.getOrSet('k', async () => 'loaded')).toBe('loaded');
    expect(cache.stats().l2Queue.pending).toBe(1);
    state.mode = 'ok';
    await clock.advance(100);
    await settle(clock);
    expect(await inL2('k')).toEqual([undefined]);
  });

  it('is bounded: beyond maxKeys the oldest write is dropped, counted and emitted', async () => {
    const { clock, events, seen, store, state, inL2 } = setup();
    const cache = createCache<string>({ clock, events, l2: store, l2WriteQueue: { maxKeys: 2, retryMs: 100 }, jitter: 0 });
    state.mode = 'fail';
    for (const key of ['a', 'b', 'c']) await cache.set(key, `${key}1`);
    expect(cache.stats().l2Queue).toMatchObject({ pending: 2, overflow: 1 });
    expect(seen.filter((e) => e.type === 'cache.l2_write_dropped')).toEqual([expect.objectContaining({ key: 'a', reason: 'overflow', name: 'cache' })]);
    state.mode = 'ok';
    await clock.advance(100);
    await settle(clock);
    expect(await inL2('a', 'b', 'c')).toEqual([undefined, 'b1', 'c1']);
  });

  it('replays a failed clear first: writes before it are void, writes after it wait behind it', async () => {
    const { clock, events, inner, store, state, inL2 } = setup();
    await createCache<string>({ clock, events, l2: inner }).set('x', 'before');
    const cache = createCache<string>({ clock, events, l2: store, l1: false, l2WriteQueue: { retryMs: 100 }, jitter: 0 });
    state.mode = 'fail';
    await cache.set('k', 'before-clear');
    await cache.clear();
    await cache.set('m', 'after-clear');
    state.mode = 'ok';
    expect(await cache.get('x')).toBeUndefined(); // behind the clear, L2 counts as empty
    expect(await cache.get('m')).toBe('after-clear');
    expect(cache.stats().l2Queue.pending).toBe(2); // the clear and m
    await clock.advance(100);
    await settle(clock);
    expect(await inL2('x', 'k', 'm')).toEqual([undefined, undefined, 'after-clear']);
    expect(cache.stats().l2Queue.pending).toBe(0);
  });

  it('drops a write older than maxAgeMs when its turn comes, as expired', async () => {
    const { clock, events, seen, store, state, inL2 } = setup();
    const cache = createCache<string>({ clock, events, l2: store, l2WriteQueue: { retryMs: 100, maxAgeMs: 1_000 }, ttlMs: 60_000, jitter: 0 });
    state.mode = 'fail';
    await cache.set('k', 'v');
    await clock.advance(1_600); // replays at 100, 300, 700, 1 500 fail
    state.mode = 'ok';
    await clock.advance(1_600);
    await settle(clock);
    expect(await inL2('k')).toEqual([undefined]);
    expect(cache.stats().l2Queue).toMatchObject({ pending: 0, expired: 1, replayed: 0 });
    expect(seen.some((e) => e.type === 'cache.l2_write_dropped' && e.reason === 'expired')).toBe(true);
  });

  it('backs off while L2 keeps failing, and replays at once when another L2 call succeeds', async () => {
    const { clock, events, store, state, inL2 } = setup();
    const cache = createCache<string>({ clock, events, l2: store, l2WriteQueue: { retryMs: 100, maxAgeMs: 3_600_000 }, jitter: 0 });
    state.mode = 'fail';
    await cache.set('k', 'v');
    const before = state.calls.set;
    await clock.advance(10_000);
    expect(state.calls.set - before).toBeLessThanOrEqual(8); // 100, 300, 700, 1 500, 3 100, 6 300 ms
    state.mode = 'ok';
    await cache.get('other'); // an answer from L2: it is back
    await settle(clock);
    expect(await inL2('k')).toEqual(['v']);
  });

  it('a replay that stalls is bounded by storeTimeoutMs, and a write made meanwhile is not overwritten by its retry', async () => {
    const { clock, events, store, state, inL2 } = setup();
    const cache = createCache<string>({ clock, events, l2: store, l2WriteQueue: { retryMs: 100 }, storeTimeoutMs: 50, jitter: 0 });
    state.mode = 'fail';
    await cache.set('k', 'old');
    state.mode = 'hang';
    await clock.advance(100); // the replay is sent and stalls
    state.mode = 'ok';
    await cache.set('k', 'new');
    await clock.advance(1_000);
    await settle(clock);
    expect(await inL2('k')).toEqual(['new']);
    expect(cache.stats().l2Queue.pending).toBe(0);
  });

  it("rejects with CACHE_STORE_ERROR under onStoreError: 'throw' and still queues the write", async () => {
    const { clock, events, store, state, inL2 } = setup();
    const cache = createCache<string>({ clock, events, l2: store, l2WriteQueue: true, onStoreError: 'throw' });
    state.mode = 'fail';
    await expect(cache.set('k', 'v')).rejects.toSatisfy((e) => isXError(e, 'CACHE_STORE_ERROR'));
    state.mode = 'ok';
    await clock.advance(500);
    await settle(clock);
    expect(await inL2('k')).toEqual(['v']);
  });

  it('close() makes one last replay and reports what it could not send', async () => {
    const { clock, events, seen, store, state, inL2 } = setup();
    const cache = createCache<string>({ clock, events, l2: store, l2WriteQueue: { retryMs: 10_000 }, jitter: 0 });
    state.mode = 'fail';
    await cache.set('a', 'a1');
    state.mode = 'ok';
    await cache.close();
    expect(await inL2('a')).toEqual(['a1']);
    const other = createCache<string>({ clock, events, l2: store, l2WriteQueue: true });
    state.mode = 'fail';
    await other.set('b', 'b1');
    await other.close();
    expect(other.stats().l2Queue).toMatchObject({ pending: 0, expired: 1 });
    expect(seen.some((e) => e.type === 'cache.l2_write_dropped' && e.reason === 'closed' && e.key === 'b')).toBe(true);
  });

  it('rejects bad queue options naming them', () => {
    expect(() => createCache({ l2WriteQueue: 'yes' as never })).toThrow(/l2WriteQueue/);
    expect(() => createCache({ l2WriteQueue: { maxKeys: 0 } })).toThrow(/l2WriteQueue\.maxKeys/);
    expect(() => createCache({ l2WriteQueue: { retryMS: 5 } as never })).toThrow(/retryMs/);
  });

  type Op =
    | { kind: 'set'; key: number; value: number }
    | { kind: 'delete'; key: number }
    | { kind: 'clear' }
    | { kind: 'mode'; mode: Mode }
    | { kind: 'advance'; ms: number }
    | { kind: 'get'; key: number };
  const KEYS = ['a', 'b', 'a:b', '{c}'];
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.nat(KEYS.length - 1), value: fc.nat(1_000) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.nat(KEYS.length - 1) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('clear' as const) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('mode' as const), mode: fc.constantFrom<Mode>('ok', 'fail', 'hang') }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(0, 10, 50, 100, 400) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('get' as const), key: fc.nat(KEYS.length - 1) }) },
  );

  it('property: after L2 recovers, L2 holds exactly the last write of every key; reads never see an older one', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const { clock, events, store, state, inL2 } = setup();
        const cache = createCache<string>({
          clock,
          events,
          l2: store,
          l1: false,
          storeTimeoutMs: 50,
          ttlMs: 3_600_000,
          jitter: 0,
          l2WriteQueue: { retryMs: 20, maxAgeMs: 3_600_000 },
          storePolicy: retryOnce(clock, 20),
        });
        const model = new Map<string, string>();
        for (const o of ops) {
          if (o.kind === 'mode') state.mode = o.mode;
          else if (o.kind === 'advance') await clock.advance(o.ms);
          else if (o.kind === 'clear') {
            const done = cache.clear();
            await clock.advance(50);
            await done;
            model.clear();
          } else {
            const key = KEYS[o.key] as string;
            if (o.kind === 'get') {
              const read = cache.get(key);
              await clock.advance(50);
              const got = await read;
              // Never another key's value, never one this process replaced.
              if (got !== undefined) expect(got).toBe(model.get(key));
              if (state.mode === 'ok') expect(got).toBe(model.get(key));
              continue;
            }
            const done = o.kind === 'set' ? cache.set(key, `${key}=${o.value}`) : cache.delete(key);
            await clock.advance(50);
            await done;
            if (o.kind === 'set') model.set(key, `${key}=${o.value}`);
            else model.delete(key);
          }
        }
        state.mode = 'ok';
        await clock.advance(31_000); // longest backoff
        await settle(clock);
        expect(cache.stats().l2Queue.pending).toBe(0);
        expect(await inL2(...KEYS)).toEqual(KEYS.map((key) => model.get(key)));
      }),
      { numRuns: 300 },
    );
  });
});
