import { getEventListeners } from 'node:events';
import { createEventBus, isXError, sleep } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { heapUsed } from '@x/test-support';
import { describe, expect, it } from 'vitest';
import { createTimeout } from './index.js';

describe('timeouts on a long-lived caller signal', () => {
  it('leave no abort listeners, no timers and no retained memory after 100 000 calls', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    // A subscriber makes every event path run (and allocate) too.
    let timedOut = 0;
    events.on('*', (e) => {
      if (e.type === 'timeout.timed_out') timedOut++;
    });
    const cooperative = createTimeout(100, { clock, events });
    const aggressive = createTimeout(100, { clock, events, strategy: 'aggressive' });
    // Nobody listens here, so calls that do not read their signal take the unwrapped path.
    const quiet = createTimeout(100, { clock, events: createEventBus() });
    const caller = new AbortController();
    const signal = caller.signal;

    const run = async (i: number): Promise<number> => {
      switch (i % 5) {
        case 0: // never reads its signal
          return cooperative.execute(async () => i, { signal });
        case 1: // reads it and finishes in time
          return cooperative.execute(async (ctx) => (ctx.signal.aborted ? -1 : i), { signal });
        case 2:
          return aggressive.execute(async ({ signal: s }) => (s.aborted ? -1 : i), { signal });
        case 3:
          return aggressive.execute(async () => i, { signal });
        default: {
          if (i % 100 !== 4) {
            if (i % 3 === 0) return quiet.execute(async () => i, { signal });
            // Reads its signal only after an await: the cleanup hooks onto the handed-out promise.
            return quiet.execute(
              async (ctx) => {
                await Promise.resolve();
                return ctx.signal.aborted ? -1 : i;
              },
              { signal },
            );
          }
          // Every 100th call times out: one policy of each strategy, and the clock has to move.
          const policy = i % 200 === 4 ? cooperative : aggressive;
          const pending = policy
            .execute(({ signal: s }) => sleep(1_000, { signal: s, clock }), { signal })
            .then(
              () => -1,
              (error: unknown) => (isXError(error, 'TIMEOUT') ? i : -1),
            );
          await clock.advance(100);
          await clock.advance(1_000); // lets abandoned aggressive work finish too
          return pending;
        }
      }
    };

    for (let i = 0; i < 5_000; i++) await run(i);
    // The virtual clock keeps cleared timers in its heap until time passes them.
    await clock.advance(1_000);
    const baseline = heapUsed();
    timedOut = 0;
    let sum = 0;
    for (let i = 0; i < 100_000; i++) sum += await run(i);
    await clock.advance(1_000);

    expect(sum).toBe((99_999 * 100_000) / 2);
    expect(timedOut).toBe(1_000);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
    expect(aggressive.abandoned).toBe(0);
    const grown = heapUsed() - baseline;
    // 100 000 retained calls, signals or listeners would be many megabytes.
    expect(grown).toBeLessThan(1_000_000);
  }, 60_000);
});
