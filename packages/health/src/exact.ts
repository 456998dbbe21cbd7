// Exact arithmetic for the error-budget and burn-rate ratios. Internal to this package.
//
// `1 − 0.99999` is `1.0000000000065512e-5` in binary, and even the snapped `1e-5` times 300 000
// is `3.0000000000000004`, so floating point says 3 failures in 300 000 requests consume
// 0.9999999999999999 of a 99.999 % budget. Instead, the SLO and the thresholds are read as the
// decimals they print as, and every comparison is decided on integers.

/** A non-negative rational `num / den` in lowest terms (`den > 0`). */
export interface Fraction {
  readonly num: bigint;
  readonly den: bigint;
}

/**
 * `x` as an exact fraction, read from its shortest decimal: the digits `String(x)` prints, which
 * is the decimal the user wrote whenever that reads back as the same number (0.99999 becomes
 * 99 999 / 100 000, 14.4 becomes 72 / 5). Throws a RangeError for a negative or non-finite `x`.
 *
 * @example
 * ```ts
 * decimalFraction(0.999); // { num: 999n, den: 1000n }
 * decimalFraction(1.5e-7); // { num: 3n, den: 20000000n }
 * ```
 */
export function decimalFraction(x: number): Fraction {
  const match = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(x));
  if (match === null) throw new RangeError(`not a finite non-negative number: ${String(x)}`);
  const [, whole = '', fraction = '', exponent = '0'] = match;
  const digits = BigInt(whole + fraction);
  const scale = fraction.length - Number(exponent);
  return scale >= 0 ? reduced(digits, 10n ** BigInt(scale)) : { num: digits * 10n ** BigInt(-scale), den: 1n };
}

/**
 * The allowed error rate `1 − slo` as an exact fraction, with `slo` read as its shortest decimal
 * ({@link decimalFraction}): `allowedErrors(0.99999)` is exactly 1 / 100 000.
 *
 * @example
 * ```ts
 * allowedErrors(0.995); // { num: 1n, den: 200n }
 * ```
 */
export function allowedErrors(slo: number): Fraction {
  const { num, den } = decimalFraction(slo);
  return reduced(den - num, den);
}

/**
 * The ratio `(a × num) ÷ (b × den)` of two counts `a` and `b` (non-negative whole numbers) scaled
 * by a constant fraction, e.g. `failures ÷ (requests × (1 − slo))`. `compare` is exact; `value`
 * divides once in floating point, so it is the exact ratio rounded to the nearest double while
 * both products stay below 2^53.
 *
 * @example
 * ```ts
 * const consumed = new CountRatio(allowedErrors(0.99999).den, allowedErrors(0.99999).num);
 * consumed.value(3, 300_000); // 1
 * consumed.compare(3, 300_000); // 0: exactly the allowance
 * ```
 */
export class CountRatio {
  readonly #num: bigint;
  readonly #den: bigint;
  readonly #numF: number;
  readonly #denF: number;
  /** Both constants are safe integers, so products up to 2^53 are exact. */
  readonly #exact: boolean;
  /** `num ÷ den` as a double, for constants too large for a double. */
  readonly #approx: number;

  constructor(num: bigint, den: bigint) {
    const r = reduced(num, den);
    this.#num = r.num;
    this.#den = r.den;
    this.#numF = Number(r.num);
    this.#denF = Number(r.den);
    this.#exact = this.#numF <= Number.MAX_SAFE_INTEGER && this.#denF <= Number.MAX_SAFE_INTEGER;
    this.#approx = quotient(r.num, r.den);
  }

  /** `(a × num) ÷ (b × den)` as a double; `b` must be positive. */
  value(a: number, b: number): number {
    const p = a * this.#numF;
    const q = b * this.#denF;
    if (p < Infinity && q < Infinity) return p / q;
    return (a / b) * this.#approx;
  }

  /** The sign of `a × num − b × den`, decided exactly: −1, 0 or 1. */
  compare(a: number, b: number): number {
    const p = a * this.#numF;
    const q = b * this.#denF;
    // Products of safe integers that stay below 2^53 are exact.
    if (this.#exact && p <= Number.MAX_SAFE_INTEGER && q <= Number.MAX_SAFE_INTEGER) return Math.sign(p - q);
    // Each product is within 2.000001 × 2^-53 of the exact one (constant rounded, product rounded):
    // a gap of 8 × 2^-53 of the larger decides the sign. Closer (or infinite), compute it exactly.
    const gap = p - q;
    const tolerance = 4 * Number.EPSILON * Math.max(p, q);
    if (gap > tolerance) return 1;
    if (-gap > tolerance) return -1;
    const exact = BigInt(a) * this.#num - BigInt(b) * this.#den;
    return exact > 0n ? 1 : exact < 0n ? -1 : 0;
  }
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function reduced(num: bigint, den: bigint): Fraction {
  const divisor = gcd(num, den);
  return divisor > 1n ? { num: num / divisor, den: den / divisor } : { num, den };
}

/** `num ÷ den` as a double, also when either is beyond the range of a double. */
function quotient(num: bigint, den: bigint): number {
  const bits = Math.max(num.toString(2).length, den.toString(2).length);
  const shift = BigInt(Math.max(0, bits - 1000));
  return Number(num >> shift) / Number(den >> shift);
}
