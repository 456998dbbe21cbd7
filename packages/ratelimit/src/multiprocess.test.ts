import { forkTestWorker, redisAvailable, redisUrl, testKeyPrefix } from '@x/test-support';
import type { TestWorker } from '@x/test-support';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RateLimitAlgorithm } from './index.js';
import type { AccuracyResult, AccuracyRun } from './test-fixtures/accuracy-worker.js';

const available = await redisAvailable('ratelimit');

const PROCESSES = 4;
const LIMIT = 100;
const PERIOD_MS = 500;
const BURST = 20;
const DURATION_MS = 3_000;

/** A forked worker process running src/test-fixtures/accuracy-worker.ts. */
const startWorker = (): TestWorker<[AccuracyRun]> =>
  // `--import tsx` resolves from the working directory: the package's, where tsx is installed.
  forkTestWorker(new URL('./test-fixtures/accuracy-worker.ts', import.meta.url), { cwd: new URL('..', import.meta.url) });

/** Most admissions in any window of `width` ms (windows start at an admission). */
function maxInWindow(sorted: readonly number[], width: number): number {
  let max = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (j < sorted.length && (sorted[j] as number) <= (sorted[i] as number) + width) j++;
    max = Math.max(max, j - i);
  }
  return max;
}

describe.skipIf(!available)('accuracy across processes (real Redis)', () => {
  let workers: TestWorker<[AccuracyRun]>[] = [];
  const prefix = testKeyPrefix(import.meta.url);

  beforeAll(async () => {
    workers = Array.from({ length: PROCESSES }, startWorker);
    await Promise.all(workers.map((w) => w.ready));
  }, 60_000);

  afterAll(async () => {
    for (const w of workers) w.child.kill();
    const redis = new Redis(redisUrl());
    const keys = await redis.keys(`{${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it.each(['gcra', 'token-bucket'] as RateLimitAlgorithm[])(
    '%s: 4 processes on one key never exceed limit + burst in any period and reach over 95% of the limit',
    async (algorithm) => {
      const startAt = Date.now() + 300;
      const config: AccuracyRun = {
        url: redisUrl(),
        prefix: `${prefix}${algorithm}`,
        algorithm,
        limit: LIMIT,
        periodMs: PERIOD_MS,
        burst: BURST,
        key: 'shared',
        startAt,
        durationMs: DURATION_MS,
        concurrency: 8,
      };
      const results = await Promise.all(workers.map((w) => w.call<AccuracyResult>(config)));
      const admitted = results.flatMap((r) => r.admitted).sort((a, b) => a - b);
      const decisions = results.reduce((n, r) => n + r.decisions, 0);
      expect(results.every((r) => r.degraded === 0)).toBe(true);
      expect(results.every((r) => r.admitted.length > 0)).toBe(true);

      const first = admitted[0] as number;
      const periods = Math.floor(DURATION_MS / PERIOD_MS);
      const perPeriod = Array.from({ length: periods }, (_, k) => admitted.filter((t) => t >= first + k * PERIOD_MS && t < first + (k + 1) * PERIOD_MS).length);
      const maxWindow = maxInWindow(admitted, PERIOD_MS);
      const ideal = BURST + (LIMIT * (admitted.at(-1)! - first)) / PERIOD_MS;
      console.log(
        `[accuracy] ${algorithm}: ${PROCESSES} processes x 8 in flight, ${decisions} decisions in ${DURATION_MS} ms ` +
          `(demand ${Math.round((decisions / DURATION_MS) * PERIOD_MS)} per period vs limit ${LIMIT}, burst ${BURST}); ` +
          `admitted ${admitted.length} (ideal ${ideal.toFixed(1)}, ${((100 * admitted.length) / ideal).toFixed(1)}%); ` +
          `per period ${perPeriod.join(' ')}; max in any ${PERIOD_MS} ms window ${maxWindow} (bound ${LIMIT + BURST})`,
      );
      expect(decisions / DURATION_MS).toBeGreaterThan((2 * LIMIT) / PERIOD_MS);
      expect(maxWindow).toBeLessThanOrEqual(LIMIT + BURST);
      expect(perPeriod[0]).toBeGreaterThanOrEqual(0.95 * (LIMIT + BURST));
      for (const count of perPeriod.slice(1, -1)) expect(count).toBeGreaterThanOrEqual(0.95 * LIMIT);
      expect(admitted.length).toBeGreaterThanOrEqual(0.95 * ideal);
    },
    60_000,
  );
});
