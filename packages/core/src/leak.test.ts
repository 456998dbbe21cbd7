import { getEventListeners } from 'node:events';
import { heapUsed } from '@x/test-support';
import { describe, expect, it } from 'vitest';
import { compose, fallback, sleep } from './index.js';
import { createVirtualClock } from './testing.js';
import { linking, retrying, tagging } from './test-policies.js';

describe('compose on a long-lived caller signal', () => {
  it('leaves no abort listeners and no retained memory after 100 000 executions', async () => {
    const controller = new AbortController();
    const signal = controller.signal;
    const policy = compose(
      fallback(() => -1),
      tagging('tag', 't'),
      retrying(2),
      linking(),
    );
    const clock = createVirtualClock();
    const run = async (i: number) =>
      policy.execute(
        async (ctx) => {
          // Read the signal and wait on it, as real work (fetch, a query) would.
          if (i % 10 === 0) await sleep(0, { signal: ctx.signal, clock });
          if (i % 7 === 0 && ctx.attempt === 1) throw new Error('transient');
          return i;
        },
        { signal },
      );

    // Warm up so lazily built internals do not count as growth.
    for (let i = 0; i < 2_000; i++) {
      const pending = run(i);
      if (i % 10 === 0) await clock.runAll();
      await pending;
    }
    const baseline = heapUsed();
    let sum = 0;
    for (let i = 0; i < 100_000; i++) {
      const pending = run(i);
      if (i % 10 === 0) await clock.runAll();
      sum += await pending;
    }
    expect(sum).toBe((99_999 * 100_000) / 2);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
    const grown = heapUsed() - baseline;
    // 100 000 retained contexts or listeners would be several megabytes.
    expect(grown).toBeLessThan(1_000_000);
  }, 60_000);
});
