import { DURATION_PATTERN, POSITIVE_DURATION_PATTERN } from './duration.js';

/**
 * One node of the config definition. The validator ({@link validateResilienceConfig}) and the
 * JSON Schema ({@link resilienceJsonSchema}) are both generated from these nodes, so they cannot
 * disagree about what a file may contain.
 */
export type SchemaNode =
  | ObjectNode
  | MapNode
  | {
      readonly type: 'integer';
      readonly min?: number;
      readonly max?: number;
      readonly doc?: string;
    }
  | {
      readonly type: 'number';
      readonly min?: number;
      readonly max?: number;
      readonly minExclusive?: boolean;
      readonly maxExclusive?: boolean;
      readonly doc?: string;
    }
  | {
      /** Milliseconds as a whole number, or a string such as `'250ms'`, `'30s'`, `'1m'`. */
      readonly type: 'duration';
      /** Whether 0 is refused. */
      readonly positive?: boolean;
      readonly doc?: string;
    }
  | { readonly type: 'boolean'; readonly doc?: string }
  | { readonly type: 'enum'; readonly values: readonly (string | number | boolean)[]; readonly doc?: string }
  | { readonly type: 'string'; readonly doc?: string }
  | { readonly type: 'array'; readonly items: SchemaNode; readonly unique?: boolean; readonly minItems?: number; readonly doc?: string }
  | { readonly type: 'anyOf'; readonly options: readonly SchemaNode[]; readonly doc?: string };

/** An object with a fixed set of keys (every other key is refused, with a suggestion). */
export interface ObjectNode {
  readonly type: 'object';
  /** Set on shared definitions: the JSON Schema puts them under `$defs` once and refers to them. */
  readonly id?: string;
  readonly fields: Readonly<Record<string, SchemaNode>>;
  readonly required?: readonly string[];
  readonly doc?: string;
}

/** An object whose keys are names the user chooses (instances, operations, checks). */
export interface MapNode {
  readonly type: 'map';
  readonly values: SchemaNode;
  readonly doc?: string;
}

const int = (min?: number, max?: number, doc?: string): SchemaNode => ({
  type: 'integer',
  ...(min !== undefined && { min }),
  ...(max !== undefined && { max }),
  ...(doc !== undefined && { doc }),
});
const duration = (positive: boolean, doc: string): SchemaNode => ({ type: 'duration', positive, doc });
const ratio = (doc: string): SchemaNode => ({ type: 'number', min: 0, max: 1, minExclusive: true, doc });
const ref = (kind: string): SchemaNode => ({ type: 'string', doc: `The name of an entry of \`${kind}\` (shared with every operation naming it).` });
const off: SchemaNode = { type: 'enum', values: [false], doc: '`false` leaves this policy out of the operation (even when a preset or `defaults` has it).' };

/**
 * The layers an operation can have, in the documented default order (outermost first).
 *
 * @example
 * ```ts
 * LAYER_KINDS.indexOf('breaker') < LAYER_KINDS.indexOf('retry'); // true: a retried call counts once
 * ```
 */
export const LAYER_KINDS = ['fallback', 'rate_limit', 'bulkhead', 'breaker', 'retry', 'timeout'] as const;

const window: SchemaNode = {
  type: 'anyOf',
  doc: 'The window failure-rate and slow-call rules are judged over: the last `calls` calls, or the calls of the last `duration`.',
  options: [
    { type: 'object', fields: { calls: int(1, 1_000_000, 'Window of the last N calls.') }, required: ['calls'] },
    {
      type: 'object',
      fields: {
        duration: duration(true, 'Window of the calls of the last period.'),
        buckets: int(1, 10_000, 'Slices the time window is kept in (default 10).'),
      },
      required: ['duration'],
    },
  ],
};

/** Circuit breaker settings (`@x/breaker`). */
export const BREAKER: ObjectNode = {
  type: 'object',
  id: 'breaker',
  doc: 'Circuit breaker (@x/breaker).',
  fields: {
    failure_threshold: int(1, 1_000_000, 'Open after this many failures in a row.'),
    failure_rate_threshold: ratio('Open when failures ÷ calls in the window reach this (0, 1].'),
    minimum_calls: int(1, 1_000_000, 'Calls the window needs before rate rules apply.'),
    window,
    slow_call_duration: duration(true, 'A call taking at least this long is slow.'),
    slow_call_rate_threshold: ratio('Open when slow calls ÷ calls in the window reach this (needs slow_call_duration).'),
    open_duration: duration(false, 'How long the circuit stays open before letting probes through.'),
    half_open_max: int(1, 1_000_000, 'Probe calls allowed at once while half-open.'),
    success_threshold: int(1, 1_000_000, 'Successful probes needed to close.'),
    probe_timeout: duration(true, 'A probe not settled after this long counts as a failure.'),
    max_concurrent: int(1, undefined, 'Running calls allowed through the breaker at once.'),
  },
};

/** Retry settings (`@x/retry`). */
export const RETRY: ObjectNode = {
  type: 'object',
  id: 'retry',
  doc: 'Retry with backoff (@x/retry). Give max_attempts (the first call included) or max_retries (retries after it), not both.',
  fields: {
    max_attempts: int(1, 1_000, 'Calls in total, the first one included (3 = one call and up to two retries).'),
    max_retries: int(0, 999, 'Retries after the first call (go-cachex and DWCP vocabulary): max_attempts = max_retries + 1.'),
    backoff: { type: 'enum', values: ['exponential', 'linear', 'constant'], doc: 'How waits grow (default exponential).' },
    initial_delay: duration(false, 'Wait before the first retry (constant backoff: every wait).'),
    max_delay: duration(false, 'Cap on a single wait.'),
    multiplier: { type: 'number', min: 1, max: 1_000, doc: 'Exponential growth per retry (default 2).' },
    jitter: {
      type: 'anyOf',
      doc: 'Randomness added to waits: true (= equal), false (= none), or none | full | equal | decorrelated.',
      options: [{ type: 'boolean' }, { type: 'enum', values: ['none', 'full', 'equal', 'decorrelated'] }],
    },
    max_elapsed: duration(true, 'Bound on the whole retried call; no wait goes past it.'),
    retry_on: {
      type: 'array',
      items: { type: 'string' },
      minItems: 1,
      doc: 'Retry only failures with one of these error codes or names (default: every failure but aborts and invalid options).',
    },
  },
};

/** Timeout settings (`@x/timeout`), per attempt. */
export const TIMEOUT_OBJECT: ObjectNode = {
  type: 'object',
  id: 'timeout',
  doc: 'Timeout of each attempt (@x/timeout).',
  fields: {
    duration: duration(true, 'Time each attempt may take.'),
    strategy: { type: 'enum', values: ['cooperative', 'aggressive'], doc: 'cooperative (default): abort the signal and wait; aggressive: reject at the deadline.' },
  },
  required: ['duration'],
};

/** A timeout: a duration, or an object with a strategy. */
export const TIMEOUT: SchemaNode = {
  type: 'anyOf',
  doc: 'Timeout of each attempt: a duration, or { duration, strategy }.',
  options: [duration(true, 'Time each attempt may take.'), TIMEOUT_OBJECT],
};

/** Bulkhead settings (`@x/bulkhead`). */
export const BULKHEAD: ObjectNode = {
  type: 'object',
  id: 'bulkhead',
  doc: 'Concurrency limit with a bounded queue (@x/bulkhead).',
  fields: {
    max_concurrent: int(1, undefined, 'Calls allowed to run at once.'),
    max_queue: int(0, undefined, 'Calls allowed to wait for a slot (default 0: reject at once).'),
    max_wait: duration(false, 'Longest wait in the queue (default: no limit but the caller’s deadline).'),
    order: { type: 'enum', values: ['fifo', 'lifo'], doc: 'Which waiter gets a freed slot (default fifo).' },
  },
};

/** Rate limiter settings (`@x/ratelimit`). */
export const RATE_LIMIT: ObjectNode = {
  type: 'object',
  id: 'rate_limit',
  doc: 'Rate limit (@x/ratelimit): limit per period, in memory or on Redis.',
  fields: {
    limit: int(1, 1_000_000_000, 'Calls admitted per period.'),
    period: duration(true, 'Length of the period (default 1s).'),
    burst: int(1, 1_000_000_000, 'Calls admitted at once (gcra and token_bucket; default: limit).'),
    algorithm: { type: 'enum', values: ['gcra', 'token_bucket', 'sliding_window', 'fixed_window'], doc: 'Default gcra.' },
    max_wait: duration(false, 'Longest wait for capacity before rejecting (default 0: reject at once).'),
    key: { type: 'string', doc: 'The key calls are counted under (default: the operation or limiter name).' },
    store: { type: 'enum', values: ['memory', 'redis'], doc: 'Where the state lives (redis needs a client passed to createResilience).' },
    on_store_error: { type: 'enum', values: ['open', 'closed', 'local'], doc: 'Redis only: what decisions do while Redis fails (default local).' },
  },
};

/** Error budget settings (`@x/health`). */
export const ERROR_BUDGET: ObjectNode = {
  type: 'object',
  id: 'error_budget',
  doc: 'SLO error budget (@x/health).',
  fields: {
    slo: { type: 'number', min: 0, max: 1, minExclusive: true, maxExclusive: true, doc: 'The SLO target, e.g. 0.999.' },
    window: duration(true, 'Length of the sliding window (default 30d).'),
    bucket: duration(true, 'Step in which old requests leave the window (default window / 100).'),
  },
  required: ['slo'],
};

const CHECK: ObjectNode = {
  type: 'object',
  doc: 'A health check. Its implementation is a function passed to createResilience under `checks`, or a built-in: `breaker` (healthy unless that breaker is open) or `error_budget` (healthy unless exhausted).',
  fields: {
    critical: { type: 'boolean', doc: 'Whether a failure makes the whole service unhealthy (default true).' },
    timeout: duration(true, 'This check’s timeout.'),
    failure_threshold: int(1, 1_000, 'Failed runs in a row before it turns unhealthy.'),
    success_threshold: int(1, 1_000, 'Passed runs in a row before it turns healthy again.'),
    min: { type: 'number', doc: 'Threshold check: lowest healthy value.' },
    max: { type: 'number', doc: 'Threshold check: highest healthy value.' },
    breaker: { type: 'string', doc: 'Built-in check: healthy unless this breaker (an entry of `breakers`, or an operation’s own breaker) is open.' },
    error_budget: ref('error_budgets'),
  },
};

/** Health monitor settings (`@x/health`). */
export const HEALTH: ObjectNode = {
  type: 'object',
  doc: 'Health monitor and its checks (@x/health).',
  fields: {
    interval: duration(true, 'Time between two runs of the checks (default 10s).'),
    timeout: duration(true, 'Default timeout of a check (default 5s).'),
    history_size: int(1, 10_000, 'Recent results kept per check for its success rate.'),
    failure_threshold: int(1, 1_000, 'Default failed runs in a row before a check turns unhealthy.'),
    success_threshold: int(1, 1_000, 'Default passed runs in a row before it turns healthy.'),
    unknown_is_healthy: { type: 'boolean', doc: 'Count a check that has not run yet as healthy.' },
    checks: { type: 'map', values: CHECK, doc: 'Checks by name.' },
  },
};

const BREAKER_GROUP: ObjectNode = {
  type: 'object',
  doc: 'A group of breakers created per key (per host, per tenant), picked by the `key` of each execute call.',
  fields: {
    defaults: BREAKER,
    max_keys: int(1, undefined, 'Most breakers kept; the least recently used is evicted beyond it.'),
    idle: duration(true, 'Forget a breaker unused for this long.'),
  },
};

const policyOrRef = (node: SchemaNode, kind: string): SchemaNode => ({
  type: 'anyOf',
  doc: `${node.doc ?? ''} Settings (merged over defaults), the name of a shared entry of \`${kind}\`, or false.`,
  options: [node, ref(kind), off],
});

/** One operation: the policies `execute(name, fn)` runs through. */
export const OPERATION: ObjectNode = {
  type: 'object',
  id: 'operation',
  doc: 'An operation: what `execute(name, fn)` runs `fn` through.',
  fields: {
    order: {
      type: 'array',
      items: { type: 'enum', values: LAYER_KINDS },
      unique: true,
      doc: 'Layers outermost first; a configured layer left out is not used. Default: fallback, rate_limit, bulkhead, breaker, retry, timeout.',
    },
    fallback: {
      type: 'anyOf',
      doc: 'true: use the fallback handler passed under this operation’s name; a string: the handler of that name.',
      options: [{ type: 'boolean' }, { type: 'string' }],
    },
    rate_limit: policyOrRef(RATE_LIMIT, 'rate_limiters'),
    bulkhead: policyOrRef(BULKHEAD, 'bulkheads'),
    breaker: policyOrRef(BREAKER, 'breakers'),
    breaker_group: ref('breaker_groups'),
    retry: policyOrRef(RETRY, 'retries'),
    timeout: {
      type: 'anyOf',
      doc: 'Timeout of each attempt: a duration, { duration, strategy }, the name of an entry of `timeouts`, or false.',
      options: [duration(true, 'Time each attempt may take.'), TIMEOUT_OBJECT, ref('timeouts'), off],
    },
    error_budget: ref('error_budgets'),
  },
};

const DEFAULTS: ObjectNode = {
  type: 'object',
  doc: 'Settings every operation and named instance starts from (merged over the preset).',
  fields: {
    rate_limit: { type: 'anyOf', options: [RATE_LIMIT, off] },
    bulkhead: { type: 'anyOf', options: [BULKHEAD, off] },
    breaker: { type: 'anyOf', options: [BREAKER, off] },
    retry: { type: 'anyOf', options: [RETRY, off] },
    timeout: { type: 'anyOf', options: [duration(true, 'Time each attempt may take.'), TIMEOUT_OBJECT, off] },
  },
};

/** go-cachex's `cache:` section (seed 000), with its own key names. */
export const CACHE_SECTION: ObjectNode = {
  type: 'object',
  doc: 'go-cachex `cache:` section. Its circuit_breaker, retry and timeout build the operation `cache`; the rest is for @x/cache (reported as not applied yet).',
  fields: {
    circuit_breaker: {
      type: 'object',
      fields: {
        threshold: int(1, 1_000_000, 'Failures before opening (failure_threshold).'),
        timeout: duration(false, 'Time open before half-open (open_duration).'),
        half_open_max: int(1, 1_000_000, 'Probe calls while half-open.'),
      },
    },
    retry: {
      type: 'object',
      fields: {
        max_retries: int(0, 999, 'Retries after the first call.'),
        initial_delay: duration(false, 'First wait.'),
        max_delay: duration(false, 'Cap on a wait.'),
        multiplier: { type: 'number', min: 1, max: 1_000 },
        jitter: { type: 'boolean' },
      },
    },
    timeout: duration(true, 'Timeout of each cache call.'),
    enable_dead_letter_queue: { type: 'boolean' },
    enable_bloom_filter: { type: 'boolean' },
  },
};

const PUBSUB_SECTION: ObjectNode = {
  type: 'object',
  doc: 'go-cachex pub/sub invalidation (for @x/cache; validated, not applied yet).',
  fields: {
    enabled: { type: 'boolean' },
    invalidation_channel: { type: 'string' },
    health_channel: { type: 'string' },
    max_subscribers: int(1),
    message_timeout: duration(true, 'Time to deliver one message.'),
  },
};

const DLQ_SECTION: ObjectNode = {
  type: 'object',
  doc: 'Dead-letter queue for failed write-behind operations (for @x/dlq; validated, not applied yet).',
  fields: {
    enabled: { type: 'boolean' },
    queue_size: int(1),
    workers: int(1, 1_000),
    max_attempts: int(1, 1_000),
    initial_delay: duration(false, 'First redelivery wait.'),
    max_delay: duration(false, 'Cap on a redelivery wait.'),
  },
};

const BLOOM_SECTION: ObjectNode = {
  type: 'object',
  doc: 'Bloom filter in front of the backing store (for @x/bloom; validated, not applied yet).',
  fields: {
    enabled: { type: 'boolean' },
    expected_items: int(1),
    false_positive_rate: { type: 'number', min: 0, max: 1, minExclusive: true, maxExclusive: true },
  },
};

/** The preset names (`preset:`). `none` starts operations from nothing. */
export const PRESET_NAMES = ['default', 'aggressive', 'conservative', 'none'] as const;

/**
 * The whole config file: the single definition the validator and the JSON Schema are built from.
 *
 * @example
 * ```ts
 * Object.keys(RESILIENCE_CONFIG.fields); // ['$schema', 'version', 'preset', 'defaults', ...]
 * ```
 */
export const RESILIENCE_CONFIG: ObjectNode = {
  type: 'object',
  doc: '@x/resilience configuration (resilience.yaml).',
  fields: {
    $schema: { type: 'string', doc: 'Path or URL of this JSON Schema, for editors.' },
    version: { type: 'enum', values: [1], doc: 'Format version (1).' },
    preset: { type: 'enum', values: PRESET_NAMES, doc: 'Baseline breaker, retry and timeout of every operation (default: default).' },
    defaults: DEFAULTS,
    breakers: { type: 'map', values: BREAKER, doc: 'Named circuit breakers, shared by the operations that name them.' },
    breaker_groups: { type: 'map', values: BREAKER_GROUP, doc: 'Named groups of per-key breakers.' },
    retries: { type: 'map', values: RETRY, doc: 'Named retry policies.' },
    timeouts: { type: 'map', values: TIMEOUT, doc: 'Named timeouts.' },
    bulkheads: { type: 'map', values: BULKHEAD, doc: 'Named bulkheads.' },
    rate_limiters: { type: 'map', values: RATE_LIMIT, doc: 'Named rate limiters.' },
    error_budgets: { type: 'map', values: ERROR_BUDGET, doc: 'Named SLO error budgets.' },
    health: HEALTH,
    operations: { type: 'map', values: OPERATION, doc: 'Operations by name: execute(name, fn) runs fn through their policies.' },
    cache: CACHE_SECTION,
    pubsub: PUBSUB_SECTION,
    dlq: DLQ_SECTION,
    bloom: BLOOM_SECTION,
  },
};

/** The JSON Schema draft the generated schema declares. */
const DRAFT = 'https://json-schema.org/draft/2020-12/schema';

/**
 * The JSON Schema of `resilience.yaml` / `resilience.json`, generated from
 * {@link RESILIENCE_CONFIG}. The package also ships it as `resilience.schema.json`; point an
 * editor at it (`# yaml-language-server: $schema=...`) for completion and checks. It checks the
 * structure; references between entries (an operation naming a breaker) and rules across fields
 * (`max_attempts` with `max_retries`) are checked by the validator only.
 *
 * @example
 * ```ts
 * writeFileSync('resilience.schema.json', JSON.stringify(resilienceJsonSchema(), null, 2));
 * ```
 */
export function resilienceJsonSchema(): Record<string, unknown> {
  const defs: Record<string, unknown> = {};
  const root = toJsonSchema(RESILIENCE_CONFIG, defs);
  return {
    $schema: DRAFT,
    $id: 'https://x.dev/schemas/resilience.schema.json',
    title: '@x/resilience configuration',
    ...root,
    $defs: Object.fromEntries(Object.entries(defs).sort(([a], [b]) => a.localeCompare(b))),
  };
}

/**
 * The JSON Schema of one node.
 *
 * @example
 * ```ts
 * toJsonSchema(BULKHEAD).properties; // { max_concurrent: {...}, ... }
 * ```
 */
export function toJsonSchema(node: SchemaNode, defs?: Record<string, unknown>): Record<string, unknown> {
  if (defs !== undefined && node.type === 'object' && node.id !== undefined) {
    if (!Object.prototype.hasOwnProperty.call(defs, node.id)) {
      defs[node.id] = {}; // reserved first: a definition that refers to itself stops here
      const { id: _id, ...inline } = node;
      defs[node.id] = toJsonSchema(inline, defs);
    }
    return { $ref: `#/$defs/${node.id}` };
  }
  const doc = node.doc === undefined ? {} : { description: node.doc };
  const sub = (child: SchemaNode) => toJsonSchema(child, defs);
  switch (node.type) {
    case 'object': {
      const properties: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node.fields)) properties[key] = sub(child);
      return {
        ...doc,
        type: 'object',
        properties,
        additionalProperties: false,
        ...(node.required !== undefined && node.required.length > 0 && { required: [...node.required] }),
      };
    }
    case 'map':
      return { ...doc, type: 'object', propertyNames: { minLength: 1 }, additionalProperties: sub(node.values) };
    case 'integer':
      return { ...doc, type: 'integer', ...(node.min !== undefined && { minimum: node.min }), ...(node.max !== undefined && { maximum: node.max }) };
    case 'number':
      return {
        ...doc,
        type: 'number',
        ...(node.min !== undefined && (node.minExclusive ? { exclusiveMinimum: node.min } : { minimum: node.min })),
        ...(node.max !== undefined && (node.maxExclusive ? { exclusiveMaximum: node.max } : { maximum: node.max })),
      };
    case 'duration':
      return {
        ...doc,
        anyOf: [
          { type: 'integer', ...(node.positive ? { exclusiveMinimum: 0 } : { minimum: 0 }), description: 'Milliseconds.' },
          { type: 'string', pattern: node.positive ? POSITIVE_DURATION_PATTERN : DURATION_PATTERN, description: "A duration such as '250ms', '30s', '1m', '1h30m'." },
        ],
      };
    case 'boolean':
      return { ...doc, type: 'boolean' };
    case 'enum':
      return { ...doc, enum: [...node.values] };
    case 'string':
      return { ...doc, type: 'string', minLength: 1 };
    case 'array':
      return {
        ...doc,
        type: 'array',
        items: sub(node.items),
        ...(node.unique && { uniqueItems: true }),
        ...(node.minItems !== undefined && { minItems: node.minItems }),
      };
    case 'anyOf':
      return { ...doc, anyOf: node.options.map(sub) };
  }
}
