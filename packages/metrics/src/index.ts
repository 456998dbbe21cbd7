export { collectMetrics, metricNames, METRIC_SUFFIXES } from './collect.js';
export type { CollectMetricsOptions, MetricsCollector } from './collect.js';
export { defaultBuckets } from './families.js';
export type { MetricBuckets } from './families.js';
