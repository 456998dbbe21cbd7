import { utimesSync, watch } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitepress';
import type { UserConfig } from 'vitepress';
import { listPackages, packagesDir, repoRoot } from './packages';
import type { PackageInfo } from './packages';
import { readmeMarkdown } from './readme-markdown';

// Read once per config load: the dev server reloads the config when a package is added or removed
// (see watchPackages below), and a build reads it fresh.
const packages = listPackages();
const byFolder = new Map<string, PackageInfo>(packages.map((p) => [p.folder, p]));
const PAGE_RE = /^packages\/([^/]+)\.md$/;

// The Vite plugin type of the Vite that VitePress bundles (the workspace root has a newer Vite).
type VitePlugin = Extract<NonNullable<NonNullable<UserConfig['vite']>['plugins']>[number], { name: string }>;

/**
 * In `vitepress dev`, README and package.json edits refresh the generated pages (touching the
 * paths file makes VitePress re-run it), and a folder added to or removed from packages/ reloads
 * this config so the sidebar follows. Builds never use this.
 */
function watchPackages(): VitePlugin {
  const touch = (file: string) => {
    const now = new Date();
    utimesSync(file, now, now);
  };
  const pathsFile = fileURLToPath(new URL('../packages/[pkg].paths.ts', import.meta.url));
  const configFile = fileURLToPath(import.meta.url);
  return {
    name: 'x-docs:watch-packages',
    apply: 'serve',
    configureServer(server) {
      // Vite's watcher takes paths, not globs; a README that does not exist yet is watched for creation.
      const files = new Set(packages.flatMap((p) => [join(p.dir, 'README.md'), join(p.dir, 'package.json')]));
      server.watcher.add([...files]);
      const refresh = (file: string) => {
        if (files.has(file)) touch(pathsFile);
      };
      server.watcher.on('change', refresh).on('add', refresh).on('unlink', refresh);
      // Not recursive: only entries of packages/ itself. Debounced, so a scaffold script has written
      // the new package.json by the time the config is read again.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const folders = watch(packagesDir, () => {
        clearTimeout(timer);
        timer = setTimeout(() => touch(configFile), 300);
      });
      server.httpServer?.once('close', () => {
        clearTimeout(timer);
        folders.close();
      });
    },
  };
}

export default defineConfig({
  lang: 'en-US',
  title: '@x',
  description:
    'Small TypeScript resilience packages for Node and browsers: circuit breakers, retries, timeouts, bulkheads, rate limits and more, reporting through one event contract.',
  lastUpdated: false,
  // Package pages are rendered from READMEs written for GitHub, where `{#id}` has no meaning and
  // `{ ok: true }` at the end of a line is prose, not an attribute list.
  markdown: {
    attrs: { disable: true },
    config(md) {
      readmeMarkdown(
        md,
        (relativePath) => {
          const folder = PAGE_RE.exec(relativePath)?.[1];
          return folder === undefined ? undefined : byFolder.get(folder);
        },
        () => new Set(byFolder.keys()),
      );
    },
  },
  // Page descriptions for package pages come from their package.json.
  transformPageData(pageData) {
    const pkg = typeof pageData.params?.pkg === 'string' ? byFolder.get(pageData.params.pkg) : undefined;
    if (pkg !== undefined && pkg.description !== '') return { description: pkg.description };
    return undefined;
  },
  themeConfig: {
    nav: [
      { text: 'Guide', link: '/guide/getting-started', activeMatch: '^/guide/' },
      { text: 'Packages', link: '/packages/', activeMatch: '^/packages/' },
    ],
    sidebar: [
      {
        text: 'Guide',
        items: [
          { text: 'Getting started', link: '/guide/getting-started' },
          { text: 'Events and metrics', link: '/guide/events' },
          { text: 'Composition and ordering', link: '/guide/composition' },
          { text: 'Testing with the virtual clock', link: '/guide/testing' },
          { text: 'The demo (pnpm demo)', link: '/guide/demo' },
        ],
      },
      {
        text: 'Packages',
        link: '/packages/',
        items: packages.map((p) => ({ text: p.name, link: `/packages/${p.folder}` })),
      },
    ],
    outline: { level: [2, 3] },
    search: { provider: 'local' },
    footer: { message: 'Released under the MIT License.' },
  },
  vite: {
    // Lets the dev server serve images that READMEs reference from their package folders.
    server: { fs: { allow: [repoRoot] } },
    plugins: [watchPackages()],
  },
});
