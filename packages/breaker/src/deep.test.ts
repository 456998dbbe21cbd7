// Time windows and slow calls against a naive model, rule boundaries, groups under churn, two-step
// permits across generations, many waiters, and transitions discovered late or from listeners.
import { getEventListeners } from 'node:events';
import { createEventBus } from '@x/core';
import type { Clock } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import type { VirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBreaker, createBreakerGroup } from './index.js';
import type { Breaker, BreakerCounts, BreakerOptions, BreakerPermit } from './index.js';
import { collect, deferred, failing, failTimes, setup } from './test-support.js';

// -------------------------------------------------------------------------------------------------
// Model of time windows and slow calls

interface TimeConfig {
  readonly ms: number;
  readonly buckets: number | undefined;
  /** undefined: the documented default of 10 for time windows. */
  readonly minimumCalls: number | undefined;
  readonly failureThreshold: number | undefined;
  readonly failureRateThreshold: number | undefined;
  readonly slowCallMs: number | undefined;
  readonly slowCallRateThreshold: number | undefined;
  /** A custom rule: trips when windowFailures + windowSlowCalls reach it. */
  readonly customAt: number | undefined;
  readonly openMs: number;
  readonly successThreshold: number;
  readonly halfOpenMax: number;
  readonly probeTimeoutMs: number;
}

type TBase = 'closed' | 'open' | 'half_open';

interface Recorded {
  readonly at: number;
  readonly failed: boolean;
  readonly slow: boolean;
}

interface TCall {
  readonly gen: number;
  readonly probe: boolean;
  readonly start: number;
  readonly expiresAt: number;
  settled: boolean;
}

interface Change {
  readonly from: string;
  readonly to: string;
  readonly reason: string;
  readonly time: number;
}

/** The naive reference: an array of timestamped outcomes, filtered by bucket age on every read. */
class TimeModel {
  base: TBase = 'closed';
  gen = 0;
  openUntil = 0;
  opens = 0;
  consecutiveFailures = 0;
  consecutiveSuccesses = 0;
  halfOpenSuccesses = 0;
  lastStateChangeAt: number;
  recorded: Recorded[] = [];
  readonly calls: TCall[] = [];
  readonly changes: Change[] = [];
  readonly customCounts: BreakerCounts[] = [];
  totals = { requests: 0, successes: 0, failures: 0, timeouts: 0, rejected: 0, ignored: 0, slowCalls: 0 };
  readonly bucketMs: number;
  readonly buckets: number;
  readonly failureThreshold: number;
  readonly failureRate: number;
  readonly slowMs: number;
  readonly slowRate: number;
  readonly minimumCalls: number;

  constructor(
    readonly config: TimeConfig,
    created: number,
  ) {
    this.lastStateChangeAt = created;
    this.buckets = config.buckets ?? 10;
    this.bucketMs = config.ms / this.buckets;
    const failureRule = config.failureThreshold !== undefined || config.failureRateThreshold !== undefined || config.customAt !== undefined;
    this.failureThreshold = config.failureThreshold ?? (failureRule ? Infinity : 5);
    this.failureRate = config.failureRateThreshold ?? Infinity;
    this.slowMs = config.slowCallMs ?? Infinity;
    this.slowRate = config.slowCallRateThreshold ?? (config.slowCallMs === undefined ? Infinity : 1);
    this.minimumCalls = config.minimumCalls ?? 10;
  }

  /** What README promises: `ms / buckets` slices; a call is in the window while its slice is one of the last `buckets`. */
  view(now: number): { calls: number; failures: number; slowCalls: number } {
    const current = Math.floor(now / this.bucketMs);
    const live = this.recorded.filter((r) => Math.floor(r.at / this.bucketMs) > current - this.buckets);
    return { calls: live.length, failures: live.filter((r) => r.failed).length, slowCalls: live.filter((r) => r.slow).length };
  }

  state(): TBase {
    return this.base;
  }

  enter(to: TBase, reason: string, at: number): void {
    this.changes.push({ from: this.base, to, reason, time: at });
    this.base = to;
    this.gen++;
    this.lastStateChangeAt = at;
    this.halfOpenSuccesses = 0;
    if (to === 'closed') {
      this.consecutiveFailures = 0;
      this.consecutiveSuccesses = 0;
      this.opens = 0;
      this.recorded = [];
    }
  }

  open(reason: string, at: number): void {
    this.opens++;
    this.openUntil = at + this.config.openMs;
    this.enter('open', reason, at);
  }

  probes(): TCall[] {
    return this.calls.filter((c) => c.probe && !c.settled && c.gen === this.gen);
  }

  refresh(now: number): void {
    for (;;) {
      if (this.base === 'open' && now >= this.openUntil) {
        this.enter('half_open', 'open_elapsed', this.openUntil);
        continue;
      }
      if (this.base === 'half_open') {
        const expired = this.probes().filter((p) => p.expiresAt <= now);
        if (expired.length > 0) {
          const first = expired.reduce((a, b) => (b.expiresAt < a.expiresAt ? b : a));
          first.settled = true;
          this.totals.failures++;
          this.totals.timeouts++;
          if (first.expiresAt - first.start >= this.slowMs) this.totals.slowCalls++;
          this.open('probe_timeout', first.expiresAt);
          continue;
        }
      }
      return;
    }
  }

  admit(now: number): TCall | null {
    this.refresh(now);
    this.totals.requests++;
    if (this.base === 'open' || (this.base === 'half_open' && this.probes().length >= this.config.halfOpenMax)) {
      this.totals.rejected++;
      return null;
    }
    const probe = this.base === 'half_open';
    const call: TCall = { gen: this.gen, probe, start: now, expiresAt: probe ? now + this.config.probeTimeoutMs : Infinity, settled: false };
    this.calls.push(call);
    return call;
  }

  settle(call: TCall, failed: boolean, now: number): void {
    if (call.settled) return;
    if (call.probe && call.gen === this.gen) {
      this.refresh(now);
      if (call.settled) return;
    }
    call.settled = true;
    const slow = now - call.start >= this.slowMs;
    if (failed) this.totals.failures++;
    else this.totals.successes++;
    if (slow) this.totals.slowCalls++;
    if (call.gen !== this.gen) return;
    if (call.probe) {
      if (failed) this.open('half_open_failure', now);
      else if (slow) this.open('half_open_slow_call', now);
      else if (++this.halfOpenSuccesses >= this.config.successThreshold) this.enter('closed', 'half_open_success', now);
      return;
    }
    if (failed) {
      this.consecutiveFailures++;
      this.consecutiveSuccesses = 0;
    } else {
      this.consecutiveFailures = 0;
      this.consecutiveSuccesses++;
    }
    this.recorded.push({ at: now, failed, slow });
    const w = this.view(now);
    let reason: string | undefined;
    if (this.consecutiveFailures >= this.failureThreshold) reason = 'consecutive_failures';
    else {
      if (w.calls >= this.minimumCalls) {
        if (w.failures / w.calls >= this.failureRate) reason = 'failure_rate';
        else if (w.slowCalls / w.calls >= this.slowRate) reason = 'slow_call_rate';
      }
      if (reason === undefined && (failed || slow) && this.config.customAt !== undefined) {
        const counts: BreakerCounts = {
          consecutiveFailures: this.consecutiveFailures,
          consecutiveSuccesses: this.consecutiveSuccesses,
          windowCalls: w.calls,
          windowFailures: w.failures,
          windowSlowCalls: w.slowCalls,
          failureRate: w.calls === 0 ? 0 : w.failures / w.calls,
          slowCallRate: w.calls === 0 ? 0 : w.slowCalls / w.calls,
        };
        this.customCounts.push(counts);
        if (w.failures + w.slowCalls >= this.config.customAt) reason = 'custom';
      }
    }
    if (reason !== undefined) this.open(reason, now);
  }
}

type TCommand =
  | { readonly kind: 'start' }
  | { readonly kind: 'finish'; readonly ms: number; readonly index: number; readonly failed: boolean }
  | { readonly kind: 'now'; readonly failed: boolean }
  | { readonly kind: 'advance'; readonly ms: number }
  | { readonly kind: 'read' };

const timeConfigArb: fc.Arbitrary<TimeConfig> = fc
  .record({
    ms: fc.oneof(fc.integer({ min: 1, max: 2_000 }), fc.constantFrom(1_000, 999, 10)),
    buckets: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
    minimumCalls: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined, freq: 5 }),
    failureThreshold: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
    failureRateThreshold: fc.option(fc.constantFrom(0.25, 0.3, 0.5, 0.6, 2 / 3, 0.75, 1), { nil: undefined }),
    slowCallMs: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined, freq: 3 }),
    slowCallRateThreshold: fc.option(fc.constantFrom(0.25, 0.5, 2 / 3, 1), { nil: undefined }),
    customAt: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined, freq: 3 }),
    openMs: fc.integer({ min: 0, max: 500 }),
    successThreshold: fc.integer({ min: 1, max: 3 }),
    halfOpenMax: fc.integer({ min: 1, max: 3 }),
    probeTimeoutMs: fc.oneof(fc.integer({ min: 1, max: 400 }), fc.constant(Infinity)),
  })
  .map((c) => (c.slowCallMs === undefined ? { ...c, slowCallRateThreshold: undefined } : c));

const timeCommandArb: fc.Arbitrary<TCommand> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ kind: 'start' as const }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('finish' as const),
      ms: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 400 })),
      index: fc.nat(),
      failed: fc.boolean(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('now' as const), failed: fc.boolean() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      // Small steps inside a bucket, steps across buckets, and idle gaps longer than any window.
      ms: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 1_000 }), fc.integer({ min: 2_000, max: 100_000 })),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ kind: 'read' as const }) },
);

async function checkTime(config: TimeConfig, commands: readonly TCommand[]): Promise<void> {
  // Epoch-like times, where bucket arithmetic meets large numbers.
  let now = 1_767_225_600_000 + 123;
  const clock: Clock = { now: () => now, setTimeout: () => 0, clearTimeout: () => {} };
  const events = createEventBus();
  const changes: Change[] = [];
  events.on('breaker.state_change', (e) => changes.push({ from: e.from, to: e.to, reason: e.reason, time: e.time }));
  const seenCounts: BreakerCounts[] = [];
  const options: BreakerOptions = {
    clock,
    events,
    window: { kind: 'time', ms: config.ms, ...(config.buckets === undefined ? {} : { buckets: config.buckets }) },
    openMs: config.openMs,
    successThreshold: config.successThreshold,
    halfOpenMax: config.halfOpenMax,
    probeTimeoutMs: config.probeTimeoutMs,
    ...(config.minimumCalls === undefined ? {} : { minimumCalls: config.minimumCalls }),
    ...(config.failureThreshold === undefined ? {} : { failureThreshold: config.failureThreshold }),
    ...(config.failureRateThreshold === undefined ? {} : { failureRateThreshold: config.failureRateThreshold }),
    ...(config.slowCallMs === undefined ? {} : { slowCallMs: config.slowCallMs }),
    ...(config.slowCallRateThreshold === undefined ? {} : { slowCallRateThreshold: config.slowCallRateThreshold }),
    ...(config.customAt === undefined
      ? {}
      : {
          shouldTrip: (counts: BreakerCounts) => {
            seenCounts.push({ ...counts });
            return counts.windowFailures + counts.windowSlowCalls >= (config.customAt as number);
          },
        }),
  };
  const breaker: Breaker = createBreaker(options);
  const model = new TimeModel(config, now);
  const inflight: { settle: (failed: boolean) => void; result: Promise<unknown>; expected: TCall }[] = [];

  const compare = () => {
    const stats = breaker.stats();
    model.refresh(now);
    const w = model.view(now);
    expect({
      state: stats.state,
      totals: stats.totals,
      consecutiveFailures: stats.consecutiveFailures,
      consecutiveSuccesses: stats.consecutiveSuccesses,
      consecutiveOpens: stats.consecutiveOpens,
      window: stats.window,
      failureRate: stats.failureRate,
      successRate: stats.successRate,
      slowCallRate: stats.slowCallRate,
      halfOpenProbes: stats.halfOpenProbes,
      timeUntilHalfOpenMs: stats.timeUntilHalfOpenMs,
      lastStateChangeAt: stats.lastStateChangeAt,
      changes,
      seenCounts,
    }).toEqual({
      state: model.state(),
      totals: model.totals,
      consecutiveFailures: model.consecutiveFailures,
      consecutiveSuccesses: model.consecutiveSuccesses,
      consecutiveOpens: model.opens,
      window: w,
      failureRate: w.calls === 0 ? 0 : w.failures / w.calls,
      successRate: w.calls === 0 ? 1 : (w.calls - w.failures) / w.calls,
      slowCallRate: w.calls === 0 ? 0 : w.slowCalls / w.calls,
      halfOpenProbes: model.base === 'half_open' ? model.probes().length : 0,
      timeUntilHalfOpenMs: model.base === 'open' ? model.openUntil - now : 0,
      lastStateChangeAt: model.lastStateChangeAt,
      changes: model.changes,
      seenCounts: model.customCounts,
    });
    expect(breaker.state).toBe(model.state());
  };

  for (const command of commands) {
    switch (command.kind) {
      case 'start': {
        let settle!: (failed: boolean) => void;
        const pending = new Promise<string>((resolve, reject) => {
          settle = (failed) => (failed ? reject(new Error('down')) : resolve('ok'));
        });
        let ran = false;
        const result = breaker.executeOutcome(() => {
          ran = true;
          return pending;
        });
        const expected = model.admit(now);
        expect(ran).toBe(expected !== null);
        if (expected === null) expect((await result).ok).toBe(false);
        else inflight.push({ settle, result, expected });
        break;
      }
      case 'finish': {
        now += command.ms;
        if (inflight.length === 0) break;
        const [call] = inflight.splice(command.index % inflight.length, 1);
        if (call === undefined) break;
        call.settle(command.failed);
        await call.result;
        model.settle(call.expected, command.failed, now);
        break;
      }
      case 'now': {
        const expected = model.admit(now);
        let ran = false;
        await breaker.executeOutcome(() => {
          ran = true;
          if (command.failed) throw new Error('down');
          return 'ok';
        });
        expect(ran).toBe(expected !== null);
        if (expected !== null) model.settle(expected, command.failed, now);
        break;
      }
      case 'advance':
        now += command.ms;
        break;
      case 'read':
        compare();
        break;
    }
  }
  compare();
}

// -------------------------------------------------------------------------------------------------

describe('time windows and slow calls against a reference model', () => {
  it('time windows and slow calls agree with a naive timestamped model (state, window, rates, trips, events)', async () => {
    await fc.assert(
      fc.asyncProperty(timeConfigArb, fc.array(timeCommandArb, { minLength: 1, maxLength: 150 }), (config, commands) => checkTime(config, commands)),
      { numRuns: 500 },
    );
  });

  it('time windows agree with the model over long runs with idle gaps', async () => {
    await fc.assert(
      fc.asyncProperty(timeConfigArb, fc.array(timeCommandArb, { minLength: 400, maxLength: 800 }), (config, commands) => checkTime(config, commands)),
      { numRuns: 30 },
    );
  });
});

// -------------------------------------------------------------------------------------------------
// Rules at their boundaries

/** A call through `breaker` that takes `ms` on the virtual clock, then succeeds or fails. */
const slowCall = (clock: VirtualClock, breaker: Breaker, ms: number, fail = false) => async () => {
  const call = breaker.executeOutcome(
    () =>
      new Promise((resolve, reject) => {
        clock.setTimeout(() => (fail ? reject(new Error('slow and down')) : resolve(ms)), ms);
      }),
  );
  await clock.advance(ms);
  return call;
};

describe('rate rules: minimumCalls, thresholds, shouldTrip', () => {
  it('minimumCalls holds back both rate rules until reached, then the first rule that fires opens (failure rate before slow-call rate)', async () => {
    const { breaker, clock, events } = setup({
      window: { kind: 'time', ms: 10_000, buckets: 10 },
      failureRateThreshold: 0.5,
      slowCallMs: 100,
      slowCallRateThreshold: 0.5,
      minimumCalls: 4,
    });
    const changes = collect(events, 'breaker.state_change');
    // 3 calls: all slow, 2 failed: both rates are over their thresholds, but minimumCalls is 4.
    await slowCall(clock, breaker, 100, true)();
    await slowCall(clock, breaker, 150, true)();
    await slowCall(clock, breaker, 200)();
    expect(breaker.stats()).toMatchObject({ state: 'closed', window: { calls: 3, failures: 2, slowCalls: 3 } });
    // The 4th call completes minimumCalls: 2/4 failures reaches 0.5 (>=), checked before the slow rule.
    await breaker.executeOutcome(() => 'fast');
    expect(breaker.state).toBe('open');
    expect(changes).toMatchObject([{ from: 'closed', to: 'open', reason: 'failure_rate' }]);
  });

  it('opens exactly at a failureRateThreshold that is reached, not only when exceeded (0.3 = 3/10, 2/3)', async () => {
    for (const [threshold, failures, calls] of [
      [0.3, 3, 10],
      [2 / 3, 2, 3],
      [0.1, 1, 10],
      [0.7, 7, 10],
    ] as const) {
      const { breaker } = setup({ window: { kind: 'count', size: calls }, failureRateThreshold: threshold, minimumCalls: calls });
      for (let i = 0; i < calls - failures; i++) await breaker.execute(() => i);
      await failTimes(breaker, failures - 1);
      expect(breaker.state).toBe('closed');
      await failTimes(breaker, 1);
      expect(breaker.state).toBe('open');
    }
  });

  it('opens exactly at a slowCallRateThreshold that is reached, with a slow call lasting exactly slowCallMs', async () => {
    const { breaker, clock, events } = setup({ window: { kind: 'time', ms: 60_000 }, slowCallMs: 100, slowCallRateThreshold: 0.5, minimumCalls: 2 });
    const changes = collect(events, 'breaker.state_change');
    await slowCall(clock, breaker, 99)();
    expect(breaker.state).toBe('closed');
    await slowCall(clock, breaker, 100)();
    expect(changes).toMatchObject([{ to: 'open', reason: 'slow_call_rate' }]);
  });

  it('gives shouldTrip the counts after a slow success and after a failure, on a time window, and not after a fast success', async () => {
    const seen: BreakerCounts[] = [];
    const { breaker, clock } = setup({
      window: { kind: 'time', ms: 1_000, buckets: 4 },
      slowCallMs: 50,
      slowCallRateThreshold: 1,
      minimumCalls: 100,
      shouldTrip: (counts) => {
        seen.push({ ...counts });
        return false;
      },
    });
    await breaker.executeOutcome(() => 'fast');
    await slowCall(clock, breaker, 60)();
    await failTimes(breaker, 1);
    await clock.advance(2_000); // everything above is forgotten
    await failTimes(breaker, 1);
    expect(seen).toEqual([
      { consecutiveFailures: 0, consecutiveSuccesses: 2, windowCalls: 2, windowFailures: 0, windowSlowCalls: 1, failureRate: 0, slowCallRate: 0.5 },
      { consecutiveFailures: 1, consecutiveSuccesses: 0, windowCalls: 3, windowFailures: 1, windowSlowCalls: 1, failureRate: 1 / 3, slowCallRate: 1 / 3 },
      { consecutiveFailures: 2, consecutiveSuccesses: 0, windowCalls: 1, windowFailures: 1, windowSlowCalls: 0, failureRate: 1, slowCallRate: 0 },
    ]);
  });
});

// -------------------------------------------------------------------------------------------------
// Groups

type GroupCommand =
  | { readonly kind: 'use'; readonly key: number }
  | { readonly kind: 'fail'; readonly key: number }
  | { readonly kind: 'hold'; readonly key: number }
  | { readonly kind: 'release'; readonly index: number }
  | { readonly kind: 'isolate'; readonly key: number }
  | { readonly kind: 'advance'; readonly ms: number };

const groupCommandArb: fc.Arbitrary<GroupCommand> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('use' as const), key: fc.integer({ min: 0, max: 14 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('fail' as const), key: fc.integer({ min: 0, max: 14 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('hold' as const), key: fc.integer({ min: 0, max: 14 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), index: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('isolate' as const), key: fc.integer({ min: 0, max: 14 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 300 }) }) },
);

describe('groups: bounds, eviction, statsAll and resetAll', () => {
  it('a keyed group never exceeds maxKeys under churn and evicts the documented victim (LRU, preferring closed and quiet)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.array(groupCommandArb, { maxLength: 120 }), async (maxKeys, commands) => {
        const clock = createVirtualClock();
        const events = createEventBus();
        const group = createBreakerGroup({ clock, events, maxKeys, defaults: { failureThreshold: 1, openMs: 200 } });
        group.add('pinned', createBreaker({ name: 'pinned', clock, events }));
        const held: { resolve: (v: number) => void; done: Promise<unknown> }[] = [];
        /** The victim README describes, computed from what the group holds before a new key arrives. */
        const expectedVictim = (): string | undefined => {
          const stats = group.statsAll();
          const keyed = group.names().filter((n) => n !== 'pinned');
          if (keyed.length < maxKeys) return undefined;
          const quiet = keyed.filter((n) => stats[n]?.runningCalls === 0);
          return quiet.find((n) => stats[n]?.state === 'closed') ?? quiet.find((n) => stats[n]?.state !== 'isolated') ?? keyed[0];
        };
        const touch = (name: string): Breaker => {
          const isNew = !group.has(name);
          const victim = isNew ? expectedVictim() : undefined;
          const before = group.names();
          const breaker = group.getOrCreate(name);
          const after = group.names();
          expect(after.length - 1).toBeLessThanOrEqual(maxKeys);
          expect(after[0]).toBe('pinned');
          if (isNew) expect(before.filter((n) => !after.includes(n))).toEqual(victim === undefined ? [] : [victim]);
          expect(after[after.length - 1]).toBe(name); // most recently used last
          return breaker;
        };
        for (const command of commands) {
          switch (command.kind) {
            case 'use':
              await touch(`k${command.key}`).executeOutcome(() => 1);
              break;
            case 'fail':
              await touch(`k${command.key}`).executeOutcome(failing());
              break;
            case 'hold': {
              const d = deferred<number>();
              held.push({ resolve: d.resolve, done: touch(`k${command.key}`).executeOutcome(() => d.promise) });
              break;
            }
            case 'release': {
              if (held.length === 0) break;
              const [h] = held.splice(command.index % held.length, 1);
              h?.resolve(1);
              await h?.done;
              break;
            }
            case 'isolate':
              touch(`k${command.key}`).forceOpen();
              break;
            case 'advance':
              await clock.advance(command.ms);
              break;
          }
          expect(group.size).toBeLessThanOrEqual(maxKeys + 1);
        }
        for (const h of held) h.resolve(1);
        await Promise.all(held.map((h) => h.done));
      }),
      { numRuns: 300 },
    );
  });

  it('getOrCreate(name, options) for an existing key returns that breaker unchanged: options only apply when it is created', async () => {
    const { group } = (() => {
      const clock = createVirtualClock();
      return { group: createBreakerGroup({ clock, events: createEventBus(), defaults: { failureThreshold: 3 } }) };
    })();
    const first = group.getOrCreate('api', { failureThreshold: 1 });
    const again = group.getOrCreate('api', { failureThreshold: 10 });
    expect(again).toBe(first);
    await first.executeOutcome(failing());
    expect(first.state).toBe('open'); // still failureThreshold 1
  });

  it('statsAll and resetAll cover pinned and keyed breakers, pinned first, without touching LRU order', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const group = createBreakerGroup({ clock, events, maxKeys: 2, defaults: { failureThreshold: 1 } });
    const pinned = group.add('db', createBreaker({ name: 'database', clock, events, failureThreshold: 1 }));
    await group.executeOutcome('a', failing());
    await group.execute('b', () => 1);
    await pinned.executeOutcome(failing());
    const stats = group.statsAll();
    expect(Object.keys(stats)).toEqual(['db', 'a', 'b']);
    expect(stats.db).toMatchObject({ name: 'database', state: 'open' });
    expect(stats.a).toMatchObject({ name: 'a', state: 'open', totals: { failures: 1 } });
    group.resetAll();
    expect(group.statsAll()).toMatchObject({
      db: { state: 'closed', totals: { requests: 0, failures: 0 } },
      a: { state: 'closed', totals: { requests: 0, failures: 0 } },
      b: { state: 'closed', totals: { requests: 0, successes: 0 } },
    });
    expect(group.names()).toEqual(['db', 'a', 'b']);
    // A new key now evicts "a" (least recently used, closed after the reset).
    group.getOrCreate('c');
    expect(group.names()).toEqual(['db', 'b', 'c']);
  });

  it('a breaker evicted while its call runs settles without error, and the key comes back fresh, not with the stale state', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const group = createBreakerGroup({ clock, events, maxKeys: 1, defaults: { failureThreshold: 1 } });
    const hold = deferred<number>();
    const old = group.getOrCreate('api');
    const running = group.executeOutcome('api', () => hold.promise.then(() => Promise.reject(new Error('down'))));
    group.getOrCreate('other'); // evicts "api" although it runs: nothing else can go
    expect(group.has('api')).toBe(false);
    expect(events.tracked('breaker').map((t) => t.name)).toEqual(['other']);
    hold.resolve(1);
    expect(await running).toMatchObject({ ok: false });
    expect(old.stats()).toMatchObject({ state: 'open', runningCalls: 0, totals: { failures: 1 } });
    const fresh = group.getOrCreate('api');
    expect(fresh).not.toBe(old);
    expect(fresh.stats()).toMatchObject({ state: 'closed', runningCalls: 0, totals: { requests: 0, failures: 0 } });
    expect(group.names()).toEqual(['api']);
  });
});

// -------------------------------------------------------------------------------------------------
// Two-step permits under concurrency

describe('two-step permits across transitions', () => {
  it('closed-state permits outstanding across open → half-open hold their slots, count in totals only, and never decide a probe', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 100, halfOpenMax: 2, successThreshold: 2, maxConcurrent: 3 });
    const old1 = breaker.tryAcquire() as BreakerPermit;
    const old2 = breaker.tryAcquire() as BreakerPermit;
    breaker.tryAcquire()?.failure(new Error('down')); // opens
    expect(breaker.stats()).toMatchObject({ state: 'open', runningCalls: 2 });
    await clock.advance(100);
    const probe = breaker.tryAcquire() as BreakerPermit;
    expect(probe).not.toBeNull();
    // Two old permits and a probe fill maxConcurrent: a second probe is refused as too many calls.
    expect(breaker.tryAcquire()).toBeNull();
    old1.failure(new Error('late failure')); // stale: must not reopen
    old1.failure(new Error('reported twice'));
    old2.success(); // stale: must not count as a probe success
    old2.success();
    expect(breaker.stats()).toMatchObject({ state: 'half_open', runningCalls: 1, halfOpenProbes: 1, totals: { successes: 1, failures: 2 } });
    probe.success();
    probe.success(); // twice: still one probe success of the two needed
    expect(breaker.state).toBe('half_open');
    const second = breaker.tryAcquire() as BreakerPermit;
    second.success();
    expect(breaker.stats()).toMatchObject({ state: 'closed', runningCalls: 0, totals: { successes: 3, failures: 2 } });
  });

  it('mixes execute and tryAcquire under maxConcurrent through a trip, half-open and reset without leaking or double-freeing slots', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 100, halfOpenMax: 3, maxConcurrent: 2, probeTimeoutMs: 1_000 });
    const slow = deferred<number>();
    const running = breaker.executeOutcome(() => slow.promise); // closed, holds a slot until it settles
    const permit = breaker.tryAcquire() as BreakerPermit;
    expect(breaker.tryAcquire()).toBeNull(); // too many
    permit.failure(new Error('down')); // opens
    await clock.advance(100);
    const probe = breaker.tryAcquire() as BreakerPermit; // half-open: running is 2 (old execute + probe)
    expect(probe).not.toBeNull();
    expect(await breaker.executeOutcome(() => 1)).toMatchObject({ ok: false, error: { code: 'BREAKER_TOO_MANY_CALLS' } });
    const probeCall = deferred<number>();
    probe.ignore(); // returns the permit and its slot
    probe.ignore();
    const executed = breaker.executeOutcome(() => probeCall.promise); // a probe through execute
    expect(breaker.stats()).toMatchObject({ runningCalls: 2, halfOpenProbes: 1 });
    breaker.reset();
    // reset ends the probe generation; the execute calls still run until their functions settle.
    expect(breaker.stats()).toMatchObject({ state: 'closed', runningCalls: 2, halfOpenProbes: 0 });
    probeCall.reject(new Error('late'));
    slow.resolve(1);
    await Promise.all([running, executed]);
    expect(breaker.stats()).toMatchObject({ state: 'closed', runningCalls: 0, totals: { requests: 0, failures: 0, successes: 0 } });
    const a = breaker.tryAcquire();
    const b = breaker.tryAcquire();
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    expect(breaker.tryAcquire()).toBeNull();
  });

  it('a probe permit from an earlier half-open generation neither frees a current probe slot nor counts as a current probe', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 100, halfOpenMax: 1, successThreshold: 1, probeTimeoutMs: Infinity });
    await failTimes(breaker, 1);
    await clock.advance(100);
    const stale = breaker.tryAcquire() as BreakerPermit;
    breaker.forceOpen();
    breaker.forceClose();
    await failTimes(breaker, 1);
    await clock.advance(100);
    const current = breaker.tryAcquire() as BreakerPermit;
    expect(breaker.tryAcquire()).toBeNull();
    stale.ignore();
    expect(breaker.tryAcquire()).toBeNull(); // the stale ignore did not free the current permit
    stale.success();
    expect(breaker.state).toBe('half_open');
    current.success();
    expect(breaker.state).toBe('closed');
  });
});

// -------------------------------------------------------------------------------------------------
// waitUntilReady with many waiters

describe('waitUntilReady with many waiters', () => {
  it('1 000 waiters: half aborted, then isolation and forceClose; all settle correctly, no listeners or timers left', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 1_000 });
    await failTimes(breaker, 1);
    const controllers = Array.from({ length: 1_000 }, () => new AbortController());
    const results: (string | undefined)[] = new Array(1_000).fill(undefined);
    const waits = controllers.map((c, i) =>
      breaker.waitUntilReady({ signal: c.signal }).then(
        () => void (results[i] = 'ready'),
        (reason) => void (results[i] = String(reason)),
      ),
    );
    expect(clock.pendingTimers).toBe(1);
    for (let i = 0; i < 1_000; i += 2) controllers[i]?.abort('gave up');
    await clock.flush();
    expect(results.filter((r) => r === 'gave up')).toHaveLength(500);
    expect(clock.pendingTimers).toBe(1);
    const handle = breaker.isolate();
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(5_000);
    expect(results.filter((r) => r === 'ready')).toHaveLength(0);
    breaker.forceClose();
    handle.release();
    await Promise.all(waits);
    expect(results.filter((r) => r === 'ready')).toHaveLength(500);
    for (const c of controllers) expect(getEventListeners(c.signal, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
    // The breaker keeps working afterwards, and a new wait uses a new timer.
    await failTimes(breaker, 1);
    const again = breaker.waitUntilReady();
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(1_000);
    await again;
    expect(clock.pendingTimers).toBe(0);
  });

  it('1 000 waiters on a full half-open circuit all wake when the probe permit is ignored, leaving no timer', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 100, probeTimeoutMs: 10_000, successThreshold: 2 });
    await failTimes(breaker, 1);
    await clock.advance(100);
    const probe = breaker.tryAcquire() as BreakerPermit;
    let woken = 0;
    const waits = Array.from({ length: 1_000 }, () => breaker.waitUntilReady().then(() => void woken++));
    expect(clock.pendingTimers).toBe(1); // the lease end
    probe.ignore();
    await Promise.all(waits);
    expect(woken).toBe(1_000);
    expect(clock.pendingTimers).toBe(0);
  });
});

// -------------------------------------------------------------------------------------------------
// Events of lazily discovered transitions

describe('lazy transitions reported late', () => {
  it('stats() after a long gap reports a lease expiry, the reopen and the next half-open, each once, at the moments they happened', async () => {
    const { breaker, clock, events } = setup({ failureThreshold: 1, openMs: 100, probeTimeoutMs: 1_000 });
    const changes = collect(events, 'breaker.state_change');
    const failures = collect(events, 'breaker.failure');
    const t0 = clock.now();
    await failTimes(breaker, 1);
    await clock.advance(100);
    void breaker.execute(() => new Promise(() => {})); // a hung probe at t0+100
    await clock.advance(60_000);
    expect(changes).toHaveLength(2);
    const stats = breaker.stats();
    expect(stats).toMatchObject({ state: 'half_open', lastStateChangeAt: t0 + 1_200, totals: { failures: 2, timeouts: 1 }, lastFailureAt: t0 + 1_100 });
    expect(changes.map((c) => [c.from, c.to, c.reason, c.time - t0, c.openMs])).toEqual([
      ['closed', 'open', 'consecutive_failures', 0, 100],
      ['open', 'half_open', 'open_elapsed', 100, undefined],
      ['half_open', 'open', 'probe_timeout', 1_100, 100],
      ['open', 'half_open', 'open_elapsed', 1_200, undefined],
    ]);
    expect(failures.map((f) => f.time - t0)).toEqual([0, 1_100]);
    breaker.stats();
    expect(breaker.state).toBe('half_open');
    expect(changes).toHaveLength(4);
  });

  it('isolating an open circuit whose openMs has elapsed reports open → half_open at openUntil, then half_open → isolated now', async () => {
    const { breaker, clock, events } = setup({ failureThreshold: 1, openMs: 100 });
    const changes = collect(events, 'breaker.state_change');
    const t0 = clock.now();
    await failTimes(breaker, 1);
    await clock.advance(5_000);
    breaker.isolate().release();
    expect(changes.map((c) => [c.from, c.to, c.reason, c.time - t0])).toEqual([
      ['closed', 'open', 'consecutive_failures', 0],
      ['open', 'half_open', 'open_elapsed', 100],
      ['half_open', 'isolated', 'isolate', 5_000],
      ['isolated', 'closed', 'isolation_released', 5_000],
    ]);
  });
});

// -------------------------------------------------------------------------------------------------

describe('state reads from listeners, and rates without a window', () => {
  it('a breaker.failure listener that reads the state does not change when or why an expired probe lease reopened the circuit', async () => {
    const run = async (read: boolean) => {
      const { breaker, clock, events } = setup({ failureThreshold: 1, openMs: 100, halfOpenMax: 2, probeTimeoutMs: 1_000 });
      const changes = collect(events, 'breaker.state_change');
      events.on('breaker.failure', () => {
        if (read) void breaker.state; // e.g. a logger that records the state with each failure
      });
      const t0 = clock.now();
      await failTimes(breaker, 1);
      await clock.advance(100);
      void breaker.execute(() => new Promise(() => {})); // lease ends at t0+1 100
      await clock.advance(10);
      void breaker.execute(() => new Promise(() => {})); // lease ends at t0+1 110, after the reopen at +1 100
      await clock.advance(60_000);
      const stats = breaker.stats();
      return {
        changes: changes.map((c) => [c.from, c.to, c.reason, c.time - t0]),
        failures: stats.totals.failures,
        lastFailureAt: (stats.lastFailureAt as number) - t0,
      };
    };
    const quiet = await run(false);
    expect(quiet.changes.slice(2)).toEqual([
      ['half_open', 'open', 'probe_timeout', 1_100],
      ['open', 'half_open', 'open_elapsed', 1_200],
    ]);
    expect(quiet.failures).toBe(2); // the second probe's lease never ran out in a current generation
    expect(await run(true)).toEqual(quiet);
  });

  it('without a window, failureRate and successRate cover every call recorded since creation or reset()', async () => {
    const { breaker, clock } = setup({ failureThreshold: 2, openMs: 100, successThreshold: 1 });
    await failTimes(breaker, 2);
    await clock.advance(100);
    await breaker.execute(() => 1); // the probe closes the circuit
    await breaker.execute(() => 1);
    expect(breaker.stats()).toMatchObject({ state: 'closed', failureRate: 0.5, successRate: 0.5 });
    breaker.reset();
    expect(breaker.stats()).toMatchObject({ failureRate: 0, successRate: 1 });
  });
});
