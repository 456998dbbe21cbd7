/**
 * Loads the @x packages through their built `dist` (as a user would get them). @x/breaker and
 * @x/retry are optional here: while they are not built or still export nothing, the rows that
 * need them are skipped with a note instead of failing the run.
 */
export interface Loaded<T> {
  readonly mod?: T;
  /** Why `mod` is missing. */
  readonly note?: string;
}

async function load<T>(name: string, required: string[]): Promise<Loaded<T>> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(name)) as Record<string, unknown>;
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    const pkg = name.split('/').slice(0, 2).join('/');
    return { note: `${name} could not be loaded (${reason}); build it with \`pnpm --filter ${pkg} build\`` };
  }
  const missing = required.filter((key) => typeof mod[key] !== 'function');
  if (missing.length > 0) {
    return { note: `${name} does not export ${missing.join(', ')} yet` };
  }
  return { mod: mod as T };
}

/**
 * Loads a built @x package as a user gets it, and its subpath (`'redis'`) when asked; a missing
 * build or factory becomes a note for the row, not a crash.
 */
export async function loadBuilt<M, R = never>(name: string, factory: string, subpath?: string): Promise<{ mod?: M; redis?: R; note?: string }> {
  const main = await load<M>(name, [factory]);
  if (main.mod === undefined || subpath === undefined) return main;
  const sub = await load<R>(`${name}/${subpath}`, []);
  return sub.mod === undefined ? { note: sub.note as string } : { mod: main.mod, redis: sub.mod };
}

/** The slice of @x/breaker the bench uses. */
export interface BreakerModule {
  createBreaker(options: { failureThreshold: number; openMs: number }): {
    execute<T>(fn: () => Promise<T>): Promise<T>;
    executeOutcome<T>(fn: () => Promise<T>): Promise<{ ok: boolean }>;
    forceOpen(): void;
  };
}

/** The slice of @x/retry the bench uses. */
export interface RetryModule {
  createRetry(options: { maxAttempts: number }): {
    execute<T>(fn: () => Promise<T>): Promise<T>;
  };
}

export type TimeoutModule = typeof import('@x/timeout');
export type CoreModule = typeof import('@x/core');

export interface Packages {
  readonly core: CoreModule;
  readonly timeout: Loaded<TimeoutModule>;
  readonly breaker: Loaded<BreakerModule>;
  readonly retry: Loaded<RetryModule>;
}

export async function loadPackages(): Promise<Packages> {
  const core = (await import('@x/core')) as CoreModule;
  const [timeout, breaker, retry] = await Promise.all([
    load<TimeoutModule>('@x/timeout', ['createTimeout']),
    load<BreakerModule>('@x/breaker', ['createBreaker']),
    load<RetryModule>('@x/retry', ['createRetry']),
  ]);
  return { core, timeout, breaker, retry };
}
