// One process of the multi-process accuracy test: hammers one key through Redis with its own
// connection and reports each admission on Redis' clock (one timeline for every process).
import Redis from 'ioredis';
import { createRateLimiter } from '../index.js';
import type { RateLimitAlgorithm, RateLimitStore } from '../index.js';
import { redisStore } from '../redis.js';

export interface AccuracyRun {
  readonly url: string;
  readonly prefix: string;
  readonly algorithm: RateLimitAlgorithm;
  readonly limit: number;
  readonly periodMs: number;
  readonly burst: number;
  readonly key: string;
  /** Epoch ms at which every process starts. */
  readonly startAt: number;
  readonly durationMs: number;
  /** Decisions in flight in this process. */
  readonly concurrency: number;
}

export interface AccuracyResult {
  /** Store time (epoch ms) of each admission. */
  readonly admitted: number[];
  readonly decisions: number;
  readonly degraded: number;
}

export async function run(config: AccuracyRun): Promise<AccuracyResult> {
  const redis = new Redis(config.url, { enableOfflineQueue: false, lazyConnect: true });
  await redis.connect();
  const inner = redisStore(redis, { prefix: config.prefix, timeoutMs: 1_000 });
  const admitted: number[] = [];
  let decisions = 0;
  let degraded = 0;
  // Wraps the store to read the time Redis decided at.
  const store: RateLimitStore = {
    apply: (request) =>
      inner.apply(request).then((verdict) => {
        decisions++;
        if (verdict.degraded !== undefined) degraded++;
        else if (verdict.allowed && request.op === 0) admitted.push(verdict.storeTimeMs as number);
        return verdict;
      }),
    reset: (scope, key) => inner.reset(scope, key),
  };
  const limiter = createRateLimiter({ name: 'accuracy', algorithm: config.algorithm, limit: config.limit, periodMs: config.periodMs, burst: config.burst, store });
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, config.startAt - Date.now())));
  const end = config.startAt + config.durationMs;
  await Promise.all(
    Array.from({ length: config.concurrency }, async () => {
      while (Date.now() < end) await limiter.limit(config.key);
    }),
  );
  redis.disconnect();
  return { admitted, decisions, degraded };
}
