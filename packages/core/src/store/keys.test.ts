import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isXError } from '../errors.js';
import { checkKeyPrefix, encodeKeyPart } from './keys.js';

/** The inverse the encoding promises exists: proves it is lossless. */
function decode(encoded: string): string {
  return encoded.replace(/%u([0-9A-F]{4})|%(25|7B|7D|3A)/g, (_, unit: string | undefined, byte: string | undefined) =>
    unit !== undefined ? String.fromCharCode(Number.parseInt(unit, 16)) : String.fromCharCode(Number.parseInt(byte as string, 16)),
  );
}

/** What Redis stores: the UTF-8 bytes a client sends (lone surrogates become U+FFFD). */
const wire = (key: string): string => Buffer.from(key, 'utf8').toString('hex');

describe('encodeKeyPart', () => {
  it('gives lone surrogates and U+FFFD distinct keys on the wire', () => {
    const parts = ['\uD800', '\uDC00', 'x\uD800y', 'x\uDFFFy', '\uFFFD', 'x\uFFFDy', '%uD800', '\uD83D\uDE00'];
    const keys = parts.map((part) => wire(encodeKeyPart(part)));
    expect(new Set(keys).size).toBe(parts.length);
  });

  it('escapes what structures a key and keeps readable keys as they are', () => {
    expect(encodeKeyPart('user:42')).toBe('user%3A42');
    expect(encodeKeyPart('a}{b%')).toBe('a%7D%7Bb%25');
    expect(encodeKeyPart('plain key\nwith newline 😀')).toBe('plain key\nwith newline 😀');
  });

  it('is lossless and well formed for any string (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (part) => {
        const encoded = encodeKeyPart(part);
        expect(decode(encoded)).toBe(part);
        expect(encoded).not.toMatch(/[{}:]/);
        // Well formed: survives UTF-8 unchanged, so distinct parts stay distinct in Redis.
        expect(Buffer.from(encoded, 'utf8').toString('utf8')).toBe(encoded);
      }),
      { numRuns: 2_000 },
    );
  });

  it('never maps two distinct strings to one wire key (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 12 }), (a, b) => {
        fc.pre(a !== b);
        expect(wire(encodeKeyPart(a))).not.toBe(wire(encodeKeyPart(b)));
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('checkKeyPrefix', () => {
  it('accepts a plain prefix and rejects braces, lone surrogates and non-strings with INVALID_OPTIONS', () => {
    expect(checkKeyPrefix('redisLockStore', 'prefix', 'app:locks')).toBe('app:locks');
    for (const bad of ['a{b', 'a}', 'x\uD800', 42, null, '', 'x'.repeat(257)]) {
      let error: unknown;
      try {
        checkKeyPrefix('redisLockStore', 'prefix', bad);
      } catch (caught) {
        error = caught;
      }
      expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
      expect(String((error as Error).message)).toMatch(/redisLockStore: option "prefix"/);
    }
  });
});
