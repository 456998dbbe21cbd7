/** Milliseconds per unit of a duration string. */
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * What a duration string looks like: one or more `<number><unit>` parts, units `ms`, `s`, `m`,
 * `h`, `d` (`'250ms'`, `'30s'`, `'1m'`, `'1h30m'`, `'1.5s'`). The JSON Schema uses the same text.
 *
 * @example
 * ```ts
 * new RegExp(DURATION_PATTERN).test('1m30s'); // true
 * ```
 */
export const DURATION_PATTERN = '^(?:[0-9]+(?:\\.[0-9]+)?(?:ms|s|m|h|d))+$';

/**
 * Like {@link DURATION_PATTERN}, for durations that must be above zero: at least one digit other
 * than 0 (`'0s'` and `'0.0ms'` do not match).
 *
 * @example
 * ```ts
 * new RegExp(POSITIVE_DURATION_PATTERN).test('0s'); // false
 * ```
 */
export const POSITIVE_DURATION_PATTERN = '^(?=[^1-9]*[1-9])(?:[0-9]+(?:\\.[0-9]+)?(?:ms|s|m|h|d))+$';

const DURATION_RE = new RegExp(DURATION_PATTERN);
const PART_RE = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)/g;

/**
 * Milliseconds of a duration: a number is already milliseconds; a string is parsed as
 * {@link DURATION_PATTERN} describes. Undefined for anything else (a bad string, NaN, a negative
 * or infinite number), so callers report the problem with its path.
 *
 * @example
 * ```ts
 * parseDuration('1m30s'); // 90_000
 * parseDuration(250);     // 250
 * parseDuration('30 s');  // undefined
 * ```
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string' || !DURATION_RE.test(value)) return undefined;
  let total = 0;
  for (const [, amount, unit] of value.matchAll(PART_RE)) total += Number(amount) * (UNIT_MS[unit as string] as number);
  // '0.1ms' parts add up in binary floating point; a whole number of microseconds is plenty.
  return Math.round(total * 1_000) / 1_000;
}

/**
 * A short human form of `ms` for messages and events (`'1m30s'`, `'250ms'`, `'∞'`).
 *
 * @example
 * ```ts
 * formatDuration(90_000); // '1m30s'
 * ```
 */
export function formatDuration(ms: number): string {
  if (ms === Infinity) return '∞';
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1_000 || !Number.isInteger(ms)) return `${ms}ms`;
  let rest = ms;
  let out = '';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return rest > 0 ? `${out}${rest}ms` : out;
}
