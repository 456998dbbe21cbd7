import { compose, createEventBus, isXError } from '@x/core';
import type { ExecutionContext } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { createResilience } from './index.js';
import type { ResilienceOptions } from './index.js';

const failing = (error: unknown = new Error('down')) => () => Promise.reject(error);

function setup(config: unknown, options: ResilienceOptions = {}) {
  const clock = createVirtualClock();
  const events = createEventBus();
  const resilience = createResilience(config, { clock, events, ...options });
  return { clock, events, resilience };
}

/** A full stack with every layer, deterministic waits. */
const FULL = {
  preset: 'none',
  operations: {
    api: {
      fallback: true,
      rate_limit: { limit: 3, period: '1s', burst: 3 },
      bulkhead: { max_concurrent: 1, max_queue: 0 },
      breaker: { failure_threshold: 2, open_duration: '10s' },
      retry: { max_attempts: 3, initial_delay: '100ms', jitter: 'none', backoff: 'constant' },
      timeout: '1s',
    },
  },
};

describe('execute runs through the documented default order', () => {
  it('fallback → rate limit → bulkhead → breaker → retry → timeout', async () => {
    const served: unknown[] = [];
    const { resilience, clock } = setup(FULL, { fallbacks: { api: (error) => (served.push(error), 'stale') } });
    expect(resilience.stats().operations.api?.layers).toEqual(['fallback:api', 'rate_limit:api', 'bulkhead:api', 'breaker:api', 'retry:api', 'timeout:api']);

    // breaker outside retry: one call failing three attempts counts once in the breaker.
    const attempts: number[] = [];
    const first = resilience.execute('api', (ctx: ExecutionContext) => {
      attempts.push(ctx.attempt);
      return Promise.reject(new Error('down'));
    });
    await clock.advance(200);
    expect(await first).toBe('stale'); // fallback outermost: it caught the exhausted retry
    expect(attempts).toEqual([1, 2, 3]);
    expect(resilience.get('breaker', 'api')?.stats().totals.failures).toBe(1);
    expect(resilience.get('retry', 'api')?.stats().attempts).toEqual([1, 1, 1]);

    // bulkhead outside breaker: a call the bulkhead refuses never reaches the breaker.
    let release!: () => void;
    const holding = resilience.execute('api', () => new Promise<string>((resolve) => (release = () => resolve('ok'))));
    await clock.flush();
    const requestsBefore = resilience.get('breaker', 'api')?.stats().totals.requests;
    expect(await resilience.execute('api', () => 'never')).toBe('stale');
    expect(isXError(served.at(-1), 'BULKHEAD_FULL')).toBe(true);
    expect(resilience.get('breaker', 'api')?.stats().totals.requests).toBe(requestsBefore);
    release();
    expect(await holding).toBe('ok');

    // rate limit outside bulkhead: the limit (3 per second, all used) refuses before the bulkhead counts.
    const admitted = resilience.get('bulkhead', 'api')?.stats().admitted;
    expect(await resilience.execute('api', () => 'never')).toBe('stale');
    expect(isXError(served.at(-1), 'RATE_LIMITED')).toBe(true);
    expect(resilience.get('bulkhead', 'api')?.stats().admitted).toBe(admitted);
  });

  it('timeout is per attempt: each attempt gets its own second, the retry goes on', async () => {
    const { resilience, clock } = setup({ preset: 'none', operations: { api: { retry: { max_attempts: 2, initial_delay: 0 }, timeout: '1s' } } });
    const deadlines: (number | undefined)[] = [];
    const call = resilience.execute('api', (ctx) => {
      deadlines.push(ctx.deadline);
      return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
    });
    const outcome = call.catch((error: unknown) => error);
    await clock.advance(2_000);
    const error = await outcome;
    expect(isXError(error, 'RETRY_EXHAUSTED')).toBe(true);
    expect(isXError((error as Error).cause, 'TIMEOUT')).toBe(true);
    expect(deadlines).toHaveLength(2);
    expect((deadlines[1] as number) - (deadlines[0] as number)).toBe(1_000);
  });

  it('order overrides the default: retry outside the breaker counts every attempt', async () => {
    const { resilience, clock } = setup({
      preset: 'none',
      operations: {
        api: { order: ['retry', 'breaker', 'timeout'], breaker: { failure_threshold: 10 }, retry: { max_attempts: 3, initial_delay: 0 }, timeout: '1s' },
      },
    });
    const call = resilience.executeOutcome('api', failing());
    await clock.advance(10);
    expect((await call).ok).toBe(false);
    expect(resilience.get('breaker', 'api')?.stats().totals.failures).toBe(3);
  });

  it('order also sets membership: a configured layer left out is not used', async () => {
    const { resilience } = setup({ operations: { api: { order: ['timeout'] } } });
    expect(resilience.stats().operations.api?.layers).toEqual(['timeout:api']);
    await resilience.executeOutcome('api', failing());
    await resilience.executeOutcome('api', failing());
    // The preset's breaker and retry exist for the operation but are not in its pipeline.
    expect(resilience.get('breaker', 'api')?.stats().totals.requests).toBe(0);
    expect(resilience.get('retry', 'api')?.stats().attempts[0] ?? 0).toBe(0);
  });

  it('shared named instances: two operations naming one breaker share its state', async () => {
    const { resilience } = setup({ preset: 'none', breakers: { db: { failure_threshold: 2 } }, operations: { read: { breaker: 'db' }, write: { breaker: 'db' } } });
    await resilience.executeOutcome('read', failing());
    await resilience.executeOutcome('write', failing());
    const rejected = await resilience.executeOutcome('read', () => 1);
    expect(rejected.ok).toBe(false);
    expect(isXError((rejected as { error: unknown }).error, 'BREAKER_OPEN')).toBe(true);
  });
});

describe('deadlines and aborts through the whole stack (virtual clock)', () => {
  it('a caller deadline bounds every layer: no retry waits past it and fn sees it', async () => {
    const { resilience, clock } = setup({
      preset: 'none',
      operations: { api: { bulkhead: { max_concurrent: 1 }, breaker: { failure_threshold: 5 }, retry: { max_attempts: 5, initial_delay: '200ms', backoff: 'constant', jitter: 'none' }, timeout: '1s' } },
    });
    const start = clock.now();
    const seen: (number | undefined)[] = [];
    let settledAt = -1;
    const call = resilience
      .execute('api', (ctx) => {
        seen.push(ctx.deadline);
        return Promise.reject(new Error('down'));
      }, { deadline: start + 300 })
      .catch((error: unknown) => {
        settledAt = clock.now();
        return error;
      });
    await clock.advance(1_000);
    const error = await call;
    expect(isXError(error, 'RETRY_EXHAUSTED')).toBe(true);
    // Attempts at 0 and 200 ms; the next wait would end at 400 > 300, so it gives up at 200 ms.
    expect(seen).toEqual([start + 300, start + 300]);
    expect(settledAt - start).toBe(200);
  });

  it('the deadline cuts a hung attempt, even with a longer per-attempt timeout', async () => {
    const { resilience, clock } = setup({ preset: 'none', operations: { api: { retry: { max_attempts: 3, initial_delay: 0 }, timeout: '1s' } } });
    const start = clock.now();
    let calls = 0;
    const call = resilience
      .execute('api', (ctx) => {
        calls++;
        return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      }, { deadline: start + 300 })
      .catch((error: unknown) => error);
    await clock.advance(300);
    const error = await call;
    expect(calls).toBe(1);
    expect(isXError(error, 'RETRY_EXHAUSTED') || isXError(error, 'TIMEOUT')).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a caller abort during a retry wait ends the call at once with the abort reason, counted nowhere as a failure', async () => {
    const { resilience, clock } = setup({
      preset: 'none',
      error_budgets: { slo: { slo: 0.9 } },
      operations: { api: { breaker: { failure_threshold: 1 }, retry: { max_attempts: 3, initial_delay: '10s', backoff: 'constant', jitter: 'none' }, error_budget: 'slo' } },
    });
    const controller = new AbortController();
    let attempts = 0;
    const call = resilience.execute('api', () => (attempts++, Promise.reject(new Error('down'))), { signal: controller.signal }).catch((e: unknown) => e);
    await clock.advance(1_000);
    const reason = new Error('user left');
    controller.abort(reason);
    expect(await call).toBe(reason);
    expect(attempts).toBe(1);
    expect(resilience.get('breaker', 'api')?.state).toBe('closed');
    expect(resilience.get('error_budget', 'slo')?.requests).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a caller abort while queued in the bulkhead leaves the queue and never runs fn', async () => {
    const { resilience, clock } = setup({ preset: 'none', operations: { api: { bulkhead: { max_concurrent: 1, max_queue: 1 } } } });
    let release!: () => void;
    const holder = resilience.execute('api', () => new Promise<void>((r) => (release = r)));
    await clock.flush();
    const controller = new AbortController();
    let ran = false;
    const queued = resilience.execute('api', () => (ran = true), { signal: controller.signal }).catch((e: unknown) => e);
    await clock.flush();
    expect(resilience.get('bulkhead', 'api')?.queued).toBe(1);
    controller.abort(new Error('gone'));
    expect(((await queued) as Error).message).toBe('gone');
    expect(resilience.get('bulkhead', 'api')?.queued).toBe(0);
    release();
    await holder;
    expect(ran).toBe(false);
  });

  it('an already-aborted signal runs nothing', async () => {
    const { resilience } = setup(FULL, { fallbacks: { api: () => 'stale' } });
    const controller = new AbortController();
    controller.abort(new Error('before'));
    let ran = false;
    await expect(resilience.execute('api', () => (ran = true), { signal: controller.signal })).rejects.toThrow('before');
    expect(ran).toBe(false);
  });
});

describe('error budgets, breaker groups, fallbacks', () => {
  it('records every execution in the operation’s error budget, inside the fallback', async () => {
    const { resilience } = setup(
      { preset: 'none', error_budgets: { slo: { slo: 0.99, window: '1h' } }, operations: { api: { fallback: true, error_budget: 'slo' } } },
      { fallbacks: { api: () => 'fallback' } },
    );
    expect(await resilience.execute('api', () => 'ok')).toBe('ok');
    expect(await resilience.execute('api', failing())).toBe('fallback');
    const budget = resilience.get('error_budget', 'slo');
    expect([budget?.requests, budget?.failures]).toEqual([2, 1]);
    expect(resilience.health().errorBudgets.slo?.exhausted).toBe(true);
    expect(resilience.health().status).toBe('warn');
  });

  it('a fallback with shouldHandle leaves other failures alone', async () => {
    const { resilience } = setup(
      { preset: 'none', operations: { api: { fallback: 'quote', rate_limit: { limit: 1 } } } },
      { fallbacks: { quote: { handler: () => 'stale', shouldHandle: (e) => !isXError(e, 'RATE_LIMITED') } } },
    );
    expect(await resilience.execute('api', failing())).toBe('stale');
    await expect(resilience.execute('api', () => 'x')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
  });

  it('a breaker group picks the breaker per key; ctx.key reaches fn; a missing key is INVALID_OPTIONS', async () => {
    const { resilience } = setup({ preset: 'none', breaker_groups: { hosts: { defaults: { failure_threshold: 1 } } }, operations: { call: { breaker_group: 'hosts' } } });
    const keys: unknown[] = [];
    expect(await resilience.execute('call', (ctx) => (keys.push((ctx as ExecutionContext & { key: string }).key), 1), { key: 'a.example' })).toBe(1);
    expect(keys).toEqual(['a.example']);
    await resilience.executeOutcome('call', failing(), { key: 'b.example' });
    const group = resilience.get('breaker_group', 'hosts');
    expect(group?.get('b.example')?.state).toBe('open');
    expect(group?.get('a.example')?.state).toBe('closed');
    await expect(resilience.execute('call', () => 1)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'key' });
    expect(Object.keys(resilience.stats().breakerGroups.hosts ?? {}).sort()).toEqual(['a.example', 'b.example']);
  });
});

describe('the manager', () => {
  it('an unknown operation is INVALID_OPTIONS listing the known ones; executeOutcome never rejects', async () => {
    const { resilience } = setup({ operations: { api: {} } });
    await expect(resilience.execute('apx', () => 1)).rejects.toThrow(/one of the configured operations \(api\)/);
    const outcome = await resilience.executeOutcome('apx', () => 1);
    expect(outcome.ok).toBe(false);
    expect(() => resilience.policy('apx')).toThrow(/INVALID|operation/);
  });

  it('wrong call arguments are INVALID_OPTIONS rejections, with or without layers', async () => {
    const { resilience } = setup({ preset: 'none', operations: { bare: {}, full: { timeout: '1s', retry: { max_attempts: 2 } } } });
    for (const op of ['bare', 'full']) {
      await expect(resilience.execute(op, 'not a function' as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'fn' });
      await expect(resilience.execute(op, () => 1, { signal: 'x' as never })).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'signal' });
      await expect(resilience.execute(op, () => 1, { deadline: Number.NaN })).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'deadline' });
      const outcome = await resilience.executeOutcome(op, null as never);
      expect(outcome.ok).toBe(false);
    }
  });

  it('policy(name) is a Policy that composes with others', async () => {
    const { resilience } = setup({ preset: 'none', operations: { api: { timeout: '1s' } } });
    const outer = compose(resilience.policy('api'));
    expect(await outer.execute(() => 42)).toBe(42);
    expect(resilience.policy('api')).toBe(resilience.policy('api'));
    expect(resilience.get('operation', 'api')).toBe(resilience.policy('api'));
  });

  it('get(kind, name) and names(kind) for every kind', () => {
    const { resilience } = setup(
      {
        breakers: { b: {} },
        retries: { r: {} },
        timeouts: { t: '1s' },
        bulkheads: { k: { max_concurrent: 1 } },
        rate_limiters: { l: { limit: 1 } },
        error_budgets: { e: { slo: 0.9 } },
        breaker_groups: { g: {} },
        health: { checks: { c: { breaker: 'b' } } },
      },
      { name: 'svc' },
    );
    expect(resilience.get('breaker', 'b')?.name).toBe('b');
    expect(resilience.get('retry', 'r')?.stats()).toBeDefined();
    expect(resilience.get('timeout', 't')?.timeoutMs).toBe(1_000);
    expect(resilience.get('bulkhead', 'k')?.limit).toBe(1);
    expect(resilience.get('rate_limiter', 'l')?.rule.limit).toBe(1);
    expect(resilience.get('error_budget', 'e')?.slo).toBe(0.9);
    expect(resilience.get('breaker_group', 'g')?.size).toBe(0);
    expect(resilience.get('health_monitor', 'svc')?.name).toBe('svc');
    expect(resilience.get('breaker', 'nope')).toBeUndefined();
    expect(resilience.names('timeout')).toEqual(['t']);
    expect(resilience.names('health_monitor')).toEqual(['svc']);
    expect(() => resilience.get('nope' as never, 'x')).toThrow(/kind/);
  });

  it('tracks everything on the bus, so @x/metrics exports it with no wiring (timeouts report through events on the same bus)', async () => {
    const { resilience, events, clock } = setup(
      { ...FULL, error_budgets: { slo: { slo: 0.9 } }, health: { checks: { up: { breaker: 'api' } } } },
      { fallbacks: { api: () => 1 }, name: 'svc' },
    );
    const sources = new Set(events.tracked().map((t) => `${t.source}:${t.name}`));
    for (const s of ['breaker:api', 'retry:api', 'bulkhead:api', 'ratelimit:api', 'health:slo', 'health:svc', 'resilience:svc']) expect(sources).toContain(s);
    const timedOut: string[] = [];
    events.on('timeout.timed_out', (e) => timedOut.push(e.name));
    const call = resilience.execute('api', (ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))));
    await clock.advance(5_000);
    expect(await call).toBe(1);
    expect(timedOut).toEqual(['api', 'api', 'api']);
    expect(resilience.name).toBe('svc');
  });

  it('what the config cannot check alone fails at creation with every problem: handlers, check implementations, a Redis client', () => {
    let error: unknown;
    try {
      createResilience(
        {
          operations: { api: { fallback: true, rate_limit: { limit: 1, store: 'redis' } } },
          health: { checks: { db: {}, cpu: { max: 80 }, ping: {} } },
        },
        { checks: { cpu: () => 1, ping: { value: () => 1 } }, events: createEventBus() },
      );
    } catch (e) {
      error = e;
    }
    expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
    expect((error as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual([
      'operations.api.rate_limit.store',
      'operations.api.fallback',
      'health.checks.db',
      'health.checks.cpu',
      'health.checks.ping',
    ]);
  });

  it('a limit the rate limiter refuses is reported with the config path', () => {
    expect(() => createResilience({ rate_limiters: { fast: { limit: 1_000_000_000, period: 1 } } }, { events: createEventBus() })).toThrow(
      /rate_limiters\.fast: createRateLimiter/,
    );
  });

  it('refuses unknown options with a suggestion', () => {
    expect(() => createResilience({}, { fallback: {} } as never)).toThrow(/did you mean "fallbacks"/);
  });

  it('runs no timer while idle; start() runs the health checks on an unref’d schedule, close() stops it', async () => {
    const { resilience, clock } = setup({ health: { interval: '1s', checks: { up: {} } } }, { checks: { up: () => true } });
    expect(clock.pendingTimers).toBe(0);
    resilience.start();
    await clock.advance(0);
    expect(resilience.health().checks?.checks.up?.status).toBe('pass');
    expect(clock.pendingTimers).toBeGreaterThan(0);
    resilience.close();
    expect(clock.pendingTimers).toBe(0);
  });
});
