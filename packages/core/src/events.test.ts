import { gc } from '@x/test-support';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEventBus, defaultEventBus } from './index.js';
import type { ListenerErrorEvent, XEvent } from './index.js';

const ping = (name = 'a'): ListenerErrorEvent => ({
  type: 'core.listener_error',
  source: 'core',
  name,
  time: 1,
  error: null,
  eventType: 'test.ping',
});

// A second event type for routing tests, without declaring it in the map.
const other = { type: 'test.other', source: 'test', name: 'o', time: 2 } as unknown as XEvent;

describe('createEventBus', () => {
  it('delivers to listeners of the type and to wildcard listeners, type listeners first', () => {
    const bus = createEventBus();
    const seen: string[] = [];
    bus.on('*', (e) => seen.push(`*:${e.type}`));
    bus.on('core.listener_error', (e) => seen.push(`typed:${e.name}`));
    bus.emit(ping('x'));
    bus.emit(other);
    expect(seen).toEqual(['typed:x', '*:core.listener_error', '*:test.other']);
  });

  it('reports listeners by type, counting wildcards', () => {
    const bus = createEventBus();
    expect(bus.hasListeners('core.listener_error')).toBe(false);
    const off = bus.on('core.listener_error', () => {});
    expect(bus.hasListeners('core.listener_error')).toBe(true);
    off();
    expect(bus.hasListeners('core.listener_error')).toBe(false);
    const offAll = bus.on('*', () => {});
    expect(bus.hasListeners('core.listener_error')).toBe(true);
    offAll();
    expect(bus.hasListeners('core.listener_error')).toBe(false);
  });

  it('changes its version on every subscribe and unsubscribe, not on emit', () => {
    const bus = createEventBus();
    const v0 = bus.version;
    const off = bus.on('core.listener_error', () => {});
    const v1 = bus.version;
    expect(v1).not.toBe(v0);
    bus.emit(ping());
    expect(bus.version).toBe(v1);
    off();
    expect(bus.version).not.toBe(v1);
    const v2 = bus.version;
    off();
    expect(bus.version).toBe(v2);
  });

  it('unsubscribes only the given listener, and only once', () => {
    const bus = createEventBus();
    const calls: string[] = [];
    const listener = () => calls.push('shared');
    const offA = bus.on('core.listener_error', listener);
    bus.on('core.listener_error', listener);
    offA();
    offA();
    bus.emit(ping());
    expect(calls).toEqual(['shared']);
  });

  it('does not change who receives an emit when listeners change during it', () => {
    const bus = createEventBus();
    const calls: string[] = [];
    let offSecond = () => {};
    bus.on('core.listener_error', () => {
      calls.push('first');
      offSecond();
      bus.on('core.listener_error', () => calls.push('late'));
    });
    offSecond = bus.on('core.listener_error', () => calls.push('second'));
    bus.emit(ping());
    expect(calls).toEqual(['first', 'second']);
    calls.length = 0;
    bus.emit(ping());
    expect(calls).toEqual(['first', 'late']);
  });
});

describe('listener isolation', () => {
  it('keeps delivering and reports a throwing listener as core.listener_error', () => {
    const bus = createEventBus();
    const reports: ListenerErrorEvent[] = [];
    const boom = new Error('listener bug');
    bus.on('core.listener_error', (e) => reports.push(e));
    const after = vi.fn();
    bus.on('*', (e) => {
      if ((e.type as string) === 'test.other') throw boom;
    });
    bus.on('*', after);
    expect(() => bus.emit(other)).not.toThrow();
    expect(after).toHaveBeenCalledWith(other);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ type: 'core.listener_error', source: 'core', name: 'o', error: boom, eventType: 'test.other' });
  });

  it('does not recurse when a listener of core.listener_error throws', () => {
    const unhandled = vi.fn();
    const bus = createEventBus({ onUnhandledListenerError: unhandled });
    let calls = 0;
    bus.on('core.listener_error', () => {
      calls++;
      throw new Error('the reporter itself is broken');
    });
    bus.on('*', (e) => {
      if ((e.type as string) === 'test.other') throw new Error('first');
    });
    expect(() => bus.emit(other)).not.toThrow();
    expect(calls).toBe(1);
    expect(unhandled).toHaveBeenCalledTimes(1);
    expect((unhandled.mock.calls[0]?.[0] as Error).message).toBe('the reporter itself is broken');
  });

  it('falls back to console.error when nobody listens for listener errors', () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    const bus = createEventBus();
    bus.on('*', () => {
      throw new Error('unobserved');
    });
    bus.emit(other);
    expect(spy).toHaveBeenCalledTimes(1);
    expect(String(spy.mock.calls[0]?.[0])).toContain('test.other');
  });
});

describe('defaultEventBus', () => {
  const key = Symbol.for('@x/core.defaultEventBus');
  afterEach(() => {
    delete (globalThis as Record<symbol, unknown>)[key];
  });

  it('is one bus per process, stored under a registered symbol', () => {
    const bus = defaultEventBus();
    expect(defaultEventBus()).toBe(bus);
    expect((globalThis as Record<symbol, unknown>)[key]).toBe(bus);
  });

  it('adopts a bus that another copy of core already installed', () => {
    const foreign = createEventBus();
    (globalThis as Record<symbol, unknown>)[key] = foreign;
    expect(defaultEventBus()).toBe(foreign);
  });
});

describe('tracked instances', () => {
  it('lists live instances by source until untracked', () => {
    const bus = createEventBus();
    const breaker = { state: 'closed' };
    const bulkhead = { active: 1 };
    const untrack = bus.track('breaker', 'db', breaker);
    bus.track('bulkhead', 'pool', bulkhead);
    expect(bus.tracked('breaker')).toEqual([{ source: 'breaker', name: 'db', instance: breaker }]);
    expect(bus.tracked().map((t) => t.name)).toEqual(['db', 'pool']);
    untrack();
    untrack();
    expect(bus.tracked('breaker')).toEqual([]);
  });

  it('announces each tracked instance to listeners', () => {
    const bus = createEventBus();
    const seen: string[] = [];
    bus.on('core.instance_tracked', (e) => seen.push(`${e.instanceSource}/${e.name}`));
    bus.track('bulkhead', 'pool', {});
    expect(seen).toEqual(['bulkhead/pool']);
  });

  it('holds instances weakly, so a forgotten instance is collected and dropped', async () => {
    const bus = createEventBus();
    (() => {
      bus.track('breaker', 'temporary', { state: 'open' });
    })();
    const kept = { state: 'closed' };
    bus.track('breaker', 'kept', kept);
    // deref() keeps a target alive until the end of the job, so collect before looking.
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      gc();
    }
    expect(bus.tracked().map((t) => t.name)).toEqual(['kept']);
  });
});
