import Redis from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import type { Op, Row } from '../harness.js';
import { loadBuilt } from '../packages.js';

type RateLimitModule = typeof import('@x/ratelimit');
type RateLimitRedisModule = typeof import('@x/ratelimit/redis');

const loadRateLimit = () => loadBuilt<RateLimitModule, RateLimitRedisModule>('@x/ratelimit', 'createRateLimiter', 'redis');

/** Decisions per op in the memory row: a loop amortises the harness's own `await` per op. */
const BATCH = 100;
/** Decisions in flight in the Redis rows. */
const IN_FLIGHT = 64;
const keys = Array.from({ length: IN_FLIGHT }, (_, i) => `user:${i}`);

const expectCount = (expected: number) => (column: string, result: unknown) => {
  if (result !== expected) throw new Error(`${column}: expected ${expected} admissions, got ${String(result)}`);
};

/**
 * In-memory GCRA vs rate-limiter-flexible's `RateLimiterMemory`, each through its own API (ours is
 * synchronous, theirs returns a promise): 100 decisions per op on 64 keys, every one admitted.
 * Ratios are op time over rate-limiter-flexible's; the target is at least 3x the decisions
 * per second, i.e. a ratio of at most 0.33.
 */
export async function rateLimitMemory(): Promise<Row> {
  const { mod, note } = await loadRateLimit();
  const rlf = new RateLimiterMemory({ points: 1e9, duration: 3_600 });
  const x = mod?.createRateLimiter({ name: 'bench-memory', limit: 1e9, periodMs: 3_600_000 });
  const baseline: Op = async () => {
    let admitted = 0;
    for (let i = 0; i < BATCH; i++) {
      await rlf.consume(keys[i & 63] as string);
      admitted++;
    }
    return admitted;
  };
  return {
    operation: `rate limit, memory GCRA, ${BATCH} decisions (vs rate-limiter-flexible RateLimiterMemory)`,
    target: 1 / 3,
    baseline,
    baselineLabel: 'rate-limiter-flexible RateLimiterMemory',
    ops: {
      ...(x && {
        x: async () => {
          let admitted = 0;
          for (let i = 0; i < BATCH; i++) if (x.limit(keys[i & 63] as string).allowed) admitted++;
          return admitted;
        },
      }),
    },
    verify: expectCount(BATCH),
    ...(note !== undefined && { note }),
  };
}

interface RedisRows {
  readonly vsFlexible: Row;
  readonly vsPing: Row;
}

/**
 * Redis, 64 decisions in flight (one op = 64 concurrent decisions on 64 keys, all admitted), on one
 * ioredis client shared by both libraries (same settings: `enableOfflineQueue: false`, no
 * auto-pipelining). Two rows: against rate-limiter-flexible's `RateLimiterRedis` (target: at least
 * 1.3x the throughput, a ratio of at most 0.77) and, informational, against a plain PING.
 */
async function redisRows(): Promise<RedisRows | { note: string }> {
  const { mod, redis: redisModule, note } = await loadRateLimit();
  const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const client = new Redis(url, { enableOfflineQueue: false, lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    return { note: `no Redis at ${url} (${error instanceof Error ? error.message : String(error)})` };
  }
  const rlf = new RateLimiterRedis({ storeClient: client, points: 1e9, duration: 3_600, keyPrefix: 'bench-rlf' });
  const store = mod && redisModule ? redisModule.redisStore(client, { prefix: 'bench-x', timeoutMs: 1_000 }) : undefined;
  const x = mod && store ? mod.createRateLimiter({ name: 'bench-redis', limit: 1e9, periodMs: 3_600_000, store }) : undefined;
  const count = (results: readonly unknown[]) => results.length;
  const flexible: Op = () => Promise.all(keys.map((k) => rlf.consume(k))).then(count);
  const ping: Op = () => Promise.all(keys.map(() => client.ping())).then(count);
  const ours: Op | undefined = x && (() => Promise.all(keys.map((k) => x.limit(k))).then((ds) => ds.filter((d) => d.allowed && d.degraded === undefined).length));
  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    client.disconnect();
  };
  const common = { verify: expectCount(IN_FLIGHT), ...(note !== undefined && { note }), ops: { ...(ours && { x: ours }) } };
  return {
    vsFlexible: {
      operation: `rate limit, Redis, ${IN_FLIGHT} in flight (vs rate-limiter-flexible RateLimiterRedis)`,
      target: 1 / 1.3,
      baseline: flexible,
      baselineLabel: 'rate-limiter-flexible RateLimiterRedis',
      ...common,
    },
    vsPing: {
      operation: `rate limit, Redis, ${IN_FLIGHT} in flight (vs PING, informational)`,
      baseline: ping,
      baselineLabel: `PING x ${IN_FLIGHT}`,
      ...common,
      dispose,
    },
  };
}

let redisSetup: Promise<RedisRows | { note: string }> | undefined;
const sharedRedisRows = () => (redisSetup ??= redisRows());

function skipped(operation: string, note: string): Row {
  return { operation, ops: {}, note };
}

/** Every row this file contributes, in the `RowFactory` shape run.ts lists. */
export const rows: readonly [string, () => Promise<Row>][] = [
  ['ratelimit-memory', rateLimitMemory],
  [
    'ratelimit-redis',
    async () => {
      const r = await sharedRedisRows();
      return 'note' in r ? skipped('rate limit, Redis, 64 in flight', r.note) : r.vsFlexible;
    },
  ],
  [
    'ratelimit-redis-ping',
    async () => {
      const r = await sharedRedisRows();
      return 'note' in r ? skipped('rate limit, Redis vs PING', r.note) : r.vsPing;
    },
  ],
];
