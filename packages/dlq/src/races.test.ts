// "Nothing is lost, nothing is held twice": regression tests for races found in review, on the
// memory store and on stores whose calls the test holds open or fails.
import { createEventBus, isXError } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { deferred } from '@x/test-support';
import type { Deferred } from '@x/test-support';
import { describe, expect, it } from 'vitest';
import { createDeadLetterQueue, memoryDlqStore } from './index.js';
import type { ClaimResult, DeadLetterQueue, DeadLetterStore, QueueStore, StoreAddOutcome } from './index.js';
import { queueHarness, settle, until } from './test-contract.js';

const { open, setup } = queueHarness({ ignoreCloseErrors: true });

/**
 * A memory store whose `add` and `claim` calls the test can hold open (`holdAdds`, `holdClaims`)
 * and then let through or fail, one call at a time.
 */
function heldStore() {
  const inner = memoryDlqStore();
  const control = {
    holdAdds: false,
    holdClaims: false,
    adds: [] as Array<{ gate: Deferred<void>; run: () => Promise<StoreAddOutcome> }>,
    claims: [] as Array<{ gate: Deferred<void> }>,
  };
  const store: DeadLetterStore = {
    kind: 'held',
    bind(context) {
      const bound = inner.bind(context);
      const wrapped: QueueStore = Object.create(bound) as QueueStore;
      wrapped.add = (...args) => {
        if (!control.holdAdds) return bound.add(...args);
        const gate = deferred<void>();
        control.adds.push({ gate, run: () => bound.add(...args) });
        return gate.promise.then(() => bound.add(...args));
      };
      wrapped.claim = (...args): Promise<ClaimResult> => {
        if (!control.holdClaims) return bound.claim(...args);
        const gate = deferred<void>();
        control.claims.push({ gate });
        return gate.promise.then(() => bound.claim(...args));
      };
      for (const method of ['complete', 'reschedule', 'bury', 'get', 'list', 'revive', 'discard', 'sizes', 'close'] as const) {
        (wrapped as unknown as Record<string, unknown>)[method] = (bound[method] as (...a: unknown[]) => unknown).bind(bound);
      }
      return wrapped;
    },
  };
  return { store, control };
}

describe('overflow and the local buffer', () => {
  it("with onStoreError 'buffer', a full queue still rejects with DLQ_FULL: the item is not buffered, counted once, never a store error", async () => {
    const { dlq, of } = setup({ maxSize: 1, onStoreError: 'buffer' });
    await dlq.add('a');
    const error = await dlq.add('b').catch((e: unknown) => e);
    expect(isXError(error, 'DLQ_FULL')).toBe(true);
    expect(dlq.snapshot.buffered).toBe(0);
    expect(dlq.snapshot.totals.storeErrors).toBe(0);
    // A later add (which flushes the buffer) must not record or count 'b' again.
    await dlq.add('c').catch(() => undefined);
    expect(of('dlq.dropped').filter((e) => e.item === 'b')).toHaveLength(1);
    expect((await dlq.list({ state: 'pending' })).items.map((r) => r.item)).toEqual(['a']);
  });

  it('an add whose store call fails while close() runs is not left in the buffer of the closed queue: close tries it once and reports it dropped (closed)', async () => {
    const { store, control } = heldStore();
    const { dlq, of } = setup({ store, onStoreError: 'buffer' });
    control.holdAdds = true;
    const adding = dlq.add('late').then(
      (id) => ({ id }),
      (error: unknown) => ({ error }),
    );
    await until(() => control.adds.length === 1);
    const closing = dlq.close();
    await settle(5);
    // The store call fails after close began (a Redis timeout, say), and the store stays down.
    control.adds[0]!.gate.reject(new Error('store down'));
    control.adds.length = 0;
    const failing = setInterval(() => control.adds.splice(0).forEach((a) => a.gate.reject(new Error('still down'))), 1);
    try {
      await adding;
      await closing;
    } finally {
      clearInterval(failing);
    }
    expect(of('dlq.dropped').filter((e) => e.item === 'late')).toMatchObject([{ reason: 'closed' }]);
    expect(dlq.snapshot.buffered).toBe(0);
    expect(dlq.snapshot.totals.dropped.closed).toBe(1);
  });

});

describe('closing', () => {
  it('close() without drain does not count the aborted attempt: an item on its last attempt stays pending, not dead', async () => {
    const { dlq, clock, of } = setup({
      maxAttempts: 1,
      backoff: () => 0,
      process: (_item, { signal }) =>
        new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true })),
    });
    const id = await dlq.add('x');
    dlq.start();
    await clock.advance(0);
    await until(async () => (await dlq.get(id))?.inFlight === true);
    await dlq.close();
    expect(of('dlq.dead')).toEqual([]);
    expect(dlq.snapshot.totals.dead).toBe(0);
  });

  it('items claimed by a poll still in flight when stop() or close() returns are handed back, not processed after it', async () => {
    const { store, control } = heldStore();
    const processed: unknown[] = [];
    const events = createEventBus();
    const clock = createVirtualClock({ now: 0 });
    const dlq = createDeadLetterQueue<string>({ name: 'q', store, clock, events, backoff: () => 0, process: (item) => void processed.push(item) });
    open.push(dlq as DeadLetterQueue<unknown>);
    await dlq.add('x');
    control.holdClaims = true;
    dlq.start();
    await until(() => control.claims.length === 1);
    const stopping = dlq.stop();
    control.holdClaims = false;
    control.claims[0]!.gate.resolve();
    await stopping;
    await settle();
    expect(processed).toEqual([]);
    // Handed back, not held by a stopped worker: another queue on the store takes it at once.
    const other = createDeadLetterQueue<string>({ name: 'q', store, clock, events: createEventBus(), backoff: () => 0, process: (item) => void processed.push(item) });
    open.push(other as DeadLetterQueue<unknown>);
    other.start();
    await until(() => processed.length === 1);
    expect(processed).toEqual(['x']);
    const record = await other.list({ state: 'pending' });
    expect(record.items).toEqual([]);
  });
});
