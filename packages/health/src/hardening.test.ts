import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { createBurnRateMonitor, createErrorBudget, createHealthMonitor } from './index.js';

describe('inputs (issue 11, defects 4 and 5)', () => {
  it('never reads an option set on Object.prototype, in any factory or check definition', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.critical = false;
    proto.windowMs = 1;
    proto.windows = 'not windows';
    try {
      const clock = createVirtualClock();
      const events = createEventBus();
      const monitor = createHealthMonitor({ clock, events });
      monitor.register({ name: 'db', check: () => undefined });
      expect(monitor.report().checks['db']?.critical).toBe(true);
      expect(() => createErrorBudget({ slo: 0.99, clock, events })).not.toThrow();
      expect(() => createBurnRateMonitor({ slo: 0.999, clock, events })).not.toThrow();
      monitor.stop();
    } finally {
      delete proto.critical;
      delete proto.windowMs;
      delete proto.windows;
    }
  });

  it('says which option a misspelt key meant', () => {
    expect(() => createErrorBudget({ slo: 0.99, windowMS: 1_000 } as never)).toThrow(/did you mean "windowMs"/);
    expect(() => createHealthMonitor({ intervalMS: 1_000 } as never)).toThrow(/did you mean "intervalMs"/);
  });
});
