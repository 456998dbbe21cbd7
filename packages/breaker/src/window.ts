import type { BreakerWindowSnapshot } from './types.js';

/**
 * Outcome code bit of a failure, in windows and snapshots.
 *
 * @example
 * ```ts
 * window.record(now, FAILURE_BIT | SLOW_BIT); // a slow failure
 * ```
 */
export const FAILURE_BIT = 1;
/**
 * Outcome code bit of a call that took at least `slowCallMs`.
 *
 * @example
 * ```ts
 * window.record(now, SLOW_BIT); // a slow success
 * ```
 */
export const SLOW_BIT = 2;

/**
 * Sliding aggregate of recent outcomes with O(1) totals. `now` is only used by time windows; a
 * count window ignores it, so callers without a time window never read the clock for it.
 */
export interface OutcomeWindow {
  readonly calls: number;
  readonly failures: number;
  readonly slowCalls: number;
  /** Whether `record` and `evict` need the current time. */
  readonly timed: boolean;
  record(now: number, code: number): void;
  /** Drops what has fallen out of the window by `now` (time windows; a no-op for count windows). */
  evict(now: number): void;
  clear(): void;
  snapshot(): BreakerWindowSnapshot;
  /** Loads a snapshot taken by a window of the same kind; returns false (and stays empty) if it does not fit. */
  restore(snapshot: BreakerWindowSnapshot): boolean;
}

/**
 * The last `size` outcomes, in a ring.
 *
 * @example
 * ```ts
 * const w = new CountWindow(100);
 * w.record(0, FAILURE_BIT);
 * w.failures / w.calls; // 1
 * ```
 */
export class CountWindow implements OutcomeWindow {
  calls = 0;
  failures = 0;
  slowCalls = 0;
  readonly timed = false;
  readonly #ring: Uint8Array;
  #next = 0;

  constructor(size: number) {
    this.#ring = new Uint8Array(size);
  }

  record(_now: number, code: number): void {
    const ring = this.#ring;
    const i = this.#next;
    if (this.calls === ring.length) {
      const old = ring[i] as number;
      this.failures -= old & FAILURE_BIT;
      this.slowCalls -= (old & SLOW_BIT) >> 1;
    } else {
      this.calls++;
    }
    ring[i] = code;
    this.failures += code & FAILURE_BIT;
    this.slowCalls += (code & SLOW_BIT) >> 1;
    this.#next = i + 1 === ring.length ? 0 : i + 1;
  }

  evict(): void {}

  clear(): void {
    this.calls = this.failures = this.slowCalls = 0;
    this.#next = 0;
  }

  snapshot(): BreakerWindowSnapshot {
    const ring = this.#ring;
    const outcomes: number[] = [];
    const start = this.calls === ring.length ? this.#next : 0;
    for (let k = 0; k < this.calls; k++) outcomes.push(ring[(start + k) % ring.length] as number);
    return { kind: 'count', outcomes };
  }

  restore(snapshot: BreakerWindowSnapshot): boolean {
    this.clear();
    if (snapshot.kind !== 'count') return false;
    // A window that shrank keeps the newest outcomes.
    const outcomes = snapshot.outcomes;
    for (let k = Math.max(0, outcomes.length - this.#ring.length); k < outcomes.length; k++) {
      this.record(0, (outcomes[k] as number) & (FAILURE_BIT | SLOW_BIT));
    }
    return true;
  }
}

/**
 * Outcomes of the last `ms` milliseconds in `buckets` time slices. Every record and read first
 * evicts all slices that have expired, however long the idle gap, so old failures never linger
 * (the stale-window bug of cockatiel's SamplingBreaker). Totals are kept by subtract-on-evict.
 *
 * @example
 * ```ts
 * const w = new TimeWindow(10_000, 10); // 10 s in 1 s slices
 * w.record(clock.now(), 0);
 * ```
 */
export class TimeWindow implements OutcomeWindow {
  calls = 0;
  failures = 0;
  slowCalls = 0;
  readonly timed = true;
  readonly bucketMs: number;
  readonly #count: number;
  // Per slot: the absolute bucket index it holds and its counts.
  readonly #index: Float64Array;
  readonly #calls: Float64Array;
  readonly #failures: Float64Array;
  readonly #slow: Float64Array;
  /** Newest absolute bucket index seen; everything older than `latest - count + 1` is gone. */
  #latest = -Infinity;

  constructor(ms: number, buckets: number) {
    this.bucketMs = ms / buckets;
    this.#count = buckets;
    this.#index = new Float64Array(buckets).fill(-Infinity);
    this.#calls = new Float64Array(buckets);
    this.#failures = new Float64Array(buckets);
    this.#slow = new Float64Array(buckets);
  }

  evict(now: number): void {
    const k = Math.floor(now / this.bucketMs);
    const latest = this.#latest;
    if (k <= latest) return; // same slice, or a clock that stepped back: keep counting into the newest
    if (k - latest >= this.#count) {
      this.clear();
    } else {
      for (let j = latest + 1; j <= k; j++) this.#drop(this.#slot(j));
    }
    this.#latest = k;
  }

  record(now: number, code: number): void {
    this.evict(now);
    const latest = this.#latest;
    const slot = this.#slot(latest);
    if (this.#index[slot] !== latest) {
      this.#drop(slot);
      this.#index[slot] = latest;
    }
    const failed = code & FAILURE_BIT;
    const slow = (code & SLOW_BIT) >> 1;
    this.#calls[slot] = (this.#calls[slot] as number) + 1;
    this.#failures[slot] = (this.#failures[slot] as number) + failed;
    this.#slow[slot] = (this.#slow[slot] as number) + slow;
    this.calls++;
    this.failures += failed;
    this.slowCalls += slow;
  }

  clear(): void {
    this.calls = this.failures = this.slowCalls = 0;
    this.#index.fill(-Infinity);
    this.#calls.fill(0);
    this.#failures.fill(0);
    this.#slow.fill(0);
    // `#latest` stays: time only moves forward, and a later record re-evicts from there.
  }

  snapshot(): BreakerWindowSnapshot {
    const buckets: [number, number, number, number][] = [];
    for (let offset = this.#count - 1; offset >= 0; offset--) {
      const j = this.#latest - offset;
      const slot = this.#slot(j);
      const calls = this.#calls[slot] as number;
      if (this.#index[slot] === j && calls > 0) {
        buckets.push([j, calls, this.#failures[slot] as number, this.#slow[slot] as number]);
      }
    }
    return { kind: 'time', bucketMs: this.bucketMs, buckets };
  }

  restore(snapshot: BreakerWindowSnapshot): boolean {
    this.clear();
    if (snapshot.kind !== 'time' || snapshot.bucketMs !== this.bucketMs) return false;
    let latest = -Infinity;
    for (const bucket of snapshot.buckets) latest = Math.max(latest, bucket[0]);
    for (const [j, calls, failures, slow] of snapshot.buckets) {
      if (j <= latest - this.#count) continue;
      const slot = this.#slot(j);
      this.#index[slot] = j;
      this.#calls[slot] = calls;
      this.#failures[slot] = failures;
      this.#slow[slot] = slow;
      this.calls += calls;
      this.failures += failures;
      this.slowCalls += slow;
    }
    if (latest > this.#latest) this.#latest = latest;
    return true;
  }

  #slot(j: number): number {
    const count = this.#count;
    return ((j % count) + count) % count;
  }

  #drop(slot: number): void {
    this.calls -= this.#calls[slot] as number;
    this.failures -= this.#failures[slot] as number;
    this.slowCalls -= this.#slow[slot] as number;
    this.#index[slot] = -Infinity;
    this.#calls[slot] = 0;
    this.#failures[slot] = 0;
    this.#slow[slot] = 0;
  }
}
