import { setTimeout as abortableSleep } from 'node:timers/promises';
import { compose, createEventBus, fallback, isXError } from '@x/core';
import type { ExecutionContext } from '@x/core';
import { describe, expect, it } from 'vitest';
import { BreakerOpenError, BreakerTooManyCallsError, createBreaker } from './index.js';
import { collect, deferred, failing, failTimes, setup } from './test-support.js';

describe('closed state', () => {
  it('runs the function and returns its value', async () => {
    const { breaker } = setup();
    expect(await breaker.execute(() => 42)).toBe(42);
    expect(await breaker.execute(async () => 'async')).toBe('async');
    expect(breaker.state).toBe('closed');
  });

  it('passes an execution context with attempt 1 and a signal', async () => {
    const { breaker } = setup();
    const ctx = await breaker.execute((c: ExecutionContext) => c);
    expect(ctx.attempt).toBe(1);
    expect(ctx.signal).toBeInstanceOf(AbortSignal);
    expect(ctx.signal.aborted).toBe(false);
  });

  it("passes the caller's signal and deadline through", async () => {
    const { breaker } = setup();
    const controller = new AbortController();
    const ctx = await breaker.execute((c: ExecutionContext) => c, { signal: controller.signal, deadline: 99 });
    expect(ctx.signal).toBe(controller.signal);
    expect(ctx.deadline).toBe(99);
  });

  it('rethrows the function error unchanged, including synchronous throws', async () => {
    const { breaker } = setup();
    const error = new Error('sync');
    await expect(
      breaker.execute(() => {
        throw error;
      }),
    ).rejects.toBe(error);
    const asyncError = new Error('async');
    await expect(breaker.execute(() => Promise.reject(asyncError))).rejects.toBe(asyncError);
    expect(breaker.stats().totals.failures).toBe(2);
  });

  it('accepts thenables that are not native promises', async () => {
    const { breaker } = setup();
    const thenable: PromiseLike<number> = { then: (resolve) => Promise.resolve(resolve?.(7)) as never };
    expect(await breaker.execute(() => thenable)).toBe(7);
  });

  it('opens after failureThreshold failures in a row, without calling the function afterwards', async () => {
    const { breaker } = setup({ failureThreshold: 3 });
    await failTimes(breaker, 2);
    expect(breaker.state).toBe('closed');
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
    let called = false;
    const error = await breaker
      .execute(() => {
        called = true;
      })
      .catch((e: unknown) => e);
    expect(called).toBe(false);
    expect(error).toBeInstanceOf(BreakerOpenError);
    expect(isXError(error, 'BREAKER_OPEN')).toBe(true);
  });

  it('resets the failure streak on a success', async () => {
    const { breaker } = setup({ failureThreshold: 3 });
    await failTimes(breaker, 2);
    await breaker.execute(() => 'ok');
    await failTimes(breaker, 2);
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().consecutiveFailures).toBe(2);
  });

  it('opens after 5 failures in a row by default', async () => {
    const { breaker } = setup();
    await failTimes(breaker, 4);
    expect(breaker.state).toBe('closed');
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
  });
});

describe('open state', () => {
  it('reports retryAfterMs as the exact time until half-open', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 10_000 });
    await failTimes(breaker, 1);
    await clock.advance(2_500);
    const result = await breaker.executeOutcome(() => 1);
    expect(result.ok).toBe(false);
    const error = (result as { error: BreakerOpenError }).error;
    expect(error.retryAfterMs).toBe(7_500);
    expect(error.state).toBe('open');
    expect(error.reason).toBe('open');
    expect(error.breaker).toBe('test');
    expect(error.message).toBe('circuit "test" is open; retry after 7500 ms');
  });

  it('executeOutcome returns { ok: false } with a stackless BreakerOpenError and does not run the function', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    await failTimes(breaker, 1);
    let called = false;
    const result = await breaker.executeOutcome(() => {
      called = true;
      return 1;
    });
    expect(called).toBe(false);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const error = result.error as BreakerOpenError;
    expect(error).toBeInstanceOf(BreakerOpenError);
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('BREAKER_OPEN');
    expect(error.name).toBe('BreakerOpenError');
    expect(error.stack).not.toMatch(/\n\s+at /);
    expect(Object.prototype.hasOwnProperty.call(error, 'stack')).toBe(false);
  });

  it('execute rejects with the same kind of error', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    await failTimes(breaker, 1);
    await expect(breaker.execute(() => 1)).rejects.toBeInstanceOf(BreakerOpenError);
    await expect(breaker.execute(() => 1)).rejects.toThrow(/circuit "test" is open; retry after 60000 ms/);
  });

  it('half-opens after openMs, computed on read, with no timer running', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 1_000 });
    await failTimes(breaker, 1);
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(999);
    expect(breaker.state).toBe('open');
    await clock.advance(1);
    expect(breaker.state).toBe('half_open');
    expect(clock.pendingTimers).toBe(0);
  });

  it('backs off with an openMs function of the consecutive opens, and starts over after closing', async () => {
    const seen: number[] = [];
    const { breaker, clock } = setup({
      failureThreshold: 1,
      successThreshold: 1,
      openMs: (n) => {
        seen.push(n);
        return 1_000 * 2 ** (n - 1);
      },
    });
    await failTimes(breaker, 1); // open 1 s
    await clock.advance(1_000);
    await failTimes(breaker, 1); // probe fails: open 2 s
    await clock.advance(1_999);
    expect(breaker.state).toBe('open');
    await clock.advance(1);
    await failTimes(breaker, 1); // open 4 s
    expect(breaker.stats().timeUntilHalfOpenMs).toBe(4_000);
    await clock.advance(4_000);
    await breaker.execute(() => 'ok'); // closes
    expect(breaker.state).toBe('closed');
    await failTimes(breaker, 1); // first open again
    expect(breaker.stats().timeUntilHalfOpenMs).toBe(1_000);
    expect(seen).toEqual([1, 2, 3, 1]);
  });

  it('uses 60 s when the openMs function throws or returns a bad value', async () => {
    for (const openMs of [() => Number.NaN, () => -5, () => Infinity, () => 'x' as unknown as number, () => { throw new Error('bad') }]) {
      const { breaker } = setup({ failureThreshold: 1, openMs });
      await failTimes(breaker, 1);
      expect(breaker.stats().timeUntilHalfOpenMs).toBe(60_000);
    }
  });

  it('allows openMs: 0 (half-open at once)', async () => {
    const { breaker } = setup({ failureThreshold: 1, openMs: 0 });
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('half_open');
  });
});

describe('concurrency limit', () => {
  it('rejects calls beyond maxConcurrent with BREAKER_TOO_MANY_CALLS, which is not a failure', async () => {
    const { breaker } = setup({ maxConcurrent: 2, failureThreshold: 1 });
    const gates = [deferred<number>(), deferred<number>()];
    const running = gates.map((gate) => breaker.execute(() => gate.promise));
    const error = await breaker.execute(() => 3).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BreakerTooManyCallsError);
    expect(isXError(error, 'BREAKER_TOO_MANY_CALLS')).toBe(true);
    expect((error as BreakerTooManyCallsError).maxConcurrent).toBe(2);
    const outcome = await breaker.executeOutcome(() => 3);
    expect(outcome.ok).toBe(false);
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().totals).toMatchObject({ rejected: 2, failures: 0 });
    expect(breaker.stats().runningCalls).toBe(2);
    gates[0]?.resolve(1);
    await running[0];
    expect(await breaker.execute(() => 4)).toBe(4);
    gates[1]?.resolve(2);
    await running[1];
    expect(breaker.stats().runningCalls).toBe(0);
  });

  it('also limits probes in the half-open state', async () => {
    const { breaker, clock } = setup({ maxConcurrent: 1, failureThreshold: 1, openMs: 10, halfOpenMax: 3 });
    const gate = deferred<number>();
    await failTimes(breaker, 1);
    await clock.advance(10);
    const probe = breaker.execute(() => gate.promise);
    await expect(breaker.execute(() => 1)).rejects.toBeInstanceOf(BreakerTooManyCallsError);
    gate.resolve(1);
    await probe;
  });
});

describe('classification', () => {
  it('does not count errors isFailure rejects, in either direction', async () => {
    const { breaker, clock } = setup({
      failureThreshold: 2,
      successThreshold: 1,
      openMs: 10,
      isFailure: (e) => !(e instanceof TypeError),
    });
    await breaker.executeOutcome(() => Promise.reject(new TypeError('client bug')));
    await breaker.executeOutcome(() => Promise.reject(new TypeError('client bug')));
    expect(breaker.state).toBe('closed');
    await failTimes(breaker, 2);
    expect(breaker.state).toBe('open');
    await clock.advance(10);
    // An ignored error in half-open neither closes nor reopens: the permit is just returned.
    await breaker.executeOutcome(() => Promise.reject(new TypeError('client bug')));
    expect(breaker.state).toBe('half_open');
    expect(breaker.stats().halfOpenProbes).toBe(0);
    expect(breaker.stats().totals.ignored).toBe(3);
  });

  it('counts a failure when isFailure itself throws', async () => {
    const { breaker } = setup({
      failureThreshold: 1,
      isFailure: () => {
        throw new Error('broken predicate');
      },
    });
    const error = new Error('call failed');
    await expect(breaker.execute(() => Promise.reject(error))).rejects.toBe(error);
    expect(breaker.state).toBe('open');
  });

  it('never counts a caller abort while the call runs as a failure', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1 });
    const controller = new AbortController();
    const call = breaker.execute(
      ({ signal }) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
      { signal: controller.signal },
    );
    await clock.flush();
    expect(breaker.stats().runningCalls).toBe(1);
    controller.abort();
    await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().totals).toMatchObject({ failures: 0, ignored: 1 });
    expect(breaker.stats().runningCalls).toBe(0);
  });

  it('counts an AbortError as a failure when the caller did not abort', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    const controller = new AbortController();
    const error = new DOMException('inner abort', 'AbortError');
    await expect(breaker.execute(() => Promise.reject(error), { signal: controller.signal })).rejects.toBe(error);
    expect(breaker.state).toBe('open');
  });

  it('counts a TIMEOUT as a failure and a timeout, even when an outer timeout delivered it through the signal', async () => {
    const { breaker } = setup({ failureThreshold: 2 });
    const timeout = Object.assign(new Error('timed out'), { code: 'TIMEOUT' });
    const controller = new AbortController();
    controller.abort(timeout);
    const direct = Object.assign(new Error('timed out'), { code: 'TIMEOUT' });
    await breaker.executeOutcome(() => Promise.reject(direct));
    // An already aborted signal rejects before running: nothing is counted.
    const early = await breaker.executeOutcome(() => 1, { signal: controller.signal });
    expect(early).toEqual({ ok: false, error: timeout });
    const outer = new AbortController();
    const call = breaker.executeOutcome(
      ({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      { signal: outer.signal },
    );
    outer.abort(timeout);
    await call;
    expect(breaker.stats().totals).toMatchObject({ failures: 2, timeouts: 2, ignored: 0, requests: 2 });
    expect(breaker.state).toBe('open');
  });

  it('rejects at once with the reason when the caller already aborted, without running or counting', async () => {
    const { breaker } = setup();
    const controller = new AbortController();
    const reason = new Error('gave up');
    controller.abort(reason);
    let called = false;
    await expect(
      breaker.execute(
        () => {
          called = true;
        },
        { signal: controller.signal },
      ),
    ).rejects.toBe(reason);
    expect(called).toBe(false);
    expect(breaker.stats().totals.requests).toBe(0);
  });
});

describe('as a core Policy', () => {
  it('composes with other policies and fallback', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    const safe = fallback(breaker, (error) => (isXError(error, 'BREAKER_OPEN') ? 'cached' : 'failed'));
    expect(await safe.execute(() => Promise.reject(new Error('x')))).toBe('failed');
    expect(await safe.execute(() => 'fresh')).toBe('cached');
    const composed = compose(fallback(() => 'fb'), breaker);
    expect(await composed.execute(() => 'value')).toBe('fb');
  });

  it('sees an outer context and can run inner policies', async () => {
    const a = createBreaker({ name: 'outer', events: createEventBus() });
    const b = createBreaker({ name: 'inner', events: createEventBus() });
    const controller = new AbortController();
    const ctx = await compose(a, b).execute((c: ExecutionContext) => c, { signal: controller.signal });
    expect(ctx.signal).toBe(controller.signal);
    expect(a.stats().totals.successes).toBe(1);
    expect(b.stats().totals.successes).toBe(1);
  });

  it('works with the real system clock and the default bus', async () => {
    const breaker = createBreaker({ failureThreshold: 1 });
    await breaker.executeOutcome(failing());
    expect(breaker.name).toBe('breaker');
    expect(breaker.state).toBe('open');
    const { timeUntilHalfOpenMs, lastFailureAt } = breaker.stats();
    expect(timeUntilHalfOpenMs).toBeGreaterThan(59_000);
    expect(timeUntilHalfOpenMs).toBeLessThanOrEqual(60_000);
    // systemClock time is epoch milliseconds.
    expect(Math.abs((lastFailureAt as number) - Date.now())).toBeLessThan(1_000);
  });
});

describe('calls that never reached the dependency', () => {
  it('ignores a TIMEOUT from a timeout inside that found its deadline passed before starting (not_started)', async () => {
    const { breaker, events } = setup({ failureThreshold: 1 });
    const ignored = collect(events, 'breaker.ignored');
    const notStarted = Object.assign(new Error('the deadline had passed before the call started'), { code: 'TIMEOUT', started: false });
    for (let i = 0; i < 3; i++) expect((await breaker.executeOutcome(() => Promise.reject(notStarted))).ok).toBe(false);
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().totals).toMatchObject({ requests: 3, failures: 0, timeouts: 0, ignored: 3 });
    expect(ignored.map((e) => e.reason)).toEqual(['not_started', 'not_started', 'not_started']);
    // A timeout of a call that did start still counts.
    await breaker.executeOutcome(() => Promise.reject(Object.assign(new Error('timed out'), { code: 'TIMEOUT', started: true })));
    expect(breaker.state).toBe('open');
  });

  it('gives a caller that already aborted its own reason in every state, counting nothing', async () => {
    const { breaker } = setup({ failureThreshold: 1, openMs: 1_000 });
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
    const before = breaker.stats().totals;
    const reason = new Error('user left');
    const signal = AbortSignal.abort(reason);
    await expect(breaker.execute(() => 1, { signal })).rejects.toBe(reason);
    expect(await breaker.executeOutcome(() => 1, { signal })).toEqual({ ok: false, error: reason });
    breaker.forceOpen();
    await expect(breaker.execute(() => 1, { signal })).rejects.toBe(reason);
    expect(breaker.stats().totals).toEqual(before);
  });
});

describe('enclosing timeouts', () => {
  const timeoutError = (): Error => Object.assign(new Error('timed out'), { name: 'TimeoutError', code: 'TIMEOUT' });

  it('counts an enclosing timeout that reaches the function as a native AbortError as a failure and a timeout, not a caller abort', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    const outer = new AbortController();
    // Node's abortable APIs (timers/promises, events.once, streams) reject with an AbortError whose
    // `cause` is signal.reason, not with the reason itself.
    const call = breaker.executeOutcome(({ signal }) => abortableSleep(60_000, undefined, { signal }), { signal: outer.signal });
    outer.abort(timeoutError());
    expect((await call).ok).toBe(false);
    expect(breaker.stats().totals).toMatchObject({ failures: 1, timeouts: 1, ignored: 0 });
    expect(breaker.state).toBe('open');
  });

});
