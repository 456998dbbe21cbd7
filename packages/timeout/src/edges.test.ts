// The shared deadline queue against a naive per-call model, abandoned work, 100 000 calls on one
// long-lived signal, and promises whose own `then` throws.
import { getEventListeners } from 'node:events';
import { compose, createEventBus, isXError } from '@x/core';
import type { XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import type { VirtualClock } from '@x/core/testing';
import { gc, hostilePromise, unhandledRejections } from '@x/test-support';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTimeout } from './index.js';
import type { TimeoutPolicy } from './index.js';

// Abandoned work that rejects later must never surface as an unhandled rejection.
const watch = unhandledRejections();
const unhandled = watch.reasons;
beforeEach(watch.start);
afterEach(watch.stop);

class OwnError extends Error {
  override name = 'OwnError';
}

/**
 * How the function under the timeout behaves:
 * - honour: reads ctx.signal at once, settles at `settleMs`, rejects with signal.reason on abort;
 * - late: same, but reads the signal only after its first await;
 * - ignore: reads the signal, never reacts to it, settles at `settleMs`;
 * - blind: never reads the signal, settles at `settleMs`.
 * `fails`: it settles by rejecting with an OwnError instead of resolving.
 */
type Behaviour = 'honour' | 'late' | 'ignore' | 'blind';

interface CallSpec {
  readonly kind: 'call';
  readonly policy: number;
  readonly behaviour: Behaviour;
  readonly fails: boolean;
  readonly settleMs: number;
  /** Caller abort after this many ms, or none. */
  readonly abortMs: number | undefined;
  /** An enclosing deadline at start + this (<= 0: already passed), or none. */
  readonly outerMs: number | undefined;
  readonly outcome: boolean;
}
type Command = CallSpec | { readonly kind: 'advance'; readonly ms: number };

const POLICIES: readonly (readonly [number, 'cooperative' | 'aggressive'])[] = [
  [100, 'cooperative'],
  [37.5, 'cooperative'],
  [0.3, 'cooperative'],
  [Infinity, 'cooperative'],
  [100, 'aggressive'],
  [37.5, 'aggressive'],
  [0.3, 'aggressive'],
  [Infinity, 'aggressive'],
  // Beyond the 2^31 - 1 ms timer limit: the shared timer re-arms in steps.
  [2 ** 31 + 0.5, 'cooperative'],
  [2 ** 31 + 0.5, 'aggressive'],
];

const msArb = fc.oneof(
  fc.integer({ min: 0, max: 250 }),
  fc.double({ min: 0, max: 250, noNaN: true }),
  fc.constantFrom(100, 37.5, 0.3, 0.1, 0.2),
  fc.constantFrom(2 ** 31 - 1, 2 ** 31 + 0.5, 2 ** 31 + 1, 3e9),
);

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('call' as const),
      policy: fc.integer({ min: 0, max: POLICIES.length - 1 }),
      behaviour: fc.constantFrom<Behaviour>('honour', 'late', 'ignore', 'blind'),
      fails: fc.boolean(),
      settleMs: msArb,
      abortMs: fc.option(msArb.filter((ms) => ms > 0), { nil: undefined }),
      outerMs: fc.option(fc.oneof(msArb, fc.constantFrom(0, -5)), { nil: undefined }),
      outcome: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: msArb }) },
);

type Seen = { at: number; ok: boolean; value?: unknown; error?: unknown };
type Expected =
  | { kind: 'value'; at: number }
  | { kind: 'own'; at: number }
  | { kind: 'caller'; at: number }
  | { kind: 'timeout'; at: number; abandoned: boolean; started: boolean; causeOwn: boolean };

/** The naive model: every call times out at start + ms (or the outer deadline), unless it settled strictly before. */
function model(spec: CallSpec, strategy: 'cooperative' | 'aggressive', ms: number, start: number): Expected | 'tie' {
  const outer = spec.outerMs === undefined ? Infinity : start + spec.outerMs;
  if (outer <= start) return { kind: 'timeout', at: start, abandoned: false, started: false, causeOwn: false };
  const own = start + ms;
  const D = outer < own ? outer : own;
  const A = spec.abortMs === undefined ? Infinity : start + spec.abortMs;
  const S = start + spec.settleMs;
  const finite = [D, A, S].filter((t) => t !== Infinity);
  if (new Set(finite).size !== finite.length) return 'tie';
  const first = Math.min(D, A, S);
  const settled = spec.fails ? ('own' as const) : ('value' as const);
  if (strategy === 'aggressive') {
    if (first === S) return { kind: settled, at: S };
    if (first === D) return { kind: 'timeout', at: D, abandoned: true, started: true, causeOwn: false };
    return { kind: 'caller', at: A };
  }
  switch (spec.behaviour) {
    case 'honour':
    case 'late':
      if (first === S) return { kind: settled, at: S };
      // The function rejects with signal.reason: the TimeoutError itself, or the caller's reason.
      if (first === D) return { kind: 'timeout', at: D, abandoned: false, started: true, causeOwn: false };
      return { kind: 'caller', at: A };
    case 'ignore':
      // Runs to the end; a rejection after our timeout fired becomes a TimeoutError caused by it.
      if (!spec.fails) return { kind: 'value', at: S };
      if (first === D) return { kind: 'timeout', at: S, abandoned: false, started: true, causeOwn: true };
      return { kind: 'own', at: S };
    case 'blind':
      return { kind: settled, at: S };
  }
}

function runFn(clock: VirtualClock, spec: CallSpec, index: number) {
  return async (ctx: { readonly signal: AbortSignal }): Promise<string> => {
    if (spec.behaviour === 'late') await Promise.resolve();
    const signal = spec.behaviour === 'blind' ? undefined : ctx.signal;
    return new Promise<string>((resolve, reject) => {
      const timer = clock.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        if (spec.fails) reject(new OwnError(`own ${index}`));
        else resolve(`value ${index}`);
      }, spec.settleMs);
      const onAbort = () => {
        clock.clearTimeout(timer);
        reject(signal?.reason);
      };
      if (spec.behaviour === 'honour' || spec.behaviour === 'late') {
        if (signal?.aborted) onAbort();
        else signal?.addEventListener('abort', onAbort, { once: true });
      }
    });
  };
}

describe('promises whose own then throws', () => {
  it('executeOutcome (both strategies) and aggressive execute never throw synchronously for a promise whose then() throws', () => {
    const threw: string[] = [];
    for (const strategy of ['cooperative', 'aggressive'] as const) {
      const timeout = createTimeout(100, { clock: createVirtualClock(), events: createEventBus(), strategy });
      for (const mode of ['executeOutcome', 'execute'] as const) {
        let result: Promise<unknown> | undefined;
        try {
          result = timeout[mode](() => hostilePromise(new Error('then')));
        } catch {
          threw.push(`${strategy} ${mode}`);
        }
        // A cooperative execute may hand the function's own promise back (README, "Late readers").
        if (result !== undefined && result.then !== Promise.prototype.then) continue;
        result?.catch(() => undefined);
      }
    }
    // observed: cooperative executeOutcome and both aggressive ones throw 'then' (timeout.ts:146, :174)
    expect(threw).toEqual([]);
  });

  it('aggressive: a call whose promise cannot be subscribed to leaves no queued deadline, abandoned count or unhandled rejection', async () => {
    const clock = createVirtualClock();
    const timeout = createTimeout(100, { clock, events: createEventBus(), strategy: 'aggressive' });
    const caller = new AbortController();
    try {
      void timeout.execute(() => hostilePromise(new Error('then')), { signal: caller.signal }).catch(() => undefined);
    } catch {
      // observed: thrown synchronously, after the call was queued and subscribed to the caller
    }
    await clock.flush(); // the then() error fails the call on the next microtask, like any rejection
    expect.soft(getEventListeners(caller.signal, 'abort')).toHaveLength(0); // observed: 1
    expect.soft(clock.pendingTimers).toBe(0); // observed: 1
    await clock.advance(100);
    await clock.flush();
    expect.soft(timeout.abandoned).toBe(0); // observed: 1, forever
    expect.soft(unhandled).toEqual([]); // the TimeoutError of a promise nobody holds must not surface
  });
});

describe('the shared deadline queue against a model, abandonment, long-lived signals', () => {
  it('the shared deadline queue matches a naive per-call model through the public API (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0, 0.1, Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 1) + 0.7),
        fc.array(command, { minLength: 5, maxLength: 60 }),
        async (origin, commands) => {
          const clock = createVirtualClock({ now: origin });
          const events = createEventBus();
          const policies: TimeoutPolicy[] = POLICIES.map(([ms, strategy], i) =>
            createTimeout(ms, { clock, events, strategy, name: `p${i}` }),
          );
          const callers: AbortController[] = [];
          const checks: { spec: CallSpec; expected: Expected | 'tie'; seen: Seen | undefined; ms: number; reason: Error }[] = [];
          let index = 0;
          for (const c of commands) {
            if (c.kind === 'advance') {
              await clock.advance(c.ms);
              continue;
            }
            const [ms, strategy] = POLICIES[c.policy] as readonly [number, 'cooperative' | 'aggressive'];
            const policy = policies[c.policy] as TimeoutPolicy;
            const start = clock.now();
            const caller = new AbortController();
            callers.push(caller);
            const reason = new Error(`caller ${index}`);
            if (c.abortMs !== undefined) clock.setTimeout(() => caller.abort(reason), c.abortMs);
            const options = { signal: caller.signal, ...(c.outerMs === undefined ? {} : { deadline: start + c.outerMs }) };
            const check: (typeof checks)[number] = { spec: c, expected: model(c, strategy, ms, start), seen: undefined, ms, reason };
            checks.push(check);
            const fn = runFn(clock, c, index++);
            if (c.outcome) {
              void policy.executeOutcome(fn, options).then((o) => {
                check.seen = o.ok ? { at: clock.now(), ok: true, value: o.value } : { at: clock.now(), ok: false, error: o.error };
              });
            } else {
              policy.execute(fn, options).then(
                (value) => (check.seen = { at: clock.now(), ok: true, value }),
                (error: unknown) => (check.seen = { at: clock.now(), ok: false, error }),
              );
            }
          }
          await clock.runAll();
          await clock.flush();

          for (const { spec, expected, seen, reason } of checks) {
            expect(seen, JSON.stringify(spec)).toBeDefined();
            if (expected === 'tie' || seen === undefined) continue;
            const label = `${JSON.stringify(spec)} expected ${JSON.stringify(expected)}, saw ${String(seen.ok ? seen.value : seen.error)} at ${seen.at}`;
            // Times are sums of fractional milliseconds: equal up to float rounding (1e-9 ms).
            expect(Math.abs(seen.at - expected.at), label).toBeLessThan(1e-9);
            switch (expected.kind) {
              case 'value':
                expect(seen.ok, label).toBe(true);
                break;
              case 'own':
                expect(seen.error, label).toBeInstanceOf(OwnError);
                break;
              case 'caller':
                expect(seen.error, label).toBe(reason);
                break;
              case 'timeout':
                expect(isXError(seen.error, 'TIMEOUT'), label).toBe(true);
                expect(seen.error, label).toMatchObject({ abandoned: expected.abandoned, started: expected.started });
                if (expected.causeOwn) expect((seen.error as Error).cause, label).toBeInstanceOf(OwnError);
                break;
            }
          }
          // Everything settled: no timer, no abandoned work, no listener on any caller signal.
          expect(clock.pendingTimers).toBe(0);
          for (const p of policies) expect(p.abandoned).toBe(0);
          for (const c of callers) expect(getEventListeners(c.signal, 'abort')).toHaveLength(0);
        },
      ),
      { numRuns: 400 },
    );
    expect(unhandled).toEqual([]);
  }, 120_000);

  it('aggressive: many abandoned calls are counted, reported when they settle, never unhandled, and released afterwards', async () => {
    const clock = createVirtualClock({ now: 0 });
    const events = createEventBus();
    const seen: XEvent[] = [];
    events.on('*', (e) => {
      if (e.source === 'timeout') seen.push(e);
    });
    const timeout = createTimeout(100, { clock, events, strategy: 'aggressive' });
    const N = 3_000;
    const caller = new AbortController();
    const works: { resolve: () => void; reject: () => void }[] = [];
    // The signal of a call that read it is held by the call; it tells whether the call is retained.
    const refs: { i: number; ref: WeakRef<AbortSignal> }[] = [];
    const results: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) {
      // i % 3: 0 = abandoned at the deadline, 1 = abandoned when the caller aborts, 2 = settles in time.
      const signal = i % 3 === 1 ? caller.signal : undefined;
      results.push(
        timeout
          .execute(
            (ctx) => {
              if (i % 2 === 0) refs.push({ i, ref: new WeakRef(ctx.signal) }); // half of them read their signal
              return new Promise<string>((resolve, reject) => {
                works.push({ resolve: () => resolve('late'), reject: () => reject(new Error(`late failure ${i}`)) });
                if (i % 3 === 2) clock.setTimeout(() => resolve('in time'), 50);
              });
            },
            signal === undefined ? undefined : { signal },
          )
          .then(
            (v) => v,
            (e: unknown) => (isXError(e, 'TIMEOUT') ? 'TIMEOUT' : e === caller.signal.reason ? 'caller' : e),
          ),
      );
    }
    await clock.advance(60);
    caller.abort(new Error('caller'));
    await clock.advance(40); // t = 100: the deadline of the rest
    const outcomes = await Promise.all(results);
    expect(outcomes.filter((o) => o === 'TIMEOUT')).toHaveLength(N / 3);
    expect(outcomes.filter((o) => o === 'caller')).toHaveLength(N / 3);
    expect(outcomes.filter((o) => o === 'in time')).toHaveLength(N / 3);
    expect(timeout.abandoned).toBe((2 * N) / 3);
    expect(seen.filter((e) => e.type === 'timeout.abandoned' && e.reason === 'timeout')).toHaveLength(N / 3);
    expect(seen.filter((e) => e.type === 'timeout.abandoned' && e.reason === 'abort')).toHaveLength(N / 3);
    expect(clock.pendingTimers).toBe(0);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);

    // Abandoned work still runs, so its calls are retained; calls that settled in time are not.
    const alive = () => refs.filter((r) => r.ref.deref() !== undefined).map((r) => r.i);
    await clock.flush();
    gc();
    await clock.flush();
    gc();
    expect(alive()).toEqual(refs.map((r) => r.i).filter((i) => i % 3 !== 2));

    // The abandoned work ends at t = 250, half of it failing.
    await clock.advance(150);
    works.forEach((w, i) => (i % 4 < 2 ? w.reject() : w.resolve()));
    await clock.flush();
    await clock.flush();
    expect(timeout.abandoned).toBe(0);
    const settledEvents = seen.filter((e) => e.type === 'timeout.abandoned_settled');
    expect(settledEvents).toHaveLength((2 * N) / 3);
    expect(settledEvents.every((e) => e.type === 'timeout.abandoned_settled' && e.durationMs === 250)).toBe(true);
    expect(settledEvents.filter((e) => e.type === 'timeout.abandoned_settled' && e.ok)).toHaveLength(
      Array.from({ length: N }, (_, i) => i).filter((i) => i % 3 !== 2 && i % 4 >= 2).length,
    );
    expect(unhandled).toEqual([]);

    // Nothing holds a settled call (its context) any more.
    works.length = 0;
    results.length = 0;
    await clock.flush();
    gc();
    await clock.flush();
    gc();
    expect(alive()).toEqual([]);
  }, 30_000);

  it('100 000 calls on one long-lived caller signal, 500 at a time, both strategies, timing out or aborted: no listener, no timer left', async () => {
    // Node's addEventListener scans the listener list, so N calls pending at once on one signal cost
    // O(N²) (40 000 at once: ~5 s): batches keep this test fast.
    const clock = createVirtualClock({ now: 0 });
    const events = createEventBus();
    const policies = [
      createTimeout(100, { clock, events, strategy: 'cooperative' }),
      createTimeout(100, { clock, events, strategy: 'aggressive' }),
    ];
    const longLived = new AbortController().signal; // never aborts
    const honour = ({ signal }: { readonly signal: AbortSignal }) =>
      new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    const ignore = () => new Promise<string>((resolve) => clock.setTimeout(() => resolve('late'), 300));
    const quick = async ({ signal }: { readonly signal: AbortSignal }) => (signal.aborted ? 'aborted' : 'ok');
    const counts = { timeout: 0, ok: 0, caller: 0, other: 0 };
    for (let batch = 0; batch < 200; batch++) {
      const caller = new AbortController();
      const reason = new Error('caller');
      const pending: Promise<void>[] = [];
      for (let i = 0; i < 500; i++) {
        const policy = policies[i % 2] as TimeoutPolicy;
        // 1/5 each: honour + timeout, ignore + timeout (aggressive) / honour, in time, caller abort on a linked signal.
        const kind = i % 5;
        const fn = kind === 0 ? honour : kind === 1 ? (policy.strategy === 'aggressive' ? ignore : honour) : kind === 2 ? quick : honour;
        // kind 3/4: the long-lived signal is the caller's; an inner call also listens to a short-lived one.
        const signal = kind >= 3 && batch % 2 === 0 ? caller.signal : longLived;
        pending.push(
          policy.execute(fn, { signal }).then(
            (v) => {
              if (v === 'ok') counts.ok++;
              else counts.other++;
            },
            (e: unknown) => {
              if (isXError(e, 'TIMEOUT')) counts.timeout++;
              else if (e === reason) counts.caller++;
              else counts.other++;
            },
          ),
        );
      }
      await clock.advance(50);
      caller.abort(reason);
      await clock.advance(50);
      await Promise.all(pending);
      expect(getEventListeners(longLived, 'abort')).toHaveLength(0);
      expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    }
    await clock.advance(300); // the ignored aggressive work ends
    expect(counts).toEqual({ timeout: 60_000, ok: 20_000, caller: 20_000, other: 0 });
    expect(getEventListeners(longLived, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
    expect((policies[1] as TimeoutPolicy).abandoned).toBe(0);
    expect(unhandled).toEqual([]);
  }, 60_000);

  it('executeOutcome resolves on every path (entry checks, sync throw, thenable getter, timeout, abort) for both strategies', async () => {
    for (const strategy of ['cooperative', 'aggressive'] as const) {
      const clock = createVirtualClock({ now: 0 });
      const timeout = createTimeout(100, { clock, events: createEventBus(), strategy });
      const caller = new AbortController();
      const calls: (() => Promise<unknown>)[] = [
        () => timeout.executeOutcome(async () => 1, { signal: AbortSignal.abort(new Error('pre')) }),
        () => timeout.executeOutcome(async () => 1, { deadline: clock.now() - 1 }),
        () =>
          timeout.executeOutcome(() => {
            throw new Error('sync');
          }),
        () => timeout.executeOutcome(() => ({ get then(): never { throw new Error('getter'); } }) as unknown as Promise<never>),
        () => timeout.executeOutcome(undefined as never),
        () => timeout.executeOutcome(({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))),
        () => timeout.executeOutcome(({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))), { signal: caller.signal }),
      ];
      const outcomes = calls.map((call) => call());
      await clock.advance(50);
      caller.abort(new Error('caller'));
      await clock.advance(50);
      const settledOutcomes = await Promise.all(outcomes);
      expect(settledOutcomes.map((o) => (o as { ok: boolean }).ok), strategy).toEqual([false, false, false, false, false, false, false]);
      expect(isXError((settledOutcomes[5] as { error: unknown }).error, 'TIMEOUT'), strategy).toBe(true);
      expect((settledOutcomes[6] as { error: Error }).error.message, strategy).toBe('caller');
    }
  });
});

describe('a cooperative call that hands back a promise whose then() throws', () => {
  it('execute does not throw synchronously when a timeout.timed_out listener is subscribed', async () => {
    const events = createEventBus();
    events.on('timeout.timed_out', () => undefined);
    const timeout = createTimeout(100, { clock: createVirtualClock(), events });
    const boom = new Error('then method');
    let result: Promise<unknown> | undefined;
    let thrown: unknown;
    try {
      result = timeout.execute(() => hostilePromise(boom));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeUndefined();
    await expect(result).rejects.toBe(boom);
  });

  it('the same with a wildcard listener', () => {
    const events = createEventBus();
    events.on('*', () => undefined);
    const timeout = createTimeout(100, { clock: createVirtualClock(), events });
    expect(() => timeout.execute(() => hostilePromise(new Error('then method')))).not.toThrow();
  });

  it('a late read of ctx.signal does not throw the then() error at the reader', () => {
    const timeout = createTimeout(100, { clock: createVirtualClock(), events: createEventBus() });
    let ctxSeen: { signal: AbortSignal } | undefined;
    void timeout.execute((ctx) => {
      ctxSeen = ctx;
      return hostilePromise(new Error('then method'));
    });
    // e.g. a callback of the function reading the signal after the function returned
    expect(() => ctxSeen?.signal).not.toThrow();
  });

  it('inside compose the throw becomes a rejection', async () => {
    const events = createEventBus();
    events.on('timeout.timed_out', () => undefined);
    const boom = new Error('then method');
    const policy = compose(createTimeout(100, { clock: createVirtualClock(), events }));
    await expect(policy.execute(() => hostilePromise(boom))).rejects.toBe(boom);
  });
});

describe('a cooperative call whose promise has a then getter that throws', () => {
  it('fails the call with that error instead of throwing, with or without a timed_out listener', async () => {
    for (const listen of [false, true]) {
      const events = createEventBus();
      if (listen) events.on('timeout.timed_out', () => undefined);
      const timeout = createTimeout(100, { clock: createVirtualClock(), events });
      const boom = new Error('then getter');
      const hostile = () =>
        Object.defineProperty(Promise.resolve('x'), 'then', {
          get() {
            throw boom;
          },
        });
      let result: Promise<unknown> | undefined;
      expect(() => {
        result = timeout.execute(hostile);
      }).not.toThrow();
      await expect(result).rejects.toBe(boom);
    }
  });
});
