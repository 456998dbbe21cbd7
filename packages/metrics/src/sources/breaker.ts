import type { Source } from './types.js';
import { labelledCells, perName, seconds, text } from './types.js';

/**
 * Gauge values of `circuit_breaker_state`: isolated (forced open) reports as open; disabled and
 * metrics-only breakers let every call through, as closed ones do.
 */
const STATE_VALUE: Record<string, number> = { closed: 0, half_open: 1, open: 2, isolated: 2, disabled: 0, metrics_only: 0 };

/**
 * The transitions of the automatic state machine, born at 0 for every tracked breaker: an alert on
 * `increase(…{to_state="open"}[15m])` then counts the very first open. Forced transitions
 * (isolate, disable) appear on first use.
 */
const TRANSITIONS: ReadonlyArray<readonly [string, string]> = [
  ['closed', 'open'],
  ['open', 'half_open'],
  ['half_open', 'open'],
  ['half_open', 'closed'],
];

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
    const changes = labelledCells(families.counter('circuit_breaker_state_changes_total', 'Circuit breaker state transitions.'), [
      'name',
      'from_state',
      'to_state',
    ]);
    const duration = families.durations
      ? families.histogram(
          'circuit_breaker_request_duration_seconds',
          'Duration of calls the circuit breaker admitted (successes and failures).',
          families.buckets.durationSeconds,
        )
      : undefined;
    const durations = perName((name) => duration?.cell(name, { name }));
    return {
      onTracked(name) {
        for (const [from, to] of TRANSITIONS) changes(name, from, to);
      },
      onEvent(event) {
        switch (event.type) {
          case 'breaker.success':
          case 'breaker.failure':
            durations(event.name)?.observe(seconds(event.durationMs));
            break;
          case 'breaker.state_change': {
            changes(event.name, text(event.from), text(event.to)).value++;
            break;
          }
        }
      },
    };
  },
};
