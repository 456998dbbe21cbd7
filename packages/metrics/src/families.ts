import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

/** Histogram buckets, in seconds, per kind of measurement. */
export interface MetricBuckets {
  /** Call durations (breaker requests, health checks). */
  readonly durationSeconds: readonly number[];
  /** Waits (retry backoff delays, bulkhead queue waits). */
  readonly delaySeconds: readonly number[];
}

/**
 * Default buckets: request latencies from 1 ms to 10 s; waits from 10 ms to a minute.
 *
 * @example
 * ```ts
 * collectMetrics({ buckets: { durationSeconds: [...defaultBuckets.durationSeconds, 30] } });
 * ```
 */
export const defaultBuckets: MetricBuckets = {
  durationSeconds: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  delaySeconds: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
};

/**
 * Creates prom-client metrics under one prefix in one registry and remembers them, so
 * `collectMetrics().stop()` can unregister exactly what it registered.
 */
export class Families {
  readonly #registry: Registry;
  readonly #prefix: string;
  readonly #names: string[] = [];
  readonly buckets: MetricBuckets;

  constructor(registry: Registry, prefix: string, buckets: MetricBuckets) {
    this.#registry = registry;
    this.#prefix = prefix;
    this.buckets = buckets;
  }

  name(suffix: string): string {
    return this.#prefix === '' ? suffix : `${this.#prefix}_${suffix}`;
  }

  counter<L extends string>(suffix: string, help: string, labelNames: readonly L[]): Counter<L> {
    return this.#keep(new Counter({ name: this.name(suffix), help, labelNames, registers: [this.#registry] }), suffix);
  }

  histogram<L extends string>(suffix: string, help: string, labelNames: readonly L[], buckets: readonly number[]): Histogram<L> {
    return this.#keep(
      new Histogram({ name: this.name(suffix), help, labelNames, buckets: [...buckets], registers: [this.#registry] }),
      suffix,
    );
  }

  /** A gauge whose values are computed by `read` at scrape time (reset first, so gone instances vanish). */
  gauge<L extends string>(
    suffix: string,
    help: string,
    labelNames: readonly L[],
    read: (set: (labels: Record<L, string>, value: number) => void) => void,
  ): Gauge<L> {
    return this.#keep(
      new Gauge({
        name: this.name(suffix),
        help,
        labelNames,
        registers: [this.#registry],
        collect() {
          this.reset();
          read((labels, value) => this.set(labels, value));
        },
      }),
      suffix,
    );
  }

  removeAll(): void {
    for (const name of this.#names) this.#registry.removeSingleMetric(name);
    this.#names.length = 0;
  }

  #keep<M>(metric: M, suffix: string): M {
    this.#names.push(this.name(suffix));
    return metric;
  }
}
