/**
 * A binary min-heap: `pop()` and `peek()` give the item that `before` puts first. Push and pop are
 * O(log n), peek O(1). For equal keys, make `before` compare an insertion counter as well: a heap
 * alone does not keep insertion order. Items are never compared with each other otherwise, so any
 * object works; removing one from the middle is left to the caller (lazy deletion: mark it, skip
 * it when it reaches the top, and {@link MinHeap.retain} the live ones when the dead pile up).
 *
 * @example
 * ```ts
 * interface Job { at: number; seq: number; run(): void }
 * const due = new MinHeap<Job>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));
 * due.push({ at: 20, seq: 0, run: () => {} });
 * due.push({ at: 10, seq: 1, run: () => {} });
 * due.pop()?.at; // 10
 * ```
 */
export class MinHeap<T> {
  readonly #items: T[] = [];
  readonly #before: (a: T, b: T) => boolean;

  /** `before(a, b)` is true when `a` must come out before `b` (a strict order). */
  constructor(before: (a: T, b: T) => boolean) {
    this.#before = before;
  }

  /** How many items the heap holds. */
  get size(): number {
    return this.#items.length;
  }

  /** The first item, left in the heap; undefined when empty. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** Adds `item`. */
  push(item: T): void {
    const items = this.#items;
    const before = this.#before;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i] as T, items[parent] as T)) break;
      [items[i], items[parent]] = [items[parent] as T, items[i] as T];
      i = parent;
    }
  }

  /** Removes and returns the first item; undefined when empty. */
  pop(): T | undefined {
    const items = this.#items;
    const before = this.#before;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    items[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = i;
      if (l < items.length && before(items[l] as T, items[smallest] as T)) smallest = l;
      if (r < items.length && before(items[r] as T, items[smallest] as T)) smallest = r;
      if (smallest === i) break;
      [items[i], items[smallest]] = [items[smallest] as T, items[i] as T];
      i = smallest;
    }
    return top;
  }

  /** Keeps only the items `keep` accepts (rebuilds the heap: O(n log n)). */
  retain(keep: (item: T) => boolean): void {
    const kept = this.#items.filter(keep);
    this.#items.length = 0;
    for (const item of kept) this.push(item);
  }
}
