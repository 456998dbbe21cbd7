import { utimesSync, watch } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMarkdownRenderer, defineConfig } from 'vitepress';
import type { MarkdownOptions, MarkdownRenderer, UserConfig } from 'vitepress';
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

// Package pages are rendered from READMEs written for GitHub, where `{#id}` has no meaning and
// `{ ok: true }` at the end of a line is prose, not an attribute list.
const markdown: MarkdownOptions = {
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
};

const srcDir = fileURLToPath(new URL('..', import.meta.url));

/** One search entry: a heading's anchor, the headings above it and the text under it. */
interface SearchSection {
  readonly anchor: string;
  readonly titles: string[];
  readonly text: string;
}

const stripTags = (html: string): string =>
  html
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(lt|gt|amp|quot|#39);/g, (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', '#39': "'" })[e] ?? '')
    .replace(/\s+/g, ' ')
    .trim();

/** Splits rendered HTML at its headings (those with an id), keeping the trail of parent headings. */
function searchSections(html: string): SearchSection[] {
  const sections: SearchSection[] = [];
  const trail: string[] = [];
  const heading = /<h([1-6])\b[^>]*\bid="([^"]*)"[^>]*>([\s\S]*?)<\/h\1>/g;
  const found = [...html.matchAll(heading)];
  found.forEach((m, i) => {
    const level = Number(m[1]);
    const title = stripTags((m[3] ?? '').replace(/<a\b[^>]*class="header-anchor"[\s\S]*?<\/a>/g, ''));
    const end = found[i + 1]?.index ?? html.length;
    const text = stripTags(html.slice((m.index ?? 0) + m[0].length, end));
    trail.length = level - 1;
    trail[level - 1] = title;
    if (title !== '') sections.push({ anchor: m[2] ?? '', titles: trail.filter((t) => t !== undefined && t !== ''), text });
  });
  return sections;
}

let renderer: Promise<MarkdownRenderer> | undefined;

/**
 * The search entries of a package page. Its route is dynamic (`packages/[pkg].md`), so VitePress's
 * local search finds no file for `packages/<name>.md` and would index nothing: render the README
 * the page shows and split it here. Undefined for every other page (VitePress indexes those).
 */
async function packagePageSections(file: string): Promise<SearchSection[] | undefined> {
  const relativePath = relative(srcDir, file).split('\\').join('/');
  const folder = PAGE_RE.exec(relativePath)?.[1];
  const pkg = folder === undefined ? undefined : byFolder.get(folder);
  if (pkg === undefined) return undefined;
  renderer ??= createMarkdownRenderer(srcDir, markdown, '/');
  const md = await renderer;
  const source = pkg.readme ?? `# ${pkg.name}\n\n${pkg.description}\n`;
  return searchSections(md.render(source, { path: file, relativePath, cleanUrls: false }));
}

export default defineConfig({
  lang: 'en-US',
  title: '@x',
  description:
    'Small TypeScript resilience packages for Node and browsers: circuit breakers, retries, timeouts, bulkheads, rate limits and more, reporting through one event contract.',
  lastUpdated: false,
  markdown,
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
    search: {
      provider: 'local',
      // Package pages are generated: index the README each one shows (see packagePageSections).
      options: { miniSearch: { _splitIntoSections: async (file, html) => (await packagePageSections(file)) ?? searchSections(html) } },
    },
    footer: { message: 'Released under the MIT License.' },
  },
  vite: {
    // Lets the dev server serve images that READMEs reference from their package folders.
    server: { fs: { allow: [repoRoot] } },
    plugins: [watchPackages()],
  },
});
