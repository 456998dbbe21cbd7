import { createEventBus, systemClock } from '@x/core';
import type { XEvent } from '@x/core';
import { connectRedisCluster, redisServerInstalled } from '@x/test-support';
import type { ConnectedRedisCluster } from '@x/test-support';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentFailureError, createDeadLetterQueue } from './index.js';
import type { DeadLetterQueue } from './index.js';
import { dlqKeys, redisDlqStore } from './redis.js';
import { until } from './test-contract.js';

describe.skipIf(!redisServerInstalled('dlq', { cluster: true }))('redisDlqStore on a Redis Cluster (3 masters)', () => {
  let env: ConnectedRedisCluster;
  let redis: Cluster;
  const opened: DeadLetterQueue<unknown>[] = [];
  beforeAll(async () => {
    env = await connectRedisCluster();
    redis = env.redis;
  }, 60_000);
  afterAll(async () => {
    for (const q of opened) await q.close();
    await env?.dispose();
  });

  it('keeps every key of one queue in one slot, and queues with other names spread over the masters', async () => {
    const slotOf = async (key: string) => Number(await redis.cluster('KEYSLOT', key));
    const nodesUsed = new Set<string>();
    for (const name of ['orders', 'a}b', '{x}', 'a:b', '\ud800', ...Array.from({ length: 12 }, (_, i) => `q${i}`)]) {
      const slots = new Set(await Promise.all(Object.values(dlqKeys('c', name)).map(slotOf)));
      expect(slots.size).toBe(1);
      const [slot] = [...slots];
      const owner = (await redis.cluster('SLOTS')) as unknown as Array<[number, number, [string, number]]>;
      const range = owner.find(([from, to]) => (slot as number) >= from && (slot as number) <= to);
      nodesUsed.add(String(range?.[2][1]));
    }
    expect(nodesUsed.size).toBe(3);
  });

  it('add, process, dead and redrive on queues living on every master', async () => {
    const names = ['q0', 'q1', 'q2', 'q3', 'q4', 'q5'];
    const events = createEventBus();
    const seen: XEvent[] = [];
    events.on('*', (e) => seen.push(e));
    const done = new Map<string, unknown[]>();
    let healed = false;
    const queues = names.map((name) => {
      const q = createDeadLetterQueue<{ n: number; bad?: boolean }>({
        name,
        store: redisDlqStore(redis, { prefix: 'c', timeoutMs: 2_000 }),
        events,
        clock: systemClock,
        backoff: () => 0,
        maxAttempts: 2,
        concurrency: 8,
        pollIntervalMs: 20,
        process: (item) => {
          if (item.bad === true && !healed) throw new PermanentFailureError(new Error('bad payload'));
          const list = done.get(name) ?? [];
          list.push(item.n);
          done.set(name, list);
        },
      });
      opened.push(q as DeadLetterQueue<unknown>);
      return q;
    });
    // Adds: sequential and concurrent (batched into one script call per queue), with idempotency keys.
    for (const [i, q] of queues.entries()) {
      await q.add({ n: 0 }, { idempotencyKey: `${i}-0` });
      await Promise.all(Array.from({ length: 20 }, (_, j) => q.add({ n: j + 1, bad: j % 5 === 0 }, { idempotencyKey: `${i}-${j + 1}`, key: `k${j}` })));
      expect(await q.add({ n: 0 }, { idempotencyKey: `${i}-0` })).toBe((await q.list({ state: 'pending', limit: 1 })).items[0]?.id);
    }
    for (const q of queues) q.start();
    await until(async () => {
      const stats = await Promise.all(queues.map((q) => q.stats()));
      return stats.every((s) => s.pending === 0 && s.dead === 4);
    }, 15_000, 'every queue to process its items and bury the bad ones');
    for (const name of names) expect(done.get(name)?.length).toBe(17);
    // Dead items are kept with their failure; redrive moves them back (transformed) and they are processed.
    const dead = await queues[3]!.list({ state: 'dead' });
    expect(dead.items.map((r) => r.failure.message)).toEqual(['bad payload', 'bad payload', 'bad payload', 'bad payload']);
    healed = true;
    const results = await Promise.all(queues.map((q) => q.redrive({ transform: (r) => ({ ...r.item, n: r.item.n + 1000 }), ratePerSecond: 1_000 })));
    for (const result of results) expect(result).toMatchObject({ scanned: 4, moved: 4, failed: 0, aborted: false });
    await until(async () => (await Promise.all(queues.map((q) => q.stats()))).every((s) => s.pending === 0 && s.dead === 0), 15_000, 'the redriven items to be processed');
    for (const name of names) {
      const items = done.get(name) as number[];
      expect(items).toHaveLength(21);
      expect(items.filter((n) => n > 1000).sort((a, b) => a - b)).toEqual([1001, 1006, 1011, 1016]);
    }
    // Every finished delivery was acknowledged and deleted, on every node.
    for (const name of names) {
      const keys = dlqKeys('c', name);
      expect(await redis.xlen(keys.ready)).toBe(0);
      expect(((await redis.xpending(keys.ready, 'w')) as unknown[])[0]).toBe(0);
    }
    expect(seen.filter((e) => e.type === 'dlq.store_error')).toEqual([]);
  }, 40_000);
});
