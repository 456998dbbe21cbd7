import type { Source } from './types.js';
import { perName, seconds, text } from './types.js';

export const retrySource: Source = {
  source: 'retry',
  events: () => ['retry.attempt_failed', 'retry.succeeded', 'retry.scheduled', 'retry.gave_up'],
  create(families) {
    const attempts = families.counter(
      'retry_attempts_total',
      'Attempts made, by attempt number (1 is the first call, 2 the first retry).',
    );
    const delay = families.histogram('retry_backoff_delay_seconds', 'Backoff delay before each retry attempt.', families.buckets.delaySeconds);
    const calls = families.counter(
      'retry_calls_total',
      'Executions by result: succeeded (first try), succeeded_after_retry, or why it gave up (exhausted, deadline, budget, not_retryable, aborted).',
    );
    const attempt = (policy: string, n: unknown) => {
      const label = text(n);
      attempts.cell(`${policy}\0${label}`, { policy, attempt: label }).value++;
    };
    const delays = perName((policy) => delay.cell(policy, { policy }));
    const result = (policy: string, outcome: string) => calls.cell(`${policy}\0${outcome}`, { policy, result: outcome }).value++;
    return {
      onEvent(event) {
        switch (event.type) {
          case 'retry.attempt_failed':
            attempt(event.name, event.attempt);
            break;
          case 'retry.succeeded':
            attempt(event.name, event.attempts);
            result(event.name, event.attempts === 1 ? 'succeeded' : 'succeeded_after_retry');
            break;
          case 'retry.scheduled':
            delays(event.name).observe(seconds(event.delayMs));
            break;
          case 'retry.gave_up':
            result(event.name, text(event.reason));
            break;
        }
      },
    };
  },
};
