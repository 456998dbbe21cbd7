import { describe, expect, it } from 'vitest';
import { XError, compose, createEventBus, deriveContext, isXError, toContext } from '@x/core';
import type { Clock, ExecutionContext, Policy } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { constantBackoff, exponentialBackoff } from './backoff.js';
import { RetryExhaustedError, UnacceptableResultError } from './errors.js';
import { permanent, retryable, isMarkedRetryable } from './marks.js';
import { createRetry } from './retry.js';
import type { RetryOptions } from './retry.js';
import { retryStatsOf } from './stats.js';
import { TransientError, flaky, settle } from './test-helpers.js';

/** A retry on a virtual clock with a quiet event bus and deterministic delays. */
function setup(options: RetryOptions = {}) {
  const clock = createVirtualClock();
  const events = createEventBus();
  const retry = createRetry({ clock, events, backoff: constantBackoff(100), ...options });
  return { clock, events, retry };
}

describe('createRetry: success', () => {
  it('returns the value of a first-attempt success', async () => {
    const { retry } = setup();
    await expect(retry.execute(async () => 42)).resolves.toBe(42);
  });

  it('accepts functions that return a plain value or a foreign thenable', async () => {
    const { retry } = setup();
    await expect(retry.execute(() => 'sync')).resolves.toBe('sync');
    const thenable = { then: (resolve: (v: string) => void) => resolve('thenable') };
    await expect(retry.execute(() => thenable as unknown as PromiseLike<string>)).resolves.toBe('thenable');
  });

  it('handles Promise subclasses and retries them', async () => {
    class TrackedPromise<T> extends Promise<T> {}
    const { retry, clock } = setup();
    let calls = 0;
    const result = settle(
      retry.execute(() => (++calls < 2 ? TrackedPromise.reject(new TransientError('x')) : TrackedPromise.resolve('sub'))),
    );
    await clock.runAll();
    expect(result.state.value).toBe('sub');
    expect(calls).toBe(2);
  });

  it('serves many concurrent calls, each with its own outcome', async () => {
    const { retry, clock } = setup({ retryOn: (e) => e instanceof TransientError });
    const fatal = new RangeError('fatal');
    const calls = Array.from({ length: 200 }, (_, i) =>
      settle(
        retry.execute(async ({ attempt }) => {
          if (i % 3 === 1) throw fatal;
          if (i % 3 === 2 && attempt === 1) throw new TransientError('once');
          return i;
        }),
      ),
    );
    await clock.runAll();
    calls.forEach(({ state }, i) => {
      if (i % 3 === 1) expect(state.error).toBe(fatal);
      else expect(state.value).toBe(i);
    });
  });

  it('passes the incoming context through unchanged on the first attempt', async () => {
    const { retry } = setup();
    const ctx = toContext({ deadline: 123 });
    let seen: ExecutionContext | undefined;
    await retry.execute((c) => {
      seen = c;
      return 1;
    }, ctx);
    expect(seen).toBe(ctx);
    expect(seen?.attempt).toBe(1);
  });

  it('restarts the attempt count at 1 inside an enclosing retry attempt', async () => {
    const { retry } = setup();
    const outerAttempt3 = deriveContext(toContext(), { attempt: 3 });
    const attempts: number[] = [];
    await retry.execute((c) => attempts.push(c.attempt), outerAttempt3);
    expect(attempts).toEqual([1]);
  });

  it('creates no timer and reads no clock on a first-attempt success', async () => {
    const virtual = createVirtualClock();
    let reads = 0;
    const clock: Clock = { ...virtual, now: () => (reads++, virtual.now()) };
    const retry = createRetry({ clock, events: createEventBus() });
    await retry.execute(async () => 1);
    await retry.executeOutcome(async () => 1);
    await retry.executeWithStats(async () => 1);
    expect(reads).toBe(0);
    expect(virtual.pendingTimers).toBe(0);
  });

  it('retries transient failures and numbers the attempts in the context', async () => {
    const { retry, clock } = setup({ maxAttempts: 4 });
    const { fn, calls } = flaky(2, 'ok');
    const result = settle(retry.execute(fn));
    await clock.runAll();
    expect(result.state).toEqual({ done: true, ok: true, value: 'ok' });
    expect(calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
  });

  it('retries a function that throws synchronously', async () => {
    const { retry, clock } = setup();
    let calls = 0;
    const result = settle(
      retry.execute(() => {
        if (++calls < 2) throw new TransientError('sync');
        return 'done';
      }),
    );
    await clock.runAll();
    expect(result.state.value).toBe('done');
    expect(calls).toBe(2);
  });

  it('waits the backoff delay between attempts', async () => {
    const { retry, clock } = setup({
      maxAttempts: 4,
      backoff: exponentialBackoff({ initialMs: 100, maxMs: 1_000, jitter: 'none' }),
    });
    const start = clock.now();
    const times: number[] = [];
    const result = settle(
      retry.execute(async () => {
        times.push(clock.now() - start);
        if (times.length < 4) throw new TransientError('again');
        return 'ok';
      }),
    );
    await clock.runAll();
    expect(result.state.ok).toBe(true);
    expect(times).toEqual([0, 100, 300, 700]);
  });

  it('passes the failed attempt number and the previous delay to a custom backoff', async () => {
    const seen: [number, number][] = [];
    const { retry, clock } = setup({
      maxAttempts: 3,
      backoff: (attempt, previous) => {
        seen.push([attempt, previous]);
        return attempt * 10;
      },
    });
    settle(retry.execute(flaky(5, 0).fn));
    await clock.runAll();
    expect(seen).toEqual([
      [1, 0],
      [2, 10],
    ]);
  });

  it('does not wait at all when the backoff returns 0, NaN or a negative number', async () => {
    for (const bad of [0, NaN, -50]) {
      const { retry, clock } = setup({ backoff: () => bad, maxAttempts: 3 });
      const { fn, calls } = flaky(2, 'ok');
      await expect(retry.execute(fn)).resolves.toBe('ok');
      expect(calls).toHaveLength(3);
      expect(clock.pendingTimers).toBe(0);
    }
  });
});

describe('createRetry: maxAttempts', () => {
  it('counts the first call: maxAttempts 3 makes 3 calls in total', async () => {
    const { retry, clock } = setup({ maxAttempts: 3 });
    const { fn, calls } = flaky(10, 'never');
    const result = settle(retry.execute(fn));
    await clock.runAll();
    expect(calls).toHaveLength(3);
    const error = result.state.error as RetryExhaustedError;
    expect(error).toBeInstanceOf(RetryExhaustedError);
    expect(error.code).toBe('RETRY_EXHAUSTED');
    expect(error.attempts).toBe(3);
    expect(error.totalDelayMs).toBe(200);
    expect(error.reason).toBe('exhausted');
    expect(error.message).toBe('retry "retry" failed after 3 attempts: failure 3');
    expect((error.cause as Error).message).toBe('failure 3');
  });

  it('maxAttempts 1 makes a single call', async () => {
    const { retry } = setup({ maxAttempts: 1 });
    const { fn, calls } = flaky(1, 'x');
    const error = await retry.execute(fn).catch((e: unknown) => e);
    expect(calls).toHaveLength(1);
    expect(isXError(error, 'RETRY_EXHAUSTED') && error.message).toBe('retry "retry" failed after 1 attempt: failure 1');
  });

  it('defaults to 3 attempts', async () => {
    const { retry, clock } = setup();
    const { fn, calls } = flaky(10, 'x');
    settle(retry.execute(fn));
    await clock.runAll();
    expect(calls).toHaveLength(3);
  });

  it('keeps retrying under maxAttempts Infinity until maxElapsedMs', async () => {
    const { retry, clock } = setup({ maxAttempts: Infinity, maxElapsedMs: 1_000 });
    const { fn, calls } = flaky(Infinity, 'x');
    const result = settle(retry.execute(fn));
    await clock.runAll();
    expect(calls).toHaveLength(10); // at 0, 100, ..., 900; the wait to 1000 would reach the bound
    expect((result.state.error as RetryExhaustedError).reason).toBe('deadline');
  });
});

describe('createRetry: classification', () => {
  it('rethrows a failure that retryOn rejects, as it is, after one call', async () => {
    const error = new TypeError('bad input');
    const { retry } = setup({ retryOn: (e) => !(e instanceof TypeError) });
    const { fn, calls } = flaky(5, 'x', () => error);
    await expect(retry.execute(fn)).rejects.toBe(error);
    expect(calls).toHaveLength(1);
  });

  it('gives retryOn the error and the attempt that failed', async () => {
    const seen: [string, number][] = [];
    const { retry, clock } = setup({
      maxAttempts: 5,
      retryOn: (e, attempt) => {
        seen.push([(e as Error).message, attempt]);
        return attempt < 2;
      },
    });
    settle(retry.execute(flaky(5, 'x').fn));
    await clock.runAll();
    expect(seen).toEqual([
      ['failure 1', 1],
      ['failure 2', 2],
    ]);
  });

  it('matches a retryOn list by code, by name and by class, along the cause chain', async () => {
    class NetworkError extends Error {}
    const cases: [unknown, boolean][] = [
      [Object.assign(new Error('reset'), { code: 'ECONNRESET' }), true],
      [new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } }), true],
      [Object.assign(new Error('t'), { name: 'TimeoutError' }), true],
      [new NetworkError('down'), true],
      [new Error('outer', { cause: new Error('mid', { cause: new NetworkError('deep') }) }), true],
      [new RangeError('nope'), false],
      ['a string', false],
    ];
    for (const [error, retried] of cases) {
      const { retry, clock } = setup({ retryOn: ['ECONNRESET', 'TimeoutError', NetworkError], maxAttempts: 2 });
      const { fn, calls } = flaky(1, 'ok', () => error);
      const result = settle(retry.execute(fn));
      await clock.runAll();
      expect(calls.length, String(error)).toBe(retried ? 2 : 1);
      if (!retried) expect(result.state.error).toBe(error);
    }
  });

  it('survives a cause cycle in the chain', async () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    const { retry } = setup({ retryOn: ['ENOPE'] });
    await expect(retry.execute(flaky(1, 0, () => a).fn)).rejects.toBe(a);
  });

  it('by default does not retry AbortError, INVALID_OPTIONS or an inner RETRY_EXHAUSTED', async () => {
    const abort = Object.assign(new Error('aborted'), { name: 'AbortError' });
    const invalid = new XError('INVALID_OPTIONS', 'bad option');
    const inner = new RetryExhaustedError('inner', 3, 0, 'exhausted', new Error('x'));
    for (const error of [abort, invalid, inner]) {
      const { retry } = setup();
      const { fn, calls } = flaky(5, 'x', () => error);
      await expect(retry.execute(fn)).rejects.toBe(error);
      expect(calls).toHaveLength(1);
    }
  });

  it('by default retries anything else, including thrown primitives', async () => {
    const { retry, clock } = setup();
    const { fn, calls } = flaky(2, 'ok', () => 'a string');
    const result = settle(retry.execute(fn));
    await clock.runAll();
    expect(result.state.value).toBe('ok');
    expect(calls).toHaveLength(3);
  });

  it('rejects with what a throwing retryOn threw, without retrying', async () => {
    const bug = new Error('predicate bug');
    const { retry } = setup({
      retryOn: () => {
        throw bug;
      },
    });
    const { fn, calls } = flaky(5, 'x');
    await expect(retry.execute(fn)).rejects.toBe(bug);
    expect(calls).toHaveLength(1);
  });
});

describe('permanent() and retryable()', () => {
  it('permanent() stops retrying and the original error reaches the caller', async () => {
    const error = new TransientError('gone for good');
    const { retry } = setup({ retryOn: () => true });
    const { fn, calls } = flaky(5, 'x', () => permanent(error));
    await expect(retry.execute(fn)).rejects.toBe(error);
    expect(calls).toHaveLength(1);
  });

  it('retryable() forces a retry that retryOn would refuse', async () => {
    const { retry, clock } = setup({ retryOn: () => false });
    const { fn, calls } = flaky(1, 'ok', () => retryable(new TypeError('known transient')));
    const result = settle(retry.execute(fn));
    await clock.runAll();
    expect(result.state.value).toBe('ok');
    expect(calls).toHaveLength(2);
  });

  it('a retryable() error still counts against maxAttempts', async () => {
    const { retry, clock } = setup({ maxAttempts: 2 });
    const { fn, calls } = flaky(5, 'x', () => retryable(new Error('again')));
    const result = settle(retry.execute(fn));
    await clock.runAll();
    expect(calls).toHaveLength(2);
    expect(isXError(result.state.error, 'RETRY_EXHAUSTED')).toBe(true);
  });

  it('marks frozen errors without touching them', () => {
    const frozen = Object.freeze(new Error('frozen'));
    expect(permanent(frozen)).toBe(frozen);
    expect(isMarkedRetryable(frozen)).toBe(false);
    expect(Object.getOwnPropertySymbols(frozen)).toEqual([]);
  });

  it('wraps a thrown primitive in an Error whose cause is the primitive', () => {
    const wrapped = permanent('plain string');
    expect(wrapped).toBeInstanceOf(Error);
    expect(wrapped.cause).toBe('plain string');
    expect(isMarkedRetryable(wrapped)).toBe(false);
  });

  it('the last mark wins', () => {
    const error = new Error('x');
    retryable(permanent(error));
    expect(isMarkedRetryable(error)).toBe(true);
    expect(isMarkedRetryable(new Error('unmarked'))).toBeUndefined();
    expect(isMarkedRetryable(42)).toBeUndefined();
  });

  it('an outer retry also sees an inner permanent() mark', async () => {
    const { retry: inner } = setup({ maxAttempts: 1 });
    const { retry: outer } = setup({ retryOn: () => true });
    const error = permanent(new Error('bad request'));
    let calls = 0;
    await expect(
      outer.execute(() =>
        inner.execute(() => {
          calls++;
          throw error;
        }),
      ),
    ).rejects.toBe(error);
    expect(calls).toBe(1);
  });
});

describe('retryOnResult', () => {
  it('retries unacceptable values whatever retryOn says about errors (a list or a predicate)', async () => {
    for (const retryOn of [['ECONNRESET'], (e: unknown) => e instanceof TransientError]) {
      const { retry, clock } = setup({ maxAttempts: 3, retryOn, retryOnResult: (v) => v === 'busy' });
      const values = ['busy', 'busy', 'done'];
      const result = settle(retry.execute(async ({ attempt }) => values[attempt - 1]));
      await clock.runAll();
      expect(result.state).toMatchObject({ done: true, ok: true, value: 'done' });
    }
  });

  it('retries while the value is unacceptable and returns the first acceptable one', async () => {
    const { retry, clock } = setup({ maxAttempts: 5, retryOnResult: (v) => (v as { status: number }).status >= 500 });
    const statuses = [503, 502, 200];
    const seen: number[] = [];
    const result = settle(
      retry.execute(async ({ attempt }) => {
        seen.push(attempt);
        return { status: statuses[attempt - 1] };
      }),
    );
    await clock.runAll();
    expect(result.state.value).toEqual({ status: 200 });
    expect(seen).toEqual([1, 2, 3]);
  });

  it('on exhaustion reports the last value in an UnacceptableResultError cause', async () => {
    const { retry, clock } = setup({ maxAttempts: 3, retryOnResult: (v) => v === null || (v as number) < 10 });
    const values = [null, 5, 7];
    const result = settle(retry.execute(async ({ attempt }) => values[attempt - 1]));
    await clock.runAll();
    const error = result.state.error as RetryExhaustedError;
    expect(error.code).toBe('RETRY_EXHAUSTED');
    expect(error.cause).toBeInstanceOf(UnacceptableResultError);
    const cause = error.cause as UnacceptableResultError;
    expect(cause.code).toBe('UNACCEPTABLE_RESULT');
    expect(cause.value).toBe(7);
    expect(cause.attempt).toBe(3);
    expect(error.message).toBe('retry "retry" failed after 3 attempts: attempt 3 returned a value that retryOnResult rejected');
  });

  it('judges synchronous values too and passes the attempt number', async () => {
    const seen: [unknown, number][] = [];
    const { retry, clock } = setup({
      retryOnResult: (v, attempt) => {
        seen.push([v, attempt]);
        return attempt === 1;
      },
    });
    const result = settle(retry.execute(({ attempt }) => attempt * 10));
    await clock.runAll();
    expect(result.state.value).toBe(20);
    expect(seen).toEqual([
      [10, 1],
      [20, 2],
    ]);
  });

  it('rejects with what a throwing retryOnResult threw, without retrying', async () => {
    const bug = new Error('predicate bug');
    for (const failOn of [1, 2]) {
      const { retry, clock } = setup({
        retryOnResult: (_v, attempt) => {
          if (attempt === failOn) throw bug;
          return true;
        },
      });
      let calls = 0;
      const result = settle(retry.execute(() => ++calls));
      await clock.runAll();
      expect(result.state.error).toBe(bug);
      expect(calls).toBe(failOn);
    }
  });
});

describe('executeOutcome', () => {
  it('turns a result whose `then` getter throws into a failed attempt, on the first call and on the hot path', async () => {
    const { retry } = setup({ maxAttempts: 1 });
    const boom = new Error('then getter');
    const hostile = {
      get then(): never {
        throw boom;
      },
    };
    for (const round of ['first call', 'hot path']) {
      let outcome: Promise<unknown> | undefined;
      expect(() => {
        outcome = retry.executeOutcome(() => hostile as unknown as Promise<never>);
      }, round).not.toThrow();
      await expect(outcome, round).resolves.toMatchObject({ ok: false, error: { code: 'RETRY_EXHAUSTED', cause: boom } });
      await retry.executeOutcome(async () => 1); // arms the hot path for the second round
    }
    await expect(retry.execute(() => hostile as unknown as Promise<never>)).rejects.toMatchObject({ cause: boom });
  });

  it('resolves { ok: true, value } on success, first attempt or later', async () => {
    const { retry, clock } = setup();
    await expect(retry.executeOutcome(async () => 1)).resolves.toEqual({ ok: true, value: 1 });
    const later = settle(retry.executeOutcome(flaky(1, 2).fn));
    await clock.runAll();
    expect(later.state.value).toEqual({ ok: true, value: 2 });
  });

  it('never rejects: exhaustion, non-retryable failures and aborts come back as { ok: false }', async () => {
    const { retry, clock } = setup({ maxAttempts: 2, retryOn: (e) => e instanceof TransientError });
    const exhausted = settle(retry.executeOutcome(flaky(5, 0).fn));
    await clock.runAll();
    expect(exhausted.state.ok).toBe(true);
    expect(exhausted.state.value).toMatchObject({ ok: false, error: { code: 'RETRY_EXHAUSTED', attempts: 2 } });

    const fatal = new RangeError('fatal');
    await expect(retry.executeOutcome(flaky(5, 0, () => fatal).fn)).resolves.toEqual({ ok: false, error: fatal });

    const controller = new AbortController();
    const reason = new Error('caller left');
    controller.abort(reason);
    await expect(retry.executeOutcome(async () => 1, { signal: controller.signal })).resolves.toEqual({
      ok: false,
      error: reason,
    });
  });
});

describe('executeWithStats', () => {
  it('reports attempts and total delay on success', async () => {
    const { retry, clock } = setup({ maxAttempts: 4 });
    await expect(retry.executeWithStats(async () => 'first')).resolves.toEqual({
      value: 'first',
      attempts: 1,
      totalDelayMs: 0,
    });
    const later = settle(retry.executeWithStats(flaky(2, 'third').fn));
    await clock.runAll();
    expect(later.state.value).toEqual({ value: 'third', attempts: 3, totalDelayMs: 200 });
  });

  it('carries the stats on a RetryExhaustedError', async () => {
    const { retry, clock } = setup({ maxAttempts: 3 });
    const result = settle(retry.executeWithStats(flaky(5, 0).fn));
    await clock.runAll();
    const error = result.state.error;
    expect(error).toMatchObject({ attempts: 3, totalDelayMs: 200 });
    expect(retryStatsOf(error)).toEqual({ attempts: 3, totalDelayMs: 200 });
  });

  it('records the stats of a failure rethrown as it is', async () => {
    const fatal = new RangeError('fatal on attempt 2');
    const { retry, clock } = setup({ maxAttempts: 5 });
    const result = settle(retry.executeWithStats(flaky(5, 0, (n) => (n === 2 ? permanent(fatal) : new TransientError())).fn));
    await clock.runAll();
    expect(result.state.error).toBe(fatal);
    expect(retryStatsOf(fatal)).toEqual({ attempts: 2, totalDelayMs: 100 });
    expect(retryStatsOf(new Error('unrelated'))).toBeUndefined();
    expect(retryStatsOf('primitive')).toBeUndefined();
  });
});

describe('composition', () => {
  it('is a core Policy that compose() can nest, with attempt visible to the function', async () => {
    const clock = createVirtualClock();
    const retry = createRetry({ clock, events: createEventBus(), backoff: 10 });
    const tagging: Policy<{ readonly tag: string }> = {
      name: 'tag',
      execute: (fn, options) => Promise.resolve(fn(deriveContext(toContext(options), { fields: { tag: 'outer' } }))),
      executeOutcome: async () => ({ ok: true, value: undefined as never }),
    };
    const seen: [string, number][] = [];
    const policy = compose(tagging, retry);
    const result = settle(
      policy.execute(async (ctx) => {
        seen.push([ctx.tag, ctx.attempt]);
        if (ctx.attempt < 3) throw new TransientError();
        return 'ok';
      }),
    );
    await clock.runAll();
    expect(result.state.value).toBe('ok');
    expect(seen).toEqual([
      ['outer', 1],
      ['outer', 2],
      ['outer', 3],
    ]);
    expect(policy.name).toBe('tag → retry');
  });
});

describe('stats()', () => {
  it('counts attempts by number and how executions that needed a retry ended', async () => {
    const { createVirtualClock } = await import('@x/core/testing');
    const { createEventBus } = await import('@x/core');
    const clock = createVirtualClock();
    const retry = createRetry({ maxAttempts: 3, backoff: () => 10, clock, events: createEventBus() });
    expect(retry.stats()).toEqual({
      attempts: [0],
      succeededAfterRetry: 0,
      gaveUp: { exhausted: 0, deadline: 0, budget: 0, not_retryable: 0, aborted: 0 },
    });
    await retry.execute(() => 'first try');
    let n = 0;
    const second = retry.execute(() => (++n < 2 ? Promise.reject(new Error('once')) : 'second try'));
    await clock.advance(10);
    await second;
    const exhausted = retry.execute(() => Promise.reject(new Error('always'))).catch((e: unknown) => e);
    await clock.advance(20);
    await exhausted;
    await retry.execute(() => Promise.reject(permanent(new Error('no')))).catch(() => undefined);
    const stats = retry.stats();
    expect(stats.attempts).toEqual([4, 2, 1]);
    expect(stats.succeededAfterRetry).toBe(1);
    expect(stats.gaveUp).toMatchObject({ exhausted: 1, not_retryable: 1 });
  });
});
