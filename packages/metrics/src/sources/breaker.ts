import type { Source } from './types.js';
import { perName, seconds, text } from './types.js';

/** Gauge values of `circuit_breaker_state`: isolated (forced open) reports as open. */
const STATE_VALUE: Record<string, number> = { closed: 0, half_open: 1, open: 2, isolated: 2 };

interface BreakerLike {
  stats(): { readonly totals: { readonly successes: number; readonly failures: number; readonly rejected: number } };
}

export const breakerSource: Source = {
  source: 'breaker',
  // Results are counted by the breaker itself (`stats().totals`) and read at scrape time; events
  // are needed only for transitions and, when durations are on, for call timings.
  events: (durations) => (durations ? ['breaker.state_change', 'breaker.success', 'breaker.failure'] : ['breaker.state_change']),
  create(families) {
    // Two live breakers with the same name report the worse state (open over half-open over closed).
    families.gauge<'name'>(
      'circuit_breaker_state',
      'Circuit breaker state: 0 closed, 1 half-open, 2 open (isolated reports 2).',
      'breaker',
      'max',
      ({ name, instance }, set) => {
        // Reading `state` also applies a due open → half-open transition, as every read does.
        const value = STATE_VALUE[text((instance as { state?: unknown }).state)];
        if (value !== undefined) set({ name }, value);
      },
    );
    families.computedCounter<'name' | 'result'>(
      'circuit_breaker_requests_total',
      'Calls seen by the circuit breaker, by result (success, failure, rejected).',
      'breaker',
      ({ name, instance }, set) => {
        const totals = (instance as Partial<BreakerLike>).stats?.().totals;
        if (totals === undefined) return;
        set({ name, result: 'success' }, totals.successes);
        set({ name, result: 'failure' }, totals.failures);
        set({ name, result: 'rejected' }, totals.rejected);
      },
    );
    const changes = families.counter('circuit_breaker_state_changes_total', 'Circuit breaker state transitions.');
    const duration = families.durations
      ? families.histogram(
          'circuit_breaker_request_duration_seconds',
          'Duration of calls the circuit breaker admitted (successes and failures).',
          families.buckets.durationSeconds,
        )
      : undefined;
    const durations = perName((name) => duration?.cell(name, { name }));
    return {
      onEvent(event) {
        switch (event.type) {
          case 'breaker.success':
          case 'breaker.failure':
            durations(event.name)?.observe(seconds(event.durationMs));
            break;
          case 'breaker.state_change': {
            const from = text(event.from);
            const to = text(event.to);
            changes.cell(`${event.name}\0${from}\0${to}`, { name: event.name, from_state: from, to_state: to }).value++;
            break;
          }
        }
      },
    };
  },
};
