import type { Source } from './types.js';
import { bornStores, labelledCells, perName, seconds, text } from './types.js';

interface CacheLike {
  stats(): {
    readonly operations: Readonly<Record<string, Readonly<Record<string, number>>>>;
    readonly hitRatio: number;
    readonly l1?: { readonly entries: number; readonly bytes: number } | undefined;
    readonly singleFlightJoins: number;
    readonly bus: { readonly gaps: number };
    readonly filter: { readonly skipped: number; readonly falsePositives: number };
    readonly writeBehind: { readonly written: number; readonly coalesced: number; readonly deadLettered: number; readonly lost: number };
  };
}

const isCache = (value: object): value is CacheLike => typeof (value as Partial<CacheLike>).stats === 'function';

// go-cachex's cache_operations_total{operation,status} and cache_operation_duration_seconds{operation},
// plus L1 size, hit ratio, single-flight joins and bus gaps. Labelled by cache name and small enums,
// never by key. Counts are read from `stats()` at scrape time; only durations and store errors
// need events.
export const cacheSource: Source = {
  source: 'cache',
  events: (durations) => (durations ? ['cache.operation', 'cache.store_error'] : ['cache.store_error']),
  create(families) {
    families.computedCounter<'cache' | 'operation' | 'status'>(
      'cache_operations_total',
      'Cache operations by operation (get, getOrSet, set, delete, clear, load, l2_get, l2_set, ...) and status (hit, miss, stale, negative, error, retry, ok).',
      'cache',
      ({ name, instance }, set) => {
        if (!isCache(instance)) return;
        for (const [operation, statuses] of Object.entries(instance.stats().operations)) {
          for (const [status, count] of Object.entries(statuses)) set({ cache: name, operation, status }, count);
        }
      },
    );
    families.gauge('cache_local_entries', 'Entries held in the in-memory tier (L1), read at scrape.', 'cache', 'sum', ({ name, instance }, set) => {
      if (isCache(instance)) set({ cache: name }, instance.stats().l1?.entries ?? 0);
    });
    families.gauge('cache_local_bytes', 'Bytes held in the in-memory tier (as its sizeOf counts them), read at scrape.', 'cache', 'sum', ({ name, instance }, set) => {
      if (isCache(instance)) set({ cache: name }, instance.stats().l1?.bytes ?? 0);
    });
    families.gauge('cache_hit_ratio', 'Lookups answered from the cache (hits and negative hits) over all lookups since start; the lowest of caches sharing a name.', 'cache', 'min', ({ name, instance }, set) => {
      if (isCache(instance)) set({ cache: name }, instance.stats().hitRatio);
    });
    families.computedCounter('cache_single_flight_joins_total', 'getOrSet calls that joined a load already running in their process.', 'cache', ({ name, instance }, set) => {
      if (isCache(instance)) set({ cache: name }, instance.stats().singleFlightJoins);
    });
    families.computedCounter('cache_bus_gaps_total', 'Invalidation bus losses (sequence gaps, subscriber reconnects): every L1 entry was expired.', 'cache', ({ name, instance }, set) => {
      if (isCache(instance)) set({ cache: name }, instance.stats().bus.gaps);
    });
    families.computedCounter<'cache' | 'result'>(
      'cache_filter_total',
      'Membership filter effect: loads skipped (definitely absent) and false positives observed (said present, loader found nothing).',
      'cache',
      ({ name, instance }, set) => {
        if (!isCache(instance)) return;
        const { skipped, falsePositives } = instance.stats().filter;
        set({ cache: name, result: 'skipped' }, skipped);
        set({ cache: name, result: 'false_positive' }, falsePositives);
      },
    );
    families.computedCounter<'cache' | 'outcome'>(
      'cache_write_behind_total',
      'Write-behind writes by outcome (written to the source, coalesced into a later write, dead_lettered, lost).',
      'cache',
      ({ name, instance }, set) => {
        if (!isCache(instance)) return;
        const wb = instance.stats().writeBehind;
        set({ cache: name, outcome: 'written' }, wb.written);
        set({ cache: name, outcome: 'coalesced' }, wb.coalesced);
        set({ cache: name, outcome: 'dead_lettered' }, wb.deadLettered);
        set({ cache: name, outcome: 'lost' }, wb.lost);
      },
    );
    const duration = families.durations
      ? families.histogram('cache_operation_duration_seconds', 'Duration of cache operations (L1 hits read as 0), by operation.', families.buckets.durationSeconds)
      : undefined;
    const cells = perName((key) => {
      const [name, operation] = key.split('\0') as [string, string];
      return duration?.cell(key, { cache: name, operation });
    });
    // Store events carry the store's name (`redisCacheStore({ name })`, default its prefix).
    const storeErrors = labelledCells(families.counter('cache_store_errors_total', 'Cache store (Redis) calls that failed or timed out, by store.'), ['store']);
    return {
      // Born at 0 for an instance whose store is public and named (none is yet: series appear with the first error).
      onTracked(_name, instances) {
        bornStores(instances, (store) => storeErrors(store));
      },
      onEvent(event) {
        if (event.type === 'cache.operation') cells(`${event.name}\0${text(event.operation)}`)?.observe(seconds(event.durationMs));
        else storeErrors(event.name).value++;
      },
    };
  },
};
