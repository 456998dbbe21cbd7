/**
 * 32-bit FNV-1a over UTF-16 code units, finished with a murmur3 fmix32 so nearby keys spread.
 * Used for the admission sketch only (never for Redis keys).
 */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

const SEEDS = [0x9e3779b1, 0x85ebca77, 0xc2b2ae3d, 0x27d4eb2f] as const;

/**
 * A count-min sketch of recent access frequency (TinyLFU): four rows of small counters that
 * saturate at 15, all halved after `10 × capacity` increments so old popularity fades. Costs one
 * byte per counter, four counters per entry slot.
 */
export class FrequencySketch {
  readonly #table: Uint8Array;
  readonly #shift: number;
  readonly #width: number;
  readonly #sampleSize: number;
  #additions = 0;

  constructor(capacity: number) {
    let width = 16;
    // Four counters per row per slot: collisions between a scan and the popular keys stay rare.
    while (width < capacity * 4 && width < 1 << 26) width <<= 1;
    this.#width = width;
    this.#shift = 32 - Math.log2(width);
    this.#table = new Uint8Array(width * 4);
    this.#sampleSize = Math.max(10 * capacity, 160);
  }

  #index(hash: number, row: number): number {
    return row * this.#width + (Math.imul(hash, SEEDS[row as 0]) >>> this.#shift);
  }

  /** Records one access of the key with this hash. */
  increment(hash: number): void {
    const table = this.#table;
    let added = false;
    for (let row = 0; row < 4; row++) {
      const i = this.#index(hash, row);
      const count = table[i] as number;
      if (count < 15) {
        table[i] = count + 1;
        added = true;
      }
    }
    if (added && ++this.#additions >= this.#sampleSize) this.#age();
  }

  /** Estimated recent accesses of the key with this hash (0..15). */
  frequency(hash: number): number {
    const table = this.#table;
    let min = 15;
    for (let row = 0; row < 4; row++) {
      const count = table[this.#index(hash, row)] as number;
      if (count < min) min = count;
    }
    return min;
  }

  #age(): void {
    const table = this.#table;
    for (let i = 0; i < table.length; i++) table[i] = (table[i] as number) >>> 1;
    this.#additions = this.#additions >>> 1;
  }

  reset(): void {
    this.#table.fill(0);
    this.#additions = 0;
  }
}
