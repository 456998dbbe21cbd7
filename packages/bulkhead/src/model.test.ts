import { getEventListeners } from 'node:events';
import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBulkhead } from './index.js';
import type { BulkheadOrder, BulkheadPermit } from './index.js';
import { deferred, track } from './test-helpers.js';
import type { Deferred, Tracked } from './test-helpers.js';

type Op =
  | { kind: 'acquire'; exec: boolean; withSignal: boolean; deadlineIn: number | undefined }
  | { kind: 'release'; pick: number }
  | { kind: 'abort'; pick: number }
  | { kind: 'setLimit'; limit: number }
  | { kind: 'advance'; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('acquire' as const), exec: fc.boolean(), withSignal: fc.boolean(), deadlineIn: fc.option(fc.integer({ min: 0, max: 80 }), { nil: undefined }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('setLimit' as const), limit: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 40 }) }) },
);

type Status = 'queued' | 'held' | 'done' | 'full' | 'timeout' | 'aborted';

/** The reference: a plain-array restatement of the bulkhead's rules. */
class Model {
  now = 0;
  active = 0;
  readonly queue: { id: number; expiresAt: number }[] = [];
  readonly status: Status[] = [];
  readonly admissions: number[] = [];
  readonly rejected = { full: 0, timeout: 0, aborted: 0 };

  constructor(
    public limit: number,
    readonly maxQueue: number,
    readonly maxWaitMs: number,
    readonly order: BulkheadOrder,
  ) {}

  acquire(id: number, deadline: number | undefined): void {
    if (this.active < this.limit && this.queue.length === 0) return this.#admit(id);
    if (this.queue.length >= this.maxQueue) return this.#reject(id, 'full');
    const expiresAt = Math.min(this.now + this.maxWaitMs, deadline ?? Infinity);
    if (expiresAt <= this.now) return this.#reject(id, 'timeout');
    this.status[id] = 'queued';
    this.queue.push({ id, expiresAt });
  }

  release(id: number): void {
    if (this.status[id] !== 'held') return;
    this.status[id] = 'done';
    this.active--;
    this.#drain();
  }

  abort(id: number): void {
    const index = this.queue.findIndex((w) => w.id === id);
    if (index < 0) return;
    this.queue.splice(index, 1);
    this.#reject(id, 'aborted');
  }

  setLimit(limit: number): void {
    this.limit = limit;
    this.#drain();
  }

  advance(ms: number): void {
    this.now += ms;
    for (const waiter of [...this.queue]) {
      if (waiter.expiresAt <= this.now) {
        this.queue.splice(this.queue.indexOf(waiter), 1);
        this.#reject(waiter.id, 'timeout');
      }
    }
  }

  #admit(id: number): void {
    this.active++;
    this.status[id] = 'held';
    this.admissions.push(id);
  }

  #reject(id: number, reason: 'full' | 'timeout' | 'aborted'): void {
    this.status[id] = reason;
    this.rejected[reason]++;
  }

  #drain(): void {
    while (this.active < this.limit && this.queue.length > 0) {
      const waiter = (this.order === 'fifo' ? this.queue.shift() : this.queue.pop()) as { id: number };
      this.#admit(waiter.id);
    }
  }
}

interface RealCall {
  exec: boolean;
  controller: AbortController | undefined;
  tracked: Tracked<unknown>;
  permit: BulkheadPermit | undefined;
  gate: Deferred<void> | undefined;
  started: boolean;
}

async function run(limit: number, maxQueue: number, maxWaitMs: number, order: BulkheadOrder, ops: Op[]): Promise<void> {
  const clock = createVirtualClock({ now: 0 });
  const bulkhead = createBulkhead({ maxConcurrent: limit, maxQueue, maxWaitMs, order, clock, events: createEventBus() });
  const model = new Model(limit, maxQueue, maxWaitMs, order);
  const calls: RealCall[] = [];
  const realOrder = { permit: [] as number[], exec: [] as number[] };
  let limitNow = limit;

  for (const op of ops) {
    switch (op.kind) {
      case 'acquire': {
        const id = calls.length;
        const controller = op.withSignal ? new AbortController() : undefined;
        const deadline = op.deadlineIn === undefined ? undefined : clock.now() + op.deadlineIn;
        const options = { signal: controller?.signal, deadline };
        const call: RealCall = { exec: op.exec, controller, tracked: undefined as never, permit: undefined, gate: undefined, started: false };
        calls.push(call);
        if (op.exec) {
          const gate = deferred();
          call.gate = gate;
          call.tracked = track(
            bulkhead.execute(() => {
              call.started = true;
              realOrder.exec.push(id);
              return gate.promise;
            }, options),
          );
        } else {
          const promise = bulkhead.acquire(options);
          call.tracked = track(promise);
          promise.then(
            (permit) => {
              call.permit = permit;
              realOrder.permit.push(id);
            },
            () => {},
          );
        }
        model.acquire(id, deadline);
        break;
      }
      case 'release': {
        const held = model.status.flatMap((s, id) => (s === 'held' ? [id] : []));
        if (held.length === 0) break;
        const id = held[op.pick % held.length] as number;
        const call = calls[id] as RealCall;
        if (call.exec) call.gate?.resolve();
        else {
          call.permit?.release();
          call.permit?.release(); // idempotent: must not free a second slot
        }
        model.release(id);
        break;
      }
      case 'abort': {
        const abortable = calls.flatMap((c, id) => (c.controller !== undefined && !c.controller.signal.aborted ? [id] : []));
        if (abortable.length === 0) break;
        const id = abortable[op.pick % abortable.length] as number;
        calls[id]?.controller?.abort(`abort ${id}`);
        model.abort(id);
        break;
      }
      case 'setLimit':
        bulkhead.setLimit(op.limit);
        model.setLimit(op.limit);
        limitNow = op.limit;
        break;
      case 'advance':
        await clock.advance(op.ms);
        model.advance(op.ms);
        break;
    }
    await clock.flush();

    // Same state as the reference...
    expect(bulkhead.active).toBe(model.active);
    expect(bulkhead.queued).toBe(model.queue.length);
    expect(bulkhead.stats().rejected).toEqual(model.rejected);
    // ...which satisfies the invariants: the queue is bounded, no waiter is stranded while a slot
    // is free, and the limit is only exceeded right after a shrink, never by an admission.
    expect(bulkhead.queued).toBeLessThanOrEqual(maxQueue);
    expect(bulkhead.active < limitNow && bulkhead.queued > 0).toBe(false);
    calls.forEach((call, id) => {
      const expected = model.status[id];
      const { tracked } = call;
      switch (expected) {
        case 'queued':
          expect(tracked.state).toBe('pending');
          expect(call.started).toBe(false);
          break;
        case 'held':
          if (call.exec) expect(call.started && tracked.state === 'pending').toBe(true);
          else expect(tracked.state).toBe('fulfilled');
          break;
        case 'done':
          expect(tracked.state).toBe('fulfilled');
          break;
        case 'aborted':
          expect(tracked).toMatchObject({ state: 'rejected', error: `abort ${id}` });
          break;
        default:
          expect(tracked).toMatchObject({ state: 'rejected', error: { code: 'BULKHEAD_FULL', reason: expected } });
      }
    });
    // Admission order (per kind, since permits resolve and functions start on different ticks).
    const modelOrder = (exec: boolean) => model.admissions.filter((id) => calls[id]?.exec === exec);
    expect(realOrder.permit).toEqual(modelOrder(false));
    expect(realOrder.exec).toEqual(modelOrder(true));
  }

  // Wind down: every listener is gone once nothing waits, and no timer is left behind.
  for (const call of calls) call.controller?.abort('end');
  bulkhead.setLimit(1_000); // admits the waiters that had no signal
  await clock.flush();
  for (const call of calls) {
    call.permit?.release();
    call.gate?.resolve();
  }
  await clock.flush();
  expect(bulkhead.active).toBe(0);
  for (const call of calls) {
    if (call.controller) expect(getEventListeners(call.controller.signal, 'abort')).toHaveLength(0);
  }
  expect(bulkhead.queued).toBe(0);
  expect(clock.pendingTimers).toBe(0);
}

describe('createBulkhead against a reference model', () => {
  it('matches the model on random acquire/execute/release/abort/setLimit/advance sequences', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 4 }),
        fc.oneof(fc.constant(Infinity), fc.integer({ min: 0, max: 60 })),
        fc.constantFrom<BulkheadOrder>('fifo', 'lifo'),
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        run,
      ),
      { numRuns: 300 },
    );
  }, 60_000);
});
