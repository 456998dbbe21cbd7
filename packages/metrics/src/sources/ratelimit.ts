import type { SourceFactory } from './types.js';
import { text } from './types.js';

// Labelled by limiter name and outcome only: never by key, whose cardinality a client controls.
export const ratelimitMetrics: SourceFactory = (families) => {
  const requests = families.counter(
    'ratelimit_requests_total',
    'Rate limiter decisions, by outcome (allowed, or the rejection reason: limited, store_unavailable, aborted).',
    ['limiter', 'outcome'],
  );
  const storeErrors = families.counter('ratelimit_store_errors_total', 'Rate limiter store calls that failed or timed out.', ['limiter']);
  const degraded = families.counter(
    'ratelimit_store_degraded_total',
    'Times the rate limiter stopped using its store after repeated failures.',
    ['limiter'],
  );
  return {
    onEvent(event) {
      switch (event.type) {
        case 'ratelimit.allowed':
          requests.inc({ limiter: event.name, outcome: 'allowed' });
          break;
        case 'ratelimit.rejected':
          requests.inc({ limiter: event.name, outcome: text(event.reason ?? 'limited') });
          break;
        case 'ratelimit.store_error':
          storeErrors.inc({ limiter: event.name });
          break;
        case 'ratelimit.store_degraded':
          degraded.inc({ limiter: event.name });
          break;
      }
    },
  };
};
