#!/usr/bin/env node
// After `vitepress build`: the local search index must cover the generated package pages (their
// route is dynamic, which VitePress's indexer alone skips). Fails the build when a package page
// is missing from the index, or when a word only a package README holds ("GCRA", from
// @x/ratelimit) finds nothing.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const chunks = fileURLToPath(new URL('./dist/assets/chunks/', import.meta.url));
const file = readdirSync(chunks).find((name) => name.startsWith('@localSearchIndexroot'));
if (file === undefined) {
  console.error('check-search: no local search index in the build');
  process.exit(1);
}
const index = readFileSync(join(chunks, file), 'utf8');
const packages = readdirSync(fileURLToPath(new URL('../../packages/', import.meta.url)));
const missing = packages.filter((name) => !index.includes(`/packages/${name}`));
const problems = [];
if (missing.length > 0) problems.push(`package pages missing from the search index: ${missing.join(', ')}`);
if (!/\bgcra\b/i.test(index)) problems.push('"GCRA" (in the @x/ratelimit README) is not in the search index');
if (problems.length > 0) {
  console.error(`check-search: ${problems.join('; ')}`);
  process.exit(1);
}
console.log(`check-search: ${packages.length} package pages indexed`);
