import type { Breaker } from '@x/breaker';
import type { Bulkhead } from '@x/bulkhead';
import { isXError } from '@x/core';
import type { Policy } from '@x/core';
import type { FallbackDefinition, Resilience } from '@x/resilience';
import type { Quote } from './downstream.js';
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
  /** Built from resilience.yaml (see resilience.ts): the operation `downstream` is the stack below. */
  readonly resilience: Resilience;
}

/** Per-attempt deadline: well above a healthy call (≤ 70 ms), well below a hung one (resilience.yaml: timeout). */
export const ATTEMPT_TIMEOUT_MS = 250;

/** The order of the layers, outermost first, as printed by the demo. */
export const LAYERS = 'fallback → ratelimit → bulkhead → breaker → retry → timeout';

const LAST_KNOWN: Quote = { sku: 'A-1042', price: 19.5, currency: 'EUR' };

/**
 * The fallback of resilience.yaml's `downstream` operation (`fallback: last-known-quote`): any
 * failure becomes the last known quote (stale), except a rate-limit rejection, which the handler
 * answers with 429 so the client slows down.
 */
export const FALLBACKS: Readonly<Record<string, FallbackDefinition>> = {
  'last-known-quote': {
    handler: (error): StaleAnswer => ({ stale: true, quote: LAST_KNOWN, reason: reasonOf(error) as FallbackReason }),
    shouldHandle: (error) => !isXError(error, 'RATE_LIMITED'),
  },
};

/**
 * The stack the API handler runs every downstream call through, outermost first, as
 * resilience.yaml configures it (the numbers below are the file's):
 *
 * - **fallback**: see {@link FALLBACKS};
 * - **rate limiter**: waits up to 50 ms for capacity, then rejects;
 * - **bulkhead**: 6 calls at once, 6 more may queue for 100 ms: a slow downstream cannot tie up
 *   every request;
 * - **breaker**: opens on 5 failures in a row or 50 % of the last 20 calls. It sits *outside* the
 *   retry, so a call retried three times counts once: it trips on calls that failed even after
 *   retrying, and while it is open nothing is retried at all;
 * - **retry**: 3 attempts, 25 → 200 ms exponential backoff with equal jitter;
 * - **timeout**: 250 ms per attempt, cooperative (the downstream call gets the signal).
 *
 * `pipeline` follows reloads of the file; the instances are the live ones.
 */
export function createPolicies(options: PolicyOptions) {
  const { resilience } = options;
  // The fallback may answer with a stale quote instead of the fresh one.
  const pipeline = resilience.policy('downstream') as Policy<object, StaleAnswer>;
  return {
    pipeline,
    breaker: resilience.get('breaker', 'downstream') as Breaker,
    bulkhead: resilience.get('bulkhead', 'downstream') as Bulkhead,
    /** A retry or timeout is replaced when a reload changes it: read them when needed. */
    get retry() {
      return resilience.get('retry', 'downstream');
    },
    get timeout() {
      return resilience.get('timeout', 'downstream');
    },
  };
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
