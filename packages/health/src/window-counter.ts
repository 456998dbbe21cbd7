/**
 * Request and failure counts over a sliding time window, kept as a ring of fixed-size buckets.
 *
 * The window covers the bucket that holds `now` and the `buckets − 1` before it, so an event
 * recorded at time `t` counts while `floor(t / bucketMs) > floor(now / bucketMs) − buckets`: for at
 * least `windowMs − bucketMs` and less than `windowMs` after it happened. Memory is two
 * `Float64Array(buckets)` whatever the traffic; totals are kept as running sums, so reads are O(1)
 * and advancing costs one step per elapsed bucket, capped at `buckets` (an idle gap longer than
 * the window clears everything in one pass).
 *
 * @example
 * ```ts
 * const counter = new WindowCounter(60_000, 1_000); // one minute in one-second buckets
 * counter.add(clock.now(), 1, 0);
 * counter.advance(clock.now());
 * counter.requests; // successes + failures in the last minute
 * ```
 */
export class WindowCounter {
  /** Length of one bucket, ms. */
  readonly bucketMs: number;
  /** Number of buckets in the ring (`windowMs / bucketMs`). */
  readonly buckets: number;
  readonly #requests: Float64Array;
  readonly #failures: Float64Array;
  #requestTotal = 0;
  #failureTotal = 0;
  /** Absolute index (`floor(time / bucketMs)`) of the newest bucket. */
  #head = -Infinity;

  constructor(windowMs: number, bucketMs: number) {
    this.bucketMs = bucketMs;
    this.buckets = windowMs / bucketMs;
    this.#requests = new Float64Array(this.buckets);
    this.#failures = new Float64Array(this.buckets);
  }

  /** Requests (successes and failures) in the window as of the last `advance` or `add`. */
  get requests(): number {
    return this.#requestTotal;
  }

  /** Failures in the window as of the last `advance` or `add`. */
  get failures(): number {
    return this.#failureTotal;
  }

  /** Drops the buckets that fell out of the window at time `now`. */
  advance(now: number): void {
    const index = Math.floor(now / this.bucketMs);
    const head = this.#head;
    // A clock that steps back (it should not) leaves the newest bucket in place.
    if (!(index > head)) return;
    this.#head = index;
    const size = this.buckets;
    if (index - head >= size) {
      this.#requests.fill(0);
      this.#failures.fill(0);
      this.#requestTotal = 0;
      this.#failureTotal = 0;
      return;
    }
    for (let i = head + 1; i <= index; i++) {
      const slot = slotOf(i, size);
      this.#requestTotal -= this.#requests[slot] as number;
      this.#failureTotal -= this.#failures[slot] as number;
      this.#requests[slot] = 0;
      this.#failures[slot] = 0;
    }
  }

  /** Counts `successes + failures` requests, `failures` of them failed, at time `now`. */
  add(now: number, successes: number, failures: number): void {
    this.advance(now);
    const slot = slotOf(this.#head, this.buckets);
    const requests = successes + failures;
    this.#requests[slot] = (this.#requests[slot] as number) + requests;
    this.#failures[slot] = (this.#failures[slot] as number) + failures;
    this.#requestTotal += requests;
    this.#failureTotal += failures;
  }

  /** Forgets everything. */
  clear(): void {
    this.#requests.fill(0);
    this.#failures.fill(0);
    this.#requestTotal = 0;
    this.#failureTotal = 0;
    this.#head = -Infinity;
  }
}

// `%` keeps the sign of the dividend; a clock that starts before the epoch must not index below 0.
function slotOf(index: number, size: number): number {
  const slot = index % size;
  return slot < 0 ? slot + size : slot;
}
