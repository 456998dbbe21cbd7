// Makes package READMEs, written for GitHub and npm, render as VitePress pages:
// - relative links are rewritten to the site page they mean (another package, a guide page) or to
//   the file in the repository; links to nothing the site can show become plain text, so the
//   dead-link check passes without being switched off;
// - `Promise<T>` in prose is text, not an unclosed HTML element that would break the Vue
//   template: inline or block HTML survives only when its tag is a real HTML element.
// `{{ }}` in prose is handled by the `v-pre` wrapper in packages/[pkg].md.
import { existsSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import type { MarkdownRenderer } from 'vitepress';
import type { PackageInfo } from './packages';
import { packagesDir, repoRoot } from './packages';

type Token = ReturnType<MarkdownRenderer['parse']>[number];
type CoreRule = Parameters<MarkdownRenderer['core']['ruler']['push']>[1];
type CoreState = Parameters<CoreRule>[0];

const docsDir = join(repoRoot, 'docs-site');
/** Where the generated pages live; relative asset paths in them resolve from here. */
const pagesDir = join(docsDir, 'packages');

/** Tags a README may legitimately use as HTML; anything else that looks like a tag is prose. */
const HTML_TAGS = new Set(
  (
    'a abbr b bdi bdo blockquote br caption cite code col colgroup dd del details dfn div dl dt em ' +
    'figcaption figure h1 h2 h3 h4 h5 h6 hr i img ins kbd li mark ol p picture pre q s samp small ' +
    'source span strong sub summary sup table tbody td tfoot th thead time tr u ul var video wbr'
  ).split(' '),
);

const TAG_RE = /^<\/?([A-Za-z][A-Za-z0-9-]*)/;
const EXTERNAL_RE = /^(?:[a-z][a-z0-9+.-]*:|\/\/)/i;

function isRealHtml(html: string): boolean {
  const trimmed = html.trimStart();
  if (trimmed.startsWith('<!--')) return true;
  const tag = TAG_RE.exec(trimmed)?.[1];
  return tag !== undefined && HTML_TAGS.has(tag);
}

function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && !/^[a-z]:/i.test(rel));
}

/**
 * Where a relative README link should point on the site, or undefined to drop the link and keep
 * its text.
 */
export function rewriteHref(href: string, pkg: PackageInfo, known: ReadonlySet<string>): string | undefined {
  if (href === '' || href.startsWith('#') || EXTERNAL_RE.test(href)) return href;
  const cut = href.search(/[?#]/);
  const pathPart = decodeURI(cut < 0 ? href : href.slice(0, cut));
  const hash = cut < 0 ? '' : href.slice(cut).replace(/^\?[^#]*/, '');
  // On GitHub a leading slash means the repository root.
  const target = pathPart.startsWith('/') ? join(repoRoot, pathPart) : resolve(pkg.dir, pathPart);

  if (isInside(packagesDir, target)) {
    const [folder = '', ...rest] = relative(packagesDir, target).split(sep);
    const inner = rest.join('/');
    if (known.has(folder) && (inner === '' || /^readme\.md$/i.test(inner))) {
      return folder === pkg.folder && hash !== '' ? hash : `/packages/${folder}${hash}`;
    }
  }
  if (isInside(docsDir, target) && !isInside(join(docsDir, '.vitepress'), target)) {
    const page = relative(docsDir, target).split(sep).join('/');
    if (page.endsWith('.md') && existsSync(target)) return `/${page.replace(/(^|\/)index\.md$/, '$1').replace(/\.md$/, '')}${hash}`;
    if (existsSync(join(target, 'index.md'))) return `/${page}${page === '' ? '' : '/'}${hash}`;
  }
  if (pkg.repositoryUrl !== undefined && isInside(repoRoot, target) && existsSync(target)) {
    return `${pkg.repositoryUrl}/${relative(repoRoot, target).split(sep).join('/')}${hash}`;
  }
  return undefined;
}

/** A relative image that exists is bundled from the package folder; a missing one becomes its alt text. */
function rewriteImage(src: string, pkg: PackageInfo): string | undefined {
  if (src === '' || EXTERNAL_RE.test(src) || src.startsWith('data:')) return src;
  const pathPart = decodeURI(src.replace(/[?#].*$/, ''));
  const target = pathPart.startsWith('/') ? join(repoRoot, pathPart) : resolve(pkg.dir, pathPart);
  if (!isInside(repoRoot, target) || !existsSync(target) || !statSync(target).isFile()) return undefined;
  return relative(pagesDir, target).split(sep).join('/');
}

function textToken(state: CoreState, content: string): Token {
  const token = new state.Token('text', '', 0);
  token.content = content;
  return token;
}

function transformInline(state: CoreState, children: Token[], pkg: PackageInfo, known: ReadonlySet<string>): void {
  for (let i = 0; i < children.length; i++) {
    const token = children[i] as Token;
    if (token.type === 'html_inline' && !isRealHtml(token.content)) {
      children[i] = textToken(state, token.content);
    } else if (token.type === 'link_open') {
      const href = token.attrGet('href');
      if (href === null) continue;
      const next = rewriteHref(href, pkg, known);
      if (next !== undefined) {
        token.attrSet('href', next);
        continue;
      }
      // Drop the link but keep what it wraps: remove this link_open and its link_close.
      let depth = 0;
      for (let j = i + 1; j < children.length; j++) {
        const t = children[j] as Token;
        if (t.type === 'link_open') depth++;
        else if (t.type === 'link_close' && depth-- === 0) {
          children.splice(j, 1);
          break;
        }
      }
      children.splice(i, 1);
      i--;
    } else if (token.type === 'image') {
      const src = token.attrGet('src');
      if (src === null) continue;
      const next = rewriteImage(src, pkg);
      if (next !== undefined) token.attrSet('src', next);
      else children[i] = textToken(state, token.content);
    }
  }
}

/**
 * markdown-it plugin for the generated package pages. `pagePackage` maps a page's relativePath
 * (`packages/breaker.md`) to its package, or undefined for every other page.
 */
export function readmeMarkdown(
  md: MarkdownRenderer,
  pagePackage: (relativePath: string) => PackageInfo | undefined,
  known: () => ReadonlySet<string>,
): void {
  const escapeHtml = md.utils.escapeHtml;
  // Before anchors and headers are computed, so headings like `execute<T>` get their slug from the text.
  md.core.ruler.after('inline', 'x_readme', (state) => {
    const relativePath = (state.env as { relativePath?: string } | undefined)?.relativePath;
    const pkg = relativePath === undefined ? undefined : pagePackage(relativePath);
    if (pkg === undefined) return;
    const names = known();
    for (const token of state.tokens) {
      if (token.type === 'inline' && token.children !== null) transformInline(state, token.children, pkg, names);
      else if (token.type === 'html_block' && !isRealHtml(token.content)) {
        token.content = `<p>${escapeHtml(token.content.trim())}</p>\n`;
      }
    }
  });
}
