import { isXError, sleep } from '@x/core';
import { describe, expect, it } from 'vitest';
import { BreakerOpenError, BreakerProbeTimeoutError } from './index.js';
import type { Breaker } from './index.js';
import { collect, deferred, failing, failTimes, setup } from './test-support.js';

async function halfOpen(options: Parameters<typeof setup>[0] = {}) {
  const harness = setup({ failureThreshold: 1, openMs: 1_000, ...options });
  await failTimes(harness.breaker, 1);
  await harness.clock.advance(1_000);
  expect(harness.breaker.state).toBe('half_open');
  return harness;
}

describe('half-open probes', () => {
  it('closes after successThreshold successful probes', async () => {
    const { breaker } = await halfOpen({ successThreshold: 3 });
    await breaker.execute(() => 1);
    await breaker.execute(() => 2);
    expect(breaker.state).toBe('half_open');
    await breaker.execute(() => 3);
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().consecutiveOpens).toBe(0);
  });

  it('reopens on any probe failure', async () => {
    const { breaker } = await halfOpen({ successThreshold: 3 });
    await breaker.execute(() => 1);
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
    expect(breaker.stats().consecutiveOpens).toBe(2);
  });

  it('rejects callers beyond halfOpenMax at once with half_open_full', async () => {
    const { breaker, clock } = await halfOpen({ halfOpenMax: 2, probeTimeoutMs: 5_000 });
    const gates = [deferred<number>(), deferred<number>()];
    const probes = gates.map((g) => breaker.execute(() => g.promise));
    await clock.advance(1_500);
    const result = await breaker.executeOutcome(() => 3);
    expect(result.ok).toBe(false);
    const error = (result as { error: BreakerOpenError }).error;
    expect(error).toBeInstanceOf(BreakerOpenError);
    expect(error.reason).toBe('half_open_full');
    expect(error.state).toBe('half_open');
    // Upper bound: the oldest probe's lease ends 5 000 ms after it started.
    expect(error.retryAfterMs).toBe(3_500);
    expect(error.message).toMatch(/half-open and every probe permit is taken; retry after 3500 ms/);
    gates.forEach((g, i) => g.resolve(i));
    await Promise.all(probes);
    expect(breaker.state).toBe('closed');
  });

  it('estimates retryAfterMs from the open duration when probe leases are unbounded', async () => {
    const { breaker } = await halfOpen({ probeTimeoutMs: Infinity });
    const gate = deferred<number>();
    const probe = breaker.execute(() => gate.promise);
    const result = await breaker.executeOutcome(() => 1);
    expect((result as { error: BreakerOpenError }).error.retryAfterMs).toBe(1_000);
    gate.resolve(0);
    await probe;
  });

  it('returns the permit of a probe whose caller aborted, without counting it', async () => {
    const { breaker, clock } = await halfOpen();
    const controller = new AbortController();
    const probe = breaker.execute(
      ({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      { signal: controller.signal },
    );
    await clock.flush();
    expect(breaker.stats().halfOpenProbes).toBe(1);
    controller.abort();
    await expect(probe).rejects.toMatchObject({ name: 'AbortError' });
    expect(breaker.state).toBe('half_open');
    expect(breaker.stats().halfOpenProbes).toBe(0);
    expect(breaker.stats().totals).toMatchObject({ failures: 1, ignored: 1 });
    expect(await breaker.execute(() => 'next probe')).toBe('next probe');
  });

  it('reopens when a slow probe succeeds, if slowCallMs is set', async () => {
    const { breaker, clock, events } = await halfOpen({ slowCallMs: 100, successThreshold: 1 });
    const changes = collect(events, 'breaker.state_change');
    const probe = breaker.execute(async () => {
      await sleep(150, { clock });
      return 'late';
    });
    await clock.advance(150);
    expect(await probe).toBe('late');
    expect(breaker.state).toBe('open');
    expect(changes.at(-1)).toMatchObject({ from: 'half_open', to: 'open', reason: 'half_open_slow_call' });
  });
});

describe('probe leases', () => {
  it('counts a probe that hangs past probeTimeoutMs as a failure and frees its permit', async () => {
    const { breaker, clock, events } = await halfOpen({ probeTimeoutMs: 500, openMs: 1_000 });
    const failures = collect(events, 'breaker.failure');
    const changes = collect(events, 'breaker.state_change');
    const start = clock.now();
    const hung = deferred<string>();
    const probe = breaker.execute(() => hung.promise);
    await clock.advance(499);
    expect(breaker.state).toBe('half_open');
    await clock.advance(1);
    expect(breaker.state).toBe('open');
    const stats = breaker.stats();
    expect(stats.halfOpenProbes).toBe(0);
    expect(stats.totals).toMatchObject({ failures: 2, timeouts: 1 });
    expect(stats.lastError).toBeInstanceOf(BreakerProbeTimeoutError);
    expect(isXError(stats.lastError, 'BREAKER_PROBE_TIMEOUT')).toBe(true);
    expect(stats.lastFailureAt).toBe(start + 500);
    expect(failures.at(-1)).toMatchObject({ state: 'half_open', timeout: true, durationMs: 500, time: start + 500 });
    expect(changes.at(-1)).toMatchObject({ from: 'half_open', to: 'open', reason: 'probe_timeout', time: start + 500 });
    // The reopened circuit half-opens 1 000 ms after the lease ran out, with a free permit.
    await clock.advance(1_000);
    expect(breaker.state).toBe('half_open');
    expect(await breaker.execute(() => 'fresh probe')).toBe('fresh probe');
    // The hung call still settles with its own value, and changes nothing.
    hung.resolve('very late');
    expect(await probe).toBe('very late');
    expect(breaker.stats().totals.failures).toBe(2);
    expect(breaker.stats().totals.successes).toBe(1);
  });

  it('applies an expiry that happened before a late outcome arrived, even with no reads in between', async () => {
    const { breaker, clock } = await halfOpen({ probeTimeoutMs: 500, successThreshold: 1 });
    const late = deferred<string>();
    const probe = breaker.execute(() => late.promise);
    await clock.advance(800); // nobody reads the state meanwhile
    late.resolve('ok');
    await probe;
    // The lease ran out at +500, so the circuit reopened then; the success at +800 is stale.
    expect(breaker.state).toBe('open');
    expect(breaker.stats().timeUntilHalfOpenMs).toBe(700);
  });

  it('does not expire probes with an unbounded lease', async () => {
    const { breaker, clock } = await halfOpen({ probeTimeoutMs: Infinity, successThreshold: 1 });
    const slow = deferred<number>();
    const probe = breaker.execute(() => slow.promise);
    await clock.advance(10 ** 9);
    expect(breaker.state).toBe('half_open');
    slow.resolve(1);
    await probe;
    expect(breaker.state).toBe('closed');
  });
});

describe('generations', () => {
  it('ignores a late failure from before the circuit opened and half-opened', async () => {
    const { breaker, clock } = setup({ failureThreshold: 2, openMs: 1_000, successThreshold: 1 });
    const slow = deferred<never>();
    const early = breaker.executeOutcome(() => slow.promise);
    await failTimes(breaker, 2);
    await clock.advance(1_000);
    expect(breaker.state).toBe('half_open');
    slow.reject(new Error('late'));
    await early;
    expect(breaker.state).toBe('half_open');
    expect(breaker.stats().totals.failures).toBe(3); // counted in totals, not in the state
  });

  it('ignores a late success from the closed state while half-open', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 1_000, successThreshold: 1 });
    const slow = deferred<string>();
    const early = breaker.execute(() => slow.promise);
    await failTimes(breaker, 1);
    await clock.advance(1_000);
    slow.resolve('late');
    expect(await early).toBe('late');
    expect(breaker.state).toBe('half_open');
  });

  it('ignores late probe results after the circuit closed again', async () => {
    const { breaker } = await halfOpen({ halfOpenMax: 2, successThreshold: 1 });
    const second = deferred<never>();
    const fast = breaker.execute(() => 'ok');
    const slow = breaker.executeOutcome(() => second.promise);
    await fast;
    expect(breaker.state).toBe('closed');
    second.reject(new Error('late probe failure'));
    await slow;
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().consecutiveFailures).toBe(0);
  });

  it('ignores late closed-state failures after the circuit was isolated and closed again', async () => {
    const { breaker } = setup({ failureThreshold: 2 });
    const pending = [deferred<never>(), deferred<never>()];
    const calls = pending.map((p) => breaker.executeOutcome(() => p.promise));
    breaker.forceOpen();
    breaker.forceClose();
    pending.forEach((p) => p.reject(new Error('late')));
    await Promise.all(calls);
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().consecutiveFailures).toBe(0);
  });

  it('never lets two probes exceed halfOpenMax across a reopen', async () => {
    const { breaker, clock } = await halfOpen({ halfOpenMax: 1, openMs: 1_000 });
    const first = deferred<never>();
    const firstCall = breaker.executeOutcome(() => first.promise);
    first.reject(new Error('probe failed'));
    await firstCall;
    expect(breaker.state).toBe('open');
    await clock.advance(1_000);
    const second = deferred<number>();
    const secondCall = breaker.execute(() => second.promise);
    expect((await breaker.executeOutcome(() => 1)).ok).toBe(false);
    second.resolve(1);
    await secondCall;
  });

  it('a failing call during half-open from an older generation does not reopen', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 100, successThreshold: 2 });
    const old = deferred<never>();
    const oldCall = breaker.executeOutcome(() => old.promise);
    await breaker.executeOutcome(failing());
    await clock.advance(100);
    await breaker.execute(() => 'probe 1');
    old.reject(new Error('stale'));
    await oldCall;
    expect(breaker.state).toBe('half_open');
    await breaker.execute(() => 'probe 2');
    expect(breaker.state).toBe('closed');
  });
});

describe('openMs as user code', () => {
  it('an openMs function that reads stats() during a probe-lease expiry applies no second transition', async () => {
    const seen: number[] = [];
    let breaker!: Breaker;
    const harness = setup({
      failureThreshold: 1,
      halfOpenMax: 2,
      probeTimeoutMs: 100,
      openMs: (n) => {
        seen.push(n);
        breaker.stats(); // e.g. to log the failure rate
        return 1_000;
      },
    });
    breaker = harness.breaker;
    const changes = collect(harness.events, 'breaker.state_change');
    await failTimes(breaker, 1);
    await harness.clock.advance(1_000);
    void breaker.execute(() => new Promise(() => {}));
    void breaker.execute(() => new Promise(() => {}));
    await harness.clock.advance(100);
    expect(breaker.state).toBe('open');
    expect(changes.map((c) => `${c.from}>${c.to}`)).toEqual(['closed>open', 'open>half_open', 'half_open>open']);
    expect(breaker.stats().consecutiveOpens).toBe(2);
    expect(breaker.stats().totals.failures).toBe(2); // both probes were counted: got 3
  });

});
