import { fileURLToPath } from 'node:url';
import type { EventBus } from '@x/core';
import type { RedisClientLike } from '@x/ratelimit/redis';
import { createResilience } from '@x/resilience';
import type { ReloadReport, Resilience } from '@x/resilience';
import { loadResilienceConfigFile, watch } from '@x/resilience/node';
import { FALLBACKS } from './policies.js';
import type { Random } from './random.js';

/** The demo's policies: examples/demo/resilience.yaml. */
export const RESILIENCE_FILE = fileURLToPath(new URL('../resilience.yaml', import.meta.url));

export interface DemoResilienceOptions {
  readonly events: EventBus;
  /** The breaker's open period, scaled with the run's length (overrides the file's). */
  readonly openMs: number;
  /** A fixed limit for this run (overrides the file's, and edits of it); default: the file's. */
  readonly limitPerSecond?: number | undefined;
  /** Keep the limit in this Redis (the limiter's store), under `redisPrefix`. */
  readonly redis?: RedisClientLike | undefined;
  readonly redisPrefix: string;
  readonly random: Random;
  /** The file, when not the default (tests). */
  readonly file?: string | undefined;
}

/** The manager built from the file, and the watch that applies edits of it while the demo runs. */
export interface DemoResilience {
  readonly resilience: Resilience;
  /** The limit in force now (requests per second). */
  limitPerSecond(): number;
  /** One line per change a reload applied or skipped, for the summary. */
  readonly reloads: string[];
  close(): void;
}

/**
 * Loads resilience.yaml and watches it: a saved edit (the rate limit, thresholds, backoffs)
 * applies to the running demo in place. What the run itself decides (the open period scaled to
 * its length, Redis when REDIS_URL is set, a limit given as an option) is passed as environment
 * overrides, so it holds across reloads too.
 */
export async function createDemoResilience(options: DemoResilienceOptions): Promise<DemoResilience> {
  const file = options.file ?? RESILIENCE_FILE;
  const env: Record<string, string> = { X_RESILIENCE__OPERATIONS__DOWNSTREAM__BREAKER__OPEN_DURATION: String(options.openMs) };
  if (options.limitPerSecond !== undefined) env.X_RESILIENCE__RATE_LIMITERS__API__LIMIT = String(options.limitPerSecond);
  if (options.redis !== undefined) {
    env.X_RESILIENCE__RATE_LIMITERS__API__STORE = 'redis';
    env.X_RESILIENCE__RATE_LIMITERS__API__ON_STORE_ERROR = 'local';
  }
  const resilience = createResilience(await loadResilienceConfigFile(file, { env }), {
    events: options.events,
    fallbacks: FALLBACKS,
    random: options.random,
    redis: options.redis,
    redisPrefix: options.redisPrefix,
  });
  const reloads: string[] = [];
  const onReload = (report: ReloadReport): void => {
    for (const c of report.applied) reloads.push(`resilience.yaml: ${c.kind} ${c.name} ${c.setting} ${String(c.from)} → ${String(c.to)} (${c.mode.replace('_', ' ')})`);
    for (const c of report.skipped) reloads.push(`resilience.yaml: ${c.kind} ${c.name} ${c.setting} not applied: ${c.reason}`);
  };
  const watcher = watch(resilience, file, {
    env,
    events: options.events,
    onReload,
    onError: (error) => reloads.push(`resilience.yaml not applied: ${error instanceof Error ? error.message.split('\n').join(' ') : String(error)}`),
  });
  return {
    resilience,
    limitPerSecond: () => resilience.config.rateLimiters.api?.limit ?? 0,
    reloads,
    close: () => watcher.close(),
  };
}
