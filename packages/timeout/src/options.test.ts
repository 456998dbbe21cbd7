import { createEventBus, isXError, systemClock } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { createTimeout } from './index.js';

function invalid(make: () => unknown): { option: string; message: string } {
  try {
    make();
  } catch (error) {
    if (!isXError(error, 'INVALID_OPTIONS')) throw error;
    return { option: error.option, message: error.message };
  }
  throw new Error('expected INVALID_OPTIONS');
}

describe('createTimeout options', () => {
  it.each([0, -1, -0, NaN, -Infinity, '100', null, undefined, 10n])('rejects ms = %s', (ms) => {
    const { option, message } = invalid(() => createTimeout(ms as never));
    expect(option).toBe('ms');
    expect(message).toMatch(/^createTimeout: option "ms" must be a number > 0, got /);
  });

  it('accepts fractional and infinite ms', () => {
    expect(createTimeout(0.5).timeoutMs).toBe(0.5);
    expect(createTimeout(Infinity).timeoutMs).toBe(Infinity);
  });

  it('rejects an unknown strategy, naming the allowed ones', () => {
    const { option, message } = invalid(() => createTimeout(10, { strategy: 'pessimistic' as never }));
    expect(option).toBe('strategy');
    expect(message).toContain("one of 'cooperative' | 'aggressive'");
    expect(message).toContain('"pessimistic"');
  });

  it('rejects a name that is not a non-empty string', () => {
    expect(invalid(() => createTimeout(10, { name: '' })).option).toBe('name');
    expect(invalid(() => createTimeout(10, { name: 5 as never })).option).toBe('name');
  });

  it('rejects options that are not an object', () => {
    expect(invalid(() => createTimeout(10, null as never)).option).toBe('options');
    expect(invalid(() => createTimeout(10, 'fast' as never)).option).toBe('options');
  });

  it('rejects a clock or event bus without the methods it needs', () => {
    expect(invalid(() => createTimeout(10, { clock: 5 as never })).option).toBe('clock');
    expect(invalid(() => createTimeout(10, { clock: { now: () => 0 } as never })).option).toBe('clock.setTimeout');
    const { setTimeout: _s, ...noSet } = createVirtualClock();
    void _s;
    expect(invalid(() => createTimeout(10, { clock: noSet as never })).option).toBe('clock.setTimeout');
    expect(invalid(() => createTimeout(10, { events: {} as never })).option).toBe('events.on');
    expect(invalid(() => createTimeout(10, { events: null as never })).option).toBe('events');
  });

  it('has documented defaults', () => {
    const timeout = createTimeout(250);
    expect(timeout.name).toBe('timeout');
    expect(timeout.strategy).toBe('cooperative');
    expect(timeout.timeoutMs).toBe(250);
    expect(timeout.abandoned).toBe(0);
    const named = createTimeout(1, { name: 'db', strategy: 'aggressive', clock: systemClock, events: createEventBus() });
    expect(named.name).toBe('db');
    expect(named.strategy).toBe('aggressive');
  });
});

describe('on the system clock', () => {
  it('times out for real without keeping the process busy afterwards', async () => {
    const timeout = createTimeout(20, { events: createEventBus() });
    const started = performance.now();
    const error = await timeout
      .execute(
        ({ signal }) =>
          new Promise((_, reject) => {
            signal.addEventListener('abort', () => reject(signal.reason));
          }),
      )
      .catch((e: unknown) => e);
    expect(isXError(error, 'TIMEOUT')).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(19);
  });
});

describe('createTimeout: misspelt options', () => {
  it('names an unknown option instead of silently ignoring it', () => {
    expect(() => createTimeout(100, { stratgy: 'aggressive' } as never)).toThrow(/createTimeout: option "stratgy" must be absent: createTimeout has no such option/);
  });
});
