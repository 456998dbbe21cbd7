// Log-spaced buckets: each is 4 % wider than the previous, from 0.1 ms to about 10 minutes. A
// quantile is then within 4 % of the truth, in fixed memory whatever the request count, which is
// all a p50/p99 on a terminal needs (HdrHistogram makes the same trade with more precision).
const BASE_MS = 0.1;
const GROWTH = 1.04;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(600_000 / BASE_MS) / LOG_GROWTH) + 1;

/** Records latencies and answers quantiles from a fixed-bucket histogram. */
export class LatencyRecorder {
  readonly #counts = new Uint32Array(BUCKETS);
  #count = 0;
  #max = 0;

  get count(): number {
    return this.#count;
  }

  record(ms: number): void {
    if (!(ms >= 0)) return; // NaN or negative: a clock glitch, not a latency
    const index = ms <= BASE_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / BASE_MS) / LOG_GROWTH));
    this.#counts[index] = (this.#counts[index] as number) + 1;
    this.#count++;
    if (ms > this.#max) this.#max = ms;
  }

  /**
   * The latency below which a share `q` (0…1) of the recordings fall: the upper edge of the
   * bucket holding that rank, capped at the largest value seen. `undefined` with no recordings.
   */
  quantile(q: number): number | undefined {
    if (this.#count === 0) return undefined;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i] as number;
      if (seen >= rank) return Math.min(this.#max, BASE_MS * GROWTH ** i);
    }
    return this.#max;
  }

  /** Adds another recorder's counts to this one (for totals over several phases). */
  merge(other: LatencyRecorder): void {
    const counts = this.#counts;
    const theirs = other.#counts;
    for (let i = 0; i < BUCKETS; i++) counts[i] = (counts[i] as number) + (theirs[i] as number);
    this.#count += other.#count;
    if (other.#max > this.#max) this.#max = other.#max;
  }

  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#max = 0;
  }
}
