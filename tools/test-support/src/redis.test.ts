import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { pingRedis, redisAvailable, redisClient, redisRequired, redisServerInstalled, redisUrl, testKeyPrefix, waitFor } from './index.js';

const available = await redisAvailable('test-support');

describe('redisAvailable', () => {
  it.skipIf(!available)('answers PING on the configured Redis', async () => {
    await expect(pingRedis(redisUrl())).resolves.toBe(true);
  });

  it('fails instead of skipping when Redis is required and absent', async () => {
    await expect(redisAvailable('suite', 'redis://127.0.0.1:1', { CI: 'true' })).rejects.toThrow(
      /Redis does not answer at redis:\/\/127\.0\.0\.1:1; suite needs it/,
    );
    await expect(redisAvailable('suite', 'redis://127.0.0.1:1', { REQUIRE_REDIS: '1' })).rejects.toThrow();
  });

  it('skips loudly when Redis is optional and absent', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    await expect(redisAvailable('suite', 'redis://127.0.0.1:1', {})).resolves.toBe(false);
    expect(String(warn.mock.calls[0]?.[0])).toContain('SKIPPING the Redis tests of suite');
  });

  it('does not mistake another server for Redis', async () => {
    const server = createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await expect(pingRedis(`redis://127.0.0.1:${port}`)).resolves.toBe(false);
    server.close();
  });

  it('reads CI and REQUIRE_REDIS', () => {
    expect(redisRequired({ CI: 'true' })).toBe(true);
    expect(redisRequired({ REQUIRE_REDIS: '1' })).toBe(true);
    expect(redisRequired({})).toBe(false);
  });

  it('gives each call a distinct prefix', () => {
    expect(testKeyPrefix('/a/b/lock.test.ts')).toMatch(/^xtest:lock:/);
    expect(testKeyPrefix('x.test.ts')).not.toBe(testKeyPrefix('x.test.ts'));
  });

  it('never puts a brace in a prefix (checkKeyPrefix refuses them)', () => {
    expect(testKeyPrefix('/a/{b}/c{d}.test.ts')).toMatch(/^xtest:cd:[^{}]*$/);
  });
});

describe('redisClient', () => {
  it('fails fast instead of queueing, reconnects quickly and swallows error events', async () => {
    const redis = redisClient('redis://127.0.0.1:1');
    try {
      expect(redis.options).toMatchObject({ enableOfflineQueue: false, maxRetriesPerRequest: 1 });
      expect(redis.options.retryStrategy?.(3)).toBe(50);
      expect(redis.listenerCount('error')).toBe(1);
      await expect(redis.get('k')).rejects.toThrow();
    } finally {
      redis.disconnect();
    }
  });

  it('takes a port and option overrides', () => {
    const redis = redisClient(1, { lazyConnect: true, maxRetriesPerRequest: 5 });
    expect(redis.options).toMatchObject({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 5 });
    redis.disconnect();
  });

  it.skipIf(!available)('talks to the configured Redis', async () => {
    const redis = redisClient();
    try {
      await waitFor(() => redis.status === 'ready', { message: 'redis ready' });
      await expect(redis.ping()).resolves.toBe('PONG');
    } finally {
      redis.disconnect();
    }
  });
});

describe('redisServerInstalled', () => {
  const missing = { REDIS_SERVER: '/nonexistent/redis-server', REDIS_CLI: '/nonexistent/redis-cli' };

  it('fails instead of skipping when Redis is required and the binary is missing', () => {
    expect(() => redisServerInstalled('suite', { env: { ...missing, CI: 'true' } })).toThrow(/\/nonexistent\/redis-server not installed; .* suite need it/);
    expect(() => redisServerInstalled('suite', { cluster: true, env: { REDIS_CLI: missing.REDIS_CLI, REQUIRE_REDIS: '1' } })).toThrow(/redis-cli not installed/);
  });

  it('skips loudly when Redis is optional and the binary is missing', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect(redisServerInstalled('suite', { cluster: true, env: missing })).toBe(false);
      expect(String(warn.mock.calls[0]?.[0])).toMatch(/redis-server and .*redis-cli not installed: SKIPPING the Redis Cluster and fault tests of suite/);
    } finally {
      warn.mockRestore();
    }
  });
});

describe('memory helpers', () => {
  it('collects garbage on demand and counts abort listeners', async () => {
    const { abortListeners, gc, heapUsed } = await import('./index.js');
    const controller = new AbortController();
    const listener = () => {};
    controller.signal.addEventListener('abort', listener);
    expect(abortListeners(controller.signal)).toBe(1);
    controller.signal.removeEventListener('abort', listener);
    expect(abortListeners(controller.signal)).toBe(0);
    const before = heapUsed();
    let garbage: number[][] | undefined = Array.from({ length: 1_000 }, () => new Array(1_000).fill(1));
    expect(process.memoryUsage().heapUsed - before).toBeGreaterThan(4_000_000);
    garbage = undefined;
    gc();
    expect(garbage).toBeUndefined();
    expect(heapUsed() - before).toBeLessThan(1_000_000);
  });
});
