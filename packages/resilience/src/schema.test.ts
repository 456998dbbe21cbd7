import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { checkStructure, resilienceJsonSchema, RESILIENCE_CONFIG, validateResilienceConfig } from './index.js';
import { OPERATION, RETRY } from './schema.js';
import { arbitraryFrom, jsonSchemaAccepts } from './test-schema-arbitrary.js';

const schema = resilienceJsonSchema();
const accepts = (value: unknown) => jsonSchemaAccepts(schema, schema, value);
const fixture = (name: string) => parse(readFileSync(new URL(`./test-fixtures/${name}`, import.meta.url), 'utf8')) as unknown;

describe('the JSON Schema', () => {
  it('the shipped resilience.schema.json is the one generated from the definitions', () => {
    const shipped = JSON.parse(readFileSync(new URL('../resilience.schema.json', import.meta.url), 'utf8')) as unknown;
    expect(shipped).toEqual(schema);
  });

  it('describes every key of the definitions (a key the validator knows is in the schema)', () => {
    const properties = schema.properties as Record<string, unknown>;
    expect(Object.keys(properties)).toEqual(Object.keys(RESILIENCE_CONFIG.fields));
    const defs = schema.$defs as Record<string, { properties: Record<string, unknown> }>;
    expect(Object.keys(defs.retry?.properties ?? {})).toEqual(Object.keys(RETRY.fields));
    expect(Object.keys(defs.operation?.properties ?? {})).toEqual(Object.keys(OPERATION.fields));
  });

  it("accepts the seeds' files and the example config", () => {
    for (const name of ['go-cachex-production.yaml', 'go-cachex-development.yaml', 'dwcp.yaml']) {
      const config = fixture(name);
      expect(accepts(config), name).toBe(true);
      expect(checkStructure(config), name).toEqual([]);
    }
  });

  it('agrees with the validator on hand-picked invalid samples', () => {
    const samples: unknown[] = [
      { operations: { api: { retry: { max_attempts: 0 } } } },
      { operations: { api: { retyr: {} } } },
      { preset: 'fast' },
      { breakers: { db: { open_duration: '30 s' } } },
      { breakers: { db: { open_duration: -1 } } },
      { breakers: { db: { probe_timeout: '0ms' } } },
      { timeouts: { t: 1.5 } },
      { rate_limiters: { r: { limit: 10, algorithm: 'leaky' } } },
      { operations: { api: { order: ['retry', 'retry'] } } },
      { error_budgets: { e: { window: '1d' } } },
      { health: { checks: { '': {} } } },
      [],
      'resilience',
    ];
    for (const sample of samples) {
      expect(accepts(sample), JSON.stringify(sample)).toBe(false);
      expect(checkStructure(sample).length, JSON.stringify(sample)).toBeGreaterThan(0);
    }
  });

  it('agrees with the validator on generated samples, valid and invalid (fast-check)', () => {
    let valid = 0;
    let invalid = 0;
    fc.assert(
      fc.property(fc.oneof(arbitraryFrom(RESILIENCE_CONFIG, 400), arbitraryFrom(RESILIENCE_CONFIG, 12)), (sample) => {
        const structural = checkStructure(sample);
        const bySchema = accepts(sample);
        expect(structural.length === 0, JSON.stringify({ sample, structural })).toBe(bySchema);
        if (bySchema) valid++;
        else invalid++;
        // The full validation finds at least what the structure check finds.
        expect(validateResilienceConfig(sample).length).toBeGreaterThanOrEqual(structural.length);
      }),
      { numRuns: 600 },
    );
    // Both kinds were actually exercised.
    expect(valid).toBeGreaterThan(30);
    expect(invalid).toBeGreaterThan(30);
  });

  it('agrees on generated operations and retries alone (deeper coverage of their fields)', () => {
    for (const node of [OPERATION, RETRY]) {
      fc.assert(
        fc.property(arbitraryFrom(node, 4), (sample) => {
          expect(checkStructure(sample, node).length === 0).toBe(jsonSchemaAccepts(schema, { $ref: `#/$defs/${node.id}` }, sample));
        }),
        { numRuns: 400 },
      );
    }
  });
});
