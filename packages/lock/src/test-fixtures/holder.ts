// A lock holder in its own process, for the SIGSTOP test (src/redis.test.ts): takes the lock with
// background extension and reports, one JSON line per event on stdout, its fence, then what it
// finds once its signal aborts (or 10 s pass), then withLock's outcome.
import Redis from 'ioredis';
import { createLock } from '../index.js';
import { redisLockStore } from '../redis.js';

const [port, prefix, key] = process.argv.slice(2) as [string, string, string];
const say = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`);
const redis = new Redis(Number(port), { enableOfflineQueue: false });
redis.on('error', () => {});
const lock = createLock({ name: 'holder', store: redisLockStore(redis, { prefix }), ttlMs: 600 });
try {
  await lock.withLock(key, async ({ signal, fence, lease }) => {
    say({ held: fence });
    await new Promise<void>((resolve) => {
      signal.addEventListener('abort', () => resolve());
      setTimeout(resolve, 10_000);
    });
    say({ aborted: signal.aborted, reason: (signal.reason as { reason?: string } | undefined)?.reason, remainingMs: lease.remainingMs() });
  });
  say({ result: 'resolved' });
} catch (error) {
  say({ result: (error as { code?: string }).code, reason: (error as { reason?: string }).reason });
}
redis.disconnect();
