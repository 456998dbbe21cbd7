import { describeValue, InvalidOptionsError } from '@x/core';
import { parseDuration } from './duration.js';
import { resiliencePresets } from './presets.js';
import type { ResiliencePresetName } from './presets.js';
import { LAYER_KINDS } from './schema.js';
import { joinPath, ResilienceConfigError, validateResilienceConfig } from './validate.js';
import type { ConfigIssue } from './validate.js';

/** A layer of an operation, outermost first in the default order. */
export type LayerKind = (typeof LAYER_KINDS)[number];

/** Breaker settings after validation (durations in ms). */
export interface BreakerSettings {
  readonly failure_threshold?: number;
  readonly failure_rate_threshold?: number;
  readonly minimum_calls?: number;
  readonly window?: { readonly calls: number } | { readonly duration: number; readonly buckets?: number };
  readonly slow_call_duration?: number;
  readonly slow_call_rate_threshold?: number;
  readonly open_duration?: number;
  readonly half_open_max?: number;
  readonly success_threshold?: number;
  readonly probe_timeout?: number;
  readonly max_concurrent?: number;
}

/** Retry settings after validation and defaults (durations in ms). */
export interface RetrySettings {
  readonly max_attempts: number;
  readonly backoff: 'exponential' | 'linear' | 'constant';
  readonly initial_delay: number;
  readonly max_delay: number;
  readonly multiplier: number;
  readonly jitter: 'none' | 'full' | 'equal' | 'decorrelated';
  readonly max_elapsed?: number;
  readonly retry_on?: readonly string[];
}

/** Timeout settings after validation (ms). */
export interface TimeoutSettings {
  readonly duration: number;
  readonly strategy: 'cooperative' | 'aggressive';
}

/** Bulkhead settings after validation and defaults (ms). */
export interface BulkheadSettings {
  readonly max_concurrent: number;
  readonly max_queue: number;
  readonly max_wait?: number;
  readonly order: 'fifo' | 'lifo';
}

/** Rate limiter settings after validation and defaults (ms). */
export interface RateLimitSettings {
  readonly limit: number;
  readonly period: number;
  readonly burst?: number;
  readonly algorithm: 'gcra' | 'token_bucket' | 'sliding_window' | 'fixed_window';
  readonly max_wait: number;
  readonly key: string;
  readonly store: 'memory' | 'redis';
  readonly on_store_error?: 'open' | 'closed' | 'local';
}

/** Error budget settings after validation (ms). */
export interface ErrorBudgetSettings {
  readonly slo: number;
  readonly window: number;
  readonly bucket?: number;
}

/** One health check's settings after validation (ms). */
export interface CheckSettingsResolved {
  readonly critical?: boolean;
  readonly timeout?: number;
  readonly failure_threshold?: number;
  readonly success_threshold?: number;
  readonly min?: number;
  readonly max?: number;
  readonly breaker?: string;
  readonly error_budget?: string;
}

/** Health monitor settings after validation (ms). */
export interface HealthSettings {
  readonly interval?: number;
  readonly timeout?: number;
  readonly history_size?: number;
  readonly failure_threshold?: number;
  readonly success_threshold?: number;
  readonly unknown_is_healthy?: boolean;
  readonly checks: Readonly<Record<string, CheckSettingsResolved>>;
}

/** A breaker group's settings after validation (ms). */
export interface BreakerGroupSettings {
  readonly defaults: BreakerSettings;
  readonly max_keys?: number;
  readonly idle?: number;
}

/** What an operation runs through: its layers (outermost first) and the instances they use. */
export interface OperationPlan {
  /** Each layer and the name of the instance it uses (in its kind's section); fallback: the handler name. */
  readonly layers: readonly { readonly kind: LayerKind; readonly instance: string }[];
  /** The breaker group whose per-key breaker is the breaker layer (instead of a breaker). */
  readonly breakerGroup?: string;
  /** The error budget every execution is recorded in. */
  readonly errorBudget?: string;
}

/** A part of the config that was validated but has nothing to apply it to yet. */
export interface NotApplied {
  /** Path of the setting or section, e.g. `cache.enable_bloom_filter`. */
  readonly path: string;
  readonly reason: string;
}

/**
 * A validated config with defaults, presets and references resolved: what `createResilience`
 * and `update` build from. Produced by {@link loadResilienceConfig} (or from a plain object by
 * `createResilience` itself). Durations are milliseconds.
 */
export interface ResolvedResilienceConfig {
  readonly preset: ResiliencePresetName | 'none';
  readonly breakers: Readonly<Record<string, BreakerSettings>>;
  readonly breakerGroups: Readonly<Record<string, BreakerGroupSettings>>;
  readonly retries: Readonly<Record<string, RetrySettings>>;
  readonly timeouts: Readonly<Record<string, TimeoutSettings>>;
  readonly bulkheads: Readonly<Record<string, BulkheadSettings>>;
  readonly rateLimiters: Readonly<Record<string, RateLimitSettings>>;
  readonly errorBudgets: Readonly<Record<string, ErrorBudgetSettings>>;
  readonly health: HealthSettings | undefined;
  readonly operations: Readonly<Record<string, OperationPlan>>;
  /** Sections validated but not applied (go-cachex cache features, pub/sub, DLQ, bloom). */
  readonly notApplied: readonly NotApplied[];
  /** The config as given (after environment overrides), before defaults. */
  readonly raw: Readonly<Record<string, unknown>>;
}

const RESOLVED = Symbol.for('@x/resilience/resolved');

/** Whether `value` is a config {@link resolveResilienceConfig} produced. */
export function isResolvedConfig(value: unknown): value is ResolvedResilienceConfig {
  return typeof value === 'object' && value !== null && (value as { [RESOLVED]?: unknown })[RESOLVED] === true;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: Obj, k: string): unknown => (Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined);
const ms = (v: unknown): number | undefined => (v === undefined ? undefined : parseDuration(v));
/** An object without the undefined values (so optional settings stay absent under exactOptionalPropertyTypes). */
function defined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]: Exclude<T[K], undefined> };
}

/** Options of {@link resolveResilienceConfig} and {@link loadResilienceConfig}. */
export interface ResolveOptions {
  /**
   * Environment variables to read overrides from (`process.env` in Node; the `./node` entry passes
   * it by default). `X_RESILIENCE__OPERATIONS__API__RETRY__MAX_ATTEMPTS=5` sets
   * `operations.api.retry.max_attempts` to 5. Default: none.
   */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Prefix of override variables, followed by `__`. Default `'X_RESILIENCE'`. */
  readonly envPrefix?: string | undefined;
}

/**
 * Applies environment overrides to a raw config, in place of a copy: every variable named
 * `<prefix>__A__B__C` sets `a.b.c`. Segments match existing keys ignoring case and `-` vs `_`
 * (so `NETWORK_OPS` finds `network-ops`), else they are lower-cased. Values are parsed as JSON
 * when they can be (`5`, `true`, `[1,2]`), else kept as strings (`30s`).
 *
 * @example
 * ```ts
 * applyEnvOverrides({}, { X_RESILIENCE__PRESET: 'aggressive' }); // { preset: 'aggressive' }
 * ```
 */
export function applyEnvOverrides(config: Obj, env: Readonly<Record<string, string | undefined>>, prefix = 'X_RESILIENCE'): Obj {
  const out = structuredCloneObj(config);
  const head = `${prefix}__`;
  for (const name of Object.keys(env).sort()) {
    const raw = env[name];
    if (raw === undefined || !name.startsWith(head)) continue;
    const segments = name.slice(head.length).split('__').filter((s) => s !== '');
    if (segments.length === 0) continue;
    let at = out;
    segments.forEach((segment, i) => {
      const key = matchKey(at, segment);
      if (i === segments.length - 1) {
        at[key] = parseEnvValue(raw);
        return;
      }
      const next = at[key];
      if (!isObj(next)) at[key] = {};
      at = at[key] as Obj;
    });
  }
  return out;
}

function matchKey(o: Obj, segment: string): string {
  const norm = (s: string) => s.toLowerCase().replaceAll('-', '_');
  const want = norm(segment);
  for (const key of Object.keys(o)) if (norm(key) === want) return key;
  return segment.toLowerCase();
}

function parseEnvValue(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function structuredCloneObj(o: Obj): Obj {
  const copy = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(copy);
    if (isObj(v)) {
      const r: Obj = {};
      for (const k of Object.keys(v)) r[k] = copy(v[k]);
      return r;
    }
    return v;
  };
  return copy(o) as Obj;
}

/** Normalizes a raw timeout (a duration or `{ duration, strategy }`) to object form. */
function timeoutObject(v: unknown): Obj | undefined {
  if (v === undefined || v === false) return undefined;
  if (isObj(v)) return v;
  return { duration: v };
}

/** `over` merged over `base` for one kind; `false` removes. */
function overlay(kind: string, base: Obj | undefined, over: unknown): Obj | undefined {
  if (over === undefined) return base;
  if (over === false) return undefined;
  const o = kind === 'timeout' ? timeoutObject(over) : (over as Obj);
  if (o === undefined) return base;
  if (base === undefined) return o;
  const merged: Obj = { ...base };
  if (kind === 'retry' && (own(o, 'max_attempts') !== undefined || own(o, 'max_retries') !== undefined)) {
    delete merged.max_attempts;
    delete merged.max_retries;
  }
  return Object.assign(merged, o);
}

const JITTER: Record<string, RetrySettings['jitter']> = { true: 'equal', false: 'none' };

function breakerSettings(o: Obj): BreakerSettings {
  const w = own(o, 'window');
  let window: BreakerSettings['window'];
  if (isObj(w)) window = w.calls !== undefined ? { calls: w.calls as number } : defined({ duration: ms(w.duration) as number, buckets: w.buckets as number | undefined });
  return defined({
    failure_threshold: own(o, 'failure_threshold') as number | undefined,
    failure_rate_threshold: own(o, 'failure_rate_threshold') as number | undefined,
    minimum_calls: own(o, 'minimum_calls') as number | undefined,
    window,
    slow_call_duration: ms(own(o, 'slow_call_duration')),
    slow_call_rate_threshold: own(o, 'slow_call_rate_threshold') as number | undefined,
    open_duration: ms(own(o, 'open_duration')),
    half_open_max: own(o, 'half_open_max') as number | undefined,
    success_threshold: own(o, 'success_threshold') as number | undefined,
    probe_timeout: ms(own(o, 'probe_timeout')),
    max_concurrent: own(o, 'max_concurrent') as number | undefined,
  });
}

function retrySettings(o: Obj): RetrySettings {
  const attempts = own(o, 'max_attempts') ?? (own(o, 'max_retries') === undefined ? undefined : (own(o, 'max_retries') as number) + 1);
  const jitter = own(o, 'jitter');
  return defined({
    max_attempts: (attempts as number | undefined) ?? 3,
    backoff: (own(o, 'backoff') as RetrySettings['backoff'] | undefined) ?? 'exponential',
    initial_delay: ms(own(o, 'initial_delay')) ?? 100,
    max_delay: ms(own(o, 'max_delay')) ?? Math.max(30_000, ms(own(o, 'initial_delay')) ?? 0),
    multiplier: (own(o, 'multiplier') as number | undefined) ?? 2,
    jitter: typeof jitter === 'boolean' ? (JITTER[String(jitter)] as RetrySettings['jitter']) : ((jitter as RetrySettings['jitter'] | undefined) ?? 'equal'),
    max_elapsed: ms(own(o, 'max_elapsed')),
    retry_on: own(o, 'retry_on') as string[] | undefined,
  });
}

function timeoutSettings(o: Obj): TimeoutSettings {
  return { duration: ms(own(o, 'duration')) as number, strategy: (own(o, 'strategy') as TimeoutSettings['strategy'] | undefined) ?? 'cooperative' };
}

function bulkheadSettings(o: Obj): BulkheadSettings {
  return defined({
    max_concurrent: own(o, 'max_concurrent') as number,
    max_queue: (own(o, 'max_queue') as number | undefined) ?? 0,
    max_wait: ms(own(o, 'max_wait')),
    order: (own(o, 'order') as BulkheadSettings['order'] | undefined) ?? 'fifo',
  });
}

function rateLimitSettings(o: Obj, name: string): RateLimitSettings {
  return defined({
    limit: own(o, 'limit') as number,
    period: ms(own(o, 'period')) ?? 1_000,
    burst: own(o, 'burst') as number | undefined,
    algorithm: (own(o, 'algorithm') as RateLimitSettings['algorithm'] | undefined) ?? 'gcra',
    max_wait: ms(own(o, 'max_wait')) ?? 0,
    key: (own(o, 'key') as string | undefined) ?? name,
    store: (own(o, 'store') as RateLimitSettings['store'] | undefined) ?? 'memory',
    on_store_error: own(o, 'on_store_error') as RateLimitSettings['on_store_error'],
  });
}

const SECTION_OF: Record<Exclude<LayerKind, 'fallback'>, string> = {
  rate_limit: 'rate_limiters',
  bulkhead: 'bulkheads',
  breaker: 'breakers',
  retry: 'retries',
  timeout: 'timeouts',
};

const NOT_YET = (what: string, how: string) => `${what}: validated, not applied (@x/resilience does not create it; ${how})`;

/**
 * Validates a raw config (an object as parsed from YAML or JSON) and resolves presets, defaults,
 * references and the seeds' sections. Throws a {@link ResilienceConfigError} (`INVALID_OPTIONS`)
 * listing every problem with its path.
 *
 * @example
 * ```ts
 * const config = resolveResilienceConfig({ operations: { api: { retry: { max_attempts: 5 } } } });
 * config.operations.api.layers; // breaker, retry, timeout from the default preset
 * ```
 */
export function resolveResilienceConfig(input: unknown, options: ResolveOptions = {}): ResolvedResilienceConfig {
  if (isResolvedConfig(input)) return input;
  if (!isObj(input)) throw new ResilienceConfigError('resilience config', [{ path: '(root)', message: `must be an object, got ${describeValue(input)}` }]);
  const raw = options.env === undefined ? input : applyEnvOverrides(input, options.env, options.envPrefix);
  const issues: ConfigIssue[] = validateResilienceConfig(raw);
  if (issues.length > 0) throw new ResilienceConfigError('resilience config', issues);

  const presetName = (own(raw, 'preset') as ResolvedResilienceConfig['preset'] | undefined) ?? 'default';
  const preset = presetName === 'none' ? undefined : (resiliencePresets[presetName] as unknown as Obj);
  const defaults = (own(raw, 'defaults') as Obj | undefined) ?? {};
  const base: Record<string, Obj | undefined> = {};
  for (const kind of ['rate_limit', 'bulkhead', 'breaker', 'retry', 'timeout']) {
    const fromPreset = preset === undefined ? undefined : kind === 'timeout' ? timeoutObject(preset[kind]) : (preset[kind] as Obj | undefined);
    base[kind] = overlay(kind, fromPreset, own(defaults, kind));
  }

  const section = (name: string): Obj => (own(raw, name) as Obj | undefined) ?? {};
  const breakers: Record<string, BreakerSettings> = {};
  const retries: Record<string, RetrySettings> = {};
  const timeouts: Record<string, TimeoutSettings> = {};
  const bulkheads: Record<string, BulkheadSettings> = {};
  const rateLimiters: Record<string, RateLimitSettings> = {};
  const late: ConfigIssue[] = [];
  const need = (o: Obj, key: string, path: string, where: string) => {
    if (own(o, key) !== undefined) return;
    const at = joinPath(path, key);
    // One report per place: several operations inheriting the same incomplete default say it once.
    if (!late.some((i) => i.path === at)) late.push({ path: at, message: path.startsWith('defaults.') ? 'is required: operations take this layer from defaults' : `is required (here or in ${where})` });
  };

  const build = (kind: Exclude<LayerKind, 'fallback'>, name: string, merged: Obj, path: string): void => {
    switch (kind) {
      case 'breaker':
        breakers[name] = breakerSettings(merged);
        return;
      case 'retry':
        retries[name] = retrySettings(merged);
        return;
      case 'timeout':
        need(merged, 'duration', path, 'defaults.timeout');
        timeouts[name] = timeoutSettings(merged);
        return;
      case 'bulkhead':
        need(merged, 'max_concurrent', path, 'defaults.bulkhead');
        bulkheads[name] = bulkheadSettings(merged);
        return;
      case 'rate_limit':
        need(merged, 'limit', path, 'defaults.rate_limit');
        rateLimiters[name] = rateLimitSettings(merged, name);
        return;
    }
  };

  for (const kind of ['rate_limit', 'bulkhead', 'breaker', 'retry', 'timeout'] as const) {
    const sectionName = SECTION_OF[kind];
    for (const [name, value] of Object.entries(section(sectionName))) {
      build(kind, name, overlay(kind, base[kind], value) as Obj, joinPath(sectionName, name));
    }
  }

  // go-cachex's `cache:` section: its policies are the operation `cache`; the rest waits for @x/cache.
  const notApplied: NotApplied[] = [];
  const operationsRaw: Obj = { ...section('operations') };
  const cache = own(raw, 'cache') as Obj | undefined;
  if (cache !== undefined) {
    const fromCache: Obj = {};
    const cb = own(cache, 'circuit_breaker') as Obj | undefined;
    if (cb !== undefined) {
      fromCache.breaker = defined({ failure_threshold: own(cb, 'threshold'), open_duration: own(cb, 'timeout'), half_open_max: own(cb, 'half_open_max') });
    }
    const r = own(cache, 'retry') as Obj | undefined;
    if (r !== undefined) {
      fromCache.retry = defined({
        max_retries: own(r, 'max_retries'),
        initial_delay: own(r, 'initial_delay'),
        max_delay: own(r, 'max_delay'),
        multiplier: own(r, 'multiplier'),
        jitter: own(r, 'jitter'),
      });
    }
    if (own(cache, 'timeout') !== undefined) fromCache.timeout = own(cache, 'timeout');
    const explicit = (own(operationsRaw, 'cache') as Obj | undefined) ?? {};
    const merged: Obj = { ...fromCache };
    for (const [k, v] of Object.entries(explicit)) merged[k] = isObj(v) && isObj(merged[k]) ? overlay(k, merged[k] as Obj, v) : v;
    operationsRaw.cache = merged;
    if (own(cache, 'enable_dead_letter_queue') !== undefined) {
      notApplied.push({
        path: 'cache.enable_dead_letter_queue',
        reason: NOT_YET('a dead-letter queue for write-behind', "pass a queue from @x/dlq as createCache's writeBehind.deadLetter"),
      });
    }
    if (own(cache, 'enable_bloom_filter') !== undefined) {
      notApplied.push({ path: 'cache.enable_bloom_filter', reason: NOT_YET('a bloom filter in front of the store', "pass a filter from @x/bloom as createCache's filter") });
    }
  }
  const HOW = {
    pubsub: "create the bus with createInvalidationBus from @x/cache/redis; cacheWiring().invalidationBusOptions has its channel and timeout",
    dlq: 'create the queue with createDeadLetterQueue from @x/dlq',
    bloom: 'create the filter with @x/bloom',
  } as const;
  for (const name of ['pubsub', 'dlq', 'bloom'] as const) {
    if (own(raw, name) !== undefined) notApplied.push({ path: name, reason: NOT_YET(`the ${name} section`, HOW[name]) });
  }

  const fromCacheSection = cache !== undefined && own(section('operations'), 'cache') === undefined;
  const CACHE_KEYS: Record<string, string> = { breaker: 'circuit_breaker', retry: 'retry', timeout: 'timeout' };
  const originOf = (op: string, kind: string, fallbackPath: string): string =>
    op === 'cache' && fromCacheSection && CACHE_KEYS[kind] !== undefined ? joinPath('cache', CACHE_KEYS[kind] as string) : fallbackPath;
  const operations: Record<string, OperationPlan> = {};
  for (const [op, value] of Object.entries(operationsRaw)) {
    const o = value as Obj;
    const path = joinPath('operations', op);
    const configured = new Map<LayerKind, string>();
    const fallback = own(o, 'fallback');
    if (fallback === true) configured.set('fallback', op);
    else if (typeof fallback === 'string') configured.set('fallback', fallback);
    for (const kind of ['rate_limit', 'bulkhead', 'breaker', 'retry', 'timeout'] as const) {
      const sectionName = SECTION_OF[kind];
      const v = own(o, kind);
      if (v === false) continue;
      const isRef = typeof v === 'string' && !(kind === 'timeout' && parseDuration(v) !== undefined);
      if (isRef) {
        configured.set(kind, v);
        continue;
      }
      if (v === undefined && Object.prototype.hasOwnProperty.call(section(sectionName), op)) {
        // No setting here, and an entry of the same name: the operation uses that entry.
        configured.set(kind, op);
        continue;
      }
      const merged = overlay(kind, base[kind], v);
      if (merged === undefined) continue;
      if (kind === 'breaker' && own(o, 'breaker_group') !== undefined && v === undefined) continue;
      // Where a problem of the merged settings is reported: the operation's own setting, the
      // go-cachex section it came from, or the defaults it inherited.
      const origin = v !== undefined ? originOf(op, kind, joinPath(path, kind)) : joinPath('defaults', kind);
      build(kind, op, merged, origin);
      configured.set(kind, op);
    }
    const group = own(o, 'breaker_group') as string | undefined;
    if (group !== undefined) configured.set('breaker', group);

    const order = (own(o, 'order') as LayerKind[] | undefined) ?? LAYER_KINDS.filter((k) => configured.has(k));
    const layers: { kind: LayerKind; instance: string }[] = [];
    order.forEach((kind, i) => {
      const instance = configured.get(kind);
      if (instance === undefined) {
        late.push({ path: `${joinPath(path, 'order')}[${i}]`, message: `'${kind}' is not configured for this operation (set ${kind} here, in defaults or through the preset)` });
        return;
      }
      layers.push({ kind, instance });
    });
    operations[op] = defined({ layers, breakerGroup: group, errorBudget: own(o, 'error_budget') as string | undefined });
  }

  const errorBudgets: Record<string, ErrorBudgetSettings> = {};
  for (const [name, v] of Object.entries(section('error_budgets'))) {
    const b = v as Obj;
    errorBudgets[name] = defined({ slo: own(b, 'slo') as number, window: ms(own(b, 'window')) ?? 30 * 86_400_000, bucket: ms(own(b, 'bucket')) });
  }
  const breakerGroups: Record<string, BreakerGroupSettings> = {};
  for (const [name, v] of Object.entries(section('breaker_groups'))) {
    const g = v as Obj;
    breakerGroups[name] = defined({
      defaults: breakerSettings(overlay('breaker', base.breaker, own(g, 'defaults') ?? {}) ?? {}),
      max_keys: own(g, 'max_keys') as number | undefined,
      idle: ms(own(g, 'idle')),
    });
  }
  let health: HealthSettings | undefined;
  const h = own(raw, 'health') as Obj | undefined;
  if (h !== undefined) {
    const checks: Record<string, CheckSettingsResolved> = {};
    for (const [name, v] of Object.entries((own(h, 'checks') as Obj | undefined) ?? {})) {
      const c = v as Obj;
      checks[name] = defined({
        critical: own(c, 'critical') as boolean | undefined,
        timeout: ms(own(c, 'timeout')),
        failure_threshold: own(c, 'failure_threshold') as number | undefined,
        success_threshold: own(c, 'success_threshold') as number | undefined,
        min: own(c, 'min') as number | undefined,
        max: own(c, 'max') as number | undefined,
        breaker: own(c, 'breaker') as string | undefined,
        error_budget: own(c, 'error_budget') as string | undefined,
      });
    }
    health = defined({
      interval: ms(own(h, 'interval')),
      timeout: ms(own(h, 'timeout')),
      history_size: own(h, 'history_size') as number | undefined,
      failure_threshold: own(h, 'failure_threshold') as number | undefined,
      success_threshold: own(h, 'success_threshold') as number | undefined,
      unknown_is_healthy: own(h, 'unknown_is_healthy') as boolean | undefined,
      checks,
    });
  }
  for (const [name, c] of Object.entries(health?.checks ?? {})) {
    if (c.breaker !== undefined && !Object.prototype.hasOwnProperty.call(breakers, c.breaker)) {
      late.push({ path: joinPath(joinPath(joinPath('health', 'checks'), name), 'breaker'), message: `names the operation "${c.breaker}", which has no breaker of its own` });
    }
  }
  if (late.length > 0) throw new ResilienceConfigError('resilience config', late);

  const resolved: ResolvedResilienceConfig = {
    preset: presetName,
    breakers,
    breakerGroups,
    retries,
    timeouts,
    bulkheads,
    rateLimiters,
    errorBudgets,
    health,
    operations,
    notApplied,
    raw,
  };
  Object.defineProperty(resolved, RESOLVED, { value: true });
  return resolved;
}

/** Options of {@link loadResilienceConfig}. */
export interface LoadResilienceConfigOptions extends ResolveOptions {
  /** How to read a string: `'auto'` (default: JSON when it starts with `{`, else YAML), `'json'` or `'yaml'`. */
  readonly format?: 'auto' | 'json' | 'yaml' | undefined;
}

/**
 * Loads a config from an object, JSON text or YAML text, applies environment overrides, validates
 * it (every problem at once, as `INVALID_OPTIONS`) and resolves presets and defaults. YAML needs
 * the optional peer dependency `yaml` (`npm i yaml`), imported only when a YAML text is given.
 *
 * @example
 * ```ts
 * const config = await loadResilienceConfig(readFileSync('resilience.yaml', 'utf8'), { env: process.env });
 * const resilience = createResilience(config);
 * ```
 */
export async function loadResilienceConfig(source: unknown, options: LoadResilienceConfigOptions = {}): Promise<ResolvedResilienceConfig> {
  const format = options.format ?? 'auto';
  if (format !== 'auto' && format !== 'json' && format !== 'yaml') {
    throw new InvalidOptionsError('loadResilienceConfig', 'format', format, "one of 'auto' | 'json' | 'yaml'");
  }
  let value = source;
  if (typeof source === 'string') {
    const asJson = format === 'json' || (format === 'auto' && source.trimStart().startsWith('{'));
    value = asJson ? parseJson(source) : await parseYaml(source);
    if (value === null || value === undefined) value = {};
  }
  return resolveResilienceConfig(value, options);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ResilienceConfigError('loadResilienceConfig', [{ path: '(root)', message: `is not valid JSON: ${(error as Error).message}` }]);
  }
}

/** The dynamic import of `yaml`, replaceable in tests to simulate the package missing. */
export const yamlLoader: { load: () => Promise<{ parse(text: string, options?: object): unknown }> } = {
  load: () => import('yaml') as Promise<{ parse(text: string, options?: object): unknown }>,
};

async function parseYaml(text: string): Promise<unknown> {
  let yaml: { parse(text: string, options?: object): unknown };
  try {
    yaml = await yamlLoader.load();
  } catch (error) {
    const missing = new InvalidOptionsError(
      'loadResilienceConfig',
      'source',
      'YAML text',
      'JSON text or an object: reading YAML needs the optional peer dependency "yaml" (npm i yaml), which could not be imported',
    );
    Object.defineProperty(missing, 'cause', { value: error, configurable: true, writable: true });
    throw missing;
  }
  try {
    // YAML 1.2 core schema: `.inf` is Infinity, `on`/`yes` stay strings; durations stay strings.
    return yaml.parse(text, { prettyErrors: true });
  } catch (error) {
    throw new ResilienceConfigError('loadResilienceConfig', [{ path: '(root)', message: `is not valid YAML: ${(error as Error).message.split('\n')[0]}` }]);
  }
}
