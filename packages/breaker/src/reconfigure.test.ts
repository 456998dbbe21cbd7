import { isXError } from '@x/core';
import { describe, expect, it } from 'vitest';
import { failTimes, setup } from './test-support.js';

describe('reconfigure', () => {
  it('a lower failureThreshold applies to the failures already counted', async () => {
    const { breaker } = setup({ failureThreshold: 5 });
    await failTimes(breaker, 2);
    expect(breaker.state).toBe('closed');
    breaker.reconfigure({ failureThreshold: 3 });
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
  });

  it('keeps an open circuit open for its current period and uses the new openMs for the next one', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 1_000, successThreshold: 1 });
    await failTimes(breaker, 1);
    breaker.reconfigure({ openMs: 5_000 });
    expect(breaker.state).toBe('open');
    await clock.advance(1_000);
    expect(breaker.state).toBe('half_open');
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
    await clock.advance(4_999);
    expect(breaker.state).toBe('open');
    await clock.advance(1);
    expect(breaker.state).toBe('half_open');
  });

  it('halfOpenMax and successThreshold change the half-open admission and closing', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 10, halfOpenMax: 1, successThreshold: 2 });
    await failTimes(breaker, 1);
    breaker.reconfigure({ halfOpenMax: 2, successThreshold: 1 });
    await clock.advance(10);
    const a = breaker.tryAcquire();
    const b = breaker.tryAcquire();
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    a?.success();
    expect(breaker.state).toBe('closed');
    b?.success();
  });

  it('rejects an invalid option with INVALID_OPTIONS and changes nothing', async () => {
    const { breaker } = setup({ failureThreshold: 2 });
    const attempt = () => breaker.reconfigure({ failureThreshold: 1, halfOpenMax: 0 });
    expect(attempt).toThrow(/halfOpenMax/);
    try {
      attempt();
    } catch (error) {
      expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
    }
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('closed'); // failureThreshold 1 was not applied
    expect(() => breaker.reconfigure({ failureRateThreshold: 0.5 })).toThrow(/without a window/);
    expect(() => breaker.reconfigure({ failureTreshold: 1 } as never)).toThrow(/did you mean "failureThreshold"/);
  });

  it('changes the failure-rate rule of a breaker created with a window', async () => {
    const { breaker } = setup({ failureRateThreshold: 1, window: { kind: 'count', size: 10 }, minimumCalls: 4 });
    await breaker.execute(() => 1);
    await failTimes(breaker, 2);
    expect(breaker.state).toBe('closed');
    breaker.reconfigure({ failureRateThreshold: 0.5, minimumCalls: 3 });
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
  });
});
