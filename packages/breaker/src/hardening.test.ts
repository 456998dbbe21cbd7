import { createEventBus, isXError, systemClock } from '@x/core';
import type { ListenerErrorEvent } from '@x/core';
import { unhandledRejections } from '@x/test-support';
import { describe, expect, it, vi } from 'vitest';
import { createBreaker, createBreakerGroup } from './index.js';
import type { BreakerOpenInfo } from './index.js';
import { collect, failing, setup } from './test-support.js';

const outcomeError = async (p: Promise<{ ok: boolean; error?: unknown }>): Promise<unknown> => {
  const o = await p;
  if (o.ok) throw new Error('expected a failure');
  return o.error;
};

describe('an async listener that rejects (issue 11, defect 1)', () => {
  it('is reported as core.listener_error and never becomes an unhandled rejection', async () => {
    const watch = unhandledRejections();
    watch.start();
    try {
      const events = createEventBus({ onUnhandledListenerError: vi.fn() });
      const reports: ListenerErrorEvent[] = [];
      events.on('core.listener_error', (e) => reports.push(e));
      events.on('*', async (e) => {
        if (e.type !== 'core.listener_error') throw new Error('listener bug');
      });
      const breaker = createBreaker({ name: 'db', events, failureThreshold: 1 });
      await breaker.execute(failing()).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(reports.length).toBeGreaterThan(0);
      expect(watch.reasons).toEqual([]);
      expect(breaker.state).toBe('open');
    } finally {
      watch.stop();
    }
  });
});

describe('options (issue 11, defects 4 and 5)', () => {
  it('never reads an option set on Object.prototype', async () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.failureThreshold = 1;
    proto.isFailure = () => false;
    try {
      const { breaker } = setup();
      await breaker.execute(failing()).catch(() => undefined);
      expect(breaker.state).toBe('closed');
      expect(breaker.stats().totals.failures).toBe(1);
      const group = createBreakerGroup({ defaults: {} });
      expect(group.get('x')).toBeUndefined();
    } finally {
      delete proto.failureThreshold;
      delete proto.isFailure;
    }
  });

  it('says which option a misspelt key meant', () => {
    expect(() => createBreaker({ failureTreshold: 3 } as never)).toThrow(/did you mean "failureThreshold"/);
    expect(() => createBreaker({ window: { kind: 'count', sise: 3 } } as never)).toThrow(/did you mean "size"/);
    expect(() => createBreakerGroup({ maxkeys: 3 } as never)).toThrow(/did you mean "maxKeys"/);
  });

  it('refuses a fn that is not a function, or a wrong deadline or signal, at the call, without counting it', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    await expect(breaker.execute('not a function' as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'fn' });
    expect(await outcomeError(breaker.executeOutcome(undefined as never))).toMatchObject({ code: 'INVALID_OPTIONS', option: 'fn' });
    await expect(breaker.execute(async () => 1, { deadline: null } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'deadline' });
    await expect(breaker.execute(async () => 1, { signal: 42 } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'signal' });
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().totals).toMatchObject({ requests: 0, failures: 0 });
    await expect(breaker.waitUntilReady({ signal: 42 } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'signal' });
  });
});

describe('retryAfterMs of an open circuit (issue 11, defect 9)', () => {
  it('is measured with the exact clock, never longer than the time left to half-open', async () => {
    const breaker = createBreaker({ name: 'exact', events: createEventBus(), failureThreshold: 1, openMs: 1_000, clock: systemClock });
    await breaker.execute(failing()).catch(() => undefined);
    const first = (await outcomeError(breaker.executeOutcome(async () => 1))) as { retryAfterMs: number };
    // Everything below runs in one loop turn, so a per-turn cached time would stay where it is.
    void breaker.executeOutcome(async () => 1);
    const spinUntil = performance.now() + 40;
    while (performance.now() < spinUntil) {
      // busy: the loop turn ages by 40 ms
    }
    const late = breaker.executeOutcome(async () => 1);
    const left = breaker.stats().timeUntilHalfOpenMs;
    const error = (await outcomeError(late)) as { retryAfterMs: number };
    expect(error.retryAfterMs).toBeLessThanOrEqual(left + 0.5);
    expect(first.retryAfterMs - error.retryAfterMs).toBeGreaterThanOrEqual(39);
  });
});

describe('results as failures (isFailureResult)', () => {
  it('counts a returned value the predicate judges a failure, and still returns it', async () => {
    const { breaker, events } = setup({ failureThreshold: 2, isFailureResult: (r) => (r as { status: number }).status >= 500 });
    const failures = collect(events, 'breaker.failure');
    await expect(breaker.execute(async () => ({ status: 200 }))).resolves.toEqual({ status: 200 });
    await expect(breaker.execute(async () => ({ status: 503 }))).resolves.toEqual({ status: 503 });
    expect(await breaker.executeOutcome(() => ({ status: 500 }))).toEqual({ ok: true, value: { status: 500 } });
    expect(breaker.state).toBe('open');
    expect(breaker.stats().totals).toMatchObject({ successes: 1, failures: 2 });
    expect(failures[0]?.error).toMatchObject({ code: 'FAILURE_RESULT', result: { status: 503 } });
    const rejected = await outcomeError(breaker.executeOutcome(async () => ({ status: 200 })));
    expect(rejected).toMatchObject({ code: 'BREAKER_OPEN', cause: { code: 'FAILURE_RESULT', result: { status: 500 } } });
  });

  it('counts a throwing predicate as a failure, and judges half-open probes too', async () => {
    const boom = new Error('judge broke');
    const { breaker, clock } = setup({
      failureThreshold: 1,
      openMs: 10,
      isFailureResult: (r) => {
        if (r === 'explode') throw boom;
        return r === 'bad';
      },
    });
    await breaker.execute(async () => 'explode');
    expect(breaker.stats().lastError).toBe(boom);
    expect(breaker.state).toBe('open');
    await clock.advance(10);
    await breaker.execute(async () => 'bad');
    expect(breaker.state).toBe('open');
  });
});

describe('disabled and metrics-only states, manual open and half-open', () => {
  it('disable(): lets every call through and records nothing until forceClose()', async () => {
    const { breaker, events } = setup({ failureThreshold: 1 });
    const changes = collect(events, 'breaker.state_change');
    breaker.disable();
    expect(breaker.state).toBe('disabled');
    for (let i = 0; i < 5; i++) await breaker.execute(failing()).catch(() => undefined);
    await expect(breaker.execute(async () => 'through')).resolves.toBe('through');
    expect(await breaker.executeOutcome(async () => 2)).toEqual({ ok: true, value: 2 });
    const permit = breaker.tryAcquire();
    expect(permit).not.toBeNull();
    permit?.failure(new Error('x'));
    expect(breaker.state).toBe('disabled');
    expect(breaker.stats()).toMatchObject({ isHealthy: true, totals: { requests: 0, failures: 0 } });
    breaker.forceClose();
    expect(breaker.state).toBe('closed');
    expect(changes.map((c) => [c.from, c.to, c.reason])).toEqual([
      ['closed', 'disabled', 'disable'],
      ['disabled', 'closed', 'force_close'],
    ]);
  });

  it('metricsOnly(): records outcomes and events like a closed circuit but never opens', async () => {
    const { breaker, events } = setup({ failureThreshold: 1, window: { kind: 'count', size: 10 }, failureRateThreshold: 0.5, minimumCalls: 1 });
    const failures = collect(events, 'breaker.failure');
    breaker.metricsOnly();
    for (let i = 0; i < 5; i++) await breaker.execute(failing()).catch(() => undefined);
    await breaker.execute(async () => 1);
    expect(breaker.state).toBe('metrics_only');
    expect(breaker.stats()).toMatchObject({ totals: { failures: 5, successes: 1 }, consecutiveFailures: 0, window: { calls: 6, failures: 5 } });
    expect(failures).toHaveLength(5);
    breaker.reset();
    expect(breaker.state).toBe('closed');
    await breaker.execute(failing()).catch(() => undefined);
    expect(breaker.state).toBe('open');
  });

  it('open(ms): opens now for that long, then half-opens as usual; halfOpen() lets probes through now', async () => {
    const { breaker, clock, events } = setup({ failureThreshold: 5, openMs: 60_000, successThreshold: 1 });
    const changes = collect(events, 'breaker.state_change');
    breaker.open(250);
    expect(breaker.state).toBe('open');
    const error = (await outcomeError(breaker.executeOutcome(async () => 1))) as { retryAfterMs: number; cause: unknown };
    expect(error.retryAfterMs).toBe(250);
    expect(error.cause).toBeUndefined();
    await clock.advance(250);
    expect(breaker.state).toBe('half_open');
    await breaker.execute(async () => 1);
    expect(breaker.state).toBe('closed');
    breaker.forceOpen();
    breaker.halfOpen();
    expect(breaker.state).toBe('half_open');
    await breaker.execute(async () => 1);
    expect(breaker.state).toBe('closed');
    expect(changes.map((c) => c.reason)).toEqual(['manual_open', 'open_elapsed', 'half_open_success', 'force_open', 'manual_half_open', 'half_open_success']);
    expect(changes[0]?.openMs).toBe(250);
    expect(() => breaker.open(-1)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', option: 'ms' }));
    expect(() => breaker.open(Infinity)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });

  it('an isolate() handle released after a manual control changes nothing', () => {
    const { breaker } = setup();
    const handle = breaker.isolate();
    breaker.disable();
    handle.release();
    expect(breaker.state).toBe('disabled');
  });
});

describe('the error that opened the circuit, and openMs from counts', () => {
  it('gives the failure that tripped the circuit as the cause of every open rejection, and the probe failure after a reopen', async () => {
    const { breaker, clock } = setup({ failureThreshold: 2, openMs: 100 });
    const first = new Error('first');
    const tripping = new Error('tripping');
    await breaker.execute(() => Promise.reject(first)).catch(() => undefined);
    await breaker.execute(() => Promise.reject(tripping)).catch(() => undefined);
    const viaExecute = await breaker.execute(async () => 1).catch((e: unknown) => e);
    const viaOutcome = await outcomeError(breaker.executeOutcome(async () => 1));
    expect(isXError(viaExecute, 'BREAKER_OPEN') && viaExecute.cause).toBe(tripping);
    expect((viaOutcome as Error).cause).toBe(tripping);
    await clock.advance(100);
    const probe = new Error('probe');
    await breaker.execute(() => Promise.reject(probe)).catch(() => undefined);
    expect(((await outcomeError(breaker.executeOutcome(async () => 1))) as Error).cause).toBe(probe);
    breaker.forceOpen();
    expect(((await outcomeError(breaker.executeOutcome(async () => 1))) as Error).cause).toBeUndefined();
  });

  it('calls openMs with the streak and the failure count and rate when the circuit opens', async () => {
    const seen: [number, BreakerOpenInfo][] = [];
    const { breaker, clock } = setup({
      window: { kind: 'count', size: 4 },
      failureRateThreshold: 0.5,
      minimumCalls: 4,
      openMs: (n, info) => {
        seen.push([n, info]);
        return info.failureRate >= 0.75 ? 1_000 : 100;
      },
    });
    await breaker.execute(async () => 1);
    await breaker.execute(async () => 1);
    await breaker.execute(failing()).catch(() => undefined);
    await breaker.execute(failing()).catch(() => undefined);
    expect(breaker.state).toBe('open');
    expect(seen[0]?.[0]).toBe(1);
    expect(seen[0]?.[1]).toMatchObject({ consecutiveOpens: 1, consecutiveFailures: 2, windowCalls: 4, windowFailures: 2, failureRate: 0.5, reason: 'failure_rate' });
    expect(breaker.stats().timeUntilHalfOpenMs).toBe(100);
    await clock.advance(100);
    await breaker.execute(failing()).catch(() => undefined);
    expect(seen[1]?.[0]).toBe(2);
    expect(seen[1]?.[1].reason).toBe('half_open_failure');
  });
});
