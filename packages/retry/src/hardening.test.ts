import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { createRetry, createRetryBudget, exponentialBackoff } from './index.js';

describe('inputs (issue 11, defects 4 and 5)', () => {
  it('never reads an option set on Object.prototype', async () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.maxAttempts = 1;
    proto.jitter = 'none';
    try {
      const clock = createVirtualClock();
      const retry = createRetry({ clock, events: createEventBus(), backoff: exponentialBackoff({ initialMs: 1 }) });
      let calls = 0;
      const run = retry.executeOutcome(() => {
        calls++;
        throw new Error('down');
      });
      await clock.runAll();
      await run;
      expect(calls).toBeGreaterThan(1);
      expect(exponentialBackoff().options.jitter).toBe('full');
    } finally {
      delete proto.maxAttempts;
      delete proto.jitter;
    }
  });

  it('says which option a misspelt key meant', () => {
    expect(() => createRetry({ maxAtempts: 3 } as never)).toThrow(/did you mean "maxAttempts"/);
    expect(() => exponentialBackoff({ initalMs: 3 } as never)).toThrow(/did you mean "initialMs"/);
    expect(() => createRetryBudget({ ratio: 0.1, minPerSec: 1 } as never)).toThrow(/did you mean "minPerSecond"/);
  });

  it('never retries a fn that is not a function: INVALID_OPTIONS at the call, in every entry point', async () => {
    const retry = createRetry({ events: createEventBus(), maxAttempts: 5 });
    await expect(retry.execute('not a function' as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'fn' });
    expect(await retry.executeOutcome(undefined as never)).toMatchObject({ ok: false, error: { code: 'INVALID_OPTIONS', option: 'fn' } });
    await expect(retry.executeWithStats(42 as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'fn' });
    await expect(retry.execute('x' as never, { signal: new AbortController().signal })).rejects.toMatchObject({ option: 'fn' });
  });

  it('treats a null, NaN, string or object deadline, and a signal that is not one, the same way: INVALID_OPTIONS, no attempt', async () => {
    const retry = createRetry({ events: createEventBus() });
    let calls = 0;
    const fn = async () => ++calls;
    for (const deadline of [null, NaN, '100', {}]) {
      await expect(retry.execute(fn, { deadline } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'deadline' });
    }
    await expect(retry.execute(fn, { signal: 42 } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'signal' });
    expect(calls).toBe(0);
  });
});
