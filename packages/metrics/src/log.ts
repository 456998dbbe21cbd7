// `@x/metrics/log`: the shared events as structured log records. No prom-client, no node: module:
// a service that only wants logs installs @x/metrics without prom-client and imports this subpath.
import { checkEvents, checkOneOf, readOptions, InvalidOptionsError } from '@x/core';
import type { EventBus, XEvent } from '@x/core';

/** Log levels, least to most severe. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const RANK: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * A pino-, winston-, bunyan- or console-shaped logger: one method per level. pino and bunyan take
 * `(fields, message)`; winston and `console` take `(message, fields)`; see
 * {@link LogEventsOptions.style}.
 */
export type LoggerLike = { readonly [L in LogLevel]?: (...args: unknown[]) => unknown };

/** Options of {@link logEvents}. */
export interface LogEventsOptions {
  /** Least severe level written. Default `'info'`: state changes, give-ups, degradations, listener errors; per-call rejections are `debug`. */
  readonly level?: LogLevel;
  /**
   * Argument order. `'fields-first'`: `logger.warn(fields, message)` (pino, bunyan).
   * `'message-first'`: `logger.warn(message, fields)` (winston, console). Default: fields-first
   * when the logger has pino's `bindings()` or bunyan's `fields`, else message-first.
   */
  readonly style?: 'fields-first' | 'message-first';
  /** Per-type levels replacing the defaults, e.g. `{ 'breaker.rejected': 'info' }`. */
  readonly levels?: Readonly<Record<string, LogLevel>>;
}

/** One structured record: what every logger receives as fields. */
export interface LogRecord {
  /** The event type, e.g. `'breaker.state_change'`. */
  readonly event: string;
  /** The package, e.g. `'breaker'`. */
  readonly source: string;
  /** The instance name. */
  readonly name: string;
  readonly [field: string]: unknown;
}

type Rule = { readonly level: LogLevel | ((e: Fields) => LogLevel); readonly most: LogLevel; readonly message: (e: Fields) => string };
type Fields = Readonly<Record<string, unknown>>;

const s = (v: unknown): string => (typeof v === 'string' ? v : String(v));
const storeRules = (source: string): Record<string, Rule> => ({
  [`${source}.store_degraded`]: {
    level: 'warn',
    most: 'warn',
    message: (e) => `${source} store ${s(e['name'])} degraded after ${s(e['consecutiveFailures'])} failures: working without it (${s(e['mode'])})`,
  },
  [`${source}.store_recovered`]: { level: 'info', most: 'info', message: (e) => `${source} store ${s(e['name'])} recovered` },
});

/** The events written, the level of each, and its message. */
const RULES: Readonly<Record<string, Rule>> = {
  'breaker.state_change': {
    level: (e) => (e['to'] === 'open' || e['to'] === 'isolated' ? 'warn' : 'info'),
    most: 'warn',
    message: (e) => `breaker ${s(e['name'])}: ${s(e['from'])} → ${s(e['to'])} (${s(e['reason'])})`,
  },
  'breaker.rejected': { level: 'debug', most: 'debug', message: (e) => `breaker ${s(e['name'])} rejected a call (${s(e['reason'])})` },
  'bulkhead.rejected': { level: 'debug', most: 'debug', message: (e) => `bulkhead ${s(e['name'])} rejected a call (${s(e['reason'])})` },
  'ratelimit.rejected': { level: 'debug', most: 'debug', message: (e) => `rate limiter ${s(e['name'])} rejected a request (${s(e['reason'])})` },
  'timeout.timed_out': { level: 'debug', most: 'debug', message: (e) => `timeout ${s(e['name'])}: a call timed out` },
  'retry.gave_up': { level: 'warn', most: 'warn', message: (e) => `retry ${s(e['name'])} gave up (${s(e['reason'])})` },
  'retry.budget_exhausted': { level: 'warn', most: 'warn', message: (e) => `retry ${s(e['name'])}: retry budget exhausted` },
  ...storeRules('ratelimit'),
  ...storeRules('lock'),
  ...storeRules('dlq'),
  ...storeRules('bloom'),
  ...storeRules('cache'),
  'lock.lost': { level: 'warn', most: 'warn', message: (e) => `lock ${s(e['name'])} lost a lease (${s(e['reason'])})` },
  'dlq.dead': { level: 'warn', most: 'warn', message: (e) => `dead-letter queue ${s(e['name'])}: an item is dead after its last attempt` },
  'health.status_change': {
    level: (e) => (e['to'] === 'unhealthy' ? (e['critical'] === false ? 'warn' : 'error') : 'info'),
    most: 'error',
    message: (e) => `health check ${s(e['name'])}/${s(e['check'])}: ${s(e['from'])} → ${s(e['to'])}`,
  },
  'health.error_budget_exhausted': { level: 'warn', most: 'warn', message: (e) => `error budget ${s(e['name'])} exhausted` },
  'health.error_budget_recovered': { level: 'info', most: 'info', message: (e) => `error budget ${s(e['name'])} has budget left again` },
  'health.burn_rate_alert': {
    level: (e) => (e['firing'] === true ? (e['severity'] === 'page' ? 'error' : 'warn') : 'info'),
    most: 'error',
    message: (e) => `error budget ${s(e['name'])}: ${s(e['severity'])} burn-rate alert ${e['firing'] === true ? 'firing' : 'resolved'}`,
  },
  'core.listener_error': { level: 'error', most: 'error', message: (e) => `an event listener for ${s(e['eventType'])} threw` },
};

/**
 * Event types {@link logEvents} writes (at some level).
 *
 * @example
 * ```ts
 * LOGGED_EVENTS.includes('breaker.state_change'); // true
 * ```
 */
export const LOGGED_EVENTS: readonly string[] = Object.keys(RULES);

/**
 * Turns an event into fields a JSON logger writes well: the type as `event`, `source`, `name`,
 * the payload's plain values, and errors as `{ name, message, code }` (pino's `err` key when
 * fields come first). Functions, instances and the event's own `time` are left out (the logger
 * stamps its own time).
 */
function fields(event: Fields, errorKey: string): LogRecord {
  const out: Record<string, unknown> = { event: event['type'], source: event['source'], name: event['name'] };
  for (const key of Object.keys(event)) {
    if (key === 'type' || key === 'source' || key === 'name' || key === 'time') continue;
    const value = event[key];
    if (value instanceof Error) out[key === 'error' ? errorKey : key] = errorFields(value);
    else if (key === 'error' && value !== undefined) out[errorKey] = { message: String(value) };
    else if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) out[key] = value;
  }
  return out as LogRecord;
}

function errorFields(error: Error): Record<string, unknown> {
  const code = (error as { code?: unknown }).code;
  return { name: error.name, message: error.message, ...(typeof code === 'string' && { code }) };
}

/**
 * Writes the events that matter in operations to your logger as structured records: breaker state
 * changes (open at `warn`), retries given up, store degradation and recovery (rate limiter, lock,
 * DLQ, bloom, cache), leases lost, dead letters, health and error-budget changes, and event
 * listeners that threw (`error`); per-call rejections and timeouts at `debug`. It subscribes only
 * to the types its `level` lets through, so at `info` a rejected call costs nothing extra. A
 * logger that throws never reaches the code that emitted the event (the bus reports it). Returns
 * the function that unsubscribes.
 *
 * @example
 * ```ts
 * import pino from 'pino';
 * import { logEvents } from '@x/metrics/log';
 *
 * const stop = logEvents(defaultEventBus(), pino(), { level: 'info' });
 * // {"level":40,"event":"breaker.state_change","source":"breaker","name":"pricing","from":"closed","to":"open",…,"msg":"breaker pricing: closed → open (failure_rate)"}
 * logEvents(bus, console, { level: 'warn' }); // console.warn(message, fields)
 * ```
 */
export function logEvents(bus: EventBus, logger: LoggerLike, options: LogEventsOptions = {}): () => void {
  const o = readOptions('logEvents', options, ['level', 'style', 'levels']);
  const events = checkEvents('logEvents', bus, 'bus');
  if (typeof logger !== 'object' && typeof logger !== 'function') throw new InvalidOptionsError('logEvents', 'logger', logger, 'a logger with debug/info/warn/error methods');
  if (logger === null || LEVELS.every((level) => typeof logger[level] !== 'function')) {
    throw new InvalidOptionsError('logEvents', 'logger', logger, 'a logger with debug/info/warn/error methods');
  }
  const min = RANK[checkOneOf('logEvents', 'level', o.level ?? 'info', LEVELS)];
  const looksLikePino = typeof (logger as { bindings?: unknown }).bindings === 'function' || typeof (logger as { fields?: unknown }).fields === 'object';
  const style = checkOneOf('logEvents', 'style', o.style ?? (looksLikePino ? 'fields-first' : 'message-first'), ['fields-first', 'message-first'] as const);
  const overrides: Record<string, LogLevel> = {};
  if (o.levels !== undefined) {
    if (typeof o.levels !== 'object' || o.levels === null) throw new InvalidOptionsError('logEvents', 'levels', o.levels, 'an object of event type → level');
    for (const [type, level] of Object.entries(o.levels)) overrides[type] = checkOneOf('logEvents', `levels.${type}`, level, LEVELS);
  }
  const errorKey = style === 'fields-first' ? 'err' : 'error';

  const offs: Array<() => void> = [];
  const types = new Set([...Object.keys(RULES), ...Object.keys(overrides)]);
  for (const type of types) {
    const rule = RULES[type];
    const fixed = overrides[type];
    const most = fixed ?? rule?.most ?? 'info';
    if (RANK[most] < min) continue; // never written at this level: not even subscribed
    const listener = (event: XEvent): void => {
      const e = event as unknown as Fields;
      const level = fixed ?? (rule === undefined ? 'info' : typeof rule.level === 'function' ? rule.level(e) : rule.level);
      if (RANK[level] < min) return;
      // A logger without this level (console has them all; some have no debug) falls back upwards.
      const write = logger[level] ?? LEVELS.slice(RANK[level]).map((l) => logger[l]).find((f) => typeof f === 'function');
      if (write === undefined) return;
      const message = rule?.message(e) ?? `${s(e['type'])} ${s(e['name'])}`;
      const record = fields(e, errorKey);
      if (style === 'fields-first') write.call(logger, record, message);
      else write.call(logger, message, record);
    };
    offs.push((events.on as (type: string, l: (e: XEvent) => void) => () => void)(type, listener));
  }
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    for (const off of offs.splice(0)) off();
  };
}
