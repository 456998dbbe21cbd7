/** A queue entry: the waiter object itself carries the links, so queueing allocates no node. */
export interface QueueNode<N> {
  prev: N | undefined;
  next: N | undefined;
  /** Whether the node is linked into a queue right now. */
  queued: boolean;
}

/**
 * Intrusive doubly linked queue of waiters in arrival order. Both ends can be taken (FIFO takes
 * the oldest, LIFO the newest) and any node can leave in O(1) (an abort, a timeout).
 *
 * @example
 * ```ts
 * const queue = new WaiterQueue<Waiter>();
 * queue.push(waiter);
 * const next = lifo ? queue.takeNewest() : queue.takeOldest();
 * ```
 */
export class WaiterQueue<N extends QueueNode<N>> {
  #head: N | undefined = undefined;
  #tail: N | undefined = undefined;
  #size = 0;

  /** How many nodes are queued. */
  get size(): number {
    return this.#size;
  }

  /** Appends `node` as the newest entry. */
  push(node: N): void {
    node.prev = this.#tail;
    node.next = undefined;
    if (this.#tail === undefined) this.#head = node;
    else this.#tail.next = node;
    this.#tail = node;
    node.queued = true;
    this.#size++;
  }

  /** Removes and returns the oldest entry. */
  takeOldest(): N | undefined {
    const node = this.#head;
    if (node !== undefined) this.remove(node);
    return node;
  }

  /** Removes and returns the newest entry. */
  takeNewest(): N | undefined {
    const node = this.#tail;
    if (node !== undefined) this.remove(node);
    return node;
  }

  /** Unlinks `node`; does nothing when it is not queued. */
  remove(node: N): void {
    if (!node.queued) return;
    const { prev, next } = node;
    if (prev === undefined) this.#head = next;
    else prev.next = next;
    if (next === undefined) this.#tail = prev;
    else next.prev = prev;
    node.prev = undefined;
    node.next = undefined;
    node.queued = false;
    this.#size--;
  }
}

/** An entry of an {@link ExpiryHeap}. */
export interface ExpiryNode {
  /** When the entry expires, in `clock.now()` units. */
  readonly expiresAt: number;
  /** Position in the heap, -1 when not in one. Maintained by the heap. */
  heapIndex: number;
}

/**
 * Binary min-heap of waiters by expiry time, each knowing its own index so it can leave in
 * O(log n) when it gets a slot or aborts. One clock timer armed for the top serves the whole
 * queue. Waiters of one bulkhead mostly share `maxWaitMs`, so a new entry is nearly always the
 * latest and stays at the bottom (O(1) push).
 *
 * @example
 * ```ts
 * heap.push(waiter);
 * while (heap.peek() !== undefined && heap.peek()!.expiresAt <= now) expire(heap.pop()!);
 * ```
 */
export class ExpiryHeap<N extends ExpiryNode> {
  readonly #items: N[] = [];

  /** How many entries the heap holds. */
  get size(): number {
    return this.#items.length;
  }

  /** The entry that expires first. */
  peek(): N | undefined {
    return this.#items[0];
  }

  /** Adds `node`. */
  push(node: N): void {
    const items = this.#items;
    node.heapIndex = items.length;
    items.push(node);
    this.#up(node.heapIndex);
  }

  /** Removes and returns the entry that expires first. */
  pop(): N | undefined {
    const top = this.#items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  /** Removes `node`; does nothing when it is not in the heap. */
  remove(node: N): void {
    const index = node.heapIndex;
    if (index < 0) return;
    const items = this.#items;
    const last = items.pop() as N;
    node.heapIndex = -1;
    if (last === node) return;
    items[index] = last;
    last.heapIndex = index;
    this.#down(index);
    this.#up(last.heapIndex);
  }

  #up(index: number): void {
    const items = this.#items;
    const node = items[index] as N;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = items[parentIndex] as N;
      if (parent.expiresAt <= node.expiresAt) break;
      items[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    items[index] = node;
    node.heapIndex = index;
  }

  #down(index: number): void {
    const items = this.#items;
    const length = items.length;
    const node = items[index] as N;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      let child = left;
      if (right < length && (items[right] as N).expiresAt < (items[left] as N).expiresAt) child = right;
      const childNode = items[child] as N;
      if (childNode.expiresAt >= node.expiresAt) break;
      items[index] = childNode;
      childNode.heapIndex = index;
      index = child;
    }
    items[index] = node;
    node.heapIndex = index;
  }
}
