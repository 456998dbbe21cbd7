import type { Source } from './types.js';
import { perName, text } from './types.js';

// Labelled by limiter name and outcome only: never by key, whose cardinality a client controls.
export const ratelimitSource: Source = {
  source: 'ratelimit',
  events: () => ['ratelimit.allowed', 'ratelimit.rejected', 'ratelimit.store_error', 'ratelimit.store_degraded'],
  create(families) {
    const requests = families.counter(
      'ratelimit_requests_total',
      'Rate limiter decisions, by outcome (allowed, or the rejection reason: limited, store_unavailable, aborted).',
    );
    const storeErrors = families.counter('ratelimit_store_errors_total', 'Rate limiter store calls that failed or timed out.');
    const degraded = families.counter('ratelimit_store_degraded_total', 'Times the rate limiter stopped using its store after repeated failures.');
    const allowed = perName((limiter) => requests.cell(`${limiter}\0allowed`, { limiter, outcome: 'allowed' }));
    return {
      onEvent(event) {
        switch (event.type) {
          case 'ratelimit.allowed':
            allowed(event.name).value++;
            break;
          case 'ratelimit.rejected': {
            const outcome = text(event.reason ?? 'limited');
            requests.cell(`${event.name}\0${outcome}`, { limiter: event.name, outcome }).value++;
            break;
          }
          case 'ratelimit.store_error':
            storeErrors.cell(event.name, { limiter: event.name }).value++;
            break;
          case 'ratelimit.store_degraded':
            degraded.cell(event.name, { limiter: event.name }).value++;
            break;
        }
      },
    };
  },
};
