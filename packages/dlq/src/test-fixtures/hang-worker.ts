// A worker process for the crash test (src/redis-faults.test.ts): takes items from a Redis queue,
// tells the parent which one it is processing, and never finishes it, so the parent can SIGKILL it
// mid-processing. Run with `--conditions=@x/source --import tsx` (sources, no build).
import Redis from 'ioredis';
import { createDeadLetterQueue } from '../index.js';
import { redisDlqStore } from '../redis.js';

const [url, prefix, name, visibilityMs] = process.argv.slice(2) as [string, string, string, string];
const redis = new Redis(url, { enableOfflineQueue: false });
redis.on('error', () => {});
const dlq = createDeadLetterQueue({
  name,
  store: redisDlqStore(redis, { prefix, timeoutMs: 2_000 }),
  backoff: () => 0,
  concurrency: 1,
  pollIntervalMs: 20,
  visibilityMs: Number(visibilityMs),
  process: (item, ctx) => {
    process.send?.({ processing: ctx.id, item, attempt: ctx.attempt });
    return new Promise(() => {}); // hangs until killed
  },
});
dlq.start();
process.send?.({ ready: true });
