import { InvalidOptionsError } from '@x/core';

/**
 * Which series names and labels the exporter produces:
 * - `'x'` (default): this package's names (see the README table), prefix `x`.
 * - `'dwcp'`: DWCP's exact series (prefix `dwcp`): the same names, and
 *   `bulkhead_rejected_total{bulkhead}` without the `reason` label (summed over reasons).
 * - `'go-cachex'`: go-cachex's exact series (no prefix): breaker families labelled by `component`
 *   instead of `name`, plus `circuit_breaker_failures_total{component}` and
 *   `circuit_breaker_successes_total{component}`.
 *
 * Every other family keeps its name and labels, so the alert rules and dashboard generated for a
 * naming (`alertRules({ naming })`, `x-metrics rules --naming go-cachex`) work unchanged.
 */
export type NamingId = 'x' | 'dwcp' | 'go-cachex';

/** How one family is renamed: its name (without prefix) and its labels (`null` drops a label, summing the series that then coincide). */
export interface FamilyNaming {
  readonly name?: string;
  readonly labels?: Readonly<Record<string, string | null>>;
}

/**
 * A family that exists only under some naming, computed at scrape time from another family's
 * series: those matching `where`, with the `where` labels dropped (and the source family's label
 * renames applied).
 */
export interface DerivedFamily {
  /** The source family's suffix (this package's name, without prefix). */
  readonly from: string;
  /** The derived family's name, without prefix. */
  readonly name: string;
  readonly help: string;
  readonly where: Readonly<Record<string, string>>;
}

/** A complete naming scheme. */
export interface Naming {
  readonly id: NamingId;
  /** Prefix used when `collectMetrics` gets no `prefix`. */
  readonly defaultPrefix: string;
  /** Renames per family, keyed by this package's suffix. */
  readonly families: Readonly<Record<string, FamilyNaming>>;
  readonly derived: readonly DerivedFamily[];
}

const component = { name: 'component' } as const;

const NAMINGS: Readonly<Record<NamingId, Naming>> = {
  x: { id: 'x', defaultPrefix: 'x', families: {}, derived: [] },
  dwcp: {
    id: 'dwcp',
    defaultPrefix: 'dwcp',
    families: { bulkhead_rejected_total: { labels: { reason: null } } },
    derived: [],
  },
  'go-cachex': {
    id: 'go-cachex',
    defaultPrefix: '',
    families: {
      circuit_breaker_state: { labels: component },
      circuit_breaker_requests_total: { labels: component },
      circuit_breaker_state_changes_total: { labels: component },
      circuit_breaker_request_duration_seconds: { labels: component },
    },
    derived: [
      {
        from: 'circuit_breaker_requests_total',
        name: 'circuit_breaker_failures_total',
        help: 'Calls through the circuit breaker that failed (go-cachex name).',
        where: { result: 'failure' },
      },
      {
        from: 'circuit_breaker_requests_total',
        name: 'circuit_breaker_successes_total',
        help: 'Calls through the circuit breaker that succeeded (go-cachex name).',
        where: { result: 'success' },
      },
    ],
  },
};

/**
 * Every naming id.
 *
 * @example
 * ```ts
 * NAMING_IDS; // ['x', 'dwcp', 'go-cachex']
 * ```
 */
export const NAMING_IDS: readonly NamingId[] = Object.keys(NAMINGS) as NamingId[];

/**
 * The naming scheme for `id`; throws `INVALID_OPTIONS` for an unknown one.
 *
 * @example
 * ```ts
 * namingScheme('go-cachex').defaultPrefix; // ''
 * ```
 */
export function namingScheme(id: unknown, owner = 'collectMetrics'): Naming {
  if (typeof id === 'string' && Object.prototype.hasOwnProperty.call(NAMINGS, id)) return NAMINGS[id as NamingId];
  throw new InvalidOptionsError(owner, 'naming', id, `one of ${NAMING_IDS.map((n) => `'${n}'`).join(', ')}`);
}

/** The name (without prefix) a family has under `naming`. */
export function familyName(naming: Naming, suffix: string): string {
  return naming.families[suffix]?.name ?? suffix;
}

/** The label a family's `label` is exported as under `naming` (`null`: dropped). */
export function labelName(naming: Naming, suffix: string, label: string): string | null {
  const labels = naming.families[suffix]?.labels;
  if (labels === undefined || !Object.prototype.hasOwnProperty.call(labels, label)) return label;
  return labels[label] ?? null;
}

/** Joins a prefix and a name the way every family name is built. */
export function prefixed(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}_${name}`;
}

const PREFIX = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/;

/** Checks a metric name prefix (`''` allowed). */
export function checkPrefix(owner: string, prefix: unknown): string {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new InvalidOptionsError(owner, 'prefix', prefix, 'a Prometheus name prefix matching [a-zA-Z_:][a-zA-Z0-9_:]* (or "" for none)');
  }
  return prefix;
}
