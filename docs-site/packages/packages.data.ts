// Build-time list of the packages for index.md, read from packages/*/package.json.
import { defineLoader } from 'vitepress';
import { listPackages } from '../.vitepress/packages';

export interface PackageSummary {
  /** Page slug: /packages/<folder>. */
  readonly folder: string;
  readonly name: string;
  readonly description: string;
  /** Import paths besides the main entry, e.g. `@x/core/testing`. */
  readonly subpaths: readonly string[];
  /** False while the package has no README (its page is a placeholder). */
  readonly documented: boolean;
}

declare const data: PackageSummary[];
export { data };

export default defineLoader({
  watch: ['../../packages/*/package.json', '../../packages/*/README.md'],
  load(): PackageSummary[] {
    return listPackages().map((p) => ({
      folder: p.folder,
      name: p.name,
      description: p.description,
      subpaths: p.subpaths.map((sub) => `${p.name}${sub.slice(1)}`),
      documented: p.readme !== undefined,
    }));
  },
});
