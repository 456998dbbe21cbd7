import { isAbortError, isXError, sleep } from '@x/core';
import type { XEventMap } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { createHealthMonitor } from './index.js';
import type { HealthMonitorOptions } from './index.js';
import { manual, recordingBus, track } from './test-helpers.js';

function setup(options: Omit<HealthMonitorOptions, 'clock' | 'events'> = {}) {
  const clock = createVirtualClock();
  const { events, seen, listenerErrors } = recordingBus();
  const monitor = createHealthMonitor({ name: 'api', clock, events, ...options });
  const ofType = <K extends keyof XEventMap>(type: K) => seen.filter((e): e is XEventMap[K] => e.type === type);
  return { clock, events, seen, listenerErrors, monitor, ofType };
}

/** A check whose next results are scripted: true passes, false throws. */
function scripted(results: boolean[]) {
  let i = 0;
  return () => {
    const pass = results[i++ % results.length];
    if (!pass) throw new Error(`run ${i} failed`);
  };
}

describe('running checks', () => {
  it('runs checks in parallel: two slow checks finish in the longer duration, not the sum', async () => {
    const { clock, monitor } = setup({ timeoutMs: 5_000 });
    monitor.register({ name: 'db', check: (signal) => sleep(100, { clock, signal }) });
    monitor.register({ name: 'cache', check: (signal) => sleep(300, { clock, signal }) });
    const run = track(monitor.runOnce());
    await clock.advance(299);
    expect(run.settled).toBe(false);
    await clock.advance(1);
    expect(run.settled).toBe(true);
    expect(monitor.status('db')).toMatchObject({ healthy: true, durationMs: 100 });
    expect(monitor.status('cache')).toMatchObject({ healthy: true, durationMs: 300 });
    expect(run.value?.status).toBe('pass');
  });

  it('aborts the signal of a check at its timeout and marks it unhealthy with a timeout error', async () => {
    const { clock, monitor, ofType } = setup({ timeoutMs: 1_000 });
    let seenSignal: AbortSignal | undefined;
    monitor.register({
      name: 'db',
      check: (signal) => {
        seenSignal = signal;
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      },
    });
    const run = track(monitor.runOnce());
    await clock.advance(999);
    expect(seenSignal?.aborted).toBe(false);
    await clock.advance(1);
    expect(run.settled).toBe(true);
    const status = monitor.status('db');
    expect(status).toMatchObject({ state: 'unhealthy', healthy: false, durationMs: 1_000 });
    expect(isXError(status?.error, 'HEALTH_CHECK_TIMEOUT')).toBe(true);
    expect(status?.error).toMatchObject({ checker: 'api', check: 'db', timeoutMs: 1_000 });
    expect(seenSignal?.aborted).toBe(true);
    expect(seenSignal?.reason).toBe(status?.error);
    expect(ofType('health.check').map((e) => e.result)).toEqual(['timeout']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('counts a check that ignores its signal as timed out and ignores its late result', async () => {
    const { clock, monitor, ofType } = setup({ timeoutMs: 1_000 });
    const late = manual<void>();
    const lateFailure = manual<void>();
    monitor.register({ name: 'slow-ok', check: () => late.promise });
    monitor.register({ name: 'slow-fail', check: () => lateFailure.promise });
    const run = track(monitor.runOnce());
    await clock.advance(1_000);
    expect(run.settled).toBe(true);
    late.resolve();
    lateFailure.reject(new Error('too late'));
    await clock.advance(5_000);
    for (const name of ['slow-ok', 'slow-fail']) {
      const status = monitor.status(name);
      expect(status).toMatchObject({ state: 'unhealthy', runs: 1 });
      expect(isXError(status?.error, 'HEALTH_CHECK_TIMEOUT')).toBe(true);
    }
    expect(ofType('health.check')).toHaveLength(2);
  });

  it('uses the timeout a check sets for itself over the monitor default', async () => {
    const { clock, monitor } = setup({ timeoutMs: 5_000 });
    monitor.register({ name: 'quick', timeoutMs: 50, check: () => new Promise(() => {}) });
    const run = track(monitor.runOnce());
    await clock.advance(50);
    expect(run.settled).toBe(true);
    expect(monitor.status('quick')?.error).toMatchObject({ code: 'HEALTH_CHECK_TIMEOUT', timeoutMs: 50 });
  });

  it('fails a ping check that throws synchronously, rejects or returns false, and passes any other value', async () => {
    const { monitor } = setup();
    monitor.register({ name: 'throws', check: () => { throw new Error('boom') } });
    monitor.register({ name: 'rejects', check: () => Promise.reject(new Error('refused')) });
    monitor.register({ name: 'false', check: () => false });
    monitor.register({ name: 'async-false', check: async () => false });
    monitor.register({ name: 'string', check: async () => 'PONG' });
    monitor.register({ name: 'sync', check: () => undefined });
    await monitor.runOnce();
    expect(monitor.status('throws')?.error).toMatchObject({ message: 'boom' });
    expect(monitor.status('rejects')?.error).toMatchObject({ message: 'refused' });
    expect(isXError(monitor.status('false')?.error, 'HEALTH_CHECK_FAILED')).toBe(true);
    expect(isXError(monitor.status('async-false')?.error, 'HEALTH_CHECK_FAILED')).toBe(true);
    expect(monitor.status('string')?.healthy).toBe(true);
    expect(monitor.status('sync')?.healthy).toBe(true);
  });

  it('records a synchronously throwing check at once, while a hung one ends the run at its timeout', async () => {
    const { clock, monitor, ofType } = setup({ timeoutMs: 2_000 });
    monitor.register({
      name: 'sync-throw',
      check: () => {
        throw new TypeError('driver not loaded');
      },
    });
    monitor.register({ name: 'hangs', check: () => new Promise(() => {}) });
    const run = track(monitor.runOnce());
    await clock.flush();
    expect(monitor.status('sync-throw')).toMatchObject({ state: 'unhealthy', durationMs: 0 });
    expect(monitor.status('hangs')?.state).toBe('unknown');
    await clock.advance(1_999);
    expect(run.settled).toBe(false);
    await clock.advance(1);
    expect(run.settled).toBe(true);
    expect(run.value?.checks.hangs).toMatchObject({ status: 'fail', code: 'HEALTH_CHECK_TIMEOUT', durationMs: 2_000 });
    expect(run.value?.checks['sync-throw']).toMatchObject({ status: 'fail', error: 'driver not loaded', code: null });
    expect(ofType('health.check').map((e) => e.result)).toEqual(['failure', 'timeout']);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('threshold checks', () => {
  it('fails below min and above max, passes on the bounds themselves', async () => {
    const { monitor } = setup();
    let depth = 0;
    monitor.register({ name: 'queue_depth', value: () => depth, min: 10, max: 100 });
    const resultAt = async (value: number) => {
      depth = value;
      await monitor.runOnce();
      return monitor.status('queue_depth');
    };
    const below = await resultAt(9);
    expect(below).toMatchObject({ healthy: false, value: 9 });
    expect(below?.error).toMatchObject({ code: 'HEALTH_THRESHOLD', violation: 'below_min', value: 9, min: 10, max: 100 });
    expect(await resultAt(10)).toMatchObject({ healthy: true, value: 10, error: undefined });
    expect(await resultAt(100)).toMatchObject({ healthy: true, value: 100 });
    const above = await resultAt(101);
    expect(above?.error).toMatchObject({ code: 'HEALTH_THRESHOLD', violation: 'above_max', value: 101 });
  });

  it('reads asynchronous values and accepts a single bound', async () => {
    const { monitor } = setup();
    monitor.register({ name: 'cpu', value: async () => 85, max: 80 });
    monitor.register({ name: 'free_disk', value: async () => 5, min: 10 });
    monitor.register({ name: 'connections', value: async () => 3, min: 1 });
    await monitor.runOnce();
    expect(monitor.status('cpu')?.error).toMatchObject({ violation: 'above_max' });
    expect(monitor.status('free_disk')?.error).toMatchObject({ violation: 'below_min' });
    expect(monitor.status('connections')).toMatchObject({ healthy: true, value: 3 });
  });

  it('fails on a value that is not a finite number, and on a value function that throws', async () => {
    const { monitor } = setup();
    monitor.register({ name: 'nan', value: () => Number.NaN, max: 1 });
    monitor.register({ name: 'string', value: () => '5' as unknown as number, max: 10 });
    monitor.register({ name: 'throws', value: () => { throw new Error('no metric') }, max: 1 });
    await monitor.runOnce();
    expect(monitor.status('nan')?.error).toMatchObject({ code: 'HEALTH_THRESHOLD', violation: 'not_a_number' });
    expect(monitor.status('string')?.error).toMatchObject({ violation: 'not_a_number', value: '5' });
    expect(monitor.status('string')?.value).toBeUndefined();
    expect(monitor.status('throws')?.error).toMatchObject({ message: 'no metric' });
  });
});

describe('status and transitions', () => {
  it('starts unknown: not healthy, and isHealthy() false until the first run unless unknownIsHealthy', async () => {
    const strict = setup();
    strict.monitor.register({ name: 'db', check: () => undefined });
    expect(strict.monitor.status('db')).toMatchObject({
      state: 'unknown',
      healthy: false,
      error: undefined,
      lastCheckedAt: undefined,
      durationMs: undefined,
      successRate: undefined,
      runs: 0,
    });
    expect(strict.monitor.isHealthy()).toBe(false);
    expect(strict.monitor.report().status).toBe('fail');
    await strict.monitor.runOnce();
    expect(strict.monitor.isHealthy()).toBe(true);

    const lenient = setup({ unknownIsHealthy: true });
    lenient.monitor.register({ name: 'db', check: () => undefined });
    expect(lenient.monitor.status('db')?.healthy).toBe(false);
    expect(lenient.monitor.isHealthy()).toBe(true);
    expect(lenient.monitor.report().status).toBe('pass');
  });

  it('is healthy with no checks, and status() of an unknown name is undefined', () => {
    const { monitor } = setup();
    expect(monitor.isHealthy()).toBe(true);
    expect(monitor.status('nope')).toBeUndefined();
    expect(monitor.statuses()).toEqual([]);
  });

  it('emits one status_change per change, starting from unknown', async () => {
    const { monitor, ofType } = setup();
    monitor.register({ name: 'db', check: scripted([true, true, false, false, false, true]) });
    for (let i = 0; i < 6; i++) await monitor.runOnce();
    const changes = ofType('health.status_change');
    expect(changes.map((e) => [e.from, e.to])).toEqual([
      ['unknown', 'healthy'],
      ['healthy', 'unhealthy'],
      ['unhealthy', 'healthy'],
    ]);
    expect(changes[1]).toMatchObject({ source: 'health', name: 'api', check: 'db', healthy: false, critical: true });
    expect(changes[1]?.error).toMatchObject({ message: 'run 3 failed' });
    expect(changes[2]?.error).toBeUndefined();
    expect(ofType('health.check')).toHaveLength(6);
  });

  it('reports every run as a health.check event with result, duration and the resulting status', async () => {
    const { clock, monitor, ofType } = setup({ timeoutMs: 100 });
    monitor.register({ name: 'ok', check: (signal) => sleep(20, { clock, signal }) });
    monitor.register({ name: 'bad', check: () => Promise.reject(new Error('x')) });
    monitor.register({ name: 'hung', check: () => new Promise(() => {}) });
    monitor.register({ name: 'depth', value: () => 7, max: 10 });
    const run = monitor.runOnce();
    await clock.advance(100);
    await run;
    const byCheck = Object.fromEntries(ofType('health.check').map((e) => [e.check, e]));
    expect(byCheck.ok).toMatchObject({ result: 'success', durationMs: 20, healthy: true, error: undefined, value: undefined });
    expect(byCheck.bad).toMatchObject({ result: 'failure', durationMs: 0, healthy: false });
    expect(byCheck.hung).toMatchObject({ result: 'timeout', durationMs: 100, healthy: false });
    expect(byCheck.depth).toMatchObject({ result: 'success', value: 7 });
    expect(byCheck.ok).toMatchObject({ type: 'health.check', source: 'health', name: 'api' });
  });

  it('turns unhealthy only after failureThreshold consecutive failures and back after successThreshold passes', async () => {
    const { monitor, ofType } = setup({ failureThreshold: 3 });
    monitor.register({
      name: 'db',
      successThreshold: 2,
      check: scripted([true, false, false, true, false, false, false, true, true]),
    });
    const states: string[] = [];
    for (let i = 0; i < 9; i++) {
      await monitor.runOnce();
      states.push(monitor.status('db')?.state ?? '');
    }
    expect(states).toEqual([
      'healthy', 'healthy', 'healthy', 'healthy', 'healthy', 'healthy', 'unhealthy', 'unhealthy', 'healthy',
    ]);
    expect(ofType('health.status_change')).toHaveLength(3);
  });

  it('decides the first state from the first result, whatever the thresholds', async () => {
    const { monitor } = setup({ failureThreshold: 5 });
    monitor.register({ name: 'db', check: () => false });
    await monitor.runOnce();
    expect(monitor.status('db')?.state).toBe('unhealthy');
  });

  it('computes successRate over a bounded window of recent results', async () => {
    const { monitor } = setup({ historySize: 4 });
    monitor.register({ name: 'db', check: scripted([true, true, false, false, false, false, true]) });
    const rates: (number | undefined)[] = [];
    for (let i = 0; i < 7; i++) {
      await monitor.runOnce();
      rates.push(monitor.status('db')?.successRate);
    }
    // An unbounded rate would end at 3/7; the window of 4 forgets the early passes.
    expect(rates).toEqual([1, 1, 2 / 3, 0.5, 0.25, 0, 0.25]);
    expect(monitor.status('db')).toMatchObject({ runs: 7, consecutiveSuccesses: 1, consecutiveFailures: 0 });
  });

  it('keeps isHealthy() true when only a non-critical check fails, and the report says warn', async () => {
    const { monitor } = setup();
    monitor.register({ name: 'db', check: () => undefined });
    monitor.register({ name: 'recommendations', critical: false, check: () => false });
    await monitor.runOnce();
    expect(monitor.isHealthy()).toBe(true);
    expect(monitor.report()).toMatchObject({ status: 'warn', healthy: true });
    monitor.register({ name: 'payments', check: () => false });
    await monitor.runOnce();
    expect(monitor.isHealthy()).toBe(false);
    expect(monitor.report()).toMatchObject({ status: 'fail', healthy: false });
  });

  it('returns snapshots that later runs do not change', async () => {
    const { monitor } = setup();
    monitor.register({ name: 'db', check: scripted([true, false]) });
    await monitor.runOnce();
    const before = monitor.status('db');
    await monitor.runOnce();
    expect(before?.healthy).toBe(true);
    expect(monitor.status('db')?.healthy).toBe(false);
  });
});

describe('start and stop', () => {
  it('runs at once on start, then every intervalMs, and leaves no timer after stop', async () => {
    const { clock, monitor } = setup({ intervalMs: 1_000, timeoutMs: 500 });
    let calls = 0;
    monitor.register({ name: 'db', check: () => void calls++ });
    monitor.start();
    expect(monitor.running).toBe(true);
    expect(calls).toBe(1);
    await clock.advance(999);
    expect(calls).toBe(1);
    await clock.advance(1);
    expect(calls).toBe(2);
    await clock.advance(3_000);
    expect(calls).toBe(5);
    monitor.stop();
    expect(monitor.running).toBe(false);
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(10_000);
    expect(calls).toBe(5);
  });

  it('ignores a second start and can start again after stop', async () => {
    const { clock, monitor } = setup({ intervalMs: 1_000 });
    let calls = 0;
    monitor.register({ name: 'db', check: () => void calls++ });
    monitor.start();
    monitor.start();
    expect(calls).toBe(1);
    expect(clock.pendingTimers).toBe(1);
    monitor.stop();
    monitor.stop();
    monitor.start();
    expect(calls).toBe(2);
    monitor.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  it('stop during a run aborts the checks in flight, records nothing for them and leaves no timer', async () => {
    const { clock, monitor, ofType } = setup({ intervalMs: 10_000, timeoutMs: 5_000 });
    let seenSignal: AbortSignal | undefined;
    monitor.register({
      name: 'db',
      check: (signal) => {
        seenSignal = signal;
        return sleep(1_000, { clock, signal });
      },
    });
    monitor.start();
    await clock.advance(500);
    monitor.stop();
    expect(clock.pendingTimers).toBe(0);
    expect(seenSignal?.aborted).toBe(true);
    expect(isAbortError(seenSignal?.reason)).toBe(true);
    await clock.advance(20_000);
    expect(monitor.status('db')?.state).toBe('unknown');
    expect(ofType('health.check')).toHaveLength(0);
  });

  it('stop leaves no timer even when the check ignores its signal, and its late result is ignored', async () => {
    const { clock, monitor } = setup({ intervalMs: 1_000, timeoutMs: 5_000 });
    const late = manual<void>();
    monitor.register({ name: 'db', check: () => late.promise });
    monitor.start();
    monitor.stop();
    expect(clock.pendingTimers).toBe(0);
    late.resolve();
    await clock.flush();
    expect(monitor.status('db')?.runs).toBe(0);
  });

  it('never overlaps runs: a tick during a run is skipped, and runOnce joins the run in progress', async () => {
    const { clock, monitor } = setup({ intervalMs: 1_000, timeoutMs: 5_000 });
    let calls = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    monitor.register({
      name: 'slow',
      check: async (signal) => {
        calls++;
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        try {
          await sleep(1_500, { clock, signal });
        } finally {
          inFlight--;
        }
      },
    });
    monitor.start();
    const joined = track(monitor.runOnce());
    expect(calls).toBe(1);
    await clock.advance(1_000); // tick while the first run is in progress: skipped
    expect(calls).toBe(1);
    await clock.advance(500); // first run ends at 1 500
    expect(joined.settled).toBe(true);
    expect(calls).toBe(1);
    await clock.advance(500); // tick at 2 000 starts the second run
    expect(calls).toBe(2);
    await clock.advance(6_000);
    expect(maxInFlight).toBe(1);
    monitor.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  it('unrefs the interval timer so it does not keep a process alive, but not the timeouts a run waits on', async () => {
    const virtual = createVirtualClock();
    const unrefed: unknown[] = [];
    const handles: unknown[] = [];
    const clock = {
      now: () => virtual.now(),
      setTimeout: (callback: () => void, ms: number) => {
        const inner = virtual.setTimeout(callback, ms);
        const handle = { inner, unref: () => unrefed.push(handle) };
        handles.push(handle);
        return handle;
      },
      clearTimeout: (handle: unknown) => virtual.clearTimeout((handle as { inner: unknown }).inner),
    };
    const { events } = recordingBus();
    const monitor = createHealthMonitor({ clock, events, intervalMs: 1_000, timeoutMs: 100 });
    monitor.register({ name: 'db', check: () => new Promise(() => {}) });
    monitor.start();
    // One timeout timer for the check, one interval timer.
    expect(handles).toHaveLength(2);
    expect(unrefed).toHaveLength(1);
    monitor.stop();
    expect(virtual.pendingTimers).toBe(0);
  });

  it('a listener that calls stop() while a run is starting stops the rest of that run', async () => {
    const { clock, events, monitor } = setup({ intervalMs: 1_000, timeoutMs: 500 });
    const off = events.on('health.check', () => monitor.stop());
    let slowCalls = 0;
    let aborted = false;
    monitor.register({
      name: 'slow',
      check: (signal) => {
        slowCalls++;
        signal.addEventListener('abort', () => (aborted = true));
        return new Promise(() => {});
      },
    });
    monitor.register({ name: 'fast', check: () => undefined }); // settles synchronously: its event stops the monitor
    monitor.register({ name: 'never', check: () => void slowCalls++ });
    monitor.start();
    expect(monitor.running).toBe(false);
    expect(slowCalls).toBe(1); // 'never' was not started
    expect(aborted).toBe(true);
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(5_000);
    expect(monitor.status('slow')?.runs).toBe(0);
    expect(monitor.status('never')?.runs).toBe(0);
    // runOnce after the stop starts a fresh run rather than joining the cancelled one.
    off();
    const run = track(monitor.runOnce());
    await clock.flush();
    expect(run.settled).toBe(false);
    expect(slowCalls).toBe(3);
    await clock.advance(500);
    expect(run.settled).toBe(true);
  });

  it('a listener that calls runOnce() while a run is starting joins that run: no check runs twice', async () => {
    const { clock, events, monitor } = setup();
    let aCalls = 0;
    let bCalls = 0;
    monitor.register({ name: 'a', check: () => void aCalls++ }); // settles synchronously: its event reaches the listener mid-start
    monitor.register({ name: 'b', check: () => void bCalls++ });
    let joined: ReturnType<typeof track> | undefined;
    events.on('health.check', () => {
      joined ??= track(monitor.runOnce());
    });
    const report = await monitor.runOnce();
    await clock.flush();
    expect(aCalls).toBe(1);
    expect(bCalls).toBe(1);
    expect(monitor.status('a')?.runs).toBe(1);
    expect(monitor.status('b')?.runs).toBe(1);
    expect(joined?.settled).toBe(true);
    expect(joined?.value).toEqual(report);
  });

  it('a listener that calls stop() during the first run leaves no timer behind', async () => {
    const { clock, events, monitor } = setup({ intervalMs: 1_000 });
    events.on('health.check', () => monitor.stop());
    monitor.register({ name: 'db', check: () => undefined });
    monitor.start();
    expect(monitor.running).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('listeners', () => {
  it('a throwing listener changes no outcome', async () => {
    const { events, monitor, ofType } = setup();
    events.on('health.check', () => {
      throw new Error('listener broke');
    });
    events.on('health.status_change', () => {
      throw new Error('listener broke too');
    });
    monitor.register({ name: 'db', check: () => undefined });
    monitor.register({ name: 'cache', check: () => false });
    const report = await monitor.runOnce();
    expect(report.checks.db?.status).toBe('pass');
    expect(report.checks.cache?.status).toBe('fail');
    expect(monitor.status('db')?.runs).toBe(1);
    // Each throw is reported as its own event, and the run went on.
    expect(ofType('core.listener_error').map((e) => e.eventType).sort()).toEqual([
      'health.check',
      'health.check',
      'health.status_change',
      'health.status_change',
    ]);
  });

  it('builds no event when nobody listens', async () => {
    const clock = createVirtualClock();
    const events = {
      on: () => () => {},
      emit: () => {
        throw new Error('must not emit');
      },
      hasListeners: () => false,
      track: () => () => {},
      tracked: () => [],
    };
    const monitor = createHealthMonitor({ clock, events });
    monitor.register({ name: 'db', check: scripted([true, false]) });
    await monitor.runOnce();
    await monitor.runOnce();
    expect(monitor.status('db')?.state).toBe('unhealthy');
  });
});

describe('register and unregister', () => {
  it('rejects duplicate and empty names, and malformed definitions, with INVALID_OPTIONS', () => {
    const { monitor } = setup();
    monitor.register({ name: 'db', check: () => undefined });
    const bad: unknown[] = [
      { name: 'db', check: () => undefined },
      { name: '', check: () => undefined },
      { check: () => undefined },
      { name: 'x' },
      { name: 'x', check: 'ping' },
      { name: 'x', check: () => undefined, value: () => 1 },
      { name: 'x', check: () => undefined, max: 1 },
      { name: 'x', value: () => 1 },
      { name: 'x', value: () => 1, min: 5, max: 4 },
      { name: 'x', value: () => 1, max: Number.NaN },
      { name: 'x', value: () => 1, min: -Infinity },
      { name: 'x', check: () => undefined, timeoutMs: 0 },
      { name: 'x', check: () => undefined, timeoutMs: 2 ** 31 },
      { name: 'x', check: () => undefined, critical: 'yes' },
      { name: 'x', check: () => undefined, failureThreshold: 0 },
      { name: 'x', check: () => undefined, successThreshold: 1.5 },
      { name: 'x', check: () => undefined, timeout: 100 },
      null,
      'db',
    ];
    for (const definition of bad) {
      let error: unknown;
      try {
        monitor.register(definition as never);
      } catch (e) {
        error = e;
      }
      expect(isXError(error, 'INVALID_OPTIONS'), JSON.stringify(definition)).toBe(true);
    }
    expect(monitor.statuses().map((s) => s.name)).toEqual(['db']);
  });

  it('registers the checks option at construction and validates them there', () => {
    const clock = createVirtualClock();
    const monitor = createHealthMonitor({ clock, checks: [{ name: 'a', check: () => undefined }, { name: 'b', value: () => 1, max: 2 }] });
    expect(monitor.statuses().map((s) => [s.name, s.kind])).toEqual([['a', 'ping'], ['b', 'threshold']]);
    expect(() => createHealthMonitor({ clock, checks: [{ name: 'a', check: () => undefined }, { name: 'a', check: () => undefined }] })).toThrow(
      /a name no other check/,
    );
  });

  it('unregistering aborts the check in flight and ignores its result; the name can be reused', async () => {
    const { clock, monitor, ofType } = setup({ timeoutMs: 5_000 });
    let seenSignal: AbortSignal | undefined;
    const remove = monitor.register({
      name: 'db',
      check: (signal) => {
        seenSignal = signal;
        return sleep(1_000, { clock, signal });
      },
    });
    const run = track(monitor.runOnce());
    await clock.advance(10);
    remove();
    remove();
    expect(seenSignal?.aborted).toBe(true);
    expect(clock.pendingTimers).toBe(0);
    await clock.flush();
    expect(run.settled).toBe(true);
    expect(monitor.status('db')).toBeUndefined();
    expect(ofType('health.check')).toHaveLength(0);
    monitor.register({ name: 'db', check: () => undefined });
    await monitor.runOnce();
    expect(monitor.status('db')?.healthy).toBe(true);
  });
});

describe('runOnce', () => {
  it('resolves with the report after the run', async () => {
    const { monitor } = setup();
    monitor.register({ name: 'db', check: () => undefined });
    const report = await monitor.runOnce();
    expect(report).toMatchObject({ name: 'api', status: 'pass', healthy: true });
  });

  it('reuses results younger than maxAgeMs instead of running the checks again', async () => {
    const { clock, monitor } = setup();
    let calls = 0;
    monitor.register({ name: 'db', check: () => void calls++ });
    await monitor.runOnce({ maxAgeMs: 1_000 }); // never ran: runs
    await clock.advance(999);
    await monitor.runOnce({ maxAgeMs: 1_000 });
    expect(calls).toBe(1);
    await clock.advance(2);
    await monitor.runOnce({ maxAgeMs: 1_000 });
    expect(calls).toBe(2);
    await monitor.runOnce();
    expect(calls).toBe(3);
    expect(() => monitor.runOnce({ maxAgeMs: -1 })).toThrow(/maxAgeMs/);
  });

  it('runs a check registered while a scheduled run is in progress, in a follow-up run once that run ends', async () => {
    const { clock, monitor } = setup({ intervalMs: 60_000, timeoutMs: 5_000 });
    const slow = manual<void>();
    let slowCalls = 0;
    monitor.register({ name: 'slow', check: () => (slowCalls++, slow.promise) });
    monitor.start(); // a run in progress, waiting on "slow"
    let addedCalls = 0;
    monitor.register({ name: 'added', check: () => void addedCalls++ });
    const first = track(monitor.runOnce());
    const second = track(monitor.runOnce());
    await clock.flush();
    // Runs never overlap: the follow-up waits for the run in progress.
    expect(addedCalls).toBe(0);
    expect(slowCalls).toBe(1);
    slow.resolve();
    await clock.flush();
    expect(first.settled).toBe(true);
    expect(addedCalls).toBe(1); // one follow-up run shared by both calls
    expect(slowCalls).toBe(2);
    expect(first.value?.checks.added?.status).toBe('pass');
    expect(first.value?.checks.slow?.status).toBe('pass');
    expect(second.value).toEqual(first.value);
    monitor.stop();
  });

  it('resolves at once with no checks', async () => {
    const { monitor } = setup();
    await expect(monitor.runOnce()).resolves.toMatchObject({ status: 'pass', checkedAt: null, checks: {} });
  });
});

describe('report', () => {
  it('is a plain JSON-ready object with per-check details', async () => {
    const { clock, monitor } = setup({ timeoutMs: 100 });
    monitor.register({ name: 'db', check: (signal) => sleep(5, { clock, signal }) });
    monitor.register({ name: 'queue_depth', value: () => 12, max: 10, critical: false });
    monitor.register({ name: 'hung', check: () => new Promise(() => {}), critical: false });
    const run = monitor.runOnce();
    await clock.advance(100);
    await run;
    const report = monitor.report();
    const start = clock.now() - 100;
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
    expect(report).toEqual({
      name: 'api',
      status: 'warn',
      healthy: true,
      checkedAt: start + 100,
      checks: {
        db: {
          status: 'pass',
          critical: true,
          lastCheckedAt: start + 5,
          durationMs: 5,
          successRate: 1,
          consecutiveFailures: 0,
          error: null,
          code: null,
        },
        queue_depth: {
          status: 'fail',
          critical: false,
          lastCheckedAt: start,
          durationMs: 0,
          successRate: 0,
          consecutiveFailures: 1,
          error: '"queue_depth" is 12, above the maximum 10',
          code: 'HEALTH_THRESHOLD',
          value: 12,
        },
        hung: {
          status: 'fail',
          critical: false,
          lastCheckedAt: start + 100,
          durationMs: 100,
          successRate: 0,
          consecutiveFailures: 1,
          error: 'api: health check "hung" timed out after 100 ms',
          code: 'HEALTH_CHECK_TIMEOUT',
        },
      },
    });
  });

  it('hides failure messages with errors: false', async () => {
    const { monitor } = setup();
    monitor.register({ name: 'db', check: () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.7:5432')) });
    await monitor.runOnce();
    expect(monitor.report({ errors: false }).checks.db).toMatchObject({ status: 'fail', error: null, code: null });
    expect(monitor.report().checks.db?.error).toBe('connect ECONNREFUSED 10.0.0.7:5432');
  });

  it('reports unknown checks and non-Error failures safely, and a check named __proto__ as an own key', async () => {
    const { monitor } = setup();
    monitor.register({ name: '__proto__', check: () => Promise.reject('plain string') });
    monitor.register({ name: 'later', check: () => undefined });
    expect(monitor.report().checks.later?.status).toBe('unknown');
    await monitor.runOnce();
    const report = monitor.report();
    expect(Object.getPrototypeOf(report.checks)).toBe(Object.prototype);
    expect(Object.keys(report.checks)).toEqual(['__proto__', 'later']);
    expect(Object.getOwnPropertyDescriptor(report.checks, '__proto__')?.value).toMatchObject({ error: 'plain string' });
  });
});
