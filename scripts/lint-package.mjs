#!/usr/bin/env node
// Checks one package (the current directory) against the monorepo conventions (BRIEF §2, §5).
// Run as the package's `lint` script; exits non-zero with one line per problem.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.cwd();
const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
const problems = [];
const problem = (text) => problems.push(`${pkg.name}: ${text}`);

// Manifest shape.
if (pkg.type !== 'module') problem('"type" must be "module"');
if (pkg.sideEffects !== false) problem('"sideEffects" must be false');
if (!Array.isArray(pkg.files) || pkg.files[0] !== 'dist' || pkg.files.some((f) => /src|test/.test(f))) {
  problem('"files" must be ["dist"] (plus data folders users copy, never sources or tests)');
}
if (pkg.engines?.node !== '>=20') problem('"engines.node" must be ">=20"');
if (pkg.publishConfig?.access !== 'public') problem('"publishConfig.access" must be "public"');
if (pkg.exports?.['./package.json'] !== './package.json') problem('exports must include "./package.json"');
for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
  if (subpath === './package.json') continue;
  for (const kind of ['import', 'require']) {
    if (typeof target?.[kind]?.types !== 'string') problem(`exports["${subpath}"].${kind}.types is missing`);
  }
  const source = target?.['@x/source'];
  if (typeof source !== 'string' || !existsSync(join(dir, source))) problem(`exports["${subpath}"]["@x/source"] must point to an existing source file`);
}
// @x/resilience is the one package that exists to assemble the others (BRIEF §2): it alone may
// depend on them.
const assembles = pkg.name === '@x/resilience';
for (const [dep, range] of Object.entries(pkg.dependencies ?? {})) {
  if (dep.startsWith('@x/') && dep !== '@x/core' && !assembles) problem(`depends on ${dep}: feature packages may only depend on @x/core (accept other packages' instances as options)`);
  if (dep === '@x/core' && range !== 'workspace:^') problem('@x/core must be a "workspace:^" dependency');
}
for (const file of ['README.md', 'CHANGELOG.md']) if (!existsSync(join(dir, file))) problem(`${file} is missing`);

// Sources: the main entry is isomorphic (no node: imports, no ioredis/prom-client), and every
// export carries TSDoc; functions, classes and constants also carry an @example.
const isomorphicFiles = new Set();
// Recursive: a concept split over a folder (core's store/) is checked like a flat file.
const sourceFiles = readdirSync(join(dir, 'src'), { recursive: true })
  .map((f) => String(f).replaceAll('\\', '/'))
  .filter((f) => f.endsWith('.ts') && !/\.test(-d)?\.ts$/.test(f) && !f.split('/').pop().startsWith('test-') && !f.startsWith('test-fixtures/'));
const serverOnly = new Set(Object.keys(pkg.exports ?? {}).filter((s) => s !== '.').map((s) => `${s.slice(2)}.ts`));
for (const file of sourceFiles) if (!serverOnly.has(file) && !file.startsWith('redis')) isomorphicFiles.add(file);

// The public API: names the entry files (src/index.ts and subpath entries) export or re-export.
const entryFiles = Object.values(pkg.exports ?? {})
  .map((target) => target?.['@x/source'])
  .filter((source) => typeof source === 'string')
  .map((source) => source.replace(/^\.\/src\//, ''));
const publicNames = new Set();
const wholeFiles = new Set(entryFiles);
for (const entry of entryFiles) {
  const text = readFileSync(join(dir, 'src', entry), 'utf8');
  for (const m of text.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of m[1].split(',')) {
      const name = part.trim().replace(/^type\s+/, '').split(/\s+as\s+/).pop()?.trim();
      if (name) publicNames.add(name);
    }
  }
  for (const m of text.matchAll(/export\s+\*\s+from\s+['"]\.\/([^'"]+)\.js['"]/g)) wholeFiles.add(`${m[1]}.ts`);
}

for (const file of sourceFiles) {
  const text = readFileSync(join(dir, 'src', file), 'utf8');
  if (isomorphicFiles.has(file) && /from\s+['"](node:|ioredis|prom-client)/.test(text) && pkg.name !== '@x/metrics') {
    problem(`src/${file} imports a server-only module; keep it out of the main entry`);
  }
  const declaration = /^export\s+(?:declare\s+)?(?:abstract\s+)?(async\s+function|function|class|const|let|interface|type|enum)\s+([A-Za-z0-9_$]+)/gm;
  const seen = new Set();
  for (const match of text.matchAll(declaration)) {
    const [, kind, name] = match;
    if (!publicNames.has(name) && !wholeFiles.has(file)) continue;
    // Overload signatures and their implementation share the doc of the first signature.
    if (seen.has(name)) continue;
    seen.add(name);
    const before = text.slice(0, match.index).trimEnd();
    if (!before.endsWith('*/')) {
      problem(`src/${file}: export ${name} has no TSDoc comment`);
      continue;
    }
    const doc = before.slice(before.lastIndexOf('/**'));
    const needsExample = /function|class|const|let/.test(kind);
    if (needsExample && !doc.includes('@example')) problem(`src/${file}: export ${name} has no @example`);
  }
}

if (problems.length > 0) {
  for (const line of problems) console.error(line);
  process.exit(1);
}
console.log(`${pkg.name}: conventions ok (${sourceFiles.length} source files)`);
