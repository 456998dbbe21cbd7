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

type Labels = Readonly<Record<string, string>>;

/** One sample as prom-client's registry formats it. */
interface Value {
  readonly labels: Labels;
  readonly value: number;
  readonly metricName?: string;
}

/**
 * The shape prom-client's `Registry` reads from a registered metric. Implemented here instead of
 * using prom-client's `Counter`/`Histogram`, whose `inc`/`observe` hash the label set on every
 * call: events update plain cells, and prom-client gets the totals only when it is scraped.
 */
interface RegistryMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; aggregator: 'sum'; values: Value[] }>;
  reset(): void;
}

/** A counter series: increment `value`. */
export interface CounterCell {
  readonly labels: Labels;
  value: number;
}

/** A histogram series: call `observe(seconds)`. */
export class HistogramCell {
  readonly labels: Labels;
  readonly #bounds: readonly number[];
  /** Per-bucket (not cumulative) counts; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(labels: Labels, bounds: readonly number[]) {
    this.labels = labels;
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

abstract class Family<C> implements RegistryMetric {
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  readonly aggregator = 'sum' as const;
  protected readonly cells = new Map<string, C>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  protected abstract values(): Value[];
  abstract reset(): void;

  async get() {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.values() };
  }
}

/** A counter family; sources keep the cells they update, so an event costs an increment. */
export class CounterFamily extends Family<CounterCell> {
  readonly type = 'counter' as const;

  /** The series for `key` (any string unique per label set), created with `labels` on first use. */
  cell(key: string, labels: Labels): CounterCell {
    let cell = this.cells.get(key);
    if (cell === undefined) {
      cell = { labels, value: 0 };
      this.cells.set(key, cell);
    }
    return cell;
  }

  protected values(): Value[] {
    return [...this.cells.values()].map((cell) => ({ labels: cell.labels, value: cell.value }));
  }

  reset(): void {
    for (const cell of this.cells.values()) cell.value = 0;
  }
}

/** A histogram family with fixed bucket bounds (seconds). */
export class HistogramFamily extends Family<HistogramCell> {
  readonly type = 'histogram' as const;
  readonly #bounds: readonly number[];

  constructor(name: string, help: string, bounds: readonly number[]) {
    super(name, help);
    this.#bounds = [...bounds].sort((a, b) => a - b);
  }

  cell(key: string, labels: Labels): HistogramCell {
    let cell = this.cells.get(key);
    if (cell === undefined) {
      cell = new HistogramCell(labels, this.#bounds);
      this.cells.set(key, cell);
    }
    return cell;
  }

  protected values(): Value[] {
    const values: Value[] = [];
    for (const cell of this.cells.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.#bounds.length; i++) {
        cumulative += cell.counts[i] as number;
        const le = i < this.#bounds.length ? String(this.#bounds[i]) : '+Inf';
        values.push({ labels: { ...cell.labels, le }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: cell.labels, value: cell.sum, metricName: `${this.name}_sum` });
      values.push({ labels: cell.labels, value: cell.count, metricName: `${this.name}_count` });
    }
    return values;
  }

  reset(): void {
    for (const cell of this.cells.values()) {
      cell.counts.fill(0);
      cell.sum = 0;
      cell.count = 0;
    }
  }
}

/**
 * A family computed at scrape time by `read`, which reports each series through `set`: gauges, and
 * counters whose totals the instances keep themselves (so recording them costs calls nothing).
 */
export class ComputedFamily extends Family<never> {
  readonly type: 'gauge' | 'counter';
  readonly #read: (set: (labels: Labels, value: number) => void) => void;

  constructor(type: 'gauge' | 'counter', name: string, help: string, read: (set: (labels: Labels, value: number) => void) => void) {
    super(name, help);
    this.type = type;
    this.#read = read;
  }

  protected values(): Value[] {
    const values: Value[] = [];
    this.#read((labels, value) => values.push({ labels, value }));
    return values;
  }

  reset(): void {}
}

/**
 * Creates the families of one collector under one prefix in one registry and remembers them, so
 * `collectMetrics().stop()` unregisters exactly what it registered.
 */
export class Families {
  readonly #registry: Registry;
  readonly #prefix: string;
  readonly #names: string[] = [];
  readonly buckets: MetricBuckets;
  /** Whether call durations are recorded (it makes every observed call read the clock twice). */
  readonly durations: boolean;

  constructor(registry: Registry, prefix: string, buckets: MetricBuckets, durations: boolean) {
    this.#registry = registry;
    this.#prefix = prefix;
    this.buckets = buckets;
    this.durations = durations;
  }

  name(suffix: string): string {
    return this.#prefix === '' ? suffix : `${this.#prefix}_${suffix}`;
  }

  counter(suffix: string, help: string): CounterFamily {
    return this.#register(new CounterFamily(this.name(suffix), help));
  }

  histogram(suffix: string, help: string, buckets: readonly number[]): HistogramFamily {
    return this.#register(new HistogramFamily(this.name(suffix), help, buckets));
  }

  /** A gauge read at scrape time. */
  gauge<L extends string>(suffix: string, help: string, read: (set: (labels: Record<L, string>, value: number) => void) => void): ComputedFamily {
    return this.#register(new ComputedFamily('gauge', this.name(suffix), help, read as (set: (labels: Labels, value: number) => void) => void));
  }

  /** A counter whose totals are read at scrape time from the instances that keep them. */
  computedCounter<L extends string>(
    suffix: string,
    help: string,
    read: (set: (labels: Record<L, string>, value: number) => void) => void,
  ): ComputedFamily {
    return this.#register(new ComputedFamily('counter', this.name(suffix), help, read as (set: (labels: Labels, value: number) => void) => void));
  }

  removeAll(): void {
    for (const name of this.#names) this.#registry.removeSingleMetric(name);
    this.#names.length = 0;
  }

  #register<M extends Family<unknown>>(metric: M): M {
    // prom-client's registerMetric is typed for its own classes; ours has the shape it reads.
    this.#registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
    this.#names.push(metric.name);
    return metric;
  }
}
