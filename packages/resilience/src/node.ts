import { readFileSync, watch as fsWatch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { checkClock, checkNumber, InvalidOptionsError, readOptions, unrefTimer } from '@x/core';
import type { Clock, TimerHandle, XEvent } from '@x/core';
import { loadResilienceConfig } from './config.js';
import type { LoadResilienceConfigOptions, ResolvedResilienceConfig } from './config.js';
import type { ReloadReport, Resilience } from './manager.js';
import type { EventBus } from '@x/core';
import { checkEvents } from '@x/core';

/** Options of {@link loadResilienceConfigFile}. */
export interface LoadResilienceConfigFileOptions extends LoadResilienceConfigOptions {}

function formatOf(path: string, format: LoadResilienceConfigOptions['format']): 'auto' | 'json' | 'yaml' {
  if (format !== undefined) return format;
  const ext = extname(path).toLowerCase();
  return ext === '.json' ? 'json' : ext === '.yaml' || ext === '.yml' ? 'yaml' : 'auto';
}

/**
 * Reads a `resilience.yaml` (or `.json`) file, applies overrides from `process.env` (unless
 * `env` is given) and validates it: {@link loadResilienceConfig} on the file's text.
 *
 * @example
 * ```ts
 * import { createResilience } from '@x/resilience';
 * import { loadResilienceConfigFile } from '@x/resilience/node';
 *
 * const resilience = createResilience(await loadResilienceConfigFile('resilience.yaml'));
 * ```
 */
export async function loadResilienceConfigFile(path: string, options: LoadResilienceConfigFileOptions = {}): Promise<ResolvedResilienceConfig> {
  if (typeof path !== 'string' || path === '') throw new InvalidOptionsError('loadResilienceConfigFile', 'path', path, 'a file path');
  const text = await readFile(path, 'utf8');
  return loadResilienceConfig(text, { ...options, env: options.env ?? process.env, format: formatOf(path, options.format) });
}

/** Options of {@link watch}. */
export interface WatchOptions extends LoadResilienceConfigFileOptions {
  /** Quiet time after the last change before reloading, in ms (editors write in several steps). Default 100. */
  readonly debounceMs?: number | undefined;
  /** Clock for the debounce. Default `systemClock`. */
  readonly clock?: Clock | undefined;
  /** Where `resilience.reload_failed` goes. Default `defaultEventBus()`; pass the manager's bus. */
  readonly events?: EventBus | undefined;
  /** Called after each reload with what it applied and skipped. */
  readonly onReload?: ((report: ReloadReport) => void) | undefined;
  /** Called when a reload fails (unreadable or invalid file); the running config stays. */
  readonly onError?: ((error: unknown) => void) | undefined;
}

/** A running file watch. */
export interface ConfigWatcher {
  /** Reads the file and applies it now (what a change does after the debounce). Never rejects: a failure resolves undefined. */
  reload(): Promise<ReloadReport | undefined>;
  /** Stops watching; no reload starts afterwards. Idempotent. */
  close(): void;
}

const WATCH_KEYS = ['env', 'envPrefix', 'format', 'debounceMs', 'clock', 'events', 'onReload', 'onError'];

/**
 * Watches a config file and applies every saved change to `resilience` in place (see
 * `Resilience.update`): a new rate limit takes effect on the next call, an open breaker stays
 * open. A file that cannot be read or is invalid is reported (`resilience.reload_failed`,
 * `onError`) and changes nothing. Watches the file's folder, so editors that save by renaming
 * a temporary file are seen too. The watcher does not keep the process alive.
 *
 * @example
 * ```ts
 * const resilience = createResilience(await loadResilienceConfigFile('resilience.yaml'), { events });
 * const watcher = watch(resilience, 'resilience.yaml', { events, onReload: (r) => console.log(r.applied) });
 * process.on('SIGTERM', () => watcher.close());
 * ```
 */
export function watch(resilience: Resilience, path: string, options: WatchOptions = {}): ConfigWatcher {
  const owner = 'watch';
  if (typeof resilience !== 'object' || resilience === null || typeof resilience.update !== 'function') {
    throw new InvalidOptionsError(owner, 'resilience', resilience, 'a Resilience (createResilience)');
  }
  if (typeof path !== 'string' || path === '') throw new InvalidOptionsError(owner, 'path', path, 'a file path');
  const o = readOptions<WatchOptions>(owner, options, WATCH_KEYS);
  const debounceMs = checkNumber(owner, 'debounceMs', o.debounceMs ?? 100, { min: 0, max: 60_000 });
  const clock = checkClock(owner, o.clock);
  const events = checkEvents(owner, o.events);
  const file = resolve(path);
  const name = basename(file);
  let closed = false;
  let timer: TimerHandle | undefined;
  let lastText: string | undefined;
  let running: Promise<ReloadReport | undefined> = Promise.resolve(undefined);

  const fail = (error: unknown): undefined => {
    if (events.hasListeners('resilience.reload_failed')) {
      events.emit({ type: 'resilience.reload_failed', source: 'resilience', name: resilience.name, time: clock.now(), error } as XEvent);
    }
    try {
      o.onError?.(error);
    } catch {
      // A throwing callback must not stop the watch.
    }
    return undefined;
  };

  const once = async (force: boolean): Promise<ReloadReport | undefined> => {
    if (closed) return undefined;
    try {
      const text = await readFile(file, 'utf8');
      if (!force && text === lastText) return undefined;
      lastText = text;
      const config = await loadResilienceConfig(text, { env: o.env ?? process.env, envPrefix: o.envPrefix, format: formatOf(file, o.format) });
      if (closed) return undefined;
      const report = resilience.update(config);
      try {
        o.onReload?.(report);
      } catch {
        // Ignored, as above.
      }
      return report;
    } catch (error) {
      return fail(error);
    }
  };
  // Reloads run one after another, never overlapping.
  const reload = (force: boolean): Promise<ReloadReport | undefined> => (running = running.then(() => once(force)));

  let watcher: FSWatcher | undefined;
  try {
    watcher = fsWatch(dirname(file), { persistent: false }, (_event, changed) => {
      if (closed || (changed !== null && changed !== name && String(changed) !== name)) return;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = unrefTimer(
        clock.setTimeout(() => {
          timer = undefined;
          void reload(false);
        }, debounceMs),
      );
    });
    watcher.on('error', fail);
  } catch (error) {
    throw new InvalidOptionsError(owner, 'path', path, `a file in a folder that can be watched (${(error as Error).message})`);
  }
  // Remember the text in force now (read before watching returns, so a save that follows at once
  // is not mistaken for it): touching the file without changing it does not reload.
  try {
    lastText = readFileSync(file, 'utf8');
  } catch {
    lastText = undefined;
  }

  return {
    reload: () => reload(true),
    close: () => {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      watcher?.close();
    },
  };
}

export { loadResilienceConfig } from './config.js';
