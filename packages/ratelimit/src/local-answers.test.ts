import { createEventBus } from '@x/core';
import type { XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONSUME, PEEK, REFUND } from './algorithms.js';
import { makeRule } from './rule.js';
import type { RateLimitAlgorithm } from './rule.js';
import type { StoreErrorMode, StoreRequest } from './store.js';
import { StoreGuard } from '@x/core/store';
import { StoreAnswers } from './local-answers.js';

function setup(mode: StoreErrorMode = 'local', overrides: { failureThreshold?: number; cooldownMs?: number; instances?: number } = {}) {
  const clock = createVirtualClock();
  const events = createEventBus();
  const seen: XEvent[] = [];
  events.on('*', (e) => {
    if (e.type !== 'core.instance_tracked') seen.push(e);
  });
  const breaker = new StoreGuard({
    source: 'ratelimit',
    name: 'redis',
    mode,
    failureThreshold: overrides.failureThreshold ?? 3,
    cooldownMs: overrides.cooldownMs ?? 1_000,
    clock,
    events,
  });
  const guard = new StoreAnswers({ mode, instances: overrides.instances ?? 1, maxLocalKeys: 100, clock, guard: breaker });
  return { clock, guard, breaker, seen };
}

function request(algorithm: RateLimitAlgorithm, limit: number, burst?: number, extra: Partial<StoreRequest> = {}): StoreRequest {
  return { scope: 'api', key: 'k', rule: makeRule('t', 'api', algorithm, limit, 1_000, burst), cost: 1, maxWaitMs: 0, op: CONSUME, ...extra };
}

describe('StoreAnswers: answers without the store', () => {
  it("'open' admits and flags the decision", () => {
    const { guard } = setup('open');
    expect(guard.answer(request('gcra', 10))).toEqual({ allowed: true, remaining: 9, retryAfterMs: 0, resetAfterMs: 0, waitMs: 0, degraded: 'open' });
  });

  it("'closed' rejects with the time until the next probe", async () => {
    const { clock, guard, breaker } = setup('closed', { failureThreshold: 1 });
    expect(guard.answer(request('gcra', 10)).retryAfterMs).toBe(1_000);
    breaker.failed(breaker.admit(), new Error(), false);
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

describe('StoreAnswers: the local state follows what Redis admitted', () => {
  it("a switch to 'local' right after spending the share through Redis hands out no fresh burst", () => {
    const { guard } = setup('local', { instances: 2 });
    const req = request('gcra', 20, 20); // local share: 10 per period, burst 10
    for (let i = 0; i < 10; i++) guard.mirror(req); // admitted by Redis
    expect(guard.answer(req).allowed).toBe(false);
  });

  it('mirrors no further than empty: a process that used more than its share is not punished after the switch', async () => {
    const { guard, clock } = setup('local', { instances: 2 });
    const req = request('gcra', 20, 20);
    for (let i = 0; i < 100; i++) guard.mirror(req);
    await clock.advance(100); // one emission interval of the local share (1000 ms / 10)
    expect(guard.answer(req).allowed).toBe(true);
  });

  it("mirrors nothing in 'open' or 'closed' mode, and never a peek", () => {
    const local = setup('local');
    const req = request('fixed-window', 1);
    local.guard.mirror({ ...req, op: PEEK });
    expect(local.guard.answer(req).allowed).toBe(true);
    const open = setup('open');
    open.guard.mirror(req);
    expect(open.guard.answer(req).allowed).toBe(true);
  });
});
