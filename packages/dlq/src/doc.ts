import { DeadLetterInvalidItemError } from './errors.js';
import type { FailureInfo, RecordDoc } from './types.js';

const MAX_STACK = 8_192;
const MAX_MESSAGE = 4_096;

/** Reads a property that may be a throwing getter. */
function read(value: object, key: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

function cap(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function stringOf(value: unknown): string {
  try {
    return String(value);
  } catch {
    return 'unprintable value';
  }
}

/**
 * The failure metadata of `error`, robust against anything thrown (strings, null, objects whose
 * getters throw). `previous` keeps the first failure time across attempts.
 */
export function failureInfo(error: unknown, source: string, now: number, previous?: FailureInfo): FailureInfo {
  let name: string;
  let code: string | undefined;
  let message: string;
  let stack: string | undefined;
  if (typeof error === 'object' && error !== null) {
    const n = read(error, 'name');
    const c = read(error, 'code');
    const m = read(error, 'message');
    const s = read(error, 'stack');
    name = typeof n === 'string' ? n : 'Object';
    code = typeof c === 'string' || typeof c === 'number' ? String(c) : undefined;
    message = typeof m === 'string' ? m : stringOf(error);
    stack = typeof s === 'string' ? cap(s, MAX_STACK) : undefined;
  } else {
    name = typeof error;
    code = undefined;
    message = stringOf(error);
    stack = undefined;
  }
  return {
    name: cap(name, 256),
    code: code === undefined ? undefined : cap(code, 256),
    message: cap(message, MAX_MESSAGE),
    stack,
    source,
    firstFailedAt: previous?.firstFailedAt ?? now,
    lastFailedAt: now,
  };
}

/** JSON text of `value`, or `DLQ_INVALID_ITEM` saying why it has none. */
export function toJson(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new DeadLetterInvalidItemError(`${what} cannot be serialized as JSON: ${stringOf((error as Error)?.message ?? error)}`, error);
  }
  if (text === undefined) throw new DeadLetterInvalidItemError(`${what} cannot be serialized as JSON (it is ${typeof value})`);
  return text;
}

/** Serializes a record's content; the item's own problems are reported as such. */
export function encodeDoc(doc: RecordDoc): string {
  const item = toJson(doc.item, 'the item');
  const meta = doc.meta === undefined ? undefined : toJson(doc.meta, 'meta');
  // Built by hand so the item's JSON is produced (and checked) once.
  const rest = JSON.stringify({ ...doc, item: undefined, meta: undefined });
  return `{"item":${item}${meta === undefined ? '' : `,"meta":${meta}`},${rest.slice(1)}`;
}

const jsonNumber = (n: number): string => (Number.isFinite(n) ? String(n) : 'null');

/**
 * The doc of a new record, written straight to JSON text (the add path: no intermediate object,
 * no spread). Parses to what {@link encodeDoc} gives for the same record.
 */
export function encodeNewDoc(item: unknown, key: string | undefined, idempotencyKey: string | undefined, meta: Record<string, unknown> | undefined, failure: FailureInfo, now: number): string {
  let text = `{"item":${toJson(item, 'the item')}`;
  if (meta !== undefined) text += `,"meta":${toJson(meta, 'meta')}`;
  if (key !== undefined) text += `,"key":${JSON.stringify(key)}`;
  if (idempotencyKey !== undefined) text += `,"idempotencyKey":${JSON.stringify(idempotencyKey)}`;
  const at = jsonNumber(now);
  return `${text},"failure":${JSON.stringify(failure)},"attempts":0,"addedAt":${at},"revived":0}`;
}

/** Parses a stored doc; a corrupt one (edited by hand in Redis) yields a placeholder, never a throw. */
export function decodeDoc(text: string): RecordDoc {
  try {
    const doc = JSON.parse(text) as RecordDoc;
    if (typeof doc === 'object' && doc !== null && typeof doc.failure === 'object') return doc;
  } catch {
    // fall through
  }
  return {
    item: text,
    failure: { name: 'Error', code: 'DLQ_CORRUPT_RECORD', message: 'the stored record is not valid JSON', stack: undefined, source: 'store', firstFailedAt: 0, lastFailedAt: 0 },
    attempts: 0,
    addedAt: 0,
    revived: 0,
  };
}
