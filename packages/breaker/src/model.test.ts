// Model-based test: random sequences of calls, outcomes, clock steps and manual controls drive the
// breaker and a deliberately naive reference model (arrays, no generations cache, no fast paths);
// every read compares the two.
import { createEventBus } from '@x/core';
import type { Clock } from '@x/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBreaker } from './index.js';
import type { Breaker, BreakerOptions, BreakerPermit } from './index.js';

interface Config {
  readonly failureThreshold: number;
  readonly successThreshold: number;
  readonly halfOpenMax: number;
  readonly openMs: number;
  readonly probeTimeoutMs: number;
  readonly maxConcurrent: number;
  readonly window: { readonly size: number; readonly rate: number; readonly minimumCalls: number } | null;
}

type Base = 'closed' | 'open' | 'half_open';
type Outcome = 'success' | 'failure' | 'ignoredError' | 'ignore';
type CallOutcome = Exclude<Outcome, 'ignore'>;

interface ModelPermit {
  readonly gen: number;
  readonly probe: boolean;
  readonly expiresAt: number;
  /**
   * A two-step permit holds its running slot until settled, or as a probe until its lease ends or
   * the state moves on. A call through `execute` runs until its function settles, whatever happens.
   */
  readonly slot: boolean;
  settled: boolean;
  running: boolean;
}

class Model {
  base: Base = 'closed';
  isolated = false;
  forced = false;
  handles = 0;
  epoch = 0;
  gen = 0;
  /** Generation of the last reset: calls from before count nowhere. */
  countedSince = 0;
  openUntil = 0;
  opens = 0;
  consecutiveFailures = 0;
  consecutiveSuccesses = 0;
  halfOpenSuccesses = 0;
  window: number[] = [];
  readonly permits: ModelPermit[] = [];
  totals = { requests: 0, successes: 0, failures: 0, timeouts: 0, rejected: 0, ignored: 0 };

  constructor(readonly config: Config) {}

  state(): string {
    return this.isolated ? 'isolated' : this.base;
  }

  /** Probes of the generation that is ending stop counting as running. */
  dropProbes(): void {
    for (const p of this.activeProbes()) if (p.slot) p.running = false;
  }

  enter(to: Base): void {
    this.dropProbes();
    this.isolated = false;
    this.base = to;
    this.gen++;
    this.halfOpenSuccesses = 0;
    if (to === 'closed') {
      this.consecutiveFailures = 0;
      this.consecutiveSuccesses = 0;
      this.opens = 0;
      this.window = [];
    }
  }

  open(at: number): void {
    this.opens++;
    this.openUntil = at + this.config.openMs;
    this.enter('open');
  }

  activeProbes(): ModelPermit[] {
    return this.permits.filter((p) => p.probe && !p.settled && p.gen === this.gen);
  }

  refresh(now: number): void {
    for (;;) {
      if (this.isolated) return;
      if (this.base === 'open' && now >= this.openUntil) {
        this.enter('half_open');
        continue;
      }
      if (this.base === 'half_open') {
        const expired = this.activeProbes().filter((p) => p.expiresAt <= now);
        if (expired.length > 0) {
          const first = expired.reduce((a, b) => (b.expiresAt < a.expiresAt ? b : a));
          first.settled = true;
          if (first.slot) first.running = false;
          this.totals.failures++;
          this.totals.timeouts++;
          this.open(first.expiresAt);
          continue;
        }
      }
      return;
    }
  }

  acquire(now: number, slot: boolean): ModelPermit | null {
    this.refresh(now);
    const open = this.isolated || this.base === 'open' || (this.base === 'half_open' && this.activeProbes().length >= this.config.halfOpenMax);
    const full = this.permits.filter((p) => p.running).length >= this.config.maxConcurrent;
    this.totals.requests++;
    if (open || full) {
      this.totals.rejected++;
      return null;
    }
    const probe = this.base === 'half_open';
    const permit = { gen: this.gen, probe, expiresAt: probe ? now + this.config.probeTimeoutMs : Infinity, slot, settled: false, running: true };
    this.permits.push(permit);
    return permit;
  }

  settle(permit: ModelPermit, outcome: Outcome, now: number): void {
    permit.running = false;
    if (permit.settled) return;
    if (permit.gen < this.countedSince) {
      permit.settled = true;
      return;
    }
    if (permit.probe && permit.gen === this.gen) {
      this.refresh(now);
      if (permit.settled) return;
    }
    permit.settled = true;
    if (outcome === 'ignore' || outcome === 'ignoredError') {
      this.totals.ignored++;
      return;
    }
    const current = permit.gen === this.gen;
    if (outcome === 'success') {
      this.totals.successes++;
      if (!current) return;
      if (permit.probe) {
        if (++this.halfOpenSuccesses >= this.config.successThreshold) this.enter('closed');
        return;
      }
      this.consecutiveFailures = 0;
      this.consecutiveSuccesses++;
      this.record(0, now);
      return;
    }
    this.totals.failures++;
    if (!current) return;
    if (permit.probe) {
      this.open(now);
      return;
    }
    this.consecutiveFailures++;
    this.consecutiveSuccesses = 0;
    if (this.consecutiveFailures >= this.config.failureThreshold) {
      this.record(1, null);
      this.open(now);
      return;
    }
    this.record(1, now);
  }

  /** Adds to the window and applies the rate rule (`now` null: the circuit opens anyway). */
  record(failed: number, now: number | null): void {
    const w = this.config.window;
    if (w === null) return;
    this.window = [...this.window, failed].slice(-w.size);
    if (now === null || this.window.length < w.minimumCalls) return;
    const failures = this.window.filter((x) => x === 1).length;
    if (failures / this.window.length >= w.rate) this.open(now);
  }

  beginIsolation(now: number): void {
    if (this.isolated) return;
    this.refresh(now);
    this.dropProbes();
    this.isolated = true;
    this.gen++;
    this.halfOpenSuccesses = 0;
  }

  close(now: number): void {
    this.forced = false;
    this.handles = 0;
    this.epoch++;
    this.refresh(now);
    if (this.state() === 'closed') {
      // Calls made before change nothing afterwards.
      this.gen++;
      this.consecutiveFailures = 0;
      this.consecutiveSuccesses = 0;
      this.opens = 0;
      this.window = [];
    } else {
      this.enter('closed');
    }
  }
}

type Command =
  | { readonly kind: 'acquire' }
  | { readonly kind: 'settle'; readonly index: number; readonly outcome: Outcome }
  | { readonly kind: 'execute'; readonly outcome: 'success' | 'failure' | 'ignoredError' }
  // A call through `executeOutcome` whose function stays pending until a later `finish`.
  | { readonly kind: 'start' }
  | { readonly kind: 'finish'; readonly ms: number; readonly index: number; readonly outcome: CallOutcome }
  | { readonly kind: 'advance'; readonly ms: number }
  // Time passes and then a held permit settles, with nothing reading the breaker in between.
  | { readonly kind: 'late'; readonly ms: number; readonly index: number; readonly outcome: Outcome }
  | { readonly kind: 'forceOpen' | 'forceClose' | 'reset' | 'isolate' | 'read' }
  | { readonly kind: 'release'; readonly index: number };

const outcomeArb = fc.constantFrom<Outcome>('success', 'success', 'failure', 'failure', 'ignoredError', 'ignore');

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'acquire' as const }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('settle' as const), index: fc.nat(), outcome: outcomeArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('execute' as const), outcome: fc.constantFrom('success' as const, 'failure' as const, 'ignoredError' as const) }) },
  { weight: 4, arbitrary: fc.constant({ kind: 'start' as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('finish' as const),
      ms: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 })),
      index: fc.nat(),
      outcome: fc.constantFrom<CallOutcome>('success', 'success', 'failure', 'ignoredError'),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 400 })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('late' as const), ms: fc.integer({ min: 0, max: 400 }), index: fc.nat(), outcome: outcomeArb }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'read' as const }) },
  { weight: 1, arbitrary: fc.constantFrom({ kind: 'forceOpen' as const }, { kind: 'forceClose' as const }, { kind: 'reset' as const }, { kind: 'isolate' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), index: fc.nat() }) },
);

const configArb: fc.Arbitrary<Config> = fc.record({
  failureThreshold: fc.integer({ min: 1, max: 4 }),
  successThreshold: fc.integer({ min: 1, max: 3 }),
  halfOpenMax: fc.integer({ min: 1, max: 3 }),
  openMs: fc.integer({ min: 0, max: 200 }),
  probeTimeoutMs: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constant(Infinity)),
  maxConcurrent: fc.oneof(fc.constant(Infinity), fc.integer({ min: 1, max: 4 })),
  window: fc.option(
    fc.integer({ min: 1, max: 6 }).chain((size) =>
      fc.record({ size: fc.constant(size), rate: fc.constantFrom(0.25, 0.5, 2 / 3, 1), minimumCalls: fc.integer({ min: 1, max: size }) }),
    ),
  ),
});

const ignoredError = new Error('ignored');

interface InFlight {
  readonly settle: (outcome: CallOutcome) => void;
  readonly result: Promise<unknown>;
  readonly expected: ModelPermit;
}

async function check(config: Config, commands: readonly Command[]): Promise<void> {
  let now = 1_000_000;
  const clock: Clock = { now: () => now, setTimeout: () => 0, clearTimeout: () => {} };
  const options: BreakerOptions = {
    clock,
    events: createEventBus(),
    failureThreshold: config.failureThreshold,
    successThreshold: config.successThreshold,
    halfOpenMax: config.halfOpenMax,
    openMs: config.openMs,
    probeTimeoutMs: config.probeTimeoutMs,
    maxConcurrent: config.maxConcurrent,
    isFailure: (error) => error !== ignoredError,
    ...(config.window === null
      ? {}
      : {
          window: { kind: 'count', size: config.window.size },
          failureRateThreshold: config.window.rate,
          minimumCalls: config.window.minimumCalls,
        }),
  };
  const breaker: Breaker = createBreaker(options);
  const model = new Model(config);
  const held: [BreakerPermit, ModelPermit][] = [];
  const inflight: InFlight[] = [];
  const handles: [{ release(): void }, { epoch: number; released: boolean }][] = [];

  const compare = () => {
    model.refresh(now);
    const stats = breaker.stats();
    expect(breaker.state).toBe(model.state());
    expect({
      state: stats.state,
      totals: { ...stats.totals, slowCalls: undefined },
      consecutiveFailures: stats.consecutiveFailures,
      consecutiveSuccesses: stats.consecutiveSuccesses,
      consecutiveOpens: stats.consecutiveOpens,
      halfOpenProbes: stats.halfOpenProbes,
      runningCalls: stats.runningCalls,
      timeUntilHalfOpenMs: stats.timeUntilHalfOpenMs,
      window: stats.window.calls,
    }).toEqual({
      state: model.state(),
      totals: { ...model.totals, slowCalls: undefined },
      consecutiveFailures: model.consecutiveFailures,
      consecutiveSuccesses: model.consecutiveSuccesses,
      consecutiveOpens: model.opens,
      halfOpenProbes: model.isolated || model.base !== 'half_open' ? 0 : model.activeProbes().length,
      runningCalls: model.permits.filter((p) => p.running).length,
      timeUntilHalfOpenMs: model.isolated ? Infinity : model.base === 'open' ? model.openUntil - now : 0,
      window: model.window.length,
    });
  };

  for (const command of commands) {
    switch (command.kind) {
      case 'acquire': {
        const permit = breaker.tryAcquire();
        const expected = model.acquire(now, true);
        expect(permit === null).toBe(expected === null);
        if (permit !== null && expected !== null) held.push([permit, expected]);
        break;
      }
      case 'late':
      case 'settle': {
        if (command.kind === 'late') now += command.ms;
        if (held.length === 0) break;
        const [permit, expected] = held[command.index % held.length] as [BreakerPermit, ModelPermit];
        if (command.outcome === 'success') permit.success();
        else if (command.outcome === 'failure') permit.failure(new Error('down'));
        else if (command.outcome === 'ignoredError') permit.failure(ignoredError);
        else permit.ignore();
        model.settle(expected, command.outcome, now);
        break;
      }
      case 'execute': {
        const expected = model.acquire(now, false);
        let ran = false;
        const result = await breaker.executeOutcome(() => {
          ran = true;
          if (command.outcome === 'success') return 'ok';
          throw command.outcome === 'failure' ? new Error('down') : ignoredError;
        });
        expect(ran).toBe(expected !== null);
        if (expected === null) expect(result.ok).toBe(false);
        else model.settle(expected, command.outcome, now);
        break;
      }
      case 'start': {
        let settle!: (outcome: CallOutcome) => void;
        const pending = new Promise<string>((resolve, reject) => {
          settle = (outcome) => (outcome === 'success' ? resolve('ok') : reject(outcome === 'failure' ? new Error('down') : ignoredError));
        });
        let ran = false;
        const result = breaker.executeOutcome(() => {
          ran = true;
          return pending;
        });
        const expected = model.acquire(now, false);
        expect(ran).toBe(expected !== null);
        if (expected === null) expect((await result).ok).toBe(false);
        else inflight.push({ settle, result, expected });
        break;
      }
      case 'finish': {
        now += command.ms;
        if (inflight.length === 0) break;
        const [call] = inflight.splice(command.index % inflight.length, 1) as [InFlight];
        call.settle(command.outcome);
        await call.result;
        model.settle(call.expected, command.outcome, now);
        break;
      }
      case 'advance':
        now += command.ms;
        break;
      case 'read':
        compare();
        break;
      case 'forceOpen':
        breaker.forceOpen();
        if (!model.forced) {
          model.forced = true;
          model.beginIsolation(now);
        }
        break;
      case 'forceClose':
        breaker.forceClose();
        model.close(now);
        break;
      case 'reset':
        breaker.reset();
        model.close(now);
        model.totals = { requests: 0, successes: 0, failures: 0, timeouts: 0, rejected: 0, ignored: 0 };
        model.countedSince = model.gen;
        break;
      case 'isolate':
        handles.push([breaker.isolate(), { epoch: model.epoch, released: false }]);
        model.handles++;
        model.beginIsolation(now);
        break;
      case 'release': {
        if (handles.length === 0) break;
        const [handle, expected] = handles[command.index % handles.length] as [{ release(): void }, { epoch: number; released: boolean }];
        handle.release();
        if (!expected.released) {
          expected.released = true;
          if (expected.epoch === model.epoch && --model.handles === 0 && !model.forced) model.enter('closed');
        }
        break;
      }
    }
  }
  compare();
}

describe('breaker against a reference model', () => {
  it('agrees on state and counts for random calls, outcomes, clock steps and controls', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, fc.array(commandArb, { minLength: 1, maxLength: 150 }), (config, commands) => check(config, commands)),
      { numRuns: 400 },
    );
  });

  it('agrees on a long run with leases and manual controls', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, fc.array(commandArb, { minLength: 500, maxLength: 1_000 }), (config, commands) => check(config, commands)),
      { numRuns: 20 },
    );
  });
});
