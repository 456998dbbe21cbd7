import { InvalidOptionsError, XError, compose, isXError } from '@x/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDeadLetterQueue, defaultShouldDeadLetter, exponentialJitterBackoff, memoryDlqStore } from './index.js';
import type { DeadLetterQueue, DeadLetterStore, QueueStore } from './index.js';
import { queueHarness, settle, until } from './test-contract.js';

const { open, setup } = queueHarness();

/** A memory store whose `add` fails while `down` is true (a store outage). */
function flakyStore(): { store: DeadLetterStore; state: { down: boolean } } {
  const state = { down: false };
  const inner = memoryDlqStore();
  return {
    state,
    store: {
      kind: 'flaky',
      bind(context) {
        const bound = inner.bind(context);
        return new Proxy(bound, {
          get(target, key: keyof QueueStore) {
            const value = target[key];
            if (typeof value !== 'function' || key === 'close') return typeof value === 'function' ? value.bind(target) : value;
            return (...args: unknown[]) => (state.down ? Promise.reject(new Error('store down')) : (value as (...a: unknown[]) => unknown).apply(target, args));
          },
        });
      },
    },
  };
}

describe('wrap (Fluxus semantics)', () => {
  it('returns the value of a call that succeeds and records nothing', async () => {
    const { dlq } = setup<number>();
    const double = dlq.wrap(async (n: number) => n * 2);
    expect(await double(21)).toBe(42);
    expect((await dlq.stats()).pending).toBe(0);
  });

  it('records the item of a failed call, then rejects with the original error (the same object)', async () => {
    const { dlq, of } = setup<{ id: number }>();
    const original = new Error('payment gateway down');
    const pay = dlq.wrap((_order: { id: number }) => Promise.reject(original), { keyOf: (o: { id: number }) => `order:${o.id}`, idempotencyKeyOf: (o: { id: number }) => `pay-${o.id}` });
    const error = await pay({ id: 7 }).catch((e: unknown) => e);
    expect(error).toBe(original);
    const [record] = (await dlq.list({ state: 'pending' })).items;
    expect(record).toMatchObject({ item: { id: 7 }, key: 'order:7', idempotencyKey: 'pay-7', failure: { message: 'payment gateway down', source: 'wrap' } });
    expect(of('dlq.recorded')).toHaveLength(1);
    // Recorded before the rejection reached the caller.
    await pay({ id: 7 }).catch(() => undefined);
    expect((await dlq.stats()).pending).toBe(1);
  });

  it('turns a synchronous throw into a recorded rejection', async () => {
    const { dlq } = setup();
    const boom = dlq.wrap(() => {
      throw new TypeError('sync');
    });
    await expect(boom('x')).rejects.toThrow('sync');
    expect((await dlq.stats()).pending).toBe(1);
  });

  it('by default does not record caller aborts, BREAKER_OPEN or INVALID_OPTIONS', async () => {
    const { dlq } = setup();
    const abort = new DOMException('stop', 'AbortError');
    const open = new XError('BREAKER_OPEN', 'open');
    const invalid = new InvalidOptionsError('f', 'x', 1, 'a string');
    for (const error of [abort, open, invalid]) {
      expect(defaultShouldDeadLetter(error)).toBe(false);
      await expect(dlq.wrap(() => Promise.reject(error))('x')).rejects.toBe(error);
    }
    expect((await dlq.stats()).pending).toBe(0);
    expect(defaultShouldDeadLetter(new XError('TIMEOUT', 'slow'))).toBe(true);
  });

  it('records only what a custom shouldDeadLetter accepts; a throwing filter records nothing', async () => {
    const { dlq } = setup();
    const only500 = dlq.wrap((status: number) => Promise.reject(Object.assign(new Error('http'), { status })), {
      shouldDeadLetter: (e) => (e as { status: number }).status >= 500,
    });
    await only500(404).catch(() => undefined);
    await only500(503).catch(() => undefined);
    const throwing = dlq.wrap(() => Promise.reject(new Error('x')), {
      shouldDeadLetter: () => {
        throw new Error('filter bug');
      },
    });
    await expect(throwing(1)).rejects.toThrow('x');
    expect((await dlq.list({ state: 'pending' })).items.map((r) => r.item)).toEqual([503]);
  });

  it('a recording failure goes to onHandlerError and the item is kept and recorded by the next call', async () => {
    const { store, state } = flakyStore();
    const { dlq, of } = setup({ store });
    const handlerErrors: unknown[][] = [];
    const original = new Error('downstream');
    const call = dlq.wrap((n: number) => (n < 0 ? Promise.resolve(n) : Promise.reject(original)), {
      onHandlerError: (...args) => {
        handlerErrors.push(args);
        throw new Error('the logger itself fails'); // ignored
      },
    });
    state.down = true;
    await expect(call(1)).rejects.toBe(original);
    expect(handlerErrors).toHaveLength(1);
    expect(handlerErrors[0]?.[1]).toBe(1);
    expect(handlerErrors[0]?.[2]).toBe(original);
    expect((handlerErrors[0]?.[0] as Error).message).toBe('store down');
    expect(of('dlq.handler_error')).toMatchObject([{ buffered: true }]);
    expect(dlq.snapshot.buffered).toBe(1);
    state.down = false;
    await call(-1); // a later call (even a successful one) records what was kept
    await until(() => dlq.snapshot.buffered === 0);
    expect((await dlq.list({ state: 'pending' })).items.map((r) => r.item)).toEqual([1]);
    expect(of('dlq.recorded')).toMatchObject([{ fromBuffer: true }]);
  });

  it('an item that cannot be serialized is reported (event, onHandlerError, dropped count), never silent', async () => {
    const { dlq, of } = setup();
    const handler: unknown[] = [];
    const call = dlq.wrap((_n: bigint) => Promise.reject(new Error('x')), { onHandlerError: (e) => handler.push(e) });
    await expect(call(1n)).rejects.toThrow('x');
    expect(isXError(handler[0], 'DLQ_INVALID_ITEM')).toBe(true);
    expect(of('dlq.dropped')).toMatchObject([{ reason: 'unserializable' }]);
    expect(dlq.snapshot.totals.dropped.unserializable).toBe(1);
  });

  it('a full buffer drops the record with an event instead of growing without bound', async () => {
    const { store, state } = flakyStore();
    const { dlq, of } = setup({ store, bufferSize: 2 });
    state.down = true;
    const call = dlq.wrap((_n: number) => Promise.reject(new Error('x')));
    for (let i = 0; i < 3; i++) await call(i).catch(() => undefined);
    expect(dlq.snapshot.buffered).toBe(2);
    expect(of('dlq.dropped')).toMatchObject([{ reason: 'buffer_full', item: 2 }]);
  });
});

describe('stage (a Policy for compose)', () => {
  it('records the item when the composed call fails and rethrows; passes values through', async () => {
    const { dlq } = setup<{ sku: string }>();
    const item = { sku: 'a' };
    const policy = compose(dlq.stage(item));
    expect(await policy.execute(() => 5)).toBe(5);
    const error = new Error('erp down');
    await expect(policy.execute(() => Promise.reject(error))).rejects.toBe(error);
    expect(await policy.executeOutcome(() => Promise.reject(error))).toEqual({ ok: false, error });
    expect((await dlq.list({ state: 'pending' })).items.map((r) => r.item)).toEqual([item, item]);
  });

  it("does not record when the caller aborted the execution", async () => {
    const { dlq } = setup();
    const controller = new AbortController();
    controller.abort(new Error('user left'));
    await expect(dlq.stage('x').execute(() => Promise.reject(new Error('failed anyway')), { signal: controller.signal })).rejects.toThrow('failed anyway');
    expect((await dlq.stats()).pending).toBe(0);
  });
});

describe('workers', () => {
  it('start() without process throws INVALID_OPTIONS; start is idempotent', () => {
    const { dlq } = setup();
    expect(() => dlq.start()).toThrow(/process/);
    const { dlq: ok } = setup({ process: () => undefined });
    ok.start();
    ok.start();
  });

  it('runs no timer while idle (memory store) and one timer for the next due item', async () => {
    const { dlq, clock } = setup({ process: () => undefined });
    dlq.start();
    await settle(5);
    expect(clock.pendingTimers).toBe(0);
    await dlq.add(1);
    await settle(5);
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(1_000);
    await until(async () => (await dlq.stats()).pending === 0);
    await settle(5);
    expect(clock.pendingTimers).toBe(0);
  });

  it('never runs more than concurrency items at once', async () => {
    let running = 0;
    let peak = 0;
    const { dlq, clock } = setup({
      concurrency: 3,
      backoff: () => 0,
      process: async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 2));
        running--;
      },
    });
    for (let i = 0; i < 20; i++) await dlq.add(i);
    dlq.start();
    await clock.advance(0);
    await until(async () => (await dlq.stats()).pending === 0);
    expect(peak).toBe(3);
  });

  it('delivers again an item whose processor hangs past visibilityMs (attempt 2), and the late finish changes nothing', async () => {
    const attempts: number[] = [];
    let release: (() => void) | undefined;
    const { dlq, clock } = setup({
      visibilityMs: 5_000,
      backoff: () => 0,
      concurrency: 2,
      process: (_item, ctx) => {
        attempts.push(ctx.attempt);
        if (ctx.attempt === 1) return new Promise<void>((resolve) => (release = resolve));
        return undefined;
      },
    });
    await dlq.add('slow');
    dlq.start();
    await clock.advance(0);
    await until(() => attempts.length === 1);
    await clock.advance(4_999);
    expect(attempts).toEqual([1]);
    await clock.advance(1);
    await until(() => attempts.length === 2);
    expect(attempts).toEqual([1, 2]);
    await until(async () => (await dlq.stats()).pending === 0);
    release?.();
    await settle(5);
    expect(dlq.snapshot.totals.succeeded).toBe(1);
  });

  it('a processor that keeps crashing its worker is made dead once its deliveries use up maxAttempts', async () => {
    const { dlq, clock, of } = setup({ visibilityMs: 100, maxAttempts: 2, backoff: () => 0, concurrency: 5, process: () => new Promise(() => {}) });
    const id = await dlq.add('poison');
    dlq.start();
    await clock.advance(0);
    await clock.advance(100);
    await clock.advance(100);
    await until(() => of('dlq.dead').length === 1);
    expect(await dlq.get(id)).toMatchObject({ state: 'dead', attempts: 2 });
    // close() waits at most visibilityMs for processors that ignore their signal.
    open.splice(open.indexOf(dlq as DeadLetterQueue<unknown>), 1);
    const closing = dlq.close();
    await clock.advance(100);
    await closing;
  });

  it('stop() waits for running items; close({ drain: true }) processes everything due first', async () => {
    const done: number[] = [];
    const { dlq, clock } = setup<number>({
      backoff: () => 0,
      concurrency: 2,
      process: async (n) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        done.push(n);
      },
    });
    for (let i = 0; i < 10; i++) await dlq.add(i);
    await dlq.add(99).then(async (id) => {
      // One item not due yet: drain leaves it pending.
      await dlq.retry(id);
    });
    await clock.advance(0);
    await dlq.close({ drain: true });
    expect(done.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99]);
    expect(isXError(await dlq.add(1).catch((e: unknown) => e), 'DLQ_CLOSED')).toBe(true);
  });

  it('close() without drain aborts the running processors through ctx.signal', async () => {
    let signal: AbortSignal | undefined;
    const { dlq, clock } = setup({
      backoff: () => 0,
      process: (_item, ctx) =>
        new Promise((_resolve, reject) => {
          signal = ctx.signal;
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
        }),
    });
    await dlq.add('x');
    dlq.start();
    await clock.advance(0);
    await until(() => signal !== undefined);
    await dlq.close();
    expect(signal?.aborted).toBe(true);
    expect(isXError(signal?.reason, 'DLQ_CLOSED')).toBe(true);
  });

  it('a listener that throws never changes an outcome', async () => {
    const { dlq, events, clock } = setup({ backoff: () => 0, process: () => undefined });
    events.on('dlq.recorded', () => {
      throw new Error('listener bug');
    });
    events.on('dlq.succeeded', () => {
      throw new Error('listener bug');
    });
    await dlq.add(1);
    dlq.start();
    await clock.advance(0);
    await until(async () => (await dlq.stats()).pending === 0);
    expect(dlq.snapshot.totals.succeeded).toBe(1);
  });

  it('a backoff that throws or returns Infinity makes the item dead; NaN and negatives mean no wait', async () => {
    const delays = [Number.NaN, -5];
    let n = 0;
    const { dlq, clock, of } = setup({
      maxAttempts: 10,
      backoff: (failures) => {
        if (failures === 1) return 0;
        const d = delays[n++];
        if (d === undefined) throw new Error('backoff bug');
        return d;
      },
      process: () => Promise.reject(new Error('x')),
    });
    await dlq.add('a');
    dlq.start();
    await clock.advance(0);
    await until(() => of('dlq.dead').length === 1);
    expect(of('dlq.retry_scheduled').map((e) => e.delayMs)).toEqual([0, 0]);
    expect(of('dlq.dead')[0]).toMatchObject({ reason: 'never', attempts: 3 });
  });

  it('reports oldest ages and sizes in stats and snapshot', async () => {
    const { dlq, clock } = setup();
    await dlq.add(1);
    await clock.advance(5_000);
    await dlq.add(2);
    const stats = await dlq.stats();
    expect(stats).toMatchObject({ pending: 2, inFlight: 0, dead: 0, oldestPendingAgeMs: 5_000, oldestDeadAgeMs: 0 });
    await clock.advance(1_000);
    expect(dlq.snapshot.oldestPendingAgeMs).toBe(6_000);
  });
});

describe('options', () => {
  const bad: Array<[string, unknown]> = [
    ['maxAttempts', 0],
    ['maxAttempts', 1.5],
    ['maxAttempts', Number.NaN],
    ['maxSize', 0],
    ['maxSize', -1],
    ['concurrency', 0],
    ['concurrency', Infinity],
    ['visibilityMs', 0],
    ['visibilityMs', 2 ** 31],
    ['pollIntervalMs', -1],
    ['overflow', 'spill'],
    ['onStoreError', 'open'],
    ['bufferSize', -1],
    ['name', ''],
    ['store', {}],
    ['process', 'fn'],
    ['backoff', 5],
    ['isPermanent', true],
    ['clock', {}],
    ['events', {}],
    ['maxAtempts', 3],
  ];
  it.each(bad)('rejects %s = %s with INVALID_OPTIONS naming the option', (option, value) => {
    let error: unknown;
    try {
      createDeadLetterQueue({ [option]: value });
    } catch (e) {
      error = e;
    }
    expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
    expect((error as InvalidOptionsError).option).toBe(option);
  });

  it('accepts Infinity for maxAttempts and maxSize, and reads only own properties', () => {
    expect(() => createDeadLetterQueue({ maxAttempts: Infinity, maxSize: Infinity })).not.toThrow();
    const inherited = Object.create({ maxAttempts: -1 }) as object;
    expect(() => createDeadLetterQueue(inherited)).not.toThrow();
  });

  it('rejects any non-integer or out-of-range number for the numeric options (fuzzed)', () => {
    fc.assert(
      fc.property(fc.constantFrom('maxAttempts', 'maxSize', 'concurrency', 'visibilityMs', 'pollIntervalMs'), fc.oneof(fc.double({ noInteger: true, noDefaultInfinity: true }), fc.integer({ max: 0 }), fc.string(), fc.constant(-Infinity)), (option, value) => {
        expect(() => createDeadLetterQueue({ [option]: value })).toThrow(InvalidOptionsError);
      }),
      { numRuns: 200 },
    );
  });

  it('checks list, redrive and close options', async () => {
    const { dlq } = setup();
    await expect(dlq.list({ limit: 0 })).rejects.toThrow(/limit/);
    await expect(dlq.list({ state: 'all' as never })).rejects.toThrow(/state/);
    await expect(dlq.list({ cursor: 'x;DROP' })).rejects.toThrow(/cursor/);
    await expect(dlq.redrive({ ratePerSecond: 0 })).rejects.toThrow(/ratePerSecond/);
    await expect(dlq.redrive({ filter: 1 as never })).rejects.toThrow(/filter/);
    await expect(dlq.close({ drain: 'yes' as never })).rejects.toThrow(/drain/);
    expect(() => dlq.wrap(1 as never)).toThrow(/fn/);
    expect(() => dlq.wrap(() => 1, { onHandlerErr: () => {} } as never)).toThrow(/onHandlerErr/);
  });

  it('exponentialJitterBackoff stays in [0, min(maxMs, initialMs × 2^(n−1))) and validates its options', () => {
    const backoff = exponentialJitterBackoff({ initialMs: 100, maxMs: 1_000 });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2_000 }), fc.double({ min: 0, max: 0.999_999, noNaN: true }), (n, r) => {
        const d = backoff(n, 0, () => r);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(Math.min(1_000, 100 * 2 ** (n - 1)) + 1e-9);
      }),
    );
    expect(() => exponentialJitterBackoff({ initialMs: -1 })).toThrow(/initialMs/);
    expect(() => exponentialJitterBackoff({ multiplier: 0.5 })).toThrow(/multiplier/);
  });
});
