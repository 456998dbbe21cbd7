#!/usr/bin/env node
// Keeps the published fields of every packages/*/package.json in step, and a LICENSE in every
// package folder (npm and pnpm always pack a package's LICENSE file, whatever `files` says):
//   - `publishConfig.exports`: the `exports` map without the `@x/source` condition. That condition
//     points at src/*.ts, which is not shipped; tests and type-checks in this repo resolve through
//     it, and `pnpm pack` / `pnpm publish` replace `exports` with `publishConfig.exports`, so the
//     packed package.json never names a file the tarball does not contain.
//   - `repository` (with the package's `directory`), `homepage` and `bugs`.
// Usage: node scripts/sync-manifests.mjs [--check] [name ...]
//   --check: change nothing, exit 1 listing every package that is out of step (CI).
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const check = args.includes('--check');
const only = args.filter((a) => a !== '--check');

/** Where the project lives; every manifest's links derive from it. */
export const REPOSITORY = 'https://github.com/x-resilience/x-resilience';

/** The exports map as published: the `@x/source` condition removed at every level. */
export function publishedExports(value) {
  if (typeof value !== 'object' || value === null) return value;
  const out = {};
  for (const [key, inner] of Object.entries(value)) if (key !== '@x/source') out[key] = publishedExports(inner);
  return out;
}

/** The manifest with its published fields in step; other fields and their order are kept. */
export function syncManifest(pkg, folder) {
  const links = {
    repository: { type: 'git', url: `git+${REPOSITORY}.git`, directory: `packages/${folder}` },
    homepage: `${REPOSITORY}/tree/main/packages/${folder}#readme`,
    bugs: { url: `${REPOSITORY}/issues` },
  };
  const out = {};
  for (const [key, value] of Object.entries(pkg)) {
    if (key in links) continue;
    out[key] = value;
    // The links go right after `license` (or at the end when there is none).
    if (key === 'license') Object.assign(out, links);
  }
  if (!('repository' in out)) Object.assign(out, links);
  if (out.exports !== undefined) {
    const { exports: _old, ...rest } = out.publishConfig ?? {};
    out.publishConfig = { ...rest, exports: publishedExports(out.exports) };
  }
  return out;
}

// Run as a script (importing it, e.g. from a test, only gives the functions).
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();

function main() {
  const folders = readdirSync(join(root, 'packages'))
    .filter((name) => existsSync(join(root, 'packages', name, 'package.json')))
    .filter((name) => only.length === 0 || only.includes(name));
  const license = readFileSync(join(root, 'LICENSE'), 'utf8');
  let stale = 0;
  for (const folder of folders) {
    const dir = join(root, 'packages', folder);
    const file = join(dir, 'package.json');
    const text = readFileSync(file, 'utf8');
    const next = `${JSON.stringify(syncManifest(JSON.parse(text), folder), null, 2)}\n`;
    const licenseFile = join(dir, 'LICENSE');
    const licenseOk = existsSync(licenseFile) && readFileSync(licenseFile, 'utf8') === license;
    if (next === text && licenseOk) continue;
    if (check) {
      stale++;
      console.error(`✗ packages/${folder}: ${next === text ? '' : 'package.json '}${licenseOk ? '' : 'LICENSE '}out of step`);
      continue;
    }
    if (next !== text) writeFileSync(file, next);
    if (!licenseOk) copyFileSync(join(root, 'LICENSE'), licenseFile);
    console.log(`synced packages/${folder}`);
  }
  if (stale > 0) {
    console.error(`${stale} package(s) out of step: run node scripts/sync-manifests.mjs`);
    process.exit(1);
  }
}
