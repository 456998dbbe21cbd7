// Random operation sequences against a reference model with TTLs on the virtual clock: the cache
// never returns a value the model says is absent, nor another key's value.
import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCache, createMemoryInvalidationBus, memoryCacheStore } from './index.js';

type Op =
  | { kind: 'set'; cache: number; key: number; ttlMs: number }
  | { kind: 'delete'; cache: number; key: number }
  | { kind: 'get'; cache: number; key: number }
  | { kind: 'getOrSet'; cache: number; key: number; found: boolean }
  | { kind: 'advance'; ms: number }
  | { kind: 'clear'; cache: number };

const KEYS = ['a', 'b', 'a:b', '{a}', '\uD800', ''];
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), cache: fc.nat(1), key: fc.nat(KEYS.length - 1), ttlMs: fc.constantFrom(1, 10, 50, 100, 250) }),
  fc.record({ kind: fc.constant('delete' as const), cache: fc.nat(1), key: fc.nat(KEYS.length - 1) }),
  fc.record({ kind: fc.constant('get' as const), cache: fc.nat(1), key: fc.nat(KEYS.length - 1) }),
  fc.record({ kind: fc.constant('getOrSet' as const), cache: fc.nat(1), key: fc.nat(KEYS.length - 1), found: fc.boolean() }),
  // Steps that land exactly on expiry times as often as between them.
  fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(0, 1, 9, 10, 40, 49, 50, 51, 100, 150) }),
  fc.record({ kind: fc.constant('clear' as const), cache: fc.nat(1) }),
);

interface ModelEntry {
  readonly value: string | undefined;
  readonly expiresAt: number;
}

const TTL = 250;
const NEGATIVE_TTL = 100;

async function check(ops: readonly Op[], shared: boolean): Promise<void> {
  const clock = createVirtualClock();
  const events = createEventBus();
  const l2 = shared ? memoryCacheStore({ clock }) : undefined;
  const hub = createMemoryInvalidationBus();
  const caches = [0, 1].map(() =>
    createCache<string>({
      clock,
      events,
      ttlMs: TTL,
      negativeTtlMs: NEGATIVE_TTL,
      jitter: 0,
      l1: { maxEntries: 3 },
      l1TtlMs: 50,
      ...(l2 !== undefined && { l2, bus: hub.bus() }),
    }),
  );
  const model = new Map<string, ModelEntry>();
  let counter = 0;
  const live = (key: string) => {
    const entry = model.get(key);
    return entry !== undefined && clock.now() < entry.expiresAt ? entry : undefined;
  };
  for (const o of ops) {
    // Without L2 the two caches are independent: model only cache 0 then.
    const index = shared ? (o as { cache?: number }).cache ?? 0 : 0;
    const cache = caches[index] as (typeof caches)[number];
    switch (o.kind) {
      case 'advance':
        await clock.advance(o.ms);
        break;
      case 'set': {
        const key = KEYS[o.key] as string;
        const value = `${key}#${counter++}`;
        await cache.set(key, value, { ttlMs: o.ttlMs });
        model.set(key, { value, expiresAt: clock.now() + o.ttlMs });
        break;
      }
      case 'delete':
        await cache.delete(KEYS[o.key] as string);
        model.delete(KEYS[o.key] as string);
        break;
      case 'clear':
        await cache.clear();
        model.clear();
        break;
      case 'get': {
        const key = KEYS[o.key] as string;
        const got = await cache.get(key);
        const expected = live(key);
        if (got !== undefined) {
          expect(got.startsWith(`${key}#`)).toBe(true); // never another key's value
          expect(got).toBe(expected?.value); // never a value the model says is absent
        }
        if (shared) expect(got).toBe(expected?.value); // with L2 nothing is lost to eviction
        break;
      }
      case 'getOrSet': {
        const key = KEYS[o.key] as string;
        const fresh = o.found ? `${key}#${counter++}` : undefined;
        let called = false;
        const got = await cache.getOrSet(key, () => {
          called = true;
          return fresh;
        });
        const expected = live(key);
        if (called) {
          expect(got).toBe(fresh);
          if (shared) expect(expected).toBeUndefined(); // the loader runs only for what is absent
          model.set(key, { value: fresh, expiresAt: clock.now() + (fresh === undefined ? NEGATIVE_TTL : TTL) });
        } else {
          expect(got).toBe(expected?.value);
        }
        break;
      }
    }
  }
}

describe('createCache against a reference model', () => {
  it('L1 only (3 entries, evicting): every value returned is the live one for its key', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), (ops) => check(ops, false)),
      { numRuns: 400 },
    );
  });

  it('two caches on one L2 with the bus: reads equal the model exactly', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), (ops) => check(ops, true)),
      { numRuns: 400 },
    );
  });
});
