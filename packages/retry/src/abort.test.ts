import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createEventBus, deriveContext, toContext } from '@x/core';
import type { SignalSource } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { createRetryBudget } from './budget.js';
import { createRetry } from './retry.js';
import type { RetryOptions } from './retry.js';
import { retryStatsOf } from './stats.js';
import { TransientError, flaky, recordingBus, settle } from './test-helpers.js';

function setup(options: RetryOptions = {}) {
  const clock = createVirtualClock();
  const { events, seen } = recordingBus();
  const retry = createRetry({ clock, events, backoff: 1_000, maxAttempts: 5, ...options });
  return { clock, retry, seen };
}

const listeners = (signal: AbortSignal) => getEventListeners(signal, 'abort').length;

describe('abort while sleeping between attempts', () => {
  it("rejects at once with the caller's own reason and leaves no timer or listener behind", async () => {
    const { retry, clock, seen } = setup();
    const controller = new AbortController();
    const { fn, calls } = flaky(10, 'x');
    const result = settle(retry.execute(fn, { signal: controller.signal }));
    await clock.advance(10); // first attempt failed; the 1000 ms wait is pending
    expect(calls).toHaveLength(1);
    expect(clock.pendingTimers).toBe(1);
    expect(listeners(controller.signal)).toBe(1);

    const reason = new Error('user navigated away');
    controller.abort(reason);
    await clock.flush(); // no time passes
    expect(result.state).toEqual({ done: true, ok: false, error: reason });
    expect(clock.pendingTimers).toBe(0);
    expect(listeners(controller.signal)).toBe(0);

    await clock.advance(60_000);
    expect(calls).toHaveLength(1); // no attempt ever runs after the abort
    expect(seen.filter((e) => e.type === 'retry.gave_up')).toEqual([
      expect.objectContaining({ reason: 'aborted', attempts: 1, error: reason }),
    ]);
  });

  it('surfaces the default AbortError reason when abort() is called without one', async () => {
    const { retry, clock } = setup();
    const controller = new AbortController();
    const result = settle(retry.execute(flaky(10, 'x').fn, { signal: controller.signal }));
    await clock.advance(10);
    controller.abort();
    await clock.flush();
    expect(result.state.error).toBe(controller.signal.reason);
    expect((result.state.error as Error).name).toBe('AbortError');
  });

  it('is abortable through a lazy signal source (an enclosing timeout)', async () => {
    const { retry, clock } = setup();
    const controller = new AbortController();
    let created = 0;
    const source: SignalSource = {
      get signal() {
        created++;
        return controller.signal;
      },
      get aborted() {
        return controller.signal.aborted;
      },
    };
    const ctx = deriveContext(toContext(), { signal: source });
    const { fn } = flaky(10, 'x');
    const first = await retry.execute(async () => 'fine', ctx);
    expect(first).toBe('fine');
    expect(created).toBe(0); // the success path never materialises the signal

    const result = settle(retry.execute(fn, ctx));
    await clock.advance(10);
    controller.abort(new Error('timed out'));
    await clock.flush();
    expect((result.state.error as Error).message).toBe('timed out');
    expect(clock.pendingTimers).toBe(0);
  });

  it('reports the abort in executeOutcome and executeWithStats', async () => {
    const { retry, clock } = setup();
    const controller = new AbortController();
    const reason = new Error('stop');
    const outcome = settle(retry.executeOutcome(flaky(10, 'x').fn, { signal: controller.signal }));
    const stats = settle(retry.executeWithStats(flaky(10, 'x').fn, { signal: controller.signal }));
    await clock.advance(1_500); // both are waiting before their third attempt
    controller.abort(reason);
    await clock.flush();
    expect(outcome.state.value).toEqual({ ok: false, error: reason });
    expect(stats.state.error).toBe(reason);
    expect(retryStatsOf(reason)).toEqual({ attempts: 2, totalDelayMs: 1_000 });
  });
});

describe('abort while an attempt runs', () => {
  it('starts no further attempt after an abort from a retry.scheduled listener, even with no wait', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const retry = createRetry({ clock, events, backoff: 0, maxAttempts: 5 });
    const controller = new AbortController();
    events.on('retry.scheduled', () => controller.abort('stop'));
    const { fn, calls } = flaky(5, 'x');
    const result = settle(retry.execute(fn, { signal: controller.signal }));
    await clock.runAll();
    expect(result.state.error).toBe('stop');
    expect(calls).toHaveLength(1);
    expect(retry.stats().gaveUp.aborted).toBe(1);
  });

  it("does not retry; the caller's reason replaces the attempt's error", async () => {
    const { retry, clock } = setup();
    const controller = new AbortController();
    const reason = new Error('cancelled by user');
    let calls = 0;
    const result = settle(
      retry.execute(
        ({ signal }) => {
          calls++;
          return new Promise((_, reject) => {
            signal.addEventListener('abort', () => reject(new TransientError('socket closed')), { once: true });
          });
        },
        { signal: controller.signal },
      ),
    );
    await clock.flush();
    controller.abort(reason);
    await clock.runAll();
    expect(result.state.error).toBe(reason);
    expect(calls).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('schedules nothing after an abort, even with a zero backoff', async () => {
    for (const backoff of [0, 1_000]) {
      const { retry, clock, seen } = setup({ backoff });
      const controller = new AbortController();
      let calls = 0;
      const result = settle(
        retry.execute(
          async () => {
            calls++;
            controller.abort('stop');
            throw new TransientError('failed while the caller left');
          },
          { signal: controller.signal },
        ),
      );
      await clock.runAll();
      expect(result.state.error).toBe('stop');
      expect(calls).toBe(1);
      expect(seen.filter((e) => e.type === 'retry.scheduled')).toEqual([]);
    }
  });

  it('keeps a value that arrives after the abort: the work is done', async () => {
    const { retry, clock } = setup();
    const controller = new AbortController();
    const result = settle(
      retry.execute(
        () => new Promise((resolve) => clock.setTimeout(() => resolve('late but complete'), 100)),
        { signal: controller.signal },
      ),
    );
    controller.abort();
    await clock.runAll();
    expect(result.state.value).toBe('late but complete');
  });

  it('never starts when the caller has already aborted', async () => {
    const { retry } = setup();
    const controller = new AbortController();
    const reason = new Error('too late');
    controller.abort(reason);
    const { fn, calls } = flaky(0, 'x');
    await expect(retry.execute(fn, { signal: controller.signal })).rejects.toBe(reason);
    expect(calls).toHaveLength(0);
  });
});

describe('nothing runs after the retry gives up', () => {
  it('no attempt and no timer remain after exhaustion, a deadline or a non-retryable failure', async () => {
    const scenarios: [RetryOptions, (() => unknown) | undefined, { deadline?: number }][] = [
      [{ maxAttempts: 3 }, undefined, {}],
      [{}, undefined, { deadline: Date.UTC(2026, 0, 1) + 1_500 }],
      [{ retryOn: () => false }, undefined, {}],
    ];
    for (const [options, makeError, execOptions] of scenarios) {
      const { retry, clock } = setup(options);
      const { fn, calls } = flaky(100, 'x', makeError);
      const result = settle(retry.execute(fn, execOptions));
      await clock.runAll();
      expect(result.state.done).toBe(true);
      const made = calls.length;
      expect(clock.pendingTimers).toBe(0);
      await clock.advance(3_600_000);
      expect(calls).toHaveLength(made);
    }
  });
});

describe('abort and the retry budget', () => {
  it('keeps a granted retry spent when the caller aborts during its wait', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const budget = createRetryBudget({ ratio: 0.5, minPerSecond: 0, windowMs: 10_000, clock, events });
    const retry = createRetry({ clock, events, backoff: 1_000, maxAttempts: 3, budget });
    // Two calls that succeed give an allowance of one retry.
    await retry.execute(async () => 'a');
    await retry.execute(async () => 'b');
    const controller = new AbortController();
    const { fn, calls } = flaky(10, 'x');
    const result = settle(retry.execute(fn, { signal: controller.signal }));
    await clock.advance(10); // first attempt failed, the retry is granted, its wait is pending
    expect(budget.snapshot()).toMatchObject({ calls: 3, retries: 1 });
    controller.abort(new Error('gone'));
    await clock.flush();
    expect((result.state.error as Error).message).toBe('gone');
    expect(calls).toHaveLength(1); // the retry never ran...
    expect(budget.snapshot()).toMatchObject({ calls: 3, retries: 1 }); // ...and stays counted
  });
});
