import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MinHeap } from './index.js';

interface Item {
  readonly key: number;
  readonly seq: number;
  dead?: boolean;
}
const before = (a: Item, b: Item) => a.key < b.key || (a.key === b.key && a.seq < b.seq);
const sorted = (items: readonly Item[]) => [...items].sort((a, b) => a.key - b.key || a.seq - b.seq);

function drain(heap: MinHeap<Item>): Item[] {
  const out: Item[] = [];
  for (let item = heap.pop(); item !== undefined; item = heap.pop()) out.push(item);
  return out;
}

describe('MinHeap', () => {
  it('is empty at first: size 0, peek and pop give undefined', () => {
    const heap = new MinHeap<Item>(before);
    expect(heap.size).toBe(0);
    expect(heap.peek()).toBeUndefined();
    expect(heap.pop()).toBeUndefined();
  });

  it('pops in the order `before` defines, equal keys in insertion order, whatever the push order (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -5, max: 5 }), { maxLength: 200 }), (keys) => {
        const heap = new MinHeap<Item>(before);
        const items = keys.map((key, seq) => ({ key, seq }));
        for (const item of items) heap.push(item);
        expect(heap.size).toBe(items.length);
        expect(heap.peek()).toBe(sorted(items)[0]);
        expect(drain(heap)).toEqual(sorted(items));
        expect(heap.size).toBe(0);
      }),
    );
  });

  it('stays ordered under interleaved pushes, pops and retains (model check, fast-check)', () => {
    const op = fc.oneof(
      fc.record({ push: fc.integer({ min: 0, max: 20 }) }),
      fc.constant({ pop: true as const }),
      fc.record({ kill: fc.nat() }),
      fc.constant({ retain: true as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const heap = new MinHeap<Item>(before);
        let model: Item[] = [];
        let seq = 0;
        for (const o of ops) {
          if ('push' in o) {
            const item = { key: o.push, seq: seq++ };
            heap.push(item);
            model.push(item);
          } else if ('pop' in o) {
            const expected = sorted(model)[0];
            expect(heap.pop()).toBe(expected);
            model = model.filter((item) => item !== expected);
          } else if ('kill' in o) {
            const victim = model[o.kill % Math.max(1, model.length)];
            if (victim !== undefined) victim.dead = true;
          } else {
            heap.retain((item) => item.dead !== true);
            model = model.filter((item) => item.dead !== true);
          }
          expect(heap.size).toBe(model.length);
          expect(heap.peek()).toBe(sorted(model)[0]);
        }
        expect(drain(heap)).toEqual(sorted(model));
      }),
    );
  });
});
