import type { CacheSerializer } from './types.js';

/**
 * One cached value with absolute times, so an entry moved from L2 to L1 keeps its TTL (it does not
 * restart). `checkAt` is L1-only: after it, L1 asks L2 again even if the TTL has not run out
 * (bounded L1 TTL, or an invalidation that logically expired the entry).
 *
 * @internal
 */
export class Entry<T> {
  constructor(
    /** The value; undefined for a negative entry. */
    public value: T | undefined,
    /** A cached "not found". */
    public negative: boolean,
    /** Fresh until then (epoch ms of the cache clock). */
    public expiresAt: number,
    /** Servable as a graced (stale) value until then. */
    public staleUntil: number,
    /** L1 serves it without asking L2 until then. */
    public checkAt: number,
  ) {}
}

const VERSION = '1';

/**
 * The L2 form of an entry: `1|<expiresAt>|<staleUntil>|<flags>|<payload>`, times as integer epoch
 * ms, flags `n` for a negative entry (no payload) or `v` for a value.
 *
 * @example
 * ```ts
 * encodeEntry(1_700_000_060_000, 1_700_000_070_000, false, '{"id":1}');
 * // '1|1700000060000|1700000070000|v|{"id":1}'
 * ```
 */
export function encodeEntry(expiresAt: number, staleUntil: number, negative: boolean, payload: string): string {
  return `${VERSION}|${Math.ceil(expiresAt)}|${Math.ceil(staleUntil)}|${negative ? 'n' : 'v'}|${negative ? '' : payload}`;
}

/**
 * Parses an L2 entry; undefined when it is not one (another writer's data, a newer format, a
 * payload the serializer refuses).
 *
 * @example
 * ```ts
 * const entry = decodeEntry(raw, JSON_SERIALIZER, Infinity);
 * ```
 */
export function decodeEntry<T>(raw: string, serializer: CacheSerializer<T>, checkAt: number): Entry<T> | undefined {
  if (typeof raw !== 'string' || raw.charCodeAt(0) !== 49 /* '1' */ || raw.charCodeAt(1) !== 124 /* '|' */) return undefined;
  const a = raw.indexOf('|', 2);
  if (a < 0) return undefined;
  const b = raw.indexOf('|', a + 1);
  if (b < 0 || raw.charCodeAt(b + 2) !== 124) return undefined;
  const expiresAt = Number(raw.slice(2, a));
  const staleUntil = Number(raw.slice(a + 1, b));
  if (!Number.isFinite(expiresAt) || !Number.isFinite(staleUntil)) return undefined;
  const flag = raw.charCodeAt(b + 1);
  if (flag === 110 /* n */) return new Entry<T>(undefined, true, expiresAt, staleUntil, Math.min(checkAt, expiresAt));
  if (flag !== 118 /* v */) return undefined;
  let value: T;
  try {
    value = serializer.deserialize(raw.slice(b + 3));
  } catch {
    return undefined;
  }
  return new Entry<T>(value, false, expiresAt, staleUntil, Math.min(checkAt, expiresAt));
}

/** The default serializer: JSON. */
export const JSON_SERIALIZER: CacheSerializer<never> = {
  serialize: (value) => {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError('the value has no JSON form (a function or a symbol?)');
    return text;
  },
  deserialize: (text) => JSON.parse(text) as never,
};
