import { describeValue, InvalidOptionsError } from '@x/core';
import { DURATION_PATTERN, parseDuration, POSITIVE_DURATION_PATTERN } from './duration.js';
import { RESILIENCE_CONFIG } from './schema.js';
import type { SchemaNode } from './schema.js';

/** One problem in a config, with where it is. */
export interface ConfigIssue {
  /** Dotted path, e.g. `operations.api.retry.max_attempts` (`order[2]` for list items). */
  readonly path: string;
  /** What is wrong, e.g. `must be an integer >= 1, got 0`. */
  readonly message: string;
}

/**
 * Thrown (code `INVALID_OPTIONS`) when a config has problems: `issues` lists every one of them
 * with its path, and the message has one line per issue.
 *
 * @example
 * ```ts
 * try { createResilience({ operations: { api: { retry: { max_attempts: 0 } } } }) }
 * catch (e) { if (e instanceof ResilienceConfigError) for (const i of e.issues) console.log(i.path, i.message) }
 * // operations.api.retry.max_attempts: must be an integer in [1, 1000], got 0
 * ```
 */
export class ResilienceConfigError extends InvalidOptionsError {
  override name = 'ResilienceConfigError';
  /** Every problem found, in document order. */
  readonly issues: readonly ConfigIssue[];

  constructor(owner: string, issues: readonly ConfigIssue[]) {
    const first = issues[0] ?? { path: 'config', message: 'is invalid' };
    super(owner, first.path, undefined, first.message);
    this.issues = issues;
    const lines = issues.map((i) => `  ${i.path}: ${i.message}`);
    this.message = `${owner}: the config has ${issues.length} problem${issues.length === 1 ? '' : 's'}:\n${lines.join('\n')}`;
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/**
 * Appends a key to a dotted path: `a.b`, or `a["x.y"]` for keys a dot path cannot show.
 *
 * @example
 * ```ts
 * joinPath('operations', 'api'); // 'operations.api'
 * ```
 */
export function joinPath(path: string, key: string): string {
  if (IDENT.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

function rangeText(kind: 'an integer' | 'a number', min?: number, max?: number, minEx?: boolean, maxEx?: boolean): string {
  if (min !== undefined && max !== undefined) return `${kind} in ${minEx ? '(' : '['}${min}, ${max}${maxEx ? ')' : ']'}`;
  if (min !== undefined) return `${kind} ${minEx ? '>' : '>='} ${min}`;
  if (max !== undefined) return `${kind} ${maxEx ? '<' : '<='} ${max}`;
  return kind;
}

/**
 * What a node accepts, in words (for messages).
 *
 * @example
 * ```ts
 * describeNode({ type: 'integer', min: 1 }); // 'an integer >= 1'
 * ```
 */
export function describeNode(node: SchemaNode): string {
  switch (node.type) {
    case 'object':
      return 'an object';
    case 'map':
      return 'an object of named entries';
    case 'integer':
      return rangeText('an integer', node.min, node.max);
    case 'number':
      return rangeText('a number', node.min, node.max, node.minExclusive, node.maxExclusive);
    case 'duration':
      return node.positive
        ? "a duration above 0 (whole milliseconds, or a string such as '250ms', '30s', '1m')"
        : "a duration (whole milliseconds >= 0, or a string such as '250ms', '30s', '1m')";
    case 'boolean':
      return 'a boolean';
    case 'enum':
      return `one of ${node.values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(' | ')}`;
    case 'string':
      return 'a non-empty string';
    case 'array':
      return `a list of ${describeNode(node.items).replace(/^an? /, '')}s`.replace(/ss$/, 's');
    case 'anyOf':
      return node.options.map(describeNode).join(', or ');
  }
}

/** Whether `value` has the JSON type `node` is about (not whether it is valid). */
function sameType(node: SchemaNode, value: unknown): boolean {
  switch (node.type) {
    case 'object':
    case 'map':
      return isPlainObject(value);
    case 'integer':
    case 'number':
      return typeof value === 'number';
    case 'duration':
      return typeof value === 'number' || typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'enum':
      return node.values.some((v) => typeof v === typeof value);
    case 'string':
      return typeof value === 'string';
    case 'array':
      return Array.isArray(value);
    case 'anyOf':
      return node.options.some((o) => sameType(o, value));
  }
}

const DURATION_RE = new RegExp(DURATION_PATTERN);
const POSITIVE_DURATION_RE = new RegExp(POSITIVE_DURATION_PATTERN);

/**
 * Checks `value` against `node` exactly as the JSON Schema would, appending one issue per
 * problem (all of them, not just the first). Returns whether it was valid.
 */
function walk(node: SchemaNode, value: unknown, path: string, issues: ConfigIssue[]): boolean {
  const fail = (message: string): false => {
    issues.push({ path: path === '' ? '(root)' : path, message });
    return false;
  };
  const got = `, got ${describeValue(value)}`;
  switch (node.type) {
    case 'object': {
      if (!isPlainObject(value)) return fail(`must be an object${got}`);
      let ok = true;
      const known = Object.keys(node.fields);
      for (const key of Object.keys(value)) {
        const child = node.fields[key];
        if (child === undefined || !Object.prototype.hasOwnProperty.call(node.fields, key)) {
          const near = suggest(key, known);
          issues.push({ path: joinPath(path, key), message: `unknown key${near === undefined ? '' : `; did you mean "${near}"?`} (known: ${known.join(', ')})` });
          ok = false;
          continue;
        }
        if (!walk(child, value[key], joinPath(path, key), issues)) ok = false;
      }
      for (const key of node.required ?? []) {
        if (!Object.prototype.hasOwnProperty.call(value, key)) {
          issues.push({ path: joinPath(path, key), message: 'is required' });
          ok = false;
        }
      }
      return ok;
    }
    case 'map': {
      if (!isPlainObject(value)) return fail(`must be an object of named entries${got}`);
      let ok = true;
      for (const key of Object.keys(value)) {
        if (key === '') {
          issues.push({ path: joinPath(path, key), message: 'names must be non-empty' });
          ok = false;
          continue;
        }
        if (!walk(node.values, value[key], joinPath(path, key), issues)) ok = false;
      }
      return ok;
    }
    case 'integer': {
      const inRange = typeof value === 'number' && Number.isInteger(value) && !(node.min !== undefined && value < node.min) && !(node.max !== undefined && value > node.max);
      return inRange || fail(`must be ${describeNode(node)}${got}`);
    }
    case 'number': {
      const ok =
        typeof value === 'number' &&
        Number.isFinite(value) &&
        !(node.min !== undefined && (node.minExclusive ? value <= node.min : value < node.min)) &&
        !(node.max !== undefined && (node.maxExclusive ? value >= node.max : value > node.max));
      return ok || fail(`must be ${describeNode(node)}${got}`);
    }
    case 'duration': {
      const ok =
        typeof value === 'number'
          ? Number.isInteger(value) && (node.positive ? value > 0 : value >= 0)
          : typeof value === 'string' && (node.positive ? POSITIVE_DURATION_RE : DURATION_RE).test(value);
      return ok || fail(`must be ${describeNode(node)}${got}`);
    }
    case 'boolean':
      return typeof value === 'boolean' || fail(`must be a boolean${got}`);
    case 'enum':
      return node.values.includes(value as never) || fail(`must be ${describeNode(node)}${got}`);
    case 'string':
      return (typeof value === 'string' && value.length > 0) || fail(`must be a non-empty string${got}`);
    case 'array': {
      if (!Array.isArray(value)) return fail(`must be ${describeNode(node)}${got}`);
      let ok = true;
      if (node.minItems !== undefined && value.length < node.minItems) ok = fail(`must have at least ${node.minItems} item${node.minItems === 1 ? '' : 's'}`);
      value.forEach((item, i) => {
        if (!walk(node.items, item, `${path}[${i}]`, issues)) ok = false;
      });
      if (node.unique) {
        const seen = new Set<unknown>();
        value.forEach((item, i) => {
          if (seen.has(item)) {
            issues.push({ path: `${path}[${i}]`, message: `repeats ${describeValue(item)}` });
            ok = false;
          }
          seen.add(item);
        });
      }
      return ok;
    }
    case 'anyOf': {
      for (const option of node.options) {
        if (walk(option, value, path, [])) return true;
      }
      // Report against the one option of the value's type, if there is exactly one (a misspelt
      // key inside an object option); otherwise say what would be accepted.
      const candidates = node.options.filter((o) => sameType(o, value));
      const only = candidates.length === 1 ? candidates[0] : candidates.find((o) => o.type === 'object');
      if (only !== undefined && (candidates.length === 1 || only.type === 'object')) return walk(only, value, path, issues);
      return fail(`must be ${describeNode(node)}${got}`);
    }
  }
}

/**
 * The known key a misspelt `key` most likely meant (same name in another case or with `-`
 * for `_`, or the nearest by edit distance within a third of its length), if one is close.
 *
 * @example
 * ```ts
 * suggest('max_attemps', ['max_attempts', 'max_retries']); // 'max_attempts'
 * ```
 */
export function suggest(key: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replaceAll('-', '_');
  const k = norm(key);
  for (const candidate of known) if (norm(candidate) === k) return candidate;
  const limit = Math.min(3, Math.max(1, Math.floor(key.length / 3)));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of known) {
    const d = distance(k, norm(candidate));
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance with transpositions of neighbours (optimal string alignment). */
function distance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const up = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((up[j] as number) + 1, (row[j - 1] as number) + 1, (up[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/**
 * Checks a raw config (as parsed from YAML or JSON) against the structure the JSON Schema
 * describes, and returns every problem. No references or cross-field rules: see
 * {@link validateResilienceConfig} for the full check.
 *
 * @example
 * ```ts
 * checkStructure({ operations: { api: { retyr: {} } } });
 * // [{ path: 'operations.api.retyr', message: 'unknown key; did you mean "retry"? ...' }]
 * ```
 */
export function checkStructure(config: unknown, node: SchemaNode = RESILIENCE_CONFIG): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  walk(node, config, '', issues);
  return issues;
}

type Obj = Record<string, unknown>;
const objectAt = (value: unknown): Obj | undefined => (isPlainObject(value) ? value : undefined);
const entries = (value: unknown): [string, Obj][] =>
  Object.entries(objectAt(value) ?? {}).filter((e): e is [string, Obj] => isPlainObject(e[1]));

/**
 * Rules the JSON Schema cannot express: references between entries, exclusive fields, order of
 * bounds, whole milliseconds in duration strings. Skips parts that are structurally wrong (those
 * are reported by {@link checkStructure}).
 */
function checkRules(config: Obj): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: string, message: string) => issues.push({ path, message });
  const names = (section: string) => new Set(Object.keys(objectAt(config[section]) ?? {}));

  // Duration strings must come to whole milliseconds: every policy takes integer ms.
  const scanDurations = (value: unknown, path: string): void => {
    if (typeof value === 'string' && DURATION_RE.test(value)) {
      const ms = parseDuration(value);
      if (ms !== undefined && !Number.isInteger(ms)) add(path, `must be a whole number of milliseconds, got ${describeValue(value)} (${ms} ms)`);
    } else if (Array.isArray(value)) value.forEach((v, i) => scanDurations(v, `${path}[${i}]`));
    else if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) scanDurations(v, joinPath(path, k));
  };
  scanDurations(config, '');

  const checkRetry = (retry: Obj, path: string): void => {
    if (retry.max_attempts !== undefined && retry.max_retries !== undefined) {
      add(joinPath(path, 'max_retries'), 'give max_attempts (the first call included) or max_retries (retries after it), not both');
    }
    const initial = parseDuration(retry.initial_delay);
    const max = parseDuration(retry.max_delay);
    if (initial !== undefined && max !== undefined && initial > max) add(joinPath(path, 'initial_delay'), `must be at most max_delay (${String(retry.max_delay)}), got ${describeValue(retry.initial_delay)}`);
    if (retry.jitter === 'decorrelated' && retry.backoff !== undefined && retry.backoff !== 'exponential') {
      add(joinPath(path, 'jitter'), `'decorrelated' needs backoff: exponential, got backoff ${describeValue(retry.backoff)}`);
    }
  };
  const checkBreaker = (breaker: Obj, path: string): void => {
    if (breaker.slow_call_rate_threshold !== undefined && breaker.slow_call_duration === undefined) {
      add(joinPath(path, 'slow_call_rate_threshold'), 'needs slow_call_duration');
    }
  };
  const checkRateLimit = (limit: Obj, path: string): void => {
    if (limit.on_store_error !== undefined && limit.store !== 'redis') add(joinPath(path, 'on_store_error'), 'applies only with store: redis');
    if (limit.burst !== undefined && (limit.algorithm === 'sliding_window' || limit.algorithm === 'fixed_window')) {
      add(joinPath(path, 'burst'), `applies only to gcra and token_bucket, got algorithm ${describeValue(limit.algorithm)}`);
    }
  };
  const checkers: Record<string, (o: Obj, path: string) => void> = { retry: checkRetry, breaker: checkBreaker, rate_limit: checkRateLimit };

  for (const [name, b] of entries(config.breakers)) checkBreaker(b, joinPath('breakers', name));
  for (const [name, g] of entries(config.breaker_groups)) if (isPlainObject(g.defaults)) checkBreaker(g.defaults, joinPath(joinPath('breaker_groups', name), 'defaults'));
  for (const [name, r] of entries(config.retries)) checkRetry(r, joinPath('retries', name));
  for (const [name, r] of entries(config.rate_limiters)) checkRateLimit(r, joinPath('rate_limiters', name));
  const defaults = objectAt(config.defaults) ?? {};
  for (const [kind, check] of Object.entries(checkers)) {
    const d = objectAt(defaults[kind]);
    if (d !== undefined) check(d, joinPath('defaults', kind));
  }

  const refs: Record<string, string> = {
    rate_limit: 'rate_limiters',
    bulkhead: 'bulkheads',
    breaker: 'breakers',
    breaker_group: 'breaker_groups',
    retry: 'retries',
    timeout: 'timeouts',
    error_budget: 'error_budgets',
  };
  const checkRef = (value: unknown, kind: string, path: string): void => {
    if (typeof value !== 'string' || value === '') return;
    const section = refs[kind] as string;
    if (kind === 'timeout' && DURATION_RE.test(value)) {
      if (!POSITIVE_DURATION_RE.test(value)) add(path, `must be a duration above 0, got ${describeValue(value)}`);
      return;
    }
    const known = names(section);
    if (!known.has(value)) {
      const near = suggest(value, [...known]);
      add(path, `names no entry of ${section}${near === undefined ? '' : `; did you mean "${near}"?`}${known.size === 0 ? ` (${section} is empty)` : ''}`);
    }
  };

  const inlineClash = (op: string, kind: string, section: string, path: string): void => {
    if (names(section).has(op)) {
      add(path, `an inline ${kind} here is named "${op}" after the operation, like ${section}.${op}; name that entry instead (${kind}: ${op}) or rename one`);
    }
  };

  for (const [op, operation] of entries(config.operations)) {
    const path = joinPath('operations', op);
    for (const kind of Object.keys(refs)) {
      const value = operation[kind];
      const at = joinPath(path, kind);
      if (typeof value === 'string') checkRef(value, kind, at);
      else if (isPlainObject(value)) {
        const check = checkers[kind];
        if (check !== undefined) check(value, at);
        inlineClash(op, kind, refs[kind] as string, at);
      } else if (kind === 'timeout' && typeof value === 'number') inlineClash(op, kind, 'timeouts', at);
    }
    if (operation.breaker !== undefined && operation.breaker !== false && operation.breaker_group !== undefined) {
      add(joinPath(path, 'breaker_group'), 'an operation has a breaker or a breaker_group, not both');
    }
  }

  const health = objectAt(config.health);
  for (const [name, check] of entries(health?.checks)) {
    const path = joinPath(joinPath('health', 'checks'), name);
    // A check may watch a named breaker or an operation's own (inline) breaker, which is named
    // after the operation; whether that operation has one is checked once defaults are applied.
    if (!(typeof check.breaker === 'string' && names('operations').has(check.breaker))) checkRef(check.breaker, 'breaker', joinPath(path, 'breaker'));
    checkRef(check.error_budget, 'error_budget', joinPath(path, 'error_budget'));
    if (check.breaker !== undefined && check.error_budget !== undefined) add(path, 'a check is built on a breaker or on an error_budget, not both');
    const builtIn = check.breaker !== undefined || check.error_budget !== undefined;
    if (builtIn && (check.min !== undefined || check.max !== undefined)) add(path, 'min and max apply to threshold checks, not to breaker or error_budget checks');
    if (typeof check.min === 'number' && typeof check.max === 'number' && check.min > check.max) add(joinPath(path, 'min'), `must be at most max (${check.max}), got ${check.min}`);
  }

  const budgets = entries(config.error_budgets);
  for (const [name, budget] of budgets) {
    const window = parseDuration(budget.window) ?? 30 * 86_400_000;
    const bucket = parseDuration(budget.bucket);
    if (bucket !== undefined && Number.isInteger(window) && Number.isInteger(bucket) && window % bucket !== 0) {
      add(joinPath(joinPath('error_budgets', name), 'bucket'), `must divide the window (${window} ms), got ${describeValue(budget.bucket)}`);
    }
  }
  return issues;
}

/**
 * Every problem of a raw config: its structure (what the JSON Schema checks) and the rules
 * across entries (references, exclusive fields). An empty list means the config is valid.
 *
 * @example
 * ```ts
 * const issues = validateResilienceConfig(YAML.parse(text));
 * for (const { path, message } of issues) console.error(`${path}: ${message}`);
 * ```
 */
export function validateResilienceConfig(config: unknown): ConfigIssue[] {
  const issues = checkStructure(config);
  if (isPlainObject(config)) issues.push(...checkRules(config));
  return issues;
}
