export { otelMetrics } from './metrics.js';
export type { OtelMetrics, OtelMetricsOptions } from './metrics.js';
export { traced, traceEvents } from './tracing.js';
export type { TracedOptions } from './tracing.js';
