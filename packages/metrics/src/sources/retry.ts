import type { Source } from './types.js';
import { perName, seconds } from './types.js';

interface RetryLike {
  stats(): {
    readonly attempts: readonly number[];
    readonly succeededAfterRetry: number;
    readonly gaveUp: Readonly<Record<string, number>>;
  };
}

const isRetry = (value: object): value is RetryLike => typeof (value as Partial<RetryLike>).stats === 'function';

export const retrySource: Source = {
  source: 'retry',
  // Attempts and outcomes are counted by the policy (`stats()`) and read at scrape time; only the
  // backoff delays, which exist on the retry path alone, come from events.
  events: () => ['retry.scheduled'],
  create(families) {
    families.computedCounter<'policy' | 'attempt'>(
      'retry_attempts_total',
      'Attempts made, by attempt number (1 is the first call, 2 the first retry).',
      'retry',
      ({ name, instance }, set) => {
        if (!isRetry(instance)) return;
        instance.stats().attempts.forEach((count, i) => set({ policy: name, attempt: String(i + 1) }, count));
      },
    );
    families.computedCounter<'policy' | 'result'>(
      'retry_calls_total',
      'Executions whose first attempt failed, by result: succeeded_after_retry, or why the retry stopped (exhausted, deadline, budget, not_retryable, aborted).',
      'retry',
      ({ name, instance }, set) => {
        if (!isRetry(instance)) return;
        const stats = instance.stats();
        set({ policy: name, result: 'succeeded_after_retry' }, stats.succeededAfterRetry);
        for (const [reason, count] of Object.entries(stats.gaveUp)) set({ policy: name, result: reason }, count);
      },
    );
    const delay = families.histogram('retry_backoff_delay_seconds', 'Backoff delay before each retry attempt.', families.buckets.delaySeconds);
    const delays = perName((policy) => delay.cell(policy, { policy }));
    return {
      onEvent(event) {
        delays(event.name).observe(seconds(event.delayMs));
      },
    };
  },
};
