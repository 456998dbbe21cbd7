import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { InvalidOptionsError } from './errors.js';
import { defaultEventBus } from './events.js';
import type { EventBus } from './events.js';

/**
 * The longest delay timers honour (2³¹ − 1 ms, about 24.8 days); longer ones fire at once in
 * Node and browsers, so durations that become timer delays are capped at this.
 *
 * @example
 * ```ts
 * checkInteger('createHealthMonitor', 'intervalMs', ms, { min: 1, max: MAX_TIMER_MS });
 * ```
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** Bounds for {@link checkNumber} and {@link checkInteger}. Bounds are inclusive unless marked. */
export interface NumberRange {
  readonly min?: number;
  readonly max?: number;
  /** When true, `min` itself is not allowed (`> min` rather than `>= min`). */
  readonly minExclusive?: boolean;
  /** When true, `max` itself is not allowed (`< max` rather than `<= max`). */
  readonly maxExclusive?: boolean;
  /** When true, `Infinity` is accepted as "no limit". */
  readonly allowInfinity?: boolean;
}

function rangeText(kind: string, range: NumberRange): string {
  const { min, max, minExclusive, maxExclusive } = range;
  const finite = range.allowInfinity ? '' : 'finite ';
  const article = kind === 'an integer' ? 'an integer' : `a ${finite}number`;
  if (min !== undefined && max !== undefined) {
    return `${article} in ${minExclusive ? '(' : '['}${min}, ${max}${maxExclusive ? ')' : ']'}`;
  }
  if (min !== undefined) return `${article} ${minExclusive ? '>' : '>='} ${min}`;
  if (max !== undefined) return `${article} ${maxExclusive ? '<' : '<='} ${max}`;
  return article;
}

function inRange(value: number, range: NumberRange): boolean {
  if (range.min !== undefined && (range.minExclusive ? value <= range.min : value < range.min)) return false;
  if (range.max !== undefined && (range.maxExclusive ? value >= range.max : value > range.max)) return false;
  return true;
}

/**
 * Returns `value` when it is a number inside `range`, else throws `INVALID_OPTIONS` naming the
 * option, the range and the value. NaN is always rejected; Infinity only passes with
 * `allowInfinity`.
 *
 * @example
 * ```ts
 * const ratio = checkNumber('createRetryBudget', 'ratio', options.ratio, { min: 0, max: 1 });
 * ```
 */
export function checkNumber(owner: string, option: string, value: unknown, range: NumberRange = {}): number {
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    (Number.isFinite(value) || (range.allowInfinity === true && value === Infinity)) &&
    inRange(value, range);
  if (!ok) throw new InvalidOptionsError(owner, option, value, rangeText('a number', range));
  return value;
}

/**
 * Like {@link checkNumber}, but the value must also be an integer (Infinity allowed only with
 * `allowInfinity`).
 *
 * @example
 * ```ts
 * const attempts = checkInteger('createRetry', 'maxAttempts', options.maxAttempts, { min: 1 });
 * ```
 */
export function checkInteger(owner: string, option: string, value: unknown, range: NumberRange = {}): number {
  const ok =
    typeof value === 'number' &&
    (Number.isInteger(value) || (range.allowInfinity === true && value === Infinity)) &&
    inRange(value, range);
  if (!ok) throw new InvalidOptionsError(owner, option, value, rangeText('an integer', range));
  return value;
}

/**
 * Returns `value` when it is one of `allowed`, else throws `INVALID_OPTIONS` listing them.
 *
 * @example
 * ```ts
 * const strategy = checkOneOf('createTimeout', 'strategy', s, ['cooperative', 'aggressive'] as const);
 * ```
 */
export function checkOneOf<const T extends readonly unknown[]>(
  owner: string,
  option: string,
  value: unknown,
  allowed: T,
): T[number] {
  if (!allowed.includes(value)) {
    const list = allowed.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(' | ');
    throw new InvalidOptionsError(owner, option, value, `one of ${list}`);
  }
  return value as T[number];
}

/**
 * Returns `value` when it is a function, else throws `INVALID_OPTIONS`.
 *
 * @example
 * ```ts
 * const isFailure = checkFunction('createBreaker', 'isFailure', options.isFailure);
 * ```
 */
export function checkFunction<F extends (...args: never[]) => unknown>(owner: string, option: string, value: unknown): F {
  if (typeof value !== 'function') throw new InvalidOptionsError(owner, option, value, 'a function');
  return value as F;
}

/**
 * Returns `value` when it is a non-empty string, else throws `INVALID_OPTIONS`.
 *
 * @example
 * ```ts
 * const name = checkString('createBreaker', 'name', options.name ?? 'breaker');
 * ```
 */
export function checkString(owner: string, option: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidOptionsError(owner, option, value, 'a non-empty string');
  }
  return value;
}

/**
 * Returns `value` when it is a boolean, else throws `INVALID_OPTIONS`.
 *
 * @example
 * ```ts
 * const critical = checkBoolean('register', 'critical', options.critical ?? true);
 * ```
 */
export function checkBoolean(owner: string, option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new InvalidOptionsError(owner, option, value, 'a boolean');
  return value;
}

/**
 * Rejects an options argument that is not a plain object (or undefined, unless `required`), or
 * that has a key the factory does not know: a misspelt option (`failureTreshold`) fails loudly
 * instead of silently taking the default, and the message suggests the nearest known name
 * (`did you mean "failureThreshold"?`).
 *
 * @example
 * ```ts
 * checkOptionKeys('createBulkhead', options, ['name', 'maxConcurrent', 'maxQueue', 'clock', 'events']);
 * ```
 */
export function checkOptionKeys(owner: string, options: unknown, known: readonly string[], required = false): void {
  if (options === undefined && !required) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionsError(owner, 'options', options, required ? 'an object' : 'an object or undefined');
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      const near = closestOption(key, known);
      const hint = near === undefined ? '' : `; did you mean "${near}"?`;
      throw new InvalidOptionsError(owner, key, (options as Record<string, unknown>)[key], `absent: ${owner} has no such option${hint} (known: ${known.join(', ')})`);
    }
  }
}

/**
 * The known option a misspelt `key` most likely meant: the nearest by edit distance (insertions,
 * deletions, substitutions, swaps of two neighbours; case ignored), when that distance is at most
 * a third of the name's length (at least 1, at most 3) and no other option is as near.
 */
function closestOption(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.min(3, Math.max(1, Math.floor(k.length / 3))) + 1;
  let tie = false;
  for (const name of known) {
    const d = editDistance(k, name.toLowerCase());
    if (d < bestDistance) [best, bestDistance, tie] = [name, d, false];
    else if (d === bestDistance) tie = true;
  }
  return tie ? undefined : best;
}

/** Optimal string alignment distance: Levenshtein plus swaps of two neighbours. */
function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const swap = a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1] ? (before[j - 2] as number) + 1 : Infinity;
      row[j] = Math.min((previous[j] as number) + 1, (row[j - 1] as number) + 1, (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1), swap);
    }
    before = previous;
    previous = row;
  }
  return previous[b.length] as number;
}

/**
 * Checks an options object like {@link checkOptionKeys} and returns a snapshot of its own
 * properties: a null-prototype object, so a value set on `Object.prototype` (or on the options'
 * own prototype) is never read as an option, and a getter runs once. Missing keys read as
 * `undefined`. Every factory reads its options through this.
 *
 * @example
 * ```ts
 * const o = readOptions<BulkheadOptions>('createBulkhead', options, ['name', 'maxConcurrent']);
 * const max = o.maxConcurrent ?? 10; // never Object.prototype.maxConcurrent
 * ```
 */
export function readOptions<T extends object>(owner: string, options: T | undefined, known: readonly string[], required = false): T {
  checkOptionKeys(owner, options, known, required);
  const own = Object.create(null) as Record<string, unknown>;
  if (options === undefined) return own as T;
  for (const key of Object.keys(options)) own[key] = (options as Record<string, unknown>)[key];
  return own as T;
}

/**
 * The `clock` option: `systemClock` when undefined, the value when it is a `Clock`, else
 * `INVALID_OPTIONS`.
 *
 * @example
 * ```ts
 * const clock = checkClock('createBreaker', options.clock);
 * ```
 */
export function checkClock(owner: string, value: unknown): Clock {
  if (value === undefined) return systemClock;
  const clock = value as Partial<Clock> | null;
  if (
    typeof clock !== 'object' ||
    clock === null ||
    typeof clock.now !== 'function' ||
    typeof clock.setTimeout !== 'function' ||
    typeof clock.clearTimeout !== 'function'
  ) {
    throw new InvalidOptionsError(owner, 'clock', value, 'a Clock (now, setTimeout, clearTimeout)');
  }
  return clock as Clock;
}

/**
 * The `events` option: `defaultEventBus()` when undefined, the value when it is an `EventBus`,
 * else `INVALID_OPTIONS`.
 *
 * @example
 * ```ts
 * const events = checkEvents('createBreaker', options.events);
 * ```
 */
export function checkEvents(owner: string, value: unknown, option = 'events'): EventBus {
  if (value === undefined) return defaultEventBus();
  const bus = value as Partial<EventBus> | null;
  if (
    typeof bus !== 'object' ||
    bus === null ||
    typeof bus.on !== 'function' ||
    typeof bus.emit !== 'function' ||
    typeof bus.hasListeners !== 'function'
  ) {
    throw new InvalidOptionsError(owner, option, value, 'an EventBus (on, emit, hasListeners), e.g. createEventBus() or defaultEventBus()');
  }
  return bus as EventBus;
}
