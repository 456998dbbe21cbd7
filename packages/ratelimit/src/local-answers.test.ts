import { createEventBus } from '@x/core';
import type { XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONSUME, PEEK, REFUND } from './algorithms.js';
import { makeRule } from './rule.js';
import type { RateLimitAlgorithm } from './rule.js';
import type { StoreErrorMode, StoreRequest } from './store.js';
import { StoreGuard } from './store-guard.js';

function setup(mode: StoreErrorMode = 'local', overrides: { failureThreshold?: number; cooldownMs?: number; instances?: number } = {}) {
  const clock = createVirtualClock();
  const events = createEventBus();
  const seen: XEvent[] = [];
  events.on('*', (e) => {
    if (e.type !== 'core.instance_tracked') seen.push(e);
  });
  const guard = new StoreGuard({
    name: 'redis',
    mode,
    failureThreshold: overrides.failureThreshold ?? 3,
    cooldownMs: overrides.cooldownMs ?? 1_000,
    instances: overrides.instances ?? 1,
    maxLocalKeys: 100,
    clock,
    events,
  });
  return { clock, guard, seen };
}

function request(algorithm: RateLimitAlgorithm, limit: number, burst?: number, extra: Partial<StoreRequest> = {}): StoreRequest {
  return { scope: 'api', key: 'k', rule: makeRule('t', 'api', algorithm, limit, 1_000, burst), cost: 1, maxWaitMs: 0, op: CONSUME, ...extra };
}

describe('StoreGuard: breaker', () => {
  it('skips the store after failureThreshold consecutive failures, then probes once after the cooldown', async () => {
    const { clock, guard, seen } = setup();
    const g = guard.admit();
    expect(g).toBe(0);
    guard.failed(g, new Error('1'), false);
    guard.failed(g, new Error('2'), true);
    expect(guard.health).toBe('healthy');
    guard.failed(g, new Error('3'), false);
    expect(guard.health).toBe('degraded');
    expect(guard.admit()).toBe(-1);
    expect(seen.map((e) => e.type)).toEqual(['ratelimit.store_error', 'ratelimit.store_error', 'ratelimit.store_error', 'ratelimit.store_degraded']);
    expect(seen[1]).toMatchObject({ timedOut: true, consecutiveFailures: 2, name: 'redis', source: 'ratelimit' });
    expect(seen[3]).toMatchObject({ mode: 'local', consecutiveFailures: 3, cooldownMs: 1_000 });

    await clock.advance(999);
    expect(guard.admit()).toBe(-1);
    await clock.advance(1);
    const probe = guard.admit();
    expect(probe).toBe(1);
    expect(guard.health).toBe('probing');
    expect(guard.admit()).toBe(-1); // one probe at a time
    guard.succeeded(probe);
    expect(guard.health).toBe('healthy');
    expect(seen.at(-1)).toMatchObject({ type: 'ratelimit.store_recovered', mode: 'local', degradedForMs: 1_000 });
    expect(guard.admit()).toBe(1);
  });

  it('a failed probe starts another cooldown without announcing degradation again', async () => {
    const { clock, guard, seen } = setup('closed', { failureThreshold: 1 });
    guard.failed(guard.admit(), new Error('down'), false);
    await clock.advance(1_000);
    const probe = guard.admit();
    guard.failed(probe, new Error('still down'), false);
    expect(guard.health).toBe('degraded');
    expect(guard.admit()).toBe(-1);
    expect(seen.filter((e) => e.type === 'ratelimit.store_degraded')).toHaveLength(1);
    await clock.advance(1_000);
    guard.succeeded(guard.admit());
    expect(seen.at(-1)).toMatchObject({ type: 'ratelimit.store_recovered', degradedForMs: 2_000 });
  });

  it('a success resets the count of consecutive failures', () => {
    const { guard } = setup();
    const g = guard.admit();
    guard.failed(g, new Error(), false);
    guard.failed(g, new Error(), false);
    guard.succeeded(g);
    guard.failed(g, new Error(), false);
    guard.failed(g, new Error(), false);
    expect(guard.health).toBe('healthy');
  });

  it('ignores late answers from before the state changed', async () => {
    const { clock, guard } = setup('open', { failureThreshold: 1 });
    const old = guard.admit();
    guard.failed(old, new Error(), false);
    guard.succeeded(old); // an answer sent before the guard opened: proves nothing now
    expect(guard.health).toBe('degraded');
    await clock.advance(1_000);
    const probe = guard.admit();
    guard.failed(old, new Error(), false); // a stale failure does not fail the probe
    expect(guard.health).toBe('probing');
    guard.succeeded(probe);
    expect(guard.health).toBe('healthy');
  });

  it('follows a reference model (fuzzed)', async () => {
    type Action = { kind: 'fail' } | { kind: 'ok' } | { kind: 'wait'; ms: number };
    const action = fc.oneof(
      fc.constant<Action>({ kind: 'fail' }),
      fc.constant<Action>({ kind: 'ok' }),
      fc.integer({ min: 0, max: 1_500 }).map<Action>((ms) => ({ kind: 'wait', ms })),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(action, { maxLength: 60 }), async (threshold, actions) => {
        const { clock, guard } = setup('open', { failureThreshold: threshold, cooldownMs: 1_000 });
        // Model: closed with a failure count, or open until a time.
        let failures = 0;
        let openUntil: number | undefined;
        for (const a of actions) {
          if (a.kind === 'wait') {
            await clock.advance(a.ms);
            continue;
          }
          const g = guard.admit();
          const modelAdmits = openUntil === undefined || clock.now() >= openUntil;
          if (modelAdmits !== g >= 0) return false;
          if (g < 0) continue;
          if (a.kind === 'ok') {
            failures = 0;
            openUntil = undefined;
            guard.succeeded(g);
          } else {
            failures++;
            if (openUntil !== undefined || failures >= threshold) openUntil = clock.now() + 1_000;
            guard.failed(g, new Error(), false);
          }
          if ((openUntil === undefined) !== (guard.health === 'healthy')) return false;
        }
        return true;
      }),
      { numRuns: 200 },
    );
  });
});

describe('StoreGuard: answers without the store', () => {
  it("'open' admits and flags the decision", () => {
    const { guard } = setup('open');
    expect(guard.answer(request('gcra', 10))).toEqual({ allowed: true, remaining: 9, retryAfterMs: 0, resetAfterMs: 0, waitMs: 0, degraded: 'open' });
  });

  it("'closed' rejects with the time until the next probe", async () => {
    const { clock, guard } = setup('closed', { failureThreshold: 1 });
    expect(guard.answer(request('gcra', 10)).retryAfterMs).toBe(1_000);
    guard.failed(guard.admit(), new Error(), false);
    await clock.advance(400);
    expect(guard.answer(request('gcra', 10))).toEqual({ allowed: false, remaining: 0, retryAfterMs: 600, resetAfterMs: 0, waitMs: 0, degraded: 'closed' });
    expect(guard.answer(request('gcra', 10, undefined, { op: REFUND })).allowed).toBe(true);
  });

  it("'local' limits each process to its share: limit and burst divided by instances", async () => {
    const { clock, guard } = setup('local', { instances: 4 });
    const req = request('gcra', 100, 40);
    let admitted = 0;
    while (guard.answer(req).allowed) admitted++;
    expect(admitted).toBe(10);
    const rejected = guard.answer(req);
    expect(rejected).toMatchObject({ allowed: false, degraded: 'local', retryAfterMs: 40 });
    await clock.advance(40);
    expect(guard.answer(req).allowed).toBe(true);
    // Another limiter (scope) has its own local state.
    expect(guard.answer({ ...req, scope: 'other' }).allowed).toBe(true);
    expect(guard.answer({ ...req, op: PEEK }).allowed).toBe(false);
  });

  it("'local' never divides below one, and rejects a cost above the local share until the store is back", () => {
    const { guard } = setup('local', { instances: 8 });
    const small = request('fixed-window', 4);
    expect(guard.answer(small).allowed).toBe(true);
    expect(guard.answer(small).allowed).toBe(false);
    const heavy = request('gcra', 100, 40, { cost: 10, key: 'heavy' });
    expect(guard.answer(heavy)).toMatchObject({ allowed: false, degraded: 'local', retryAfterMs: 1_000 });
  });

  it.each(['gcra', 'token-bucket'] as const)("'local' (%s) gives back only the last reservation on a key, never one with waiters behind it", (algorithm) => {
    const { guard } = setup('local');
    const consume = request(algorithm, 10, 1, { maxWaitMs: 1_000 }); // one every 100 ms
    expect(guard.answer(consume)).toMatchObject({ allowed: true, waitMs: 0 });
    const first = guard.answer(consume);
    const second = guard.answer(consume);
    expect([first.waitMs, second.waitMs]).toEqual([100, 200]);
    const nextSlot = () => guard.answer({ ...consume, op: PEEK }).retryAfterMs;
    expect(nextSlot()).toBe(300);
    guard.answer({ ...consume, op: REFUND, reservation: first.reservation }); // a waiter is behind it
    expect(nextSlot()).toBe(300);
    guard.answer({ ...consume, op: REFUND }); // no reservation: nothing to identify, nothing given back
    expect(nextSlot()).toBe(300);
    guard.answer({ ...consume, op: REFUND, reservation: second.reservation }); // the last one
    expect(nextSlot()).toBe(200);
  });

  it("'local' forgets a key on reset", () => {
    const { guard } = setup('local');
    const req = request('fixed-window', 1);
    guard.answer(req);
    expect(guard.answer(req).allowed).toBe(false);
    guard.forget('api', 'k');
    expect(guard.answer(req).allowed).toBe(true);
  });
});
