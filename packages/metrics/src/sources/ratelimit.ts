import type { Source } from './types.js';
import { bornStores, labelledCells } from './types.js';

interface LimiterLike {
  stats(): { readonly allowed: number; readonly rejected: Readonly<Record<string, number>> };
}

const isLimiter = (value: object): value is LimiterLike => typeof (value as Partial<LimiterLike>).stats === 'function';

// Labelled by limiter name and outcome only: never by key, whose cardinality a client controls.
export const ratelimitSource: Source = {
  source: 'ratelimit',
  // Decisions are counted by the limiter (`stats()`) and read at scrape time, so a limiter making
  // millions of decisions a second pays nothing for being observed; store trouble is rare.
  events: () => ['ratelimit.store_error', 'ratelimit.store_degraded'],
  create(families) {
    families.computedCounter<'limiter' | 'outcome'>(
      'ratelimit_requests_total',
      'Rate limiter decisions, by outcome (allowed, or the rejection reason: limited, store_unavailable, aborted).',
      'ratelimit',
      ({ name, instance }, set) => {
        if (!isLimiter(instance)) return;
        const stats = instance.stats();
        set({ limiter: name, outcome: 'allowed' }, stats.allowed);
        for (const [reason, count] of Object.entries(stats.rejected)) set({ limiter: name, outcome: reason }, count);
      },
    );
    // Store events carry the store's name (`redisStore({ name })`), on the bus given to the store.
    const storeErrors = labelledCells(families.counter('ratelimit_store_errors_total', 'Rate limiter store calls that failed or timed out, by store.'), ['store']);
    const degraded = labelledCells(
      families.counter('ratelimit_store_degraded_total', 'Times a rate limiter store was bypassed after repeated failures, by store.'),
      ['store'],
    );
    return {
      // Born at 0: a limiter on a named store (`redisStore({ name })`) gets that store's series, so
      // the first degradation is an increase Prometheus sees.
      onTracked(_name, instances) {
        bornStores(instances, (store) => {
          storeErrors(store);
          degraded(store);
        });
      },
      onEvent(event) {
        (event.type === 'ratelimit.store_error' ? storeErrors : degraded)(event.name).value++;
      },
    };
  },
};
