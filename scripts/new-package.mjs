#!/usr/bin/env node
// Scaffolds packages/<name> with the layout, manifest and configs every @x package shares.
// Usage: node scripts/new-package.mjs <name> "<one-line description>" [subpath ...]
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { syncManifest } from './sync-manifests.mjs';

const [name, description, ...subpaths] = process.argv.slice(2);
if (!name || !description) {
  console.error('usage: node scripts/new-package.mjs <name> "<description>" [subpath ...]');
  process.exit(2);
}
const dir = join('packages', name);
if (existsSync(dir)) {
  console.error(`${dir} already exists`);
  process.exit(1);
}
mkdirSync(join(dir, 'src'), { recursive: true });

const entry = (file) => ({
  '@x/source': `./src/${file}.ts`,
  import: { types: `./dist/${file}.d.ts`, default: `./dist/${file}.js` },
  require: { types: `./dist/${file}.d.cts`, default: `./dist/${file}.cjs` },
});
const exportsMap = { '.': entry('index') };
for (const sub of subpaths) exportsMap[`./${sub}`] = entry(sub);
exportsMap['./package.json'] = './package.json';

// `syncManifest` adds repository/homepage/bugs and `publishConfig.exports` (the exports without
// the in-repo `@x/source` condition, which would point at unshipped src/ files once packed).
const manifest = syncManifest({
  name: `@x/${name}`,
  version: '0.0.0',
  description,
  license: 'MIT',
  type: 'module',
  sideEffects: false,
  engines: { node: '>=20' },
  files: ['dist'],
  main: './dist/index.cjs',
  module: './dist/index.js',
  types: './dist/index.d.cts',
  exports: exportsMap,
  publishConfig: { access: 'public' },
  scripts: {
    build: 'tsup',
    typecheck: 'tsc -p tsconfig.json && tsc -p tsconfig.test.json',
    test: 'vitest run',
    lint: 'node ../../scripts/lint-package.mjs',
  },
  dependencies: { '@x/core': 'workspace:^' },
}, name);
const write = (file, text) => writeFileSync(join(dir, file), text);
write('package.json', `${JSON.stringify(manifest, null, 2)}\n`);
write(
  'tsconfig.json',
  `{\n  "extends": "../../tsconfig.base.json",\n  "include": ["src"],\n  "exclude": ["src/**/*.test.ts", "src/**/*.test-d.ts", "src/test-*.ts"]\n}\n`,
);
write(
  'tsconfig.test.json',
  `{\n  "extends": "../../tsconfig.base.json",\n  "compilerOptions": { "types": ["node"] },\n  "include": ["src"]\n}\n`,
);
const entries = ['index', ...subpaths].map((e) => `${e}: 'src/${e}.ts'`).join(', ');
write('tsup.config.ts', `import { packageBuild } from '../../tsup.base';\n\nexport default packageBuild({ ${entries} });\n`);
write('vitest.config.ts', `import { packageProject } from '../../vitest.shared';\n\nexport default packageProject('${name}');\n`);
write('README.md', `# @x/${name}\n\n${description}\n`);
write('CHANGELOG.md', `# @x/${name}\n`);
copyFileSync('LICENSE', join(dir, 'LICENSE'));
write('src/index.ts', 'export {};\n');
console.log(`created ${dir}`);
