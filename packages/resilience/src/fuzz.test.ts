import { createEventBus, isXError } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createResilience, RESILIENCE_CONFIG, ResilienceConfigError } from './index.js';
import { arbitraryFrom } from './test-schema-arbitrary.js';

/** Codes a working manager may answer a trivial call with (the call was refused, not broken). */
const REFUSALS = new Set(['RATE_LIMITED', 'BULKHEAD_FULL', 'BREAKER_OPEN', 'BREAKER_TOO_MANY_CALLS', 'INVALID_OPTIONS']);

/** The first segment of an issue path: a top-level key, or `(root)`. */
const head = (path: string) => path.replace(/^\(root\)$/, '(root)').split(/[.[]/)[0] as string;

describe('fuzzed configs give a working manager or INVALID_OPTIONS listing each bad path', () => {
  it('any generated config: a manager whose operations run, or a ResilienceConfigError with paths into the config', async () => {
    let worked = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(arbitraryFrom(RESILIENCE_CONFIG, 400), arbitraryFrom(RESILIENCE_CONFIG, 20)), async (config) => {
        const clock = createVirtualClock();
        const checks = new Proxy({}, { get: () => () => true, has: () => true, getOwnPropertyDescriptor: () => ({ value: () => true, configurable: true, enumerable: true }) });
        let resilience;
        try {
          resilience = createResilience(config, {
            clock,
            events: createEventBus(),
            // Every fallback and check name the config may use has an implementation.
            fallbacks: { api: () => 'fb', db: () => 'fb', 'network-ops': () => 'fb', x: () => 'fb' },
            checks: checks as never,
          });
        } catch (error) {
          expect(error).toBeInstanceOf(ResilienceConfigError);
          expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
          const issues = (error as ResilienceConfigError).issues;
          expect(issues.length).toBeGreaterThan(0);
          // An operation's inherited layer is reported at the operation, even when only cache: made it.
          const keys = typeof config === 'object' && config !== null && !Array.isArray(config) ? [...Object.keys(config), 'operations'] : [];
          for (const issue of issues) {
            expect(issue.message.length).toBeGreaterThan(0);
            expect(['(root)', ...keys]).toContain(head(issue.path));
          }
          refused++;
          return;
        }
        worked++;
        for (const name of resilience.names('operation')) {
          const run = resilience.executeOutcome(name, () => 1, { key: 'k' });
          await clock.advance(120_000);
          const outcome = await run;
          if (!outcome.ok) expect(REFUSALS.has((outcome.error as { code?: string }).code ?? ''), String(outcome.error)).toBe(true);
          else expect([1, 'fb']).toContain(outcome.value);
        }
        resilience.close();
      }),
      { numRuns: 300 },
    );
    expect(worked).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  });

  const BASE = {
    preset: 'default',
    breakers: { db: { failure_threshold: 3 } },
    retries: { r: { max_attempts: 3 } },
    rate_limiters: { l: { limit: 10 } },
    operations: { api: { rate_limit: 'l', breaker: 'db', retry: 'r', timeout: '1s' }, other: { bulkhead: { max_concurrent: 2 } } },
  };
  /** Bad values the generator plants, each at a known path. */
  const PLANTS: readonly (readonly [path: string, value: unknown])[] = [
    ['preset', 'quick'],
    ['breakers.db.failure_threshold', 0],
    ['breakers.db.open_duration', '10 seconds'],
    ['retries.r.max_attempts', 1.5],
    ['retries.r.jitter', 'some'],
    ['rate_limiters.l.limit', -1],
    ['rate_limiters.l.algorithm', 'leaky_bucket'],
    ['operations.api.timeout', '0ms'],
    ['operations.api.breaker', 'dbb'],
    ['operations.api.retyr', {}],
    ['operations.other.bulkhead.max_concurrent', 0],
    ['operations.other.order', ['bulkhead', 'bulkhead']],
  ];

  function plant(path: string, value: unknown): Record<string, unknown> {
    const config = structuredClone(BASE) as Record<string, unknown>;
    const parts = path.split('.');
    let at = config;
    for (const part of parts.slice(0, -1)) at = (at[part] ??= {}) as Record<string, unknown>;
    at[parts.at(-1) as string] = value;
    return config;
  }

  it('planted bad values are each reported at their path, and nothing else is', () => {
    expect(() => createResilience(BASE, { events: createEventBus() })).not.toThrow();
    fc.assert(
      fc.property(fc.subarray([...PLANTS], { minLength: 1 }), (plants) => {
        let config: Record<string, unknown> = structuredClone(BASE);
        for (const [path, value] of plants) {
          const planted = plant(path, value);
          // Merge this plant into the config built so far.
          const parts = path.split('.');
          let to = config;
          let from = planted;
          for (const part of parts.slice(0, -1)) {
            to = (to[part] ??= {}) as Record<string, unknown>;
            from = from[part] as Record<string, unknown>;
          }
          to[parts.at(-1) as string] = from[parts.at(-1) as string];
          config = { ...config };
        }
        let error: unknown;
        try {
          createResilience(config, { events: createEventBus() });
        } catch (e) {
          error = e;
        }
        expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
        const reported = new Set((error as ResilienceConfigError).issues.map((i) => (i.path.endsWith('[1]') ? i.path.slice(0, -3) : i.path)));
        expect([...reported].sort()).toEqual(plants.map(([p]) => p).sort());
      }),
      { numRuns: 200 },
    );
  });
});
