import { getEventListeners } from 'node:events';
import { createEventBus, sleep } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { heapUsed } from '@x/test-support';
import { describe, expect, it } from 'vitest';
import { createBulkhead } from './index.js';

describe('createBulkhead on a long-lived caller signal', () => {
  it('leaves no abort listeners, timers or retained memory after 100 000 executions', async () => {
    const controller = new AbortController();
    const signal = controller.signal;
    const clock = createVirtualClock();
    const events = createEventBus();
    // Listeners make every event get built, so their cost is in the measurement too.
    let admitted = 0;
    let timedOut = 0;
    events.on('bulkhead.admitted', () => admitted++);
    events.on('bulkhead.rejected', () => timedOut++);
    const bulkhead = createBulkhead({ name: 'leak', maxConcurrent: 4, maxQueue: 8, maxWaitMs: 5, clock, events });

    // Batches of 16: 4 run at once, 8 queue (each with a listener on the signal and a timer), 4
    // are rejected as full. Every 4th call waits 1 ms on the clock and reads ctx.signal; every
    // 50th batch is held long enough for waiters to time out.
    async function batch(n: number): Promise<number> {
      const holdMs = n % 50 === 0 ? 20 : 1;
      const calls = Array.from({ length: 16 }, (_, i) =>
        bulkhead
          .execute(
            async (ctx) => {
              if (i % 4 === 0) await sleep(holdMs, { signal: ctx.signal, clock });
              return 1;
            },
            { signal },
          )
          .catch(() => 0),
      );
      await clock.runAll();
      const results = await Promise.all(calls);
      return results.reduce((a: number, b) => a + b, 0);
    }

    for (let i = 0; i < 200; i++) await batch(i + 1);
    const baseline = heapUsed();
    let ok = 0;
    for (let i = 0; i < 100_000 / 16; i++) ok += await batch(i);

    expect(ok).toBeGreaterThan(50_000);
    expect(timedOut).toBeGreaterThan(0);
    expect(admitted).toBeGreaterThan(ok);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
    expect(bulkhead.active).toBe(0);
    expect(bulkhead.queued).toBe(0);
    const grown = heapUsed() - baseline;
    // 100 000 retained waiters, contexts or listeners would be several megabytes.
    expect(grown).toBeLessThan(1_000_000);
  }, 60_000);

  it('leaves nothing attached after 100 000 free-slot executions', async () => {
    const controller = new AbortController();
    const clock = createVirtualClock();
    const bulkhead = createBulkhead({ maxConcurrent: 8, clock, events: createEventBus() });
    const warm = async () => {
      for (let i = 0; i < 2_000; i++) await bulkhead.execute(() => i, { signal: controller.signal });
    };
    await warm();
    const baseline = heapUsed();
    let sum = 0;
    for (let i = 0; i < 100_000; i++) sum += await bulkhead.execute(() => i, { signal: controller.signal });
    expect(sum).toBe((99_999 * 100_000) / 2);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
    expect(heapUsed() - baseline).toBeLessThan(1_000_000);
  }, 60_000);
});
