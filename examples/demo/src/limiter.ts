import type { RedisClientLike } from '@x/ratelimit/redis';

/**
 * Where the API's rate limit lives. The limiter itself comes from resilience.yaml (see
 * resilience.ts); this only opens the Redis connection it uses when REDIS_URL is set.
 */
export interface DemoLimiter {
  /** The Redis client for the limiter's store, or undefined in memory mode. */
  readonly redis: RedisClientLike | undefined;
  readonly mode: 'memory' | 'redis';
  /** Lines for the start banner: where the limit lives, at `perSecond` requests per second. */
  describe(perSecond: number): readonly string[];
  /** A note about Redis trouble met so far (shown in the summary), if any; `storeHealth` from the limiter's store. */
  redisNote(storeHealth?: string): string | undefined;
  close(): Promise<void>;
}

export interface DemoLimiterOptions {
  /** With a Redis URL the limit is kept in Redis, shared by every demo process using it. */
  readonly redisUrl: string | undefined;
  readonly redisPrefix: string;
}

/**
 * Opens what the API's rate limiter needs: nothing in memory, a Redis connection when a URL is
 * given. ioredis is imported only then, so the memory mode never loads it.
 */
export async function createDemoLimiter(options: DemoLimiterOptions): Promise<DemoLimiter> {
  if (options.redisUrl === undefined) {
    return {
      redis: undefined,
      mode: 'memory',
      describe: (perSecond) => [`in memory, ${perSecond}/s (set REDIS_URL to share it between processes)`],
      redisNote: () => undefined,
      close: () => Promise.resolve(),
    };
  }

  const { Redis } = await import('ioredis');
  const redis = new Redis(options.redisUrl, {
    lazyConnect: true,
    connectTimeout: 1_000,
    // Fail commands at once while disconnected instead of queueing them: the store answers from
    // its local fallback meanwhile, and nothing piles up to be replayed later.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(200 * times, 2_000),
  });
  let lastError: string | undefined;
  // Without a listener ioredis prints every connection error with a stack; the demo reports one
  // line in the summary instead.
  redis.on('error', (error: Error) => {
    lastError = error.message;
  });
  let connected = true;
  try {
    await redis.connect();
  } catch {
    connected = false; // ioredis keeps reconnecting; the store decides locally until it can
  }
  const where = redactUrl(options.redisUrl);
  return {
    redis: redis as unknown as RedisClientLike,
    mode: 'redis',
    describe: (perSecond) =>
      connected
        ? [`on Redis at ${where}, key prefix "${options.redisPrefix}"`, `${perSecond}/s shared by every demo process using both`]
        : [`on Redis at ${where}: not reachable yet`, `deciding locally until it is (onStoreError: 'local')`],
    redisNote: (storeHealth) => (lastError === undefined ? undefined : `Redis: ${lastError} (store health: ${storeHealth ?? 'unknown'})`),
    close: async () => {
      if (redis.status !== 'ready') {
        redis.disconnect();
        return;
      }
      // QUIT lets pending replies arrive; if Redis does not answer soon, just drop the socket.
      const timer = setTimeout(() => redis.disconnect(), 1_000);
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** The URL without its password, for printing. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable REDIS_URL)';
  }
}
