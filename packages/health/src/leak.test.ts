import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gc } from '@x/test-support';
import { createEventBus, sleep } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { createBurnRateMonitor, createErrorBudget, createHealthMonitor } from './index.js';
import { recordingBus } from './test-helpers.js';

describe('health monitor resources', () => {
  it('starts no timer while idle: not at construction, not after register, not after a settled runOnce', async () => {
    const clock = createVirtualClock();
    const { events } = recordingBus();
    const monitor = createHealthMonitor({ clock, events, intervalMs: 1_000 });
    monitor.register({ name: 'db', check: async () => 'PONG' });
    monitor.register({ name: 'cpu', value: () => 1, max: 8 });
    createErrorBudget({ slo: 0.999, windowMs: 60_000, clock, events }).record(false);
    const burn = createBurnRateMonitor({ slo: 0.999, clock, events });
    burn.record(false);
    burn.evaluate();
    expect(clock.pendingTimers).toBe(0);
    await monitor.runOnce();
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(60_000);
    expect(monitor.status('db')?.runs).toBe(1);
  });

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

describe('browser safety', () => {
  it('the main entry imports nothing from node:, prom-client or ioredis, nor does core', () => {
    const dirs = [new URL('.', import.meta.url).pathname, new URL('../../core/src/', import.meta.url).pathname];
    const offending: string[] = [];
    for (const dir of dirs) {
      for (const file of readdirSync(dir)) {
        if (!file.endsWith('.ts') || file.includes('.test') || file.startsWith('test-') || file === 'testing.ts') continue;
        const text = readFileSync(join(dir, file), 'utf8');
        if (/(from\s+|import\(|require\()\s*['"](node:|prom-client|ioredis)/.test(text)) offending.push(join(dir, file));
      }
    }
    expect(offending).toEqual([]);
  });
});
