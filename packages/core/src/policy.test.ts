import { describe, expect, it } from 'vitest';
import { XError, compose, fallback, invoke, isXError, toContext } from './index.js';
import type { ExecutionContext } from './index.js';
import { linking, retrying, tagging, tracing } from './test-policies.js';

describe('compose', () => {
  it('nests policies outer to inner around the function', async () => {
    const trace: string[] = [];
    const policy = compose(tracing('a', trace), tracing('b', trace), tracing('c', trace));
    const value = await policy.execute(() => {
      trace.push('fn');
      return 42;
    });
    expect(value).toBe(42);
    expect(trace).toEqual(['a:enter', 'b:enter', 'c:enter', 'fn', 'c:exit', 'b:exit', 'a:exit']);
    expect(policy.name).toBe('a → b → c');
  });

  it('makes fields added by any layer visible to the function', async () => {
    const policy = compose(tagging('tag', 'outer'), retrying(3), linking());
    const seen: Array<Pick<ExecutionContext, 'attempt'> & { tag: string }> = [];
    const value = await policy.execute((ctx) => {
      seen.push({ attempt: ctx.attempt, tag: ctx.tag });
      if (ctx.attempt < 3) throw new Error('again');
      return 'ok';
    });
    expect(value).toBe('ok');
    expect(seen).toEqual([
      { attempt: 1, tag: 'outer' },
      { attempt: 2, tag: 'outer' },
      { attempt: 3, tag: 'outer' },
    ]);
  });

  it('passes the caller signal and deadline through every layer', async () => {
    const controller = new AbortController();
    const policy = compose(tagging('tag', 'x'), retrying(1));
    const ctx = await policy.execute((c) => c, { signal: controller.signal, deadline: 1234 });
    expect(ctx.signal).toBe(controller.signal);
    expect(ctx.deadline).toBe(1234);
  });

  it('propagates the function failure unchanged', async () => {
    const boom = new Error('boom');
    await expect(
      compose(tracing('a', []), tracing('b', [])).execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
  });

  it('executeOutcome reports failures as values', async () => {
    const policy = compose(tracing('a', []), tracing('b', []));
    expect(await policy.executeOutcome(() => 1)).toEqual({ ok: true, value: 1 });
    const boom = new Error('boom');
    expect(
      await policy.executeOutcome(() => {
        throw boom;
      }),
    ).toEqual({ ok: false, error: boom });
    expect(await compose(tracing('only', [])).executeOutcome(async () => 'x')).toEqual({ ok: true, value: 'x' });
  });

  it('refuses to compose nothing', () => {
    expect(() => (compose as (...p: never[]) => unknown)()).toThrow(TypeError);
  });
});

describe('fallback', () => {
  it('receives the failure and the context, and its value replaces the error', async () => {
    const boom = new XError('BREAKER_OPEN', 'open');
    let received: { error: unknown; attempt: number } | undefined;
    const policy = fallback(tracing('inner', []), (error, ctx) => {
      received = { error, attempt: ctx.attempt };
      return 'fallback value';
    });
    const value = await policy.execute(() => {
      throw boom;
    });
    expect(value).toBe('fallback value');
    expect(received).toEqual({ error: boom, attempt: 1 });
  });

  it('leaves successful values alone', async () => {
    const policy = fallback(tracing('inner', []), () => 'unused');
    expect(await policy.execute(() => 'real')).toBe('real');
  });

  it('works as the outermost layer of a composition', async () => {
    const trace: string[] = [];
    const policy = compose(
      fallback(async (error) => (isXError(error, 'INVALID_OPTIONS') ? 'bad config' : 'other')),
      tracing('inner', trace),
    );
    expect(
      await policy.execute(() => {
        throw new XError('INVALID_OPTIONS', 'x');
      }),
    ).toBe('bad config');
    expect(trace).toEqual(['inner:enter', 'inner:exit']);
  });

  it('rethrows failures that shouldHandle declines', async () => {
    const boom = new Error('not mine');
    const policy = fallback(() => 'x', { shouldHandle: (e) => isXError(e) });
    await expect(
      policy.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
  });

  it('never replaces the caller’s own abort with a value', async () => {
    const controller = new AbortController();
    const reason = new Error('user navigated away');
    const policy = fallback(() => 'should not be used');
    const pending = policy.execute(
      (ctx) =>
        new Promise((_, reject) => {
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
        }),
      { signal: controller.signal },
    );
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('replaces a failure caused by an enclosing timeout firing, which is not the caller’s abort', async () => {
    const controller = new AbortController();
    const timedOut = Object.assign(new Error('timed out'), { code: 'TIMEOUT' });
    const handled: unknown[] = [];
    const policy = fallback((error) => {
      handled.push(error);
      return 'cached';
    });
    const pending = policy.execute(
      (ctx) =>
        new Promise((_, reject) => {
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
        }),
      { signal: controller.signal },
    );
    controller.abort(timedOut);
    await expect(pending).resolves.toBe('cached');
    expect(handled).toEqual([timedOut]);
  });

  it('rejects with the handler’s own error when the handler fails', async () => {
    const policy = fallback(() => {
      throw new Error('handler broke');
    });
    await expect(
      policy.execute(() => {
        throw new Error('first');
      }),
    ).rejects.toThrow('handler broke');
  });

  it('executeOutcome reports the fallback value as a success', async () => {
    const policy = fallback(() => 0);
    expect(
      await policy.executeOutcome(() => {
        throw new Error('x');
      }),
    ).toEqual({ ok: true, value: 0 });
  });

  it('treats null options from plain-JS callers as none, in execute and executeOutcome', async () => {
    const composed = compose(tracing('a', []));
    const guarded = fallback(tracing('a', []), () => 0);
    await expect(composed.execute(() => 1, null as never)).resolves.toBe(1);
    await expect(composed.executeOutcome(() => 1, null as never)).resolves.toEqual({ ok: true, value: 1 });
    await expect(guarded.executeOutcome(() => 1, null as never)).resolves.toEqual({ ok: true, value: 1 });
  });

  it('requires a handler', () => {
    expect(() => fallback(tracing('a', []), undefined as never)).toThrow(TypeError);
  });
});

describe('invoke', () => {
  it('turns a synchronous throw into a rejection', async () => {
    const boom = new Error('sync');
    const result = invoke(() => {
      throw boom;
    }, toContext());
    await expect(result).rejects.toBe(boom);
  });
});
