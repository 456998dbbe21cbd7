import type { SourceFactory } from './types.js';
import { seconds, text } from './types.js';

export const retryMetrics: SourceFactory = (families) => {
  const attempts = families.counter(
    'retry_attempts_total',
    'Retry attempts scheduled, by attempt number (2 is the first retry; first calls are not counted).',
    ['policy', 'attempt'],
  );
  const delay = families.histogram(
    'retry_backoff_delay_seconds',
    'Backoff delay before each retry attempt.',
    ['policy'],
    families.buckets.delaySeconds,
  );
  const calls = families.counter(
    'retry_calls_total',
    'Executions that needed a retry, by result: succeeded_after_retry, or the reason it gave up (exhausted, deadline, budget, not_retryable).',
    ['policy', 'result'],
  );
  return {
    onEvent(event) {
      switch (event.type) {
        case 'retry.scheduled':
          attempts.inc({ policy: event.name, attempt: text(event.attempt) });
          delay.observe({ policy: event.name }, seconds(event.delayMs));
          break;
        case 'retry.succeeded':
          calls.inc({ policy: event.name, result: 'succeeded_after_retry' });
          break;
        case 'retry.gave_up':
          calls.inc({ policy: event.name, result: text(event.reason) });
          break;
      }
    },
  };
};
