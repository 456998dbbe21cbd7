import { gc } from '@x/test-support';
import { createEventBus, sleep } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { createHealthMonitor } from './index.js';

describe('health monitor resources', () => {
  it('keeps memory flat over many runs and leaves no timer behind', async () => {
    const clock = createVirtualClock();
    const monitor = createHealthMonitor({ clock, events: createEventBus(), timeoutMs: 1_000, historySize: 50 });
    let i = 0;
    monitor.register({ name: 'flaky', check: () => i++ % 3 !== 0 });
    monitor.register({ name: 'depth', value: () => i % 20, max: 15 });
    monitor.register({ name: 'throws', check: () => Promise.reject(new Error('down')) });
    const runs = async (n: number) => {
      for (let k = 0; k < n; k++) {
        await monitor.runOnce();
        // The virtual clock keeps cleared timers in its queue until they fall due; let them.
        if (k % 500 === 499) await clock.advance(1_000);
      }
    };
    await runs(2_000);
    gc();
    const before = process.memoryUsage().heapUsed;
    await runs(20_000);
    gc();
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(1_000_000);
    expect(clock.pendingTimers).toBe(0);
    expect(monitor.status('flaky')?.runs).toBe(22_000);
  });

  it('a timed-out check that passed its signal on leaves no timer and no listener', async () => {
    const clock = createVirtualClock();
    const monitor = createHealthMonitor({ clock, events: createEventBus(), timeoutMs: 100 });
    let signal: AbortSignal | undefined;
    monitor.register({
      name: 'slow',
      check: (s) => {
        signal = s;
        return sleep(10_000, { clock, signal: s });
      },
    });
    const run = monitor.runOnce();
    await clock.advance(100);
    await run;
    expect(signal?.aborted).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });
});
