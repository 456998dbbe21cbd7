// Minimal policies built only on the public core helpers, for core's own tests.
import { abortSignalOf, deriveContext, invoke, linkSignal, toContext, toOutcome } from './index.js';
import type { ExecuteOptions, ExecutionContext, Outcome, Policy, PolicyFn } from './index.js';

/** Records entry and exit around the inner call. */
export function tracing(name: string, trace: string[]): Policy {
  return {
    name,
    async execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
      trace.push(`${name}:enter`);
      try {
        return await invoke(fn, toContext(options));
      } finally {
        trace.push(`${name}:exit`);
      }
    },
    executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
      return toOutcome(this.execute(fn, options));
    },
  };
}

/** Adds a typed field to the context, like a policy that tags calls. */
export function tagging<const K extends string, const V>(key: K, value: V): Policy<Record<K, V>> {
  const fields = { [key]: value } as Record<K, V>;
  return {
    name: `tag:${key}`,
    execute<T>(fn: PolicyFn<T, Record<K, V>>, options?: ExecuteOptions): Promise<T> {
      return invoke(fn, deriveContext(toContext(options), { fields }));
    },
    executeOutcome<T>(fn: PolicyFn<T, Record<K, V>>, options?: ExecuteOptions): Promise<Outcome<T>> {
      return toOutcome(this.execute(fn, options));
    },
  };
}

/** Runs fn up to `attempts` times, raising ctx.attempt. */
export function retrying(attempts: number): Policy {
  return {
    name: 'retrying',
    async execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
      const ctx = toContext(options);
      for (let attempt = 1; ; attempt++) {
        try {
          return await invoke(fn, attempt === 1 ? ctx : deriveContext(ctx, { attempt }));
        } catch (error) {
          if (attempt >= attempts) throw error;
        }
      }
    },
    executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
      return toOutcome(this.execute(fn, options));
    },
  };
}

/** Gives each call its own child signal linked to the caller's, as a timeout does. */
export function linking(): Policy {
  return {
    name: 'linking',
    async execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
      const ctx: ExecutionContext = toContext(options);
      const link = linkSignal(abortSignalOf(ctx));
      try {
        return await invoke(fn, deriveContext(ctx, { signal: link.signal }));
      } finally {
        link.dispose();
      }
    },
    executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
      return toOutcome(this.execute(fn, options));
    },
  };
}

/** A hand-written policy whose `execute` throws synchronously (a bug, or a validation throw). */
export function throwingSync(error: unknown): Policy {
  return {
    name: 'sync-throw',
    execute<T>(_fn: PolicyFn<T>, _options?: ExecuteOptions): Promise<T> {
      throw error;
    },
    executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
      return toOutcome(this.execute(fn, options));
    },
  };
}

/** Calls the function directly, without `invoke`: a synchronous throw inside escapes as a throw. */
export function direct(): Policy {
  return {
    name: 'direct',
    execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
      return fn(toContext(options)) as Promise<T>;
    },
    executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
      return toOutcome(this.execute(fn, options));
    },
  };
}

/** The context helpers of one module instance of core. */
export interface CoreHelpers {
  readonly toContext: typeof toContext;
  readonly deriveContext: typeof deriveContext;
  readonly invoke: typeof invoke;
}

/** Adds `fields` through `deriveContext` of the given core instance (default: this one). */
export function adding(fields: object, core: CoreHelpers = { toContext, deriveContext, invoke }): Policy {
  return {
    name: 'adding',
    execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
      return core.invoke(fn, core.deriveContext(core.toContext(options), { fields }));
    },
    executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
      return toOutcome(this.execute(fn, options));
    },
  };
}
