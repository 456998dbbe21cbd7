import type { SourceFactory } from './types.js';
import { text } from './types.js';

export const timeoutMetrics: SourceFactory = (families) => {
  const timedOut = families.counter('timeouts_total', 'Calls that reached their timeout, by strategy.', ['policy', 'strategy']);
  return {
    onEvent(event) {
      if (event.type === 'timeout.timed_out') timedOut.inc({ policy: event.name, strategy: text(event.strategy) });
    },
  };
};
