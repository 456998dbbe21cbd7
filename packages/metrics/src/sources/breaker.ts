import type { SourceFactory } from './types.js';
import { seconds, text } from './types.js';

/** Gauge values of `circuit_breaker_state`: isolated (forced open) reports as open. */
const STATE_VALUE: Record<string, number> = { closed: 0, half_open: 1, open: 2, isolated: 2 };

export const breakerMetrics: SourceFactory = (families, bus) => {
  families.gauge(
    'circuit_breaker_state',
    'Circuit breaker state: 0 closed, 1 half-open, 2 open (isolated reports 2).',
    ['name'],
    (set) => {
      for (const { name, instance } of bus.tracked('breaker')) {
        // Reading `state` also applies a due open → half-open transition, as every read does.
        const value = STATE_VALUE[text((instance as { state?: unknown }).state)];
        if (value !== undefined) set({ name }, value);
      }
    },
  );
  const requests = families.counter(
    'circuit_breaker_requests_total',
    'Calls seen by the circuit breaker, by result (success, failure, rejected).',
    ['name', 'result'],
  );
  const changes = families.counter(
    'circuit_breaker_state_changes_total',
    'Circuit breaker state transitions.',
    ['name', 'from_state', 'to_state'],
  );
  const duration = families.histogram(
    'circuit_breaker_request_duration_seconds',
    'Duration of calls the circuit breaker admitted (successes and failures).',
    ['name'],
    families.buckets.durationSeconds,
  );
  return {
    onEvent(event) {
      switch (event.type) {
        case 'breaker.success':
        case 'breaker.failure':
          requests.inc({ name: event.name, result: event.type === 'breaker.success' ? 'success' : 'failure' });
          duration.observe({ name: event.name }, seconds(event.durationMs));
          break;
        case 'breaker.rejected':
          requests.inc({ name: event.name, result: 'rejected' });
          break;
        case 'breaker.state_change':
          changes.inc({ name: event.name, from_state: text(event.from), to_state: text(event.to) });
          break;
      }
    },
  };
};
