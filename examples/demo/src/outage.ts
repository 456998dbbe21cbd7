import type { DemoOptions } from './demo.js';

/**
 * A short run with a long outage, for watching alerts against a real Prometheus (the demo's
 * Prometheus test, `pnpm demo -- --outage`): 36 s, of which 60 % failing. The breaker opens within
 * half a second of the outage and keeps probing half-open every 2 s; every probe fails until the
 * recovering phase. Scrape every second and load the rules compressed in time
 * (`x-metrics rules --time-scale 0.04`: a 5-minute condition becomes 12 s) to see
 * CircuitBreakerOpen fire about 13 s into the outage.
 */
export const PROMETHEUS_OUTAGE = {
  durationMs: 36_000,
  phases: { healthy: 0.15, failing: 0.6, recovering: 0.25 },
} as const satisfies DemoOptions;
