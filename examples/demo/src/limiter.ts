import type { EventBus } from '@x/core';
import { createRateLimiter } from '@x/ratelimit';
import type { AnyRateLimiter } from '@x/ratelimit';

/** The rate limiter the API runs behind, and how to let go of what it holds. */
export interface DemoLimiter {
  readonly limiter: AnyRateLimiter;
  readonly mode: 'memory' | 'redis';
  /** Lines for the start banner: where the limit lives. */
  readonly description: readonly string[];
  /** A note about Redis trouble met so far (shown in the summary), if any. */
  redisNote(): string | undefined;
  close(): Promise<void>;
}

export interface DemoLimiterOptions {
  /** Requests per second the API admits, across every process sharing the store. */
  readonly perSecond: number;
  /** With a Redis URL the limit is kept in Redis, shared by every demo process using it. */
  readonly redisUrl: string | undefined;
  readonly redisPrefix: string;
  readonly events: EventBus;
}

// A small burst: at the demo's load a burst the size of the limit would hide the limiter for the
// first second; with 10 the steady-state rejections show from the start.
const BURST = 10;

/**
 * Creates the API's rate limiter: in memory, or on Redis when a URL is given. ioredis and the
 * Redis entry point are imported only then, so the memory mode loads neither.
 */
export async function createDemoLimiter(options: DemoLimiterOptions): Promise<DemoLimiter> {
  const rule = { name: 'api', limit: options.perSecond, periodMs: 1_000, burst: BURST, events: options.events } as const;
  if (options.redisUrl === undefined) {
    return {
      limiter: createRateLimiter(rule),
      mode: 'memory',
      description: [`in memory, ${options.perSecond}/s (set REDIS_URL to share it between processes)`],
      redisNote: () => undefined,
      close: () => Promise.resolve(),
    };
  }

  const [{ Redis }, { redisStore }] = await Promise.all([import('ioredis'), import('@x/ratelimit/redis')]);
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
  const store = redisStore(redis, { prefix: options.redisPrefix, onStoreError: 'local', events: options.events });
  const where = redactUrl(options.redisUrl);
  return {
    limiter: createRateLimiter({ ...rule, store }),
    mode: 'redis',
    description: connected
      ? [`on Redis at ${where}, key prefix "${options.redisPrefix}"`, `${options.perSecond}/s shared by every demo process using both`]
      : [`on Redis at ${where}: not reachable yet`, `deciding locally until it is (onStoreError: 'local')`],
    redisNote: () => (lastError === undefined ? undefined : `Redis: ${lastError} (store health: ${store.health})`),
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
