import { getEventListeners } from 'node:events';
import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { heapUsed } from '@x/test-support';
import { describe, expect, it } from 'vitest';
import { createBreaker, createBreakerGroup } from './index.js';

describe('a breaker used for a long time with one long-lived AbortSignal', () => {
  it('leaves 0 abort listeners and no retained memory after 100 000 calls', async () => {
    const controller = new AbortController();
    const signal = controller.signal;
    const clock = createVirtualClock();
    const events = createEventBus();
    // Listeners make every call take the timed path too.
    let seen = 0;
    events.on('*', () => {
      seen++;
    });
    const breaker = createBreaker({ clock, events, failureThreshold: 3, openMs: 10, successThreshold: 1, probeTimeoutMs: 50 });
    const fail = new Error('down');
    const run = async (i: number): Promise<number> => {
      const fn = (ctx: { signal: AbortSignal }) => {
        // Read the signal as real work would (fetch(url, { signal })).
        if (ctx.signal.aborted) throw new Error('unexpected');
        if (i % 4 === 3) return Promise.reject(fail);
        return Promise.resolve(i);
      };
      const outcome = i % 2 === 0 ? await breaker.executeOutcome(fn, { signal }) : await breaker.execute(fn, { signal }).then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      );
      if (i % 97 === 0) await clock.advance(10); // let open circuits half-open
      if (i % 1_000 === 0) {
        const ready = breaker.waitUntilReady({ signal });
        await clock.advance(10);
        await ready;
      }
      return outcome.ok ? 1 : 0;
    };
    for (let i = 0; i < 2_000; i++) await run(i);
    const baseline = heapUsed();
    let ok = 0;
    for (let i = 0; i < 100_000; i++) ok += await run(i);
    expect(ok).toBeGreaterThan(50_000);
    expect(seen).toBeGreaterThan(100_000);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    expect(breaker.stats().runningCalls).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    const grown = heapUsed() - baseline;
    // 100 000 retained closures, permits or listeners would be several megabytes.
    expect(grown).toBeLessThan(1_000_000);
  }, 60_000);

  it('leaves no listeners behind waitUntilReady calls that resolve or abort', async () => {
    const clock = createVirtualClock();
    const breaker = createBreaker({ clock, events: createEventBus(), failureThreshold: 1, openMs: 100 });
    const controller = new AbortController();
    for (let i = 0; i < 1_000; i++) {
      await breaker.executeOutcome(() => Promise.reject(new Error('x')));
      const wait = breaker.waitUntilReady({ signal: controller.signal });
      await clock.advance(100);
      await wait;
      breaker.forceClose();
      const local = new AbortController();
      breaker.forceOpen();
      const aborted = breaker.waitUntilReady({ signal: local.signal });
      local.abort();
      await aborted.catch(() => undefined);
      breaker.forceClose();
    }
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('keeps a keyed group bounded under key churn', async () => {
    const clock = createVirtualClock();
    const group = createBreakerGroup({ clock, events: createEventBus(), maxKeys: 100, idleMs: 1_000 });
    for (let i = 0; i < 20_000; i++) {
      await group.execute(`tenant-${i}`, () => i);
      if (i % 500 === 0) await clock.advance(250);
    }
    expect(group.size).toBe(100);
    await clock.advance(5_000);
    group.getOrCreate('last');
    expect(group.size).toBe(1);
  });
});
