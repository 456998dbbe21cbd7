import { createBreaker } from '@x/breaker';
import { createBulkhead } from '@x/bulkhead';
import { createEventBus } from '@x/core';
import { createRetry } from '@x/retry';
import { createTimeout } from '@x/timeout';
import { describe, expect, it } from 'vitest';
import { budgetLeft, plural } from './format.js';
import { LatencyRecorder } from './latency.js';
import { Timeline } from './phases.js';
import { reasonOf } from './policies.js';
import { seededRandom } from './random.js';
import { RateMeter } from './view.js';

describe('LatencyRecorder', () => {
  it('answers quantiles within 4 % of the exact value, whatever the distribution', () => {
    const random = seededRandom(1);
    const values = Array.from({ length: 20_000 }, () => 0.5 + 3_000 * random() ** 3);
    const recorder = new LatencyRecorder();
    for (const v of values) recorder.record(v);
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of [0.5, 0.9, 0.99, 0.999]) {
      const exact = sorted[Math.ceil(q * sorted.length) - 1] as number;
      const estimate = recorder.quantile(q) as number;
      expect(estimate).toBeGreaterThanOrEqual(exact * 0.999);
      expect(estimate).toBeLessThanOrEqual(exact * 1.04);
    }
  });

  it('has no quantile when empty, ignores NaN and negative values, and merges counts', () => {
    const a = new LatencyRecorder();
    expect(a.quantile(0.5)).toBeUndefined();
    a.record(Number.NaN);
    a.record(-1);
    expect(a.count).toBe(0);
    a.record(10);
    const b = new LatencyRecorder();
    b.record(1_000);
    b.record(1_000);
    a.merge(b);
    expect(a.count).toBe(3);
    expect(a.quantile(0.99)).toBe(1_000); // capped at the largest value seen
    expect(a.quantile(0.1)).toBeGreaterThanOrEqual(10);
    expect(a.quantile(0.1)).toBeLessThan(10.5);
  });
});

describe('Timeline', () => {
  it('splits the run by normalised fractions and reports progress within each phase', () => {
    const timeline = new Timeline(10_000, { healthy: 1, failing: 2, recovering: 2 });
    expect(timeline.bounds).toEqual([0, 2_000, 6_000, 10_000]);
    expect(timeline.at(0)).toEqual({ phase: 'healthy', index: 0, progress: 0 });
    expect(timeline.at(1_999).phase).toBe('healthy');
    expect(timeline.at(2_000)).toEqual({ phase: 'failing', index: 1, progress: 0 });
    expect(timeline.at(4_000).progress).toBe(0.5);
    expect(timeline.at(12_000)).toEqual({ phase: 'recovering', index: 2, progress: 1 });
  });

  it('rejects fractions that are not positive', () => {
    expect(() => new Timeline(1_000, { healthy: 1, failing: Number.NaN, recovering: 1 })).toThrow(/failing/);
    expect(() => new Timeline(1_000, { healthy: 0, failing: 1, recovering: 1 })).toThrow(/healthy/);
  });
});

describe('reasonOf', () => {
  const events = createEventBus();
  const failWith = (error: unknown) => () => Promise.reject(error);
  const errorOf = async (run: Promise<unknown>): Promise<unknown> => run.then(() => undefined, (e: unknown) => e);

  it('names the layer that refused, and looks through a retry that gave up at why its last attempt failed', async () => {
    const breaker = createBreaker({ events });
    breaker.forceOpen();
    expect(reasonOf(await errorOf(breaker.execute(() => 1)))).toBe('breaker_open');

    const bulkhead = createBulkhead({ maxConcurrent: 1, events });
    const hold = bulkhead.execute(() => new Promise((resolve) => setTimeout(resolve, 20)));
    expect(reasonOf(await errorOf(bulkhead.execute(() => 1)))).toBe('bulkhead_full');
    await hold;

    const timeout = createTimeout(1, { events });
    const hung = ({ signal }: { signal: AbortSignal }) =>
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    expect(reasonOf(await errorOf(timeout.execute(hung)))).toBe('timeout');

    const retry = createRetry({ maxAttempts: 2, backoff: 0, events });
    expect(reasonOf(await errorOf(retry.execute((ctx) => timeout.execute(hung, ctx))))).toBe('timeout');
    expect(reasonOf(await errorOf(retry.execute(failWith(new Error('503')))))).toBe('failed');
  });
});

describe('live view wording', () => {
  it('says 1 attempt, 2 attempts', () => {
    expect(plural(1, 'attempt')).toBe('1 attempt');
    expect(plural(0, 'attempt')).toBe('0 attempts');
    expect(plural(2, 'hung attempt')).toBe('2 hung attempts');
  });

  it('never shows a negative share of the error budget: an overspent one says how far over', () => {
    expect(budgetLeft(0.42)).toEqual({ text: '42 %', style: 'yellow' });
    expect(budgetLeft(1)).toEqual({ text: '100 %', style: 'green' });
    expect(budgetLeft(0)).toEqual({ text: '0 %', style: 'yellow' });
    expect(budgetLeft(-9)).toEqual({ text: '0 % (spent 10.0× over the window)', style: 'red' });
  });

  it('has no rate before a quarter second, then measures from the start, then over each second', () => {
    const meter = new RateMeter();
    meter.sample(100, 5);
    expect(meter.perSecond).toBeUndefined();
    meter.sample(250, 10);
    expect(meter.perSecond).toBe(40);
    meter.sample(600, 30);
    expect(meter.perSecond).toBe(40); // under a second since the last reading: kept
    meter.sample(1_250, 60);
    expect(meter.perSecond).toBe(50);
  });
});
