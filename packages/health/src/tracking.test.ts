import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { createBurnRateMonitor, createErrorBudget, createHealthMonitor } from './index.js';
import type { ErrorBudget } from './index.js';

describe('instances on the event bus', () => {
  it('tracks every monitor and budget under source "health", told apart by kind', () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const monitor = createHealthMonitor({ name: 'api', clock, events });
    const budget = createErrorBudget({ name: 'checkout', slo: 0.999, windowMs: 3_600_000, clock, events });
    const burn = createBurnRateMonitor({ name: 'checkout-burn', slo: 0.999, clock, events });
    const tracked = events.tracked('health');
    expect(tracked.map((t) => [t.name, (t.instance as { kind: string }).kind])).toEqual([
      ['api', 'health_monitor'],
      ['checkout', 'error_budget'],
      ['checkout-burn', 'burn_rate_monitor'],
    ]);
    expect(tracked.map((t) => t.instance)).toEqual([monitor, budget, burn]);
    // What an exporter does at scrape time:
    budget.recordMany(1_999, 1);
    const gauge = tracked.filter((t) => (t.instance as { kind: string }).kind === 'error_budget').map((t) => (t.instance as ErrorBudget).remaining);
    expect(gauge).toEqual([0.5]);
  });

  it('works with a bus that cannot track (an older copy of core)', () => {
    const clock = createVirtualClock();
    const events = { on: () => () => {}, emit: () => {}, hasListeners: () => false };
    expect(() => createErrorBudget({ slo: 0.9, windowMs: 1_000, clock, events: events as never })).not.toThrow();
    expect(() => createHealthMonitor({ clock, events: events as never })).not.toThrow();
    expect(() => createBurnRateMonitor({ slo: 0.9, clock, events: events as never })).not.toThrow();
  });
});
