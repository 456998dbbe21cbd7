import type { Source } from './types.js';
import { text } from './types.js';

export const timeoutSource: Source = {
  source: 'timeout',
  events: () => ['timeout.timed_out'],
  create(families) {
    const timedOut = families.counter('timeouts_total', 'Calls that reached their timeout, by strategy.');
    return {
      onEvent(event) {
        const strategy = text(event.strategy);
        timedOut.cell(`${event.name}\0${strategy}`, { policy: event.name, strategy }).value++;
      },
    };
  },
};
