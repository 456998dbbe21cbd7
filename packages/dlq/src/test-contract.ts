// The behaviour every store must give a queue: run against the memory store and the Redis store.
import { createEventBus, isXError, systemClock } from '@x/core';
import type { EventBus, XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import type { VirtualClock } from '@x/core/testing';
import { deferred } from '@x/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import { PermanentFailureError, createDeadLetterQueue } from './index.js';
import type { DeadLetterQueue, DeadLetterQueueOptions, DeadLetterStore } from './index.js';

/** Makes a fresh, empty store for one test (a new key prefix on Redis). */
export type StoreFactory = () => DeadLetterStore;

/** Waits (real time) until `check` holds; store I/O is real even when the queue's clock is virtual. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Lets store I/O in flight finish (a few real milliseconds), without moving a virtual clock. */
export const settle = (ms = 25) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Queues for one test file (or suite): `setup(options)` makes a queue on a virtual clock starting
 * at `now`, with a bus whose events it records (`seen`, `of(type)`) and a 1 s backoff; every queue
 * in `open` is closed after each test (close errors ignored with `ignoreCloseErrors`, for tests
 * that break their store on purpose). `base` adds options to every queue (before the test's own).
 */
export function queueHarness(
  o: { now?: number; base?: () => DeadLetterQueueOptions<unknown>; ignoreCloseErrors?: boolean } = {},
): {
  open: DeadLetterQueue<unknown>[];
  setup<T = unknown>(
    options?: DeadLetterQueueOptions<T>,
  ): { dlq: DeadLetterQueue<T>; clock: VirtualClock; events: EventBus; seen: XEvent[]; of(type: string): Record<string, unknown>[] };
} {
  const open: DeadLetterQueue<unknown>[] = [];
  afterEach(async () => {
    for (const q of open.splice(0)) await (o.ignoreCloseErrors === true ? q.close().catch(() => undefined) : q.close());
  });
  function setup<T = unknown>(options: DeadLetterQueueOptions<T> = {}) {
    const clock = createVirtualClock({ now: o.now ?? 0 });
    const events = createEventBus();
    const seen: XEvent[] = [];
    events.on('*', (e) => seen.push(e));
    const dlq = createDeadLetterQueue<T>({ name: 'q', clock, events, backoff: () => 1_000, ...(o.base?.() as DeadLetterQueueOptions<T>), ...options });
    open.push(dlq as DeadLetterQueue<unknown>);
    return { dlq, clock, events, seen, of: (type: string) => seen.filter((e) => e.type === type) as unknown as Record<string, unknown>[] };
  }
  return { open, setup };
}

export function contractSuite(label: string, makeStore: StoreFactory): void {
  describe(`${label}: queue contract`, () => {
    const { open, setup } = queueHarness({ now: 1_000_000, base: () => ({ name: 'orders', store: makeStore() }) });

    it('records the item with its failure metadata (name, code, message, stack, source, first and last failure)', async () => {
      const { dlq, clock } = setup<{ sku: string }>();
      const error = Object.assign(new TypeError('warehouse said no'), { code: 'E_NO' });
      const id = await dlq.add({ sku: 'a-1' }, { error, key: 'order:7', meta: { region: 'eu' }, source: 'checkout' });
      const record = await dlq.get(id);
      expect(record).toMatchObject({
        id,
        item: { sku: 'a-1' },
        state: 'pending',
        inFlight: false,
        key: 'order:7',
        meta: { region: 'eu' },
        attempts: 0,
        addedAt: clock.now(),
        dueAt: clock.now() + 1_000,
        failure: { name: 'TypeError', code: 'E_NO', message: 'warehouse said no', source: 'checkout', firstFailedAt: clock.now(), lastFailedAt: clock.now() },
      });
      expect(record?.failure.stack).toContain('warehouse said no');
      expect(await dlq.get('999999')).toBeUndefined();
    });

    it('records thrown non-errors (strings, null, objects with throwing getters) without failing', async () => {
      const { dlq } = setup();
      const hostile = Object.defineProperty({}, 'message', { get: () => { throw new Error('getter'); } });
      for (const error of ['plain string', null, undefined, 42, hostile]) {
        const id = await dlq.add('x', { error });
        expect((await dlq.get(id))?.failure.message).toBeTypeOf('string');
      }
    });

    it('de-duplicates add by idempotency key until the item is processed', async () => {
      const processed: unknown[] = [];
      const { dlq, clock, of } = setup({ process: (item) => void processed.push(item) });
      const first = await dlq.add('a', { idempotencyKey: 'k1' });
      const second = await dlq.add('a again', { idempotencyKey: 'k1' });
      expect(second).toBe(first);
      expect((await dlq.stats()).pending).toBe(1);
      expect(of('dlq.recorded').map((e) => e.duplicate)).toEqual([false, true]);
      dlq.start();
      await clock.advance(1_000);
      await until(() => processed.length === 1);
      await until(async () => (await dlq.stats()).pending === 0);
      const third = await dlq.add('b', { idempotencyKey: 'k1' });
      expect(third).not.toBe(first);
      expect(dlq.snapshot.totals).toMatchObject({ recorded: 2, duplicates: 1, succeeded: 1 });
    });

    it('concurrent adds (sent together) with one idempotency key store one item and all get its id', async () => {
      const { dlq } = setup();
      const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => dlq.add(i, { idempotencyKey: i % 2 === 1 ? 'odd' : 'even' })));
      expect(new Set(ids).size).toBe(2);
      expect(ids.filter((id) => id === ids[0])).toHaveLength(20);
      expect((await dlq.stats()).pending).toBe(2);
      expect(dlq.snapshot.totals).toMatchObject({ recorded: 2, duplicates: 38 });
    });

    it('waits backoff(failures) before each attempt on the clock, then keeps the item dead after maxAttempts', async () => {
      const times: number[] = [];
      const { dlq, clock, of } = setup({
        maxAttempts: 3,
        backoff: (failures) => failures * 1_000,
        process: () => {
          times.push(clock.now());
          throw new Error('still down');
        },
      });
      const start = clock.now();
      const id = await dlq.add({ n: 1 }, { error: new Error('first') });
      dlq.start();
      await settle();
      await clock.advance(999);
      await settle();
      expect(times).toEqual([]);
      await clock.advance(1);
      await until(() => times.length === 1);
      await until(() => of('dlq.retry_scheduled').length === 1);
      await clock.advance(1_999);
      await settle();
      expect(times.length).toBe(1);
      await clock.advance(1);
      await until(() => times.length === 2);
      await until(() => of('dlq.retry_scheduled').length === 2);
      await clock.advance(3_000);
      await until(() => times.length === 3);
      await until(() => of('dlq.dead').length === 1);
      expect(times).toEqual([start + 1_000, start + 3_000, start + 6_000]);
      const record = await dlq.get(id);
      expect(record).toMatchObject({ state: 'dead', attempts: 3, failure: { message: 'still down', source: 'worker', firstFailedAt: start, lastFailedAt: start + 6_000 } });
      expect(of('dlq.dead')[0]).toMatchObject({ id, attempts: 3, reason: 'max_attempts' });
      await clock.advance(60_000);
      await settle();
      expect(times.length).toBe(3);
      expect(await dlq.stats()).toMatchObject({ pending: 0, dead: 1, totals: { attempts: 3, dead: 1 } });
    });

    it('sends an item whose error is permanent straight to dead', async () => {
      let calls = 0;
      const { dlq, clock, of } = setup({
        maxAttempts: 10,
        process: () => {
          calls++;
          throw new PermanentFailureError(new Error('malformed'));
        },
      });
      const id = await dlq.add('bad');
      dlq.start();
      await clock.advance(1_000);
      await until(() => of('dlq.dead').length === 1);
      expect(calls).toBe(1);
      expect(await dlq.get(id)).toMatchObject({ state: 'dead', attempts: 1, failure: { message: 'malformed' } });
      expect(of('dlq.dead')[0]).toMatchObject({ reason: 'permanent' });
    });

    it("overflow 'reject': refuses the item with DLQ_FULL, counts and emits it", async () => {
      const { dlq, of } = setup({ maxSize: 2 });
      await dlq.add(1);
      await dlq.add(2);
      const error = await dlq.add(3).catch((e: unknown) => e);
      expect(isXError(error, 'DLQ_FULL')).toBe(true);
      expect(of('dlq.dropped')).toMatchObject([{ reason: 'rejected', item: 3 }]);
      expect((await dlq.stats()).pending).toBe(2);
      expect(dlq.snapshot.totals.dropped.rejected).toBe(1);
    });

    it("overflow 'drop-oldest': makes room by dropping the oldest item, counted and emitted with the item", async () => {
      const { dlq, of } = setup({ maxSize: 2, overflow: 'drop-oldest' });
      const a = await dlq.add('a');
      const b = await dlq.add('b');
      const c = await dlq.add('c');
      expect(of('dlq.dropped')).toMatchObject([{ reason: 'drop_oldest', id: a, item: 'a' }]);
      expect(await dlq.get(a)).toBeUndefined();
      expect((await dlq.list({ state: 'pending' })).items.map((r) => r.id)).toEqual([b, c]);
      expect(dlq.snapshot.totals.dropped.drop_oldest).toBe(1);
    });

    it('lists pending and dead items page by page with a cursor', async () => {
      const { dlq } = setup();
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push(await dlq.add({ i }));
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await dlq.list({ state: 'pending', limit: 3, ...(cursor !== undefined && { cursor }) });
        seen.push(...page.items.map((r) => r.id));
        cursor = page.cursor;
        pages++;
      } while (cursor !== undefined);
      expect(seen).toEqual(ids);
      expect(pages).toBe(3);
      expect((await dlq.list({ state: 'dead' })).items).toEqual([]);
    });

    it('retry(id) moves a dead item back with its attempts reset; discard(id) deletes', async () => {
      let fail = true;
      const done: unknown[] = [];
      const { dlq, clock, of } = setup({
        maxAttempts: 1,
        process: (item) => {
          if (fail) throw new Error('no');
          done.push(item);
        },
      });
      const id = await dlq.add('x');
      const other = await dlq.add('y');
      dlq.start();
      await clock.advance(1_000);
      await until(() => of('dlq.dead').length === 2);
      fail = false;
      expect(await dlq.retry(id)).toBe(true);
      await clock.advance(0);
      await until(() => done.length === 1);
      expect(done).toEqual(['x']);
      await until(async () => (await dlq.get(id)) === undefined);
      expect(await dlq.discard(other)).toBe(true);
      expect(await dlq.discard(other)).toBe(false);
      expect(await dlq.retry(other)).toBe(false);
      expect(await dlq.stats()).toMatchObject({ pending: 0, dead: 0, totals: { revived: 1, discarded: 1 } });
    });

    it('redrive moves filtered, transformed dead items back at the given rate, with progress events', async () => {
      const { dlq, clock, of } = setup<{ n: number; fixed?: boolean }>({ maxAttempts: 1, process: () => Promise.reject(new Error('down')) });
      for (let n = 0; n < 12; n++) await dlq.add({ n });
      dlq.start();
      await clock.advance(1_000);
      await until(() => of('dlq.dead').length === 12);
      await dlq.stop();
      const moves: number[] = [];
      const pending = dlq.redrive({
        filter: (r) => r.item.n % 2 === 0,
        transform: (r) => ({ ...r.item, fixed: true }),
        ratePerSecond: 2,
      });
      const started = clock.now();
      // 6 items at 2 per second: moved at 0, 500, ..., 2500 ms.
      for (let t = 0; t < 6; t++) {
        await until(async () => (await dlq.stats()).pending === t + 1, 5_000, `move ${t + 1}`);
        moves.push(clock.now() - started);
        await clock.advance(500);
      }
      const result = await pending;
      expect(result).toEqual({ scanned: 12, moved: 6, skipped: 6, failed: 0, aborted: false });
      expect(moves).toEqual([0, 500, 1_000, 1_500, 2_000, 2_500]);
      const pendingItems = (await dlq.list({ state: 'pending' })).items;
      expect(pendingItems.map((r) => r.item)).toEqual([0, 2, 4, 6, 8, 10].map((n) => ({ n, fixed: true })));
      expect(pendingItems.every((r) => r.attempts === 0 && r.revived === 1)).toBe(true);
      const progress = of('dlq.redrive_progress');
      expect(progress[progress.length - 1]).toMatchObject({ done: true, moved: 6, skipped: 6 });
    });

    it('redrive stops when its signal aborts and says so', async () => {
      const { dlq, clock, of } = setup({ maxAttempts: 1, process: () => Promise.reject(new Error('down')) });
      for (let n = 0; n < 5; n++) await dlq.add(n);
      dlq.start();
      await clock.advance(1_000);
      await until(() => of('dlq.dead').length === 5);
      await dlq.stop();
      const controller = new AbortController();
      const pending = dlq.redrive({ ratePerSecond: 1, signal: controller.signal });
      await until(async () => (await dlq.stats()).pending === 1);
      controller.abort();
      const result = await pending;
      expect(result).toMatchObject({ moved: 1, aborted: true });
      expect((await dlq.stats()).dead).toBe(4);
    });

    it('processes items due at the same time in the order they were added (one worker)', async () => {
      const order: unknown[] = [];
      const { dlq, clock } = setup({ concurrency: 1, process: (item) => void order.push(item) });
      for (let i = 0; i < 20; i++) await dlq.add(i);
      dlq.start();
      await clock.advance(1_000);
      await until(() => order.length === 20);
      expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
    });

    it('rejects items JSON cannot represent and hostile keys with DLQ_INVALID_ITEM, storing nothing', async () => {
      const { dlq } = setup();
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      for (const item of [10n, cyclic, undefined, () => 1, Symbol('s')]) {
        const error = await dlq.add(item).catch((e: unknown) => e);
        expect(isXError(error, 'DLQ_INVALID_ITEM')).toBe(true);
      }
      for (const key of [42, '', 'x'.repeat(5_000), {}, null]) {
        expect(isXError(await dlq.add('ok', { key: key as never }).catch((e: unknown) => e), 'DLQ_INVALID_ITEM')).toBe(true);
        expect(isXError(await dlq.add('ok', { idempotencyKey: key as never }).catch((e: unknown) => e), 'DLQ_INVALID_ITEM')).toBe(true);
      }
      expect(isXError(await dlq.add('ok', { meta: [1] as never }).catch((e: unknown) => e), 'DLQ_INVALID_ITEM')).toBe(true);
      expect(isXError(await dlq.add('ok', { colour: 'red' } as never).catch((e: unknown) => e), 'INVALID_OPTIONS')).toBe(true);
      for (const id of ['abc', '1:2', '', 7, '{x}']) {
        expect(isXError(await dlq.get(id as never).catch((e: unknown) => e), 'DLQ_INVALID_ITEM')).toBe(true);
      }
      expect((await dlq.stats()).pending).toBe(0);
    });

    it('keeps hostile keys verbatim and distinct (braces, colons, newlines, lone surrogates)', async () => {
      const { dlq } = setup();
      const keys = ['a:b', 'a}b{', '{tag}', 'line\nbreak', '\ud800', '\udc00x', 'a%3Ab', '*', ''.padEnd(3000, 'k')];
      const ids: string[] = [];
      for (const key of keys) ids.push(await dlq.add({ key }, { key, idempotencyKey: key }));
      expect(new Set(ids).size).toBe(keys.length);
      for (let i = 0; i < keys.length; i++) {
        const record = await dlq.get(ids[i] as string);
        expect(record?.key).toBe(keys[i]);
        expect(record?.idempotencyKey).toBe(keys[i]);
      }
      for (const key of keys) expect(await dlq.add('again', { idempotencyKey: key })).toBe(ids[keys.indexOf(key)]);
    });

    it("overflow 'drop-oldest' never drops an item a worker is processing: the oldest waiting one makes room", async () => {
      const gate = deferred<void>();
      const processed: unknown[] = [];
      const { dlq, clock, of } = setup<string>({
        maxSize: 2,
        overflow: 'drop-oldest',
        concurrency: 1,
        backoff: () => 0,
        process: async (item) => {
          if (item === 'a') await gate.promise;
          processed.push(item);
        },
      });
      const a = await dlq.add('a');
      dlq.start();
      await until(async () => (await dlq.get(a))?.inFlight === true);
      await clock.advance(10);
      const b = await dlq.add('b');
      await dlq.add('c'); // full: one of a (in flight) and b (waiting) must go
      gate.resolve();
      await until(() => processed.length >= 2);
      await settle();
      const dropped = of('dlq.dropped').map((e) => e.id);
      expect(dropped).toEqual([b]);
      // Every item ends in exactly one place: processed, or dropped.
      expect(processed.sort()).toEqual(['a', 'c']);
      expect(dlq.snapshot.totals.succeeded).toBe(2);
    });

    it('redrive does not overwrite an item that left the dead state meanwhile (retried and rescheduled): counted as skipped, its record kept', async () => {
      let failures = 0;
      const { dlq, clock, of } = setup<{ n: number }>({
        maxAttempts: 1,
        backoff: () => 0,
        process: () => {
          failures++;
          throw new Error(`down ${failures}`);
        },
      });
      const a = await dlq.add({ n: 1 });
      const b = await dlq.add({ n: 2 });
      dlq.start();
      await clock.advance(0);
      await until(() => of('dlq.dead').length === 2);
      await dlq.stop();
      // Redrive at 1 per second: a moves at once, b waits a second.
      const redriving = dlq.redrive({ ratePerSecond: 1, transform: (r) => ({ n: r.item.n * 100 }) });
      await until(async () => (await dlq.get(a))?.state === 'pending');
      // Meanwhile an operator retries b and a worker fails it again: b is dead with a newer failure.
      expect(await dlq.retry(b)).toBe(true);
      dlq.start();
      await clock.advance(0);
      await until(async () => (await dlq.get(b))?.state === 'dead' && failures >= 3);
      await dlq.stop();
      const newer = await dlq.get(b);
      // ... and then moves back to pending by another retry, before the redrive reaches it.
      expect(await dlq.retry(b)).toBe(true);
      await clock.advance(1_000);
      const result = await redriving;
      expect(result).toMatchObject({ moved: 1, skipped: 1 });
      const now = await dlq.get(b);
      expect(now?.item).toEqual({ n: 2 });
      expect(now?.failure.message).toBe(newer?.failure.message);
      expect(now?.revived).toBe((newer?.revived ?? 0) + 1);
    });

    it('10 000 items with random failures: each ends processed or dead, exactly once, counted by idempotency key', async () => {
      const processed = new Map<string, number>();
      let seed = 42;
      const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
      const dlq = createDeadLetterQueue<{ k: string }>({
        name: 'tally',
        store: makeStore(),
        clock: systemClock,
        events: createEventBus(),
        concurrency: 64,
        maxAttempts: 3,
        backoff: () => 0,
        pollIntervalMs: 20,
        process: (item) => {
          if (random() < 0.3) throw new Error('random failure');
          processed.set(item.k, (processed.get(item.k) ?? 0) + 1);
        },
      });
      open.push(dlq as DeadLetterQueue<unknown>);
      const N = 10_000;
      dlq.start();
      for (let i = 0; i < N; i += 64) {
        await Promise.all(Array.from({ length: Math.min(64, N - i) }, (_, j) => dlq.add({ k: `k${i + j}` }, { idempotencyKey: `k${i + j}` })));
      }
      await until(async () => {
        const s = await dlq.stats();
        return s.pending === 0;
      }, 40_000, 'the queue to drain');
      await dlq.stop();
      const dead = new Map<string, number>();
      let cursor: string | undefined;
      do {
        const page = await dlq.list({ state: 'dead', limit: 1_000, ...(cursor !== undefined && { cursor }) });
        for (const r of page.items) dead.set(r.idempotencyKey as string, (dead.get(r.idempotencyKey as string) ?? 0) + 1);
        cursor = page.cursor;
      } while (cursor !== undefined);
      let missing = 0;
      let twice = 0;
      for (let i = 0; i < N; i++) {
        const count = (processed.get(`k${i}`) ?? 0) + (dead.get(`k${i}`) ?? 0);
        if (count === 0) missing++;
        if (count > 1) twice++;
      }
      expect({ missing, twice }).toEqual({ missing: 0, twice: 0 });
      expect(processed.size + dead.size).toBe(N);
      expect(dead.size).toBeGreaterThan(0);
      const totals = dlq.snapshot.totals;
      expect(totals.succeeded).toBe(processed.size);
      expect(totals.dead).toBe(dead.size);
    }, 60_000);
  });
}
