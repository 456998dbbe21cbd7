import { createBreaker } from '@x/breaker';
import { createEventBus } from '@x/core';
import { collectMetrics } from '@x/metrics';
import { Registry } from 'prom-client';
import type { Row } from '../harness.js';
import { work } from '../harness.js';

/**
 * The price of `@x/metrics`: a closed breaker call while the exporter listens (it counts the
 * result and observes the duration) relative to the same call on a bus nobody listens to.
 * Issue target: ≤ 1.5×.
 */
function overhead(durations: boolean): Row {
  const quiet = createBreaker({ name: 'quiet', events: createEventBus() });
  const observedBus = createEventBus();
  const observed = createBreaker({ name: 'observed', events: observedBus });
  const collector = collectMetrics({ registry: new Registry(), bus: observedBus, durations });
  return {
    operation: `breaker call, @x/metrics attached${durations ? ' (durations: true)' : ''}`,
    // The bound is for the exporter as configured by default; timing is opt-in.
    ...(!durations && { target: 1.5 }),
    baseline: () => quiet.execute(work),
    baselineLabel: 'same call, no listener',
    ops: { x: () => observed.execute(work) },
    verify: (_column, result) => {
      if (result !== 1) throw new Error(`expected 1, got ${String(result)}`);
    },
    dispose: () => collector.stop(),
  };
}

/** The default exporter: every count and state, read from the breaker at scrape time. */
export default function metricsOverhead(): Row {
  return overhead(false);
}

/** With the opt-in duration histogram: two clock reads and an event per call. */
export function metricsOverheadWithDurations(): Row {
  return overhead(true);
}
