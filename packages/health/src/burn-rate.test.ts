import { createEventBus } from '@x/core';
import type { XEventMap } from '@x/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BURN_RATE_WINDOWS, createBurnRateMonitor } from './index.js';
import type { BurnRateMonitor, BurnRateMonitorOptions } from './index.js';
import { manualClock, recordingBus, SLOS } from './test-helpers.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const STEP = 10_000;

function setup(options: Omit<BurnRateMonitorOptions, 'clock' | 'events' | 'slo'> & { slo?: number } = {}) {
  const clock = manualClock();
  const { events, seen } = recordingBus();
  const burn = createBurnRateMonitor({ name: 'checkout', slo: 0.999, clock, events, ...options });
  const ofType = <K extends keyof XEventMap>(type: K) => seen.filter((e): e is XEventMap[K] => e.type === type);
  /** Replays `ms` of traffic at 1 000 requests a second with the given burn rate (SLO 99.9 %). */
  const traffic = (ms: number, burnRate: number) => {
    for (let t = 0; t < ms; t += STEP) {
      clock.advance(STEP);
      const failures = Math.round(10_000 * burnRate * 0.001);
      burn.recordMany(10_000 - failures, failures);
    }
  };
  return { clock, burn, traffic, ofType, events };
}

const firing = (burn: BurnRateMonitor) =>
  burn
    .evaluate()
    .filter((a) => a.firing)
    .map((a) => `${a.severity} ${a.longWindowMs / HOUR}h/${a.shortWindowMs / MINUTE}m`);

describe('multi-window burn-rate alerts (SLO 99.9 %, default windows)', () => {
  it('defaults to the SRE Workbook windows: 1 h/5 m at 14.4×, 6 h/30 m at 6×, 3 d/6 h at 1×', () => {
    const { burn } = setup();
    expect(burn.windows).toEqual([
      { severity: 'page', longWindowMs: HOUR, shortWindowMs: 5 * MINUTE, threshold: 14.4 },
      { severity: 'page', longWindowMs: 6 * HOUR, shortWindowMs: 30 * MINUTE, threshold: 6 },
      { severity: 'ticket', longWindowMs: 3 * DAY, shortWindowMs: 6 * HOUR, threshold: 1 },
    ]);
    expect(burn.windows).toEqual(DEFAULT_BURN_RATE_WINDOWS);
  });

  it('fires nothing while the budget burns slower than it refills', () => {
    const { burn, traffic } = setup();
    traffic(3 * DAY, 0.5);
    expect(firing(burn)).toEqual([]);
    const [fast] = burn.evaluate();
    expect(fast?.longBurnRate).toBeCloseTo(0.5, 10);
    expect(fast?.shortBurnRate).toBeCloseTo(0.5, 10);
  });

  it('fires only the fast page for a sharp one-hour incident after a clean history', () => {
    const { burn, traffic } = setup();
    traffic(3 * DAY, 0);
    traffic(HOUR, 20);
    expect(firing(burn)).toEqual(['page 1h/5m']);
    const [fast, slow, ticket] = burn.evaluate();
    expect(fast).toMatchObject({ firing: true, threshold: 14.4 });
    expect(fast?.longBurnRate).toBeCloseTo(20, 1);
    expect(slow?.longBurnRate).toBeLessThan(6); // about 20 / 6
    expect(ticket?.longBurnRate).toBeLessThan(1); // about 20 / 72
  });

  it('fires only the ticket for a slow, steady burn', () => {
    const { burn, traffic } = setup();
    traffic(3 * DAY, 1.5);
    expect(firing(burn)).toEqual(['ticket 72h/360m']);
  });

  it('fires a page and the ticket when a sharp incident follows a slow burn', () => {
    const { burn, traffic } = setup();
    traffic(3 * DAY, 2);
    traffic(HOUR, 20);
    expect(firing(burn)).toEqual(['page 1h/5m', 'ticket 72h/360m']);
  });

  it('does not fire for a short burst that trips only the short window', () => {
    const { burn, traffic } = setup();
    traffic(3 * DAY, 0);
    traffic(5 * MINUTE, 100);
    const [fast] = burn.evaluate();
    expect(fast?.shortBurnRate).toBeGreaterThan(14.4);
    expect(fast?.longBurnRate).toBeLessThan(14.4);
    expect(firing(burn)).toEqual([]);
  });

  it('stops paging soon after the burning stops, although the long window is still high', () => {
    const { burn, traffic } = setup();
    traffic(3 * DAY, 0);
    traffic(HOUR, 20);
    traffic(10 * MINUTE, 0);
    const [fast] = burn.evaluate();
    expect(fast?.longBurnRate).toBeGreaterThan(14.4);
    expect(fast?.shortBurnRate).toBe(0);
    expect(fast?.firing).toBe(false);
  });

  it('reports each alert starting and stopping once, as it happens on record', () => {
    const { burn, traffic, ofType } = setup();
    traffic(3 * DAY, 0);
    traffic(HOUR, 20);
    traffic(HOUR, 0);
    const alerts = ofType('health.burn_rate_alert');
    expect(alerts.map((e) => [e.severity, e.longWindowMs, e.firing])).toEqual([
      ['page', HOUR, true],
      ['page', HOUR, false],
    ]);
    expect(alerts[0]).toMatchObject({ source: 'health', name: 'checkout', slo: 0.999, shortWindowMs: 5 * MINUTE, threshold: 14.4 });
    expect(alerts[0]?.longBurnRate).toBeGreaterThan(14.4);
    expect(alerts[0]?.shortBurnRate).toBeGreaterThan(14.4);
    expect(burn.evaluate().some((a) => a.firing)).toBe(false);
    expect(ofType('health.burn_rate_alert')).toHaveLength(2);
  });

  it('notices transitions on evaluate() when nobody listened during the records', () => {
    const clock = manualClock();
    const events = createEventBus();
    const burn = createBurnRateMonitor({ slo: 0.99, clock, events, windows: [{ severity: 'page', longWindowMs: 60_000, shortWindowMs: 6_000, threshold: 2 }] });
    burn.recordMany(90, 10);
    const seen: boolean[] = [];
    events.on('health.burn_rate_alert', (e) => seen.push(e.firing));
    expect(burn.evaluate()[0]?.firing).toBe(true);
    expect(seen).toEqual([true]);
    burn.reset();
    expect(seen).toEqual([true, false]);
  });
});

describe('burn-rate details', () => {
  const window = { severity: 'page', longWindowMs: 60_000, shortWindowMs: 6_000, threshold: 2 } as const;

  it('fires only when the burn rate exceeds the threshold, not when it equals it', () => {
    const { burn } = setup({ slo: 0.99, windows: [window] });
    burn.recordMany(98, 2); // error rate 2 %: burn rate exactly 2
    expect(burn.evaluate()[0]).toMatchObject({ longBurnRate: 2, shortBurnRate: 2, firing: false });
    burn.record(false); // 3 in 101
    expect(burn.evaluate()[0]?.firing).toBe(true);
  });

  it('reports a burn rate of 0 with no requests', () => {
    const { burn } = setup();
    expect(burn.evaluate().map((a) => [a.longBurnRate, a.shortBurnRate, a.longRequests, a.firing])).toEqual([
      [0, 0, 0, false],
      [0, 0, 0, false],
      [0, 0, 0, false],
    ]);
  });

  it('does not fire on windows with fewer than minRequests requests', () => {
    const { burn } = setup({ slo: 0.99, windows: [window], minRequests: 10 });
    burn.recordMany(1, 1); // 50 % errors: burn rate 50, but only 2 requests
    expect(burn.evaluate()[0]).toMatchObject({ longBurnRate: 50, longRequests: 2, firing: false });
    burn.recordMany(4, 4);
    expect(burn.evaluate()[0]?.firing).toBe(true);
  });

  it('gives the burn rate over any configured window and rejects others', () => {
    const { burn, clock } = setup({ slo: 0.99, windows: [window] });
    burn.recordMany(95, 5);
    clock.advance(10_000); // out of the 6 s window, still in the 60 s one
    burn.recordMany(100, 0);
    expect(burn.burnRate(60_000)).toBeCloseTo(2.5, 12);
    expect(burn.burnRate(6_000)).toBe(0);
    expect(() => burn.burnRate(1_000)).toThrow(RangeError);
  });

  it('shares one counter between alerts that use the same window length', () => {
    const { burn, clock } = setup({ slo: 0.99, windows: [window, { severity: 'ticket', longWindowMs: 600_000, shortWindowMs: 60_000, threshold: 1 }] });
    burn.recordMany(90, 10);
    clock.advance(30_000);
    const [page, ticket] = burn.evaluate();
    expect(page?.longBurnRate).toBe(ticket?.shortBurnRate);
    expect(page?.longRequests).toBe(100);
  });

  it('forgets an idle gap longer than its windows', () => {
    const { burn, clock } = setup({ slo: 0.99, windows: [window] });
    burn.recordMany(0, 100);
    clock.advance(10 * DAY);
    expect(burn.evaluate()[0]).toMatchObject({ longRequests: 0, shortRequests: 0, longBurnRate: 0, firing: false });
  });
});


describe('burn rate at exactly its threshold', () => {
  const alert = { severity: 'page', longWindowMs: 60_000, shortWindowMs: 6_000 } as const;

  it('does not fire at a burn rate of exactly 10 at 99.9999 %, and fires one failure above it', () => {
    const { burn, ofType } = setup({ slo: 0.999999, windows: [{ ...alert, threshold: 10 }] });
    burn.recordMany(999_990, 10); // error rate 1e-5: burn rate exactly 10
    expect(burn.evaluate()[0]).toMatchObject({ longBurnRate: 10, shortBurnRate: 10, firing: false });
    expect(burn.burnRate(60_000)).toBe(10);
    expect(ofType('health.burn_rate_alert')).toHaveLength(0);
    burn.recordMany(0, 1);
    expect(burn.evaluate()[0]?.firing).toBe(true);
  });

  it('compares a burn rate of exactly the threshold as not exceeding it, for every SLO and threshold', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SLOS),
        // Thresholds in tenths: the defaults (14.4, 6, 1), round ones and any other.
        fc.oneof(fc.constantFrom(144, 60, 10, 100, 25), fc.integer({ min: 1, max: 99 })),
        fc.integer({ min: 1, max: 2_000 }),
        fc.boolean(),
        ([slo, perFailure], tenths, scale, listening) => {
          const threshold = tenths / 10;
          fc.pre(tenths < 10 * perFailure); // a burn rate above the threshold must still be possible
          const clock = manualClock();
          const events = createEventBus();
          const seen: boolean[] = [];
          if (listening) events.on('health.burn_rate_alert', (e) => seen.push(e.firing));
          const burn = createBurnRateMonitor({ slo, clock, events, windows: [{ ...alert, threshold }] });
          // failures ÷ (requests × (1 − slo)) = tenths ÷ 10 exactly.
          const requests = scale * 10 * perFailure;
          const failures = scale * tenths;
          burn.recordMany(requests - failures, failures);
          const [status] = burn.evaluate();
          expect(status).toMatchObject({ longBurnRate: threshold, shortBurnRate: threshold, firing: false });
          expect(seen).toEqual([]);
          // Turning one success into a failure takes it strictly above: it fires.
          burn.reset();
          burn.recordMany(requests - failures - 1, failures + 1);
          expect(burn.evaluate()[0]?.firing).toBe(true);
          expect(seen).toEqual(listening ? [true] : []);
        },
      ),
      { numRuns: 500 },
    );
  });
});
