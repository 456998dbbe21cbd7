import { createEventBus, isXError, systemClock } from '@x/core';
import { redisAvailable, redisUrl, testKeyPrefix } from '@x/test-support';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeadLetterQueue } from './index.js';
import { dlqKeys, redisDlqStore } from './redis.js';
import { contractSuite, until } from './test-contract.js';

const available = await redisAvailable('dlq');
const redis = available ? new Redis(redisUrl(), { enableOfflineQueue: false, lazyConnect: true }) : undefined;
const prefix = testKeyPrefix(import.meta.url);
let n = 0;

beforeAll(async () => {
  await redis?.connect();
});
afterAll(async () => {
  if (redis === undefined) return;
  const keys = await redis.keys(`{${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

// Deadlines on the real clock: the queue's clock is virtual in the contract suite, the network is not.
if (available) contractSuite('redis store', () => redisDlqStore(redis as Redis, { prefix: `${prefix}${n++}`, timeoutMs: 5_000, clock: systemClock }));

describe.skipIf(!available)('redisDlqStore on a real Redis', () => {
  const client = () => redis as Redis;

  it('keeps every key of a queue under one hash tag, whatever the queue name', () => {
    for (const name of ['orders', 'a}b', '{x}', 'a:b', '\ud800']) {
      const keys = Object.values(dlqKeys('p', name));
      const tags = keys.map((k) => /^\{([^}]*)\}/.exec(k)?.[1]);
      expect(new Set(tags).size).toBe(1);
      expect(tags[0]?.startsWith('p:')).toBe(true);
    }
    expect(dlqKeys('p', 'a:b').ready).not.toBe(dlqKeys('p:a', 'b').ready);
  });

  it('acknowledges and deletes every finished delivery: the stream and its pending list end empty', async () => {
    const own = `${prefix}pel${n++}`;
    let fail = 0;
    const dlq = createDeadLetterQueue<number>({
      name: 'pel',
      store: redisDlqStore(client(), { prefix: own, timeoutMs: 5_000 }),
      events: createEventBus(),
      concurrency: 16,
      backoff: () => 0,
      maxAttempts: 2,
      pollIntervalMs: 10,
      process: () => {
        if (fail++ % 3 === 0) throw new Error('flaky');
      },
    });
    dlq.start();
    for (let i = 0; i < 300; i++) await dlq.add(i);
    await until(async () => (await dlq.stats()).pending === 0, 10_000);
    await dlq.close();
    const keys = dlqKeys(own, 'pel');
    expect(await client().xlen(keys.ready)).toBe(0);
    const summary = (await client().xpending(keys.ready, 'w')) as unknown[];
    expect(summary[0]).toBe(0);
    expect(await client().hlen(keys.tok)).toBe(0);
  });

  it('a delivery reclaimed after visibilityMs belongs to the new holder: the late worker\'s result is ignored and does not release the item', async () => {
    const own = `${prefix}late${n++}`;
    const store = redisDlqStore(client(), { prefix: own, timeoutMs: 5_000 }).bind({ queue: 'late', clock: systemClock, events: createEventBus() });
    const added = await store.add('{"item":1,"failure":{"name":"E","message":"m","source":"t","firstFailedAt":0,"lastFailedAt":0},"attempts":0,"addedAt":0,"revived":0}', undefined, 0, 0, 0, 'reject');
    expect(added.kind).toBe('added');
    const first = await store.claim('worker-a', 1, Date.now(), 50);
    expect(first.entries).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 80));
    const second = await store.claim('worker-b', 1, Date.now(), 50);
    expect(second.entries).toHaveLength(1);
    expect(second.entries[0]?.deliveries).toBe(2);
    const late = first.entries[0]!;
    const holder = second.entries[0]!;
    expect(holder.token).not.toBe(late.token);
    // Worker a wakes up and fails the item: that must not put it back to wait (worker b holds it).
    expect(await store.reschedule(late.id, late.token, late.doc, 0)).toBe(false);
    expect(await store.bury(late.id, late.token, late.doc, 0)).toBe(false);
    expect(await store.complete(late.id, late.token)).toBe(false);
    expect((await store.get(late.id))?.inFlight).toBe(true);
    // Nobody else can take it while b holds it...
    expect((await store.claim('worker-c', 1, Date.now() + 10_000, 60_000)).entries).toEqual([]);
    // ... and b's own result counts.
    expect(await store.complete(holder.id, holder.token)).toBe(true);
    expect(await store.get(holder.id)).toBeUndefined();
    const keys = dlqKeys(own, 'late');
    expect(await client().xlen(keys.ready)).toBe(0);
    expect(((await client().xpending(keys.ready, 'w')) as unknown[])[0]).toBe(0);
  });

  it('removes consumers left by gone processes once idle past staleConsumerMs, and never one that still holds a delivery', async () => {
    const own = `${prefix}sweep${n++}`;
    const bind = (staleConsumerMs: number) => redisDlqStore(client(), { prefix: own, timeoutMs: 5_000, staleConsumerMs }).bind({ queue: 'sweep', clock: systemClock, events: createEventBus() });
    const store = bind(3_600_000);
    const doc = '{"item":1,"failure":{"name":"E","message":"m","source":"t","firstFailedAt":0,"lastFailedAt":0},"attempts":0,"addedAt":0,"revived":0}';
    for (let i = 0; i < 5; i++) await store.add(doc, undefined, 0, 0, 0, 'reject');
    // Five "crashed processes": one took an item and died holding it, four finished theirs first.
    const holder = await store.claim('crashed-holder', 1, Date.now(), 600_000);
    expect(holder.entries).toHaveLength(1);
    for (let i = 0; i < 4; i++) {
      const { entries } = await store.claim(`crashed-${i}`, 1, Date.now(), 600_000);
      expect(await store.complete(entries[0]!.id, entries[0]!.token)).toBe(true);
    }
    const keys = dlqKeys(own, 'sweep');
    const names = async () => ((await client().xinfo('CONSUMERS', keys.ready, 'w')) as unknown[][]).map((c) => String(c[1])).sort();
    expect(await names()).toEqual(['crashed-0', 'crashed-1', 'crashed-2', 'crashed-3', 'crashed-holder']);
    await new Promise((resolve) => setTimeout(resolve, 150));
    // A live process polls: its first poll sweeps (this instance's own consumer is kept).
    const live = bind(100) as unknown as { sweepConsumers(consumer: string, now: number): Promise<number> };
    expect(await live.sweepConsumers('live', Date.now())).toBe(4);
    expect(await names()).toEqual(['crashed-holder']);
    // Not again before the sweep interval, however many polls.
    expect(await live.sweepConsumers('live', Date.now())).toBe(0);
    // The holder's delivery is still pending and is reclaimed, then the holder goes too.
    const rescued = await store.claim('live', 1, Date.now(), 1);
    expect(rescued.entries.map((e) => e.deliveries)).toEqual([2]);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await live.sweepConsumers('live', Date.now() + 60_000)).toBe(1);
    expect(await names()).toEqual(['live']);
    expect(await store.complete(rescued.entries[0]!.id, rescued.entries[0]!.token)).toBe(true);
    expect(() => redisDlqStore(client(), { staleConsumerMs: 0 })).toThrow(/staleConsumerMs/);
  });

  it('rejects a client that is not an ioredis instance and hostile prefixes with INVALID_OPTIONS', () => {
    for (const bad of [undefined, null, 42, {}]) expect(() => redisDlqStore(bad as never)).toThrow(/redis/);
    for (const prefix of ['a{b', 'a}b', '', 7]) {
      let error: unknown;
      try {
        redisDlqStore(client(), { prefix: prefix as never });
      } catch (e) {
        error = e;
      }
      expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
    }
    expect(() => redisDlqStore(client(), { timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => redisDlqStore(client(), { colour: 1 } as never)).toThrow(/colour/);
  });
});
