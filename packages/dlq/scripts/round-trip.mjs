// The floor of a sequential Redis call on this machine: bare PING, EVALSHA of `return 1` and XADD
// round trips through ioredis, one after another. Run from packages/dlq:
//   node scripts/round-trip.mjs [calls per round, default 2000]
// Prints the median of 7 rounds (and the fastest round) per command. REDIS_URL overrides the address.
import Redis from 'ioredis';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { enableOfflineQueue: false, lazyConnect: true });
await redis.connect();
const calls = Number(process.argv[2] ?? 2000);
const stream = `round-trip-${process.pid}`;
const sha = await redis.script('LOAD', 'return 1');

async function time(label, call) {
  for (let i = 0; i < 300; i++) await call();
  const rounds = [];
  for (let r = 0; r < 7; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) await call();
    rounds.push(Number(process.hrtime.bigint() - start) / calls / 1000);
  }
  rounds.sort((a, b) => a - b);
  console.log(`${label.padEnd(20)} ${rounds[3].toFixed(1)} µs (fastest round ${rounds[0].toFixed(1)} µs)`);
}

try {
  await time('PING', () => redis.ping());
  await time('EVALSHA return 1', () => redis.evalsha(sha, 0));
  await time('XADD', () => redis.xadd(stream, 'MAXLEN', '1000', '*', 'd', 'x'));
} finally {
  await redis.del(stream);
  redis.disconnect();
}
