import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A forked process serving the `run` export of one TypeScript module (see {@link forkTestWorker}). */
export interface TestWorker<Args extends unknown[] = unknown[]> {
  readonly child: ChildProcess;
  /** Resolves once the module is loaded; rejects when the process exits before. */
  readonly ready: Promise<void>;
  /**
   * Calls the module's `run(...args)` in the child (arguments and result go over IPC, so plain
   * values only). Rejects with the child's error stack, or when the process exits first.
   */
  call<R = unknown>(...args: Args): Promise<R>;
}

/**
 * Forks a real Node process for tests that need several (multi-process Redis tests): it loads
 * `module` (a `.ts` file exporting `run(...args)`) through `tsx`, from the sources of every
 * `@x/*` package it imports (`--conditions=@x/source`), so no build is needed first. `cwd` is
 * where `--import tsx` resolves from: the package's directory, where tsx is installed. Kill the
 * child (`worker.child.kill()`) in `afterAll`; it also exits when its parent disconnects.
 *
 * @example
 * ```ts
 * const worker = forkTestWorker<[Job]>(new URL('./test-fixtures/worker.ts', import.meta.url), { cwd: new URL('..', import.meta.url) });
 * await worker.ready;
 * const result = await worker.call<Result>({ op: 'start' });
 * worker.child.kill();
 * ```
 */
export function forkTestWorker<Args extends unknown[] = unknown[]>(module: URL | string, options: { cwd: URL | string }): TestWorker<Args> {
  const path = (target: URL | string) => (typeof target === 'string' ? target : fileURLToPath(target));
  const child = fork(fileURLToPath(new URL('./worker-boot.mjs', import.meta.url)), [path(module)], {
    execArgv: ['--conditions=@x/source', '--import', 'tsx'],
    cwd: path(options.cwd),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let next = 0;
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code, signal) => {
      const error = new Error(`test worker exited (${signal ?? code})`);
      reject(error);
      for (const call of pending.values()) call.reject(error);
      pending.clear();
    });
    child.on('message', (message: { ready?: boolean; id?: number; result?: unknown; error?: string }) => {
      if (message.ready === true) return resolve();
      const call = pending.get(message.id as number);
      pending.delete(message.id as number);
      if (message.error !== undefined) call?.reject(new Error(message.error));
      else call?.resolve(message.result);
    });
  });
  // A worker killed after it was ready must not leave an unhandled rejection behind.
  ready.catch(() => {});
  return {
    child,
    ready,
    call: <R>(...args: Args) =>
      new Promise<R>((resolve, reject) => {
        const id = next++;
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
        child.send({ id, args });
      }),
  };
}
