import { readFileSync } from 'node:fs';
import { createEventBus, isXError } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { createResilience, loadResilienceConfig } from './index.js';

const fixture = (name: string) => readFileSync(new URL(`./test-fixtures/${name}`, import.meta.url), 'utf8');

describe("the seeds' own files load as they are", () => {
  it('go-cachex production resilience.yaml: the cache policies become the operation `cache`; DLQ, bloom and pub/sub are reported as not applied', async () => {
    const config = await loadResilienceConfig(fixture('go-cachex-production.yaml'));
    expect(config.breakers.cache).toEqual({ failure_threshold: 5, open_duration: 30_000, half_open_max: 3 });
    expect(config.retries.cache).toMatchObject({ max_attempts: 4, initial_delay: 100, max_delay: 1_000, multiplier: 2, jitter: 'equal' });
    expect(config.timeouts.cache).toEqual({ duration: 5_000, strategy: 'cooperative' });
    expect(config.operations.cache?.layers).toEqual([
      { kind: 'breaker', instance: 'cache' },
      { kind: 'retry', instance: 'cache' },
      { kind: 'timeout', instance: 'cache' },
    ]);
    expect(config.notApplied.map((n) => n.path)).toEqual(['cache.enable_dead_letter_queue', 'cache.enable_bloom_filter', 'pubsub']);
    for (const n of config.notApplied) expect(n.reason).toMatch(/not applied/);

    const clock = createVirtualClock();
    const resilience = createResilience(config, { clock, events: createEventBus() });
    expect(await resilience.execute('cache', () => 'hit')).toBe('hit');
    expect(resilience.stats().notApplied).toHaveLength(3);

    // What @x/cache takes: the store policy (the operation `cache`), the invalidation bus options, what to pass yourself.
    const wiring = resilience.cacheWiring();
    expect(wiring.invalidationBusOptions).toEqual({ channel: 'cache:invalidation', timeoutMs: 10_000 });
    expect(wiring.wants).toEqual({ bloomFilter: true, deadLetterQueue: true });
    let attempts = 0;
    const call = wiring.cacheOptions.storePolicy.execute(() => (attempts++, Promise.reject(new Error('store down'))));
    const settled = call.catch((e: unknown) => e);
    await clock.advance(10_000);
    expect(isXError(await settled, 'RETRY_EXHAUSTED')).toBe(true);
    expect(attempts).toBe(4); // max_retries 3
    expect(resilience.get('breaker', 'cache')?.stats().totals.failures).toBe(1);
  });

  it('go-cachex development.yaml: fewer retries, shorter timeouts; its retry keeps the default multiplier', async () => {
    const config = await loadResilienceConfig(fixture('go-cachex-development.yaml'));
    expect(config.breakers.cache).toEqual({ failure_threshold: 3, open_duration: 10_000, half_open_max: 1 });
    expect(config.retries.cache).toMatchObject({ max_attempts: 3, initial_delay: 50, max_delay: 500, multiplier: 2 });
    expect(config.timeouts.cache?.duration).toBe(2_000);
    expect(config.notApplied.map((n) => n.path)).toEqual(['cache.enable_dead_letter_queue', 'cache.enable_bloom_filter', 'pubsub']);
    const wiring = createResilience(config, { events: createEventBus() }).cacheWiring();
    expect(wiring.invalidationBusOptions).toBeUndefined(); // pubsub.enabled: false
    expect(wiring.wants).toEqual({ bloomFilter: false, deadLetterQueue: false });
  });

  it('a DWCP-style config builds every named instance and runs send-message through all protections', async () => {
    const config = await loadResilienceConfig(fixture('dwcp.yaml'));
    const clock = createVirtualClock();
    const events = createEventBus();
    const resilience = createResilience(config, {
      clock,
      events,
      checks: { 'network-connectivity': () => true, 'connection-pool': { value: () => 42 } },
    });
    expect(resilience.names('breaker').sort()).toEqual(['network-ops', 'network-receive', 'network-send', 'peer-discovery']);
    expect(resilience.stats().operations['send-message']?.layers).toEqual([
      'rate_limit:outbound-messages',
      'bulkhead:concurrent-connections',
      'breaker:network-send',
      'retry:network-retry',
      'timeout:send-message',
    ]);
    // network-ops has no breaker setting of its own: it uses breakers.network-ops by name.
    expect(resilience.stats().operations['network-ops']?.layers).toEqual(['breaker:network-ops', 'retry:network-retry', 'timeout:network-ops']);
    expect(await resilience.execute('send-message', () => 'sent')).toBe('sent');
    expect(resilience.get('error_budget', 'slo-availability')?.requests).toBe(1);
    const health = await resilience.checkHealth();
    expect(health.status).toBe('pass');
    expect(Object.keys(health.checks?.checks ?? {})).toEqual(['network-connectivity', 'connection-pool', 'network-ops-circuit', 'availability-budget']);
    resilience.get('breaker', 'network-ops')?.forceOpen();
    const after = await resilience.checkHealth();
    expect(after.status).toBe('warn'); // a non-critical check and an isolated breaker
    expect(after.breakers['network-ops']).toBe('isolated');
  });
});
