import type { AdaptiveChangeCause } from './events.js';

/** One observed call, as an adaptive algorithm sees it. */
export interface LimitSample {
  /** When the call finished (`clock.now()` units). */
  readonly now: number;
  /** How long the call took, in ms. */
  readonly latencyMs: number;
  /** Whether the call was dropped (timed out, rejected by the downstream). */
  readonly dropped: boolean;
  /** Calls in flight when this one started (Infinity when unknown). */
  readonly inflight: number;
}

/**
 * An adaptive limit estimator. It keeps a fractional estimate so that small steps (AIMD's
 * `+1/limit` per sample, a smoothed gradient) accumulate instead of being rounded away.
 */
export interface LimitAlgorithm {
  /** The current estimate, within the configured bounds; the applied limit is its floor. */
  readonly estimate: number;
  /** The latency the last decision used (NaN before any). */
  readonly rttMs: number;
  /** The long-term baseline latency (gradient only; undefined otherwise). */
  readonly baselineRttMs: number | undefined;
  /** Feeds one sample; returns what moved the estimate, or undefined when it did not move. */
  update(sample: LimitSample): AdaptiveChangeCause | undefined;
}
