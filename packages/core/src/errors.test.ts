import { describe, expect, it, vi } from 'vitest';
import { InvalidOptionsError, XError, describeValue, isXError, withoutStack } from './index.js';

describe('XError', () => {
  it('carries a stable code, an explicit name and the standard cause', () => {
    const cause = new Error('socket closed');
    const error = new XError('SOMETHING_FAILED', 'it failed', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('SOMETHING_FAILED');
    expect(error.name).toBe('XError');
    expect(error.message).toBe('it failed');
    expect(error.cause).toBe(cause);
  });

  it('has no cause property when none is given', () => {
    expect('cause' in new XError('A', 'b')).toBe(false);
  });

  it('keeps the subclass name for stack traces and logs', () => {
    const error = new InvalidOptionsError('createThing', 'size', 0, 'an integer >= 1');
    expect(error.name).toBe('InvalidOptionsError');
    expect(String(error)).toMatch(/^InvalidOptionsError: createThing: option "size"/);
  });
});

describe('isXError', () => {
  it('recognises errors by brand, optionally by code', () => {
    const error = new XError('TIMEOUT', 'late');
    expect(isXError(error)).toBe(true);
    expect(isXError(error, 'TIMEOUT')).toBe(true);
    expect(isXError(error, 'BREAKER_OPEN')).toBe(false);
  });

  it('recognises an error made by another copy of @x/core (same registered symbol)', () => {
    const foreign = Object.assign(new Error('from another copy'), { code: 'RATE_LIMITED' });
    Object.defineProperty(foreign, Symbol.for('@x/error'), { value: true });
    expect(isXError(foreign, 'RATE_LIMITED')).toBe(true);
  });

  it('recognises, by brand and code, the errors of a second module instance of core, both ways', async () => {
    vi.resetModules();
    const copy = (await import('./index.js')) as typeof import('./index.js');
    expect(copy.XError).not.toBe(XError); // really a second module instance
    const foreign = new copy.InvalidOptionsError('f', 'x', 1, 'a number');
    expect(foreign instanceof XError).toBe(false);
    expect(isXError(foreign)).toBe(true);
    expect(isXError(foreign, 'INVALID_OPTIONS')).toBe(true);
    expect(isXError(foreign, 'TIMEOUT')).toBe(false);
    expect(copy.isXError(new XError('TIMEOUT', 't'), 'TIMEOUT')).toBe(true);
    const brandOnly = { [Symbol.for('@x/error')]: true };
    expect(isXError(brandOnly)).toBe(true);
    expect(isXError(brandOnly, 'TIMEOUT')).toBe(false);
  });

  it('rejects look-alikes without the brand and non-objects', () => {
    expect(isXError(Object.assign(new Error('x'), { code: 'TIMEOUT' }), 'TIMEOUT')).toBe(false);
    for (const value of [null, undefined, 'TIMEOUT', 42, () => 0]) expect(isXError(value)).toBe(false);
  });
});

describe('withoutStack', () => {
  it('builds the error without stack frames and restores the limit afterwards', () => {
    const limit = Error.stackTraceLimit;
    const error = withoutStack(() => new XError('BULKHEAD_FULL', 'full'));
    expect(error.stack?.split('\n').filter((line) => line.trim().startsWith('at '))).toEqual([]);
    expect(Error.stackTraceLimit).toBe(limit);
    expect(new Error('with').stack).toMatch(/\n\s+at /);
  });

  it('restores the limit when the factory throws', () => {
    const limit = Error.stackTraceLimit;
    expect(() =>
      withoutStack(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(Error.stackTraceLimit).toBe(limit);
  });
});

describe('describeValue', () => {
  it('renders values unambiguously', () => {
    expect(describeValue(Number.NaN)).toBe('NaN');
    expect(describeValue(-0)).toBe('-0');
    expect(describeValue(Infinity)).toBe('Infinity');
    expect(describeValue('10')).toBe('"10"');
    expect(describeValue(null)).toBe('null');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue([1, 2])).toBe('array(2)');
    expect(describeValue({})).toBe('object');
    expect(describeValue(() => 1)).toBe('[function]');
    expect(describeValue(5n)).toBe('5n');
  });
});
