// One page per folder under packages/, rendered from its README.md (see [pkg].md). Links and
// HTML-looking prose in the README are adapted by ../.vitepress/readme-markdown.ts.
import { listPackages } from '../.vitepress/packages';
import type { PackageInfo } from '../.vitepress/packages';

/** What a package without a README yet shows: its name and description. */
function placeholder(pkg: PackageInfo): string {
  return [
    `# ${pkg.name}`,
    '',
    pkg.description,
    '',
    '::: info In progress',
    'The README of this package is not written yet; this page shows it as soon as it is.',
    ':::',
    '',
    '```sh',
    `npm install ${pkg.name}`,
    '```',
    '',
  ].join('\n');
}

export default {
  paths() {
    return listPackages().map((pkg) => ({
      params: { pkg: pkg.folder },
      content: pkg.readme ?? placeholder(pkg),
    }));
  },
};
