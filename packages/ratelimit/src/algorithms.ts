import type { Params } from './rule.js';
import type { StoreErrorMode } from './store.js';

// The four algorithms as pure functions over one key's state. The memory limiter, the local
// fallback of a store and the property tests all run this code; the Redis script mirrors it line
// for line (src/redis-script.ts), and a test replays random sequences through both.

/**
 * Operation codes: consume capacity, answer without changing state, or give capacity back (an
 * `acquire` whose wait was aborted).
 *
 * @example
 * ```ts
 * step(entry, now, 1, 0, CONSUME, params, verdict);
 * ```
 */
export const CONSUME = 0;
/**
 * Answer as `CONSUME` would, without changing the state.
 *
 * @example
 * ```ts
 * step(entry, now, 1, 0, PEEK, params, verdict);
 * ```
 */
export const PEEK = 1;
/**
 * Give `cost` back (GCRA and token bucket only; windows ignore it). Only the admission that is
 * still last on the key's schedule can be given back: its `reservation` (see
 * {@link Verdict.reservation}) travels in the `maxWait` argument, and anything else (a reservation
 * someone queued behind, no reservation at all) changes nothing. Pulling the schedule back under
 * later reservations would hand a newcomer a slot already promised to a waiter.
 *
 * @example
 * ```ts
 * step(entry, now, 1, 0, REFUND, params, verdict);
 * ```
 */
export const REFUND = 2;
/** One of {@link CONSUME}, {@link PEEK}, {@link REFUND}. */
export type Op = typeof CONSUME | typeof PEEK | typeof REFUND;

/**
 * Slack for float comparisons at exact boundaries (ms, or cost units for windows): 3 requests of
 * 1000/3 ms each must fit in 1000 ms even though the float sum is 1000.0000000000001. The Redis
 * script uses the same value (its times are larger, so its rounding error is too: 0.1 µs covers it).
 */
const EPS = 1e-4;
/** Slack for the sliding window's estimate, in cost units (its float error is ~1e-15). */
const EPS_COUNT = 1e-9;

/**
 * What one decision found. The memory limiter reuses one instance (no allocation per call); the
 * limiter copies it into the immutable decision it returns.
 *
 * @example
 * ```ts
 * const out = new Verdict();
 * step(entry, now, 1, 0, CONSUME, params, out);
 * if (!out.allowed) console.log(out.retryAfterMs);
 * ```
 */
export class Verdict {
  allowed = false;
  /** Cost units that would still be admitted at once after this decision. */
  remaining = 0;
  /** For a rejection: ms until the same request would be admitted. 0 when admitted. */
  retryAfterMs = 0;
  /** ms until the key is back to its fresh state (full burst, empty windows). */
  resetAfterMs = 0;
  /** For an admission that reserved future capacity (`acquire`): ms to wait before going. */
  waitMs = 0;
  /**
   * GCRA and token bucket, for an admission: where it ends on the key's schedule (the TAT it set;
   * for the bucket, when the bucket would be full again), in the caller's time base. A `REFUND`
   * passes it back so that only the last admission on the schedule is given back.
   */
  reservation = 0;
  /** Set by a store answering from its `onStoreError` mode; the memory engine leaves it unset. */
  degraded: StoreErrorMode | undefined = undefined;
}

/**
 * One key's state. A single shape for every algorithm keeps the engine monomorphic.
 *
 * @example
 * ```ts
 * const entry = new Entry(now, params);
 * ```
 */
export class Entry {
  /** Token bucket: time of the last refill. Windows: start of the current window. */
  t: number;
  /** Token bucket: tokens. Windows: cost admitted in the current window. */
  n: number;
  /** Sliding window: cost admitted in the previous window. */
  p: number;
  /**
   * When the state becomes indistinguishable from a fresh key's; for GCRA this is the theoretical
   * arrival time (TAT) itself. An entry past it can be dropped without changing any decision.
   */
  until: number;
  /** Set on every access, cleared by the eviction hand (CLOCK second chance). */
  used: boolean;

  constructor(now: number, params: Params) {
    this.t = now;
    this.n = params.code === 1 ? params.burst : 0;
    this.p = 0;
    this.until = now;
    this.used = true;
  }
}

/**
 * Whole cost units in `x`, where `x` already includes the same slack the admission test allows
 * (so `remaining` is exactly how many more units would be admitted right now).
 */
function units(x: number): number {
  return x <= 0 ? 0 : Math.floor(x);
}

/**
 * Whether the admission that ended the schedule at `reservation` is still the last one on it
 * (nothing consumed after it). Later admissions push the end by at least one interval (>= 1 µs),
 * far more than the slack, which only absorbs float error (NaN, for no reservation, never matches).
 */
function isLast(until: number, reservation: number): boolean {
  const d = until - reservation;
  return d <= EPS && d >= -EPS;
}

/**
 * GCRA. `until` is the TAT: the time at which the key would be empty again. A request of `cost`
 * conforms when pushing the TAT by `cost * interval` keeps it within `tolerance` of now.
 * A rejection leaves the TAT alone, so it costs nothing.
 */
function gcra(e: Entry, now: number, cost: number, maxWait: number, op: Op, p: Params, out: Verdict): boolean {
  const T = p.interval;
  if (op === REFUND) {
    // `maxWait` carries the reservation being given back: only the last one on the schedule.
    if (!isLast(e.until, maxWait)) return false;
    e.until -= cost * T;
    return true;
  }
  const tat = e.until > now ? e.until : now;
  const newTat = tat + cost * T;
  const ahead = newTat - now;
  let wait = ahead - p.tolerance;
  if (wait <= EPS) wait = 0;
  if (wait <= maxWait) {
    out.allowed = true;
    out.waitMs = wait;
    out.retryAfterMs = 0;
    out.remaining = wait > 0 ? 0 : units((p.tolerance - ahead + EPS) * p.rate);
    out.resetAfterMs = ahead;
    out.reservation = newTat;
    if (op !== CONSUME) return false;
    e.until = newTat;
    return true;
  }
  out.allowed = false;
  out.waitMs = 0;
  out.retryAfterMs = wait;
  out.remaining = units((p.tolerance - (tat - now) + EPS) * p.rate);
  out.resetAfterMs = tat - now;
  return false;
}

/**
 * Token bucket with continuous refill: `burst` tokens, `limit` per `periodMs`. An admission that
 * reserves future capacity leaves the bucket negative (a debt the refill pays back first).
 */
function tokenBucket(e: Entry, now: number, cost: number, maxWait: number, op: Op, p: Params, out: Verdict): boolean {
  const T = p.interval;
  const burst = p.burst;
  // `until` is when the bucket is full again: the bucket's TAT, unchanged by refilling.
  if (op === REFUND && !isLast(e.until, maxWait)) return false;
  let tokens = now > e.t ? e.n + (now - e.t) * p.rate : e.n;
  if (tokens > burst) tokens = burst;
  if (op === REFUND) {
    tokens += cost;
    if (tokens > burst) tokens = burst;
    e.n = tokens;
    e.t = now;
    e.until = now + (burst - tokens) * T;
    return true;
  }
  const after = tokens - cost;
  let wait = after >= 0 ? 0 : -after * T;
  if (wait <= EPS) wait = 0;
  if (wait <= maxWait) {
    out.allowed = true;
    out.waitMs = wait;
    out.retryAfterMs = 0;
    out.remaining = wait > 0 ? 0 : units(after + EPS * p.rate);
    out.resetAfterMs = (burst - after) * T;
    out.reservation = now + (burst - after) * T;
    if (op !== CONSUME) return false;
    e.n = after;
    e.t = now;
    e.until = out.reservation;
    return true;
  }
  out.allowed = false;
  out.waitMs = 0;
  out.retryAfterMs = wait;
  out.remaining = units(tokens + EPS * p.rate);
  out.resetAfterMs = (burst - tokens) * T;
  return false;
}

/**
 * Sliding-window counter. Windows are `periodMs` long and anchored at the key's first request; the
 * estimate over the last `periodMs` is `previous * (1 - elapsed fraction) + current`.
 */
function slidingWindow(e: Entry, now: number, cost: number, _maxWait: number, op: Op, p: Params, out: Verdict): boolean {
  const P = p.periodMs;
  const limit = p.limit;
  let start = e.t;
  let cur = e.n;
  let prev = e.p;
  if (now - start >= P - EPS) {
    const windows = Math.floor((now - start + EPS) / P);
    prev = windows === 1 ? cur : 0;
    cur = 0;
    start += windows * P;
  }
  if (op === REFUND) return false;
  const est = prev * (1 - (now - start) / P) + cur;
  out.waitMs = 0;
  if (est + cost <= limit + EPS_COUNT) {
    out.allowed = true;
    out.retryAfterMs = 0;
    out.remaining = units(limit - est - cost + EPS_COUNT);
    out.resetAfterMs = start + 2 * P - now;
    if (op !== CONSUME) return false;
    e.t = start;
    e.n = cur + cost;
    e.p = prev;
    e.until = start + 2 * P;
    return true;
  }
  out.allowed = false;
  // When the estimate will have decayed enough, assuming nothing else is admitted meanwhile:
  // within this window if the current count leaves room, else in the next one.
  out.retryAfterMs =
    cur + cost <= limit
      ? start + (1 - (limit - cur - cost) / prev) * P - now
      : start + P + (1 - (limit - cost) / cur) * P - now;
  out.remaining = units(limit - est + EPS_COUNT);
  out.resetAfterMs = cur > 0 ? start + 2 * P - now : prev > 0 ? start + P - now : 0;
  return false;
}

/** Fixed window anchored at the key's first request: at most `limit` per window. */
function fixedWindow(e: Entry, now: number, cost: number, _maxWait: number, op: Op, p: Params, out: Verdict): boolean {
  let start = e.t;
  let count = e.n;
  if (now - start >= p.periodMs - EPS) {
    start = now;
    count = 0;
  }
  if (op === REFUND) return false;
  const resetAfter = start + p.periodMs - now;
  out.waitMs = 0;
  out.resetAfterMs = resetAfter;
  if (count + cost <= p.limit) {
    out.allowed = true;
    out.retryAfterMs = 0;
    out.remaining = p.limit - count - cost;
    if (op !== CONSUME) return false;
    e.t = start;
    e.n = count + cost;
    e.until = start + p.periodMs;
    return true;
  }
  out.allowed = false;
  out.retryAfterMs = resetAfter;
  out.remaining = p.limit - count;
  return false;
}

/**
 * Applies one operation to one key's state. Returns true when the state changed (a fresh entry
 * must then be stored). `maxWait` > 0 lets GCRA and the token bucket admit a request whose
 * capacity frees up within `maxWait` ms by reserving it now (`out.waitMs` says how long to wait);
 * the windows never reserve. For `REFUND`, `maxWait` is the `out.reservation` of the admission
 * being given back.
 *
 * @example
 * ```ts
 * const changed = step(entry, now, cost, 0, CONSUME, params, out);
 * ```
 */
export function step(e: Entry, now: number, cost: number, maxWait: number, op: Op, p: Params, out: Verdict): boolean {
  switch (p.code) {
    case 0:
      return gcra(e, now, cost, maxWait, op, p, out);
    case 1:
      return tokenBucket(e, now, cost, maxWait, op, p, out);
    case 2:
      return slidingWindow(e, now, cost, maxWait, op, p, out);
    default:
      return fixedWindow(e, now, cost, maxWait, op, p, out);
  }
}
