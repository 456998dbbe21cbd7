import { isXError } from '@x/core';
import { afterEach, describe, expect, it } from 'vitest';
import { yamlLoader } from './config.js';
import {
  applyEnvOverrides,
  formatDuration,
  loadResilienceConfig,
  parseDuration,
  ResilienceConfigError,
  resilienceJsonSchema,
  resiliencePresets,
  resolveResilienceConfig,
} from './index.js';

/** The issues of an invalid config, as `path: message` lines. */
function issuesOf(config: unknown): string[] {
  try {
    resolveResilienceConfig(config);
  } catch (error) {
    expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
    expect(error).toBeInstanceOf(ResilienceConfigError);
    return (error as ResilienceConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected the config to be invalid');
}

describe('durations', () => {
  it.each([
    [250, 250],
    ['250ms', 250],
    ['30s', 30_000],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1_500],
    ['0s', 0],
  ])('%j is %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(['30 s', '30', 's', '-1s', '1.s', '1w', '', NaN, -1, Infinity])('refuses %j', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });

  it('formats milliseconds back to short text', () => {
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(250)).toBe('250ms');
    expect(formatDuration(86_400_000 + 1)).toBe('1d1ms');
    expect(formatDuration(Infinity)).toBe('∞');
  });

  it('accepts every duration form in the config and reports a fractional millisecond', () => {
    const config = resolveResilienceConfig({ timeouts: { a: 250, b: '250ms', c: '30s', d: '1m', e: { duration: '1h30m', strategy: 'aggressive' } } });
    expect(Object.values(config.timeouts).map((t) => t.duration)).toEqual([250, 250, 30_000, 60_000, 5_400_000]);
    expect(config.timeouts.e?.strategy).toBe('aggressive');
    expect(issuesOf({ timeouts: { a: '0.5ms' } })).toEqual(['timeouts.a: must be a whole number of milliseconds, got "0.5ms" (0.5 ms)']);
  });
});

describe('every documented key', () => {
  it('breakers, retries, bulkheads, rate limiters, error budgets, groups and health resolve with their values', () => {
    const config = resolveResilienceConfig({
      version: 1,
      $schema: './node_modules/@x/resilience/resilience.schema.json',
      preset: 'none',
      breakers: {
        b: {
          failure_threshold: 4,
          failure_rate_threshold: 0.5,
          minimum_calls: 5,
          window: { calls: 20 },
          slow_call_duration: '2s',
          slow_call_rate_threshold: 0.8,
          open_duration: '15s',
          half_open_max: 2,
          success_threshold: 3,
          probe_timeout: '5s',
          max_concurrent: 50,
        },
        t: { failure_rate_threshold: 0.5, window: { duration: '10s', buckets: 5 } },
      },
      retries: {
        r: { max_attempts: 4, backoff: 'linear', initial_delay: '10ms', max_delay: '1s', multiplier: 1.5, jitter: 'full', max_elapsed: '10s', retry_on: ['ECONNRESET', 'TIMEOUT'] },
        c: { max_retries: 0, backoff: 'constant', initial_delay: 5, jitter: false },
      },
      timeouts: { t: { duration: '1s', strategy: 'cooperative' } },
      bulkheads: { k: { max_concurrent: 3, max_queue: 4, max_wait: '100ms', order: 'lifo' } },
      rate_limiters: { l: { limit: 10, period: '1s', burst: 5, algorithm: 'token_bucket', max_wait: '50ms', key: 'global', store: 'memory' } },
      error_budgets: { e: { slo: 0.99, window: '1h', bucket: '1m' } },
      breaker_groups: { g: { defaults: { failure_threshold: 2 }, max_keys: 10, idle: '5m' } },
      health: {
        interval: '30s',
        timeout: '5s',
        history_size: 50,
        failure_threshold: 2,
        success_threshold: 2,
        unknown_is_healthy: true,
        checks: { db: { critical: false, timeout: '1s', failure_threshold: 3, success_threshold: 1 }, cpu: { min: 0, max: 80 }, circuit: { breaker: 'b' }, budget: { error_budget: 'e' } },
      },
      operations: {
        api: { order: ['rate_limit', 'breaker', 'retry', 'timeout', 'bulkhead'], rate_limit: 'l', bulkhead: 'k', breaker: 'b', retry: 'r', timeout: 't', error_budget: 'e' },
        keyed: { breaker_group: 'g', fallback: true },
        inline: { fallback: 'other', timeout: '2s', bulkhead: { max_concurrent: 1 } },
      },
    });
    expect(config.breakers.b).toEqual({
      failure_threshold: 4,
      failure_rate_threshold: 0.5,
      minimum_calls: 5,
      window: { calls: 20 },
      slow_call_duration: 2_000,
      slow_call_rate_threshold: 0.8,
      open_duration: 15_000,
      half_open_max: 2,
      success_threshold: 3,
      probe_timeout: 5_000,
      max_concurrent: 50,
    });
    expect(config.breakers.t?.window).toEqual({ duration: 10_000, buckets: 5 });
    expect(config.retries.r).toEqual({
      max_attempts: 4,
      backoff: 'linear',
      initial_delay: 10,
      max_delay: 1_000,
      multiplier: 1.5,
      jitter: 'full',
      max_elapsed: 10_000,
      retry_on: ['ECONNRESET', 'TIMEOUT'],
    });
    expect(config.retries.c).toMatchObject({ max_attempts: 1, backoff: 'constant', initial_delay: 5, jitter: 'none' });
    expect(config.bulkheads.k).toEqual({ max_concurrent: 3, max_queue: 4, max_wait: 100, order: 'lifo' });
    expect(config.rateLimiters.l).toEqual({ limit: 10, period: 1_000, burst: 5, algorithm: 'token_bucket', max_wait: 50, key: 'global', store: 'memory' });
    expect(config.errorBudgets.e).toEqual({ slo: 0.99, window: 3_600_000, bucket: 60_000 });
    expect(config.breakerGroups.g).toEqual({ defaults: { failure_threshold: 2 }, max_keys: 10, idle: 300_000 });
    expect(config.health).toMatchObject({ interval: 30_000, timeout: 5_000, history_size: 50, unknown_is_healthy: true });
    expect(config.health?.checks.cpu).toEqual({ min: 0, max: 80 });
    expect(config.operations.api?.layers.map((l) => l.kind)).toEqual(['rate_limit', 'breaker', 'retry', 'timeout', 'bulkhead']);
    expect(config.operations.api?.errorBudget).toBe('e');
    expect(config.operations.keyed).toEqual({ layers: [{ kind: 'fallback', instance: 'keyed' }, { kind: 'breaker', instance: 'g' }], breakerGroup: 'g' });
    expect(config.operations.inline?.layers).toEqual([
      { kind: 'fallback', instance: 'other' },
      { kind: 'bulkhead', instance: 'inline' },
      { kind: 'timeout', instance: 'inline' },
    ]);
  });

  it('rate limiters on Redis keep on_store_error; the go-cachex and seed sections (cache, pubsub, dlq, bloom) are validated and reported', () => {
    const config = resolveResilienceConfig({
      rate_limiters: { r: { limit: 5, store: 'redis', on_store_error: 'local' } },
      cache: { timeout: '1s', enable_dead_letter_queue: true, enable_bloom_filter: false },
      pubsub: { enabled: true, invalidation_channel: 'c', health_channel: 'h', max_subscribers: 5, message_timeout: '2s' },
      dlq: { enabled: true, queue_size: 100, workers: 2, max_attempts: 5, initial_delay: '100ms', max_delay: '10s' },
      bloom: { enabled: true, expected_items: 1_000_000, false_positive_rate: 0.01 },
    });
    expect(config.rateLimiters.r).toMatchObject({ store: 'redis', on_store_error: 'local' });
    expect(config.notApplied.map((n) => n.path)).toEqual(['cache.enable_dead_letter_queue', 'cache.enable_bloom_filter', 'pubsub', 'dlq', 'bloom']);
    expect(config.notApplied.find((n) => n.path === 'bloom')?.reason).toMatch(/@x\/bloom/);
    expect(issuesOf({ dlq: { workers: 0 }, bloom: { false_positive_rate: 1 }, pubsub: { max_subscribers: 'many' } })).toEqual([
      'dlq.workers: must be an integer in [1, 1000], got 0',
      'bloom.false_positive_rate: must be a number in (0, 1), got 1',
      'pubsub.max_subscribers: must be an integer >= 1, got "many"',
    ]);
  });

  it('an operation with nothing configured and preset none has no layers', () => {
    expect(resolveResilienceConfig({ preset: 'none', operations: { bare: {} } }).operations.bare?.layers).toEqual([]);
  });

  it('an empty config is valid and has nothing', () => {
    const config = resolveResilienceConfig({});
    expect(config.operations).toEqual({});
    expect(config.notApplied).toEqual([]);
  });
});

describe('presets and defaults', () => {
  it.each(['default', 'aggressive', 'conservative'] as const)('preset %s gives every operation its breaker, retry and timeout', (preset) => {
    const config = resolveResilienceConfig({ preset, operations: { api: {} } });
    const p = resiliencePresets[preset];
    expect(config.breakers.api).toEqual({
      failure_threshold: p.breaker.failure_threshold,
      open_duration: parseDuration(p.breaker.open_duration),
      half_open_max: p.breaker.half_open_max,
    });
    expect(config.retries.api).toMatchObject({ max_attempts: p.retry.max_retries + 1, initial_delay: parseDuration(p.retry.initial_delay), max_delay: parseDuration(p.retry.max_delay), jitter: 'equal' });
    expect(config.timeouts.api?.duration).toBe(parseDuration(p.timeout));
    expect(config.operations.api?.layers.map((l) => l.kind)).toEqual(['breaker', 'retry', 'timeout']);
  });

  it('the presets carry the seeds’ numbers', () => {
    expect(resiliencePresets.default.breaker).toEqual({ failure_threshold: 5, open_duration: '30s', half_open_max: 3 }); // go-cachex resilience.yaml
    expect(resiliencePresets.aggressive.breaker.failure_threshold).toBe(3); // DWCP aggressive
    expect(resiliencePresets.conservative.breaker.open_duration).toBe('60s'); // DWCP conservative reset timeout
    expect(resiliencePresets.conservative.timeout).toBe('30s');
  });

  it('defaults merge over the preset, an operation over the defaults, and false removes a layer', () => {
    const config = resolveResilienceConfig({
      preset: 'default',
      defaults: { retry: { max_attempts: 2 }, bulkhead: { max_concurrent: 10 }, timeout: false },
      operations: { api: { retry: { initial_delay: '10ms' }, bulkhead: { max_queue: 5 } }, plain: { retry: false, breaker: false, bulkhead: false } },
    });
    // max_attempts from defaults replaced the preset's max_retries: no conflict between the two.
    expect(config.retries.api).toMatchObject({ max_attempts: 2, initial_delay: 10, max_delay: 1_000 });
    expect(config.bulkheads.api).toEqual({ max_concurrent: 10, max_queue: 5, order: 'fifo' });
    expect(config.operations.api?.layers.map((l) => l.kind)).toEqual(['bulkhead', 'breaker', 'retry']);
    expect(config.operations.plain?.layers).toEqual([]);
  });

  it('named instances start from the defaults too, and an operation uses a same-named entry it does not override', () => {
    const config = resolveResilienceConfig({ defaults: { breaker: { success_threshold: 4 } }, breakers: { db: { failure_threshold: 2 } }, operations: { db: {} } });
    expect(config.breakers.db).toEqual({ failure_threshold: 2, open_duration: 30_000, half_open_max: 3, success_threshold: 4 });
    expect(config.operations.db?.layers.find((l) => l.kind === 'breaker')).toEqual({ kind: 'breaker', instance: 'db' });
  });
});

describe('environment overrides', () => {
  it('X_RESILIENCE__OPERATIONS__API__RETRY__MAX_ATTEMPTS=5 sets operations.api.retry.max_attempts', () => {
    const config = resolveResilienceConfig({ operations: { api: { retry: { max_attempts: 2 } } } }, { env: { X_RESILIENCE__OPERATIONS__API__RETRY__MAX_ATTEMPTS: '5', OTHER: '1' } });
    expect(config.retries.api?.max_attempts).toBe(5);
  });

  it('matches existing keys ignoring case and - vs _, parses JSON values and keeps durations as text', () => {
    const raw = applyEnvOverrides(
      { breakers: { 'network-ops': { open_duration: '60s' } } },
      {
        X_RESILIENCE__BREAKERS__NETWORK_OPS__OPEN_DURATION: '10s',
        X_RESILIENCE__BREAKERS__NETWORK_OPS__FAILURE_THRESHOLD: '3',
        X_RESILIENCE__PRESET: 'aggressive',
        X_RESILIENCE__OPERATIONS__API__ORDER: '["retry","timeout"]',
        X_RESILIENCE__RETRIES__R__JITTER: 'false',
      },
    );
    expect(raw).toEqual({
      breakers: { 'network-ops': { open_duration: '10s', failure_threshold: 3 } },
      preset: 'aggressive',
      operations: { api: { order: ['retry', 'timeout'] } },
      retries: { r: { jitter: false } },
    });
  });

  it('a custom prefix, and a bad override reported with its path like any other problem', () => {
    expect(() => resolveResilienceConfig({}, { env: { APP__PRESET: 'fast' }, envPrefix: 'APP' })).toThrow(/preset: must be one of 'default' \| 'aggressive' \| 'conservative' \| 'none', got "fast"/);
  });

  it('does not change the object it was given', () => {
    const original = { preset: 'default' };
    applyEnvOverrides(original, { X_RESILIENCE__PRESET: 'none' });
    expect(original).toEqual({ preset: 'default' });
  });
});

describe('validation reports every problem at once, with its path', () => {
  it('lists each bad path with what was expected and what was given, in document order', () => {
    expect(
      issuesOf({
        preset: 'fast',
        operations: {
          api: { retry: { max_attempts: 0 }, retyr: {}, timeout: '0s' },
          db: { breaker: 'bb' },
        },
        breakers: { b: { failure_rate_threshold: 1.5, open_duration: '30 s' } },
      }),
    ).toEqual([
      "preset: must be one of 'default' | 'aggressive' | 'conservative' | 'none', got \"fast\"",
      'operations.api.retry.max_attempts: must be an integer in [1, 1000], got 0',
      'operations.api.retyr: unknown key; did you mean "retry"? (known: order, fallback, rate_limit, bulkhead, breaker, breaker_group, retry, timeout, error_budget)',
      'breakers.b.failure_rate_threshold: must be a number in (0, 1], got 1.5',
      "breakers.b.open_duration: must be a duration (whole milliseconds >= 0, or a string such as '250ms', '30s', '1m'), got \"30 s\"",
      'operations.api.timeout: must be a duration above 0, got "0s"',
      'operations.db.breaker: names no entry of breakers; did you mean "b"?',
    ]);
  });

  it('rules across fields and entries', () => {
    expect(
      issuesOf({
        retries: { r: { max_attempts: 3, max_retries: 2, initial_delay: '2s', max_delay: '1s', backoff: 'linear', jitter: 'decorrelated' } },
        breakers: { b: { slow_call_rate_threshold: 0.5 } },
        rate_limiters: { l: { limit: 1, on_store_error: 'open', algorithm: 'fixed_window', burst: 2 } },
        error_budgets: { e: { slo: 0.9, window: '1h', bucket: '7m' } },
        health: { checks: { c: { breaker: 'b', error_budget: 'e', min: 1 }, d: { min: 5, max: 1 } } },
        operations: { api: { breaker: { failure_threshold: 1 }, breaker_group: 'nope' }, b: { breaker: { failure_threshold: 2 } } },
      }),
    ).toEqual([
      'breakers.b.slow_call_rate_threshold: needs slow_call_duration',
      'retries.r.max_retries: give max_attempts (the first call included) or max_retries (retries after it), not both',
      'retries.r.initial_delay: must be at most max_delay (1s), got "2s"',
      "retries.r.jitter: 'decorrelated' needs backoff: exponential, got backoff \"linear\"",
      'rate_limiters.l.on_store_error: applies only with store: redis',
      'rate_limiters.l.burst: applies only to gcra and token_bucket, got algorithm "fixed_window"',
      'operations.api.breaker_group: names no entry of breaker_groups (breaker_groups is empty)',
      'operations.api.breaker_group: an operation has a breaker or a breaker_group, not both',
      'operations.b.breaker: an inline breaker here is named "b" after the operation, like breakers.b; name that entry instead (breaker: b) or rename one',
      'health.checks.c: a check is built on a breaker or on an error_budget, not both',
      'health.checks.c: min and max apply to threshold checks, not to breaker or error_budget checks',
      'health.checks.d.min: must be at most max (1), got 5',
      'error_budgets.e.bucket: must divide the window (3600000 ms), got "7m"',
    ]);
  });

  it('required settings missing after defaults, and order naming a layer that is not configured', () => {
    expect(issuesOf({ preset: 'none', bulkheads: { k: {} }, operations: { api: { order: ['retry', 'bulkhead'], rate_limit: { burst: 2 } } } })).toEqual([
      "bulkheads.k.max_concurrent: is required (here or in defaults.bulkhead)",
      'operations.api.rate_limit.limit: is required (here or in defaults.rate_limit)',
      "operations.api.order[0]: 'retry' is not configured for this operation (set retry here, in defaults or through the preset)",
      "operations.api.order[1]: 'bulkhead' is not configured for this operation (set bulkhead here, in defaults or through the preset)",
    ]);
  });

  it('the message has one line per problem and the error names the first path', () => {
    try {
      resolveResilienceConfig({ operations: { api: { retry: { max_attempts: 0 } } }, preset: 1 });
      expect.unreachable();
    } catch (error) {
      const e = error as ResilienceConfigError;
      expect(e.message.split('\n')).toEqual([
        'resilience config: the config has 2 problems:',
        '  operations.api.retry.max_attempts: must be an integer in [1, 1000], got 0',
        "  preset: must be one of 'default' | 'aggressive' | 'conservative' | 'none', got 1",
      ]);
      expect(e.option).toBe('operations.api.retry.max_attempts');
      expect(e.code).toBe('INVALID_OPTIONS');
    }
  });

  it('refuses a config that is not an object, and names with odd characters are quoted in paths', () => {
    expect(issuesOf('x')).toEqual(['(root): must be an object, got "x"']);
    expect(issuesOf({ operations: { 'a.b': { retry: { max_attempts: 0 } } } })).toEqual(['operations["a.b"].retry.max_attempts: must be an integer in [1, 1000], got 0']);
  });
});

describe('loadResilienceConfig', () => {
  afterEach(() => {
    yamlLoader.load = () => import('yaml') as never;
  });

  it('reads YAML text, JSON text and objects alike', async () => {
    const yaml = await loadResilienceConfig('operations:\n  api:\n    timeout: 250ms\n');
    const json = await loadResilienceConfig('{ "operations": { "api": { "timeout": "250ms" } } }');
    const object = await loadResilienceConfig({ operations: { api: { timeout: '250ms' } } });
    for (const config of [yaml, json, object]) expect(config.timeouts.api?.duration).toBe(250);
    expect((await loadResilienceConfig('')).operations).toEqual({});
  });

  it('applies env overrides when given them', async () => {
    const config = await loadResilienceConfig('preset: default\n', { env: { X_RESILIENCE__PRESET: 'aggressive' } });
    expect(config.preset).toBe('aggressive');
  });

  it('reports text that does not parse, with INVALID_OPTIONS', async () => {
    await expect(loadResilienceConfig('{ "preset": ')).rejects.toThrow(/is not valid JSON/);
    await expect(loadResilienceConfig('operations: [unclosed', { format: 'yaml' })).rejects.toThrow(/is not valid YAML/);
    await expect(loadResilienceConfig('{}', { format: 'toml' as never })).rejects.toThrow(/format/);
  });

  it('says clearly that YAML needs the optional yaml package when it is missing; JSON still works', async () => {
    yamlLoader.load = () => Promise.reject(new Error("Cannot find package 'yaml'"));
    const failure = loadResilienceConfig('preset: default\n');
    await expect(failure).rejects.toThrow(/optional peer dependency "yaml" \(npm i yaml\)/);
    await failure.catch((error: unknown) => expect(isXError(error, 'INVALID_OPTIONS')).toBe(true));
    expect((await loadResilienceConfig('{"preset":"none"}')).preset).toBe('none');
  });

  it('the JSON schema it is checked against has a $defs entry per shared settings block', () => {
    expect(Object.keys(resilienceJsonSchema().$defs as object)).toEqual(['breaker', 'bulkhead', 'error_budget', 'operation', 'rate_limit', 'retry', 'timeout']);
  });
});
