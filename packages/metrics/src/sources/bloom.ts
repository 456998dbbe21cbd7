import type { TrackedInstance } from '@x/core';
import type { SetSample } from '../families.js';
import type { Source } from './types.js';

interface BloomLike {
  stats(): { readonly items?: number; readonly capacity?: number; readonly falsePositives?: number };
}

const isBloom = (value: object): value is BloomLike => typeof (value as Partial<BloomLike>).stats === 'function';

// The names go-cachex (seed 000) gives these metrics. Labelled by filter name only, never by key.
export const bloomSource: Source = {
  source: 'bloom',
  // Everything is read from `stats()` at scrape time: observing a filter costs its adds and
  // checks nothing. (A Redis filter exposes its last estimate plus this process's adds.)
  events: () => [],
  create(families) {
    const read =
      (field: 'items' | 'capacity') =>
      ({ name, instance }: TrackedInstance, set: SetSample<'filter'>): void => {
        if (!isBloom(instance)) return;
        const value = instance.stats()[field];
        if (typeof value === 'number' && Number.isFinite(value)) set({ filter: name }, value);
      };
    families.gauge('bloom_filter_items', 'Distinct items in the bloom filter (approximate), read at scrape.', 'bloom', 'sum', read('items'));
    families.gauge('bloom_filter_capacity', 'Items the bloom filter was sized for (for a scalable filter, its stages together).', 'bloom', 'sum', read('capacity'));
    families.computedCounter<'filter'>(
      'bloom_filter_false_positives_total',
      'False positives reported through recordFalsePositive() (the filter said possibly present, the source said no).',
      'bloom',
      ({ name, instance }, set) => {
        if (!isBloom(instance)) return;
        const value = instance.stats().falsePositives;
        if (typeof value === 'number') set({ filter: name }, value);
      },
    );
    return { onEvent() {} };
  },
};
