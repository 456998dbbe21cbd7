// The hash contract, version 1 (README "Hash contract"). Everything that decides which bits a key
// sets lives here, so the memory filters and the Redis filter cannot drift apart.
//
// - bytes  = the UTF-8 encoding of the key (a lone UTF-16 surrogate encodes as U+FFFD, EF BF BD,
//   exactly as the WHATWG TextEncoder does);
// - h1     = MurmurHash3_x86_32(bytes, seed 0x00000000), h2 = MurmurHash3_x86_32(bytes, seed 0x9e3779b9);
// - step   = h2 | 1 (odd, so never 0 modulo an even m; every m is a multiple of 64);
// - index_i = (h1 + i * step) mod m, for i = 0 .. k-1, computed exactly (no 32-bit wrap);
// - shard  = MurmurHash3_x86_32(bytes, seed 0x85ebca6b) mod shards, only when shards > 1.
//
// Both seeds are computed in one walk over the string: MurmurHash3 mixes each 4-byte block into
// `k` independently of the seed, so the two lanes share that work. ASCII keys are read four UTF-16
// code units at a time without building any bytes; anything else goes through the byte walk.

/**
 * Version of the hash contract; stored with every serialized and Redis filter.
 *
 * @example
 * ```ts
 * if (json.hashVersion !== HASH_VERSION) rebuildFromSource();
 * ```
 */
export const HASH_VERSION = 1;
/**
 * Seed of h1 (the start index).
 *
 * @example
 * ```ts
 * murmur3(new TextEncoder().encode('user:42'), SEED_H1);
 * ```
 */
export const SEED_H1 = 0x00000000;
/**
 * Seed of h2 (the step, forced odd).
 *
 * @example
 * ```ts
 * murmur3(new TextEncoder().encode('user:42'), SEED_H2);
 * ```
 */
export const SEED_H2 = 0x9e3779b9;
/**
 * Seed of the shard hash (only when a filter has more than one shard).
 *
 * @example
 * ```ts
 * murmur3(new TextEncoder().encode('user:42'), SEED_SHARD);
 * ```
 */
export const SEED_SHARD = 0x85ebca6b;

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const imul = Math.imul;

// Results of the last hash, read right after the call (no allocation per key).
/** h1 of the last key hashed, as an unsigned 32-bit integer. */
export let lastH1 = 0;
/** h2 of the last key hashed, as an unsigned 32-bit integer. */
export let lastH2 = 0;

/** MurmurHash3's final avalanche. */
function fmix(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Sets {@link lastH1} and {@link lastH2} for `key`. The hot path: ASCII runs are mixed four code
 * units at a time with no intermediate bytes; the first non-ASCII code unit hands the whole key to
 * the byte walk.
 */
export function hashKey(key: string): void {
  const length = key.length;
  const blocks = length & ~3;
  let h1 = SEED_H1;
  let h2 = SEED_H2;
  let i = 0;
  for (; i < blocks; i += 4) {
    const c0 = key.charCodeAt(i);
    const c1 = key.charCodeAt(i + 1);
    const c2 = key.charCodeAt(i + 2);
    const c3 = key.charCodeAt(i + 3);
    if ((c0 | c1 | c2 | c3) > 0x7f) {
      hashUtf8(key);
      return;
    }
    let k = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
    k = imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = imul(k, C2);
    h1 ^= k;
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (imul(h1, 5) + 0xe6546b64) | 0;
    h2 ^= k;
    h2 = (h2 << 13) | (h2 >>> 19);
    h2 = (imul(h2, 5) + 0xe6546b64) | 0;
  }
  const rest = length - blocks;
  if (rest > 0) {
    let k = 0;
    let any = 0;
    for (let j = rest - 1; j >= 0; j--) {
      const c = key.charCodeAt(i + j);
      any |= c;
      k = (k << 8) | c;
    }
    if (any > 0x7f) {
      hashUtf8(key);
      return;
    }
    k = imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = imul(k, C2);
    h1 ^= k;
    h2 ^= k;
  }
  lastH1 = fmix(h1, length);
  lastH2 = fmix(h2, length);
}

// Byte-walk state (module level, so feeding a byte allocates nothing).
let walkH1 = 0;
let walkH2 = 0;
let walkBlock = 0;
let walkCount = 0;

function feed(byte: number): void {
  walkBlock |= byte << ((walkCount & 3) << 3);
  walkCount++;
  if ((walkCount & 3) === 0) {
    let k = imul(walkBlock, C1);
    k = (k << 15) | (k >>> 17);
    k = imul(k, C2);
    walkH1 ^= k;
    walkH1 = (walkH1 << 13) | (walkH1 >>> 19);
    walkH1 = (imul(walkH1, 5) + 0xe6546b64) | 0;
    walkH2 ^= k;
    walkH2 = (walkH2 << 13) | (walkH2 >>> 19);
    walkH2 = (imul(walkH2, 5) + 0xe6546b64) | 0;
    walkBlock = 0;
  }
}

/** Feeds the UTF-8 bytes of `key` (lone surrogates as U+FFFD) through {@link feed}. */
function walkUtf8(key: string): void {
  const length = key.length;
  for (let i = 0; i < length; i++) {
    let c = key.charCodeAt(i);
    if (c < 0x80) {
      feed(c);
    } else if (c < 0x800) {
      feed(0xc0 | (c >> 6));
      feed(0x80 | (c & 0x3f));
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < length ? key.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          feed(0xf0 | (c >> 18));
          feed(0x80 | ((c >> 12) & 0x3f));
          feed(0x80 | ((c >> 6) & 0x3f));
          feed(0x80 | (c & 0x3f));
          continue;
        }
        c = 0xfffd; // lone surrogate
      }
      feed(0xe0 | (c >> 12));
      feed(0x80 | ((c >> 6) & 0x3f));
      feed(0x80 | (c & 0x3f));
    }
  }
}

function tail(h: number): number {
  if ((walkCount & 3) === 0) return h;
  let k = imul(walkBlock, C1);
  k = (k << 15) | (k >>> 17);
  k = imul(k, C2);
  return h ^ k;
}

function hashUtf8(key: string): void {
  walkH1 = SEED_H1;
  walkH2 = SEED_H2;
  walkBlock = 0;
  walkCount = 0;
  walkUtf8(key);
  lastH1 = fmix(tail(walkH1), walkCount);
  lastH2 = fmix(tail(walkH2), walkCount);
}

/**
 * The shard of `key` in a filter of `shards` shards: MurmurHash3_x86_32(UTF-8 bytes, seed
 * {@link SEED_SHARD}) mod shards. Always 0 for one shard (nothing is hashed).
 */
export function shardOf(key: string, shards: number): number {
  if (shards === 1) return 0;
  walkH1 = SEED_SHARD;
  walkH2 = 0;
  walkBlock = 0;
  walkCount = 0;
  walkUtf8(key);
  return fmix(tail(walkH1), walkCount) % shards;
}

/**
 * MurmurHash3_x86_32 of `bytes` with `seed`, unsigned. The reference the contract names, exported
 * so tests and other implementations can check vectors against it.
 *
 * @example
 * ```ts
 * murmur3(new TextEncoder().encode('hello'), 0); // 0x248bfa47
 * ```
 */
export function murmur3(bytes: Uint8Array, seed: number): number {
  let h = seed | 0;
  const blocks = bytes.length & ~3;
  let i = 0;
  for (; i < blocks; i += 4) {
    let k = (bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24);
    k = imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  for (let j = bytes.length - 1; j >= i; j--) k = (k << 8) | (bytes[j] as number);
  if (bytes.length > i) {
    k = imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = imul(k, C2);
    h ^= k;
  }
  return fmix(h, bytes.length);
}
