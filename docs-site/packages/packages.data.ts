// Build-time list of the packages for index.md, read from packages/*/package.json, plus the
// packages the design plans that have no folder yet.
import { defineLoader } from 'vitepress';
import { listPackages } from '../.vitepress/packages';

export interface PackageSummary {
  /** Page slug: /packages/<folder>. */
  readonly folder: string;
  readonly name: string;
  readonly description: string;
  /** Import paths besides the main entry, e.g. `@x/core/testing`. */
  readonly subpaths: readonly string[];
  /**
   * False while the package has no README: its page is then a placeholder. Every written package
   * has one; this catches a package folder scaffolded before its README.
   */
  readonly documented: boolean;
}

/** A package of the design that has no folder under packages/ yet. */
export interface PlannedPackage {
  /** The folder it will have, e.g. `dlq`. */
  readonly folder: string;
  readonly name: string;
  /** What the design says it will do. */
  readonly purpose: string;
}

export interface PackagesData {
  readonly packages: readonly PackageSummary[];
  /** Planned packages whose folder does not exist yet; one drops off this list when it appears. */
  readonly planned: readonly PlannedPackage[];
}

// From the design's package map. Only what the package is for: their APIs are not written yet.
const PLANNED: readonly PlannedPackage[] = [
  {
    folder: 'dlq',
    name: '@x/dlq',
    purpose: 'Dead-letter stage and persistent dead-letter queue with backoff workers and redrive; on Redis Streams.',
  },
  {
    folder: 'lock',
    name: '@x/lock',
    purpose: 'Distributed lock (single instance and Redlock quorum) with fencing tokens; on Redis.',
  },
  {
    folder: 'bloom',
    name: '@x/bloom',
    purpose: 'Bloom filter in memory or on a Redis bitfield, with sizing and stats.',
  },
  {
    folder: 'cache',
    name: '@x/cache',
    purpose:
      'Typed cache over stores: resilient store calls, single-flight, stale-while-revalidate, write-behind and an invalidation bus; on Redis too.',
  },
];

declare const data: PackagesData;
export { data };

export default defineLoader({
  watch: ['../../packages/*/package.json', '../../packages/*/README.md'],
  load(): PackagesData {
    const packages = listPackages().map((p) => ({
      folder: p.folder,
      name: p.name,
      description: p.description,
      subpaths: p.subpaths.map((sub) => `${p.name}${sub.slice(1)}`),
      documented: p.readme !== undefined,
    }));
    const present = new Set(packages.map((p) => p.folder));
    return { packages, planned: PLANNED.filter((p) => !present.has(p.folder)) };
  },
});
