// The `backend: 'module'` path (RedisBloom / Redis 8 / valkey-bloom `BF.*`) against a scripted
// server: no RedisBloom can be installed here, so `ScriptedRedis` answers BF.RESERVE / BF.ADD /
// BF.EXISTS / BF.CARD with a JS Set per key, plus the few plain commands the filter sends
// (EXISTS, DEL, the open script, BITFIELD for the bitfield backend), and records every command.
// It proves the commands the filter sends and what it makes of the answers, not RedisBloom itself.
import { createEventBus, isXError } from '@x/core';
import type { XEvent } from '@x/core';
import { sha1 } from '@x/core/store';
import { createVirtualClock } from '@x/core/testing';
import type { VirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { bloomPositions } from './index.js';
import { redisBloomFilter } from './redis.js';
import type { RedisBloomClient, RedisBloomFilter, RedisBloomFilterOptions, RedisBloomPipeline } from './redis.js';

type Arg = string | number;
type Command = [string, ...Arg[]];

/** Commands a scripted server recorded: one list per round trip (a lone command, or a pipeline). */
interface Sent {
  readonly pipeline: boolean;
  readonly commands: Command[];
}

class ReplyError extends Error {}

/** An in-memory stand-in for a Redis server with (or without) the bloom module. */
class ScriptedRedis implements RedisBloomClient {
  status = 'ready';
  /** Whether BF.* exists (false: a plain Redis, "unknown command"). */
  module = true;
  readonly sent: Sent[] = [];
  readonly hashes = new Map<string, Map<string, string>>();
  readonly filters = new Map<string, { rate: number; capacity: number; nonScaling: boolean; items: Set<string> }>();
  readonly strings = new Map<string, Uint8Array>();
  readonly #scripts = new Map<string, string>();
  /** While true, round trips are held unanswered (a stalled link); `release()` answers them late. */
  #stalled = false;
  readonly #held: (() => void)[] = [];
  /** Replies to override, by command name (a misbehaving server or proxy). */
  readonly forced = new Map<string, unknown>();

  stall(): void {
    this.#stalled = true;
  }

  /** Ends the stall and answers every held round trip (after its deadline: the filter must ignore them). */
  release(): void {
    this.#stalled = false;
    for (const answer of this.#held.splice(0)) answer();
  }

  /** Every command sent, in order, pipelines flattened. */
  get commands(): Command[] {
    return this.sent.flatMap((s) => s.commands);
  }

  names(): string[] {
    return this.commands.map((c) => c[0]);
  }

  #roundTrip<T>(commands: Command[], pipeline: boolean, answer: () => T): Promise<T> {
    this.sent.push({ pipeline, commands });
    return new Promise<T>((resolve, reject) => {
      const run = () => {
        try {
          resolve(answer());
        } catch (error) {
          reject(error);
        }
      };
      if (this.#stalled) this.#held.push(run);
      else run();
    });
  }

  #type(key: string): string {
    return this.hashes.has(key) ? 'hash' : this.filters.has(key) ? 'MBbloom--' : this.strings.has(key) ? 'string' : 'none';
  }

  #filter(key: string, create: boolean) {
    const type = this.#type(key);
    if (type !== 'none' && type !== 'MBbloom--') throw new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value');
    let filter = this.filters.get(key);
    // RedisBloom's BF.ADD creates a missing key with its default parameters.
    if (filter === undefined && create) this.filters.set(key, (filter = { rate: 0.01, capacity: 100, nonScaling: false, items: new Set() }));
    return filter;
  }

  #bits(key: string): Uint8Array {
    const type = this.#type(key);
    if (type !== 'none' && type !== 'string') throw new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value');
    return this.strings.get(key) ?? new Uint8Array(0);
  }

  /** Runs one command; throws a ReplyError for what Redis would answer with an error. */
  execute([name, ...args]: Command): unknown {
    const forced = this.forced.get(name);
    if (forced !== undefined) return forced;
    const key = String(args[0]);
    if (name.startsWith('BF.') && !this.module) throw new ReplyError(`ERR unknown command '${name}', with args beginning with: '${key}'`);
    switch (name) {
      case 'BF.RESERVE': {
        if (this.#type(key) !== 'none') throw new ReplyError('ERR item exists');
        this.filters.set(key, { rate: Number(args[1]), capacity: Number(args[2]), nonScaling: args.includes('NONSCALING'), items: new Set() });
        return 'OK';
      }
      case 'BF.ADD': {
        const filter = this.#filter(key, true)!;
        const before = filter.items.size;
        filter.items.add(String(args[1]));
        return filter.items.size > before ? 1 : 0;
      }
      case 'BF.EXISTS':
        return this.#filter(key, false)?.items.has(String(args[1])) === true ? 1 : 0;
      case 'BF.CARD':
        return this.#filter(key, false)?.items.size ?? 0;
      case 'EXISTS':
        return args.filter((k) => this.#type(String(k)) !== 'none').length;
      case 'DEL': {
        let removed = 0;
        for (const k of args.map(String)) if (this.hashes.delete(k) || this.filters.delete(k) || this.strings.delete(k)) removed++;
        return removed;
      }
      case 'BITFIELD':
      case 'BITFIELD_RO': {
        let bits = this.#bits(key);
        const out: number[] = [];
        for (let i = 1; i < args.length; ) {
          const op = String(args[i]);
          if (name === 'BITFIELD_RO' && op !== 'GET') throw new ReplyError('ERR BITFIELD_RO only supports the GET subcommand');
          const offset = Number(args[i + 2]);
          if (op !== 'GET' && offset >>> 3 >= bits.length) {
            const grown = new Uint8Array((offset >>> 3) + 1);
            grown.set(bits);
            bits = grown;
            this.strings.set(key, bits);
          }
          const mask = 0x80 >>> (offset & 7);
          const old = (bits[offset >>> 3] ?? 0) & mask ? 1 : 0;
          if (op === 'SET' && Number(args[i + 3]) === 1) bits[offset >>> 3]! |= mask;
          out.push(old);
          i += op === 'GET' ? 3 : 4;
        }
        return out;
      }
      case 'BITCOUNT': {
        let count = 0;
        for (const byte of this.#bits(key)) for (let b = byte; b !== 0; b &= b - 1) count++;
        return count;
      }
      default:
        throw new ReplyError(`ERR unknown command '${name}'`);
    }
  }

  /** The filter's one script: HGETALL the metadata, or write it unless bit keys exist already. */
  #script(source: string, args: Arg[]): unknown {
    if (!source.includes("redis.call('HGETALL', KEYS[1])")) throw new ReplyError('ERR the scripted server knows only the open script');
    const [numkeys, metaKey, orphan, ...fields] = args;
    expect(numkeys).toBe(1);
    const existing = this.hashes.get(String(metaKey));
    if (existing !== undefined) return [...existing].flat();
    if (orphan === '1') return 1;
    const hash = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) hash.set(String(fields[i]), String(fields[i + 1]));
    this.hashes.set(String(metaKey), hash);
    return 0;
  }

  evalsha(sha: string, ...args: Arg[]): Promise<unknown> {
    return this.#roundTrip([['EVALSHA', sha, ...args]], false, () => {
      const source = this.#scripts.get(sha);
      if (source === undefined) throw new ReplyError('NOSCRIPT No matching script. Please use EVAL.');
      return this.#script(source, args);
    });
  }

  eval(source: string, ...args: Arg[]): Promise<unknown> {
    return this.#roundTrip([['EVAL', '<script>', ...args]], false, () => {
      this.#scripts.set(sha1(source), source);
      return this.#script(source, args);
    });
  }

  call(command: string, ...args: Arg[]): Promise<unknown> {
    const c: Command = [command.toUpperCase(), ...args];
    return this.#roundTrip([c], false, () => this.execute(c));
  }

  #one(c: Command): Promise<never> {
    return this.#roundTrip([c], false, () => this.execute(c) as never);
  }

  bitfield(key: string, ...args: Arg[]): Promise<unknown> {
    return this.#one(['BITFIELD', key, ...args]);
  }

  bitfield_ro(key: string, ...args: Arg[]): Promise<unknown> {
    return this.#one(['BITFIELD_RO', key, ...args]);
  }

  bitcount(key: string): Promise<number> {
    return this.#one(['BITCOUNT', key]);
  }

  del(...keys: string[]): Promise<number> {
    return this.#one(['DEL', ...keys]);
  }

  exists(...keys: string[]): Promise<number> {
    return this.#one(['EXISTS', ...keys]);
  }

  pipeline(): RedisBloomPipeline {
    const queued: Command[] = [];
    const pipeline: RedisBloomPipeline = {
      bitfield: (key, ...args) => queued.push(['BITFIELD', key, ...args]),
      bitfield_ro: (key, ...args) => queued.push(['BITFIELD_RO', key, ...args]),
      call: (command, ...args) => queued.push([command.toUpperCase(), ...args]),
      // Like ioredis: every command's error or reply, in order; the pipeline itself resolves.
      exec: () =>
        this.#roundTrip(queued, true, () =>
          queued.map((c): [Error | null, unknown] => {
            try {
              return [null, this.execute(c)];
            } catch (error) {
              return [error as Error, null];
            }
          }),
        ),
    };
    return pipeline;
  }
}

const BASE = { key: 'ids', expectedItems: 1_000, falsePositiveRate: 0.01, timeoutMs: 50, failureThreshold: 2, cooldownMs: 1_000 } as const;

function setup(options: Partial<RedisBloomFilterOptions> = {}, server = new ScriptedRedis()) {
  const clock = createVirtualClock();
  const events = createEventBus();
  const seen: XEvent[] = [];
  events.on('*', (e) => {
    if (e.type.startsWith('bloom.')) seen.push(e);
  });
  const open = (more: Partial<RedisBloomFilterOptions> = {}) => redisBloomFilter(server, { ...BASE, backend: 'module', clock, events, ...options, ...more });
  return { server, clock, events, seen, open };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return 'resolved';
}

/**
 * Settles `promise` on the virtual clock: checks it is still pending 1 ms before `deadlineMs`, then
 * moves to the deadline and returns the outcome.
 */
async function atDeadline<T>(clock: VirtualClock, promise: Promise<T>, deadlineMs: number): Promise<{ value?: T; error?: unknown }> {
  let outcome: { value?: T; error?: unknown } | undefined;
  promise.then(
    (value) => (outcome = { value }),
    (error: unknown) => (outcome = { error }),
  );
  await clock.advance(deadlineMs - 1);
  expect(outcome, 'settled before its deadline').toBeUndefined();
  await clock.advance(1);
  expect(outcome, 'not settled at its deadline').toBeDefined();
  return outcome!;
}

/** The shard key a key is routed to (the hash contract's shard hash, for both backends). */
const shardKey = (f: RedisBloomFilter, key: string) => f.keys.bits[bloomPositions(key, f.sizing).shard]!;

describe("backend 'module' (scripted BF.* server)", () => {
  it('creates the filter with BF.RESERVE per shard (rate, per-shard capacity, NONSCALING) and metadata recording backend "module"; no BITFIELD, no pre-allocation', async () => {
    const { server, open, seen } = setup({ shards: 2 });
    const f = await open();
    expect(f.keys.bits).toEqual(['{bloom:ids:0}:bf', '{bloom:ids:1}:bf']);
    expect(f.keys.meta).toBe('{bloom:ids}:meta');
    expect(server.names()).toEqual(['EXISTS', 'EXISTS', 'EVALSHA', 'EVAL', 'BF.RESERVE', 'BF.RESERVE']);
    expect(server.commands.filter((c) => c[0] === 'BF.RESERVE')).toEqual([
      ['BF.RESERVE', '{bloom:ids:0}:bf', 0.01, 500, 'NONSCALING'],
      ['BF.RESERVE', '{bloom:ids:1}:bf', 0.01, 500, 'NONSCALING'],
    ]);
    const meta = Object.fromEntries(server.hashes.get('{bloom:ids}:meta')!);
    expect(meta).toMatchObject({
      backend: 'module',
      hashVersion: '0',
      m: String(f.sizing.m),
      k: String(f.sizing.k),
      shards: '2',
      shardBits: String(f.sizing.shardBits),
      expectedItems: '1000',
      falsePositiveRate: '0.01',
    });
    expect(seen.filter((e) => e.type === 'bloom.opened')).toMatchObject([{ created: true, preallocatedBytes: 0 }]);
  });

  it('add / has: one BF.ADD / BF.EXISTS on the key\'s shard per call; add says whether the key was possibly present', async () => {
    const { server, open } = setup({ shards: 3 });
    const f = await open();
    const before = server.sent.length;
    expect(await f.has('user:1')).toBe(false);
    expect(await f.add('user:1')).toBe(false);
    expect(await f.add('user:1')).toBe(true);
    expect(await f.has('user:1')).toBe(true);
    expect(await f.has('user:2')).toBe(false);
    const sent = server.sent.slice(before);
    expect(sent.every((s) => !s.pipeline && s.commands.length === 1)).toBe(true);
    expect(sent.map((s) => s.commands[0])).toEqual([
      ['BF.EXISTS', shardKey(f, 'user:1'), 'user:1'],
      ['BF.ADD', shardKey(f, 'user:1'), 'user:1'],
      ['BF.ADD', shardKey(f, 'user:1'), 'user:1'],
      ['BF.EXISTS', shardKey(f, 'user:1'), 'user:1'],
      ['BF.EXISTS', shardKey(f, 'user:2'), 'user:2'],
    ]);
    // The key went to its shard only.
    expect([...server.filters].filter(([, filter]) => filter.items.has('user:1')).map(([key]) => key)).toEqual([shardKey(f, 'user:1')]);
  });

  it('addMany / hasMany: pipelined, one BF.ADD / BF.EXISTS per key, each pipeline on one shard with at most batchSize keys; answers in the keys\' order', async () => {
    const { server, open } = setup({ shards: 2, batchSize: 3 });
    const f = await open();
    const keys = ['a', 'b', 'a', 'c', 'd', 'e', 'b', 'f', 'g', 'h'];
    const before = server.sent.length;
    // As one add per key in turn: a repeat is "possibly present".
    expect(await f.addMany(keys)).toEqual([false, false, true, false, false, false, true, false, false, false]);
    expect(await f.hasMany(['h', 'x', 'a', 'y', 'g'])).toEqual([true, false, true, false, true]);
    const sent = server.sent.slice(before);
    expect(sent.every((s) => s.pipeline)).toBe(true);
    for (const s of sent) {
      expect(s.commands.length).toBeLessThanOrEqual(3);
      expect(new Set(s.commands.map((c) => c[1])).size).toBe(1); // one shard key per pipeline
    }
    const adds = sent.flatMap((s) => s.commands).filter((c) => c[0] === 'BF.ADD');
    const checks = sent.flatMap((s) => s.commands).filter((c) => c[0] === 'BF.EXISTS');
    expect(adds.map((c) => c[2]).sort()).toEqual([...keys].sort());
    expect(checks.map((c) => c[2]).sort()).toEqual(['a', 'g', 'h', 'x', 'y']);
    for (const c of [...adds, ...checks]) expect(c).toEqual([c[0], shardKey(f, String(c[2])), c[2]]);
    expect(server.names().filter((n) => n.startsWith('BITFIELD'))).toEqual([]);
  });

  it('reopening: with the same parameters it shares the filter (no second BF.RESERVE); with backend "bitfield" it is BLOOM_METADATA_MISMATCH naming the backend, changing nothing', async () => {
    const { server, open } = setup();
    const first = await open();
    await first.add('kept');
    const again = await open();
    expect(await again.has('kept')).toBe(true);
    expect(server.names().filter((n) => n === 'BF.RESERVE')).toHaveLength(1);

    const meta = new Map(server.hashes.get('{bloom:ids}:meta')!);
    const before = server.sent.length;
    const error = await rejection(open({ backend: 'bitfield' }));
    expect(isXError(error, 'BLOOM_METADATA_MISMATCH'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/backend: stored module, requested bitfield; hashVersion: stored 0, requested 1/);
    expect((error as { stored: Record<string, string> }).stored['backend']).toBe('module');
    // Never a silent switch: no bit string was created or touched, the metadata is unchanged.
    const sent = server.commands.slice(before);
    expect(sent.map((c) => c[0]).filter((n) => !['EXISTS', 'EVALSHA'].includes(n))).toEqual([]);
    expect(server.strings.size).toBe(0);
    expect(server.hashes.get('{bloom:ids}:meta')).toEqual(meta);
    expect(server.filters.get('{bloom:ids:0}:bf')?.items).toEqual(new Set(['kept']));
  });

  it('the reverse: backend "module" on a bitfield filter is BLOOM_METADATA_MISMATCH too, and sends no BF.* command', async () => {
    const { server, open } = setup({ backend: 'bitfield' });
    const f = await open();
    await f.add('kept');
    const error = await rejection(open({ backend: 'module' }));
    expect(isXError(error, 'BLOOM_METADATA_MISMATCH'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/backend: stored bitfield, requested module/);
    expect(server.names().filter((n) => n.startsWith('BF.'))).toEqual([]);
    expect(await f.has('kept')).toBe(true);
  });

  it('a server without BF.* commands: BLOOM_MODULE_UNAVAILABLE, and no metadata is left that would pin the key to the module', async () => {
    const server = new ScriptedRedis();
    server.module = false;
    const { open } = setup({}, server);
    const error = await rejection(open());
    expect(isXError(error, 'BLOOM_MODULE_UNAVAILABLE'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/backend 'module' asked for, but the server has no BF\.\* commands/);
    expect(server.hashes.size).toBe(0);
    expect(await (await open({ backend: 'bitfield' })).add('x')).toBe(false);
  });

  it('stats() counts items with BF.CARD per shard and reports backend "module", hash version 0; clear() deletes the shards and reserves them again', async () => {
    const { server, open } = setup({ shards: 2 });
    const f = await open();
    await f.addMany(['a', 'b', 'c', 'a']);
    const stats = await f.stats();
    expect(stats).toMatchObject({ backend: 'module', hashVersion: 0, items: 3, shards: 2, capacity: 1_000, targetFpr: 0.01 });
    expect(stats.fillRatio).toBeCloseTo(1 - Math.exp((-f.sizing.k * 3) / f.sizing.m), 12);
    expect(server.commands.filter((c) => c[0] === 'BF.CARD')).toEqual([
      ['BF.CARD', '{bloom:ids:0}:bf'],
      ['BF.CARD', '{bloom:ids:1}:bf'],
    ]);
    const before = server.commands.length;
    await f.clear();
    expect(server.commands.slice(before)).toEqual([
      ['DEL', '{bloom:ids:0}:bf'],
      ['DEL', '{bloom:ids:1}:bf'],
      ['BF.RESERVE', '{bloom:ids:0}:bf', 0.01, 500, 'NONSCALING'],
      ['BF.RESERVE', '{bloom:ids:1}:bf', 0.01, 500, 'NONSCALING'],
    ]);
    expect(await f.hasMany(['a', 'b', 'c'])).toEqual([false, false, false]);
    expect(server.filters.get('{bloom:ids:0}:bf')).toMatchObject({ rate: 0.01, capacity: 500, nonScaling: true });
    expect((await f.stats()).items).toBe(0);
  });

  it('a reply that is not 0 or 1 is a failed call, never "absent": has answers per onStoreError, add rejects, the batch answers "present"', async () => {
    const { server, open } = setup({ failureThreshold: 100 });
    const present = await open();
    const strict = await open({ onStoreError: 'throw' });
    await present.add('a');
    server.forced.set('BF.EXISTS', 'QUEUED');
    server.forced.set('BF.ADD', null);
    expect(await present.has('never-added')).toBe(true);
    expect(isXError(await rejection(strict.has('never-added')), 'BLOOM_STORE_UNAVAILABLE')).toBe(true);
    expect(isXError(await rejection(present.add('b')), 'BLOOM_STORE_UNAVAILABLE')).toBe(true);
    expect(await present.hasMany(['never-1', 'never-2'])).toEqual([true, true]);
    expect(isXError(await rejection(present.addMany(['b', 'c'])), 'BLOOM_STORE_UNAVAILABLE')).toBe(true);
    expect(isXError(await rejection(strict.hasMany(['never-1'])), 'BLOOM_STORE_UNAVAILABLE')).toBe(true);
  });
});

// The same deadlines and fail modes for both backends: the module path goes through the same
// store caller and guard as the bitfield path.
describe.each(['module', 'bitfield'] as const)("deadlines and fail modes, backend '%s' (scripted server)", (backend) => {
  it('a stalled server: has answers "possibly present" at the deadline (never "absent"), or rejects with onStoreError "throw"; add and addMany reject; hasMany answers "present"; late replies are ignored', async () => {
    const { server, clock, open, seen } = setup({ backend, failureThreshold: 100 });
    const present = await open();
    const strict = await open({ onStoreError: 'throw' });
    await present.addMany(['a', 'b']);
    server.stall();
    expect((await atDeadline(clock, present.has('never-added'), 50)).value).toBe(true);
    expect((await atDeadline(clock, present.hasMany(['never-1', 'a', 'never-2']), 50)).value).toEqual([true, true, true]);
    const thrown = (await atDeadline(clock, strict.has('never-added'), 50)).error;
    expect(isXError(thrown, 'BLOOM_STORE_UNAVAILABLE') && thrown.timedOut).toBe(true);
    const add = (await atDeadline(clock, present.add('c'), 50)).error;
    expect(isXError(add, 'BLOOM_STORE_UNAVAILABLE') && add.timedOut).toBe(true);
    expect(isXError((await atDeadline(clock, present.addMany(['c', 'd']), 50)).error, 'BLOOM_STORE_UNAVAILABLE')).toBe(true);
    expect(isXError((await atDeadline(clock, strict.hasMany(['never-1']), 50)).error, 'BLOOM_STORE_UNAVAILABLE')).toBe(true);
    // The held commands are answered now, after their deadlines: nothing changes for the callers.
    server.release();
    await clock.flush();
    expect(await present.has('never-added')).toBe(false);
    expect(seen.filter((e) => e.type === 'bloom.store_error').every((e) => (e as { timedOut?: boolean }).timedOut)).toBe(true);
    expect(seen.filter((e) => e.type === 'bloom.store_error').length).toBeGreaterThanOrEqual(6);
  });

  it('after failureThreshold failures the server is skipped at once (degraded), then one call probes it after cooldownMs and it recovers', async () => {
    const { server, clock, open, seen } = setup({ backend });
    const f = await open();
    await f.add('a');
    server.stall();
    expect((await atDeadline(clock, f.has('x'), 50)).value).toBe(true);
    expect((await atDeadline(clock, f.has('y'), 50)).value).toBe(true);
    expect(f.health).toBe('degraded');
    expect(seen.filter((e) => e.type === 'bloom.store_degraded')).toHaveLength(1);
    // Skipped: answered without sending anything and without waiting.
    const sentBefore = server.sent.length;
    expect(await f.has('z')).toBe(true);
    expect(isXError(await rejection(f.add('z')), 'BLOOM_STORE_UNAVAILABLE')).toBe(true);
    expect(server.sent.length).toBe(sentBefore);
    server.release();
    await clock.advance(1_000);
    expect(await f.has('a')).toBe(true);
    expect(await f.has('never-added')).toBe(false);
    expect(f.health).toBe('healthy');
    expect(seen.filter((e) => e.type === 'bloom.store_recovered')).toHaveLength(1);
  });

  it('a server that is down (connection not ready) fails every call at once with the same answers', async () => {
    const { server, open } = setup({ backend, failureThreshold: 100 });
    const present = await open();
    const strict = await open({ onStoreError: 'throw' });
    server.status = 'reconnecting';
    const before = server.sent.length;
    expect(await present.has('never-added')).toBe(true);
    expect(await present.hasMany(['never-1', 'never-2'])).toEqual([true, true]);
    expect(isXError(await rejection(strict.has('never-added')), 'BLOOM_STORE_UNAVAILABLE')).toBe(true);
    expect(isXError(await rejection(present.add('a')), 'BLOOM_STORE_UNAVAILABLE')).toBe(true);
    expect(isXError(await rejection(present.addMany(['a'])), 'BLOOM_STORE_UNAVAILABLE')).toBe(true);
    // Nothing was sent to a connection that is not ready (ioredis would queue it offline).
    expect(server.sent.length).toBe(before);
  });
});
