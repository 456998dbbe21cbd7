import { InvalidOptionsError, checkClock, checkEvents, checkInteger, checkString, readOptions } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import { StoreCaller, StoreGuard, checkKeyPrefix, defineScript, encodeKeyPart, storeGuardOptions } from '@x/core/store';
import type { StoreClient, StoreScript } from '@x/core/store';
import { DeadLetterStoreUnavailableError } from './errors.js';
import type {
  ClaimResult,
  ClaimedEntry,
  DeadLetterState,
  DeadLetterStore,
  OverflowPolicy,
  QueueStore,
  StoreAddOutcome,
  StoreContext,
  StoreSizes,
  StoredEntry,
  StoredPage,
} from './types.js';

/** Options of {@link redisDlqStore}. */
export interface RedisDlqStoreOptions {
  /** Start of every key (no `{` or `}`). Default `'dlq'`. Keys are `{<prefix>:<queue>}:<part>`, one hash slot per queue. */
  readonly prefix?: string;
  /** Deadline of each Redis call, ms. Default 1 000. `add` rejects with `DLQ_STORE_UNAVAILABLE` within it. */
  readonly timeoutMs?: number;
  /** Name in `dlq.store_*` events and metrics. Default `'redis'`. */
  readonly name?: string;
  /** Consecutive failures after which calls fail fast for `cooldownMs`. Default 3. */
  readonly failureThreshold?: number;
  /** How long calls fail fast before one probes Redis again, ms. Default 1 000. */
  readonly cooldownMs?: number;
  /**
   * Consumers of the group left behind by processes that are gone (each queue instance reads as
   * its own consumer) are removed once idle this long, ms, and only when they hold no delivery:
   * one with pending entries is never removed (its items are reclaimed by `XAUTOCLAIM` first).
   * Checked at most once a minute (or once per this interval when shorter) by a polling queue.
   * Default 3 600 000 (1 hour).
   */
  readonly staleConsumerMs?: number;
  /** Clock for call deadlines. Default: the queue's clock. */
  readonly clock?: Clock;
  /** Bus for the store's events. Default: the queue's bus. */
  readonly events?: EventBus;
}

// KEYS, the same for every script (all share the queue's hash tag, so Cluster runs them on one node):
// 1 docs (hash id -> record JSON)      2 at (hash id -> ms it entered its state)
// 3 tok (hash id -> stream entry id of its current delivery)
// 4 idem (hash idempotency key -> id)  5 idk (hash id -> idempotency key)
// 6 due (zset id -> due time, waiting items)
// 7 pending (zset id -> entry order, waiting and in-flight)   8 dead (zset id -> entry order)
// 9 seq (counter: ids and entry orders)  10 ready (stream of deliveries, consumer group 'w')
// 11 cursor (XAUTOCLAIM scan position)
const PARTS = ['docs', 'at', 'tok', 'idem', 'idk', 'due', 'pending', 'dead', 'seq', 'ready', 'cursor'] as const;

// Members of the due set are zero-padded ids, so items due at the same time come out in the order
// they were added (a sorted set orders equal scores by member, as strings).
const PAD = `
local function pad(id) return string.format('%016d', tonumber(id)) end
`;

// A delivery token is '<stream entry id>/<delivery count>'. XAUTOCLAIM keeps the entry id when it
// hands an expired delivery to another worker, so the count is what tells the two holders apart:
// the late one's result is ignored and never acknowledges the new holder's delivery.
const TOKEN = `
local function sidOf(token) return string.match(token, '^[^/]+') end
`;

const REMOVE = `${PAD}${TOKEN}
local function ackdel(sid)
  redis.pcall('XACK', KEYS[10], 'w', sid)
  redis.pcall('XDEL', KEYS[10], sid)
end
-- True when token is the item's current delivery (and acknowledges it). A token of an older
-- stream entry is cleaned up; one of the same entry reclaimed by another worker is left alone.
local function own(id, token)
  local current = redis.call('HGET', KEYS[3], id)
  local sid = sidOf(token)
  if current == token then
    ackdel(sid)
    return true
  end
  if not current or sidOf(current) ~= sid then ackdel(sid) end
  return false
end
local function remove(id)
  local current = redis.call('HGET', KEYS[3], id)
  if current then ackdel(sidOf(current)) end
  redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[6], pad(id))
  redis.call('ZREM', KEYS[7], id)
  redis.call('ZREM', KEYS[8], id)
  local k = redis.call('HGET', KEYS[5], id)
  if k then
    if redis.call('HGET', KEYS[4], k) == id then redis.call('HDEL', KEYS[4], k) end
    redis.call('HDEL', KEYS[5], id)
  end
end
`;

const SIZES = `
local function sizes()
  local op = redis.call('ZRANGE', KEYS[7], 0, 0)
  local od = redis.call('ZRANGE', KEYS[8], 0, 0)
  return {
    redis.call('ZCARD', KEYS[7]), redis.call('ZCARD', KEYS[6]), redis.call('ZCARD', KEYS[8]),
    op[1] and redis.call('HGET', KEYS[2], op[1]) or false,
    od[1] and redis.call('HGET', KEYS[2], od[1]) or false
  }
end
`;

// ARGV: now, maxSize (0 = unbounded), overflow, then (doc, idempotency key or '', dueAt) per item.
// Several adds made at once go in one call (see Batcher); each sees the ones before it.
const ADD = defineScript(`${REMOVE}
local now = ARGV[1]
local maxSize = tonumber(ARGV[2])
local function add(doc, idem, dueAt)
  if idem ~= '' then
    local existing = redis.call('HGET', KEYS[4], idem)
    if existing then return {'dup', existing} end
  end
  local victim, victimDoc = false, false
  if maxSize > 0 and redis.call('ZCARD', KEYS[7]) + redis.call('ZCARD', KEYS[8]) >= maxSize then
    if ARGV[3] == 'reject' then return {'full'} end
    -- The oldest pending item that is waiting (never one a worker holds: it would be processed
    -- and reported dropped both), or the oldest dead one, whichever entered its state first.
    local p, ps = false, false
    local from = 0
    while not p do
      local ids = redis.call('ZRANGE', KEYS[7], from, from + 63, 'WITHSCORES')
      if #ids == 0 then break end
      for i = 1, #ids, 2 do
        if redis.call('ZSCORE', KEYS[6], pad(ids[i])) then
          p, ps = ids[i], ids[i + 1]
          break
        end
      end
      from = from + 64
    end
    local d = redis.call('ZRANGE', KEYS[8], 0, 0, 'WITHSCORES')
    if p and (not d[1] or tonumber(ps) < tonumber(d[2])) then victim = p elseif d[1] then victim = d[1] end
    -- Everything held is in flight: nothing can make room.
    if not victim then return {'full'} end
    victimDoc = redis.call('HGET', KEYS[1], victim) or ''
    remove(victim)
  end
  -- The id is also its entry order: both come from the one counter, so it sorts after every
  -- order handed out before it (one INCR instead of two).
  local seq = redis.call('INCR', KEYS[9])
  local id = tostring(seq)
  redis.call('HSET', KEYS[1], id, doc)
  redis.call('HSET', KEYS[2], id, now)
  redis.call('ZADD', KEYS[7], seq, id)
  redis.call('ZADD', KEYS[6], dueAt, pad(id))
  if idem ~= '' then
    redis.call('HSET', KEYS[4], idem, id)
    redis.call('HSET', KEYS[5], id, idem)
  end
  return {'ok', id, victim, victimDoc}
end
local out = {}
for i = 4, #ARGV, 3 do out[#out + 1] = add(ARGV[i], ARGV[i + 1], ARGV[i + 2]) end
return out
`);

// ARGV: now, count, consumer, minIdle (visibilityMs)
const CLAIM = defineScript(`${SIZES}${PAD}${TOKEN}
local now = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[10]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[10], 'w', '0', 'MKSTREAM')
end
local due = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now, 'LIMIT', 0, count)
for i = 1, #due do
  redis.call('ZREM', KEYS[6], due[i])
  local id = tostring(tonumber(due[i]))
  redis.call('HSET', KEYS[3], id, redis.call('XADD', KEYS[10], '*', 'id', id))
end
local out = {}
local function take(sid, id, deliveries)
  local doc = id and redis.call('HGET', KEYS[1], id)
  local current = doc and redis.call('HGET', KEYS[3], id)
  if current and sidOf(current) == sid then
    local token = sid .. '/' .. deliveries
    redis.call('HSET', KEYS[3], id, token)
    out[#out + 1] = {id, token, doc, deliveries}
  else
    redis.call('XACK', KEYS[10], 'w', sid)
    redis.call('XDEL', KEYS[10], sid)
  end
end
local start = redis.call('GET', KEYS[11]) or '0-0'
local claimed = redis.call('XAUTOCLAIM', KEYS[10], 'w', ARGV[3], ARGV[4], start, 'COUNT', count)
redis.call('SET', KEYS[11], claimed[1])
for _, e in ipairs(claimed[2]) do
  local sid = e[1]
  local p = redis.call('XPENDING', KEYS[10], 'w', sid, sid, 1)
  take(sid, e[2] and e[2][2], p[1] and p[1][4] or 2)
end
local left = count - #out
if left > 0 then
  local r = redis.call('XREADGROUP', 'GROUP', 'w', ARGV[3], 'COUNT', left, 'STREAMS', KEYS[10], '>')
  if r then
    for _, e in ipairs(r[1][2]) do take(e[1], e[2][2], 1) end
  end
end
local nxt = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')
return {out, nxt[2] or false, sizes()}
`);

// ARGV: (id, delivery token) per item, batched like ADD.
const COMPLETE = defineScript(`${REMOVE}
local out = {}
for i = 1, #ARGV, 2 do
  if own(ARGV[i], ARGV[i + 1]) then
    redis.call('HDEL', KEYS[3], ARGV[i]) -- acknowledged by own(): remove() need not do it again
    remove(ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`);

// ARGV: id, delivery token, doc, dueAt
const RESCHEDULE = defineScript(`${REMOVE}
if not own(ARGV[1], ARGV[2]) then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[6], ARGV[4], pad(ARGV[1]))
return 1
`);

// ARGV: id, delivery token, doc, now
const BURY = defineScript(`${REMOVE}
if not own(ARGV[1], ARGV[2]) then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('ZREM', KEYS[6], pad(ARGV[1]))
redis.call('ZADD', KEYS[8], redis.call('INCR', KEYS[9]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
return 1
`);

const ROW = `${PAD}
local function row(id)
  local doc = redis.call('HGET', KEYS[1], id)
  if not doc then return false end
  local since = redis.call('HGET', KEYS[2], id) or '0'
  if redis.call('ZSCORE', KEYS[8], id) then return {id, doc, 'dead', 0, since, false} end
  local due = redis.call('ZSCORE', KEYS[6], pad(id))
  if due then return {id, doc, 'pending', 0, since, due} end
  return {id, doc, 'pending', 1, since, false}
end
`;

// ARGV: id
const GET = defineScript(`${ROW}
return row(ARGV[1])
`);

// ARGV: state, limit, cursor ('' = first page)
const LIST = defineScript(`${ROW}
local key = ARGV[1] == 'dead' and KEYS[8] or KEYS[7]
local limit = tonumber(ARGV[2])
local min = ARGV[3] == '' and '-inf' or ('(' .. ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', key, min, '+inf', 'WITHSCORES', 'LIMIT', 0, limit + 1)
local out = {}
local last = false
for i = 1, #ids, 2 do
  if #out == limit then return {out, last} end
  local r = row(ids[i])
  if r then out[#out + 1] = r end
  last = ids[i + 1]
end
return {out, false}
`);

// ARGV: id, doc ('' = keep), dueAt, now. A doc was computed from the dead record: it applies only
// while the item is still dead (else it would overwrite a newer record).
const REVIVE = defineScript(`${PAD}
local id = ARGV[1]
if redis.call('HEXISTS', KEYS[1], id) == 0 then return 0 end
local dead = redis.call('ZSCORE', KEYS[8], id)
if ARGV[2] ~= '' and not dead then return 0 end
if dead then
  redis.call('ZREM', KEYS[8], id)
  redis.call('ZADD', KEYS[7], redis.call('INCR', KEYS[9]), id)
  redis.call('HSET', KEYS[2], id, ARGV[4])
elseif not redis.call('ZSCORE', KEYS[6], pad(id)) then
  return 0
end
redis.call('ZADD', KEYS[6], ARGV[3], pad(id))
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], id, ARGV[2]) end
return 1
`);

// ARGV: id
const DISCARD = defineScript(`${REMOVE}
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
remove(ARGV[1])
return 1
`);

const SIZES_SCRIPT = defineScript(`${SIZES}
return sizes()
`);

// ARGV: minIdle, most to remove, this instance's consumer. Reads and deletes in one script, so no
// consumer gains a delivery between the check and the delete: one that holds any is never removed.
const SWEEP = defineScript(`
if redis.call('EXISTS', KEYS[10]) == 0 then return 0 end
local consumers = redis.pcall('XINFO', 'CONSUMERS', KEYS[10], 'w')
if type(consumers) ~= 'table' or consumers.err then return 0 end
local minIdle, most = tonumber(ARGV[1]), tonumber(ARGV[2])
local removed = 0
for _, c in ipairs(consumers) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if info.name and info.name ~= ARGV[3] and info.pending == 0 and info.idle and info.idle >= minIdle then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[10], 'w', info.name)
    removed = removed + 1
    if removed >= most then break end
  end
end
return removed
`);

/** Most stale consumers one sweep removes (the next sweep takes the rest). */
const SWEEP_MAX = 100;

type Reply = unknown;
const str = (value: Reply): string => (typeof value === 'string' ? value : String(value));
const num = (value: Reply): number | undefined => (value === null || value === undefined || value === false ? undefined : Number(value));

function parseSizes(reply: Reply): StoreSizes {
  const [pending, waiting, dead, oldestPending, oldestDead] = reply as Reply[];
  const p = Number(pending);
  return { pending: p, inFlight: Math.max(0, p - Number(waiting)), dead: Number(dead), oldestPendingSince: num(oldestPending), oldestDeadSince: num(oldestDead) };
}

function parseRow(reply: Reply): StoredEntry {
  const [id, doc, state, inFlight, since, dueAt] = reply as Reply[];
  return { id: str(id), doc: str(doc), state: str(state) as DeadLetterState, inFlight: Number(inFlight) === 1, since: Number(since), dueAt: num(dueAt) };
}

type Run = (script: StoreScript, args: readonly (string | number)[]) => Promise<Reply>;

interface Waiting {
  readonly args: readonly (string | number)[];
  resolve(reply: Reply): void;
  reject(error: unknown): void;
}

/**
 * Sends calls of one batched script: at once while fewer than `maxInFlight` of them are in flight
 * (an idle queue pays one round trip, no added delay, and no queueing: the call goes straight
 * out), else queued and sent together, up to `maxBatch` per call, when one returns. Under load,
 * 64 concurrent adds cost a few round trips instead of 64; each item still gets its own answer.
 */
class Batcher {
  #queue: Waiting[] = [];
  #inFlight = 0;

  constructor(
    readonly run: Run,
    readonly script: StoreScript,
    /** The script's leading arguments; a fresh array each time (the items are appended to it). */
    readonly header: () => (string | number)[],
    readonly maxBatch = 256,
    readonly maxInFlight = 2,
  ) {}

  push(args: readonly (string | number)[]): Promise<Reply> {
    if (this.#inFlight < this.maxInFlight && this.#queue.length === 0) {
      // Nothing waiting and a free slot: this item alone, sent now.
      this.#inFlight++;
      const all = this.header();
      for (const arg of args) all.push(arg);
      return this.run(this.script, all).then(
        (reply) => {
          this.#done();
          return (reply as Reply[])[0];
        },
        (error: unknown) => {
          this.#done();
          throw error;
        },
      );
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ args, resolve, reject });
      if (this.#inFlight < this.maxInFlight) this.#send();
    });
  }

  #done(): void {
    this.#inFlight--;
    if (this.#queue.length > 0) this.#send();
  }

  #send(): void {
    const batch = this.#queue.length <= this.maxBatch ? this.#queue : this.#queue.slice(0, this.maxBatch);
    if (batch.length === 0) return;
    this.#queue = batch === this.#queue ? [] : this.#queue.slice(this.maxBatch);
    this.#inFlight++;
    const args = this.header();
    for (const waiting of batch) for (const arg of waiting.args) args.push(arg);
    this.run(this.script, args).then(
      (reply) => {
        this.#done();
        const replies = reply as Reply[];
        for (let i = 0; i < batch.length; i++) (batch[i] as Waiting).resolve(replies[i]);
      },
      (error: unknown) => {
        this.#done();
        for (const waiting of batch) waiting.reject(error);
      },
    );
  }
}

class RedisQueueStore implements QueueStore {
  readonly #caller: StoreCaller;
  readonly #keys: readonly string[];

  readonly #adds: Batcher;
  readonly #completes: Batcher;
  #now = 0;
  #maxSize = 0;
  #overflow: OverflowPolicy = 'reject';
  readonly #staleConsumerMs: number;
  #nextSweep = -Infinity;

  constructor(caller: StoreCaller, keys: readonly string[], staleConsumerMs: number) {
    this.#caller = caller;
    this.#keys = keys;
    this.#staleConsumerMs = staleConsumerMs;
    const run: Run = (script, args) => this.#run(script, args);
    this.#adds = new Batcher(run, ADD, () => [this.#now, this.#maxSize, this.#overflow]);
    this.#completes = new Batcher(run, COMPLETE, () => []);
  }

  async #run(script: StoreScript, args: readonly (string | number)[]): Promise<Reply> {
    const result = await this.#caller.script(script, this.#keys, args);
    if (result.ok) return result.value;
    const error = result.error;
    if (error instanceof DeadLetterStoreUnavailableError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new DeadLetterStoreUnavailableError(`dead-letter store call failed: ${message}`, result.timedOut, error);
  }

  async add(doc: string, idempotencyKey: string | undefined, now: number, dueAt: number, maxSize: number, overflow: OverflowPolicy): Promise<StoreAddOutcome> {
    // Constant per queue but for `now` (a batch records the latest; items added together share it).
    this.#now = Math.floor(now);
    this.#maxSize = maxSize === Infinity ? 0 : maxSize;
    this.#overflow = overflow;
    const reply = (await this.#adds.push([doc, idempotencyKey ?? '', Math.floor(dueAt)])) as Reply[];
    const kind = str(reply[0]);
    if (kind === 'dup') return { kind: 'duplicate', id: str(reply[1]) };
    if (kind === 'full') return { kind: 'full' };
    const victim = reply[2];
    return {
      kind: 'added',
      id: str(reply[1]),
      dropped: victim === null || victim === undefined ? undefined : { id: str(victim), doc: str(reply[3]) },
    };
  }

  /**
   * Removes stale consumers (see `staleConsumerMs`) at most once per sweep interval, on the back
   * of a poll: no timer of its own. Resolves with how many it removed (0 when not due or failed).
   */
  async sweepConsumers(consumer: string, now: number): Promise<number> {
    if (now < this.#nextSweep) return 0;
    this.#nextSweep = now + Math.min(this.#staleConsumerMs, 60_000);
    const result = await this.#caller.script(SWEEP, this.#keys, [this.#staleConsumerMs, SWEEP_MAX, consumer]);
    return result.ok ? Number(result.value) : 0;
  }

  async claim(consumer: string, count: number, now: number, visibilityMs: number): Promise<ClaimResult> {
    void this.sweepConsumers(consumer, now);
    const reply = (await this.#run(CLAIM, [Math.floor(now), count, consumer, visibilityMs])) as Reply[];
    const entries: ClaimedEntry[] = (reply[0] as Reply[][]).map(([id, token, doc, deliveries]) => ({
      id: str(id),
      token: str(token),
      doc: str(doc),
      deliveries: Number(deliveries),
    }));
    return { entries, nextDueAt: num(reply[1]), sizes: parseSizes(reply[2]) };
  }

  async complete(id: string, token: string): Promise<boolean> {
    return Number(await this.#completes.push([id, token])) === 1;
  }

  async reschedule(id: string, token: string, doc: string, dueAt: number): Promise<boolean> {
    return Number(await this.#run(RESCHEDULE, [id, token, doc, Math.floor(dueAt)])) === 1;
  }

  async bury(id: string, token: string, doc: string, now: number): Promise<boolean> {
    return Number(await this.#run(BURY, [id, token, doc, Math.floor(now)])) === 1;
  }

  async get(id: string): Promise<StoredEntry | undefined> {
    const reply = await this.#run(GET, [id]);
    return reply === null || reply === undefined ? undefined : parseRow(reply);
  }

  async list(state: DeadLetterState, limit: number, cursor: string | undefined): Promise<StoredPage> {
    const reply = (await this.#run(LIST, [state, limit, cursor ?? ''])) as Reply[];
    const next = reply[1];
    return { entries: (reply[0] as Reply[]).map(parseRow), cursor: next === null || next === undefined ? undefined : str(next) };
  }

  async revive(id: string, doc: string | undefined, dueAt: number, now: number): Promise<boolean> {
    return Number(await this.#run(REVIVE, [id, doc ?? '', Math.floor(dueAt), Math.floor(now)])) === 1;
  }

  async discard(id: string): Promise<boolean> {
    return Number(await this.#run(DISCARD, [id])) === 1;
  }

  async sizes(): Promise<StoreSizes> {
    return parseSizes(await this.#run(SIZES_SCRIPT, []));
  }

  close(): void {}
}

/**
 * The names of the Redis keys a queue uses: every one carries the hash tag `{<prefix>:<queue>}`,
 * so a queue lives on one Redis Cluster node and its Lua scripts may touch all of them. The queue
 * name is encoded losslessly (`encodeKeyPart`), so no name escapes the prefix or the tag.
 *
 * @example
 * ```ts
 * dlqKeys('dlq', 'orders').ready; // '{dlq:orders}:ready', the stream workers read
 * ```
 */
export function dlqKeys(prefix: string, queue: string): Readonly<Record<(typeof PARTS)[number], string>> {
  const base = `{${prefix}:${encodeKeyPart(queue)}}`;
  return Object.fromEntries(PARTS.map((part) => [part, `${base}:${part}`])) as Record<(typeof PARTS)[number], string>;
}

/**
 * A durable dead-letter store on Redis (standalone or Cluster) through an ioredis client you own.
 *
 * - **Streams with a consumer group.** A due item is appended to a stream (`XADD`) and workers take
 *   it with `XREADGROUP` (never `BLOCK`: polling, so your shared connection never stalls), which
 *   leaves it in the group's pending list until it is finished: acknowledged and deleted together
 *   (`XACK` + `XDEL`, so the stream and its pending list never grow). An item whose worker died is
 *   claimed by another after `visibilityMs` (`XAUTOCLAIM`), and its delivery counter counts that
 *   lost attempt.
 * - **Backoff** lives in a sorted set of due times; **dead** items in another, kept until retried,
 *   redriven or discarded. Every change that touches several keys is one Lua script (atomic).
 * - **Idempotency keys** de-duplicate `add` in the same script.
 * - **Deadlines.** Every call ends within `timeoutMs`, through `@x/core/store`: a down or stalled
 *   Redis makes `add` reject with `DLQ_STORE_UNAVAILABLE` (or buffer, see the queue's
 *   `onStoreError`), and workers retry on their next poll once it is back.
 * - Durability is Redis's: run it with `appendonly yes` (`appendfsync always` to lose nothing on a
 *   crash of Redis itself) and `maxmemory-policy noeviction`.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { createDeadLetterQueue } from '@x/dlq';
 * import { redisDlqStore } from '@x/dlq/redis';
 *
 * const redis = new Redis({ enableOfflineQueue: false });
 * const dlq = createDeadLetterQueue({ name: 'orders', store: redisDlqStore(redis, { prefix: 'shop' }), process: pushOrder });
 * dlq.start();
 * ```
 */
export function redisDlqStore(redis: StoreClient, options?: RedisDlqStoreOptions): DeadLetterStore {
  const owner = 'redisDlqStore';
  const o = readOptions<RedisDlqStoreOptions>(owner, options, ['prefix', 'timeoutMs', 'name', 'failureThreshold', 'cooldownMs', 'staleConsumerMs', 'clock', 'events']);
  const prefix = checkKeyPrefix(owner, 'prefix', o.prefix ?? 'dlq');
  const timeoutMs = checkInteger(owner, 'timeoutMs', o.timeoutMs ?? 1_000, { min: 1, max: 3_600_000 });
  const name = checkString(owner, 'name', o.name ?? 'redis');
  const staleConsumerMs = checkInteger(owner, 'staleConsumerMs', o.staleConsumerMs ?? 3_600_000, { min: 1, max: 2 ** 31 - 1 });
  const guardOptions = storeGuardOptions(owner, o);
  const ownClock = o.clock === undefined ? undefined : checkClock(owner, o.clock);
  const ownEvents = o.events === undefined ? undefined : checkEvents(owner, o.events);
  if ((typeof redis !== 'object' && typeof redis !== 'function') || redis === null || typeof (redis as StoreClient).evalsha !== 'function') {
    throw new InvalidOptionsError(owner, 'redis', redis, 'an ioredis Redis or Cluster instance');
  }
  return {
    kind: 'redis',
    bind(context: StoreContext): QueueStore {
      const clock = ownClock ?? context.clock;
      const events = ownEvents ?? context.events;
      const guard = new StoreGuard({ source: 'dlq', name, mode: 'reject', ...guardOptions, clock, events });
      const caller = new StoreCaller(redis, {
        owner,
        timeoutMs,
        clock,
        guard,
        unavailable: (message, timedOut) => new DeadLetterStoreUnavailableError(`dead-letter store "${name}": ${message}`, timedOut),
      });
      const keys = dlqKeys(prefix, context.queue);
      return new RedisQueueStore(caller, PARTS.map((part) => keys[part]), staleConsumerMs);
    },
  };
}
