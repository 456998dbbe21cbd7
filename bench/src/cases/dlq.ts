import { Queue, Worker } from 'bullmq';
import Redis from 'ioredis';
import type { Op, Row } from '../harness.js';
import { loadBuilt } from '../packages.js';

type DlqModule = typeof import('@x/dlq');
type DlqRedisModule = typeof import('@x/dlq/redis');

const loadDlq = () => loadBuilt<DlqModule, DlqRedisModule>('@x/dlq', 'createDeadLetterQueue', 'redis');

/** Operations in flight in the concurrent rows, and the worker concurrency. */
const IN_FLIGHT = 64;
const ITEM = { id: 'order-1', sku: 'a-1', qty: 2 };
const url = () => process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

interface Setup {
  readonly add: Row;
  readonly add64: Row;
  readonly addProcess64: Row;
  readonly floor: Row;
}

/**
 * @x/dlq on Redis against BullMQ on the same Redis, each with its own connections (BullMQ's worker
 * needs `maxRetriesPerRequest: null`; ours shares one client with `enableOfflineQueue: false`).
 * BullMQ removes completed jobs (`removeOnComplete: true`), as the DLQ deletes processed items.
 * Targets (issue 14): each at least 3x BullMQ's throughput, i.e. a ratio of at most 0.33.
 */
async function setup(): Promise<Setup | { note: string }> {
  const { mod, redis: redisModule, note } = await loadDlq();
  const ours = new Redis(url(), { enableOfflineQueue: false, lazyConnect: true, maxRetriesPerRequest: 1 });
  ours.on('error', () => {});
  try {
    await ours.connect();
  } catch (error) {
    ours.disconnect();
    return { note: `no Redis at ${url()} (${error instanceof Error ? error.message : String(error)})` };
  }
  const bullConnection = new Redis(url(), { maxRetriesPerRequest: null });
  const bullWorkerConnection = new Redis(url(), { maxRetriesPerRequest: null });
  const run = `${process.pid}-${Date.now().toString(36)}`;
  const addQueue = new Queue(`bench-add-${run}`, { connection: bullConnection });
  const flowQueue = new Queue(`bench-flow-${run}`, { connection: bullConnection });
  let bullDone = 0;
  let bullWaiters: Array<[number, () => void]> = [];
  const bullWorker = new Worker(`bench-flow-${run}`, async () => undefined, { connection: bullWorkerConnection, concurrency: IN_FLIGHT });
  bullWorker.on('completed', () => {
    bullDone++;
    if (bullWaiters.length > 0) {
      const ready = bullWaiters.filter(([target]) => bullDone >= target);
      bullWaiters = bullWaiters.filter(([target]) => bullDone < target);
      for (const [, resolve] of ready) resolve();
    }
  });
  await bullWorker.waitUntilReady();

  const store = mod && redisModule ? redisModule.redisDlqStore(ours, { prefix: `bench-dlq-${run}`, timeoutMs: 2_000 }) : undefined;
  const addDlq = mod && store ? mod.createDeadLetterQueue({ name: 'add', store, maxSize: Infinity }) : undefined;
  let ourDone = 0;
  let ourWaiters: Array<[number, () => void]> = [];
  const flowDlq =
    mod && store
      ? mod.createDeadLetterQueue({
          name: 'flow',
          store,
          maxSize: Infinity,
          concurrency: IN_FLIGHT,
          backoff: () => 0,
          pollIntervalMs: 50,
          process: () => {
            ourDone++;
            if (ourWaiters.length > 0) {
              const ready = ourWaiters.filter(([target]) => ourDone >= target);
              ourWaiters = ourWaiters.filter(([target]) => ourDone < target);
              for (const [, resolve] of ready) queueMicrotask(resolve);
            }
          },
        })
      : undefined;
  flowDlq?.start();

  const many = <T>(make: () => Promise<T>) => Promise.all(Array.from({ length: IN_FLIGHT }, make));
  const bullAdd: Op = () => addQueue.add('job', ITEM, { removeOnComplete: true });
  // The floor of any one-round-trip add: a bare EVALSHA of `return 1` on our connection.
  const floorSha = (await ours.script('LOAD', 'return 1')) as string;
  const bullAdd64: Op = () => many(() => addQueue.add('job', ITEM, { removeOnComplete: true })).then((r) => r.length);
  const bullFlow: Op = async () => {
    const target = bullDone + IN_FLIGHT;
    const done = new Promise<void>((resolve) => bullWaiters.push([target, resolve]));
    await many(() => flowQueue.add('job', ITEM, { removeOnComplete: true }));
    await done;
    return IN_FLIGHT;
  };
  const ourFlow: Op | undefined =
    flowDlq &&
    (async () => {
      const target = ourDone + IN_FLIGHT;
      const done = new Promise<void>((resolve) => ourWaiters.push([target, resolve]));
      await many(() => flowDlq.add(ITEM));
      await done;
      return IN_FLIGHT;
    });
  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    void (async () => {
      await flowDlq?.close();
      await addDlq?.close();
      await bullWorker.close();
      await addQueue.obliterate({ force: true }).catch(() => undefined);
      await flowQueue.obliterate({ force: true }).catch(() => undefined);
      await addQueue.close();
      await flowQueue.close();
      const keys = await ours.keys(`{bench-dlq-${run}*`);
      if (keys.length > 0) await ours.del(...keys);
      ours.disconnect();
      bullConnection.disconnect();
      bullWorkerConnection.disconnect();
    })();
  };
  const common = { target: 1 / 3, baselineLabel: 'BullMQ', ...(note !== undefined && { note }) };
  const expectString = (_c: string, r: unknown) => {
    if (typeof r !== 'string') throw new Error(`expected an id, got ${String(r)}`);
  };
  const expectCount = (_c: string, r: unknown) => {
    if (r !== IN_FLIGHT) throw new Error(`expected ${IN_FLIGHT}, got ${String(r)}`);
  };
  return {
    floor: {
      operation: 'floor: bare EVALSHA of `return 1` on Redis, sequential (vs BullMQ queue.add, informational)',
      baseline: () => bullAdd().then((job) => (job as { id?: string }).id),
      ops: { x: () => ours.evalsha(floorSha, 0) },
      verify: (_c: string, r: unknown) => {
        if (r !== 1) throw new Error(`expected 1, got ${String(r)}`);
      },
      baselineLabel: 'BullMQ',
    },
    add: {
      operation: 'DLQ add on Redis, sequential (vs BullMQ queue.add)',
      baseline: () => bullAdd().then((job) => (job as { id?: string }).id),
      ops: { ...(addDlq && { x: () => addDlq.add(ITEM) }) },
      verify: expectString,
      ...common,
    },
    add64: {
      operation: `DLQ add on Redis, ${IN_FLIGHT} in flight (vs BullMQ queue.add)`,
      baseline: bullAdd64,
      ops: { ...(addDlq && { x: () => many(() => addDlq.add(ITEM)).then((r) => r.length) }) },
      verify: expectCount,
      ...common,
    },
    addProcess64: {
      operation: `DLQ add + process on Redis, ${IN_FLIGHT} in flight, concurrency ${IN_FLIGHT}, no-op processor (vs BullMQ Worker)`,
      baseline: bullFlow,
      ops: { ...(ourFlow && { x: ourFlow }) },
      verify: expectCount,
      dispose,
      ...common,
    },
  };
}

let shared: Promise<Setup | { note: string }> | undefined;
const sharedSetup = () => (shared ??= setup());

function skipped(operation: string, note: string): Row {
  return { operation, ops: {}, note };
}

/** Every row this file contributes, in the `RowFactory` shape run.ts lists. */
export const rows: readonly [string, () => Promise<Row>][] = [
  ['dlq-redis-floor', async () => ((s) => ('note' in s ? skipped('floor: bare EVALSHA on Redis', s.note) : s.floor))(await sharedSetup())],
  ['dlq-redis-add', async () => ((s) => ('note' in s ? skipped('DLQ add on Redis', s.note) : s.add))(await sharedSetup())],
  ['dlq-redis-add-64', async () => ((s) => ('note' in s ? skipped('DLQ add on Redis, 64 in flight', s.note) : s.add64))(await sharedSetup())],
  ['dlq-redis-process-64', async () => ((s) => ('note' in s ? skipped('DLQ add + process on Redis', s.note) : s.addProcess64))(await sharedSetup())],
];
