import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkBoolean,
  checkClock,
  checkEvents,
  checkFunction,
  checkInteger,
  checkNumber,
  checkOneOf,
  checkOptionKeys,
  readOptions,
  checkString,
  createEventBus,
  defaultEventBus,
  isXError,
  systemClock,
} from './index.js';
import { createVirtualClock } from './testing.js';

function rejection(run: () => unknown): { code: string; option: string; message: string } {
  try {
    run();
  } catch (error) {
    if (isXError(error, 'INVALID_OPTIONS')) return { code: error.code, option: error.option, message: error.message };
    throw error;
  }
  throw new Error('expected INVALID_OPTIONS');
}

describe('checkNumber', () => {
  it('returns valid values unchanged', () => {
    expect(checkNumber('f', 'ratio', 0.5, { min: 0, max: 1 })).toBe(0.5);
    expect(checkNumber('f', 'limit', Infinity, { min: 0, allowInfinity: true })).toBe(Infinity);
  });

  it('names the factory, option, range and value', () => {
    expect(rejection(() => checkNumber('createRetryBudget', 'ratio', 1.5, { min: 0, max: 1 }))).toEqual({
      code: 'INVALID_OPTIONS',
      option: 'ratio',
      message: 'createRetryBudget: option "ratio" must be a finite number in [0, 1], got 1.5',
    });
    expect(rejection(() => checkNumber('f', 'ms', 0, { min: 0, minExclusive: true })).message).toBe(
      'f: option "ms" must be a finite number > 0, got 0',
    );
  });

  it('renders the value unambiguously: quoted strings, -0, bigints, objects, Infinity', () => {
    expect(rejection(() => checkNumber('f', 'x', '3', { min: 0 })).message).toBe('f: option "x" must be a finite number >= 0, got "3"');
    expect(rejection(() => checkNumber('f', 'x', -0, { min: 0, minExclusive: true })).message).toBe(
      'f: option "x" must be a finite number > 0, got -0',
    );
    expect(rejection(() => checkNumber('f', 'x', 3n)).message).toBe('f: option "x" must be a finite number, got 3n');
    expect(rejection(() => checkNumber('f', 'x', { a: 1 })).message).toBe('f: option "x" must be a finite number, got object');
    expect(rejection(() => checkNumber('f', 'x', Infinity, { max: 10, allowInfinity: true })).message).toBe(
      'f: option "x" must be a number <= 10, got Infinity',
    );
    expect(checkNumber('f', 'x', -0, { min: 0 })).toBe(-0);
    expect(rejection(() => checkInteger('f', 'x', Infinity, { min: 1, max: 5, allowInfinity: true })).message).toBe(
      'f: option "x" must be an integer in [1, 5], got Infinity',
    );
  });

  it('supports exclusive bounds on both sides', () => {
    expect(checkNumber('createErrorBudget', 'slo', 0.999, { min: 0, max: 1, minExclusive: true, maxExclusive: true })).toBe(0.999);
    expect(rejection(() => checkNumber('createErrorBudget', 'slo', 1, { min: 0, max: 1, minExclusive: true, maxExclusive: true })).message).toBe(
      'createErrorBudget: option "slo" must be a finite number in (0, 1), got 1',
    );
    expect(rejection(() => checkNumber('f', 'x', 5, { max: 5, maxExclusive: true })).message).toBe('f: option "x" must be a finite number < 5, got 5');
  });

  it('rejects NaN, infinities and non-numbers whatever the range', () => {
    for (const bad of [Number.NaN, Infinity, -Infinity, '5', null, undefined, 5n]) {
      expect(rejection(() => checkNumber('f', 'x', bad)).code).toBe('INVALID_OPTIONS');
    }
    expect(rejection(() => checkNumber('f', 'x', -Infinity, { allowInfinity: true })).code).toBe('INVALID_OPTIONS');
  });

  it('accepts exactly the finite numbers inside the range (property)', () => {
    fc.assert(
      fc.property(fc.double(), fc.double({ noNaN: true, noDefaultInfinity: true }), (value, min) => {
        const ok = Number.isFinite(value) && value >= min && value <= min + 100;
        let threw = false;
        try {
          checkNumber('f', 'x', value, { min, max: min + 100 });
        } catch {
          threw = true;
        }
        expect(threw).toBe(!ok);
      }),
    );
  });
});

describe('checkInteger', () => {
  it('rejects fractions, NaN and out-of-range values', () => {
    expect(rejection(() => checkInteger('createRetry', 'maxAttempts', 0, { min: 1 })).message).toBe(
      'createRetry: option "maxAttempts" must be an integer >= 1, got 0',
    );
    expect(rejection(() => checkInteger('f', 'size', 2.5, { min: 1 })).code).toBe('INVALID_OPTIONS');
    expect(rejection(() => checkInteger('f', 'size', Number.NaN)).code).toBe('INVALID_OPTIONS');
    expect(rejection(() => checkInteger('f', 'size', 11, { min: 1, max: 10 })).message).toBe(
      'f: option "size" must be an integer in [1, 10], got 11',
    );
  });

  it('allows Infinity only when asked', () => {
    expect(checkInteger('f', 'max', Infinity, { min: 1, allowInfinity: true })).toBe(Infinity);
    expect(rejection(() => checkInteger('f', 'max', Infinity, { min: 1 })).code).toBe('INVALID_OPTIONS');
  });
});

describe('checkOneOf / checkFunction / checkString', () => {
  it('lists the allowed values', () => {
    expect(checkOneOf('f', 'order', 'lifo', ['fifo', 'lifo'] as const)).toBe('lifo');
    expect(rejection(() => checkOneOf('f', 'order', 'random', ['fifo', 'lifo'])).message).toBe(
      `f: option "order" must be one of 'fifo' | 'lifo', got "random"`,
    );
  });

  it('requires functions and non-empty strings', () => {
    const fn = () => true;
    expect(checkFunction('f', 'isFailure', fn)).toBe(fn);
    expect(rejection(() => checkFunction('f', 'isFailure', true)).message).toBe(
      'f: option "isFailure" must be a function, got true',
    );
    expect(checkString('f', 'name', 'db')).toBe('db');
    expect(rejection(() => checkString('f', 'name', '')).message).toBe('f: option "name" must be a non-empty string, got ""');
  });
});

describe('checkBoolean / checkOptionKeys / checkClock / checkEvents', () => {
  it('accepts only booleans', () => {
    expect(checkBoolean('f', 'critical', false)).toBe(false);
    expect(rejection(() => checkBoolean('f', 'critical', 'yes')).message).toBe('f: option "critical" must be a boolean, got "yes"');
  });

  it('names a misspelt option instead of ignoring it', () => {
    expect(() => checkOptionKeys('createBreaker', { failureThreshold: 1 }, ['failureThreshold'])).not.toThrow();
    expect(() => checkOptionKeys('createBreaker', undefined, ['failureThreshold'])).not.toThrow();
    const error = rejection(() => checkOptionKeys('createBreaker', { failureTreshold: 1 }, ['failureThreshold', 'openMs']));
    expect(error.option).toBe('failureTreshold');
    expect(error.message).toContain('createBreaker has no such option; did you mean "failureThreshold"? (known: failureThreshold, openMs)');
    expect(rejection(() => checkOptionKeys('createBreaker', { colour: 1 }, ['failureThreshold', 'openMs'])).message).toContain(
      'createBreaker has no such option (known: failureThreshold, openMs)',
    );
    expect(rejection(() => checkOptionKeys('f', [1], [])).option).toBe('options');
  });

  it('defaults the clock and the bus, and rejects look-alikes', () => {
    expect(checkClock('f', undefined)).toBe(systemClock);
    const clock = createVirtualClock();
    expect(checkClock('f', clock)).toBe(clock);
    expect(rejection(() => checkClock('f', { now: () => 1 })).option).toBe('clock');
    expect(checkEvents('f', undefined)).toBe(defaultEventBus());
    const bus = createEventBus();
    expect(checkEvents('f', bus)).toBe(bus);
    expect(rejection(() => checkEvents('f', {})).option).toBe('events');
  });
});

describe('did you mean', () => {
  const known = ['name', 'maxAttempts', 'maxDelayMs', 'backoff', 'shouldRetry', 'onStoreError', 'clock', 'events'];
  const suggestion = (key: string): string | undefined =>
    /did you mean "([^"]+)"/.exec(rejection(() => checkOptionKeys('createRetry', { [key]: 1 }, known)).message)?.[1];

  it('suggests the option a misspelt key most likely meant', () => {
    expect(suggestion('maxAtempts')).toBe('maxAttempts'); // a letter dropped
    expect(suggestion('maxAttemtps')).toBe('maxAttempts'); // two letters swapped
    expect(suggestion('maxattempts')).toBe('maxAttempts'); // case
    expect(suggestion('onStorError')).toBe('onStoreError');
    expect(suggestion('clokc')).toBe('clock');
    expect(suggestion('event')).toBe('events');
  });

  it('suggests nothing for a key unlike every option, or equally close to two', () => {
    expect(suggestion('colour')).toBeUndefined();
    expect(suggestion('x')).toBeUndefined();
    expect(suggestion('maxDelay')).toBe('maxDelayMs');
    const tie = rejection(() => checkOptionKeys('f', { lmit: 1 }, ['limit', 'lmits'])).message;
    expect(tie).not.toContain('did you mean');
  });

  it('never suggests an option farther than a third of the name (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (key) => {
        if (known.includes(key)) return;
        const s = suggestion(key);
        if (s === undefined) return;
        expect(known).toContain(s);
        const far = Math.abs(s.length - key.length);
        expect(far).toBeLessThanOrEqual(3);
      }),
    );
  });
});

describe('readOptions', () => {
  it('never reads a value inherited from Object.prototype', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.onStoreError = 'open';
    try {
      const o = readOptions<{ onStoreError?: string; name?: string }>('redisStore', { name: 'a' }, ['name', 'onStoreError']);
      expect(o.onStoreError).toBeUndefined();
      expect(o.name).toBe('a');
      expect(readOptions<{ onStoreError?: string }>('redisStore', undefined, ['onStoreError']).onStoreError).toBeUndefined();
    } finally {
      delete proto.onStoreError;
    }
  });

  it('reads a getter once and rejects unknown keys like checkOptionKeys', () => {
    let reads = 0;
    const options = {
      get limit() {
        reads++;
        return 5;
      },
    };
    const o = readOptions<{ limit?: number }>('createLimiter', options, ['limit']);
    expect([o.limit, o.limit, reads]).toEqual([5, 5, 1]);
    expect(() => readOptions('createLimiter', { limt: 5 }, ['limit'])).toThrow(/limt/);
  });
});

describe('core factories read own properties only (issue 11, defect 4)', () => {
  it('createEventBus and createVirtualClock ignore values set on Object.prototype', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.onUnhandledListenerError = 'not a function';
    proto.now = 'not a number';
    try {
      expect(() => createEventBus()).not.toThrow();
      expect(createVirtualClock().now()).toBe(Date.UTC(2026, 0, 1));
    } finally {
      delete proto.onUnhandledListenerError;
      delete proto.now;
    }
    expect(() => createEventBus({ onUnhandledListenerError: 5 as never })).toThrow(/onUnhandledListenerError/);
    expect(() => createVirtualClock({ now: NaN })).toThrow(/createVirtualClock: option "now"/);
  });
});
