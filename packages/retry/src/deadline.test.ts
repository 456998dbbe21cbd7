import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_TIMER_MS, createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { constantBackoff, exponentialBackoff } from './backoff.js';
import type { RetryExhaustedError } from './errors.js';
import { retryable } from './marks.js';
import { createRetry } from './retry.js';
import type { RetryOptions } from './retry.js';
import { parseRetryAfter } from './retry-after.js';
import { FakeBreakerOpenError, RateLimitedError, TransientError, flaky, recordingBus, settle } from './test-helpers.js';

function setup(options: RetryOptions = {}) {
  const clock = createVirtualClock();
  const retry = createRetry({ clock, events: createEventBus(), backoff: constantBackoff(100), ...options });
  return { clock, retry };
}

/** A function that records when (relative to `clock`'s start) each attempt ran, and always fails. */
function timedFailures(clock: { now(): number }, makeError: () => unknown = () => new TransientError('down')) {
  const start = clock.now();
  const times: number[] = [];
  const fn = async () => {
    times.push(clock.now() - start);
    throw makeError();
  };
  return { fn, times, start };
}

describe('maxElapsedMs', () => {
  it('gives up at once, without sleeping, when the next wait would pass it', async () => {
    const { retry, clock } = setup({ maxAttempts: 10, maxElapsedMs: 1_000, backoff: exponentialBackoff({ initialMs: 200, maxMs: 10_000, jitter: 'none' }) });
    const { fn, times, start } = timedFailures(clock);
    let rejectedAt = -1;
    const result = settle(retry.execute(fn).catch((e: unknown) => ((rejectedAt = clock.now() - start), Promise.reject(e))));
    await clock.runAll();
    // Attempts at 0, 200, 600; the next wait (800) would end at 1400 > 1000: give up at 600.
    expect(times).toEqual([0, 200, 600]);
    expect(rejectedAt).toBe(600);
    const error = result.state.error as RetryExhaustedError;
    expect(error.reason).toBe('deadline');
    expect(error.attempts).toBe(3);
    expect(error.totalDelayMs).toBe(600);
    expect(error.message).toBe('retry "retry" failed after 3 attempts; the next retry would pass the deadline: down');
    expect(clock.pendingTimers).toBe(0);
  });

  it('counts the time attempts take, not only the waits', async () => {
    const { retry, clock } = setup({ maxAttempts: 10, maxElapsedMs: 1_000, backoff: 100 });
    let calls = 0;
    const result = settle(
      retry.execute(async () => {
        calls++;
        await new Promise((resolve) => clock.setTimeout(() => resolve(undefined), 300)); // each attempt runs 300 ms
        throw new TransientError('slow failure');
      }),
    );
    await clock.runAll();
    // Attempt ends at 300, 700; after the third (ending at 1100) nothing is left.
    expect(calls).toBe(3);
    expect((result.state.error as RetryExhaustedError).reason).toBe('deadline');
  });

  it('shows attempts the bound as their context deadline', async () => {
    const { retry, clock } = setup({ maxElapsedMs: 5_000 });
    const start = clock.now();
    const deadlines: (number | undefined)[] = [];
    const result = settle(
      retry.execute(async (ctx) => {
        deadlines.push(ctx.deadline);
        if (ctx.attempt < 2) throw new TransientError();
        return 'ok';
      }),
    );
    await clock.runAll();
    expect(result.state.value).toBe('ok');
    expect(deadlines).toEqual([start + 5_000, start + 5_000]);
  });

  it('keeps an earlier caller deadline in the attempt context', async () => {
    const { retry, clock } = setup({ maxElapsedMs: 5_000 });
    const deadline = clock.now() + 2_000;
    const seen: (number | undefined)[] = [];
    await retry.execute(async (ctx) => seen.push(ctx.deadline), { deadline });
    expect(seen).toEqual([deadline]);
  });
});

describe('an enclosing timeout that fires during an attempt', () => {
  it('ends the retry as a deadline (not a caller abort), with the attempt failure as cause', async () => {
    const clock = createVirtualClock();
    const { events, seen } = recordingBus();
    const retry = createRetry({ clock, events, backoff: constantBackoff(100), maxAttempts: 5 });
    const outer = new AbortController();
    const timedOut = Object.assign(new Error('outer timed out'), { code: 'TIMEOUT' });
    const attemptError = new DOMException('This operation was aborted', 'AbortError');
    const result = settle(
      retry.execute(
        ({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(attemptError), { once: true })),
        { signal: outer.signal },
      ),
    );
    await clock.advance(10);
    outer.abort(timedOut);
    await clock.runAll();
    expect(result.state.error).toMatchObject({ code: 'RETRY_EXHAUSTED', reason: 'deadline', attempts: 1, cause: attemptError });
    expect(retry.stats().gaveUp).toMatchObject({ deadline: 1, aborted: 0 });
    expect(seen.filter((e) => e.type === 'retry.gave_up')).toMatchObject([{ reason: 'deadline' }]);
  });

  it('still reports the caller’s own abort as aborted, with their reason', async () => {
    const { clock, retry } = setup({ maxAttempts: 5 });
    const caller = new AbortController();
    const reason = new Error('user left');
    const result = settle(
      retry.execute(({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new TransientError('closed')), { once: true })), {
        signal: caller.signal,
      }),
    );
    caller.abort(reason);
    await clock.runAll();
    expect(result.state.error).toBe(reason);
    expect(retry.stats().gaveUp).toMatchObject({ deadline: 0, aborted: 1 });
  });
});

describe('the caller deadline (ctx.deadline)', () => {
  it('is never slept past: the retry gives up at once when the wait would reach it', async () => {
    const { retry, clock } = setup({ maxAttempts: 10, backoff: 300 });
    const { fn, times, start } = timedFailures(clock);
    let rejectedAt = -1;
    const result = settle(
      retry.execute(fn, { deadline: start + 1_000 }).catch((e: unknown) => ((rejectedAt = clock.now() - start), Promise.reject(e))),
    );
    await clock.runAll();
    expect(times).toEqual([0, 300, 600, 900]); // after 900, a 300 ms wait would end at 1200
    expect(rejectedAt).toBe(900);
    expect((result.state.error as RetryExhaustedError).reason).toBe('deadline');
    expect(clock.pendingTimers).toBe(0);
  });

  it('gives up when a wait would end exactly at the deadline (no time left to run)', async () => {
    const { retry, clock } = setup({ backoff: 500 });
    const { fn, times, start } = timedFailures(clock);
    settle(retry.execute(fn, { deadline: start + 500 }));
    await clock.runAll();
    expect(times).toEqual([0]);
  });

  it('gives up at once when the deadline has already passed after a failure', async () => {
    const { retry, clock } = setup({ backoff: 0 });
    const { fn, times, start } = timedFailures(clock);
    const result = settle(retry.execute(fn, { deadline: start }));
    await clock.runAll();
    expect(times).toEqual([0]);
    expect((result.state.error as RetryExhaustedError).reason).toBe('deadline');
  });

  it('never starts an attempt at or after the deadline, nor rejects after it (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 2_000 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 5_000 }),
        fc.option(fc.integer({ min: 1, max: 5_000 }), { nil: undefined }),
        async (delays, runTimes, deadlineIn, maxElapsedMs) => {
          const clock = createVirtualClock();
          const retry = createRetry({
            clock,
            events: createEventBus(),
            maxAttempts: 20,
            maxElapsedMs,
            backoff: (attempt) => delays[(attempt - 1) % delays.length] as number,
          });
          const start = clock.now();
          const bound = Math.min(deadlineIn, maxElapsedMs ?? Infinity);
          const starts: number[] = [];
          let endedAt = -1;
          const result = settle(
            retry
              .execute(
                async ({ attempt }) => {
                  starts.push(clock.now() - start);
                  const runMs = runTimes[(attempt - 1) % runTimes.length] as number;
                  await new Promise((resolve) => clock.setTimeout(() => resolve(undefined), runMs));
                  throw new TransientError('down');
                },
                { deadline: start + deadlineIn },
              )
              .finally(() => (endedAt = clock.now() - start)),
          );
          await clock.runAll();
          expect(result.state.done).toBe(true);
          // Every retry started before the bound; the call ended when its last attempt did.
          for (const t of starts.slice(1)) expect(t).toBeLessThan(bound);
          const lastStart = starts[starts.length - 1] as number;
          const lastRun = runTimes[(starts.length - 1) % runTimes.length] as number;
          expect(endedAt).toBe(lastStart + lastRun);
          expect(clock.pendingTimers).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('Retry-After', () => {
  it("waits at least an error's retryAfterMs, even when the backoff is shorter", async () => {
    const { retry, clock } = setup({ backoff: 10 });
    const { fn, times } = timedFailures(clock, () => new RateLimitedError(1_500));
    settle(retry.execute(fn));
    await clock.runAll();
    expect(times).toEqual([0, 1_500, 3_000]);
  });

  it('keeps the backoff delay when it is longer than the Retry-After', async () => {
    const { retry, clock } = setup({ backoff: 2_000 });
    const { fn, times } = timedFailures(clock, () => new RateLimitedError(500));
    settle(retry.execute(fn));
    await clock.runAll();
    expect(times).toEqual([0, 2_000, 4_000]);
  });

  it('uses the retryAfter option first, then falls back to retryAfterMs', async () => {
    class HttpError extends Error {
      constructor(
        readonly status: number,
        readonly headers: Map<string, string>,
      ) {
        super(`HTTP ${status}`);
      }
    }
    const { retry, clock } = setup({
      backoff: 10,
      maxAttempts: 4,
      retryAfter: (e) => (e instanceof HttpError && e.status === 429 ? parseRetryAfter(e.headers.get('retry-after')) : undefined),
    });
    const errors = [new HttpError(429, new Map([['retry-after', '3']])), new RateLimitedError(700), new HttpError(503, new Map())];
    const { fn, times } = timedFailures(clock, () => errors.shift());
    settle(retry.execute(fn));
    await clock.runAll();
    expect(times).toEqual([0, 3_000, 3_700, 3_710]);
  });

  it('ignores an invalid Retry-After (negative, NaN, not a number)', async () => {
    for (const bad of [-1, NaN, '500']) {
      const { retry, clock } = setup({ backoff: 10, maxAttempts: 2, retryAfter: () => bad as number });
      const { fn, times } = timedFailures(clock);
      settle(retry.execute(fn));
      await clock.runAll();
      expect(times).toEqual([0, 10]);
    }
  });

  it('gives up at once when the Retry-After would pass the deadline', async () => {
    const { retry, clock } = setup({ backoff: 10 });
    const { fn, times, start } = timedFailures(clock, () => new RateLimitedError(5_000));
    const result = settle(retry.execute(fn, { deadline: start + 1_000 }));
    await clock.runAll();
    expect(times).toEqual([0]);
    expect((result.state.error as RetryExhaustedError).reason).toBe('deadline');
  });

  it('gives up when the Retry-After is Infinity and there is no deadline', async () => {
    const { retry, clock } = setup({ retryAfter: () => Infinity });
    const { fn, times } = timedFailures(clock);
    const result = settle(retry.execute(fn));
    await clock.runAll();
    expect(times).toEqual([0]);
    expect((result.state.error as RetryExhaustedError).reason).toBe('exhausted');
    expect(clock.pendingTimers).toBe(0);
  });

  it('gives up on a wait longer than timers can honour (2^31 - 1 ms) instead of firing at once', async () => {
    const { retry, clock } = setup({ retryAfter: () => MAX_TIMER_MS + 1 });
    const { fn, times } = timedFailures(clock);
    const result = settle(retry.execute(fn));
    await clock.runAll();
    expect(times).toEqual([0]);
    expect((result.state.error as RetryExhaustedError).reason).toBe('exhausted');
    expect(clock.pendingTimers).toBe(0);
  });

  it('reports the honoured Retry-After in the retry.scheduled event', async () => {
    const clock = createVirtualClock();
    const { events, seen } = recordingBus();
    const retry = createRetry({ clock, events, backoff: 10, maxAttempts: 2 });
    settle(retry.execute(flaky(1, 'ok', () => new RateLimitedError(250)).fn));
    await clock.runAll();
    expect(seen.filter((e) => e.type === 'retry.scheduled')).toEqual([
      expect.objectContaining({ attempt: 2, delayMs: 250, retryAfterMs: 250 }),
    ]);
  });
});

describe('BREAKER_OPEN', () => {
  it('is not retried without a retryAfterMs', async () => {
    const { retry, clock } = setup({ retryOn: () => true });
    const open = new FakeBreakerOpenError();
    const { fn, times } = timedFailures(clock, () => open);
    const result = settle(retry.execute(fn));
    await clock.runAll();
    expect(times).toEqual([0]);
    expect(result.state.error).toBe(open);
  });

  it('is not retried when its retryAfterMs would pass the deadline', async () => {
    const { retry, clock } = setup({ backoff: 10 });
    const { fn, times, start } = timedFailures(clock, () => new FakeBreakerOpenError(30_000));
    const result = settle(retry.execute(fn, { deadline: start + 5_000 }));
    await clock.runAll();
    expect(times).toEqual([0]);
    const error = result.state.error as RetryExhaustedError;
    expect(error.reason).toBe('deadline');
    expect(error.cause).toBeInstanceOf(FakeBreakerOpenError);
    expect(clock.pendingTimers).toBe(0);
  });

  it('is not retried when its retryAfterMs would pass maxElapsedMs', async () => {
    const { retry, clock } = setup({ backoff: 10, maxElapsedMs: 1_000 });
    const { fn, times } = timedFailures(clock, () => new FakeBreakerOpenError(1_000));
    settle(retry.execute(fn));
    await clock.runAll();
    expect(times).toEqual([0]);
  });

  it('is retried after its retryAfterMs when that fits before the deadline', async () => {
    const { retry, clock } = setup({ backoff: 10 });
    const start = clock.now();
    const times: number[] = [];
    const result = settle(
      retry.execute(
        async () => {
          times.push(clock.now() - start);
          if (times.length === 1) throw new FakeBreakerOpenError(4_000);
          return 'closed again';
        },
        { deadline: start + 5_000 },
      ),
    );
    await clock.runAll();
    expect(result.state.value).toBe('closed again');
    expect(times).toEqual([0, 4_000]);
  });

  it('is not retried even when marked retryable() if it has no retryAfterMs', async () => {
    const { retry, clock } = setup();
    const { fn, times } = timedFailures(clock, () => retryable(new FakeBreakerOpenError()));
    const result = settle(retry.execute(fn));
    await clock.runAll();
    expect(times).toEqual([0]);
    expect(result.state.error).toBeInstanceOf(FakeBreakerOpenError);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2026, 9, 21, 7, 28, 0);

  it('reads delay-seconds', () => {
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter(' 0 ')).toBe(0);
  });

  it('reads an HTTP-date relative to now, clamping the past to 0', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2026 07:28:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 21 Oct 2026 07:27:00 GMT', now)).toBe(0);
  });

  it('returns undefined for a missing or malformed header', () => {
    for (const bad of [null, undefined, '', '   ', 'soon', '-5', '1.5', '2026-10-21', 'Someday']) expect(parseRetryAfter(bad, now)).toBeUndefined();
  });
});
