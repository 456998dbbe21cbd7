import { gc, unhandledRejections } from '@x/test-support';
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

  it('reads the "*" list when the emit starts: a "*" listener a typed listener removes still receives that emit', () => {
    const bus = createEventBus();
    const seen: string[] = [];
    let offStar = () => {};
    bus.on('core.listener_error', () => {
      seen.push('typed');
      offStar();
    });
    offStar = bus.on('*', () => seen.push('star'));
    bus.emit(ping());
    bus.emit(ping());
    expect(seen).toEqual(['typed', 'star', 'typed']);
  });

  it('does not deliver the current emit to a "*" listener a typed listener adds during it', () => {
    const bus = createEventBus();
    const seen: string[] = [];
    bus.on('core.listener_error', () => {
      seen.push('typed');
      if (seen.length === 1) bus.on('*', () => seen.push('late-star'));
    });
    bus.emit(ping());
    expect(seen).toEqual(['typed']);
    bus.emit(ping());
    expect(seen).toEqual(['typed', 'typed', 'late-star']);
  });

  it('lets a listener unsubscribe itself during an emit without disturbing the others', () => {
    const bus = createEventBus();
    const seen: string[] = [];
    const offSelf = bus.on('core.listener_error', () => {
      seen.push('self');
      offSelf();
    });
    bus.on('core.listener_error', () => seen.push('next'));
    bus.emit(ping());
    bus.emit(ping());
    expect(seen).toEqual(['self', 'next', 'next']);
  });

  it('answers hasListeners per type, counts a "*" listener for every type, and moves the version for "*" too', () => {
    const bus = createEventBus();
    const v0 = bus.version ?? 0;
    const offTyped = bus.on('core.listener_error', () => {});
    expect(bus.hasListeners('core.instance_tracked')).toBe(false);
    const offStar = bus.on('*', () => {});
    expect(bus.version).toBe(v0 + 2);
    expect(bus.hasListeners('core.instance_tracked')).toBe(true);
    offStar();
    offStar();
    expect(bus.version).toBe(v0 + 3);
    expect(bus.hasListeners('core.instance_tracked')).toBe(false);
    offTyped();
    expect(bus.version).toBe(v0 + 4);
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

  it('reports a listener error to the other listeners, never back to the listener that threw', () => {
    const bus = createEventBus({ onUnhandledListenerError: vi.fn() });
    const boom = new Error('exporter bug');
    const thrower = vi.fn((e: XEvent) => {
      if ((e.type as string) === 'test.other') throw boom;
    });
    const reports: unknown[] = [];
    bus.on('*', thrower);
    bus.on('*', (e) => {
      if (e.type === 'core.listener_error') reports.push(e.error);
    });
    bus.emit(other);
    expect(thrower).toHaveBeenCalledTimes(1);
    expect(reports).toEqual([boom]);
  });

  it('sends the error of a lone "*" listener to onUnhandledListenerError with the event it was handling', () => {
    const unhandled = vi.fn();
    const bus = createEventBus({ onUnhandledListenerError: unhandled });
    const boom = new Error('exporter bug');
    const exporter = vi.fn((e: XEvent) => {
      if ((e.type as string) === 'test.other') throw boom;
    });
    bus.on('*', exporter);
    bus.emit(other);
    expect(exporter).toHaveBeenCalledTimes(1);
    expect(unhandled).toHaveBeenCalledTimes(1);
    expect(unhandled).toHaveBeenCalledWith(boom, other);
  });

  it('keeps two always-throwing listeners ("*" and core.listener_error) bounded, and reports both errors', () => {
    const unhandled = vi.fn();
    const bus = createEventBus({ onUnhandledListenerError: unhandled });
    const starError = new Error('star');
    const reporterError = new Error('reporter');
    const star = vi.fn(() => {
      throw starError;
    });
    const reporter = vi.fn((_e: ListenerErrorEvent) => {
      throw reporterError;
    });
    bus.on('*', star);
    bus.on('core.listener_error', reporter);
    expect(() => bus.emit(other)).not.toThrow();
    expect(star).toHaveBeenCalledTimes(1);
    expect(reporter).toHaveBeenCalledTimes(1);
    expect(reporter.mock.calls[0]?.[0]).toMatchObject({ error: starError, eventType: 'test.other' });
    // The reporter's own error, with the report that carried the star's error.
    expect(unhandled).toHaveBeenCalledTimes(1);
    expect(unhandled.mock.calls[0]?.[0]).toBe(reporterError);
    expect(unhandled.mock.calls[0]?.[1]).toMatchObject({ type: 'core.listener_error', error: starError });
  });

  it('never throws from emit, even when onUnhandledListenerError throws (both errors go to console.error)', () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    const reporterError = new Error('reporter broken');
    const listenerError = new Error('listener broken');
    const bus = createEventBus({
      onUnhandledListenerError: () => {
        throw reporterError;
      },
    });
    bus.on('test.other' as never, () => {
      throw listenerError;
    });
    expect(() => bus.emit(other)).not.toThrow();
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy.mock.calls[0]).toContain(reporterError);
    expect(spy.mock.calls[0]).toContain(listenerError);
  });

  it('reports an async listener that rejects as core.listener_error, never as an unhandled rejection', async () => {
    const watch = unhandledRejections();
    watch.start();
    try {
      const bus = createEventBus({ onUnhandledListenerError: vi.fn() });
      const reports: ListenerErrorEvent[] = [];
      const boom = new Error('async listener bug');
      bus.on('core.listener_error', (e) => reports.push(e));
      bus.on('*', async (e) => {
        if ((e.type as string) === 'test.other') throw boom;
      });
      expect(() => bus.emit(other)).not.toThrow();
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatchObject({ type: 'core.listener_error', error: boom, eventType: 'test.other' });
      expect(watch.reasons).toEqual([]);
    } finally {
      watch.stop();
    }
  });

  it('sends a lone async listener rejection, a hostile thenable and a rejecting reporter to onUnhandledListenerError', async () => {
    const watch = unhandledRejections();
    watch.start();
    try {
      const unhandled = vi.fn();
      const bus = createEventBus({ onUnhandledListenerError: unhandled });
      const lone = new Error('lone');
      const thenThrows = new Error('then throws');
      const reporterError = new Error('reporter');
      bus.on('test.other' as never, () => Promise.reject(lone));
      bus.emit(other);
      const bus2 = createEventBus({ onUnhandledListenerError: unhandled });
      bus2.on('test.other' as never, (() => ({
        then() {
          throw thenThrows;
        },
      })) as never);
      bus2.on('core.listener_error', () => Promise.reject(reporterError));
      bus2.emit(other);
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(unhandled.mock.calls.map((c) => c[0])).toEqual([lone, reporterError]);
      expect(watch.reasons).toEqual([]);
    } finally {
      watch.stop();
    }
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

  it('is shared with a second module instance of core', async () => {
    vi.resetModules();
    const copy = (await import('./index.js')) as typeof import('./index.js');
    expect(copy.createEventBus).not.toBe(createEventBus); // really a second module instance
    expect(copy.defaultEventBus()).toBe(defaultEventBus());
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
