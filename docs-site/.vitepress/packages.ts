// Discovers the workspace packages the site documents. Read at build time by the config (sidebar),
// the dynamic route (one page per package) and the package-list data loader, so a new folder
// under packages/ shows up everywhere without editing the site.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root and its packages folder, resolved from this file, not from the cwd. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const packagesDir = join(repoRoot, 'packages');

export interface PackageInfo {
  /** Folder name under packages/, also the page slug: /packages/<folder>. */
  readonly folder: string;
  /** Absolute path of the package folder. */
  readonly dir: string;
  /** npm name, e.g. `@x/breaker`. */
  readonly name: string;
  readonly description: string;
  readonly version: string;
  /** Subpath exports besides the main entry, e.g. `['./testing']` or `['./redis']`. */
  readonly subpaths: readonly string[];
  /** README.md text, or undefined when the package has none yet. */
  readonly readme: string | undefined;
  /**
   * `https://host/owner/repo/blob/HEAD`, from the package's (or the root's) package.json
   * `repository` field; undefined when neither says where the code lives.
   */
  readonly repositoryUrl: string | undefined;
}

interface Manifest {
  name?: string;
  description?: string;
  version?: string;
  private?: boolean;
  repository?: string | { url?: string };
  exports?: unknown;
}

function subpathsOf(manifest: Manifest): string[] {
  const exports = manifest.exports;
  if (typeof exports !== 'object' || exports === null || Array.isArray(exports)) return [];
  return Object.keys(exports).filter((key) => key.startsWith('./') && key !== './package.json');
}

/** Turns a package.json `repository` field into `https://host/owner/repo/blob/HEAD`. */
function repositoryUrl(manifest: Manifest): string | undefined {
  const repo = manifest.repository;
  const raw = typeof repo === 'string' ? repo : repo?.url;
  if (raw === undefined) return undefined;
  let url = raw.replace(/^git\+/, '').replace(/\.git$/, '');
  if (/^github:/.test(url) || /^[\w.-]+\/[\w.-]+$/.test(url)) url = `https://github.com/${url.replace(/^github:/, '')}`;
  if (!/^https?:\/\//.test(url)) return undefined;
  return `${url}/blob/HEAD`;
}

function readManifest(path: string): Manifest {
  return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
}

/** Every folder under packages/ that has a package.json, `core` first, then by name. */
export function listPackages(): PackageInfo[] {
  const rootManifest = readManifest(join(repoRoot, 'package.json'));
  const result: PackageInfo[] = [];
  for (const entry of readdirSync(packagesDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const dir = join(packagesDir, entry.name);
    const manifestPath = join(dir, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = readManifest(manifestPath);
    const readmePath = join(dir, 'README.md');
    result.push({
      folder: entry.name,
      dir,
      name: manifest.name ?? `@x/${entry.name}`,
      description: manifest.description ?? '',
      version: manifest.version ?? '0.0.0',
      subpaths: subpathsOf(manifest),
      readme: existsSync(readmePath) ? readFileSync(readmePath, 'utf8') : undefined,
      repositoryUrl: repositoryUrl(manifest) ?? repositoryUrl(rootManifest),
    });
  }
  return result.sort((a, b) => rank(a) - rank(b) || a.folder.localeCompare(b.folder));
}

const rank = (p: PackageInfo) => (p.folder === 'core' ? 0 : 1);
