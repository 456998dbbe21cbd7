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
local clock_ms
local function fence(key, proposal)
  local last = tonumber(redis.call('GET', key) or '0')
  local f
  if proposal == '' then
    if not clock_ms then
      local t = redis.call('TIME')
      clock_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    end
    f = math.max(last + 1, clock_ms)
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

// Each script serves one lease or a batch: requests made in the same tick on one (non-Cluster)
// connection share one call. KEYS and ARGV hold one group per lease; the reply holds one group
// per lease, in order.

/** Per lease: KEYS lock, fence; ARGV token, ttl ms, proposal. Reply per lease: 1, fence | 0, pttl (held) | 2, last fence (proposal too low). */
export const ACQUIRE_LOCK = defineScript(`${FENCE}
local out = {}
for i = 1, #KEYS / 2 do
  local lock, fk, token = KEYS[2 * i - 1], KEYS[2 * i], ARGV[3 * i - 2]
  local holder = redis.call('GET', lock)
  if holder and holder ~= token then
    out[#out + 1] = 0
    out[#out + 1] = redis.call('PTTL', lock)
  else
    local f, last = fence(fk, ARGV[3 * i])
    if f then
      redis.call('SET', lock, token, 'PX', ARGV[3 * i - 1])
      out[#out + 1] = 1
      out[#out + 1] = f
    else
      out[#out + 1] = 2
      out[#out + 1] = last
    end
  end
end
return out
`);

/** Per lease: KEYS lock; ARGV token, ttl ms. Reply per lease: 1 (extended) | 0 (not this token's). */
export const EXTEND_LOCK = defineScript(`
local out = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[2 * i - 1] then out[i] = redis.call('PEXPIRE', KEYS[i], ARGV[2 * i]) else out[i] = 0 end
end
return out
`);

/** Per lease: KEYS lock; ARGV token. Reply per lease: 1 (deleted) | 0 (not this token's). */
export const RELEASE_LOCK = defineScript(`
local out = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i] then out[i] = redis.call('DEL', KEYS[i]) else out[i] = 0 end
end
return out
`);

// Semaphores: a sorted set of tokens scored by their expiry in the server's time (never a
// client's clock), so holders on machines with skewed clocks still expire when they should.

/** Per lease: KEYS slots, fence; ARGV token, ttl ms, proposal, limit. Reply as ACQUIRE_LOCK; 0, ms until the first slot frees. */
export const ACQUIRE_SLOT = defineScript(`${FENCE}${NOW}
local out = {}
for i = 1, #KEYS / 2 do
  local set, fk, token = KEYS[2 * i - 1], KEYS[2 * i], ARGV[4 * i - 3]
  local ttl = tonumber(ARGV[4 * i - 2])
  redis.call('ZREMRANGEBYSCORE', set, '-inf', now)
  if not redis.call('ZSCORE', set, token) and redis.call('ZCARD', set) >= tonumber(ARGV[4 * i]) then
    local first = redis.call('ZRANGE', set, 0, 0, 'WITHSCORES')
    out[#out + 1] = 0
    out[#out + 1] = tonumber(first[2]) - now
  else
    local f, last = fence(fk, ARGV[4 * i - 1])
    if f then
      redis.call('ZADD', set, string.format('%.0f', now + ttl), token)
      if redis.call('PTTL', set) < ttl then redis.call('PEXPIRE', set, ttl) end
      out[#out + 1] = 1
      out[#out + 1] = f
    else
      out[#out + 1] = 2
      out[#out + 1] = last
    end
  end
end
return out
`);

/** Per lease: KEYS slots; ARGV token, ttl ms. Reply per lease: 1 | 0. */
export const EXTEND_SLOT = defineScript(`${NOW}
local out = {}
for i = 1, #KEYS do
  local set, token, ttl = KEYS[i], ARGV[2 * i - 1], tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', set, '-inf', now)
  if redis.call('ZSCORE', set, token) then
    redis.call('ZADD', set, 'XX', string.format('%.0f', now + ttl), token)
    if redis.call('PTTL', set) < ttl then redis.call('PEXPIRE', set, ttl) end
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`);

/** Per lease: KEYS slots; ARGV token. Reply per lease: 1 (removed while valid) | 0. */
export const RELEASE_SLOT = defineScript(`${NOW}
local out = {}
for i = 1, #KEYS do
  local score = redis.call('ZSCORE', KEYS[i], ARGV[i])
  out[i] = 0
  if score then
    redis.call('ZREM', KEYS[i], ARGV[i])
    if tonumber(score) > now then out[i] = 1 end
  end
end
return out
`);

/** `{<prefix>:<encoded key>}`: the hash tag of every key of one lock. */
export function tagOf(prefix: string, encodedKey: string): string {
  return `{${prefix}:${encodedKey}}`;
}
