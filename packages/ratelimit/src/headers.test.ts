import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { createRateLimiter, rateLimitHeaders } from './index.js';
import type { RateLimiterOptions } from './index.js';

function limiter(options: Partial<RateLimiterOptions> = {}) {
  return createRateLimiter({ name: 'api', limit: 100, periodMs: 60_000, clock: createVirtualClock(), events: createEventBus(), ...options, store: undefined });
}

describe('rateLimitHeaders', () => {
  it('gives the policy and the current quota of an admission, without Retry-After', () => {
    const l = limiter();
    const headers = rateLimitHeaders(l.limit('k'));
    expect(headers).toEqual({ 'RateLimit-Policy': '"api";q=100;w=60', RateLimit: '"api";r=99;t=1' });
  });

  it('adds Retry-After in whole seconds, rounded up, on a rejection', () => {
    const l = limiter({ limit: 2, periodMs: 3_000 });
    l.limit('k');
    l.limit('k');
    const rejected = l.limit('k');
    expect(rejected.retryAfterMs).toBe(1_500);
    expect(rateLimitHeaders(rejected)).toEqual({
      'RateLimit-Policy': '"api";q=2;w=3',
      RateLimit: '"api";r=0;t=3',
      'Retry-After': '2',
    });
  });

  it('advertises sub-second and uneven periods in whole seconds without overstating the rate', () => {
    expect(rateLimitHeaders(limiter({ limit: 10, periodMs: 100 }).limit('k'))['RateLimit-Policy']).toBe('"api";q=100;w=1');
    expect(rateLimitHeaders(limiter({ limit: 5, periodMs: 1_500 }).limit('k'))['RateLimit-Policy']).toBe('"api";q=6;w=2');
  });

  it('takes a policy identifier and a partition key, and escapes the identifier', () => {
    const l = limiter({ name: 'we"ird\\name é' });
    const headers = rateLimitHeaders(l.limit('k'));
    expect(headers['RateLimit-Policy']).toBe('"we\\"ird\\\\name _";q=100;w=60');
    const withKey = rateLimitHeaders(l.limit('k'), { policy: 'per-user', partitionKey: 'user 1 ✓' });
    expect(withKey['RateLimit-Policy']).toBe(`"per-user";q=100;w=60;pk=:${Buffer.from('user 1 ✓').toString('base64')}:`);
    expect(withKey.RateLimit).toBe(`"per-user";r=98;t=2;pk=:${Buffer.from('user 1 ✓').toString('base64')}:`);
  });

  it('never reports negative or fractional remaining', () => {
    const l = limiter({ algorithm: 'sliding-window', limit: 3, periodMs: 1_000 });
    for (let i = 0; i < 5; i++) {
      const { RateLimit } = rateLimitHeaders(l.limit('k'));
      expect(RateLimit).toMatch(/;r=\d+;t=\d+$/);
    }
  });
});
