import { InvalidOptionsError } from '@x/core';
import type { EventBus, TrackedInstance } from '@x/core';
import type { Registry } from 'prom-client';
import { familyName, namingScheme, prefixed } from './naming.js';
import type { Naming } from './naming.js';

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

const BUCKET_KINDS = ['durationSeconds', 'delaySeconds'] as const;
const BUCKET_RANGE = 'a non-empty array of finite numbers >= 0 (seconds) in strictly increasing order';

/**
 * Validates the `buckets` option and merges it over {@link defaultBuckets}; throws
 * `INVALID_OPTIONS` naming the option, the value and the allowed range. Returns copies, so
 * changing the caller's arrays afterwards changes nothing.
 */
export function resolveBuckets(owner: string, value: unknown): MetricBuckets {
  if (value === undefined) return defaultBuckets;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionsError(owner, 'buckets', value, `an object with ${BUCKET_KINDS.join(' and/or ')} (each ${BUCKET_RANGE})`);
  }
  const given = value as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(BUCKET_KINDS as readonly string[]).includes(key)) {
      throw new InvalidOptionsError(owner, `buckets.${key}`, given[key], `absent: buckets has no such kind (known: ${BUCKET_KINDS.join(', ')})`);
    }
  }
  const resolved: Record<(typeof BUCKET_KINDS)[number], readonly number[]> = { ...defaultBuckets };
  for (const kind of BUCKET_KINDS) {
    const bounds = given[kind];
    if (bounds === undefined) continue;
    const option = `buckets.${kind}`;
    if (!Array.isArray(bounds) || bounds.length === 0) throw new InvalidOptionsError(owner, option, bounds, BUCKET_RANGE);
    bounds.forEach((bound: unknown, i) => {
      const previous = i === 0 ? undefined : (bounds[i - 1] as number);
      if (typeof bound !== 'number' || !Number.isFinite(bound) || bound < 0 || (previous !== undefined && !(bound > previous))) {
        const range = previous === undefined ? 'a finite number >= 0 (seconds)' : `a finite number > ${previous} (the previous bucket): buckets must be ${BUCKET_RANGE}`;
        throw new InvalidOptionsError(owner, `${option}[${i}]`, bound, range);
      }
    });
    resolved[kind] = Object.freeze([...(bounds as number[])]);
  }
  return resolved;
}

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
  /**
   * Set on a series born at 0 for a tracked instance: while it is still 0 it is exported only as
   * long as an instance of that name is alive, so short-lived instances leave nothing behind.
   */
  readonly alive?: () => boolean;
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
  /** Label renames of the naming in use (`null` drops a label); undefined: labels as recorded. */
  #labels: Readonly<Record<string, string | null>> | undefined;

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /**
   * The series as recorded. `silent`: a second read in the same scrape (a derived family's), which
   * must not count read errors again.
   */
  protected abstract values(silent?: boolean): Value[];
  abstract reset(): void;

  /** Whether `get()` reads the values only after the other families of a scrape were read. */
  protected readonly readsLast: boolean = false;
  /** How series that coincide once a label is dropped are combined (gauges override it). */
  protected get combine(): GaugeMerge {
    return 'sum';
  }

  /** Applies a naming's label renames to every series this family exports. */
  renameLabels(labels: Readonly<Record<string, string | null>> | undefined): void {
    this.#labels = labels;
  }

  /** The series with the naming's labels applied, for a derived family. */
  snapshot(): Value[] {
    return this.values(true);
  }

  async get() {
    // prom-client calls every family's get() before awaiting any: the event-fed families yield once,
    // so the computed ones have run and a read error they count shows in this very scrape.
    if (this.readsLast) await undefined;
    const values = this.values();
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.#labels === undefined ? values : relabel(values, this.#labels, this.combine),
    };
  }
}

/** Renames and drops labels; series that then share a name and label set are combined. */
function relabel(values: readonly Value[], renames: Readonly<Record<string, string | null>>, combine: GaugeMerge): Value[] {
  const merged = new Map<string, { labels: Labels; value: number; metricName?: string }>();
  for (const { labels, value, metricName } of values) {
    const out: Record<string, string> = {};
    for (const [label, v] of Object.entries(labels)) {
      const to = Object.prototype.hasOwnProperty.call(renames, label) ? renames[label] : label;
      if (to !== null && to !== undefined) out[to] = v;
    }
    const key = `${metricName ?? ''}\u0000${labelKey(out)}`;
    const seen = merged.get(key);
    if (seen === undefined) merged.set(key, metricName === undefined ? { labels: out, value } : { labels: out, value, metricName });
    else seen.value = combine === 'sum' ? seen.value + value : combine === 'max' ? Math.max(seen.value, value) : Math.min(seen.value, value);
  }
  return [...merged.values()];
}

/**
 * A family that exists only under some naming (go-cachex's `circuit_breaker_failures_total`):
 * the series of another family that match `where`, without the `where` labels.
 */
class DerivedFamily extends Family<never> {
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly #from: Family<unknown>;
  readonly #where: Readonly<Record<string, string>>;
  protected override readonly readsLast = true;

  constructor(name: string, help: string, from: Family<unknown>, where: Readonly<Record<string, string>>) {
    super(name, help);
    this.type = from.type;
    this.#from = from;
    this.#where = where;
  }

  protected values(): Value[] {
    const out: Value[] = [];
    for (const { labels, value, metricName } of this.#from.snapshot()) {
      if (!Object.entries(this.#where).every(([k, v]) => labels[k] === v)) continue;
      const kept: Record<string, string> = {};
      for (const [k, v] of Object.entries(labels)) if (!Object.prototype.hasOwnProperty.call(this.#where, k)) kept[k] = v;
      out.push(metricName === undefined ? { labels: kept, value } : { labels: kept, value, metricName: this.name + metricName.slice(this.#from.name.length) });
    }
    return out;
  }

  reset(): void {}
}

/** A counter family; sources keep the cells they update, so an event costs an increment. */
export class CounterFamily extends Family<CounterCell> {
  readonly type = 'counter' as const;
  protected override readonly readsLast = true;
  readonly #births: () => (() => boolean) | undefined;

  constructor(name: string, help: string, births: () => (() => boolean) | undefined = () => undefined) {
    super(name, help);
    this.#births = births;
  }

  /** The series for `key` if it exists. */
  existing(key: string): CounterCell | undefined {
    return this.cells.get(key);
  }

  /** The series for `key` (any string unique per label set), created with `labels` at 0 on first use. */
  cell(key: string, labels: Labels): CounterCell {
    let cell = this.cells.get(key);
    if (cell === undefined) {
      const alive = this.#births();
      cell = alive === undefined ? { labels, value: 0 } : { labels, value: 0, alive };
      this.cells.set(key, cell);
    }
    return cell;
  }

  protected values(): Value[] {
    const values: Value[] = [];
    for (const [key, cell] of this.cells) {
      // Born at 0 for an instance that is gone, and never incremented: forget it.
      if (cell.value === 0 && cell.alive !== undefined && !cell.alive()) this.cells.delete(key);
      else values.push({ labels: cell.labels, value: cell.value });
    }
    return values;
  }

  reset(): void {
    for (const cell of this.cells.values()) cell.value = 0;
  }
}

/** A histogram family with fixed bucket bounds (seconds). */
export class HistogramFamily extends Family<HistogramCell> {
  readonly type = 'histogram' as const;
  protected override readonly readsLast = true;
  readonly #bounds: readonly number[];

  constructor(name: string, help: string, bounds: readonly number[]) {
    super(name, help);
    // Validated by collectMetrics: finite, >= 0, strictly increasing.
    this.#bounds = [...bounds];
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

/** Reports one series of a tracked instance: its labels and its value. */
export type SetSample<L extends string> = (labels: Readonly<Record<L, string>>, value: number) => void;
/** Reads one tracked instance at scrape time, reporting each of its series through `set`. */
export type ReadInstance<L extends string> = (tracked: TrackedInstance, set: SetSample<L>) => void;
/**
 * How a gauge combines the series of live instances that share a label set (two breakers named
 * alike): `max` and `min` keep the worst one (the highest state, the lowest health or budget
 * left), `sum` adds them (running calls, queue lengths, limits).
 */
export type GaugeMerge = 'max' | 'min' | 'sum';

interface Sample {
  readonly labels: Labels;
  readonly value: number;
}

/** One string per label set, whatever the order its labels were given in. */
const labelKey = (labels: Labels): string => JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/**
 * A family computed at scrape time from the live instances of one package: gauges, and counters
 * whose totals the instances keep themselves (so recording them costs calls nothing). An instance
 * whose read throws is skipped (its samples are dropped and it is counted through `onError`), so
 * one broken instance never fails the scrape.
 */
abstract class ComputedFamily extends Family<never> {
  readonly #instances: () => Iterable<TrackedInstance>;
  readonly #read: ReadInstance<string>;
  readonly #onError: () => void;

  constructor(name: string, help: string, instances: () => Iterable<TrackedInstance>, read: ReadInstance<string>, onError: () => void) {
    super(name, help);
    this.#instances = instances;
    this.#read = read;
    this.#onError = onError;
  }

  /** The live instances, each with its samples (`undefined` when reading it threw). */
  protected readAll(silent = false): Array<{ readonly instance: object; readonly samples: Sample[] | undefined }> {
    let instances: TrackedInstance[];
    try {
      instances = [...this.#instances()];
    } catch {
      if (!silent) this.#onError();
      return [];
    }
    return instances.map((tracked) => {
      const samples: Sample[] = [];
      try {
        this.#read(tracked, (labels, value) => {
          if (typeof value === 'number' && !Number.isNaN(value)) samples.push({ labels, value });
        });
      } catch {
        if (!silent) this.#onError();
        return { instance: tracked.instance, samples: undefined };
      }
      return { instance: tracked.instance, samples };
    });
  }

  reset(): void {}
}

/** A gauge read at scrape time; instances sharing a label set are combined by its {@link GaugeMerge}. */
export class ComputedGaugeFamily extends ComputedFamily {
  readonly type = 'gauge' as const;
  readonly #merge: GaugeMerge;

  constructor(name: string, help: string, merge: GaugeMerge, instances: () => Iterable<TrackedInstance>, read: ReadInstance<string>, onError: () => void) {
    super(name, help, instances, read, onError);
    this.#merge = merge;
  }

  protected override get combine(): GaugeMerge {
    return this.#merge;
  }

  protected values(silent = false): Value[] {
    const merged = new Map<string, { labels: Labels; value: number }>();
    for (const { samples } of this.readAll(silent)) {
      for (const { labels, value } of samples ?? []) {
        const key = labelKey(labels);
        const seen = merged.get(key);
        if (seen === undefined) merged.set(key, { labels, value });
        else if (this.#merge === 'sum') seen.value += value;
        else if (this.#merge === 'max') seen.value = Math.max(seen.value, value);
        else seen.value = Math.min(seen.value, value);
      }
    }
    return [...merged.values()];
  }
}

/**
 * A counter read at scrape time from totals the instances keep. The exporter keeps its own
 * monotonic count per label set: it remembers the totals it last saw from each instance and adds
 * only what they grew by; a total lower than last time means the instance was reset (a breaker's
 * `reset()` clears its totals), so the new value is what happened since. Instances sharing a label
 * set add up. A series disappears once no live instance reports it.
 */
export class ComputedCounterFamily extends ComputedFamily {
  readonly type = 'counter' as const;
  /** Per instance: the total last seen for each label set. */
  readonly #lastSeen = new WeakMap<object, Map<string, number>>();
  /** Per label set: the exported, never-decreasing value. */
  readonly #totals = new Map<string, { readonly labels: Labels; value: number }>();

  protected values(silent = false): Value[] {
    const live = new Map<string, { readonly labels: Labels; value: number }>();
    for (const { instance, samples } of this.readAll(silent)) {
      let last = this.#lastSeen.get(instance);
      if (samples === undefined) {
        // Unreadable this time: what it contributed before still stands, unchanged.
        for (const key of last?.keys() ?? []) {
          const total = this.#totals.get(key);
          if (total !== undefined) live.set(key, total);
        }
        continue;
      }
      if (last === undefined) {
        last = new Map();
        this.#lastSeen.set(instance, last);
      }
      for (const { labels, value } of samples) {
        if (!(value >= 0) || !Number.isFinite(value)) continue;
        const key = labelKey(labels);
        const previous = last.get(key) ?? 0;
        last.set(key, value);
        let total = this.#totals.get(key);
        if (total === undefined) {
          total = { labels, value: 0 };
          this.#totals.set(key, total);
        }
        total.value += value >= previous ? value - previous : value;
        live.set(key, total);
      }
    }
    for (const key of this.#totals.keys()) if (!live.has(key)) this.#totals.delete(key);
    return [...live.values()].map(({ labels, value }) => ({ labels, value }));
  }
}

/**
 * Creates the families of one collector under one prefix in one registry and remembers them, so
 * `collectMetrics().stop()` unregisters exactly what it registered.
 */
export class Families {
  readonly #registry: Registry;
  readonly #prefix: string;
  readonly #bus: EventBus;
  readonly #naming: Naming;
  readonly #names: string[] = [];
  readonly buckets: MetricBuckets;
  /** Whether call durations are recorded (it makes every observed call read the clock twice). */
  readonly durations: boolean;
  /** Called when a tracked instance cannot be read at scrape time (counted, never thrown). */
  onReadError: () => void = () => {};

  constructor(registry: Registry, prefix: string, bus: EventBus, buckets: MetricBuckets, durations: boolean, naming: Naming = namingScheme('x')) {
    this.#registry = registry;
    this.#prefix = prefix;
    this.#bus = bus;
    this.buckets = buckets;
    this.durations = durations;
    this.#naming = naming;
  }

  /** The exported name of the family `suffix` (this package's name): prefixed, renamed by the naming in use. */
  name(suffix: string): string {
    return prefixed(this.#prefix, familyName(this.#naming, suffix));
  }

  counter(suffix: string, help: string): CounterFamily {
    return this.#register(new CounterFamily(this.name(suffix), help, () => this.#birthLiveness), suffix);
  }

  #birthLiveness: (() => boolean) | undefined;
  #live: Map<string, Set<string>> | undefined;

  /**
   * Runs a source's born-at-0 hook for the instance `name` of `source`: the counter series it
   * creates are exported at 0 only while an instance of that name is alive.
   */
  birth(source: string, name: string, create: () => void): void {
    const previous = this.#birthLiveness;
    this.#birthLiveness = () => this.#isLive(source, name);
    try {
      create();
    } finally {
      this.#birthLiveness = previous;
    }
  }

  /** Whether a tracked instance `name` of `source` is alive; the answer is reused for one scrape (one microtask turn). */
  #isLive(source: string, name: string): boolean {
    let live = this.#live;
    if (live === undefined) {
      live = new Map();
      const bus = this.#bus;
      for (const t of typeof bus.tracked === 'function' ? bus.tracked() : []) {
        let names = live.get(t.source);
        if (names === undefined) live.set(t.source, (names = new Set()));
        names.add(t.name);
      }
      this.#live = live;
      queueMicrotask(() => (this.#live = undefined));
    }
    return live.get(source)?.has(name) === true;
  }

  histogram(suffix: string, help: string, buckets: readonly number[]): HistogramFamily {
    return this.#register(new HistogramFamily(this.name(suffix), help, buckets), suffix);
  }

  /** A gauge read at scrape time from each live instance of `source`; see {@link GaugeMerge}. */
  gauge<L extends string>(suffix: string, help: string, source: string, merge: GaugeMerge, read: ReadInstance<L>): ComputedGaugeFamily {
    return this.#register(
      new ComputedGaugeFamily(this.name(suffix), help, merge, this.#tracked(source), read as ReadInstance<string>, () => this.onReadError()),
      suffix,
    );
  }

  /** A counter whose totals are read at scrape time from each live instance of `source`. */
  computedCounter<L extends string>(suffix: string, help: string, source: string, read: ReadInstance<L>): ComputedCounterFamily {
    return this.#register(
      new ComputedCounterFamily(this.name(suffix), help, this.#tracked(source), read as ReadInstance<string>, () => this.onReadError()),
      suffix,
    );
  }

  /**
   * Runs `create` (which registers some families) all or nothing: if it throws, the families it
   * registered are unregistered before the error propagates, so a retry starts from scratch.
   */
  atomically<T>(create: () => T): T {
    const before = this.#names.length;
    try {
      return create();
    } catch (error) {
      for (const name of this.#names.splice(before)) this.#registry.removeSingleMetric(name);
      throw error;
    }
  }

  removeAll(): void {
    for (const name of this.#names.splice(0)) this.#registry.removeSingleMetric(name);
  }

  #tracked(source: string): () => Iterable<TrackedInstance> {
    const bus = this.#bus;
    return () => (typeof bus.tracked === 'function' ? bus.tracked(source) : []);
  }

  #register<M extends Family<unknown>>(metric: M, suffix: string): M {
    const labels = this.#naming.families[suffix]?.labels;
    metric.renameLabels(labels);
    this.#add(metric);
    for (const derived of this.#naming.derived) {
      if (derived.from !== suffix) continue;
      const view = new DerivedFamily(prefixed(this.#prefix, derived.name), derived.help, metric, derived.where);
      view.renameLabels(labels);
      this.#add(view);
    }
    return metric;
  }

  #add(metric: Family<unknown>): void {
    try {
      // prom-client's registerMetric is typed for its own classes; ours has the shape it reads.
      this.#registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
    } catch {
      // Another metric (not this collector's) holds the name.
      throw new InvalidOptionsError(
        'collectMetrics',
        'prefix',
        this.#prefix,
        `a prefix whose metric names are free in this registry (${metric.name} is already registered there)`,
      );
    }
    this.#names.push(metric.name);
  }
}
