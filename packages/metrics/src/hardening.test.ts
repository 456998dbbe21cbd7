import { createEventBus } from '@x/core';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { collectMetrics } from './index.js';

describe('inputs (issue 11, defect 4)', () => {
  it('never reads an option set on Object.prototype', async () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.prefix = 'inherited';
    proto.durations = 'yes'; // read, it would fail the boolean check
    const registry = new Registry();
    try {
      const metrics = collectMetrics({ registry, bus: createEventBus() });
      const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
      expect(names.some((n) => n.startsWith('x_'))).toBe(true);
      expect(names.some((n) => n.startsWith('inherited_'))).toBe(false);
      metrics.stop();
    } finally {
      delete proto.prefix;
      delete proto.durations;
    }
  });

  it('says which option a misspelt key meant', () => {
    expect(() => collectMetrics({ registry: new Registry(), prefx: 'a' } as never)).toThrow(/did you mean "prefix"/);
  });
});
