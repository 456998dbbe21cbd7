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
    operation: `breaker call, @x/metrics attached${durations ? '' : ' (durations: false)'}`,
    target: 1.5,
    baseline: () => quiet.execute(work),
    baselineLabel: 'same call, no listener',
    ops: { x: () => observed.execute(work) },
    verify: (_column, result) => {
      if (result !== 1) throw new Error(`expected 1, got ${String(result)}`);
    },
    dispose: () => collector.stop(),
  };
}

/** The default exporter: counts from the breaker's totals, plus a timed duration histogram. */
export default function metricsOverhead(): Row {
  return overhead(true);
}

/** Without the duration histogram: every count and state, nothing timed. */
export function metricsOverheadNoDurations(): Row {
  return overhead(false);
}
