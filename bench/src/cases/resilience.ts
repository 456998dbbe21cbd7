import type { Row } from '../harness.js';
import { work } from '../harness.js';
import { loadBuilt } from '../packages.js';

type ResilienceModule = typeof import('@x/resilience');

const loadResilience = () => loadBuilt<ResilienceModule>('@x/resilience', 'createResilience');

/** Every layer but fallback, all succeeding; a limit no run reaches. */
const STACK = {
  preset: 'none',
  operations: {
    api: {
      rate_limit: { limit: 1_000_000_000, period: '1000s', key: 'bench' },
      bulkhead: { max_concurrent: 1_000, max_queue: 0 },
      breaker: { failure_threshold: 5, open_duration: '10s' },
      retry: { max_attempts: 3, initial_delay: '100ms', max_delay: '1s', jitter: 'equal' },
      timeout: '1s',
    },
  },
} as const;

/**
 * `resilience.execute('api', fn)` against the same five layers built by hand with each package's
 * factory and `compose(...)` (rate limit → bulkhead → breaker → retry → timeout), both on a bus
 * nobody listens to. The bound: the name lookup must not show, ≤ 1.1× the hand-built stack.
 */
async function resilienceExecute(): Promise<Row> {
  const { mod, note } = await loadResilience();
  const [core, breaker, bulkhead, ratelimit, retry, timeout] = await Promise.all([
    import('@x/core'),
    import('@x/breaker'),
    import('@x/bulkhead'),
    import('@x/ratelimit'),
    import('@x/retry'),
    import('@x/timeout'),
  ]);
  const quiet = core.createEventBus();
  const limiter = ratelimit.createRateLimiter({ name: 'api', limit: 1_000_000_000, periodMs: 1_000_000, events: quiet });
  const byHand = core.compose(
    limiter.policy('bench', { maxWaitMs: 0 }),
    bulkhead.createBulkhead({ name: 'api', maxConcurrent: 1_000, maxQueue: 0, events: quiet }),
    breaker.createBreaker({ name: 'api', failureThreshold: 5, openMs: 10_000, events: quiet }),
    retry.createRetry({
      name: 'api',
      maxAttempts: 3,
      backoff: retry.exponentialBackoff({ initialMs: 100, maxMs: 1_000, multiplier: 2, jitter: 'equal' }),
      events: quiet,
    }),
    timeout.createTimeout(1_000, { name: 'api', events: quiet }),
  );
  const resilience = mod?.createResilience(STACK, { events: core.createEventBus() });
  return {
    operation: "resilience.execute('api', fn) (5 layers, vs the same compose by hand)",
    target: 1.1,
    baseline: () => byHand.execute(work),
    baselineLabel: 'same compose(...) built by hand',
    ops: { ...(resilience && { x: () => resilience.execute('api', work) }) },
    verify: (_column, result) => {
      if (result !== 1) throw new Error(`expected 1, got ${String(result)}`);
    },
    ...(note !== undefined && { note }),
  };
}

export const rows: readonly [string, () => Promise<Row>][] = [['resilience-execute', resilienceExecute]];
