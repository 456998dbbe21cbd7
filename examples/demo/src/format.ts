/** Where the demo writes: `process.stdout`, or anything with `write` (a buffer in tests). */
export interface DemoOutput {
  write(text: string): unknown;
  /** True for a terminal: the live view then redraws in place. */
  readonly isTTY?: boolean | undefined;
  /** Terminal width, to know how many rows a wrapped line takes when redrawing. */
  readonly columns?: number | undefined;
}

const CODES = { red: 31, green: 32, yellow: 33, cyan: 36, dim: 2, bold: 1 } as const;
export type Style = keyof typeof CODES;

/** Wraps text in an ANSI style, or returns it unchanged when colour is off. */
export type Paint = (style: Style, text: string) => string;

export const plain: Paint = (_style, text) => text;
export const ansi: Paint = (style, text) => `\x1b[${CODES[style]}m${text}\x1b[0m`;

/** `12 ms`, `1.4 s`; `–` when there is no value. */
export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return '–';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1_000).toFixed(1)} s`;
}

export function formatSeconds(ms: number): string {
  return `${(ms / 1_000).toFixed(1)} s`;
}

/** `1 attempt`, `2 attempts`: the count and the word, singular for exactly one. */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}

/**
 * What is left of an error budget, never below 0 %: an overspent budget says how far over it is
 * (`remaining` -9 means ten times the budget spent) instead of "-900 % left".
 */
export function budgetLeft(remaining: number): { readonly text: string; readonly style: Style } {
  if (remaining < 0) return { text: `0 % (spent ${(1 - remaining).toFixed(1)}× over the window)`, style: 'red' };
  const left = Math.round(remaining * 100);
  return { text: `${left} %`, style: left < 50 ? 'yellow' : 'green' };
}

export function percent(part: number, whole: number): string {
  return whole === 0 ? '–' : `${Math.round((part / whole) * 100)} %`;
}

/** Colour for a breaker state or health status: green when fine, yellow in between, red when not. */
export function stateStyle(state: string): Style {
  if (state === 'closed' || state === 'pass') return 'green';
  if (state === 'half_open' || state === 'warn') return 'yellow';
  return 'red';
}

const ANSI_PATTERN = /\x1b\[[0-9;]*m/g;

/** Length of the text as shown, without ANSI styles. */
export function visibleLength(text: string): number {
  return text.replace(ANSI_PATTERN, '').length;
}

/** Breaks `text` into lines of at most `width` characters, at spaces. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}
