import { InvalidOptionsError } from '../errors.js';

const HEX = '0123456789ABCDEF';

function hex4(code: number): string {
  return (HEX[(code >> 12) & 15] as string) + (HEX[(code >> 8) & 15] as string) + (HEX[(code >> 4) & 15] as string) + (HEX[code & 15] as string);
}

/**
 * Encodes one part of a Redis key losslessly, so that distinct parts always give distinct keys and
 * no part can end a hash tag early or reach into another part.
 *
 * - `%`, `{`, `}` and `:` become `%25`, `%7B`, `%7D` and `%3A` (they structure our keys);
 * - a lone UTF-16 surrogate becomes `%uD800`-style text. Redis keys travel as UTF-8, where every
 *   lone surrogate would otherwise turn into the same U+FFFD byte sequence: `'\uD800'` and
 *   `'\uDC00'` would share a key.
 *
 * Every other character (newlines, spaces, emoji as well-formed pairs) passes through, so common
 * keys stay readable in `redis-cli`. Since `%` is always escaped, the output decodes to exactly
 * one input.
 *
 * @example
 * ```ts
 * encodeKeyPart('a:b}');   // 'a%3Ab%7D'
 * encodeKeyPart('x\uD800'); // 'x%uD800'
 * ```
 */
export function encodeKeyPart(part: string): string {
  let out: string | undefined;
  let from = 0;
  const n = part.length;
  for (let i = 0; i < n; i++) {
    const c = part.charCodeAt(i);
    let escaped: string;
    if (c === 37) escaped = '%25';
    else if (c === 123) escaped = '%7B';
    else if (c === 125) escaped = '%7D';
    else if (c === 58) escaped = '%3A';
    else if (c >= 0xd800 && c <= 0xdfff) {
      if (c <= 0xdbff && i + 1 < n) {
        const next = part.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) {
          i++; // a well-formed pair: passes through
          continue;
        }
      }
      escaped = `%u${hex4(c)}`;
    } else continue;
    out = (out ?? '') + part.slice(from, i) + escaped;
    from = i + 1;
  }
  return out === undefined ? part : out + part.slice(from);
}

/**
 * Validates a key prefix: a string without `{` or `}` (stores add the hash tag themselves) and
 * without lone surrogates (they would not survive the trip to Redis). Returns it.
 *
 * @example
 * ```ts
 * const prefix = checkKeyPrefix('redisLockStore', 'prefix', options.prefix ?? 'lock');
 * ```
 */
export function checkKeyPrefix(owner: string, option: string, prefix: unknown): string {
  if (typeof prefix !== 'string' || prefix.length === 0 || /[{}]/.test(prefix) || prefix.length > 256 || hasLoneSurrogate(prefix)) {
    throw new InvalidOptionsError(owner, option, prefix, 'a non-empty string of at most 256 characters without "{", "}" or lone surrogates (the store adds the hash tag)');
  }
  return prefix;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}
