import { measure } from 'mitata';
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleAll, retry, timeout, TimeoutStrategy, wrap, bulkhead } from 'cockatiel';
import CircuitBreaker from 'opossum';
import pRetry from 'p-retry';
const work = async (): Promise<number> => 1;
const cb = circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) });
const op1 = new CircuitBreaker(work, { timeout: false });
const op2 = new CircuitBreaker(work);
const cr = retry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() });
const ct = timeout(1_000, TimeoutStrategy.Cooperative);
const cw = wrap(retry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() }), circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }), timeout(1_000, TimeoutStrategy.Cooperative));
const cbh = bulkhead(1_000_000);
const raw: [string, () => Promise<unknown>][] = [
  ['bare', () => work()],
  ['cockatiel breaker (2.4)', () => cb.execute(work)],
  ['opossum (6)', () => op1.fire()],
  ['opossum default (9.7)', () => op2.fire()],
  ['cockatiel retry (2.8)', () => cr.execute(work)],
  ['p-retry (59)', () => pRetry(work, { retries: 2 })],
  ['cockatiel timeout (91)', () => ct.execute(work)],
  ['cockatiel stack (111)', () => cw.execute(work)],
  ['cockatiel bulkhead (1.5)', () => cbh.execute(work)],
];
const style = process.argv[2];
const ops = raw.map(([k, f]) => [k, style === 'wrapped' ? async () => { await f(); } : f] as [string, () => Promise<unknown>]);
for (const [, op] of ops) { const until = performance.now() + 150; while (performance.now() < until) for (let i = 0; i < 256; i++) await op(); }
const times = new Map(ops.map(([k]) => [k, [] as number[]]));
for (let r = 0; r < 7; r++) for (let k = 0; k < ops.length; k++) {
  const [name, op] = ops[(k + r) % ops.length]!;
  times.get(name)!.push((await measure(op, { min_cpu_time: 60e6 })).p50);
}
const med = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]!; };
const bare = times.get('bare')!;
console.log(style, 'bare', med(bare).toFixed(1), 'ns');
for (const [k] of ops.slice(1)) console.log(' ', k.padEnd(28), med(times.get(k)!.map((t, i) => t / bare[i]!)).toFixed(2));
op1.shutdown(); op2.shutdown();
