import { sleep } from '@x/core';
import type { PhasePosition } from './phases.js';
import { skewed } from './random.js';
import type { Random } from './random.js';

/** How the downstream behaves at one moment. */
export interface DownstreamBehaviour {
  /** Share of calls that fail quickly with a 503. */
  readonly errorRate: number;
  /** Share of calls that hang (slow answer, or none at all while the service is down). */
  readonly slowRate: number;
  /** Latency range of a normal answer, ms. */
  readonly latencyMs: readonly [number, number];
  /** Latency range of a slow answer, ms: beyond the per-attempt timeout on purpose. */
  readonly slowMs: readonly [number, number];
  /** Whether its health endpoint answers. */
  readonly up: boolean;
}

/**
 * The script of the story. Healthy: 3 % quick errors and a thin slow tail (the retry and the
 * timeout absorb them). Failing: nothing succeeds; most calls get a quick 503, the rest hang past the
 * timeout, so the retry retries, the timeout cuts, and the breaker opens. Recovering: the error
 * rate falls from 30 % to 1 % over the first 60 % of the phase, so the first half-open probes
 * still meet some failures (the retry inside the breaker absorbs most) and the circuit closes.
 */
export function behaviourAt(position: PhasePosition): DownstreamBehaviour {
  switch (position.phase) {
    case 'healthy':
      return { errorRate: 0.03, slowRate: 0.005, latencyMs: [10, 45], slowMs: [300, 600], up: true };
    case 'failing':
      return { errorRate: 0.6, slowRate: 0.4, latencyMs: [5, 30], slowMs: [400, 1_500], up: false };
    case 'recovering': {
      const healing = Math.min(1, position.progress / 0.6);
      return {
        errorRate: 0.3 - 0.29 * healing,
        slowRate: 0.03 - 0.025 * healing,
        latencyMs: [15, 70],
        slowMs: [300, 600],
        up: true,
      };
    }
  }
}

/** What the downstream answers. */
export interface Quote {
  readonly sku: string;
  readonly price: number;
  readonly currency: 'EUR';
}

/** A failed answer of the downstream, like an HTTP 503/504 from a real service. */
export class DownstreamError extends Error {
  override name = 'DownstreamError';
  readonly status: number;

  constructor(status: number) {
    super(`downstream answered ${status}`);
    this.status = status;
  }
}

/**
 * A simulated pricing service whose behaviour follows the scenario's phase. It runs in process
 * (no second server to start or leak) but behaves like a remote call: it takes time, fails, and
 * stops as soon as its signal aborts, which is what lets a timeout cut a hung call.
 */
export class Downstream {
  /** Calls started, for the live view. */
  calls = 0;
  readonly #position: () => PhasePosition;
  readonly #random: Random;

  constructor(position: () => PhasePosition, random: Random) {
    this.#position = position;
    this.#random = random;
  }

  /** One call: resolves with a quote or rejects with a `DownstreamError` or the signal's reason. */
  async call(signal?: AbortSignal): Promise<Quote> {
    this.calls++;
    const b = behaviourAt(this.#position());
    const random = this.#random;
    const roll = random();
    if (roll < b.errorRate) {
      await sleep(skewed(random, b.latencyMs[0], b.latencyMs[1]), { signal });
      throw new DownstreamError(503);
    }
    const slow = roll < b.errorRate + b.slowRate;
    const range = slow ? b.slowMs : b.latencyMs;
    await sleep(skewed(random, range[0], range[1]), { signal });
    // A hung call of a service that is down ends in a gateway timeout, if anyone still waits.
    if (slow && !b.up) throw new DownstreamError(504);
    return { sku: 'A-1042', price: Math.round((19 + random()) * 100) / 100, currency: 'EUR' };
  }

  /** The health endpoint: answers quickly while the service is up, hangs while it is down. */
  async ping(signal?: AbortSignal): Promise<'pong'> {
    const b = behaviourAt(this.#position());
    await sleep(b.up ? skewed(this.#random, 2, 10) : 2_000, { signal });
    if (!b.up) throw new DownstreamError(504);
    return 'pong';
  }
}
