import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { runDemo } from './demo.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** True when a Redis answers PING at `url` within half a second. */
async function redisAvailable(): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 500,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => {}); // the failure is the answer; do not print it
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

const available = await redisAvailable();
// Unique per run, so parallel CI jobs on one Redis never share (or clean up) each other's keys.
const prefix = `x-demo-test-${process.pid}-${Date.now()}`;

describe.skipIf(!available)('runDemo with REDIS_URL (real Redis)', () => {
  afterAll(async () => {
    const redis = new Redis(url);
    const keys = await redis.keys(`{${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('two demos on one Redis prefix share one rate limit', async () => {
    const options = {
      durationMs: 4_000,
      redisUrl: url,
      redisPrefix: prefix,
      quiet: true,
      // Both offer 50/s against one limit of 45/s: together about half must be refused. Alone,
      // each would see ~10 % refused at most.
      rate: 50,
      limitPerSecond: 45,
    };
    const metrics: string[] = [];
    const [a, b] = await Promise.all([
      runDemo({ ...options, beforeClose: async (urls) => void metrics.push(await (await fetch(urls.metrics)).text()) }),
      runDemo({ ...options, seed: 7 }),
    ]);

    for (const summary of [a, b]) {
      expect(summary.limiter).toBe('redis');
      expect(summary.total.requests).toBeGreaterThan(50);
      expect(summary.total.errors).toBe(0);
    }
    const requests = a.total.requests + b.total.requests;
    const limited = a.total.rejected.rate_limited + b.total.rejected.rate_limited;
    expect(limited / requests).toBeGreaterThan(0.25);
    expect(metrics[0]).toMatch(/x_ratelimit_requests_total\{limiter="api",outcome="limited"\} [1-9]/);
  });
});
