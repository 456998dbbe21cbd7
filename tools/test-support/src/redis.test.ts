import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { pingRedis, redisAvailable, redisRequired, redisUrl, testKeyPrefix } from './index.js';

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
