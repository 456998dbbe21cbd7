import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  abortSignalOf,
  deriveContext,
  earliestDeadline,
  isAbortedByCaller,
  isContextAborted,
  remainingMs,
  toContext,
} from './index.js';
import type { ExecutionContext, SignalSource } from './index.js';
import { createVirtualClock } from './testing.js';

class CountingSource implements SignalSource {
  created = 0;
  readonly #controller = new AbortController();
  aborted = false;
  get signal(): AbortSignal {
    this.created++;
    return this.#controller.signal;
  }
  abort() {
    this.aborted = true;
    this.#controller.abort('deadline');
  }
}

describe('toContext', () => {
  it('keeps the fields of a context-like object (one with an attempt), not extra keys of plain options', () => {
    const signal = new AbortController().signal;
    expect(toContext({ attempt: 1, tenant: 'acme' } as never)).toMatchObject({ attempt: 1, tenant: 'acme' });
    expect(toContext({ attempt: 1, tenant: 'acme' } as never)).not.toBe(toContext());
    expect(toContext({ signal, attempt: 2, deadline: 7, tenant: 'acme' } as never)).toMatchObject({ attempt: 2, deadline: 7, tenant: 'acme' });
    expect((toContext({ signal, tenant: 'acme' } as never) as unknown as Record<string, unknown>).tenant).toBeUndefined();
    expect(toContext({ tenant: 'acme' } as never)).toBe(toContext());
  });

  it('builds a first-attempt context from options', () => {
    const controller = new AbortController();
    const ctx = toContext({ signal: controller.signal, deadline: 500 });
    expect(ctx.attempt).toBe(1);
    expect(ctx.deadline).toBe(500);
    expect(ctx.signal).toBe(controller.signal);
  });

  it('returns an existing context unchanged', () => {
    const ctx = toContext();
    expect(toContext(ctx)).toBe(ctx);
  });

  it('hands out a never-aborting signal when nothing can abort, and reports none to waiters', () => {
    const ctx = toContext();
    expect(abortSignalOf(ctx)).toBeUndefined();
    expect(isContextAborted(ctx)).toBe(false);
    expect(ctx.signal.aborted).toBe(false);
  });

  it('shares one context among calls without options, whose signal is fresh per read', () => {
    const shared = toContext();
    expect(toContext()).toBe(shared);
    expect(toContext({})).toBe(shared);
    // User code that leaves listeners behind must not make them pile up across calls.
    const signals = new Set<AbortSignal>();
    for (let i = 0; i < 20; i++) {
      const signal = toContext().signal;
      signal.addEventListener('abort', () => {});
      signals.add(signal);
    }
    expect(signals.size).toBe(20);
    for (const signal of signals) expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    // Children are copies: the shared root never changes.
    deriveContext(shared, { attempt: 2, fields: { tag: 'x' } });
    expect(shared.attempt).toBe(1);
    expect((shared as unknown as Record<string, unknown>).tag).toBeUndefined();
  });

  it('keeps one signal per context when the context is its own', () => {
    const ctx = deriveContext(toContext(), { attempt: 2 });
    expect(ctx.signal).toBe(ctx.signal);
  });

  it('reports the caller signal state', () => {
    const controller = new AbortController();
    const ctx = toContext({ signal: controller.signal });
    expect(abortSignalOf(ctx)).toBe(controller.signal);
    controller.abort();
    expect(isContextAborted(ctx)).toBe(true);
  });
});

describe('isAbortedByCaller', () => {
  it('is true only for an abort whose reason is not a TIMEOUT', () => {
    expect(isAbortedByCaller(toContext())).toBe(false);
    const live = new AbortController();
    expect(isAbortedByCaller(toContext({ signal: live.signal }))).toBe(false);
    const byCaller = new AbortController();
    byCaller.abort(new Error('user left'));
    expect(isAbortedByCaller(toContext({ signal: byCaller.signal }))).toBe(true);
    const byDefault = new AbortController();
    byDefault.abort();
    expect(isAbortedByCaller(toContext({ signal: byDefault.signal }))).toBe(true);
    const byTimeout = new AbortController();
    byTimeout.abort(Object.assign(new Error('timed out'), { code: 'TIMEOUT' }));
    expect(isAbortedByCaller(toContext({ signal: byTimeout.signal }))).toBe(false);
    const hostile = new AbortController();
    hostile.abort(
      Object.defineProperty(new Error('x'), 'code', {
        get() {
          throw new Error('code getter');
        },
      }),
    );
    expect(isAbortedByCaller(toContext({ signal: hostile.signal }))).toBe(true); // not a timeout's reason
  });

  it('reads a lazy source without creating its signal', () => {
    let created = 0;
    const source: SignalSource = {
      get signal() {
        created++;
        return AbortSignal.abort(new Error('x'));
      },
      aborted: false,
    };
    expect(isAbortedByCaller(deriveContext(toContext(), { signal: source }))).toBe(false);
    expect(created).toBe(0);
  });
});

describe('deriveContext', () => {
  it('inherits every field and overrides the given ones', () => {
    const controller = new AbortController();
    const root = toContext({ signal: controller.signal, deadline: 100 });
    const withField = deriveContext(root, { fields: { tenant: 'acme' } });
    const child = deriveContext(withField, { attempt: 3 });
    expect(child.attempt).toBe(3);
    expect(child.deadline).toBe(100);
    expect(child.signal).toBe(controller.signal);
    expect(child.tenant).toBe('acme');
    expect(root.attempt).toBe(1);
  });

  it('sets the deadline, including back to undefined', () => {
    const root = toContext({ deadline: 100 });
    expect(deriveContext(root, { deadline: 50 }).deadline).toBe(50);
    expect(deriveContext(root, { deadline: undefined }).deadline).toBeUndefined();
  });

  it('creates a signal from a source only when someone reads it', () => {
    const source = new CountingSource();
    const child = deriveContext(toContext(), { signal: source });
    expect(source.created).toBe(0);
    expect(isContextAborted(child)).toBe(false);
    expect(source.created).toBe(0);
    const signal = child.signal;
    expect(source.created).toBe(1);
    expect(child.signal).toBe(signal);
    expect(source.created).toBe(1);
    source.abort();
    expect(isContextAborted(child)).toBe(true);
  });

  it('a grandchild of a lazy source shares its signal', () => {
    const source = new CountingSource();
    const child = deriveContext(toContext(), { signal: source });
    const grandchild = deriveContext(child, { attempt: 2 });
    expect(grandchild.signal).toBe(child.signal);
    expect(abortSignalOf(grandchild)).toBe(child.signal);
  });

  it('a replaced signal shadows the parent one without touching it', () => {
    const outer = new AbortController();
    const inner = new AbortController();
    const root = toContext({ signal: outer.signal });
    const child = deriveContext(root, { signal: inner.signal });
    expect(child.signal).toBe(inner.signal);
    expect(root.signal).toBe(outer.signal);
  });

  it('wraps a context-like object from elsewhere', () => {
    const controller = new AbortController();
    const foreign = { signal: controller.signal, attempt: 4, deadline: 9 };
    const child = deriveContext(foreign, { attempt: 5 });
    expect(child.attempt).toBe(5);
    expect(child.deadline).toBe(9);
    expect(child.signal).toBe(controller.signal);
    expect(toContext(foreign).attempt).toBe(4);
  });

  it('keeps the fields of a context-like object from elsewhere', () => {
    const foreign = { signal: new AbortController().signal, attempt: 2, deadline: 9, tenant: 'acme' };
    const child = deriveContext(foreign, { attempt: 3 });
    expect(child.attempt).toBe(3);
    expect(child.tenant).toBe('acme');
    expect(deriveContext(foreign, { fields: { region: 'eu' } })).toMatchObject({ tenant: 'acme', region: 'eu' });
  });

  it('keeps added fields through several layers', () => {
    let ctx: ExecutionContext = toContext({ deadline: 100 });
    ctx = deriveContext(ctx, { fields: { a: 1 } });
    ctx = deriveContext(ctx, { attempt: 2 });
    ctx = deriveContext(ctx, { fields: { b: 2 }, deadline: 50 });
    ctx = deriveContext(ctx, { signal: new AbortController().signal });
    expect(ctx).toMatchObject({ a: 1, b: 2, attempt: 2, deadline: 50 });
  });

  it('throws a TypeError naming the field when fields would overwrite attempt, deadline, signal or an internal field', () => {
    const controller = new AbortController();
    const parent = toContext({ signal: controller.signal, deadline: 500 });
    for (const key of ['attempt', 'deadline', 'signal', '_signal', '_source', '_idle', '_extras']) {
      expect(() => deriveContext(parent, { fields: { tag: 'ok', [key]: 'hijacked' } })).toThrow(
        new RegExp(`fields may not set "${key}"`),
      );
      expect(() => deriveContext(parent, { fields: { [key]: 'hijacked' } })).toThrow(TypeError);
    }
    expect(parent).toMatchObject({ attempt: 1, deadline: 500 });
    expect(parent.signal).toBe(controller.signal);
    // Names that only look alike are fields like any other.
    const child = deriveContext(parent, { fields: { attempts: 3, signalName: 'x' } });
    expect(child).toMatchObject({ attempts: 3, signalName: 'x', attempt: 1 });
    expect(child.signal).toBe(controller.signal);
  });
});

describe('deadlines', () => {
  it('reports remaining time on the clock', async () => {
    const clock = createVirtualClock({ now: 1_000 });
    expect(remainingMs(toContext(), clock)).toBe(Infinity);
    const ctx = toContext({ deadline: 1_500 });
    expect(remainingMs(ctx, clock)).toBe(500);
    await clock.advance(600);
    expect(remainingMs(ctx, clock)).toBe(-100);
  });

  it('earliestDeadline picks the earlier defined one', () => {
    expect(earliestDeadline(undefined, undefined)).toBeUndefined();
    expect(earliestDeadline(5, undefined)).toBe(5);
    expect(earliestDeadline(undefined, 7)).toBe(7);
    expect(earliestDeadline(9, 7)).toBe(7);
  });
});

describe('per-call arguments', () => {
  it('treats undefined signal and deadline as absent, and accepts Infinity and a signal from any source', () => {
    expect(toContext({ signal: undefined, deadline: undefined }).deadline).toBeUndefined();
    expect(toContext({ deadline: Infinity }).deadline).toBe(Infinity);
    const controller = new AbortController();
    expect(toContext({ signal: controller.signal }).signal).toBe(controller.signal);
    expect(toContext(null as never).attempt).toBe(1);
  });

  it('rejects a null, NaN, string or object deadline, and a signal that is not one, the same way for every policy', () => {
    for (const deadline of [null, NaN, '5', {}, [1]]) {
      expect(() => toContext({ deadline } as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', option: 'deadline' }));
    }
    for (const signal of [42, null, true, {}, { aborted: false }]) {
      expect(() => toContext({ signal } as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', option: 'signal' }));
    }
    expect(() => toContext(42 as never)).toThrow(/execute: option "options" must be an object/);
  });
});
