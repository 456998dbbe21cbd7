// Test helpers: a fast-check arbitrary that generates configs from the definitions (mostly
// well-formed, with wrong values mixed in), and an independent JSON Schema evaluator for the
// keywords the generated schema uses.
import fc from 'fast-check';
import type { SchemaNode } from './schema.js';

const NAMES = ['api', 'db', 'network-ops', 'x'];
const ABSENT = Symbol('absent');
const GOOD_DURATIONS = ['250ms', '30s', '1m', '1h30m', '2d'];
const DURATION_STRINGS = ['0s', '0.0ms', '250ms', '30s', '1m', '1h30m', '1.5s', '2d', '0.5ms', '5 s', 'abc', '10x', '', '-1s'];

const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: -3, max: 3 }),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -10, max: 10 }),
  fc.constantFrom('', 'abc', '5s', 'true'),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.dictionary(fc.constantFrom('a', 'b'), fc.integer(), { maxKeys: 2 }),
);

/** Misspellings of a key (a letter dropped, two swapped, upper case). */
function misspell(key: string): fc.Arbitrary<string> {
  return fc.constantFrom(key.slice(1), `${key}s`, key.toUpperCase(), key.length > 3 ? `${key.slice(0, 2)}${key[3]}${key[2]}${key.slice(4)}` : `${key}_`);
}

/**
 * Configs (or parts) shaped by `node`: a field is present or not, values are mostly of the right
 * kind and sometimes out of range, unknown keys or junk appear about one time in `badOneIn`.
 */
export function arbitraryFrom(node: SchemaNode, badOneIn = 12): fc.Arbitrary<unknown> {
  const bad = (good: fc.Arbitrary<unknown>) => fc.oneof({ arbitrary: good, weight: badOneIn }, { arbitrary: junk, weight: 1 });
  switch (node.type) {
    case 'object': {
      const fields: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, child] of Object.entries(node.fields)) fields[key] = arbitraryFrom(child, badOneIn);
      const keys = Object.keys(node.fields);
      // Each field is there about one time in three: whole configs stay small and mostly coherent.
      const sparse: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, arb] of Object.entries(fields)) sparse[key] = fc.oneof({ arbitrary: fc.constant(ABSENT), weight: 2 }, { arbitrary: arb, weight: 1 });
      const present = fc.record(sparse).map((value) => {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value)) if (v !== ABSENT) out[k] = v;
        return out;
      });
      const record = present.chain((value) => {
        // Required keys are there most of the time.
        const required = (node.required ?? []).filter((k) => !(k in value));
        if (required.length === 0) return fc.constant(value as Record<string, unknown>);
        return fc.tuple(...required.map((k) => fc.oneof({ arbitrary: arbitraryFrom(node.fields[k] as SchemaNode, badOneIn), weight: 6 }, { arbitrary: fc.constant(undefined), weight: 1 }))).map((vals) => {
          const out: Record<string, unknown> = { ...value };
          required.forEach((k, i) => {
            if (vals[i] !== undefined) out[k] = vals[i];
          });
          return out;
        });
      });
      const withUnknown =
        keys.length === 0
          ? record
          : fc.tuple(record, fc.constantFrom(...keys).chain(misspell), arbitraryFrom(Object.values(node.fields)[0] as SchemaNode, badOneIn)).map(([value, key, v]) =>
              key in node.fields ? value : { ...value, [key]: v },
            );
      return bad(fc.oneof({ arbitrary: record, weight: badOneIn }, { arbitrary: withUnknown, weight: 1 }));
    }
    case 'map':
      return bad(fc.dictionary(fc.oneof({ arbitrary: fc.constantFrom(...NAMES), weight: badOneIn * 4 }, { arbitrary: fc.constant(''), weight: 1 }), arbitraryFrom(node.values, badOneIn), { maxKeys: 3 }));
    case 'integer': {
      const min = node.min ?? -5;
      const max = node.max ?? min + 1_000;
      return bad(fc.oneof({ arbitrary: fc.integer({ min, max: Math.min(max, min + 1_000) }), weight: badOneIn }, { arbitrary: fc.constantFrom(min - 1, max + 1, min + 0.5), weight: 1 }));
    }
    case 'number': {
      const min = node.min ?? -100;
      const max = node.max ?? min + 1_000;
      return bad(fc.oneof({ arbitrary: fc.double({ min, max, noNaN: true }), weight: badOneIn }, { arbitrary: fc.constantFrom(min, max, min - 0.1, max + 0.1), weight: 2 }));
    }
    case 'duration':
      return bad(
        fc.oneof(
          { arbitrary: fc.integer({ min: 0, max: 100_000 }), weight: badOneIn },
          { arbitrary: fc.constantFrom(...GOOD_DURATIONS), weight: badOneIn },
          { arbitrary: fc.constantFrom(...DURATION_STRINGS, -1, 1.5), weight: 2 },
        ),
      );
    case 'boolean':
      return bad(fc.boolean());
    case 'enum':
      return bad(fc.constantFrom(...node.values));
    case 'string':
      return bad(fc.oneof({ arbitrary: fc.constantFrom(...NAMES), weight: badOneIn }, { arbitrary: fc.constant(''), weight: 1 }));
    case 'array':
      return bad(
        fc.oneof(
          { arbitrary: (node.unique ? fc.uniqueArray : fc.array)(arbitraryFrom(node.items, badOneIn), { minLength: node.minItems ?? 0, maxLength: 4 }), weight: badOneIn },
          { arbitrary: fc.array(arbitraryFrom(node.items, badOneIn), { maxLength: 4 }), weight: 1 },
        ),
      );
    case 'anyOf':
      return fc.oneof(...node.options.map((o) => arbitraryFrom(o, badOneIn)));
  }
}

type Json = Record<string, unknown>;

/** Deep equality of JSON values. */
function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => equal((a as Json)[k], (b as Json)[k]));
}

/**
 * Whether `value` satisfies `schema` (JSON Schema 2020-12 semantics, for the keywords the
 * generated schema uses: $ref to $defs, type, properties, additionalProperties, required,
 * propertyNames, anyOf, enum, minimum/maximum and their exclusive forms, pattern, minLength,
 * items, minItems, uniqueItems). Written from the specification, not from the validator.
 */
export function jsonSchemaAccepts(root: Json, schema: Json, value: unknown): boolean {
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.replace('#/$defs/', '');
    return jsonSchemaAccepts(root, (root.$defs as Json)[name] as Json, value);
  }
  if (schema.anyOf !== undefined && !(schema.anyOf as Json[]).some((s) => jsonSchemaAccepts(root, s, value))) return false;
  if (schema.enum !== undefined && !(schema.enum as unknown[]).some((e) => equal(e, value))) return false;
  const type = schema.type as string | undefined;
  if (type !== undefined) {
    const isNumber = typeof value === 'number' && Number.isFinite(value);
    const ok =
      type === 'object'
        ? typeof value === 'object' && value !== null && !Array.isArray(value)
        : type === 'array'
          ? Array.isArray(value)
          : type === 'integer'
            ? isNumber && Number.isInteger(value)
            : type === 'number'
              ? isNumber
              : type === 'string'
                ? typeof value === 'string'
                : type === 'boolean'
                  ? typeof value === 'boolean'
                  : false;
    if (!ok) return false;
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) return false;
    if (typeof schema.maximum === 'number' && value > schema.maximum) return false;
    if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum) return false;
    if (typeof schema.exclusiveMaximum === 'number' && value >= schema.exclusiveMaximum) return false;
  }
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && [...value].length < schema.minLength) return false;
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) return false;
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) return false;
    if (schema.items !== undefined && !value.every((v) => jsonSchemaAccepts(root, schema.items as Json, v))) return false;
    if (schema.uniqueItems === true && value.some((v, i) => value.findIndex((w) => equal(v, w)) !== i)) return false;
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const o = value as Json;
    const properties = (schema.properties as Json | undefined) ?? {};
    for (const key of (schema.required as string[] | undefined) ?? []) if (!(key in o)) return false;
    for (const [key, v] of Object.entries(o)) {
      if (schema.propertyNames !== undefined && !jsonSchemaAccepts(root, schema.propertyNames as Json, key)) return false;
      if (Object.prototype.hasOwnProperty.call(properties, key)) {
        if (!jsonSchemaAccepts(root, properties[key] as Json, v)) return false;
      } else if (schema.additionalProperties === false) return false;
      else if (typeof schema.additionalProperties === 'object' && !jsonSchemaAccepts(root, schema.additionalProperties as Json, v)) return false;
    }
  }
  return true;
}
