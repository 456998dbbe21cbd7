import { createEventBus, isXError } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { breakerPresets, createBreaker, createBreakerGroup } from './index.js';
import { deferred, failing } from './test-support.js';

function makeGroup(options: Parameters<typeof createBreakerGroup>[0] = {}) {
  const clock = createVirtualClock();
  const events = createEventBus();
  return { clock, events, group: createBreakerGroup({ clock, events, ...options }) };
}

describe('createBreakerGroup', () => {
  it('adds, gets and runs named breakers', async () => {
    const { group, clock, events } = makeGroup();
    const db = group.add('database', createBreaker({ ...breakerPresets.conservative, name: 'database', clock, events }));
    expect(group.get('database')).toBe(db);
    expect(group.get('missing')).toBeUndefined();
    expect(await group.execute('database', () => 'rows')).toBe('rows');
    expect(db.stats().totals.successes).toBe(1);
    expect(group.has('database')).toBe(true);
  });

  it('refuses a duplicate name with INVALID_OPTIONS', () => {
    const { group } = makeGroup();
    group.getOrCreate('api');
    let error: unknown;
    try {
      group.add('api', createBreaker({ events: createEventBus() }));
    } catch (e) {
      error = e;
    }
    expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
  });

  it('creates breakers on demand from the group defaults, named after the key', async () => {
    const { group } = makeGroup({ defaults: { failureThreshold: 2 } });
    await group.executeOutcome('api.example.com', failing());
    await group.executeOutcome('api.example.com', failing());
    const api = group.get('api.example.com');
    expect(api?.name).toBe('api.example.com');
    expect(api?.state).toBe('open');
    expect(group.getOrCreate('api.example.com')).toBe(api);
    const outcome = await group.executeOutcome('api.example.com', () => 1);
    expect(outcome.ok).toBe(false);
    // Per-key options override the defaults.
    const strict = group.getOrCreate('strict', { failureThreshold: 1 });
    await strict.executeOutcome(failing());
    expect(strict.state).toBe('open');
  });

  it('reports stats of every breaker and resets them all', async () => {
    const { group } = makeGroup({ defaults: { failureThreshold: 1 } });
    await group.executeOutcome('a', failing());
    await group.execute('b', () => 1);
    const stats = group.statsAll();
    expect(Object.keys(stats)).toEqual(['a', 'b']);
    expect(stats.a?.state).toBe('open');
    expect(stats.b?.totals.successes).toBe(1);
    group.resetAll();
    expect(group.get('a')?.state).toBe('closed');
    expect(group.get('b')?.stats().totals.successes).toBe(0);
  });

  it('bounds the number of keys, evicting the least recently used closed breaker', async () => {
    const { group } = makeGroup({ maxKeys: 3, defaults: { failureThreshold: 1 } });
    await group.execute('a', () => 1);
    await group.executeOutcome('b', failing()); // open: kept in preference to closed ones
    await group.execute('c', () => 1);
    await group.execute('a', () => 1); // a is now the most recent
    await group.execute('d', () => 1); // evicts c (oldest closed, b is open)
    expect(group.names()).toEqual(['b', 'a', 'd']);
    expect(group.size).toBe(3);
  });

  it('never evicts pinned breakers, nor counts them against maxKeys', async () => {
    const { group, events } = makeGroup({ maxKeys: 1 });
    group.add('pinned', createBreaker({ name: 'pinned', events }));
    group.getOrCreate('x');
    group.getOrCreate('y');
    expect(group.names()).toEqual(['pinned', 'y']);
  });

  it('evicts a breaker with running calls only when nothing else can go', async () => {
    const { group } = makeGroup({ maxKeys: 2 });
    const hold = deferred<number>();
    const running = group.execute('busy', () => hold.promise);
    group.getOrCreate('other');
    group.getOrCreate('third'); // evicts "other" (closed, quiet), not "busy"
    expect(group.names()).toEqual(['busy', 'third']);
    hold.resolve(1);
    await running;
  });

  it('evicts breakers idle for idleMs on the virtual clock, keeping running and isolated ones', async () => {
    const { group, clock } = makeGroup({ idleMs: 60_000 });
    await group.execute('idle', () => 1);
    const hold = deferred<number>();
    const running = group.execute('running', () => hold.promise);
    group.getOrCreate('isolated').forceOpen();
    await clock.advance(30_000);
    await group.execute('recent', () => 1);
    await clock.advance(30_000);
    group.get('recent');
    expect(group.has('idle')).toBe(false);
    expect(group.has('running')).toBe(true);
    expect(group.has('isolated')).toBe(true);
    expect(group.has('recent')).toBe(true);
    hold.resolve(1);
    await running;
    await clock.advance(120_000);
    expect(Object.keys(group.statsAll())).toEqual(['isolated']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('removes breakers, and stops reporting the ones it created to exporters', () => {
    const { group, events } = makeGroup();
    group.getOrCreate('a');
    group.add('pinned', createBreaker({ name: 'pinned', events }));
    expect(events.tracked('breaker').map((t) => t.name)).toEqual(['a', 'pinned']);
    expect(group.remove('a')).toBe(true);
    expect(group.remove('pinned')).toBe(true);
    expect(events.tracked('breaker').map((t) => t.name)).toEqual(['pinned']);
    expect(group.remove('a')).toBe(false);
    expect(group.size).toBe(0);
  });

  it('validates its options', () => {
    for (const options of [{ maxKeys: 0 }, { maxKeys: 1.5 }, { idleMs: -1 }, { idleMs: Number.NaN }, { defaults: { openMs: -1 } }, { clock: {} }]) {
      expect(() => createBreakerGroup(options as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    }
  });
});

describe('idle eviction and recent news', () => {
  it('does not idle-evict a breaker that a long call has just opened', async () => {
    const clock = createVirtualClock();
    const group = createBreakerGroup({ clock, events: createEventBus(), idleMs: 1_000, defaults: { failureThreshold: 1, openMs: 60_000 } });
    // The call starts at t=0 (the last "use") and fails at t=1 500, opening the circuit.
    const call = group.executeOutcome('api', () => new Promise((_, reject) => clock.setTimeout(() => reject(new Error('down')), 1_500)));
    await clock.advance(1_500);
    await call;
    let ran = false;
    const next = await group.executeOutcome('api', () => {
      ran = true;
      return 1;
    });
    // Not evicted: a fresh closed breaker would send the call to the dead dependency.
    expect(ran).toBe(false);
    expect(next.ok).toBe(false);
  });

  it('idle eviction keeps a breaker whose two-step permit is still outstanding', async () => {
    const clock = createVirtualClock();
    const group = createBreakerGroup({ clock, events: createEventBus(), idleMs: 1_000 });
    const permit = group.getOrCreate('stream').tryAcquire();
    await clock.advance(5_000);
    group.getOrCreate('other');
    expect(group.has('stream')).toBe(true);
    permit?.success();
    await clock.advance(5_000);
    group.getOrCreate('other');
    expect(group.has('stream')).toBe(false);
  });

});

describe('createBreakerGroup options', () => {
  it('refuses a misspelt option with INVALID_OPTIONS naming it', () => {
    let error: unknown;
    try {
      createBreakerGroup({ idelMs: 1_000 } as never);
    } catch (e) {
      error = e;
    }
    expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
    expect((error as Error).message).toMatch(/^createBreakerGroup: option "idelMs"/);
  });
});
