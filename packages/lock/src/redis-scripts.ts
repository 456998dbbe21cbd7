import { defineScript } from '@x/core/store';

// Every script touches only keys of one hash tag, `{<prefix>:<encoded key>}`, so they run on
// Redis Cluster. Fences live in their own key of that tag (`:f`), never expire, and are written
// by the same script that grants.
//
// Fences (a Lua function shared by both grant scripts):
// - ARGV proposal '' (one Redis): the server issues max(last + 1, its TIME in ms), so fences
//   keep growing even if the counter is lost (a restart without persistence, a failover to a
//   replica that missed the last writes), as long as the server clock does not go back.
// - ARGV proposal set (Redlock): the client proposes a value and a node grants only if it is
//   greater than every fence that node issued; a node that already issued one as high refuses
//   with reply {2, last}. A quorum granting the same value p means a majority stores >= p, and
//   every later quorum overlaps it, so every later fence is > p.
const FENCE = `
local function fence(key, proposal)
  local last = tonumber(redis.call('GET', key) or '0')
  local f
  if proposal == '' then
    local t = redis.call('TIME')
    f = math.max(last + 1, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  else
    f = tonumber(proposal)
    if f <= last then return nil, last end
  end
  redis.call('SET', key, string.format('%.0f', f))
  return f, last
end
`;

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** KEYS: lock, fence. ARGV: token, ttl ms, proposal. Reply {1, fence} | {0, pttl} (held) | {2, last fence} (proposal too low). */
export const ACQUIRE_LOCK = defineScript(`${FENCE}
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {0, redis.call('PTTL', KEYS[1])} end
local f, last = fence(KEYS[2], ARGV[3])
if not f then return {2, last} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, f}
`);

/** KEYS: lock. ARGV: token, ttl ms. Reply 1 (extended) | 0 (not this token's). */
export const EXTEND_LOCK = defineScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`);

/** KEYS: lock. ARGV: token. Reply 1 (deleted) | 0 (not this token's). */
export const RELEASE_LOCK = defineScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

// Semaphores: a sorted set of tokens scored by their expiry in the server's time (never a
// client's clock), so holders on machines with skewed clocks still expire when they should.

/** KEYS: slots, fence. ARGV: token, ttl ms, proposal, limit. Reply as ACQUIRE_LOCK; {0, ms until the first slot frees}. */
export const ACQUIRE_SLOT = defineScript(`${FENCE}${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local ttl = tonumber(ARGV[2])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(first[2]) - now}
end
local f, last = fence(KEYS[2], ARGV[3])
if not f then return {2, last} end
redis.call('ZADD', KEYS[1], string.format('%.0f', now + ttl), ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return {1, f}
`);

/** KEYS: slots. ARGV: token, ttl ms. Reply 1 | 0. */
export const EXTEND_SLOT = defineScript(`${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', string.format('%.0f', now + ttl), ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`);

/** KEYS: slots. ARGV: token. Reply 1 (removed while valid) | 0. */
export const RELEASE_SLOT = defineScript(`${NOW}
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
if tonumber(score) > now then return 1 end
return 0
`);

/** `{<prefix>:<encoded key>}`: the hash tag of every key of one lock. */
export function tagOf(prefix: string, encodedKey: string): string {
  return `{${prefix}:${encodedKey}}`;
}
