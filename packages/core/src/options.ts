import { InvalidOptionsError } from './errors.js';

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
