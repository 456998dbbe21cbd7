import { createVirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeadlineQueue } from './deadline-queue.js';
import type { Deadlined } from './deadline-queue.js';

class Item implements Deadlined {
  settled = false;
  expiredAt: number | undefined;
  constructor(
    readonly deadline: number,
    readonly clock: { now(): number },
    readonly onExpire?: () => void,
  ) {}
  expire(): void {
    this.settled = true;
    this.expiredAt = this.clock.now();
    this.onExpire?.();
  }
}

describe('DeadlineQueue', () => {
  it('expires each unsettled item at its deadline on one timer', async () => {
    const clock = createVirtualClock();
    const queue = new DeadlineQueue(clock);
    const start = clock.now();
    const a = new Item(start + 50, clock);
    const b = new Item(start + 50, clock);
    const c = new Item(start + 80, clock);
    queue.add(a);
    queue.add(b);
    queue.add(c);
    expect(clock.pendingTimers).toBe(1);
    b.settled = true;
    await clock.runAll();
    expect(a.expiredAt).toBe(start + 50);
    expect(b.expiredAt).toBeUndefined();
    expect(c.expiredAt).toBe(start + 80);
    expect(queue.length).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('waits one more timer turn before expiring, so answers that already arrived win', async () => {
    const clock = createVirtualClock();
    const queue = new DeadlineQueue(clock);
    const item = new Item(clock.now() + 10, clock);
    queue.add(item);
    // Due at the same time, after the queue's timer: like a reply read after the timers phase.
    clock.setTimeout(() => {
      item.settled = true;
    }, 10);
    await clock.runAll();
    expect(item.expiredAt).toBeUndefined();
  });

  it('keeps one timer for the oldest live item and drops settled ones without timers', async () => {
    const clock = createVirtualClock();
    const queue = new DeadlineQueue(clock);
    const items = Array.from({ length: 1_000 }, (_, i) => new Item(clock.now() + 100 + i, clock));
    for (const item of items) queue.add(item);
    expect(clock.pendingTimers).toBe(1);
    for (const item of items.slice(0, 999)) item.settled = true;
    await clock.runAll();
    expect(items.filter((i) => i.expiredAt !== undefined)).toEqual([items[999]]);
  });

  it('a throwing expiry does not stop the others', async () => {
    const clock = createVirtualClock();
    const queue = new DeadlineQueue(clock);
    const bad = new Item(clock.now() + 5, clock, () => {
      throw new Error('boom');
    });
    const good = new Item(clock.now() + 5, clock);
    queue.add(bad);
    queue.add(good);
    await clock.runAll();
    expect(good.expiredAt).toBeDefined();
  });

  it('items added during an expiry get their own deadline', async () => {
    const clock = createVirtualClock();
    const queue = new DeadlineQueue(clock);
    const late = new Item(clock.now() + 100, clock);
    queue.add(new Item(clock.now() + 5, clock, () => queue.add(late)));
    await clock.runAll();
    expect(late.expiredAt).toBe(late.deadline);
  });

  it('expires every item no earlier than its deadline and never twice (fuzzed)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ at: fc.integer({ min: 0, max: 200 }), timeout: fc.constant(50), settleAfter: fc.option(fc.integer({ min: 0, max: 100 })) }), { maxLength: 40 }),
        async (specs) => {
          const clock = createVirtualClock();
          const queue = new DeadlineQueue(clock);
          const start = clock.now();
          const sorted = [...specs].sort((x, y) => x.at - y.at);
          const items: { item: Item; settleAt: number | undefined; expiries: number }[] = [];
          for (const spec of sorted) {
            await clock.advance(start + spec.at - clock.now());
            const record = { item: undefined as unknown as Item, settleAt: spec.settleAfter === null ? undefined : clock.now() + spec.settleAfter, expiries: 0 };
            record.item = new Item(clock.now() + spec.timeout, clock, () => record.expiries++);
            items.push(record);
            queue.add(record.item);
            if (record.settleAt !== undefined) {
              clock.setTimeout(() => {
                if (!record.item.settled) record.item.settled = true;
              }, spec.settleAfter as number);
            }
          }
          await clock.runAll();
          return items.every(({ item, settleAt, expiries }) => {
            if (expiries > 1) return false;
            if (item.expiredAt !== undefined && item.expiredAt < item.deadline) return false;
            // Items that settled before their deadline never expire; every other item does.
            if (settleAt !== undefined && settleAt < item.deadline) return expiries === 0;
            return settleAt !== undefined || expiries === 1;
          });
        },
      ),
      { numRuns: 100 },
    );
  });
});
