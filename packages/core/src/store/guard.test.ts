import { describe, expect, it } from 'vitest';
import { createEventBus } from '../events.js';
import { createVirtualClock } from '../testing.js';
import { StoreGuard, storeGuardOptions } from './guard.js';

function guardOf(failureThreshold = 2) {
  const clock = createVirtualClock();
  const events = createEventBus();
  const types: string[] = [];
  events.on('*', (e) => types.push(e.type));
  return { clock, types, guard: new StoreGuard({ source: 'test', name: 'g', mode: 'open', failureThreshold, cooldownMs: 100, clock, events }) };
}

describe('StoreGuard', () => {
  it('admits one probe after the cooldown and starts another cooldown when it fails', async () => {
    const { guard, clock, types } = guardOf();
    guard.failed(guard.admit(), new Error('a'), false);
    guard.failed(guard.admit(), new Error('b'), false);
    expect(guard.health).toBe('degraded');
    expect(guard.admit()).toBe(-1);
    expect(guard.retryAfterMs()).toBe(100);
    await clock.advance(100);
    const probe = guard.admit();
    expect(probe).toBeGreaterThanOrEqual(0);
    expect(guard.health).toBe('probing');
    expect(guard.admit()).toBe(-1); // one probe at a time
    guard.failed(probe, new Error('c'), true);
    expect(guard.health).toBe('degraded');
    expect(types.filter((t) => t === 'test.store_degraded')).toHaveLength(1);
  });

  it('ignores a late answer from a call admitted before the guard opened', async () => {
    const { guard, clock } = guardOf();
    const old = guard.admit();
    guard.failed(guard.admit(), new Error('a'), false);
    guard.failed(guard.admit(), new Error('b'), false);
    await clock.advance(100);
    const probe = guard.admit();
    guard.succeeded(old); // stale: must not close the guard on the probe's behalf
    expect(guard.health).toBe('probing');
    guard.succeeded(probe);
    expect(guard.health).toBe('healthy');
  });

  it('a success resets the count of consecutive failures', () => {
    const { guard } = guardOf(2);
    guard.failed(guard.admit(), new Error('a'), false);
    guard.succeeded(guard.admit());
    guard.failed(guard.admit(), new Error('b'), false);
    expect(guard.health).toBe('healthy');
    expect(guard.consecutiveFailures).toBe(1);
  });

  it('validates its tuning options with INVALID_OPTIONS', () => {
    expect(storeGuardOptions('s', {})).toEqual({ failureThreshold: 3, cooldownMs: 1_000 });
    expect(() => storeGuardOptions('s', { failureThreshold: 0 })).toThrow(/failureThreshold/);
    expect(() => storeGuardOptions('s', { cooldownMs: Number.NaN })).toThrow(/cooldownMs/);
  });
});
