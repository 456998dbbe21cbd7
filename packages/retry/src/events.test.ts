import { describe, expect, it } from 'vitest';
import { createEventBus } from '@x/core';
import type { XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { busWithoutVersion } from '@x/test-support';
import { exponentialBackoff } from './backoff.js';
import { permanent } from './marks.js';
import { createRetry } from './retry.js';
import type { RetryOptions } from './retry.js';
import { TransientError, flaky, recordingBus, settle } from './test-helpers.js';

function setup(options: RetryOptions = {}) {
  const clock = createVirtualClock();
  const { events, seen } = recordingBus();
  const retry = createRetry({
    name: 'users-api',
    clock,
    events,
    backoff: exponentialBackoff({ initialMs: 100, maxMs: 1_000, jitter: 'none' }),
    ...options,
  });
  return { clock, events, retry, seen };
}

/** An attempt that runs `ms` on the virtual clock, then fails with `error` or returns `value`. */
function slow(clock: ReturnType<typeof createVirtualClock>, ms: number, outcomes: unknown[]) {
  return async () => {
    await new Promise((resolve) => clock.setTimeout(() => resolve(undefined), ms));
    const next = outcomes.shift();
    if (next instanceof Error) throw next;
    return next;
  };
}

describe('retry events', () => {
  it('reports each failed attempt, each scheduled retry and the success after retrying', async () => {
    const { retry, clock, seen } = setup();
    const t0 = clock.now();
    const e1 = new TransientError('one');
    const e2 = new TransientError('two');
    const result = settle(retry.execute(slow(clock, 50, [e1, e2, 'ok'])));
    await clock.runAll();
    expect(result.state.value).toBe('ok');
    const base = { source: 'retry', name: 'users-api' };
    expect(seen).toEqual([
      { ...base, type: 'retry.attempt_failed', time: t0 + 50, attempt: 1, error: e1, durationMs: 50 },
      { ...base, type: 'retry.scheduled', time: t0 + 50, attempt: 2, delayMs: 100, retryAfterMs: undefined, error: e1 },
      { ...base, type: 'retry.attempt_failed', time: t0 + 200, attempt: 2, error: e2, durationMs: 50 },
      { ...base, type: 'retry.scheduled', time: t0 + 200, attempt: 3, delayMs: 200, retryAfterMs: undefined, error: e2 },
      { ...base, type: 'retry.succeeded', time: t0 + 450, attempts: 3, totalDelayMs: 300 },
    ]);
  });

  it('emits nothing for a first-attempt success', async () => {
    const { retry, seen } = setup();
    await retry.execute(async () => 1);
    await retry.executeOutcome(async () => 1);
    expect(seen).toEqual([]);
  });

  it('reports giving up with each reason', async () => {
    const reasons: string[] = [];
    const gaveUp = (seen: XEvent[]) => seen.filter((e) => e.type === 'retry.gave_up');

    {
      const { retry, clock, seen } = setup({ maxAttempts: 2 });
      const last = new TransientError('last');
      settle(retry.execute(flaky(5, 0, (n) => (n === 2 ? last : new TransientError())).fn));
      await clock.runAll();
      expect(gaveUp(seen)).toEqual([expect.objectContaining({ reason: 'exhausted', attempts: 2, error: last, totalDelayMs: 100 })]);
      reasons.push('exhausted');
    }
    {
      const { retry, clock, seen } = setup();
      settle(retry.execute(flaky(5, 0).fn, { deadline: clock.now() + 50 }));
      await clock.runAll();
      expect(gaveUp(seen)).toEqual([expect.objectContaining({ reason: 'deadline', attempts: 1 })]);
      reasons.push('deadline');
    }
    {
      const { retry, clock, seen } = setup();
      const fatal = permanent(new Error('fatal'));
      settle(retry.execute(flaky(5, 0, () => fatal).fn));
      await clock.runAll();
      expect(gaveUp(seen)).toEqual([expect.objectContaining({ reason: 'not_retryable', attempts: 1, error: fatal })]);
      reasons.push('not_retryable');
    }
    {
      const { retry, clock, seen } = setup();
      const controller = new AbortController();
      settle(retry.execute(flaky(5, 0).fn, { signal: controller.signal }));
      await clock.advance(10);
      controller.abort('bye');
      await clock.runAll();
      expect(gaveUp(seen)).toEqual([expect.objectContaining({ reason: 'aborted', attempts: 1, error: 'bye' })]);
      reasons.push('aborted');
    }
    expect(reasons).toHaveLength(4); // 'budget' is covered in budget.test.ts
  });

  it('emits an attempt_failed for every call of a failed execution, the last one included', async () => {
    const { retry, clock, seen } = setup({ maxAttempts: 3 });
    settle(retry.execute(flaky(5, 0).fn));
    await clock.runAll();
    expect(seen.filter((e) => e.type === 'retry.attempt_failed').map((e) => (e as { attempt: number }).attempt)).toEqual([1, 2, 3]);
    expect(seen.filter((e) => e.type === 'retry.scheduled').map((e) => (e as { attempt: number }).attempt)).toEqual([2, 3]);
  });

  it('reports durationMs 0 for an attempt that started before anyone listened', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const retry = createRetry({ clock, events, backoff: 10, maxAttempts: 1 });
    const seen: XEvent[] = [];
    const result = settle(retry.execute(slow(clock, 30, [new TransientError()])));
    events.on('retry.attempt_failed', (e) => seen.push(e));
    await clock.runAll();
    expect(result.state.done).toBe(true);
    expect(seen).toEqual([expect.objectContaining({ attempt: 1, durationMs: 0 })]);
  });

  it('reports failed attempts to a listener that subscribes after unobserved calls', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const retry = createRetry({ clock, events, backoff: 10, maxAttempts: 2 });
    for (let i = 0; i < 3; i++) await retry.execute(async () => i);
    const seen: XEvent[] = [];
    const stop = events.on('retry.attempt_failed', (e) => seen.push(e));
    const result = settle(retry.execute(slow(clock, 30, [new TransientError(), 'ok'])));
    await clock.runAll();
    expect(result.state).toMatchObject({ done: true, value: 'ok' });
    // Timed from the start: the hot path stopped being taken when the listener came.
    expect(seen).toEqual([expect.objectContaining({ attempt: 1, durationMs: 30 })]);
    stop();
    const again = settle(retry.execute(flaky(1, 'ok').fn));
    await clock.runAll();
    expect(again.state).toMatchObject({ done: true, value: 'ok' });
    expect(seen).toHaveLength(1);
    expect(retry.stats().attempts).toEqual([5, 2]);
  });

  it('works with a bus that has no version (an older core)', async () => {
    const clock = createVirtualClock();
    const inner = createEventBus();
    const events = busWithoutVersion(inner);
    const retry = createRetry({ clock, events, backoff: 10, maxAttempts: 2 });
    await retry.execute(async () => 1);
    const seen: XEvent[] = [];
    inner.on('retry.attempt_failed', (e) => seen.push(e));
    const result = settle(retry.execute(flaky(1, 'ok').fn));
    await clock.runAll();
    expect(result.state).toMatchObject({ done: true, value: 'ok' });
    expect(seen).toHaveLength(1);
  });

  it('a throwing listener does not change the outcome', async () => {
    const { retry, clock, events, seen } = setup({ maxAttempts: 3 });
    for (const type of ['retry.attempt_failed', 'retry.scheduled', 'retry.succeeded', 'retry.gave_up'] as const) {
      events.on(type, () => {
        throw new Error(`listener of ${type} is broken`);
      });
    }
    const success = settle(retry.execute(flaky(2, 'still ok').fn));
    await clock.runAll();
    expect(success.state.value).toBe('still ok');
    const failure = settle(retry.execute(flaky(5, 0).fn));
    await clock.runAll();
    expect((failure.state.error as { code?: string }).code).toBe('RETRY_EXHAUSTED');
    // 5 throws on the successful execution, 6 on the failed one; each reported, none propagated.
    expect(seen.filter((e) => e.type === 'core.listener_error')).toHaveLength(11);
  });

  it('reads the clock for events only when someone listens', async () => {
    const virtual = createVirtualClock();
    let reads = 0;
    const clock = { ...virtual, now: () => (reads++, virtual.now()) };
    const retry = createRetry({ clock, events: createEventBus(), backoff: 0, maxAttempts: 3 });
    await retry.execute(flaky(2, 'ok').fn);
    expect(reads).toBe(0);
  });
});
