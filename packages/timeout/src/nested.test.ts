import { compose, createEventBus, fallback, invoke, isXError, sleep, toContext, toOutcome } from '@x/core';
import type { ExecuteOptions, Outcome, Policy, PolicyFn, XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { createTimeout } from './index.js';
import type { TimeoutError } from './index.js';
import { deferred as manual, track } from '@x/test-support';

/** A pass-through layer that records what the layer inside it rejected with. */
function spy(errors: unknown[]): Policy {
  return {
    name: 'spy',
    execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
      return invoke(fn, toContext(options)).catch((error: unknown) => {
        errors.push(error);
        throw error;
      });
    },
    executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
      return toOutcome(this.execute(fn, options));
    },
  };
}

describe('an outer timeout firing, as seen by inner layers', () => {
  it('an inner aggressive timeout reports an earlier outer deadline as a timeout, not as a caller abort', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const seen: XEvent[] = [];
    events.on('*', (e) => seen.push(e));
    const outer = createTimeout(50, { clock, events, name: 'outer' });
    const inner = createTimeout(1_000, { clock, events, name: 'inner', strategy: 'aggressive' });
    const work = manual<void>();
    const state = track(compose(outer, inner).execute(() => work.promise));
    await clock.advance(50);
    expect(isXError(state.error, 'TIMEOUT')).toBe(true);
    // The work is still running: the aggressive layer gave up on it at its own (inherited) deadline,
    // and the caller's error says so.
    expect(inner.abandoned).toBe(1);
    const abandoned = seen.find((e) => e.type === 'timeout.abandoned' && e.name === 'inner');
    expect({ reason: (abandoned as { reason?: string } | undefined)?.reason, errorAbandoned: (state.error as TimeoutError).abandoned }).toEqual({
      reason: 'timeout',
      errorAbandoned: true,
    });
    work.resolve();
    await clock.flush();
  });

  it('an inner cooperative timeout whose inherited deadline passed rejects with TIMEOUT when the function rejects with its own abort error', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const outer = createTimeout(100, { clock, events, name: 'outer' });
    const inner = createTimeout(1_000, { clock, events, name: 'inner' });
    const between: unknown[] = [];
    const state = track(
      compose(outer, spy(between), inner).execute(
        ({ signal }) =>
          new Promise((_, reject) =>
            signal.addEventListener('abort', () => reject(new DOMException('The operation was aborted.', 'AbortError'))),
          ),
      ),
    );
    await clock.advance(100);
    expect(isXError(state.error, 'TIMEOUT')).toBe(true);
    // What the inner timeout handed to the layer between: its own deadline passed, so TIMEOUT.
    expect(between).toHaveLength(1);
    expect(isXError(between[0], 'TIMEOUT')).toBe(true);
  });
});

describe('a fallback inside a timeout', () => {
  it('serves the fallback value for a timeout, which is not the caller’s own abort', async () => {
    const clock = createVirtualClock();
    const timeout = createTimeout(100, { clock, events: createEventBus() });
    const handled: unknown[] = [];
    const policy = compose(
      timeout,
      fallback((error) => {
        handled.push(error);
        return 'cached';
      }),
    );
    const state = track(policy.execute(({ signal }) => sleep(1_000, { signal, clock }).then(() => 'fresh')));
    await clock.advance(100);
    expect(handled).toHaveLength(1);
    expect(isXError(handled[0], 'TIMEOUT')).toBe(true);
    expect(state.value).toBe('cached');
  });
});

describe('a caller abort at the same instant as the deadline', () => {
  it('the one whose timer was scheduled first wins, for both strategies', async () => {
    for (const strategy of ['cooperative', 'aggressive'] as const) {
      {
        const clock = createVirtualClock();
        const timeout = createTimeout(100, { clock, events: createEventBus(), strategy });
        const caller = new AbortController();
        const reason = new Error('caller');
        clock.setTimeout(() => caller.abort(reason), 100);
        const state = track(timeout.execute(({ signal }) => sleep(1_000, { signal, clock }), { signal: caller.signal }));
        await clock.advance(100);
        expect(state.error).toBe(reason);
      }
      {
        const clock = createVirtualClock();
        const timeout = createTimeout(100, { clock, events: createEventBus(), strategy });
        const caller = new AbortController();
        const state = track(timeout.execute(({ signal }) => sleep(1_000, { signal, clock }), { signal: caller.signal }));
        clock.setTimeout(() => caller.abort(new Error('caller')), 100);
        await clock.advance(100);
        expect(isXError(state.error, 'TIMEOUT')).toBe(true);
      }
    }
  });
});
