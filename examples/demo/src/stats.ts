import type { BreakerState } from '@x/breaker';
import { LatencyRecorder } from './latency.js';
import { PHASE_NAMES } from './phases.js';
import type { PhaseName } from './phases.js';

/** Why a request did not get fresh data from the downstream. */
export const REJECT_REASONS = ['rate_limited', 'bulkhead_full', 'breaker_open', 'timeout', 'failed'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
/** The reasons the fallback replaces with stale data (a rate-limit rejection is answered with 429). */
export type FallbackReason = Exclude<RejectReason, 'rate_limited'>;

export function isFallbackReason(value: unknown): value is FallbackReason {
  return value !== 'rate_limited' && REJECT_REASONS.includes(value as RejectReason);
}

/** What the API answered, as the load generator saw it. */
export type ResponseKind =
  | { readonly kind: 'ok' }
  /** 200 with stale data: the fallback replaced a failure of `reason`. */
  | { readonly kind: 'fallback'; readonly reason: FallbackReason }
  /** 429: the rate limiter refused; not replaced by a fallback (the client should slow down). */
  | { readonly kind: 'rate_limited' }
  /** No usable answer at all (connection error, unexpected status): should stay at 0. */
  | { readonly kind: 'error'; readonly detail: string };

/** One breaker state change, placed on the run's timeline. */
export interface BreakerChange {
  readonly atMs: number;
  readonly phase: PhaseName;
  readonly from: BreakerState;
  readonly to: BreakerState;
  readonly reason: string;
}

/** Counters of one phase. */
export class PhaseStats {
  requests = 0;
  ok = 0;
  fallback = 0;
  readonly rejected: Record<RejectReason, number> = {
    rate_limited: 0,
    bulkhead_full: 0,
    breaker_open: 0,
    timeout: 0,
    failed: 0,
  };
  /** Requests that got no usable HTTP answer. */
  errors = 0;
  /** Retries the retry policy scheduled (`retry.scheduled` events). */
  retries = 0;
  /** Attempts the per-attempt timeout cut (`timeout.timed_out` events). */
  attemptTimeouts = 0;
  readonly latency = new LatencyRecorder();
  readonly breakerChanges: BreakerChange[] = [];
}

/**
 * Everything the live view and the summary show, counted per phase. Responses are attributed to
 * the phase their request started in; events to the phase they happened in.
 */
export class RunStats {
  readonly phases: Readonly<Record<PhaseName, PhaseStats>> = {
    healthy: new PhaseStats(),
    failing: new PhaseStats(),
    recovering: new PhaseStats(),
  };
  /** Requests sent and not answered yet. */
  inFlight = 0;
  /** Latencies of the current and previous window of the live view (two recorders, rotated). */
  #recent = new LatencyRecorder();
  #previous = new LatencyRecorder();
  readonly #errorDetails = new Map<string, number>();

  recordResponse(phase: PhaseName, response: ResponseKind, latencyMs: number): void {
    const stats = this.phases[phase];
    stats.requests++;
    switch (response.kind) {
      case 'ok':
        stats.ok++;
        break;
      case 'fallback':
        stats.fallback++;
        stats.rejected[response.reason]++;
        break;
      case 'rate_limited':
        stats.rejected.rate_limited++;
        break;
      case 'error':
        stats.errors++;
        this.#errorDetails.set(response.detail, (this.#errorDetails.get(response.detail) ?? 0) + 1);
        return; // no answer, so no latency worth showing
    }
    stats.latency.record(latencyMs);
    this.#recent.record(latencyMs);
  }

  /** Starts a new live-latency window; the previous one is kept so the view never shows nothing. */
  rotateRecent(): void {
    const oldest = this.#previous;
    this.#previous = this.#recent;
    oldest.reset();
    this.#recent = oldest;
  }

  /** Latency since the last rotation. */
  currentWindow(): LatencyRecorder {
    return this.#recent;
  }

  /** Latency over the current and the previous window. */
  recentLatency(): LatencyRecorder {
    const merged = new LatencyRecorder();
    merged.merge(this.#previous);
    merged.merge(this.#recent);
    return merged;
  }

  /** Counters over the whole run. */
  total(): PhaseStats {
    const total = new PhaseStats();
    for (const name of PHASE_NAMES) {
      const p = this.phases[name];
      total.requests += p.requests;
      total.ok += p.ok;
      total.fallback += p.fallback;
      total.errors += p.errors;
      total.retries += p.retries;
      total.attemptTimeouts += p.attemptTimeouts;
      for (const reason of REJECT_REASONS) total.rejected[reason] += p.rejected[reason];
      total.latency.merge(p.latency);
      total.breakerChanges.push(...p.breakerChanges);
    }
    return total;
  }

  /** Distinct client-side errors and how often each happened. */
  errorDetails(): ReadonlyMap<string, number> {
    return this.#errorDetails;
  }
}
