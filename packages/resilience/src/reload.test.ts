import { createEventBus, isXError } from '@x/core';
import type { XEventMap } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { createResilience } from './index.js';
import type { ResilienceOptions } from './index.js';

function setup(config: unknown, options: ResilienceOptions = {}) {
  const clock = createVirtualClock();
  const events = createEventBus();
  const resilience = createResilience(config, { clock, events, ...options });
  const applied: XEventMap['resilience.change_applied'][] = [];
  const skipped: XEventMap['resilience.change_skipped'][] = [];
  const reloaded: XEventMap['resilience.reloaded'][] = [];
  events.on('resilience.change_applied', (e) => applied.push(e));
  events.on('resilience.change_skipped', (e) => skipped.push(e));
  events.on('resilience.reloaded', (e) => reloaded.push(e));
  return { clock, events, resilience, applied, skipped, reloaded };
}

const withRate = (limit: number, extra: Record<string, unknown> = {}) => ({
  preset: 'none',
  operations: {
    api: { rate_limit: { limit, period: '1s', ...extra }, bulkhead: { max_concurrent: 50, max_queue: 0 } },
    db: { breaker: { failure_threshold: 2, open_duration: '30s' }, retry: { max_attempts: 2, initial_delay: '10ms', backoff: 'constant', jitter: 'none' } },
  },
});

describe('update() under load', () => {
  it('keeps an open breaker open, keeps rate-limit state and calls in flight, and admits at the new rate', async () => {
    const { resilience, clock, applied } = setup(withRate(5));
    // Open the db breaker.
    for (let i = 0; i < 2; i++) {
      const call = resilience.executeOutcome('db', () => Promise.reject(new Error('down')));
      await clock.advance(20);
      await call;
    }
    expect(resilience.get('breaker', 'db')?.state).toBe('open');
    const breaker = resilience.get('breaker', 'db');
    const limiter = resilience.get('rate_limiter', 'api');

    // Load: a call every 10 ms for 1 s at 5/s; one of them stays in flight across the reload.
    let release!: (v: string) => void;
    const inFlight = resilience.execute('api', () => new Promise<string>((r) => (release = r)));
    let admitted = 0;
    for (let i = 0; i < 99; i++) {
      if ((await resilience.executeOutcome('api', () => 1)).ok) admitted++;
      await clock.advance(10);
    }
    // A burst of 5, then one every 200 ms: 9 in 990 ms, one of them the call in flight.
    expect(admitted).toBe(8);
    expect(resilience.get('bulkhead', 'api')?.active).toBe(1);

    // The limit was just used up: right after the reload the new rate does not hand out a fresh burst.
    resilience.update(withRate(50, { burst: 5 }));
    expect(resilience.get('rate_limiter', 'api')).toBe(limiter);
    expect(resilience.get('breaker', 'db')).toBe(breaker);
    expect(resilience.get('breaker', 'db')?.state).toBe('open');
    const rejected = await resilience.executeOutcome('db', () => 1);
    expect(isXError((rejected as { error: unknown }).error, 'BREAKER_OPEN')).toBe(true);

    // Calls keep coming, one every 10 ms. The limiter keeps its state in time: what the old rate
    // had already scheduled is honoured first, then calls are admitted at 50/s.
    const perSecond = async (): Promise<number> => {
      let n = 0;
      for (let i = 0; i < 100; i++) {
        if ((await resilience.executeOutcome('api', () => 1)).ok) n++;
        await clock.advance(10);
      }
      return n;
    };
    const first = await perSecond();
    expect(first).toBeGreaterThan(9); // more than the old rate would have allowed
    const second = await perSecond();
    expect(second).toBeGreaterThanOrEqual(49);
    expect(second).toBeLessThanOrEqual(51);

    // The call in flight across the reload completes, and its bulkhead slot is given back.
    release('done');
    expect(await inFlight).toBe('done');
    expect(resilience.get('bulkhead', 'api')?.active).toBe(0);
    expect(applied.map((e) => [e.kind, e.name, e.setting, e.from, e.to, e.mode])).toEqual([
      ['rate_limiter', 'api', 'limit', 5, 50, 'in_place'],
      ['rate_limiter', 'api', 'burst', undefined, 5, 'in_place'],
    ]);
  });

  it('right after a reload the used-up limit still refuses: the limiter state is not reset', async () => {
    const { resilience } = setup(withRate(3));
    for (let i = 0; i < 3; i++) expect((await resilience.executeOutcome('api', () => 1)).ok).toBe(true);
    resilience.update(withRate(4));
    // A fresh limiter would admit a burst of 4 here.
    expect((await resilience.executeOutcome('api', () => 1)).ok).toBe(false);
  });

  it('thresholds, open duration and half-open settings change on the live breaker', async () => {
    const { resilience, clock, applied } = setup({ preset: 'none', operations: { db: { breaker: { failure_threshold: 5, open_duration: '30s' } } } });
    await resilience.executeOutcome('db', () => Promise.reject(new Error('x')));
    resilience.update({ preset: 'none', operations: { db: { breaker: { failure_threshold: 2, open_duration: '1s', half_open_max: 2 } } } });
    await resilience.executeOutcome('db', () => Promise.reject(new Error('x')));
    expect(resilience.get('breaker', 'db')?.state).toBe('open'); // the earlier failure counted toward the new threshold
    await clock.advance(1_000);
    expect(resilience.get('breaker', 'db')?.state).toBe('half_open');
    expect(applied.map((e) => `${e.setting}:${e.mode}`)).toEqual(['failure_threshold:in_place', 'open_duration:in_place', 'half_open_max:in_place']);
  });
});

describe('what update() does with each kind of change', () => {
  it('retry backoffs change in place; attempts replace the (stateless) policy', async () => {
    const base = { preset: 'none', operations: { api: { retry: { max_attempts: 2, initial_delay: '100ms', backoff: 'constant', jitter: 'none' } } } };
    const { resilience, clock, applied } = setup(base);
    const retry = resilience.get('retry', 'api');
    resilience.update({ preset: 'none', operations: { api: { retry: { max_attempts: 2, initial_delay: '500ms', backoff: 'constant', jitter: 'none' } } } });
    expect(resilience.get('retry', 'api')).toBe(retry);
    let attempts = 0;
    const call = resilience.executeOutcome('api', () => (attempts++, Promise.reject(new Error('x'))));
    await clock.advance(499);
    expect(attempts).toBe(1);
    await clock.advance(1);
    expect(attempts).toBe(2);
    await call;
    resilience.update({ preset: 'none', operations: { api: { retry: { max_attempts: 4, initial_delay: '500ms', backoff: 'constant', jitter: 'none' } } } });
    expect(resilience.get('retry', 'api')).not.toBe(retry);
    expect(applied.map((e) => `${e.setting}:${e.mode}`)).toEqual(['initial_delay:in_place', 'max_attempts:replaced']);
  });

  it('a timeout is replaced; a call in flight keeps the timeout it started with', async () => {
    const { resilience, clock } = setup({ preset: 'none', operations: { api: { timeout: '1s' } } });
    let aborted = -1;
    const start = clock.now();
    const call = resilience.executeOutcome('api', (ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => ((aborted = clock.now() - start), reject(ctx.signal.reason)))));
    resilience.update({ preset: 'none', operations: { api: { timeout: '5s' } } });
    await clock.advance(1_000);
    await call;
    expect(aborted).toBe(1_000);
    expect(resilience.get('timeout', 'api')?.timeoutMs).toBe(5_000);
  });

  it('bulkhead max_concurrent changes in place (waiters are admitted at once); its queue settings are skipped with the reason', async () => {
    const config = (max: number, queue: number) => ({ preset: 'none', operations: { api: { bulkhead: { max_concurrent: max, max_queue: queue } } } });
    const { resilience, clock, skipped } = setup(config(1, 5));
    const releases: (() => void)[] = [];
    const calls = [0, 1, 2].map(() => resilience.execute('api', () => new Promise<void>((r) => releases.push(r))));
    await clock.flush();
    expect(releases).toHaveLength(1);
    const report = resilience.update(config(3, 1));
    await clock.flush();
    expect(releases).toHaveLength(3);
    expect(report.applied.map((c) => c.setting)).toEqual(['max_concurrent']);
    expect(report.skipped.map((c) => [c.setting, c.from, c.to])).toEqual([['max_queue', 5, 1]]);
    expect(skipped[0]?.reason).toMatch(/fixes max_queue when it is created.*Restart to apply it/);
    expect(resilience.config.bulkheads.api?.max_queue).toBe(5); // the config in force says what is running
    for (const r of releases) r();
    await Promise.all(calls);
  });

  it('a rate limiter algorithm or store change is skipped (state would be lost); max_wait and key rebuild only the policy', () => {
    const { resilience } = setup({ preset: 'none', rate_limiters: { l: { limit: 10 } }, operations: { api: { rate_limit: 'l' } } });
    const limiter = resilience.get('rate_limiter', 'l');
    const report = resilience.update({ preset: 'none', rate_limiters: { l: { limit: 10, algorithm: 'sliding_window', max_wait: '20ms', key: 'k' } }, operations: { api: { rate_limit: 'l' } } });
    expect(resilience.get('rate_limiter', 'l')).toBe(limiter);
    expect(limiter?.rule.algorithm).toBe('gcra');
    expect(report.skipped.map((s) => s.setting)).toEqual(['algorithm']);
    expect(report.applied.map((s) => `${s.setting}:${s.mode}`)).toEqual(['max_wait:in_place', 'key:in_place']);
  });

  it('breaker settings fixed at creation (window, slow calls) are skipped and the breaker keeps its state', async () => {
    const { resilience } = setup({ preset: 'none', breakers: { b: { failure_threshold: 1 } }, operations: { api: { breaker: 'b' } } });
    await resilience.executeOutcome('api', () => Promise.reject(new Error('x')));
    const report = resilience.update({ preset: 'none', breakers: { b: { failure_threshold: 1, max_concurrent: 5, window: { calls: 10 } } }, operations: { api: { breaker: 'b' } } });
    expect(report.skipped.map((s) => s.setting)).toEqual(['window', 'max_concurrent']);
    expect(resilience.get('breaker', 'b')?.state).toBe('open');
  });

  it('adds and removes instances and operations, and reorders layers; policy(name) follows', async () => {
    const { resilience, applied } = setup({ preset: 'none', operations: { a: { timeout: '1s' }, b: {} } });
    const policy = resilience.policy('a');
    resilience.update({ preset: 'none', operations: { a: { timeout: '1s', bulkhead: { max_concurrent: 1 } }, c: {} } });
    expect(applied.map((e) => `${e.kind}:${e.name}:${e.setting}:${e.mode}`)).toEqual([
      'bulkhead:a:*:added',
      'operation:a:layers:replaced',
      'operation:c:*:added',
      'operation:b:*:removed',
    ]);
    expect(resilience.stats().operations.a?.layers).toEqual(['bulkhead:a', 'timeout:a']);
    expect(await policy.execute(() => 'via policy')).toBe('via policy');
    await expect(resilience.execute('b', () => 1)).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });

  it('health checks are added, replaced and removed on the running monitor; monitor settings are skipped', async () => {
    const { resilience } = setup({ health: { interval: '10s', checks: { a: {}, b: {} } } }, { checks: { a: () => true, b: () => true, c: () => true } });
    const report = resilience.update({ health: { interval: '20s', checks: { a: { critical: false }, c: {} } } });
    expect(report.applied.map((c) => `${c.setting}:${c.mode}`)).toEqual(['checks.a:replaced', 'checks.c:added', 'checks.b:removed']);
    expect(report.skipped.map((c) => c.setting)).toEqual(['interval']);
    const health = await resilience.checkHealth();
    expect(Object.keys(health.checks?.checks ?? {}).sort()).toEqual(['a', 'c']);
  });

  it('an invalid config changes nothing and says every problem', async () => {
    const { resilience, reloaded } = setup(withRate(5));
    const before = resilience.config;
    let error: unknown;
    try {
      resilience.update({ operations: { api: { rate_limit: { limit: 0 } }, db: { retry: { max_attempts: 'x' } } } });
    } catch (e) {
      error = e;
    }
    expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
    expect((error as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual(['operations.api.rate_limit.limit', 'operations.db.retry.max_attempts']);
    expect(resilience.config).toBe(before);
    expect(resilience.get('rate_limiter', 'api')?.rule.limit).toBe(5);
    expect(reloaded).toEqual([]);
  });

  it('a change an instance refuses (found by building it aside) fails the whole update before anything changes', () => {
    const { resilience } = setup(withRate(5));
    expect(() => resilience.update(withRate(1_000_000_000, { period: 1 }))).toThrow(/operations\.api\.rate_limit: createRateLimiter/);
    expect(resilience.get('rate_limiter', 'api')?.rule.limit).toBe(5);
  });

  it('emits one event per change, then resilience.reloaded with the counts', () => {
    const { resilience, applied, skipped, reloaded } = setup(withRate(5));
    resilience.update(withRate(6, { algorithm: 'token_bucket' }));
    expect(applied).toHaveLength(1);
    expect(applied[0]).toMatchObject({ type: 'resilience.change_applied', source: 'resilience', name: 'api', kind: 'rate_limiter', setting: 'limit', from: 5, to: 6, mode: 'in_place' });
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toMatchObject({ type: 'resilience.change_skipped', name: 'api', setting: 'algorithm', from: 'gcra', to: 'token_bucket' });
    expect(reloaded).toEqual([expect.objectContaining({ applied: 1, skipped: 1, name: 'resilience' })]);
  });

  it('the same config twice changes nothing', () => {
    const { resilience, applied } = setup(withRate(5));
    const report = resilience.update(withRate(5));
    expect(report.applied).toEqual([]);
    expect(report.skipped).toEqual([]);
    expect(applied).toEqual([]);
  });
});
