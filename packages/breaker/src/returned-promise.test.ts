import { hostilePromise, reentrantHostilePromise } from '@x/test-support';
import { describe, expect, it } from 'vitest';
import { collect, setup } from './test-support.js';
import type { BreakerOptions } from './options.js';

// `execute` hands the caller the promise `fn` returned and records the settlement on a side branch
// registered first. These tests pin what that must preserve: the caller sees the state after its
// call was counted, on every path, and nothing escapes synchronously.

/** The hot path (no options, nothing timed) and the slow path (a time window times every call). */
const paths: readonly [string, BreakerOptions, { signal?: AbortSignal } | undefined][] = [
  ['hot path', { failureThreshold: 1 }, undefined],
  ['slow path, options given', { failureThreshold: 1 }, { signal: new AbortController().signal }],
  ['slow path, timed window', { window: { kind: 'time', ms: 10_000 }, minimumCalls: 1, failureRateThreshold: 0.5 }, undefined],
];

describe('the promise execute returns', () => {
  for (const [path, options, callOptions] of paths) {
    it(`is the function's own native promise (${path})`, async () => {
      const { breaker } = setup(options);
      const own = Promise.resolve(5);
      const returned = breaker.execute(() => own, callOptions);
      expect(returned).toBe(own);
      expect(await returned).toBe(5);
    });

    it(`settles after the breaker has counted it: a caller resuming sees the new state (${path})`, async () => {
      const { breaker } = setup(options);
      await breaker.execute(async () => 1, callOptions);
      expect(breaker.stats().totals.successes).toBe(1);
      expect(breaker.stats().runningCalls).toBe(0);
      const error = new Error('down');
      // `.then` on the returned promise, not `await`: the handler is registered at once, and
      // still runs after the breaker's own.
      const seen = await breaker.execute(() => Promise.reject(error), callOptions).then(
        () => 'resolved',
        (e: unknown) => [e, breaker.state, breaker.stats().totals.failures, breaker.stats().runningCalls],
      );
      expect(seen).toEqual([error, 'open', 1, 0]);
    });

    it(`turns a promise whose then() throws into a counted failure, never a synchronous throw (${path})`, async () => {
      const { breaker, events } = setup({ ...options, failureThreshold: 5, minimumCalls: 100 }); // two failures must not open it
      const failures = collect(events, 'breaker.failure');
      const boom = new Error('then method');
      const hostile = () => hostilePromise(boom);
      let execute: Promise<unknown> | undefined;
      let outcome: Promise<unknown> | undefined;
      expect(() => {
        execute = breaker.execute(hostile, callOptions);
      }).not.toThrow();
      expect(() => {
        outcome = breaker.executeOutcome(hostile, callOptions);
      }).not.toThrow();
      await expect(execute).rejects.toBe(boom);
      await expect(outcome).resolves.toEqual({ ok: false, error: boom });
      expect(breaker.stats().totals.failures).toBe(2);
      expect(breaker.stats().runningCalls).toBe(0);
      expect(failures).toHaveLength(2);
    });
  }

  it('wraps a value or a foreign thenable in a native promise', async () => {
    const { breaker } = setup();
    const value = breaker.execute(() => 3);
    expect(value).toBeInstanceOf(Promise);
    expect(await value).toBe(3);
    const thenable: PromiseLike<number> = { then: (resolve) => Promise.resolve(resolve?.(4)) as never };
    const wrapped = breaker.execute(() => thenable);
    expect(wrapped).toBeInstanceOf(Promise);
    expect(await wrapped).toBe(4);
  });
});

describe('a then() that registers its handlers and then throws', () => {
  for (const [path, callOptions] of [
    ['hot path', undefined],
    ['slow path', { signal: new AbortController().signal }],
  ] as const) {
    it(`is settled once: running calls back to 0 and one outcome counted (${path})`, async () => {
      const { breaker } = setup({ failureThreshold: 100, maxConcurrent: 1 });
      await breaker.execute(() => reentrantHostilePromise(new Error('then')), callOptions).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 0));
      const { runningCalls, totals } = breaker.stats();
      expect({ runningCalls, decided: totals.successes + totals.failures }).toEqual({ runningCalls: 0, decided: 1 });
    });
  }
});
