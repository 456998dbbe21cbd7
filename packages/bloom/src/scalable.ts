import { checkClock, checkEvents, checkInteger, checkNumber, checkString, isXError, readOptions, trackInstance } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import { badKey } from './bits.js';
import { PlainBloomFilter, encodeBase64 } from './bloom.js';
import type { BloomFilterStats } from './bloom.js';
import type {} from './events.js';
import { MemoryFilter } from './filter-base.js';
import { FORMAT_VERSION, dataDigest, digestText, scalableDigest } from './format.js';
import { HASH_VERSION, hashKey } from './hash.js';
import { boundedSizing } from './sizing.js';
import type { BloomSizing } from './sizing.js';

/** Options of {@link createScalableBloomFilter}. */
export interface ScalableBloomFilterOptions {
  /** Capacity of the first stage (n₀): an integer >= 1. Reserve what you expect; every extra stage costs a lookup. */
  readonly initialItems: number;
  /** Bound on the compound false-positive rate, in (0, 1). */
  readonly falsePositiveRate: number;
  /** Each stage holds `growth` times the previous one's items, in [1, 16]. Default 2. */
  readonly growth?: number;
  /**
   * Each stage's rate is the previous one's times `tightening`, in (0, 1). The first stage gets
   * p·(1 − tightening), so the sum over all stages stays under p. Default 0.5.
   */
  readonly tightening?: number;
  /** Instance name for events and metrics. Default `'bloom'`. */
  readonly name?: string;
  readonly clock?: Clock;
  readonly events?: EventBus;
}

/** One stage in {@link ScalableBloomFilterStats}. */
export interface BloomStageStats {
  readonly m: number;
  readonly k: number;
  readonly items: number;
  readonly capacity: number;
  readonly falsePositiveRate: number;
}

/** `stats()` of a scalable filter: the plain fields summed over stages, plus each stage. */
export interface ScalableBloomFilterStats extends BloomFilterStats {
  readonly stages: readonly BloomStageStats[];
}

/**
 * A bloom filter that grows: when its last stage is full it adds one `growth` times larger with a
 * `tightening` times smaller error, so the compound false-positive rate stays under the target
 * however many items arrive.
 *
 * @example
 * ```ts
 * const f = createScalableBloomFilter({ initialItems: 10_000, falsePositiveRate: 0.01 });
 * f.add('a'); f.has('a'); // true
 * ```
 */
export interface ScalableBloomFilter {
  readonly name: string;
  add(key: string): boolean;
  has(key: string): boolean;
  addMany(keys: Iterable<string>): boolean[];
  hasMany(keys: Iterable<string>): boolean[];
  recordFalsePositive(): void;
  stats(): ScalableBloomFilterStats;
  toJSON(): ScalableBloomFilterJSON;
  clear(): void;
}

/** The JSON form of a scalable filter. */
export interface ScalableBloomFilterJSON {
  readonly type: 'scalable';
  /** Version of the serialized form (2; README "Serialized form"). */
  readonly format: number;
  readonly hashVersion: number;
  readonly name: string;
  readonly initialItems: number;
  readonly falsePositiveRate: number;
  readonly growth: number;
  readonly tightening: number;
  readonly falsePositives: number;
  /** Each stage's items, bits (base64) and MurmurHash3_x86_32 of the bits (8 hex digits). */
  readonly stages: readonly { readonly items: number; readonly bits: string; readonly dataDigest: string }[];
  /** Digest of every field but `name`, over each stage's items and data digest. Not a signature. */
  readonly digest: string;
}

const OPTION_KEYS = ['initialItems', 'falsePositiveRate', 'growth', 'tightening', 'name', 'clock', 'events'];

/** Capacity and rate of stage `i` of a scalable filter. */
function stagePlan(n0: number, p: number, growth: number, tightening: number, i: number): { capacity: number; falsePositiveRate: number } {
  return { capacity: Math.ceil(n0 * growth ** i), falsePositiveRate: p * (1 - tightening) * tightening ** i };
}

/**
 * Sizing of stage `i` (see {@link ScalableFilter.stageSizing}), without a filter: what
 * `bloomFromJSON` checks stored stages against before allocating anything.
 */
export function scalableStageSizing(n0: number, p: number, growth: number, tightening: number, i: number): BloomSizing | undefined {
  const plan = stagePlan(n0, p, growth, tightening, i);
  try {
    return boundedSizing({ expectedItems: plan.capacity, falsePositiveRate: plan.falsePositiveRate }, 'createScalableBloomFilter');
  } catch (error) {
    if (isXError(error, 'INVALID_OPTIONS')) return undefined;
    throw error;
  }
}

/** The scalable filter (exported for restoring). */
export class ScalableFilter extends MemoryFilter implements ScalableBloomFilter {
  readonly initialItems: number;
  readonly falsePositiveRate: number;
  readonly growth: number;
  readonly tightening: number;
  readonly #stages: PlainBloomFilter[] = [];
  #last!: PlainBloomFilter;
  /** True once no further stage can be sized and the last one took keys past its capacity (reported once). */
  #exhausted = false;

  constructor(name: string, n0: number, p: number, growth: number, tightening: number, clock: Clock, events: EventBus) {
    super(name, clock, events);
    this.initialItems = n0;
    this.falsePositiveRate = p;
    this.growth = growth;
    this.tightening = tightening;
    this.#firstStage();
    trackInstance(events, 'bloom', name, this);
  }

  /** Capacity and rate of stage `i`. */
  stagePlan(i: number): { capacity: number; falsePositiveRate: number } {
    return stagePlan(this.initialItems, this.falsePositiveRate, this.growth, this.tightening, i);
  }

  /**
   * Sizing of stage `i`: large enough that its rate at capacity with the rounded k is within its
   * share (so the stage rates' sum bounds the compound rate). Undefined when no filter can have it
   * (k past 64, or more than 1024 shards): the filter cannot tighten further.
   */
  stageSizing(i: number): BloomSizing | undefined {
    return scalableStageSizing(this.initialItems, this.falsePositiveRate, this.growth, this.tightening, i);
  }

  /** Adds the next stage; undefined when it cannot be sized (see {@link stageSizing}). */
  addStage(report: boolean): PlainBloomFilter | undefined {
    const index = this.#stages.length;
    const plan = this.stagePlan(index);
    const sizing = this.stageSizing(index);
    if (sizing === undefined) return undefined;
    const stage = new PlainBloomFilter(this.name, sizing, plan.capacity, plan.falsePositiveRate, this.clock, this.events, false);
    this.#stages.push(stage);
    this.#last = stage;
    if (report && this.events.hasListeners('bloom.stage_added')) {
      this.events.emit({ type: 'bloom.stage_added', source: 'bloom', name: this.name, time: this.clock.now(), stage: index, ...plan });
    }
    return stage;
  }

  get stages(): readonly PlainBloomFilter[] {
    return this.#stages;
  }

  has(key: string): boolean {
    if (typeof key !== 'string') throw badKey('ScalableBloomFilter.has', key);
    hashKey(key);
    const stages = this.#stages;
    for (let i = 0; i < stages.length; i++) if (stages[i]!.probeHashed(key)) return true;
    return false;
  }

  add(key: string): boolean {
    if (typeof key !== 'string') throw badKey('ScalableBloomFilter.add', key);
    hashKey(key);
    const stages = this.#stages;
    const earlier = stages.length - 1;
    for (let i = 0; i < earlier; i++) if (stages[i]!.probeHashed(key)) return true;
    const last = this.#last;
    // The last stage is checked and written in one pass: inserting a key whose bits are all set
    // changes nothing and says "possibly present".
    if (last.items < last.expectedItems || this.#exhausted) return last.insertHashed(key);
    if (last.probeHashed(key)) return true;
    // A new stage's sizing hashes nothing, so the key's hashes are still the current ones.
    const next = this.addStage(true);
    if (next !== undefined) return next.insertHashed(key);
    // No tighter stage exists (k would pass 64): the last stage takes keys past its capacity, so
    // nothing is ever refused or missed, and its rate rises above its share. Reported once.
    this.#exhausted = true;
    this.#reportExhausted();
    return last.insertHashed(key);
  }

  #reportExhausted(): void {
    if (!this.events.hasListeners('bloom.capacity_exceeded')) return;
    const stats = this.stats();
    this.events.emit({
      type: 'bloom.capacity_exceeded',
      source: 'bloom',
      name: this.name,
      time: this.clock.now(),
      items: stats.items,
      capacity: stats.capacity,
      estimatedFpr: stats.estimatedFpr,
    });
  }

  /** Marks the filter exhausted when its next stage cannot be sized (bloomFromJSON). */
  restoreExhausted(): void {
    const last = this.#last;
    this.#exhausted = last.items >= last.expectedItems && this.stageSizing(this.#stages.length) === undefined;
  }

  /** Restores the false-positive count (bloomFromJSON). */
  restoreFalsePositives(count: number): void {
    this.falsePositives = count;
  }

  stats(): ScalableBloomFilterStats {
    let m = 0;
    let bytes = 0;
    let items = 0;
    let capacity = 0;
    let setBits = 0;
    let notFalse = 1;
    const stages = this.#stages.map((stage) => {
      const s = stage.stats();
      m += s.m;
      bytes += s.bytes;
      items += s.items;
      capacity += s.capacity;
      setBits += s.fillRatio * s.m;
      notFalse *= 1 - s.estimatedFpr;
      return { m: s.m, k: s.k, items: s.items, capacity: s.capacity, falsePositiveRate: s.targetFpr };
    });
    return {
      m,
      k: this.#last.sizing.k,
      shards: 1,
      items,
      capacity,
      fillRatio: setBits / m,
      estimatedFpr: 1 - notFalse,
      targetFpr: this.falsePositiveRate,
      bytes,
      falsePositives: this.falsePositives,
      hashVersion: HASH_VERSION,
      stages,
    };
  }

  toJSON(): ScalableBloomFilterJSON {
    const digests = this.#stages.map((stage) => ({ items: stage.items, digest: dataDigest(stage.bits) }));
    return {
      type: 'scalable',
      format: FORMAT_VERSION,
      hashVersion: HASH_VERSION,
      name: this.name,
      initialItems: this.initialItems,
      falsePositiveRate: this.falsePositiveRate,
      growth: this.growth,
      tightening: this.tightening,
      falsePositives: this.falsePositives,
      stages: this.#stages.map((stage, i) => ({ items: stage.items, bits: encodeBase64(stage.bits), dataDigest: digestText(digests[i]!.digest) })),
      digest: digestText(scalableDigest({ initialItems: this.initialItems, falsePositiveRate: this.falsePositiveRate, growth: this.growth, tightening: this.tightening, falsePositives: this.falsePositives }, digests)),
    };
  }

  clear(): void {
    this.#stages.length = 0;
    this.#exhausted = false;
    this.#firstStage();
  }

  /** Stage 0; throws INVALID_OPTIONS when even it cannot be sized (a rate needing k > 64). */
  #firstStage(): void {
    const plan = this.stagePlan(0);
    boundedSizing({ expectedItems: plan.capacity, falsePositiveRate: plan.falsePositiveRate }, 'createScalableBloomFilter');
    this.addStage(false);
  }
}

/**
 * Creates a scalable bloom filter (Almeida et al.): stage i holds `initialItems · growthⁱ` items
 * at rate `p · (1 − tightening) · tighteningⁱ`, so the compound false-positive rate stays at or
 * under `falsePositiveRate` (the sum of the stage rates is below it) however large it grows.
 * Lookups check every stage: reserve a realistic `initialItems`.
 *
 * @example
 * ```ts
 * import { createScalableBloomFilter } from '@x/bloom';
 *
 * const seen = createScalableBloomFilter({ initialItems: 100_000, falsePositiveRate: 0.001 });
 * if (!seen.add(eventId)) process(event); // false: first time this id was seen (at 0.1% error)
 * ```
 */
export function createScalableBloomFilter(options: ScalableBloomFilterOptions): ScalableBloomFilter {
  const owner = 'createScalableBloomFilter';
  const o = readOptions<ScalableBloomFilterOptions>(owner, options, OPTION_KEYS, true);
  const n0 = checkInteger(owner, 'initialItems', o.initialItems, { min: 1, max: Number.MAX_SAFE_INTEGER });
  const p = checkNumber(owner, 'falsePositiveRate', o.falsePositiveRate, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const growth = checkNumber(owner, 'growth', o.growth ?? 2, { min: 1, max: 16 });
  const tightening = checkNumber(owner, 'tightening', o.tightening ?? 0.5, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const name = checkString(owner, 'name', o.name ?? 'bloom');
  return new ScalableFilter(name, n0, p, growth, tightening, checkClock(owner, o.clock), checkEvents(owner, o.events));
}
