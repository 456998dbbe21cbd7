import { getEventListeners } from 'node:events';
import { compose, createEventBus, deriveContext, isXError, toContext } from '@x/core';
import type { ExecutionContext, Policy } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it, vi } from 'vitest';
import { hostilePromise } from '@x/test-support';
import { createAdaptiveRateLimiter, createRateLimiter } from './index.js';
import type { RateLimiterOptions } from './index.js';

function setup(options: Partial<RateLimiterOptions> = {}) {
  const clock = createVirtualClock();
  const limiter = createRateLimiter({ name: 'pol', limit: 10, periodMs: 1_000, burst: 1, clock, events: createEventBus(), ...options, store: undefined });
  return { clock, limiter };
}

describe('limiter.policy', () => {
  it('runs the function when admitted, with the caller context', async () => {
    const { limiter } = setup();
    const policy = limiter.policy('k');
    expect(policy.name).toBe('pol');
    const fn = vi.fn((ctx: ExecutionContext) => ctx.attempt);
    await expect(policy.execute(fn)).resolves.toBe(1);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('rejects without calling the function when it may not wait', async () => {
    const { limiter } = setup();
    const policy = limiter.policy('k', { maxWaitMs: 0 });
    await policy.execute(() => 1);
    const fn = vi.fn(() => 2);
    const error = await policy.execute(fn).catch((e: unknown) => e);
    expect(isXError(error, 'RATE_LIMITED')).toBe(true);
    expect(fn).not.toHaveBeenCalled();
  });

  it('executeOutcome reports a rejection as an outcome, with a stackless error', async () => {
    const { limiter } = setup();
    const policy = limiter.policy('k', { maxWaitMs: 0 });
    await expect(policy.executeOutcome(() => 'first')).resolves.toEqual({ ok: true, value: 'first' });
    const outcome = await policy.executeOutcome(() => 'second');
    expect(outcome.ok).toBe(false);
    const error = (outcome as { error: Error }).error;
    expect(isXError(error, 'RATE_LIMITED')).toBe(true);
    expect(error.stack).not.toMatch(/\n\s+at /);
    expect(error.message).toMatch(/rejected the request/);
  });

  it('executeOutcome never rejects: function failures and aborts come back as outcomes too', async () => {
    const { clock, limiter } = setup();
    const policy = limiter.policy('k');
    await expect(policy.executeOutcome(() => Promise.reject(new Error('boom')))).resolves.toEqual({ ok: false, error: new Error('boom') });
    const controller = new AbortController();
    const waiting = policy.executeOutcome(() => 'late', { signal: controller.signal });
    await clock.advance(10);
    controller.abort(new Error('bye'));
    await expect(waiting).resolves.toEqual({ ok: false, error: new Error('bye') });
    await expect(policy.executeOutcome(() => 1, { signal: AbortSignal.abort(new Error('gone')) })).resolves.toEqual({ ok: false, error: new Error('gone') });
  });

  it('waits up to maxWaitMs, then runs', async () => {
    const { clock, limiter } = setup();
    const policy = limiter.policy('k', { maxWaitMs: 500 });
    await policy.execute(() => 0);
    let ranAt = -1;
    const start = clock.now();
    const run = policy.execute(() => {
      ranAt = clock.now() - start;
    });
    await clock.advance(100);
    await run;
    expect(ranAt).toBe(100);
  });

  it('never waits past the caller deadline', async () => {
    const { clock, limiter } = setup();
    const policy = limiter.policy('k', { maxWaitMs: 10_000 });
    await policy.execute(() => 0);
    const fn = vi.fn();
    const error = await policy.execute(fn, { deadline: clock.now() + 50 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 100 });
    expect(fn).not.toHaveBeenCalled();
    expect(clock.pendingTimers).toBe(0);
    // A deadline that leaves room lets it wait.
    const ok = policy.execute(() => 'ran', { deadline: clock.now() + 150 });
    await clock.advance(100);
    await expect(ok).resolves.toBe('ran');
  });

  it('sees the deadline of an enclosing policy through the context', async () => {
    const { clock, limiter } = setup();
    const inner = limiter.policy('k', { maxWaitMs: 10_000 });
    await inner.execute(() => 0);
    const outer: Policy = {
      name: 'deadline',
      execute: (fn, options) => {
        const ctx = toContext(options);
        return Promise.resolve(fn(deriveContext(ctx, { deadline: clock.now() + 20 })));
      },
      executeOutcome: () => Promise.reject(new Error('unused')),
    };
    const composed = compose(outer, inner);
    await expect(composed.execute(() => 'x')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
  });

  it('rejects with the caller reason when aborted while waiting, and removes its listener', async () => {
    const { clock, limiter } = setup();
    const policy = limiter.policy('k');
    await policy.execute(() => 0);
    const controller = new AbortController();
    const fn = vi.fn();
    const run = policy.execute(fn, { signal: controller.signal }).catch((e: unknown) => e);
    await clock.advance(30);
    controller.abort(new Error('cancelled'));
    expect(await run).toEqual(new Error('cancelled'));
    expect(fn).not.toHaveBeenCalled();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('leaves no listener on a long-lived signal over many waiting executions', async () => {
    const { clock, limiter } = setup({ limit: 1_000 });
    const policy = limiter.policy('k');
    const controller = new AbortController();
    const runs = Array.from({ length: 40 }, (_, i) => policy.execute(() => i, { signal: controller.signal }));
    await clock.runAll();
    expect(await Promise.all(runs)).toHaveLength(40);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('propagates the function error from execute', async () => {
    const { limiter } = setup();
    await expect(limiter.policy('k').execute(() => Promise.reject(new Error('inner')))).rejects.toThrow('inner');
  });

  it('composes: each execution takes `cost` from the key', async () => {
    const { limiter } = setup({ burst: 5 });
    const policy = compose(limiter.policy('k', { cost: 2, maxWaitMs: 0, name: 'heavy' }));
    expect(policy.name).toBe('heavy');
    await policy.execute(() => 0);
    await policy.execute(() => 0);
    await expect(policy.execute(() => 0)).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(limiter.limit('k').allowed).toBe(true);
  });

  it('validates its options at creation', () => {
    const { limiter } = setup({ burst: 3 });
    expect(() => limiter.policy('k', { cost: 4 })).toThrow(/option "cost" must be an integer in \[1, 3\]/);
    expect(() => limiter.policy('k', { maxWaitMs: -5 })).toThrow(/"maxWaitMs"/);
    expect(() => limiter.policy(3 as unknown as string)).toThrow(/"key"/);
  });

  it('fails an execution whose cost no longer fits after setBurst', async () => {
    const { limiter } = setup({ burst: 3 });
    const policy = limiter.policy('k', { cost: 3 });
    limiter.setBurst(2);
    await expect(policy.execute(() => 0)).rejects.toThrow(/can never be admitted/);
    await expect(policy.executeOutcome(() => 0)).resolves.toMatchObject({ ok: false });
  });
});

describe('a function whose promise has a throwing then()', () => {
  it('limiter.policy and the adaptive policy reject or fail without throwing synchronously', async () => {
    const { limiter } = setup({ burst: 10 }); // all four calls are admitted at once
    const adaptive = createAdaptiveRateLimiter({ limiter, minLimit: 1, maxLimit: 100, targetLatencyMs: 100, events: createEventBus() });
    const boom = new Error('then method');
    for (const policy of [limiter.policy('k'), adaptive.policy('k')]) {
      let call: Promise<unknown> | undefined;
      let outcome: Promise<unknown> | undefined;
      expect(() => {
        call = policy.execute(() => hostilePromise(boom));
        outcome = policy.executeOutcome(() => hostilePromise(boom));
      }).not.toThrow();
      await expect(call).rejects.toBe(boom);
      await expect(outcome).resolves.toEqual({ ok: false, error: boom });
    }
  });
});
