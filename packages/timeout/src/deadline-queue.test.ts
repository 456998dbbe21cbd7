import { createVirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeadlineQueue } from './deadline-queue.js';
import type { DeadlineEntry } from './deadline-queue.js';

class Entry implements DeadlineEntry {
  prev: DeadlineEntry | undefined = undefined;
  next: DeadlineEntry | undefined = undefined;
  queued = false;
  firedAt: number | undefined = undefined;
  constructor(
    readonly id: number,
    readonly deadline: number,
    private readonly now: () => number,
    private readonly log: number[],
  ) {}
  expire(): void {
    this.firedAt = this.now();
    this.log.push(this.id);
  }
}

type Command =
  | { kind: 'add'; inMs: number }
  | { kind: 'remove'; pick: number }
  | { kind: 'advance'; ms: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), inMs: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.constant(100)) }),
  fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 120 }) }),
);

describe('DeadlineQueue', () => {
  it('fires every entry exactly at its deadline, in deadline order, with at most one timer', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { maxLength: 60 }), async (commands) => {
        const clock = createVirtualClock();
        const queue = new DeadlineQueue(clock);
        const log: number[] = [];
        const live: Entry[] = [];
        const removed: Entry[] = [];
        const all: Entry[] = [];
        let nextId = 0;
        for (const c of commands) {
          if (c.kind === 'add') {
            const entry = new Entry(nextId++, clock.now() + c.inMs, clock.now, log);
            queue.add(entry, clock.now());
            live.push(entry);
            all.push(entry);
          } else if (c.kind === 'remove') {
            const pending = live.filter((e) => e.queued);
            if (pending.length === 0) continue;
            const entry = pending[c.pick % pending.length] as Entry;
            queue.remove(entry);
            removed.push(entry);
          } else {
            await clock.advance(c.ms);
          }
          const queued = all.filter((e) => e.queued).length;
          expect(clock.pendingTimers).toBe(queued === 0 ? 0 : 1);
          expect(queue.empty).toBe(queued === 0);
          // Nothing overdue is left waiting.
          expect(all.every((e) => !e.queued || e.deadline > clock.now())).toBe(true);
        }
        await clock.runAll();
        for (const e of all) {
          if (removed.includes(e)) expect(e.firedAt).toBeUndefined();
          else expect(e.firedAt).toBe(e.deadline);
        }
        const firedDeadlines = log.map((id) => (all[id] as Entry).deadline);
        expect(firedDeadlines).toEqual([...firedDeadlines].sort((a, b) => a - b));
        expect(clock.pendingTimers).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('re-arms for an earlier deadline that arrives after a later one', async () => {
    const clock = createVirtualClock();
    const queue = new DeadlineQueue(clock);
    const log: number[] = [];
    const late = new Entry(1, clock.now() + 1_000, clock.now, log);
    const early = new Entry(2, clock.now() + 10, clock.now, log);
    queue.add(late, clock.now());
    queue.add(early, clock.now());
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(10);
    expect(log).toEqual([2]);
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(990);
    expect(log).toEqual([2, 1]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('waits out deadlines beyond the 2^31 - 1 ms timer limit by re-arming', async () => {
    const clock = createVirtualClock();
    const delays: number[] = [];
    const spy = { ...clock, setTimeout: (cb: () => void, ms: number) => (delays.push(ms), clock.setTimeout(cb, ms)) };
    const queue = new DeadlineQueue(spy);
    const log: number[] = [];
    const far = new Entry(1, clock.now() + 3e9, clock.now, log);
    queue.add(far, clock.now());
    expect(delays).toEqual([0x7fffffff]);
    await clock.advance(0x7fffffff);
    expect(log).toEqual([]);
    expect(delays).toEqual([0x7fffffff, 3e9 - 0x7fffffff]);
    await clock.advance(3e9 - 0x7fffffff);
    expect(log).toEqual([1]);
  });

  it('lets an entry add another entry while expiring', async () => {
    const clock = createVirtualClock();
    const queue = new DeadlineQueue(clock);
    const log: number[] = [];
    const second = new Entry(2, clock.now() + 20, clock.now, log);
    const first = new Entry(1, clock.now() + 10, clock.now, log);
    first.expire = function (this: Entry) {
      Entry.prototype.expire.call(this);
      queue.add(second, clock.now());
    };
    queue.add(first, clock.now());
    await clock.advance(10);
    expect(log).toEqual([1]);
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(10);
    expect(log).toEqual([1, 2]);
    expect(clock.pendingTimers).toBe(0);
  });
});
