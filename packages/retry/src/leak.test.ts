import { getEventListeners } from 'node:events';
import { gc, heapUsed } from '@x/test-support';
import { describe, expect, it } from 'vitest';
import { createEventBus } from '@x/core';
import type { Clock } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { createRetry } from './retry.js';
import { TransientError } from './test-helpers.js';


/** A clock whose timers fire on the next microtask turn, so 100 000 real sleeps take no time. */
function immediateClock(): Clock & { readonly live: number } {
  let live = 0;
  return {
    now: () => performance.now(),
    setTimeout(callback) {
      const timer = { cancelled: false };
      live++;
      queueMicrotask(() => {
        if (timer.cancelled) return;
        timer.cancelled = true;
        live--;
        callback();
      });
      return timer;
    },
    clearTimeout(handle) {
      const timer = handle as { cancelled: boolean };
      if (!timer.cancelled) {
        timer.cancelled = true;
        live--;
      }
    },
    get live() {
      return live;
    },
  };
}

const EXECUTIONS = 100_000;
const BATCH = 1_000;

async function runMany(run: (i: number) => Promise<unknown>): Promise<void> {
  for (let done = 0; done < EXECUTIONS; done += BATCH) {
    const batch: Promise<unknown>[] = [];
    for (let i = 0; i < BATCH; i++) batch.push(run(done + i));
    await Promise.all(batch);
  }
}

describe('leaks', () => {
  it('100 000 executions on one long-lived signal leave no abort listener and no heap growth', async () => {
    const parent = new AbortController().signal;
    const clock = immediateClock();
    const retry = createRetry({ clock, events: createEventBus(), backoff: 5, maxAttempts: 3 });
    // Half of the executions fail once, so they sleep (a listener is added and removed).
    const failsFirst = async ({ attempt }: { attempt: number }) => {
      if (attempt === 1) throw new TransientError('blip');
      return 1;
    };
    const succeeds = async () => 1;
    const sometimesFails = (i: number) => (i % 2 === 0 ? failsFirst : succeeds);
    // Warm up, so that the baseline includes compiled code and lazily created state.
    for (let i = 0; i < 2_000; i++) await retry.execute(sometimesFails(i), { signal: parent });
    const before = heapUsed();

    await runMany((i) => retry.execute(sometimesFails(i), { signal: parent }));
    await runMany(() => retry.executeOutcome(async () => 1, { signal: parent }));

    expect(getEventListeners(parent, 'abort')).toHaveLength(0);
    expect(clock.live).toBe(0);
    const grownMb = (heapUsed() - before) / 1024 / 1024;
    expect(grownMb).toBeLessThan(4);
  }, 60_000);

  it('retains neither the function nor the context once a call has settled', async () => {
    const retry = createRetry({ clock: createVirtualClock(), events: createEventBus(), retryOn: () => false });
    const refs: WeakRef<object>[] = [];
    const run = async (fail: boolean) => {
      const fn = async (ctx: object) => {
        refs.push(new WeakRef(ctx));
        if (fail) throw new TypeError('not retried');
        return 1;
      };
      refs.push(new WeakRef(fn));
      // A signal of its own gives each call its own context (calls without options share one).
      await retry.execute(fn, { signal: new AbortController().signal }).catch(() => undefined);
      await retry.executeOutcome(fn, { signal: new AbortController().signal });
    };
    // Concurrent calls take several slots; each must let go of its call when it settles.
    await Promise.all([run(false), run(false), run(true), run(false)]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
    gc();
    expect(refs.length).toBe(12);
    expect(refs.filter((r) => r.deref() !== undefined)).toHaveLength(0);
  });

  it('executions aborted while waiting leave no listener on their signals and no timer', async () => {
    const clock = createVirtualClock();
    const retry = createRetry({ clock, events: createEventBus(), backoff: 60_000, maxAttempts: 3 });
    const controllers = Array.from({ length: 1_000 }, () => new AbortController());
    const pending = controllers.map((controller) =>
      retry
        .execute(async () => {
          throw new TransientError('down');
        }, { signal: controller.signal })
        .catch((error: unknown) => error),
    );
    await clock.flush(); // every first attempt has failed; every wait is pending
    expect(clock.pendingTimers).toBe(1_000);
    expect(controllers.every((c) => getEventListeners(c.signal, 'abort').length === 1)).toBe(true);

    for (const controller of controllers) controller.abort();
    const errors = await Promise.all(pending);
    expect(errors.every((e, i) => e === controllers[i]?.signal.reason)).toBe(true);
    expect(controllers.every((c) => getEventListeners(c.signal, 'abort').length === 0)).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });
});
