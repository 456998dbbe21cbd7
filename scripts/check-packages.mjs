#!/usr/bin/env node
// Packaging gates for every publishable package (BRIEF §5), run on the tarball `pnpm pack`
// produces, i.e. on exactly what would be published:
//   1. publint --strict
//   2. @arethetypeswrong/cli (node16 profile: CJS + ESM consumers, bundlers)
//   3. the main entry, with every chunk it imports, contains no node:, ioredis or prom-client import
//   4. the packed package.json names no unshipped file (no `@x/source` condition) and has
//      repository/homepage/bugs; the tarball has a LICENSE
// Needs a prior `pnpm build`. Exits non-zero if any package fails.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const packDir = join(root, '.pack');
rmSync(packDir, { recursive: true, force: true });
mkdirSync(packDir);

const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

const only = process.argv.slice(2);
const packages = readdirSync(join(root, 'packages'))
  .filter((name) => existsSync(join(root, 'packages', name, 'package.json')))
  .filter((name) => only.length === 0 || only.includes(name));

/** Collects every file reachable from `entry` through relative imports in built ESM output. */
function reachable(entry) {
  const seen = new Set();
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) stack.push(resolve(dirname(file), m[1]));
  }
  return [...seen];
}

let failed = 0;
for (const name of packages) {
  const dir = join(root, 'packages', name);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const problems = [];
  try {
    const out = run('pnpm', ['pack', '--pack-destination', packDir], dir);
    const tarball = out.trim().split('\n').filter((l) => l.endsWith('.tgz')).pop();
    if (!tarball) throw new Error(`pnpm pack printed no tarball:\n${out}`);

    try {
      run(bin('publint'), ['run', tarball, '--strict'], root);
    } catch (error) {
      problems.push(`publint:\n${error.stdout}${error.stderr}`);
    }
    try {
      run(bin('attw'), [tarball, '--profile', 'node16', '--format', 'table-flipped'], root);
    } catch (error) {
      problems.push(`attw:\n${error.stdout}${error.stderr}`);
    }
    const packed = JSON.parse(run('tar', ['-xzf', tarball, '-O', 'package/package.json'], root));
    const listing = run('tar', ['-tzf', tarball], root).split('\n');
    if (JSON.stringify(packed.exports).includes('@x/source')) problems.push('packed package.json: exports still has the @x/source condition (src/ is not shipped)');
    if ('publishConfig' in packed && 'exports' in packed.publishConfig) problems.push('packed package.json: publishConfig.exports was not applied');
    for (const field of ['repository', 'homepage', 'bugs']) if (packed[field] === undefined) problems.push(`packed package.json: no ${field}`);
    if (!listing.includes('package/LICENSE')) problems.push('tarball: no LICENSE');
    const mainEntry = join(dir, pkg.exports['.'].import.default);
    for (const file of reachable(mainEntry)) {
      const text = readFileSync(file, 'utf8');
      const bad = text.match(/(?:from|import|require)\s*\(?\s*["'](node:[^"']+|ioredis|prom-client)["']/);
      if (bad && pkg.name !== '@x/metrics') problems.push(`main entry reaches ${bad[1]} (in ${file.slice(dir.length + 1)})`);
    }
  } catch (error) {
    problems.push(String(error.stderr || error.message || error));
  }
  if (problems.length > 0) {
    failed++;
    console.error(`✗ ${pkg.name}\n  ${problems.join('\n  ')}`);
  } else {
    console.log(`✓ ${pkg.name}: publint, attw (node16), isomorphic main entry, packed manifest and LICENSE`);
  }
}
rmSync(packDir, { recursive: true, force: true });
if (failed > 0) {
  console.error(`${failed} package(s) failed the packaging checks`);
  process.exit(1);
}
