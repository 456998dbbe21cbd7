// Budgets, Retry-After parsing, jitter ranges, stats of every ending, presets, and promises whose
// own `then` throws.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { hostilePromise } from '@x/test-support';
import { constantBackoff, exponentialBackoff, linearBackoff } from './backoff.js';
import type { Jitter } from './backoff.js';
import { createRetryBudget } from './budget.js';
import type { RetryExhaustedError } from './errors.js';
import { permanent } from './marks.js';
import { retryPresets } from './presets.js';
import { createRetry } from './retry.js';
import { parseRetryAfter } from './retry-after.js';
import { retryStatsOf } from './stats.js';
import { RateLimitedError, TransientError, flaky, recordingBus, settle } from './test-helpers.js';

/** A seeded, deterministic random source in [0, 1) (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const alwaysFails = async (): Promise<never> => {
  throw new TransientError('down');
};

describe('budget arithmetic, Retry-After parsing, jitter on unbounded delays, hostile promises', () => {
  it('budget: grants exactly ratio × calls retries for decimal ratios (0.29 × 100 calls = 29)', () => {
    // README: "A retry is granted while retries + 1 ≤ ratio × calls + minPerSecond × windowMs / 1000".
    const clock = createVirtualClock({ now: 0 });
    const budget = createRetryBudget({ ratio: 0.29, minPerSecond: 0, clock, events: createEventBus() });
    for (let i = 0; i < 100; i++) budget.recordCall();
    let granted = 0;
    while (granted < 100 && budget.tryAcquireRetry('p')) granted++;
    expect(granted).toBe(29);

    // The same for the minPerSecond floor: 4.1 per second over 60 s = 246 retries.
    const floor = createRetryBudget({ ratio: 0, minPerSecond: 4.1, windowMs: 60_000, clock, events: createEventBus() });
    let floorGranted = 0;
    while (floorGranted < 1_000 && floor.tryAcquireRetry('p')) floorGranted++;
    expect(floorGranted).toBe(246);
  });

  it('parseRetryAfter: a delay-seconds too large for a double still means "wait", not "no header"', () => {
    // 1*DIGIT is valid delay-seconds (RFC 9110 §10.2.3); only 1e306+ seconds overflow to Infinity.
    const huge = '9'.repeat(400);
    expect(parseRetryAfter('9'.repeat(300))).toBeGreaterThan(1e300); // still parsed
    expect(parseRetryAfter(huge)).not.toBeUndefined(); // observed: undefined = "no Retry-After"
  });

  it('parseRetryAfter: an asctime HTTP-date is UTC whatever the local time zone', () => {
    // RFC 9110 §5.6.7: asctime-date is one of the three HTTP-date forms and, like the others, in GMT.
    const now = Date.UTC(2026, 9, 21, 7, 28, 0);
    const saved = process.env['TZ'];
    try {
      process.env['TZ'] = 'America/New_York';
      expect(new Date(2026, 9, 21, 7, 28, 0).getTime()).not.toBe(now); // the zone switch took effect
      expect(parseRetryAfter('Wed, 21 Oct 2026 07:28:30 GMT', now)).toBe(30_000);
      expect(parseRetryAfter('Wed Oct 21 07:28:30 2026', now)).toBe(30_000); // observed: 14 430 000
    } finally {
      if (saved === undefined) delete process.env['TZ'];
      else process.env['TZ'] = saved;
    }
  });

  it('parseRetryAfter: text that merely starts with a day name is malformed, not a date', () => {
    const now = Date.UTC(2026, 9, 21, 7, 28, 0);
    // None of these is an IMF-fixdate, rfc850-date or asctime-date; Date.parse accepts them all.
    for (const bad of ['Mon 1', 'Sun 2027', 'Wed, 21 Oct 2026', 'Thursday 1 2030']) {
      expect(parseRetryAfter(bad, now), bad).toBeUndefined();
    }
  });

  it('linearBackoff: jitter on an unbounded (Infinity) nominal delay never yields NaN', () => {
    // README: "a delay is always within [0, maxMs] and never NaN". maxMs defaults to Infinity for
    // linear backoffs, stepMs has no upper bound, so the nominal delay can overflow to Infinity.
    for (const jitter of ['full', 'equal'] as const) {
      const backoff = linearBackoff({ initialMs: 100, stepMs: 1e308, jitter });
      const d = backoff(3, 0, () => 0);
      expect(Number.isNaN(d), jitter).toBe(false);
    }
  });

  it('execute / executeOutcome / executeWithStats never throw synchronously for a promise whose then() throws', () => {
    // The first audit made a throwing `then` getter a failed attempt; a native promise with a
    // throwing own `then` method still escapes synchronously from `result.then(...)`.
    const boom = new Error('then method');
    const hostile = () => hostilePromise(boom);
    const retry = createRetry({ maxAttempts: 1, events: createEventBus() });
    const threw: string[] = [];
    for (const mode of ['execute', 'executeOutcome', 'executeWithStats'] as const) {
      let result: Promise<unknown> | undefined;
      try {
        result = retry[mode](hostile);
      } catch {
        threw.push(mode);
      }
      result?.catch(() => undefined);
    }
    expect(threw).toEqual([]); // observed: all three throw 'then method' synchronously
  });
});

describe('budgets, jitter ranges, stats and presets in depth', () => {
  it('budget shared by two retries: exact boundary (retries + 1 = allowance is granted), refusal, events, sliding', async () => {
    const clock = createVirtualClock({ now: 0 });
    const { events, seen } = recordingBus();
    // windowMs 2 000 → buckets of 200 ms; floor = 1 × 2 = 2 retries.
    const budget = createRetryBudget({ name: 'db', ratio: 0.5, minPerSecond: 1, windowMs: 2_000, clock, events });
    const a = createRetry({ name: 'a', budget, clock, events, backoff: 10, maxAttempts: 2 });
    const b = createRetry({ name: 'b', budget, clock, events, backoff: 10, maxAttempts: 2 });
    const run = async (policy: typeof a) => {
      const r = settle(policy.execute(alwaysFails));
      await clock.runAll();
      return (r.state.error as RetryExhaustedError).reason;
    };
    // allowance after n calls = 0.5n + 2; the n-th execution needs retries + 1 ≤ allowance.
    expect(await run(a)).toBe('exhausted'); // 1 ≤ 2.5
    expect(await run(b)).toBe('exhausted'); // 2 ≤ 3
    expect(await run(a)).toBe('exhausted'); // 3 ≤ 3.5
    expect(await run(b)).toBe('exhausted'); // 4 ≤ 4   (boundary: granted)
    expect(await run(a)).toBe('budget'); //    5 > 4.5
    expect(await run(b)).toBe('exhausted'); // 5 ≤ 5   (boundary: granted)
    expect(clock.now()).toBe(50); // 5 waits of 10 ms, all in the first bucket
    expect(budget.snapshot()).toEqual({ calls: 6, retries: 5, allowance: 5, canRetry: false });
    expect(seen.filter((e) => e.type === 'retry.budget_exhausted')).toEqual([
      { type: 'retry.budget_exhausted', source: 'retry', name: 'db', time: 40, policy: 'a', calls: 5, retries: 4, allowance: 4.5 },
    ]);
    expect(seen.filter((e) => e.type === 'retry.gave_up' && e.reason === 'budget')).toEqual([
      expect.objectContaining({ name: 'a', attempts: 1, totalDelayMs: 0 }),
    ]);

    // 1 999 ms later the first bucket is still in the window; at 2 000 it leaves.
    await clock.advance(1_949); // t = 1 999
    expect(budget.snapshot()).toMatchObject({ calls: 6, retries: 5 });
    await clock.advance(1); // t = 2 000
    expect(budget.snapshot()).toEqual({ calls: 0, retries: 0, allowance: 2, canRetry: true });
    // Only the floor is left: two executions with no other traffic earn 0.5 each → 2.5, then 3.
    expect(await run(a)).toBe('exhausted');
    expect(await run(b)).toBe('exhausted');
    expect(await run(a)).toBe('exhausted'); // 3 ≤ 3.5
  });

  it('jitter: every kind stays in its documented range over many seeded randoms (property)', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        // 0 or a normal number (subnormal delays round in ways no timer can observe).
        fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 10_000, noNaN: true })),
        fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 100_000, noNaN: true })),
        fc.double({ min: 1, max: 10, noNaN: true }),
        fc.constantFrom<Jitter>('none', 'full', 'equal', 'decorrelated'),
        (seed, x, y, multiplier, jitter) => {
          const [initialMs, maxMs] = x <= y ? [x, y] : [y, x];
          const backoff = exponentialBackoff({ initialMs, maxMs, multiplier, jitter });
          const random = seeded(seed);
          let previous = 0;
          for (let attempt = 1; attempt <= 30; attempt++) {
            const d = backoff(attempt, previous, random);
            const nominal = Math.min(maxMs, initialMs * multiplier ** (attempt - 1));
            if (Number.isNaN(d) || d < 0 || d > maxMs) return false;
            if (jitter === 'none' && d !== nominal) return false;
            if (jitter === 'full' && nominal > 0 && !(d < nominal)) return false;
            if (jitter === 'equal' && nominal > 0 && !(d >= nominal / 2 && d < nominal)) return false;
            if (jitter === 'decorrelated') {
              // uniform in [initialMs, 3 × max(previous, initialMs)), capped at maxMs
              const high = 3 * Math.max(previous, initialMs);
              if (d < Math.min(initialMs, maxMs)) return false;
              if (d > Math.min(high, maxMs)) return false;
              if (high > initialMs && high <= maxMs && !(d < high)) return false;
            }
            previous = d;
          }
          return true;
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('decorrelated jitter: the retry feeds each delay back as the previous one (not the Retry-After wait)', async () => {
    const clock = createVirtualClock({ now: 0 });
    const seenPrevious: number[] = [];
    const inner = exponentialBackoff({ initialMs: 100, maxMs: 10_000, jitter: 'decorrelated' });
    const retry = createRetry({
      clock,
      events: createEventBus(),
      maxAttempts: 4,
      random: () => 0.5,
      backoff: (attempt, previous, random) => {
        seenPrevious.push(previous);
        return inner(attempt, previous, random);
      },
    });
    const times: number[] = [];
    // The 2nd failure asks for 5 s, more than the backoff's delay.
    const result = settle(
      retry.executeWithStats(async () => {
        times.push(clock.now());
        throw times.length === 2 ? new RateLimitedError(5_000) : new TransientError('x');
      }),
    );
    await clock.runAll();
    // delays: 100 + 0.5 × 200 = 200; 100 + 0.5 × 500 = 350 (raised to 5 000); 100 + 0.5 × 950 = 575
    expect(seenPrevious).toEqual([0, 200, 350]);
    expect(times).toEqual([0, 200, 5_200, 5_775]);
    expect(retryStatsOf(result.state.error)).toEqual({ attempts: 4, totalDelayMs: 5_775 });
  });

  it('executeWithStats: exact attempts and totalDelayMs on every way an execution ends', async () => {
    const clock = createVirtualClock({ now: 0 });
    const events = createEventBus();
    const backoff = exponentialBackoff({ initialMs: 100, maxMs: 1_000, jitter: 'none' });
    const make = (extra: Parameters<typeof createRetry>[0] = {}) => createRetry({ clock, events, backoff, maxAttempts: 4, ...extra });

    // Success after retries, one wait raised by a Retry-After.
    let n = 0;
    const ok = settle(
      make().executeWithStats(async () => {
        n++;
        if (n === 1) throw new RateLimitedError(250);
        if (n === 2) throw new TransientError('x');
        return 'v';
      }),
    );
    await clock.runAll();
    expect(ok.state.value).toEqual({ value: 'v', attempts: 3, totalDelayMs: 450 });

    // Exhausted: 100 + 200 + 400.
    const exhausted = settle(make().executeWithStats(alwaysFails));
    await clock.runAll();
    expect(exhausted.state.error).toMatchObject({ reason: 'exhausted', attempts: 4, totalDelayMs: 700 });
    expect(retryStatsOf(exhausted.state.error)).toEqual({ attempts: 4, totalDelayMs: 700 });

    // Deadline: waits 100 and 200 fit before start + 350, the next 400 would not.
    const deadline = settle(make({ maxElapsedMs: 350 }).executeWithStats(alwaysFails));
    await clock.runAll();
    expect(retryStatsOf(deadline.state.error)).toEqual({ attempts: 3, totalDelayMs: 300 });
    expect(deadline.state.error).toMatchObject({ reason: 'deadline' });

    // Budget: one retry allowed.
    const budget = createRetryBudget({ ratio: 0, minPerSecond: 0.1, windowMs: 10_000, clock, events });
    const refused = settle(make({ budget }).executeWithStats(alwaysFails));
    await clock.runAll();
    expect(refused.state.error).toMatchObject({ reason: 'budget', attempts: 2, totalDelayMs: 100 });

    // Not retryable on attempt 3: rethrown as it is, stats by identity.
    const fatal = new RangeError('fatal');
    const notRetryable = settle(make().executeWithStats(flaky(5, 0, (k) => (k === 3 ? permanent(fatal) : new TransientError())).fn));
    await clock.runAll();
    expect(notRetryable.state.error).toBe(fatal);
    expect(retryStatsOf(fatal)).toEqual({ attempts: 3, totalDelayMs: 300 });

    // A throwing classifier: its error, with the stats of the attempts made.
    const bug = new TypeError('classifier bug');
    const thrown = settle(
      make({
        retryOn: (_e, attempt) => {
          if (attempt === 2) throw bug;
          return true;
        },
      }).executeWithStats(alwaysFails),
    );
    await clock.runAll();
    expect(thrown.state.error).toBe(bug);
    expect(retryStatsOf(bug)).toEqual({ attempts: 2, totalDelayMs: 100 });

    // Caller abort during an attempt (after one full wait): the caller's reason.
    const caller = new AbortController();
    const reason = new Error('caller');
    const aborted = settle(
      make().executeWithStats(
        async (ctx) => {
          if (ctx.attempt === 2) caller.abort(reason);
          throw new TransientError('x');
        },
        { signal: caller.signal },
      ),
    );
    await clock.runAll();
    expect(aborted.state.error).toBe(reason);
    expect(retryStatsOf(reason)).toEqual({ attempts: 2, totalDelayMs: 100 });

    // Caller already aborted: no attempt.
    const early = new Error('early');
    const before = settle(make().executeWithStats(alwaysFails, { signal: AbortSignal.abort(early) }));
    await clock.flush();
    expect(before.state.error).toBe(early);
    expect(retryStatsOf(early)).toEqual({ attempts: 0, totalDelayMs: 0 });
  });

  it('presets wait the documented delays in a real retry (random fixed at 0.5: equal jitter = ¾ of nominal)', async () => {
    for (const [preset, expected] of [
      [retryPresets.default, [0, 75, 225]],
      [retryPresets.aggressive, [0, 37.5, 93.75, 178.125, 304.6875]],
      [retryPresets.conservative, [0, 375]],
    ] as const) {
      const clock = createVirtualClock({ now: 0 });
      const retry = createRetry({ ...preset, clock, events: createEventBus(), random: () => 0.5 });
      const times: number[] = [];
      const result = settle(
        retry.execute(async () => {
          times.push(clock.now());
          throw new TransientError('x');
        }),
      );
      await clock.runAll();
      expect(times).toEqual(expected);
      expect(result.state.error).toMatchObject({ reason: 'exhausted', attempts: expected.length });
    }
  });

  it('stats(): counters after mixed outcomes across execute, executeOutcome and executeWithStats', async () => {
    const clock = createVirtualClock({ now: 0 });
    const events = createEventBus();
    const budget = createRetryBudget({ ratio: 0, minPerSecond: 0.3, windowMs: 10_000, clock, events }); // 3 retries
    const retry = createRetry({ clock, events, backoff: constantBackoff(10), maxAttempts: 3, maxElapsedMs: 1_000, budget });
    const drive = async (p: Promise<unknown>) => {
      const s = settle(p);
      await clock.runAll();
      return s.state;
    };
    await drive(retry.execute(async () => 1)); // first-attempt success
    await drive(retry.executeOutcome(flaky(1, 2).fn)); // success after 1 retry (budget 1)
    await drive(retry.executeWithStats(flaky(5, 3).fn)); // 2 retries (budget 3) → exhausted
    await drive(retry.execute(flaky(5, 4).fn)); // budget refuses
    await drive(retry.execute(async () => Promise.reject(permanent(new Error('p'))))); // not retryable
    await drive(retry.execute(alwaysFails, { deadline: clock.now() + 5 })); // deadline
    const caller = new AbortController();
    await drive(
      retry.execute(
        async () => {
          caller.abort(new Error('stop'));
          throw new TransientError('x');
        },
        { signal: caller.signal },
      ),
    ); // aborted
    await drive(retry.execute(async () => 1, { signal: AbortSignal.abort() })); // never ran: not counted
    expect(retry.stats()).toEqual({
      attempts: [7, 2, 1],
      succeededAfterRetry: 1,
      gaveUp: { exhausted: 1, deadline: 1, budget: 1, not_retryable: 1, aborted: 1 },
    });
    expect(budget.snapshot()).toMatchObject({ calls: 7, retries: 3 });
  });

  it('parseRetryAfter: delay-seconds and dates around the given clock', () => {
    const clock = createVirtualClock({ now: Date.UTC(2026, 9, 21, 7, 28, 0) });
    const now = clock.now();
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('007', now)).toBe(7_000);
    expect(parseRetryAfter('2147484', now)).toBe(2_147_484_000); // > 2^31 - 1 ms: the retry gives up
    for (const bad of ['1.5', '-1', '+5', '1e3', '0x10', '5 s', '٣', 'Infinity', 'NaN']) expect(parseRetryAfter(bad, now), bad).toBeUndefined();
    // Dates: exactly now → 0, one second past → 0, in the future → the gap; RFC 850 form too.
    expect(parseRetryAfter('Wed, 21 Oct 2026 07:28:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('Wed, 21 Oct 2026 07:27:59 GMT', now)).toBe(0);
    expect(parseRetryAfter('Wed, 21 Oct 2026 07:28:01 GMT', now)).toBe(1_000);
    expect(parseRetryAfter('Wednesday, 21-Oct-26 07:29:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('wed, 21 oct 2026 07:28:01 gmt', now)).toBe(1_000);
    expect(parseRetryAfter('Wed, 32 Oct 2026 07:28:00 GMT', now)).toBeUndefined();
  });
});
