import { createEventBus, isXError } from '@x/core';
import type { XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import type { VirtualClock } from '@x/core/testing';
import { deferred, unhandledRejections } from '@x/test-support';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLock, createSemaphore, memoryLockStore } from './index.js';
import type { Lease, Lock, LockStore, LockStoreExtend, LockStoreRelease, LockStoreRequest } from './index.js';
import { runExclusion, strictlyIncreasing } from './test-exclusion.js';

let clock: VirtualClock;
let bus: ReturnType<typeof createEventBus>;
let events: XEvent[];
const watch = unhandledRejections();

beforeEach(() => {
  clock = createVirtualClock({ now: 1_000_000 });
  bus = createEventBus();
  events = [];
  bus.on('*', (e) => events.push(e));
  watch.start();
});
afterEach(() => {
  watch.stop();
  expect(watch.reasons).toEqual([]);
});

const of = (type: string) => events.filter((e) => e.type === type) as (XEvent & Record<string, unknown>)[];

/** A memory store whose extend / release answers can be replaced or held back. */
class ScriptedStore implements LockStore {
  readonly kind = 'scripted';
  readonly inner = memoryLockStore();
  readonly log: string[] = [];
  extendAnswer: (() => LockStoreExtend | Promise<LockStoreExtend>) | undefined;
  releaseAnswer: (() => LockStoreRelease | Promise<LockStoreRelease>) | undefined;
  drift(): number {
    return 0;
  }
  acquire(r: LockStoreRequest) {
    this.log.push('acquire');
    return this.inner.acquire(r);
  }
  async extend(r: LockStoreRequest) {
    this.log.push('extend:start');
    const answer = this.extendAnswer ? await this.extendAnswer() : await this.inner.extend(r);
    this.log.push(`extend:${answer}`);
    return answer;
  }
  async release(r: LockStoreRequest) {
    this.log.push('release:start');
    const answer = this.releaseAnswer ? await this.releaseAnswer() : await this.inner.release(r);
    this.log.push(`release:${answer}`);
    return answer;
  }
}

describe('createLock on the memory store', () => {
  it('grants one holder at a time; the next grant has a higher fence', async () => {
    const lock = createLock({ name: 'l', clock, events: bus, ttlMs: 1_000 });
    const a = (await lock.tryLock('k')) as Lease;
    expect(a).not.toBeNull();
    expect(await lock.tryLock('k')).toBeNull();
    expect(await lock.tryLock('other')).not.toBeNull();
    expect(await a.release()).toBe('released');
    const b = (await lock.tryLock('k')) as Lease;
    expect(b.fence).toBeGreaterThan(a.fence);
    expect(of('lock.contended')).toMatchObject([{ key: 'k', reason: 'held', attempt: 1 }]);
    expect(lock.stats()).toMatchObject({ held: 2, acquired: 3, released: { released: 1 } });
  });

  it('locks sharing a store exclude each other; locks with their own stores do not', async () => {
    const store = memoryLockStore();
    const a = createLock({ store, clock });
    const b = createLock({ store, clock });
    expect(await a.tryLock('k')).not.toBeNull();
    expect(await b.tryLock('k')).toBeNull();
    expect(await createLock({ clock }).tryLock('k')).not.toBeNull();
  });

  it('an expired lease lets the next holder in with a higher fence; its own release says expired', async () => {
    const lock = createLock({ clock, events: bus, ttlMs: 1_000 });
    const a = (await lock.tryLock('k')) as Lease;
    await clock.advance(999);
    expect(a.remainingMs()).toBe(1);
    expect(await lock.tryLock('k')).toBeNull();
    await clock.advance(1);
    expect(a.remainingMs()).toBe(0);
    expect(a.signal.aborted).toBe(true);
    expect(a.signal.reason).toMatchObject({ code: 'LOCK_LOST', reason: 'expired' });
    const b = (await lock.tryLock('k')) as Lease;
    expect(b.fence).toBeGreaterThan(a.fence);
    expect(await a.release()).toBe('expired');
    expect(await b.release()).toBe('released');
    expect(of('lock.lost')).toHaveLength(1);
    expect(lock.stats().held).toBe(0);
  });

  it('aborts an observed signal at expiry (one unref-able timer), and runs no timer otherwise', async () => {
    const lock = createLock({ clock, events: bus, ttlMs: 1_000 });
    const quiet = (await lock.tryLock('q')) as Lease;
    expect(clock.pendingTimers).toBe(0);
    await quiet.release();
    const a = (await lock.tryLock('k')) as Lease;
    const { signal } = a;
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(1_000);
    expect(signal.aborted).toBe(true);
    expect(of('lock.lost')).toMatchObject([{ key: 'k', reason: 'expired', heldMs: 1_000 }]);
    expect(clock.pendingTimers).toBe(0);
    const b = (await lock.tryLock('k2')) as Lease;
    void b.signal;
    await b.release();
    expect(clock.pendingTimers).toBe(0);
    expect(b.signal.aborted).toBe(false);
  });

  it('release is idempotent and `await using` releases at the end of the block', async () => {
    const lock = createLock({ clock, events: bus });
    const a = (await lock.tryLock('k')) as Lease;
    const first = a.release();
    expect(a.release()).toBe(first);
    expect(await first).toBe('released');
    {
      await using b = await lock.acquire('k');
      expect(await lock.tryLock('k')).toBeNull();
      expect(b.fence).toBeGreaterThan(a.fence);
    }
    expect(await lock.tryLock('k')).not.toBeNull();
    expect(of('lock.released').map((e) => e.result)).toEqual(['released', 'released']);
  });

  it('acquire waits with jittered retries and gets the lease once it is released', async () => {
    const lock = createLock({ clock, events: bus, retry: { delayMs: 100, jitter: 0.5 } });
    const a = (await lock.tryLock('k')) as Lease;
    const waiting = lock.acquire('k', { waitMs: 5_000 });
    await clock.advance(1_000);
    await a.release();
    await clock.advance(200);
    const b = await waiting;
    expect(b.fence).toBeGreaterThan(a.fence);
    const acquired = of('lock.acquired').at(-1) as Record<string, number>;
    expect(acquired.attempts).toBeGreaterThan(5);
    expect(acquired.waitedMs).toBeGreaterThanOrEqual(1_000);
    expect(acquired.waitedMs).toBeLessThanOrEqual(1_200);
  });

  it('acquire rejects LOCK_NOT_ACQUIRED (held) after waitMs or retry.attempts, saying why', async () => {
    const lock = createLock({ name: 'jobs', clock, retry: { delayMs: 100, attempts: 3 } });
    await lock.tryLock('k');
    const byAttempts = lock.acquire('k', { waitMs: 10_000 }).catch((e: unknown) => e);
    await clock.advance(1_000);
    expect(await byAttempts).toMatchObject({ code: 'LOCK_NOT_ACQUIRED', reason: 'held', attempts: 3, lock: 'jobs', key: 'k' });
    const byWait = createLock({ store: memoryLockStore(), clock, retry: { delayMs: 100 } });
    await byWait.tryLock('k');
    const rejected = byWait.acquire('k', { waitMs: 450 }).catch((e: unknown) => e);
    await clock.advance(1_000);
    const error = (await rejected) as Error & { waitedMs: number };
    expect(isXError(error, 'LOCK_NOT_ACQUIRED')).toBe(true);
    expect(error.waitedMs).toBe(450);
    expect(error.message).toMatch(/held by another holder/);
  });

  it('acquire rejects with the caller abort reason at once, and an aborted signal asks nothing of the store', async () => {
    const store = new ScriptedStore();
    const lock = createLock({ clock, store });
    await lock.tryLock('k');
    const controller = new AbortController();
    const waiting = lock.acquire('k', { signal: controller.signal }).catch((e: unknown) => e);
    await clock.advance(10);
    controller.abort(new Error('caller gave up'));
    expect(await waiting).toMatchObject({ message: 'caller gave up' });
    const before = store.log.length;
    await expect(lock.tryLock('k', { signal: controller.signal })).rejects.toThrow('caller gave up');
    await expect(lock.acquire('k', { signal: controller.signal })).rejects.toThrow('caller gave up');
    expect(store.log.length).toBe(before);
    expect(clock.pendingTimers).toBe(0);
  });

  it('an abort while a store call is in flight rejects at once; the grant that arrives later is given back uncounted', async () => {
    const store = new ScriptedStore();
    const gate = deferred<void>();
    const slow: LockStore = { kind: 'slow', drift: () => 0, acquire: async (r) => (await gate.promise, store.acquire(r)), extend: (r) => store.extend(r), release: (r) => store.release(r) };
    const lock = createLock({ clock, store: slow, events: bus });
    const controller = new AbortController();
    const waiting = lock.acquire('k', { signal: controller.signal }).catch((e: unknown) => e);
    await clock.flush();
    controller.abort(new Error('gone'));
    expect(await waiting).toMatchObject({ message: 'gone' });
    gate.resolve();
    await clock.flush();
    await clock.flush();
    expect(store.log).toEqual(['acquire', 'release:start', 'release:released']);
    expect(lock.stats()).toMatchObject({ held: 0, acquired: 0 });
    expect(of('lock.released')).toEqual([]);
    expect(await lock.tryLock('k')).not.toBeNull();
  });

  it('withLock extends in the background past the TTL and releases afterwards', async () => {
    const lock = createLock({ clock, events: bus, ttlMs: 300 });
    const done = lock.withLock('k', async ({ signal, fence, lease }) => {
      await clock.advance(2_000);
      expect(signal.aborted).toBe(false);
      expect(lease.remainingMs()).toBeGreaterThan(0);
      expect(await lock.tryLock('k')).toBeNull();
      return fence;
    });
    const fence = await done;
    expect(typeof fence).toBe('number');
    expect(of('lock.extended').length).toBeGreaterThanOrEqual(6);
    expect(of('lock.released')).toMatchObject([{ result: 'released' }]);
    expect(clock.pendingTimers).toBe(0);
    expect(await lock.tryLock('k')).not.toBeNull();
  });

  it('withLock without autoExtend loses the lease at its TTL: the signal aborts and withLock rejects LOCK_LOST', async () => {
    const lock = createLock({ clock, events: bus, ttlMs: 300 });
    const done = lock
      .withLock(
        'k',
        async ({ signal }) => {
          await clock.advance(400);
          expect(signal.aborted).toBe(true);
          return 'late';
        },
        { autoExtend: false },
      )
      .catch((e: unknown) => e);
    expect(await done).toMatchObject({ code: 'LOCK_LOST', reason: 'expired' });
    expect(of('lock.released')).toMatchObject([{ result: 'expired' }]);
  });

  it('maxHoldMs caps the hold: extensions stop there, the signal aborts and others get in', async () => {
    const lock = createLock({ clock, events: bus, ttlMs: 300 });
    let abortedAt = -1;
    const done = lock
      .withLock(
        'k',
        async ({ signal }) => {
          signal.addEventListener('abort', () => (abortedAt = clock.now()));
          await clock.advance(1_500);
          expect(await lock.tryLock('k')).not.toBeNull();
        },
        { maxHoldMs: 1_000 },
      )
      .catch((e: unknown) => e);
    const start = clock.now();
    expect(await done).toMatchObject({ code: 'LOCK_LOST', reason: 'max_hold' });
    expect(abortedAt - start).toBe(1_000);
  });

  it("withLock rethrows fn's error after releasing; a caller abort reaches fn's signal", async () => {
    const lock = createLock({ clock, events: bus });
    await expect(lock.withLock('k', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lock.tryLock('k')).not.toBeNull();
    const controller = new AbortController();
    const seen = lock.withLock(
      'j',
      ({ signal }) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason));
        }),
      { signal: controller.signal },
    );
    await clock.flush();
    controller.abort(new Error('stop'));
    await expect(seen).rejects.toThrow('stop');
    expect(await lock.tryLock('j')).not.toBeNull();
  });

  it('background extension failing keeps retrying until validity runs out, then aborts the signal: no unhandled rejection', async () => {
    const store = new ScriptedStore();
    const lock = createLock({ clock, events: bus, store, ttlMs: 300 });
    store.extendAnswer = () => Promise.reject(new Error('store down'));
    const done = lock
      .withLock('k', async ({ signal }) => {
        await clock.advance(299);
        expect(signal.aborted).toBe(false);
        await clock.advance(1);
        expect(signal.aborted).toBe(true);
      })
      .catch((e: unknown) => e);
    expect(await done).toMatchObject({ code: 'LOCK_LOST', reason: 'expired' });
    expect(store.log.filter((l) => l === 'extend:start').length).toBeGreaterThan(2);
    expect(of('lock.lost')).toMatchObject([{ reason: 'expired' }]);
  });

  it('background extension recovers when the store answers again before the validity runs out', async () => {
    const store = new ScriptedStore();
    const lock = createLock({ clock, events: bus, store, ttlMs: 300 });
    let failures = 2;
    store.extendAnswer = () => (failures-- > 0 ? 'unavailable' : 'extended');
    await lock.withLock('k', async ({ signal }) => {
      await clock.advance(1_000);
      expect(signal.aborted).toBe(false);
    });
    expect(of('lock.lost')).toEqual([]);
  });

  it('a background extension still in flight when the validity ends: the signal aborts at the validity, and a late "extended" does not revive the lease', async () => {
    const store = new ScriptedStore();
    const lock = createLock({ clock, events: bus, store, ttlMs: 300 });
    const gate = deferred<LockStoreExtend>();
    store.extendAnswer = () => gate.promise; // the store stalls (a slow Redis, a call past its deadline)
    const done = lock
      .withLock('k', async ({ signal, lease }) => {
        try {
          await clock.advance(299);
          expect(store.log).toContain('extend:start');
          expect(signal.aborted).toBe(false);
          await clock.advance(1);
          expect(signal.aborted).toBe(true); // lost at the validity, not when the store answers
          expect(signal.reason).toMatchObject({ code: 'LOCK_LOST', reason: 'expired' });
        } finally {
          gate.resolve('extended');
        }
        await clock.flush();
        expect(lease.remainingMs()).toBe(0);
      })
      .catch((e: unknown) => e);
    expect(await done).toMatchObject({ code: 'LOCK_LOST', reason: 'expired' });
    expect(of('lock.lost')).toMatchObject([{ reason: 'expired' }]);
    expect(of('lock.extended')).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('an extend() whose answer arrives after the validity ended is lost, even if nobody looked in between', async () => {
    const store = new ScriptedStore();
    const lock = createLock({ clock, events: bus, store, ttlMs: 300 });
    const gate = deferred<LockStoreExtend>();
    store.extendAnswer = () => gate.promise;
    const lease = (await lock.tryLock('k')) as Lease;
    const extending = lease.extend();
    await clock.advance(350);
    gate.resolve('extended');
    expect(await extending).toBe(false);
    expect(lease.remainingMs()).toBe(0);
    expect(lease.signal.reason).toMatchObject({ reason: 'expired' });
    expect(of('lock.extended')).toEqual([]);
    expect(await lease.release()).toBe('expired');
  });

  it('tryLock: an abort while the store call is in flight rejects at once; the grant that arrives later is given back uncounted', async () => {
    const store = new ScriptedStore();
    const gate = deferred<void>();
    const slow: LockStore = { kind: 'slow', drift: () => 0, acquire: async (r) => (await gate.promise, store.acquire(r)), extend: (r) => store.extend(r), release: (r) => store.release(r) };
    const lock = createLock({ clock, store: slow, events: bus });
    const controller = new AbortController();
    const trying = lock.tryLock('k', { signal: controller.signal }).catch((e: unknown) => e);
    await clock.flush();
    controller.abort(new Error('gone'));
    gate.resolve();
    expect(await trying).toMatchObject({ message: 'gone' });
    await clock.flush();
    await clock.flush();
    expect(store.log).toEqual(['acquire', 'release:start', 'release:released']);
    expect(lock.stats()).toMatchObject({ held: 0, acquired: 0 });
    expect(of('lock.acquired')).toEqual([]);
    expect(await lock.tryLock('k')).not.toBeNull();
  });

  it('maxHoldMs on a store with drift: extensions stop once the validity reaches the cap, and the signal aborts with max_hold', async () => {
    const store = new ScriptedStore();
    store.drift = () => 10;
    const lock = createLock({ clock, events: bus, store, ttlMs: 300 });
    const done = lock
      .withLock(
        'k',
        async ({ signal }) => {
          await clock.advance(1_500);
          expect(signal.aborted).toBe(true);
        },
        { maxHoldMs: 1_000 },
      )
      .catch((e: unknown) => e);
    expect(await done).toMatchObject({ code: 'LOCK_LOST', reason: 'max_hold' });
    expect(of('lock.lost')).toMatchObject([{ reason: 'max_hold' }]);
    // 1 000 ms of a 300 ms lease extended every ~100 ms of validity used: a handful, not a
    // stream of ever shorter extensions towards the cap.
    expect(store.log.filter((l) => l === 'extend:start').length).toBeLessThanOrEqual(12);
  });

  it('remainingMs never promises time past maxHoldMs', async () => {
    const lock = createLock({ clock, events: bus, ttlMs: 3_000 });
    const seen: number[] = [];
    const done = lock
      .withLock(
        'k',
        async ({ lease }) => {
          seen.push(lease.remainingMs());
          await clock.advance(600);
          seen.push(lease.remainingMs());
          await clock.advance(400);
          seen.push(lease.remainingMs());
        },
        { maxHoldMs: 1_000 },
      )
      .catch((e: unknown) => e);
    expect(await done).toMatchObject({ code: 'LOCK_LOST', reason: 'max_hold' });
    expect(seen).toEqual([1_000, 400, 0]);
  });

  it('an extension the store denies loses the lease at once', async () => {
    const store = new ScriptedStore();
    const lock = createLock({ clock, events: bus, store, ttlMs: 300 });
    store.extendAnswer = () => 'not_held';
    const lease = (await lock.tryLock('k')) as Lease;
    expect(await lease.extend()).toBe(false);
    expect(lease.signal.reason).toMatchObject({ reason: 'not_held' });
    expect(await lease.release()).toBe('expired');
    expect(store.log).not.toContain('release:start');
  });

  it('extending to a shorter length shortens the validity too (the store expires it sooner)', async () => {
    const lock = createLock({ clock, ttlMs: 200 });
    const lease = (await lock.tryLock('k')) as Lease;
    expect(await lease.extend(1)).toBe(true);
    expect(lease.remainingMs()).toBe(1);
    await clock.advance(1);
    expect(lease.remainingMs()).toBe(0);
    expect(await lock.tryLock('k')).not.toBeNull();
  });

  it('extension and release never race: release waits for the extension in flight', async () => {
    const store = new ScriptedStore();
    const lock = createLock({ clock, events: bus, store, ttlMs: 300 });
    const gate = deferred<LockStoreExtend>();
    store.extendAnswer = () => gate.promise;
    const lease = (await lock.tryLock('k')) as Lease;
    const extending = lease.extend(600);
    const releasing = lease.release();
    await clock.flush();
    expect(store.log).toEqual(['acquire', 'extend:start']);
    gate.resolve('extended');
    expect(await releasing).toBe('released');
    expect(await extending).toBe(false); // release began first: the extension no longer counts
    expect(store.log).toEqual(['acquire', 'extend:start', 'extend:extended', 'release:start', 'release:released']);
    expect(await lease.extend()).toBe(false);
  });

  it('a store that throws or rejects: tryLock rejects store_unavailable, release says unconfirmed, nothing leaks', async () => {
    const store = new ScriptedStore();
    const lock = createLock({ clock, events: bus, store });
    const lease = (await lock.tryLock('k')) as Lease;
    store.releaseAnswer = () => {
      throw new Error('down');
    };
    expect(await lease.release()).toBe('unconfirmed');
    const broken: LockStore = {
      kind: 'broken',
      drift: () => 0,
      acquire: () => {
        throw new Error('sync throw');
      },
      extend: () => Promise.reject(new Error('x')),
      release: () => Promise.reject(new Error('x')),
    };
    const other = createLock({ clock, store: broken });
    const error = await other.tryLock('k').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'LOCK_NOT_ACQUIRED', reason: 'store_unavailable' });
    expect((error as Error).cause).toMatchObject({ message: 'sync throw' });
    await expect(other.acquire('k')).rejects.toMatchObject({ reason: 'store_unavailable', attempts: 1 });
  });

  it('a listener that throws changes no outcome', async () => {
    const errors: unknown[] = [];
    const loud = createEventBus({ onUnhandledListenerError: (e) => errors.push(e) });
    loud.on('*', () => {
      throw new Error('listener');
    });
    const lock = createLock({ clock, events: loud });
    const lease = (await lock.tryLock('k')) as Lease;
    expect(await lock.tryLock('k')).toBeNull();
    expect(await lease.release()).toBe('released');
    expect(errors.length).toBe(4); // core.instance_tracked, acquired, contended, released
  });

  it('N contenders x M rounds: never two inside, fences strictly increase in grant order', async () => {
    const store = memoryLockStore();
    const locks = Array.from({ length: 6 }, () => createLock({ store, ttlMs: 1_000, retry: { delayMs: 1 } }));
    const result = await runExclusion(locks, 'shared', 8, 1);
    expect(result.errors).toEqual([]);
    expect(result.overlaps).toBe(0);
    expect(result.entries).toBe(48);
    expect(strictlyIncreasing(result.fences)).toBe(true);
  });

  it('model: any interleaving of acquire, release, extend and time never has two valid holders; fences only grow', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('try' as const), who: fc.nat(3) }),
            fc.record({ op: fc.constant('release' as const), who: fc.nat(3) }),
            fc.record({ op: fc.constant('extend' as const), who: fc.nat(3), ms: fc.integer({ min: 1, max: 500 }) }),
            fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 400 }) }),
          ),
          { maxLength: 60 },
        ),
        async (ops) => {
          const c = createVirtualClock({ now: 0 });
          const store = memoryLockStore();
          const locks = [0, 1, 2, 3].map(() => createLock({ store, clock: c, ttlMs: 200 }));
          const leases: (Lease | null)[] = [null, null, null, null];
          let lastFence = -Infinity;
          for (const step of ops) {
            if (step.op === 'advance') await c.advance(step.ms);
            else if (step.op === 'try') {
              const lease = await (locks[step.who] as (typeof locks)[number]).tryLock('k');
              if (lease) {
                expect(lease.fence).toBeGreaterThan(lastFence);
                lastFence = lease.fence;
                leases[step.who] = lease;
              }
            } else if (step.op === 'release') await leases[step.who]?.release();
            else await leases[step.who]?.extend(step.ms);
            const valid = leases.filter((l) => l !== null && l.remainingMs() > 0);
            expect(valid.length).toBeLessThanOrEqual(1);
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('the memory store on the lock\'s synchronous path and through the LockStore interface', () => {
  /** The same memory store reached through the interface, answering synchronously or as promises. */
  const wrap = (inner: LockStore, async: boolean): LockStore => ({
    kind: async ? 'async-memory' : 'sync-memory',
    drift: () => 0,
    acquire: (r) => (async ? Promise.resolve(inner.acquire(r)) : inner.acquire(r)),
    extend: (r) => (async ? Promise.resolve(inner.extend(r)) : inner.extend(r)),
    release: (r) => (async ? Promise.resolve(inner.release(r)) : inner.release(r)),
  });
  type Step =
    | { op: 'try'; who: number; key: 'k' | 'j' }
    | { op: 'acquire'; who: number; key: 'k' | 'j' }
    | { op: 'release'; who: number }
    | { op: 'watch'; who: number }
    | { op: 'extend'; who: number; ms: number }
    | { op: 'advance'; ms: number; clocks: 'both' | 'first' | 'second' };
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ op: fc.constantFrom('try' as const, 'acquire' as const), who: fc.nat(3), key: fc.constantFrom('k' as const, 'k' as const, 'j' as const) }),
    fc.record({ op: fc.constantFrom('release' as const, 'watch' as const), who: fc.nat(3) }),
    // Times on a coarse grid (TTL 200), so grants, extensions and expiries often meet on the same instant.
    fc.record({ op: fc.constant('extend' as const), who: fc.nat(3), ms: fc.constantFrom(1, 50, 100, 200, 300) }),
    fc.record({ op: fc.constant('advance' as const), ms: fc.constantFrom(0, 1, 50, 100, 150, 200), clocks: fc.constantFrom('both' as const, 'first' as const, 'second' as const) }),
  );
  /** Which store each of the four locks talks to. */
  const flavours: Record<string, (store: LockStore) => LockStore[]> = {
    direct: (s) => [s, s, s, s],
    sync: (s) => [0, 1, 2, 3].map(() => wrap(s, false)),
    async: (s) => [0, 1, 2, 3].map(() => wrap(s, true)),
    mixed: (s) => [s, wrap(s, false), wrap(s, true), s],
  };

  /**
   * Runs the steps and returns everything observable: grants, fences, results, validity, signals,
   * stats. Locks 0 and 1 run on one clock, 2 and 3 on another; while the clocks disagree the store,
   * not the lease's own validity, decides whether an extension or a release still finds its grant.
   */
  async function trace(stores: (store: LockStore) => LockStore[], steps: readonly Step[]): Promise<string[]> {
    const clocks = [createVirtualClock({ now: 0 }), createVirtualClock({ now: 0 })] as const;
    const locks = stores(memoryLockStore()).map((store, i) => createLock({ store, clock: clocks[i >> 1] as VirtualClock, ttlMs: 200, retry: { attempts: 1 } }));
    const leases: (Lease | null)[] = [null, null, null, null];
    /** Leases whose signal was read (reading it arms the expiry timer, so only some are). */
    const watched = new Set<Lease>();
    const seen: string[] = [];
    const lastFence = { k: -Infinity, j: -Infinity };
    for (const s of steps) {
      if (s.op === 'advance') {
        if (s.clocks !== 'second') await clocks[0].advance(s.ms);
        if (s.clocks !== 'first') await clocks[1].advance(s.ms);
      } else if (s.op === 'try' || s.op === 'acquire') {
        const lock = locks[s.who] as Lock;
        const lease: Lease | string | null =
          s.op === 'try' ? await lock.tryLock(s.key) : await lock.acquire(s.key, { waitMs: 0 }).catch((e: { code?: string; reason?: string }) => `${e.code}/${e.reason}`);
        if (lease !== null && typeof lease === 'object') {
          expect(lease.fence).toBeGreaterThan(lastFence[s.key]); // whatever the clocks say
          lastFence[s.key] = lease.fence;
          leases[s.who] = lease;
          seen.push(`${s.op} ${s.who} ${s.key}: ${lease.fence}`);
        } else seen.push(`${s.op} ${s.who} ${s.key}: ${String(lease)}`);
      } else if (s.op === 'release') seen.push(`release ${s.who}: ${String(await leases[s.who]?.release())}`);
      else if (s.op === 'watch') {
        const lease = leases[s.who];
        if (lease) watched.add(lease);
      } else seen.push(`extend ${s.who}: ${String(await leases[s.who]?.extend(s.ms))}`);
      if (clocks[0].now() === clocks[1].now()) {
        const valid = leases.filter((l): l is Lease => l !== null && l.remainingMs() > 0);
        for (const key of ['k', 'j']) expect(valid.filter((l) => l.key === key).length).toBeLessThanOrEqual(1);
      }
      seen.push(leases.map((l) => (l === null ? '-' : `${l.remainingMs()}${watched.has(l) && l.signal.aborted ? '!' : ''}`)).join(' '));
    }
    seen.push(JSON.stringify(locks.map((l) => l.stats())));
    return seen;
  }

  it('answers exactly alike on the synchronous path, through the interface (sync and async), and mixed on one store', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 50, size: 'max' }), async (steps) => {
        const expected = await trace(flavours.direct as (store: LockStore) => LockStore[], steps);
        for (const name of ['sync', 'async', 'mixed']) {
          expect({ name, seen: await trace(flavours[name] as (store: LockStore) => LockStore[], steps) }).toEqual({ name, seen: expected });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a lease granted on the synchronous path is named by its fence: a later holder of the key is never extended or released by it', async () => {
    // Two clocks, so the store (not the lease's own validity) has to tell the grants apart: on
    // `ahead`'s clock the first grant has expired, on `clock` it has not.
    for (const name of ['fast path', 'interface'] as const) {
      const ahead = createVirtualClock({ now: clock.now() });
      const store = memoryLockStore();
      const second = createLock({ store: name === 'fast path' ? store : wrap(store, false), clock: ahead, ttlMs: 100 });
      const first = createLock({ store, clock, ttlMs: 100, events: bus });
      const a = (await first.tryLock('k')) as Lease;
      expect(await second.tryLock('k')).toBeNull();
      await ahead.advance(100);
      const b = (await second.tryLock('k')) as Lease;
      expect({ name, granted: b !== null }).toEqual({ name, granted: true });
      expect(b.fence).toBeGreaterThan(a.fence);
      expect(a.remainingMs()).toBe(100); // on its own clock
      expect(await a.extend()).toBe(false); // the store knows b's fence, not a's
      expect(a.signal.reason).toMatchObject({ reason: 'not_held' });
      expect(await a.release()).toBe('expired');
      expect(await second.tryLock('k')).toBeNull(); // b still holds it
      expect(await b.extend()).toBe(true);
      expect(await b.release()).toBe('released');
      const c = (await first.tryLock('k')) as Lease;
      expect(c.fence).toBeGreaterThan(b.fence);
      expect(await b.release()).toBe('released'); // idempotent: the first call's result
      expect(await first.tryLock('k')).toBeNull(); // b's second release did not free c
      expect(await c.release()).toBe('released');
    }
  });

  it('an aborted signal asks nothing of the memory store: no grant, nothing counted', async () => {
    const store = memoryLockStore();
    const lock = createLock({ store, clock, events: bus });
    const controller = new AbortController();
    controller.abort(new Error('caller gave up'));
    await expect(lock.tryLock('k', { signal: controller.signal })).rejects.toThrow('caller gave up');
    await expect(lock.acquire('k', { signal: controller.signal })).rejects.toThrow('caller gave up');
    await expect(lock.withLock('k', () => 1, { signal: controller.signal })).rejects.toThrow('caller gave up');
    expect(lock.stats()).toMatchObject({ held: 0, acquired: 0, failed: 0 });
    expect(of('lock.acquired')).toEqual([]);
    expect(await createLock({ store, clock }).tryLock('k')).not.toBeNull();
  });

  it('released and expired keys are reused and swept: thousands of keys still exclude and fence correctly', async () => {
    const store = memoryLockStore();
    const lock = createLock({ store, clock, ttlMs: 100 });
    const other = createLock({ store: wrap(store, false), clock, ttlMs: 100 });
    let last = 0;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 2_500; i++) {
        const lease = (await lock.tryLock(`key:${i}`)) as Lease;
        expect(lease.fence).toBeGreaterThan(last);
        last = lease.fence;
        if (i % 3 !== 0) expect(await lease.release()).toBe('released'); // every third one expires unreleased
      }
      expect(await other.tryLock('key:0')).toBeNull(); // still held: a sweep never drops a live entry
      await clock.advance(100);
    }
    expect(await other.tryLock('key:0')).not.toBeNull();
  });
});

describe('createSemaphore on the memory store', () => {
  it('admits at most limit holders per key and reclaims expired ones', async () => {
    const sem = createSemaphore({ name: 's', limit: 2, clock, ttlMs: 1_000, events: bus });
    const a = (await sem.tryAcquire('k')) as Lease;
    const b = (await sem.tryAcquire('k')) as Lease;
    expect(await sem.tryAcquire('k')).toBeNull();
    expect(await sem.tryAcquire('other')).not.toBeNull();
    expect(b.fence).toBeGreaterThan(a.fence);
    expect(await a.release()).toBe('released');
    const c = (await sem.tryAcquire('k')) as Lease;
    expect(c.fence).toBeGreaterThan(b.fence);
    await clock.advance(1_000); // b and c expire without a release
    expect(await sem.tryAcquire('k')).not.toBeNull();
    expect(await sem.tryAcquire('k')).not.toBeNull();
    expect(await b.release()).toBe('expired');
  });

  it('acquire waits for a slot; extend keeps one past its TTL', async () => {
    const sem = createSemaphore({ limit: 1, clock, ttlMs: 500, retry: { delayMs: 50 } });
    const a = (await sem.tryAcquire('k')) as Lease;
    const waiting = sem.acquire('k', { waitMs: 2_000 });
    await clock.advance(400);
    expect(await a.extend()).toBe(true);
    await clock.advance(400);
    expect(a.remainingMs()).toBe(100);
    await a.release();
    await clock.advance(100);
    expect((await waiting).fence).toBeGreaterThan(a.fence);
  });

  it('concurrent holders never exceed the limit (random schedules)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(fc.tuple(fc.nat(5), fc.boolean(), fc.integer({ min: 0, max: 300 })), { maxLength: 40 }), async (limit, steps) => {
        const c = createVirtualClock({ now: 0 });
        const sem = createSemaphore({ limit, clock: c, ttlMs: 250 });
        const held: (Lease | null)[] = Array.from({ length: 6 }, () => null);
        for (const [who, take, ms] of steps) {
          if (take) held[who] ??= await sem.tryAcquire('k');
          else {
            await held[who]?.release();
            held[who] = null;
          }
          await c.advance(ms);
          expect(held.filter((l) => l !== null && l.remainingMs() > 0).length).toBeLessThanOrEqual(limit);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('validation', () => {
  it('rejects bad options with INVALID_OPTIONS naming the option (fuzzed)', () => {
    const bad = fc.oneof(fc.constant(NaN), fc.constant(-1), fc.constant(Infinity), fc.constant(0.5), fc.string(), fc.constant(null), fc.object());
    fc.assert(
      fc.property(bad, (value) => {
        for (const option of ['ttlMs']) {
          expect(() => createLock({ [option]: value } as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', option }));
        }
        if (!(typeof value === 'number' && value > 1)) {
          expect(() => createSemaphore({ limit: value } as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', option: 'limit' }));
        }
      }),
    );
    expect(() => createLock({ ttl: 5 } as never)).toThrow(expect.objectContaining({ option: 'ttl' }));
    expect(() => createLock({ retry: { jitter: 2 } })).toThrow(expect.objectContaining({ option: 'retry.jitter' }));
    expect(() => createLock({ retry: { attempts: 0 } })).toThrow(expect.objectContaining({ option: 'retry.attempts' }));
    expect(() => createLock({ store: {} as never })).toThrow(expect.objectContaining({ option: 'store' }));
    expect(() => createLock({ waitMs: -1 })).toThrow(expect.objectContaining({ option: 'waitMs' }));
    expect(() => createLock({ name: '' })).toThrow(expect.objectContaining({ option: 'name' }));
  });

  it('never reads options inherited from Object.prototype', async () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.ttlMs = -5;
    try {
      const lock = createLock({ clock });
      expect((await lock.tryLock('k', {}))?.remainingMs()).toBe(30_000);
    } finally {
      delete proto.ttlMs;
    }
  });

  it('rejects bad keys and per-call options at the call, fuzzed', async () => {
    const lock = createLock({ clock });
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constant(''), fc.integer(), fc.constant(null), fc.constant(undefined), fc.object()), async (key) => {
        await expect(lock.tryLock(key as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'key' });
        await expect(lock.acquire(key as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'key' });
      }),
    );
    await expect(lock.tryLock('k', { ttlMs: 0 })).rejects.toMatchObject({ option: 'ttlMs' });
    await expect(lock.acquire('k', { waitMs: NaN })).rejects.toMatchObject({ option: 'waitMs' });
    await expect(lock.acquire('k', { signal: {} as never })).rejects.toMatchObject({ option: 'signal' });
    await expect(lock.withLock('k', 5 as never)).rejects.toMatchObject({ option: 'fn' });
    await expect(lock.withLock('k', () => 1, { maxHoldMs: 0 })).rejects.toMatchObject({ option: 'maxHoldMs' });
    await expect(lock.withLock('k', () => 1, { autoExtend: 'yes' as never })).rejects.toMatchObject({ option: 'autoExtend' });
    const lease = (await lock.tryLock('k')) as Lease;
    await expect(lease.extend(-1)).rejects.toMatchObject({ option: 'ms' });
  });

  it('hostile keys are distinct locks in memory (fuzzed)', async () => {
    const lock = createLock({ clock });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.string({ minLength: 1, unit: 'binary' }), { minLength: 2, maxLength: 8 }), async (keys) => {
        const leases = await Promise.all(keys.map((k) => lock.tryLock(k)));
        expect(leases.every((l) => l !== null)).toBe(true);
        await Promise.all(leases.map((l) => l?.release()));
      }),
    );
  });
});
