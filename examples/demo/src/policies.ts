import { createBreaker } from '@x/breaker';
import type { Breaker } from '@x/breaker';
import { createBulkhead } from '@x/bulkhead';
import type { Bulkhead } from '@x/bulkhead';
import { compose, fallback, isXError } from '@x/core';
import type { EventBus } from '@x/core';
import type { AnyRateLimiter } from '@x/ratelimit';
import { createRetry, exponentialBackoff } from '@x/retry';
import { createTimeout } from '@x/timeout';
import type { Quote } from './downstream.js';
import type { Random } from './random.js';
import type { FallbackReason, RejectReason } from './stats.js';

/** A fresh answer from the downstream. */
export interface FreshAnswer {
  readonly stale: false;
  readonly quote: Quote;
}

/** What the fallback serves instead: the last known quote, and why it had to. */
export interface StaleAnswer {
  readonly stale: true;
  readonly quote: Quote;
  readonly reason: FallbackReason;
}

export interface PolicyOptions {
  readonly events: EventBus;
  readonly limiter: AnyRateLimiter;
  /** How long the breaker stays open before a probe; scaled with the run's length. */
  readonly openMs: number;
  readonly random: Random;
}

/** Per-attempt deadline: well above a healthy call (≤ 70 ms), well below a hung one. */
export const ATTEMPT_TIMEOUT_MS = 250;
/** Longest wait for the rate limiter before answering 429. */
export const LIMITER_MAX_WAIT_MS = 50;

/** The order of the layers, outermost first, as printed by the demo. */
export const LAYERS = 'fallback → ratelimit → bulkhead → breaker → retry → timeout';

const LAST_KNOWN: Quote = { sku: 'A-1042', price: 19.5, currency: 'EUR' };

/**
 * Builds the stack the API handler runs every downstream call through, outermost first:
 *
 * - **fallback**: any failure becomes the last known quote (stale), except a rate-limit
 *   rejection, which the handler answers with 429 so the client slows down;
 * - **rate limiter**: waits up to 50 ms for capacity, then rejects;
 * - **bulkhead**: 6 calls at once, 6 more may queue for 100 ms: a slow downstream cannot tie up
 *   every request;
 * - **breaker**: opens on 5 failures in a row or 50 % of the last 20 calls. It sits *outside* the
 *   retry, so a call retried three times counts once: it trips on calls that failed even after
 *   retrying, and while it is open nothing is retried at all;
 * - **retry**: 3 attempts, 25 → 200 ms exponential backoff with equal jitter;
 * - **timeout**: 250 ms per attempt, cooperative (the downstream call gets the signal).
 */
export function createPolicies(options: PolicyOptions) {
  const events = options.events;
  const bulkhead: Bulkhead = createBulkhead({ name: 'downstream', maxConcurrent: 6, maxQueue: 6, maxWaitMs: 100, events });
  const breaker: Breaker = createBreaker({
    name: 'downstream',
    failureThreshold: 5,
    window: { kind: 'count', size: 20 },
    failureRateThreshold: 0.5,
    minimumCalls: 10,
    openMs: options.openMs,
    successThreshold: 2,
    events,
  });
  const retry = createRetry({
    name: 'downstream',
    maxAttempts: 3,
    backoff: exponentialBackoff({ initialMs: 25, maxMs: 200, jitter: 'equal' }),
    random: options.random,
    events,
  });
  const timeout = createTimeout(ATTEMPT_TIMEOUT_MS, { name: 'downstream', events });
  const stale = fallback(
    (error): StaleAnswer => ({ stale: true, quote: LAST_KNOWN, reason: reasonOf(error) as FallbackReason }),
    { name: 'last-known-quote', shouldHandle: (error) => !isXError(error, 'RATE_LIMITED') },
  );
  const pipeline = compose(
    stale,
    options.limiter.policy('global', { maxWaitMs: LIMITER_MAX_WAIT_MS }),
    bulkhead,
    breaker,
    retry,
    timeout,
  );
  return { pipeline, breaker, bulkhead, retry, timeout };
}

export type Policies = ReturnType<typeof createPolicies>;

/** Why a call did not produce a fresh answer, from the error the stack rejected with. */
export function reasonOf(error: unknown): RejectReason {
  if (isXError(error, 'RATE_LIMITED')) return 'rate_limited';
  if (isXError(error, 'BULKHEAD_FULL')) return 'bulkhead_full';
  if (isXError(error, 'BREAKER_OPEN')) return 'breaker_open';
  if (isXError(error, 'TIMEOUT')) return 'timeout';
  // The retry gave up: what matters is why its last attempt failed.
  if (isXError(error, 'RETRY_EXHAUSTED')) return isXError(error.cause, 'TIMEOUT') ? 'timeout' : 'failed';
  return 'failed';
}
