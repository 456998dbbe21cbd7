/**
 * Throughput of @x/dlq against BullMQ on the same Redis, measured as items per second over a
 * fixed backlog (the harness rows time single operations; a drain is not one):
 *
 * - Redis drain: a backlog of N items is added first (untimed), then a worker at concurrency 64
 *   with a no-op processor is started and timed until the backlog is empty. BullMQ removes
 *   completed jobs (`removeOnComplete: true`), as the DLQ deletes processed items.
 * - Memory store: adds per second (64 in flight) and processes per second (drain at concurrency 64).
 *
 * Rounds alternate the libraries; the median of each is printed with the ratio.
 *
 *   node --import tsx src/dlq-throughput.ts [--items=5000] [--rounds=3]
 */
import { Queue, Worker } from 'bullmq';
import Redis from 'ioredis';
import { createDeadLetterQueue, memoryDlqStore } from '@x/dlq';
import { redisDlqStore } from '@x/dlq/redis';
import { median } from './harness.js';

const arg = (name: string, fallback: number) => {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = found === undefined ? fallback : Number(found.slice(name.length + 3));
  if (!Number.isInteger(value) || value < 1 || value > 200_000) throw new Error(`--${name} must be an integer in [1, 200000]`);
  return value;
};
const ITEMS = arg('items', 5_000);
const ROUNDS = arg('rounds', 3);
const CONCURRENCY = 64;
const ITEM = { id: 'order-1', sku: 'a-1', qty: 2 };
const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const run = `${process.pid}-${Date.now().toString(36)}`;
const log = (line: string) => process.stderr.write(`${line}\n`);

/** Adds `n` items through `add`, 64 in flight. */
async function fill(n: number, add: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i += CONCURRENCY) await Promise.all(Array.from({ length: Math.min(CONCURRENCY, n - i) }, add));
}

const until = async (check: () => boolean, what: string) => {
  const end = Date.now() + 120_000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
};

async function dlqDrain(redis: Redis, round: number): Promise<number> {
  const store = redisDlqStore(redis, { prefix: `bench-drain-${run}`, timeoutMs: 5_000 });
  const producer = createDeadLetterQueue({ name: `r${round}`, store, maxSize: Infinity, backoff: () => 0 });
  await fill(ITEMS, () => producer.add(ITEM));
  let done = 0;
  const worker = createDeadLetterQueue({ name: `r${round}`, store, maxSize: Infinity, concurrency: CONCURRENCY, pollIntervalMs: 50, process: () => void done++ });
  const started = performance.now();
  worker.start();
  await until(() => done >= ITEMS, 'the DLQ drain');
  const seconds = (performance.now() - started) / 1_000;
  await worker.close();
  await producer.close();
  return ITEMS / seconds;
}

async function bullDrain(round: number): Promise<number> {
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const workerConnection = new Redis(url, { maxRetriesPerRequest: null });
  const name = `bench-drain-${run}-${round}`;
  const queue = new Queue(name, { connection });
  await queue.addBulk(Array.from({ length: ITEMS }, () => ({ name: 'job', data: ITEM, opts: { removeOnComplete: true } })));
  let done = 0;
  const started = performance.now();
  const worker = new Worker(name, async () => undefined, { connection: workerConnection, concurrency: CONCURRENCY });
  worker.on('completed', () => void done++);
  await until(() => done >= ITEMS, 'the BullMQ drain');
  const seconds = (performance.now() - started) / 1_000;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  connection.disconnect();
  workerConnection.disconnect();
  return ITEMS / seconds;
}

async function memory(): Promise<{ adds: number; processes: number }> {
  const store = memoryDlqStore();
  const producer = createDeadLetterQueue({ name: 'm', store, maxSize: Infinity, backoff: () => 0 });
  const n = ITEMS * 10;
  let started = performance.now();
  await fill(n, () => producer.add(ITEM));
  const adds = n / ((performance.now() - started) / 1_000);
  let done = 0;
  const worker = createDeadLetterQueue({ name: 'm', store, maxSize: Infinity, concurrency: CONCURRENCY, process: () => void done++ });
  started = performance.now();
  worker.start();
  await until(() => done >= n, 'the memory drain');
  const processes = n / ((performance.now() - started) / 1_000);
  await worker.close();
  return { adds, processes };
}

const redis = new Redis(url, { enableOfflineQueue: false, lazyConnect: true });
redis.on('error', () => {});
await redis.connect();
const ours: number[] = [];
const theirs: number[] = [];
const memAdds: number[] = [];
const memProcesses: number[] = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    log(`round ${round + 1}/${ROUNDS}`);
    theirs.push(await bullDrain(round));
    ours.push(await dlqDrain(redis, round));
    const m = await memory();
    memAdds.push(m.adds);
    memProcesses.push(m.processes);
  }
} finally {
  const keys = await redis.keys(`{bench-drain-${run}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
}
const fmt = (n: number) => `${Math.round(n).toLocaleString('en-US')}/s`;
console.log(`Drain of ${ITEMS} items at concurrency ${CONCURRENCY}, no-op processor, median of ${ROUNDS} rounds (Node ${process.version})`);
console.log(`  @x/dlq (Redis)      ${fmt(median(ours))}   rounds: ${ours.map(fmt).join(', ')}`);
console.log(`  BullMQ              ${fmt(median(theirs))}   rounds: ${theirs.map(fmt).join(', ')}`);
console.log(`  ratio               ${(median(ours) / median(theirs)).toFixed(2)}x BullMQ (target >= 3x)`);
console.log(`  @x/dlq memory store adds ${fmt(median(memAdds))}, processes ${fmt(median(memProcesses))} (${ITEMS * 10} items, 64 in flight / concurrency 64)`);
process.exit(0);
