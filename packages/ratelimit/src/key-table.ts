import { Entry, REFUND, step } from './algorithms.js';
import type { Op, Verdict } from './algorithms.js';
import type { Params } from './rule.js';

/**
 * The in-memory state of a limiter: one {@link Entry} per key, at most `maxKeys` of them.
 *
 * Memory is bounded with the CLOCK algorithm (an approximation of LRU that costs one boolean
 * write per hit). A "hand" walks the map in insertion order: it drops entries that are idle
 * (their state equals a fresh key's, so dropping them changes no decision), clears the `used`
 * bit of entries touched since its last pass, and, only when the table is full, evicts live
 * entries it finds untouched. Every new key advances the hand by two steps, so idle keys go away
 * as fast as new ones arrive, with no timer running while nothing happens.
 *
 * Times are kept relative to `origin` so that float error stays far below a microsecond.
 *
 * @example
 * ```ts
 * const table = new KeyTable(10_000, clock.now());
 * table.apply('user:1', clock.now(), 1, 0, CONSUME, params, verdict);
 * ```
 */
export class KeyTable {
  readonly #map = new Map<string, Entry>();
  readonly #maxKeys: number;
  readonly #origin: number;
  #hand: Iterator<[string, Entry]> | undefined;
  /** Called with the number of live entries evicted to make room (state lost for those keys). */
  onEvicted: ((evicted: number, size: number) => void) | undefined;

  constructor(maxKeys: number, origin: number) {
    this.#maxKeys = maxKeys;
    this.#origin = origin;
  }

  /** Number of keys with state. */
  get size(): number {
    return this.#map.size;
  }

  /** Applies `op` to `key` at absolute time `now` and writes the outcome into `out`. */
  apply(key: string, now: number, cost: number, maxWait: number, op: Op, params: Params, out: Verdict): void {
    const t = now - this.#origin;
    const entry = this.#map.get(key);
    if (entry !== undefined) {
      entry.used = true;
      step(entry, t, cost, maxWait, op, params, out);
      return;
    }
    // Nothing to give back on a key that has no state: it is already full.
    if (op === REFUND) return;
    const fresh = new Entry(t, params);
    if (step(fresh, t, cost, maxWait, op, params, out)) this.#insert(key, fresh, t);
  }

  /** Forgets `key`: its next request sees a fresh state. */
  delete(key: string): void {
    this.#map.delete(key);
  }

  /** Forgets every key. */
  clear(): void {
    this.#map.clear();
    this.#hand = undefined;
  }

  #insert(key: string, entry: Entry, now: number): void {
    const map = this.#map;
    if (map.size >= this.#maxKeys) this.#makeRoom(now);
    else this.#advance(now, 2);
    map.set(key, entry);
  }

  /** The next entry under the hand, wrapping around at the end of the map. */
  #next(): [string, Entry] | undefined {
    let hand = this.#hand ?? (this.#hand = this.#map.entries());
    let result = hand.next();
    if (result.done === true) {
      hand = this.#hand = this.#map.entries();
      result = hand.next();
      if (result.done === true) return undefined;
    }
    return result.value;
  }

  /** Background-free sweep: drops idle entries and ages the others. */
  #advance(now: number, steps: number): void {
    for (let i = 0; i < steps; i++) {
      const item = this.#next();
      if (item === undefined) return;
      const entry = item[1];
      if (entry.until <= now) this.#map.delete(item[0]);
      else entry.used = false;
    }
  }

  /** Frees one slot: idle entries first, then the first live entry untouched since the last pass. */
  #makeRoom(now: number): void {
    const map = this.#map;
    let evicted = 0;
    // Two passes at most: the first clears every `used` bit, the second then finds a victim.
    for (let budget = 2 * map.size + 1; map.size >= this.#maxKeys && budget > 0; budget--) {
      const item = this.#next();
      if (item === undefined) break;
      const entry = item[1];
      if (entry.until <= now) {
        map.delete(item[0]);
      } else if (entry.used) {
        entry.used = false;
      } else {
        map.delete(item[0]);
        evicted++;
      }
    }
    if (evicted > 0) this.onEvicted?.(evicted, map.size);
  }
}
