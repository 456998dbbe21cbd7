import { sha1 } from './sha1.js';

/** A Lua script with its SHA-1, as {@link StoreCaller.script} sends it (EVALSHA, then EVAL). */
export interface StoreScript {
  readonly source: string;
  /** Lowercase hex SHA-1 of the source's UTF-8 bytes: the name Redis caches the script under. */
  readonly sha: string;
}

/**
 * Prepares a Lua script once per process: computes its SHA-1 so calls can use EVALSHA (the script
 * body is sent only when Redis does not know it yet).
 *
 * @example
 * ```ts
 * const RELEASE = defineScript(`if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`);
 * const result = await caller.script(RELEASE, [key], [token]);
 * ```
 */
export function defineScript(source: string): StoreScript {
  return Object.freeze({ source, sha: sha1(source) });
}

/**
 * True when Redis answered that it does not have the script cached (after a restart, a failover
 * or `SCRIPT FLUSH`); the caller then sends the script body once.
 *
 * @example
 * ```ts
 * if (isNoScript(error)) resend();
 * ```
 */
export function isNoScript(error: unknown): boolean {
  let message: unknown;
  try {
    message = (error as { message?: unknown } | null)?.message;
  } catch {
    return false;
  }
  return typeof message === 'string' && message.startsWith('NOSCRIPT');
}
