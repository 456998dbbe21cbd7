// Writes resilience.schema.json from the config definitions (src/schema.ts), the same ones the
// validator walks. Run after changing them: `pnpm --filter @x/resilience schema`. A test fails
// when the shipped file and the definitions differ.
import { writeFileSync } from 'node:fs';
import { resilienceJsonSchema } from '../src/schema.js';

const target = new URL('../resilience.schema.json', import.meta.url);
writeFileSync(target, `${JSON.stringify(resilienceJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target.pathname}`);
