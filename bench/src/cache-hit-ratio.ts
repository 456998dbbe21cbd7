// Hit ratio of @x/cache's L1 (TinyLFU admission) against lru-cache on the same Zipf(0.9) trace,
// capacity 1% of the keys (issue 15: at least lru-cache + 5 points). Deterministic (seeded trace).
// Run: node --import tsx src/cache-hit-ratio.ts   (from bench/, after building @x/cache)
import { LRUCache } from 'lru-cache';

const KEYS = Number(process.env['KEYS'] ?? 100_000);
const REQUESTS = Number(process.env['REQUESTS'] ?? 1_000_000);

function zipfTrace(n: number, s: number, length: number, seed: number): Int32Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s);
  let x = seed >>> 0;
  const trace = new Int32Array(length);
  for (let j = 0; j < length; j++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const r = (x / 2 ** 32) * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] as number) < r) lo = mid + 1;
      else hi = mid;
    }
    trace[j] = lo;
  }
  return trace;
}

const { createCache } = await import('@x/cache');
const capacity = KEYS / 100;
const results: string[] = [];
for (const seed of [1, 2, 3]) {
  const trace = zipfTrace(KEYS, 0.9, REQUESTS, seed);
  const lru = new LRUCache<string, number>({ max: capacity });
  let lruHits = 0;
  for (const id of trace) {
    const key = `key:${id}`;
    if (lru.get(key) !== undefined) lruHits++;
    else lru.set(key, id);
  }
  const cache = createCache<number>({ name: 'zipf', l1: { maxEntries: capacity }, ttlMs: 3_600_000, jitter: 0 });
  let hits = 0;
  for (const id of trace) {
    const key = `key:${id}`;
    if ((await cache.get(key)) !== undefined) hits++;
    else await cache.set(key, id);
  }
  const ours = (hits / REQUESTS) * 100;
  const theirs = (lruHits / REQUESTS) * 100;
  results.push(`seed ${seed}: @x/cache ${ours.toFixed(2)} %, lru-cache ${theirs.toFixed(2)} %, difference ${(ours - theirs).toFixed(2)} points`);
}
process.stdout.write(`Zipf(0.9), ${KEYS} keys, ${REQUESTS} requests, capacity ${capacity} (1%)\n${results.join('\n')}\n`);
