import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { createAdaptiveConcurrency, createBulkhead } from './index.js';

describe('inputs (issue 11, defects 4 and 5)', () => {
  it('never reads an option set on Object.prototype', async () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.maxQueue = 10;
    proto.order = 'lifo';
    try {
      const bulkhead = createBulkhead({ maxConcurrent: 1, events: createEventBus() });
      expect(bulkhead.stats()).toMatchObject({ maxQueue: 0, order: 'fifo' });
    } finally {
      delete proto.maxQueue;
      delete proto.order;
    }
  });

  it('says which option a misspelt key meant', () => {
    expect(() => createBulkhead({ maxConcurrent: 1, maxQeue: 5 } as never)).toThrow(/did you mean "maxQueue"/);
  });

  it('refuses a fn that is not a function, or a wrong deadline or signal, without taking a slot', async () => {
    const bulkhead = createBulkhead({ maxConcurrent: 1, events: createEventBus() });
    await expect(bulkhead.execute('not a function' as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'fn' });
    expect(await bulkhead.executeOutcome(42 as never)).toMatchObject({ ok: false, error: { code: 'INVALID_OPTIONS', option: 'fn' } });
    for (const deadline of [null, NaN, 'soon', {}]) {
      await expect(bulkhead.execute(async () => 1, { deadline } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'deadline' });
    }
    await expect(bulkhead.execute(async () => 1, { signal: 42 } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'signal' });
    expect(bulkhead.stats()).toMatchObject({ active: 0, admitted: 0 });
    await expect(bulkhead.execute(async () => 'ok')).resolves.toBe('ok');
  });

  it('acquire() refuses a signal that is not one instead of ignoring it', async () => {
    const bulkhead = createBulkhead({ maxConcurrent: 1, events: createEventBus() });
    await expect(bulkhead.acquire({ signal: 42 } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'signal' });
    await expect(bulkhead.acquire({ deadline: null } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'deadline' });
    expect(bulkhead.stats().active).toBe(0);
  });

  it('the adaptive limiter refuses a fn that is not a function before measuring it', async () => {
    const clock = createVirtualClock();
    const bulkhead = createBulkhead({ maxConcurrent: 4, clock, events: createEventBus() });
    const adaptive = createAdaptiveConcurrency({ target: bulkhead, clock, events: createEventBus() });
    await expect(adaptive.execute(null as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'fn' });
  });
});
