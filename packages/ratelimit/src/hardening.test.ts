import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { createAdaptiveRateLimiter, createRateLimiter } from './index.js';

const invalid = (make: () => unknown): { option?: string; code?: string } => {
  try {
    make();
  } catch (error) {
    return error as { option?: string; code?: string };
  }
  throw new Error('accepted');
};

describe('inputs (issue 11, defects 4 and 5)', () => {
  it('never reads an option set on Object.prototype', async () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.algorithm = 'fixed_window';
    proto.exactTime = 'yes'; // read, it would fail the boolean check
    try {
      const limiter = createRateLimiter({ limit: 1, periodMs: 1_000, events: createEventBus() });
      expect(limiter.rule.algorithm).toBe('gcra');
    } finally {
      delete proto.algorithm;
      delete proto.exactTime;
    }
  });

  it('says which option a misspelt key meant', () => {
    expect(() => createRateLimiter({ limit: 1, periodMs: 1_000, brust: 5 } as never)).toThrow(/did you mean "burst"/);
  });

  it('refuses a null or function store, and a clock or bus that is not one, with INVALID_OPTIONS', () => {
    expect(invalid(() => createRateLimiter({ limit: 1, periodMs: 1_000, store: null } as never))).toMatchObject({ code: 'INVALID_OPTIONS', option: 'store' });
    expect(invalid(() => createRateLimiter({ limit: 1, periodMs: 1_000, store: (() => 1) as never }))).toMatchObject({ code: 'INVALID_OPTIONS', option: 'store' });
    expect(invalid(() => createRateLimiter({ limit: 1, periodMs: 1_000, clock: null } as never))).toMatchObject({ code: 'INVALID_OPTIONS', option: 'clock' });
    expect(invalid(() => createRateLimiter({ limit: 1, periodMs: 1_000, events: null } as never))).toMatchObject({ code: 'INVALID_OPTIONS', option: 'events' });
    const limiter = createRateLimiter({ limit: 100, periodMs: 1_000, events: createEventBus() });
    const base = { limiter, minLimit: 1, maxLimit: 200, targetLatencyMs: 50 };
    expect(invalid(() => createAdaptiveRateLimiter({ ...base, events: {} } as never))).toMatchObject({ code: 'INVALID_OPTIONS', option: 'events' });
    expect(invalid(() => createAdaptiveRateLimiter({ ...base, clock: 'now' } as never))).toMatchObject({ code: 'INVALID_OPTIONS', option: 'clock' });
  });

  it('the policy refuses a fn that is not a function, a wrong deadline or signal, without spending a token', async () => {
    const clock = createVirtualClock();
    const limiter = createRateLimiter({ limit: 1, periodMs: 1_000, clock, events: createEventBus() });
    const policy = limiter.policy('k');
    await expect(policy.execute('not a function' as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'fn' });
    expect(await policy.executeOutcome(undefined as never)).toMatchObject({ ok: false, error: { option: 'fn' } });
    for (const deadline of [null, NaN, 'x', {}]) {
      await expect(policy.execute(async () => 1, { deadline } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'deadline' });
    }
    await expect(policy.execute(async () => 1, { signal: 42 } as never)).rejects.toMatchObject({ option: 'signal' });
    await expect(limiter.acquire('k', { signal: 42 } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'signal' });
    await expect(policy.execute(async () => 'admitted')).resolves.toBe('admitted');
    expect(() => limiter.policy('k', { cots: 1 } as never)).toThrow(/did you mean "cost"/);
  });
});
