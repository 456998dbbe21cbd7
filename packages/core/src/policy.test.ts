import { hostilePromise, reentrantHostilePromise } from '@x/test-support';
import { describe, expect, it, vi } from 'vitest';
import { FailureResultError, XError, compose, createEventBus, defaultEventBus, deriveContext, fallback, invoke, isXError, toContext, toOutcome, toPromise } from './index.js';
import type { ExecuteOptions, ExecutionContext, FallbackServedEvent, Outcome, Policy, PolicyFn } from './index.js';
import { createVirtualClock } from './testing.js';
import { adding, direct, linking, retrying, tagging, throwingSync, tracing } from './test-policies.js';

/** Whether `run` threw synchronously (and what), and the promise it returned otherwise. */
function call<T>(run: () => Promise<T>): { threw: unknown; result: Promise<T> | undefined } {
  try {
    return { threw: undefined, result: run() };
  } catch (error) {
    return { threw: error, result: undefined };
  }
}

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

  it('rejects, never throws, when a layer throws synchronously from execute (outer or inner)', async () => {
    const boom = new Error('sync');
    for (const policy of [compose(throwingSync(boom), adding({})), compose(direct(), throwingSync(boom))]) {
      const { threw, result } = call(() => policy.execute(() => 1));
      expect(threw).toBeUndefined();
      await expect(result).rejects.toBe(boom);
    }
  });

  it('executeOutcome resolves to { ok: false, error }, never throws, when the outer layer throws synchronously', async () => {
    const boom = new Error('sync');
    for (const policy of [compose(throwingSync(boom)), compose(throwingSync(boom), adding({}))]) {
      const { threw, result } = call(() => policy.executeOutcome(() => 1));
      expect(threw).toBeUndefined();
      await expect(result).resolves.toEqual({ ok: false, error: boom });
    }
  });

  it('works with a single policy, nested compositions, and a layer that runs the function twice', async () => {
    const twice: Policy = {
      name: 'twice',
      async execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
        const ctx = toContext(options);
        await invoke(fn, ctx);
        return invoke(fn, deriveContext(ctx, { attempt: 2 }));
      },
      executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
        return toOutcome(this.execute(fn, options));
      },
    };
    expect(await compose(adding({ a: 1 })).execute((ctx) => (ctx as unknown as { a: number }).a)).toBe(1);
    const attempts: Array<[number, unknown, unknown]> = [];
    const nested = compose(compose(adding({ a: 1 }), twice), compose(adding({ b: 2 })));
    await nested.execute((ctx) => {
      const c = ctx as unknown as { a: number; b: number };
      attempts.push([ctx.attempt, c.a, c.b]);
    });
    expect(attempts).toEqual([
      [1, 1, 2],
      [2, 1, 2],
    ]);
  });

  it('passes fields added by a policy built on another copy of core through to the function', async () => {
    vi.resetModules();
    const copy = (await import('./index.js')) as typeof import('./index.js');
    expect(copy.deriveContext).not.toBe(deriveContext); // really a second module instance
    const policy = compose(adding({ tenant: 'acme' }), adding({ region: 'eu' }, copy));
    const seen = await policy.execute((ctx) => ({ ...(ctx as unknown as Record<string, unknown>) }));
    expect(seen).toMatchObject({ region: 'eu', tenant: 'acme' });
  });

  it('refuses to compose nothing, a factory, {} or null with INVALID_OPTIONS naming the argument', () => {
    const loose = compose as (...p: unknown[]) => unknown;
    const fail = (...args: unknown[]): XError => {
      try {
        loose(...args);
      } catch (error) {
        return error as XError;
      }
      throw new Error('compose accepted it');
    };
    expect(fail()).toMatchObject({ code: 'INVALID_OPTIONS', option: 'policies' });
    const createRetry = (o: object) => o; // a factory passed by mistake
    expect(fail(createRetry)).toMatchObject({ code: 'INVALID_OPTIONS', option: 'policies[0]' });
    expect(fail(createRetry).message).toContain('call the factory');
    expect(fail({})).toMatchObject({ code: 'INVALID_OPTIONS', option: 'policies[0]' });
    expect(fail(tracing('a', []), null)).toMatchObject({ code: 'INVALID_OPTIONS', option: 'policies[1]' });
  });

  it('refuses a fn that is not a function, and a wrong signal or deadline, at execute, before any layer runs', async () => {
    const trace: string[] = [];
    const policy = compose(tracing('a', trace));
    const loose = policy as unknown as { execute(fn: unknown, o?: unknown): Promise<unknown>; executeOutcome(fn: unknown, o?: unknown): Promise<Outcome<unknown>> };
    await expect(loose.execute('not a function')).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'fn' });
    expect(await loose.executeOutcome(undefined)).toMatchObject({ ok: false, error: { code: 'INVALID_OPTIONS', option: 'fn' } });
    for (const deadline of [null, NaN, '100', {}]) {
      await expect(loose.execute(() => 1, { deadline })).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'deadline' });
    }
    for (const signal of [42, null, {}, 'x']) {
      await expect(loose.execute(() => 1, { signal })).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'signal' });
    }
    await expect(loose.execute(() => 1, 5)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'options' });
    expect(trace).toEqual([]);
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

  it('requires a handler and a policy, with INVALID_OPTIONS', () => {
    expect(() => fallback(tracing('a', []), undefined as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', option: 'handler' }));
    expect(() => fallback({} as never, () => 0)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', option: 'policy' }));
    const handler = vi.fn(() => 0);
    return expect(fallback(handler).execute(42 as never))
      .rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'fn' })
      .then(() => expect(handler).not.toHaveBeenCalled());
  });

  it('treats a value isFailureResult judges a failure like an error: the handler replaces it', async () => {
    const handled: unknown[] = [];
    const safe = fallback(
      tracing('a', []),
      (error) => {
        handled.push(error);
        return { status: 200, cached: true };
      },
      { isFailureResult: (r) => (r as { status: number }).status >= 500 },
    );
    await expect(safe.execute(() => ({ status: 200 }))).resolves.toEqual({ status: 200 });
    await expect(safe.execute(() => ({ status: 503 }))).resolves.toEqual({ status: 200, cached: true });
    expect(handled).toHaveLength(1);
    expect(handled[0]).toBeInstanceOf(FailureResultError);
    expect(handled[0]).toMatchObject({ code: 'FAILURE_RESULT', result: { status: 503 }, policy: 'fallback' });
    expect(isXError(handled[0], 'FAILURE_RESULT')).toBe(true);
    // shouldHandle sees the FailureResultError and may refuse it: the value comes back as it was.
    const picky = fallback(() => 'fallback', { isFailureResult: () => true, shouldHandle: (e) => !isXError(e, 'FAILURE_RESULT') });
    await expect(picky.execute(() => 'bad')).rejects.toMatchObject({ code: 'FAILURE_RESULT', result: 'bad' });
  });

  it('emits fallback.served with the replaced failure once the value is ready, and nothing when no value is served', async () => {
    const events = createEventBus();
    const clock = createVirtualClock({ now: 5_000 });
    const served: FallbackServedEvent[] = [];
    events.on('fallback.served', (e) => served.push(e));
    const boom = new Error('down');
    const safe = fallback(async () => 'cached', { name: 'prices', events, clock, isFailureResult: (v) => v === 'bad' });
    await safe.execute(() => {
      throw boom;
    });
    await safe.execute(() => 'bad');
    await safe.execute(() => 'good');
    expect(served).toHaveLength(2);
    expect(served[0]).toEqual({ type: 'fallback.served', source: 'fallback', name: 'prices', time: 5_000, error: boom, fromResult: false });
    expect(served[1]).toMatchObject({ fromResult: true, error: { code: 'FAILURE_RESULT', result: 'bad' } });
    const failing = fallback(
      () => {
        throw new Error('handler broke');
      },
      { events },
    );
    await expect(failing.execute(() => Promise.reject(boom))).rejects.toThrow('handler broke');
    expect(served).toHaveLength(2);
  });

  it('reports fallback.served on the process-wide bus when given no events option', async () => {
    const served: FallbackServedEvent[] = [];
    const off = defaultEventBus().on('fallback.served', (e) => served.push(e));
    try {
      await fallback(() => 'cached', { name: 'default-bus' }).execute(() => Promise.reject(new Error('down')));
      expect(served.map((e) => e.name)).toEqual(['default-bus']);
    } finally {
      off();
    }
    expect(() => fallback(() => 0, { events: {} as never })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', option: 'events' }));
  });

  it('gives a synchronous throw from the wrapped policy to the handler, in execute and executeOutcome', async () => {
    const boom = new Error('sync');
    const handled: unknown[] = [];
    const safe = fallback(throwingSync(boom), (error) => {
      handled.push(error);
      return 'fallback';
    });
    const run = call(() => safe.execute(() => 1));
    expect(run.threw).toBeUndefined();
    await expect(run.result).resolves.toBe('fallback');
    const outcome = call(() => safe.executeOutcome(() => 1));
    expect(outcome.threw).toBeUndefined();
    await expect(outcome.result).resolves.toEqual({ ok: true, value: 'fallback' });
    expect(handled).toEqual([boom, boom]);
  });

  it('rejects invalid options at construction with INVALID_OPTIONS naming the option, value and allowed values', () => {
    const failure = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        return isXError(error) ? `${error.code}: ${error.message}` : `not an XError: ${String(error)}`;
      }
      return 'no error';
    };
    expect(failure(() => fallback(() => 0, { shouldHandle: 'yes' as never }))).toBe(
      'INVALID_OPTIONS: fallback: option "shouldHandle" must be a function, got "yes"',
    );
    expect(failure(() => fallback(tracing('a', []), () => 0, { shouldHandel: () => true } as never))).toMatch(
      /^INVALID_OPTIONS: fallback: option "shouldHandel" must be absent: .*known: name, shouldHandle/,
    );
    expect(failure(() => fallback(() => 0, { name: 42 as never }))).toBe(
      'INVALID_OPTIONS: fallback: option "name" must be a non-empty string, got 42',
    );
    expect(failure(() => fallback(() => 0, { name: '' }))).toMatch(/^INVALID_OPTIONS: .*"name"/);
    expect(failure(() => fallback(() => 0, 'fast' as never))).toMatch(/^INVALID_OPTIONS: .*"options"/);
    expect(fallback(() => 0, { name: 'cache', shouldHandle: () => true }).name).toBe('cache');
    expect(fallback(() => 0, null as never).name).toBe('fallback');
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

describe('promises whose own then() throws', () => {
  // `@x/breaker` hands back the function's own promise, so a policy wrapping it can be given such a
  // promise too; calling `.then` on it must not throw out of `execute`.
  const boom = new Error('then method');

  it('invoke returns a promise that rejects with the error, safe to chain', async () => {
    let result: Promise<unknown> | undefined;
    expect(() => {
      result = invoke(() => hostilePromise(boom), toContext()).then((v) => v);
    }).not.toThrow();
    await expect(result).rejects.toBe(boom);
  });

  it('toPromise hands back a native promise as it is and adopts anything else, never throwing', async () => {
    const own = Promise.resolve(1);
    expect(toPromise(own)).toBe(own);
    await expect(toPromise(2)).resolves.toBe(2);
    const thenable = { then: (resolve: (v: number) => void) => resolve(3) } as unknown as PromiseLike<number>;
    await expect(toPromise(thenable)).resolves.toBe(3);
    const replaced = hostilePromise(boom);
    const adopted = toPromise(replaced);
    expect(adopted).not.toBe(replaced);
    expect(adopted.then).toBe(Promise.prototype.then);
    await expect(adopted).rejects.toBe(boom);
    const getter = Promise.resolve(4);
    Object.defineProperty(getter, 'then', {
      get() {
        throw boom;
      },
    });
    let fromGetter: Promise<unknown> | undefined;
    expect(() => {
      fromGetter = toPromise(getter);
    }).not.toThrow();
    await expect(fromGetter).rejects.toBe(boom);
  });

  it('toPromise settles once when a replaced then() registers its handlers and then throws', async () => {
    const seen: unknown[] = [];
    await toPromise(reentrantHostilePromise(boom)).then(
      (value) => seen.push(['value', value]),
      (error: unknown) => seen.push(['error', error]),
    );
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(seen).toEqual([['error', boom]]);
  });

  it('invoke hands back a plain native promise as it is', () => {
    const own = Promise.resolve(1);
    expect(invoke(() => own, toContext())).toBe(own);
  });

  it('fallback serves its value, with or without a wrapped policy, and never throws synchronously', async () => {
    const passThrough: Policy = { name: 'pass', execute: (fn, options) => fn(toContext(options)) as never, executeOutcome: (fn, options) => toOutcome(invoke(fn, toContext(options))) };
    for (const policy of [fallback(() => 'served'), fallback(passThrough, () => 'served')]) {
      let result: Promise<unknown> | undefined;
      expect(() => {
        result = policy.execute(() => hostilePromise(boom));
      }).not.toThrow();
      await expect(result).resolves.toBe('served');
      await expect(policy.executeOutcome(() => hostilePromise(boom))).resolves.toEqual({ ok: true, value: 'served' });
    }
  });
});
