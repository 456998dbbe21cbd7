import { hostilePromise, unhandledRejections } from '@x/test-support';
import { describe, expect, it } from 'vitest';
import { isXError } from '../errors.js';
import { createEventBus } from '../events.js';
import type { XEvent } from '../events.js';
import { createVirtualClock } from '../testing.js';
import { StoreCaller } from './caller.js';
import type { StoreClient, StoreResult } from './caller.js';
import { StoreGuard } from './guard.js';
import { defineScript } from './script.js';

const SCRIPT = defineScript('return 1');

/** A scriptable fake client: each call goes through `reply`. */
function fakeClient(reply: (command: string, args: unknown[]) => unknown, status: string | undefined = 'ready') {
  const calls: { command: string; args: unknown[] }[] = [];
  const listeners = new Map<string, (() => void)[]>();
  const client = {
    status,
    evalsha: (...args: unknown[]) => {
      calls.push({ command: 'evalsha', args });
      return reply('evalsha', args);
    },
    eval: (...args: unknown[]) => {
      calls.push({ command: 'eval', args });
      return reply('eval', args);
    },
    once(event: string, listener: () => void) {
      listeners.set(event, [...(listeners.get(event) ?? []), listener]);
      return client;
    },
    emit(event: string) {
      const list = listeners.get(event) ?? [];
      listeners.delete(event);
      for (const listener of list) listener();
    },
    listenerCount: (event: string) => listeners.get(event)?.length ?? 0,
  };
  return { client, calls };
}

function setup(reply: (command: string, args: unknown[]) => unknown, status?: string, withGuard = false) {
  const clock = createVirtualClock();
  const events = createEventBus();
  const seen: XEvent[] = [];
  events.on('*', (event) => seen.push(event));
  const guard = withGuard
    ? new StoreGuard({ source: 'test', name: 'store', mode: 'closed', failureThreshold: 3, cooldownMs: 1_000, clock, events })
    : undefined;
  const { client, calls } = fakeClient(reply, status);
  const caller = new StoreCaller(client as StoreClient & typeof client, { owner: 'testStore', timeoutMs: 50, clock, guard });
  return { clock, caller, client, calls, guard, seen };
}

const failed = (result: StoreResult) => {
  expect(result.ok).toBe(false);
  return result as Extract<StoreResult, { ok: false }>;
};

describe('StoreCaller', () => {
  it('sends EVALSHA with keys then args and resolves the reply', async () => {
    const { caller, calls } = setup(() => Promise.resolve('OK'));
    await expect(caller.script(SCRIPT, ['k1', 'k2'], ['a', 3])).resolves.toEqual({ ok: true, value: 'OK' });
    expect(calls).toEqual([{ command: 'evalsha', args: [SCRIPT.sha, 2, 'k1', 'k2', 'a', 3] }]);
  });

  it('resends the script body once when Redis answers NOSCRIPT', async () => {
    const { caller, calls } = setup((command) =>
      command === 'evalsha' ? Promise.reject(new Error('NOSCRIPT No matching script')) : Promise.resolve(7),
    );
    await expect(caller.script(SCRIPT, ['k'], [])).resolves.toEqual({ ok: true, value: 7 });
    expect(calls.map((c) => c.command)).toEqual(['evalsha', 'eval']);
    expect(calls[1]?.args[0]).toBe('return 1');
  });

  it('turns a client that throws synchronously into a failed result, never a throw', async () => {
    const boom = new Error('sync boom');
    const { caller } = setup(() => {
      throw boom;
    });
    const result = failed(await caller.script(SCRIPT, ['k'], []));
    expect(result.error).toBe(boom);
    expect(result.timedOut).toBe(false);
  });

  it('turns a client that returns a non-promise into a failed STORE_UNAVAILABLE result', async () => {
    for (const value of [undefined, 42, null]) {
      const { caller } = setup(() => value);
      const result = failed(await caller.command(() => value));
      expect(isXError(result.error, 'STORE_UNAVAILABLE')).toBe(true);
      expect(String((result.error as Error).message)).toMatch(/instead of a promise/);
    }
  });

  it('turns a promise whose then throws into a failed result without an unhandled rejection', async () => {
    const unhandled = unhandledRejections();
    unhandled.start();
    try {
      const { caller } = setup(() => hostilePromise(new Error('then boom')));
      const result = failed(await caller.command((c) => c.evalsha?.('x', 0)));
      expect(String((result.error as Error).message)).toBe('then boom');
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(unhandled.reasons).toEqual([]);
    } finally {
      unhandled.stop();
    }
  });

  it('resolves a stalled call at its deadline and ignores the late reply', async () => {
    let answer!: (value: unknown) => void;
    const { caller, clock } = setup(() => new Promise((resolve) => (answer = resolve)));
    let result: StoreResult | undefined;
    void caller.script(SCRIPT, ['k'], []).then((r) => (result = r));
    await clock.advance(49);
    expect(result).toBeUndefined();
    await clock.advance(2);
    const late = failed(result as StoreResult);
    expect(late.timedOut).toBe(true);
    expect(isXError(late.error, 'STORE_UNAVAILABLE')).toBe(true);
    answer('too late');
    await clock.flush();
    expect(result).toBe(late);
  });

  it('honours a per-call timeoutMs beside the default one', async () => {
    const { caller, clock } = setup(() => new Promise(() => undefined));
    const order: string[] = [];
    void caller.command(() => new Promise(() => undefined), { timeoutMs: 200 }).then(() => order.push('200'));
    void caller.command(() => new Promise(() => undefined)).then(() => order.push('50'));
    await clock.advance(60);
    expect(order).toEqual(['50']);
    await clock.advance(150);
    expect(order).toEqual(['50', '200']);
    expect(() => caller.command(() => Promise.resolve(1), { timeoutMs: 0 })).toThrow(/timeoutMs/);
  });

  it('waits for a connecting client within the deadline on a process’s first calls', async () => {
    const { caller, client, calls, clock } = setup(() => Promise.resolve('OK'), 'connecting');
    const results: StoreResult[] = [];
    for (let i = 0; i < 3; i++) void caller.script(SCRIPT, ['k'], []).then((r) => results.push(r));
    await clock.advance(20);
    expect(calls).toHaveLength(0);
    expect(client.listenerCount('ready')).toBe(1); // one listener, however many callers
    client.status = 'ready';
    client.emit('ready');
    await clock.flush();
    expect(results).toEqual([
      { ok: true, value: 'OK' },
      { ok: true, value: 'OK' },
      { ok: true, value: 'OK' },
    ]);
  });

  it('fails a waiting first call at its deadline when the client never connects', async () => {
    const { caller, clock, calls } = setup(() => Promise.resolve('OK'), 'connecting');
    let result: StoreResult | undefined;
    void caller.script(SCRIPT, ['k'], []).then((r) => (result = r));
    await clock.advance(51);
    expect(failed(result as StoreResult).timedOut).toBe(true);
    expect(calls).toHaveLength(0);
  });

  it('fails at once, without sending, once a client that was ready is not', async () => {
    const { caller, client, calls } = setup(() => Promise.resolve('OK'));
    await caller.script(SCRIPT, ['k'], []);
    client.status = 'reconnecting';
    const result = failed(await caller.script(SCRIPT, ['k'], []));
    expect(String((result.error as Error).message)).toMatch(/"reconnecting"/);
    expect(calls).toHaveLength(1);
  });

  it('skips the store while its guard is degraded and probes it after the cooldown', async () => {
    let fail = true;
    const { caller, clock, calls, guard, seen } = setup(
      () => (fail ? Promise.reject(new Error('down')) : Promise.resolve('OK')),
      'ready',
      true,
    );
    for (let i = 0; i < 3; i++) failed(await caller.script(SCRIPT, ['k'], []));
    expect(guard?.health).toBe('degraded');
    const skipped = failed(await caller.script(SCRIPT, ['k'], []));
    expect(skipped.skipped).toBe(true);
    expect(calls).toHaveLength(3);
    expect(seen.map((e) => e.type)).toEqual(['test.store_error', 'test.store_error', 'test.store_error', 'test.store_degraded']);
    fail = false;
    await clock.advance(1_000);
    await expect(caller.script(SCRIPT, ['k'], [])).resolves.toEqual({ ok: true, value: 'OK' });
    expect(guard?.health).toBe('healthy');
    expect(seen.at(-1)).toMatchObject({ type: 'test.store_recovered', mode: 'closed', degradedForMs: 1_000 });
  });

  it('counts one stall that fails every call in flight as one failure', async () => {
    const { caller, clock, guard, seen } = setup(() => new Promise(() => undefined), 'ready', true);
    const results: StoreResult[] = [];
    for (let i = 0; i < 10; i++) void caller.script(SCRIPT, ['k'], []).then((r) => results.push(r));
    await clock.advance(60);
    expect(results).toHaveLength(10);
    expect(results.every((r) => !r.ok && r.timedOut)).toBe(true);
    expect(guard?.consecutiveFailures).toBe(1);
    expect(guard?.health).toBe('healthy');
    expect(seen.filter((e) => (e.type as string) === 'test.store_error')).toHaveLength(10);
    // Calls made after that failure count again: a lasting outage still degrades the store.
    for (let i = 0; i < 2; i++) {
      void caller.script(SCRIPT, ['k'], []);
      await clock.advance(60);
    }
    expect(guard?.health).toBe('degraded');
  });
});
