import { defineScript } from '@x/core/store';

/**
 * Time origin of the script, in epoch ms (2025-01-01T00:00:00Z). Times are stored relative to it
 * so that doubles keep sub-microsecond precision for decades.
 *
 * @example
 * ```ts
 * const now = Date.now() - SCRIPT_EPOCH_MS; // what client-time mode sends
 * ```
 */
export const SCRIPT_EPOCH_MS = 1_735_689_600_000;

/**
 * Script arguments per decision (after the keys): algorithm, limit, periodMs, burst, cost,
 * maxWaitMs, op.
 *
 * @example
 * ```ts
 * const argc = keys.length * ARGS_PER_DECISION + 1; // + the shared "now"
 * ```
 */
export const ARGS_PER_DECISION = 7;

/**
 * Reply values per decision: allowed, remaining, retryAfter µs, resetAfter µs, wait µs (integers),
 * then the reservation (see {@link RATE_LIMIT_SCRIPT}).
 *
 * @example
 * ```ts
 * const allowed = reply[i * REPLY_PER_DECISION] === 1;
 * ```
 */
export const REPLY_PER_DECISION = 6;

/**
 * The one script every decision runs: atomic, using Redis' clock (or the caller's in client-time
 * mode). It mirrors `src/algorithms.ts` line for line; the tests replay random request sequences
 * through both and compare.
 *
 * One call carries one or more decisions, each on its own key: KEYS[i] is decision i's state and
 * ARGV[7(i-1)+1 .. 7i] its algorithm (0 gcra, 1 token bucket, 2 sliding, 3 fixed), limit,
 * periodMs, burst, cost, maxWaitMs and op (0 consume, 1 peek, 2 refund). For a refund the
 * maxWaitMs slot carries the reservation being given back. The last ARGV is "now" in ms since
 * {@link SCRIPT_EPOCH_MS}, or '' to read Redis' TIME (once per call). The reply holds six values
 * per decision: allowed, remaining, retryAfter µs, resetAfter µs, wait µs (integers: Lua numbers
 * are truncated on the way out, so µs keep the precision), and the reservation: for a GCRA or
 * token-bucket admission that consumed, where it ends on the key's schedule (ms since the epoch,
 * as a string so that no precision is lost), else 0. Then the time the decisions were made at,
 * in µs since the epoch above (for audits and accuracy tests).
 *
 * A refund gives capacity back only when its reservation is still the last one on the key's
 * schedule (nothing consumed after it): pulling the schedule back under later reservations would
 * hand a newcomer a slot already promised to a waiter. Anything else changes nothing.
 *
 * State is one string per key (GET, SET PX): GCRA keeps the TAT; the token bucket "tokens time";
 * the windows "start count" / "start current previous". The PX expiry is the time at which the
 * state equals a fresh key's, so idle keys vanish on their own, and a rejection writes nothing.
 *
 * @example
 * ```ts
 * await redis.eval(RATE_LIMIT_SCRIPT, 1, '{rl:api:user1}:g', '0', '10', '1000', '10', '1', '0', '0', '');
 * ```
 */
export const RATE_LIMIT_SCRIPT = `
local EPS = 1e-4
local fmt = string.format
local ceil = math.ceil
local floor = math.floor
local find = string.find
local abs = math.abs
local sub = string.sub
local call = redis.call

local function units(x)
  if x <= 0 then return 0 end
  return floor(x)
end
local function us(ms)
  if ms <= 0 then return 0 end
  return ceil(ms * 1000)
end
local function px(ms)
  local v = ceil(ms)
  if v < 1 then return 1 end
  return v
end
local function split(v)
  local a = find(v, ' ', 1, true)
  local b = find(v, ' ', a + 1, true)
  if b then
    return tonumber(sub(v, 1, a - 1)), tonumber(sub(v, a + 1, b - 1)), tonumber(sub(v, b + 1))
  end
  return tonumber(sub(v, 1, a - 1)), tonumber(sub(v, a + 1)), 0
end

local function gcra(key, now, limit, period, burst, cost, maxWait, op)
  local T = period / limit
  local tau = burst * T
  local tat = tonumber(call('GET', key))
  if op == 2 then
    -- maxWait carries the reservation: only the last one on the schedule is given back
    if not tat or not maxWait or abs(tat - maxWait) > EPS then return 1, 0, 0, 0, 0, 0 end
    local back = tat - cost * T
    if back > now then call('SET', key, fmt('%.17g', back), 'PX', px(back - now)) else call('DEL', key) end
    return 1, 0, 0, 0, 0, 0
  end
  if not tat or tat < now then tat = now end
  local newTat = tat + cost * T
  local ahead = newTat - now
  local wait = ahead - tau
  if wait <= EPS then wait = 0 end
  if wait <= maxWait then
    local r = 0
    if op == 0 then
      r = fmt('%.17g', newTat)
      call('SET', key, r, 'PX', px(ahead))
    end
    local rem = 0
    if wait == 0 then rem = units((tau - ahead + EPS) / T) end
    return 1, rem, 0, us(ahead), us(wait), r
  end
  return 0, units((tau - (tat - now) + EPS) / T), us(wait), us(tat - now), 0, 0
end

local function bucket(key, now, limit, period, burst, cost, maxWait, op)
  local T = period / limit
  local tokens = burst
  local v = call('GET', key)
  if v then
    local n, at = split(v)
    -- the reservation is when the bucket is full again: at + (burst - n) * T, unchanged by refills
    if op == 2 and (not maxWait or abs(at + (burst - n) * T - maxWait) > EPS) then return 1, 0, 0, 0, 0, 0 end
    tokens = n
    if now > at then tokens = tokens + (now - at) / T end
    if tokens > burst then tokens = burst end
  elseif op == 2 then
    return 1, 0, 0, 0, 0, 0
  end
  if op == 2 then
    tokens = tokens + cost
    if tokens >= burst then call('DEL', key)
    else call('SET', key, fmt('%.17g %.17g', tokens, now), 'PX', px((burst - tokens) * T)) end
    return 1, 0, 0, 0, 0, 0
  end
  local after = tokens - cost
  local wait = 0
  if after < 0 then wait = -after * T end
  if wait <= EPS then wait = 0 end
  if wait <= maxWait then
    local r = 0
    if op == 0 then
      call('SET', key, fmt('%.17g %.17g', after, now), 'PX', px((burst - after) * T))
      r = fmt('%.17g', now + (burst - after) * T)
    end
    local rem = 0
    if wait == 0 then rem = units(after + EPS / T) end
    return 1, rem, 0, us((burst - after) * T), us(wait), r
  end
  return 0, units(tokens + EPS / T), us(wait), us((burst - tokens) * T), 0, 0
end

local function sliding(key, now, limit, period, cost, op)
  local start, cur, prev = now, 0, 0
  local v = call('GET', key)
  if v then
    start, cur, prev = split(v)
    if now - start >= period - EPS then
      local windows = floor((now - start + EPS) / period)
      if windows == 1 then prev = cur else prev = 0 end
      cur = 0
      start = start + windows * period
    end
  end
  if op == 2 then return 1, 0, 0, 0, 0, 0 end
  local est = prev * (1 - (now - start) / period) + cur
  if est + cost <= limit + 1e-9 then
    if op == 0 then
      call('SET', key, fmt('%.17g %.17g %.17g', start, cur + cost, prev), 'PX', px(start + 2 * period - now))
    end
    return 1, units(limit - est - cost + 1e-9), 0, us(start + 2 * period - now), 0, 0
  end
  local retry
  if cur + cost <= limit then
    retry = start + (1 - (limit - cur - cost) / prev) * period - now
  else
    retry = start + period + (1 - (limit - cost) / cur) * period - now
  end
  local reset = 0
  if cur > 0 then reset = start + 2 * period - now elseif prev > 0 then reset = start + period - now end
  return 0, units(limit - est + 1e-9), us(retry), us(reset), 0, 0
end

local function fixed(key, now, limit, period, cost, op)
  local start, count = now, 0
  local v = call('GET', key)
  if v then
    start, count = split(v)
    if now - start >= period - EPS then
      start = now
      count = 0
    end
  end
  if op == 2 then return 1, 0, 0, 0, 0, 0 end
  local resetAfter = start + period - now
  if count + cost <= limit then
    if op == 0 then call('SET', key, fmt('%.17g %.17g', start, count + cost), 'PX', px(resetAfter)) end
    return 1, limit - count - cost, 0, us(resetAfter), 0, 0
  end
  return 0, limit - count, us(resetAfter), us(resetAfter), 0, 0
end

local n = #KEYS
local now = ARGV[n * ${ARGS_PER_DECISION} + 1]
if now == '' then
  if redis.replicate_commands then redis.replicate_commands() end
  local t = call('TIME')
  now = (tonumber(t[1]) - ${SCRIPT_EPOCH_MS / 1000}) * 1000 + tonumber(t[2]) / 1000
else
  now = tonumber(now)
end

local out = {}
for i = 1, n do
  local j = (i - 1) * ${ARGS_PER_DECISION}
  local algo = ARGV[j + 1]
  local limit = tonumber(ARGV[j + 2])
  local period = tonumber(ARGV[j + 3])
  local cost = tonumber(ARGV[j + 5])
  local op = tonumber(ARGV[j + 7])
  local a, b, c, d, e, f
  if algo == '0' then
    a, b, c, d, e, f = gcra(KEYS[i], now, limit, period, tonumber(ARGV[j + 4]), cost, tonumber(ARGV[j + 6]), op)
  elseif algo == '1' then
    a, b, c, d, e, f = bucket(KEYS[i], now, limit, period, tonumber(ARGV[j + 4]), cost, tonumber(ARGV[j + 6]), op)
  elseif algo == '2' then
    a, b, c, d, e, f = sliding(KEYS[i], now, limit, period, cost, op)
  else
    a, b, c, d, e, f = fixed(KEYS[i], now, limit, period, cost, op)
  end
  local k = (i - 1) * ${REPLY_PER_DECISION}
  out[k + 1] = a
  out[k + 2] = b
  out[k + 3] = c
  out[k + 4] = d
  out[k + 5] = e
  out[k + 6] = f
end
out[n * ${REPLY_PER_DECISION} + 1] = floor(now * 1000)
return out
`;

/**
 * SHA-1 of {@link RATE_LIMIT_SCRIPT}, for EVALSHA.
 *
 * @example
 * ```ts
 * await redis.evalsha(RATE_LIMIT_SCRIPT_SHA, 1, key, ...args);
 * ```
 */
export const RATE_LIMIT_SCRIPT_SHA = defineScript(RATE_LIMIT_SCRIPT).sha;

/** {@link RATE_LIMIT_SCRIPT} prepared for `StoreCaller.script` (EVALSHA with NOSCRIPT fallback). */
export const RATE_LIMIT_SCRIPT_REF = defineScript(RATE_LIMIT_SCRIPT);
