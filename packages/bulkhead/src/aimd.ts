import type { LimitAlgorithm, LimitSample } from './algorithm.js';
import type { AdaptiveChangeCause } from './events.js';

/** Settings of {@link AimdLimit}, already validated. */
export interface AimdSettings {
  readonly initial: number;
  readonly min: number;
  readonly max: number;
  /** Factor applied on congestion, in (0, 1). */
  readonly backoffRatio: number;
  /** How much the limit grows per limit's worth of good samples (about one round trip). */
  readonly increase: number;
  /** A successful call slower than this counts as congestion. */
  readonly latencyThresholdMs: number;
}

/**
 * Additive increase, multiplicative decrease, as TCP congestion control does it:
 *
 * - a dropped call, or one slower than `latencyThresholdMs`, multiplies the limit by
 *   `backoffRatio`, once per round trip: calls that started before the last decrease were sent
 *   under the old limit and do not cut it again (so one burst of timeouts is one decrease, not
 *   one per timed-out call, which is how a per-sample AIMD collapses to its minimum);
 * - a good call adds `increase / limit`, so the limit grows by about `increase` per round trip,
 *   and only while at least half the limit is in use (an idle client learns nothing about the
 *   downstream's capacity and must not inflate its limit).
 *
 * @example
 * ```ts
 * const aimd = new AimdLimit({ initial: 20, min: 1, max: 200, backoffRatio: 0.9, increase: 1, latencyThresholdMs: 250 });
 * aimd.update({ now: clock.now(), latencyMs: 40, dropped: false, inflight: 18 });
 * ```
 */
export class AimdLimit implements LimitAlgorithm {
  estimate: number;
  rttMs = Number.NaN;
  readonly baselineRttMs = undefined;
  readonly #settings: AimdSettings;
  #lastDecreaseAt = -Infinity;

  constructor(settings: AimdSettings) {
    this.#settings = settings;
    this.estimate = settings.initial;
  }

  update(sample: LimitSample): AdaptiveChangeCause | undefined {
    const settings = this.#settings;
    const { latencyMs, dropped, now } = sample;
    this.rttMs = latencyMs;
    if (dropped || latencyMs > settings.latencyThresholdMs) {
      // Sent before the last decrease: that decrease already answered this congestion.
      if (now - latencyMs <= this.#lastDecreaseAt) return undefined;
      this.#lastDecreaseAt = now;
      const next = Math.max(settings.min, this.estimate * settings.backoffRatio);
      if (next === this.estimate) return undefined;
      this.estimate = next;
      return dropped ? 'drop' : 'latency';
    }
    if (sample.inflight * 2 < this.estimate) return undefined;
    const next = Math.min(settings.max, this.estimate + settings.increase / this.estimate);
    if (next === this.estimate) return undefined;
    this.estimate = next;
    return 'increase';
  }
}
