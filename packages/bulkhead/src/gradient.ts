import type { LimitAlgorithm, LimitSample } from './algorithm.js';
import type { AdaptiveChangeCause } from './events.js';

/** Settings of {@link GradientLimit}, already validated. */
export interface GradientSettings {
  readonly initial: number;
  readonly min: number;
  readonly max: number;
  /** How much slower than the baseline a window may be before the limit shrinks (>= 1). */
  readonly tolerance: number;
  /** Weight of each new decision, in (0, 1]. */
  readonly smoothing: number;
  /** Headroom added while latency is within tolerance (calls allowed to queue downstream). */
  readonly queueSize: (limit: number) => number;
  /** A window closes once this many ms passed since its first sample... */
  readonly windowMs: number;
  /** ...and it holds at least this many samples. */
  readonly minWindowSamples: number;
  /** Windows the long-term baseline averages over (an exponential moving average). */
  readonly longWindow: number;
}

// Weight of a window faster than the baseline (see update()).
const FALL_WEIGHT = 0.5;
// Limits on one window's multiplicative change, as in Netflix's Gradient2.
const MIN_GRADIENT = 0.5;
const MAX_GRADIENT = 1;

/**
 * A delay-based limit in the style of Netflix concurrency-limits' Gradient2. Samples are grouped
 * into windows (at least `windowMs` and `minWindowSamples`); for each window:
 *
 * - `shortRtt` is the window's mean latency; `longRtt`, the baseline, starts at the first window
 *   and then moves toward each window's mean: halfway when the window was faster, and with
 *   weight `2 / (longWindow + 1)` when it was slower. So the baseline tracks the no-load latency
 *   (a faster window is evidence of it) and drifts up only slowly under sustained load, which is
 *   where a symmetric average lets the baseline, and with it the limit, drift upward (the drift
 *   users reported in Netflix/concurrency-limits#165);
 * - `gradient = clamp(tolerance * longRtt / shortRtt, 0.5, 1)`; a window with a dropped call
 *   uses 0.5;
 * - `target = limit * gradient`, plus `queueSize(limit)` only when `gradient` is 1. (Gradient2
 *   adds the queue allowance even when latency is over tolerance, which lets small limits creep
 *   upward under sustained overload: Netflix/concurrency-limits PR #134.)
 * - `limit = limit * (1 - smoothing) + target * smoothing`, within the bounds.
 *
 * A window in which fewer than half the limit were ever in flight leaves the limit alone
 * (application-limited: low concurrency says nothing about the downstream's capacity), unless it
 * saw a drop.
 *
 * @example
 * ```ts
 * const gradient = new GradientLimit({ initial: 20, min: 1, max: 200, tolerance: 1.5, smoothing: 0.2,
 *   queueSize: () => 4, windowMs: 1_000, minWindowSamples: 10, longWindow: 600 });
 * gradient.update({ now: clock.now(), latencyMs: 12, dropped: false, inflight: 15 });
 * ```
 */
export class GradientLimit implements LimitAlgorithm {
  estimate: number;
  rttMs = Number.NaN;
  baselineRttMs: number | undefined = undefined;
  readonly #settings: GradientSettings;
  #windowStart = 0;
  #sum = 0;
  #count = 0;
  #drops = 0;
  #maxInflight = 0;

  constructor(settings: GradientSettings) {
    this.#settings = settings;
    this.estimate = settings.initial;
  }

  update(sample: LimitSample): AdaptiveChangeCause | undefined {
    const settings = this.#settings;
    if (this.#count === 0) this.#windowStart = sample.now;
    this.#count++;
    this.#sum += sample.latencyMs;
    if (sample.dropped) this.#drops++;
    if (sample.inflight > this.#maxInflight) this.#maxInflight = sample.inflight;
    if (this.#count < settings.minWindowSamples || sample.now - this.#windowStart < settings.windowMs) return undefined;

    const shortRtt = this.#sum / this.#count;
    const drops = this.#drops;
    const maxInflight = this.#maxInflight;
    this.#count = 0;
    this.#sum = 0;
    this.#drops = 0;
    this.#maxInflight = 0;

    this.rttMs = shortRtt;
    // The baseline falls fast and rises slowly: a faster window is evidence of the no-load
    // latency, a slower one is more likely load than a slower downstream.
    const previous = this.baselineRttMs;
    const longRtt =
      previous === undefined
        ? shortRtt
        : previous + (shortRtt - previous) * (shortRtt < previous ? FALL_WEIGHT : 2 / (settings.longWindow + 1));
    this.baselineRttMs = longRtt;

    if (drops === 0 && maxInflight * 2 < this.estimate) return undefined;
    let gradient: number;
    if (drops > 0) gradient = MIN_GRADIENT;
    else if (shortRtt <= 0) gradient = MAX_GRADIENT;
    else gradient = Math.min(MAX_GRADIENT, Math.max(MIN_GRADIENT, (settings.tolerance * longRtt) / shortRtt));
    const limit = this.estimate;
    const target = limit * gradient + (gradient >= MAX_GRADIENT ? settings.queueSize(limit) : 0);
    const smoothed = limit * (1 - settings.smoothing) + target * settings.smoothing;
    const next = Math.min(settings.max, Math.max(settings.min, smoothed));
    if (next === limit) return undefined;
    this.estimate = next;
    if (drops > 0) return 'drop';
    return gradient < MAX_GRADIENT ? 'latency' : 'increase';
  }
}
