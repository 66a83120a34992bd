/**
 * The little of Markdown the documentation tests need: the pages, their headings' anchors as
 * GitHub makes them, their links, the first cells of a table, and their shell blocks with the
 * `<!-- runs -->` marker before them. Line by line, on purpose: the pages are ours, and a
 * Markdown parser would be one more dependency for four regular expressions.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './support';

export type Page = { file: string; lines: string[] };

/** README.md, then docs/*.md by name; `file` is relative to the repository. */
export function readPages(): Page[] {
  const docs = readdirSync(path.join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs].map((file) => ({
    file,
    lines: readFileSync(path.join(ROOT, file), 'utf8').split('\n'),
  }));
}

const FENCE = /^\s*(```|~~~)/;

/** Lines outside fenced code blocks, with their 1-based numbers. */
function prose(page: Page): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let fenced = false;
  page.lines.forEach((text, i) => {
    if (FENCE.test(text)) fenced = !fenced;
    else if (!fenced) out.push({ line: i + 1, text });
  });
  return out;
}

/**
 * A heading's anchor as GitHub makes it (github-slugger): the rendered text in lower case,
 * without punctuation and symbols other than `-` and `_`, spaces turned into hyphens.
 */
export function slug(heading: string): string {
  const rendered = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links: their text
    .replace(/<[^>]+>/g, '') // inline HTML
    .replace(/[`*]/g, ''); // code spans and emphasis: their content
  return rendered
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a link may name in the page: headings (repeats get -1, -2, …) and `<a id>`s. */
export function anchors(page: Page): Set<string> {
  const found = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of prose(page)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (heading) {
      const base = slug(heading[1]!);
      const count = seen.get(base) ?? 0;
      seen.set(base, count + 1);
      found.add(count === 0 ? base : `${base}-${count}`);
    }
    for (const html of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) found.add(html[1]!);
  }
  return found;
}

/** Inline links and images, and reference definitions, outside code. */
export function links(page: Page): { line: number; target: string }[] {
  const out: { line: number; target: string }[] = [];
  for (const { line, text } of prose(page)) {
    const withoutCode = text.replace(/`[^`]*`/g, '');
    for (const link of withoutCode.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      out.push({ line, target: link[1]! });
    }
    const definition = /^\s*\[[^\]]+\]:\s*(\S+)/.exec(withoutCode);
    if (definition) out.push({ line, target: definition[1]! });
  }
  return out;
}

const cells = (row: string) =>
  row
    .trim()
    .replace(/^\||\|$/g, '')
    .split('|')
    .map((cell) => cell.trim());

/** The first cell of each body row of the table whose header's first cell is `header`. */
export function firstColumn(page: Page, header: string): string[] {
  const rows = prose(page).map(({ text }) => text);
  const start = rows.findIndex((row) => row.trim().startsWith('|') && cells(row)[0] === header);
  if (start < 0) return [];
  const out: string[] = [];
  for (const row of rows.slice(start + 2)) {
    if (!row.trim().startsWith('|')) break;
    out.push(cells(row)[0]!);
  }
  return out;
}

export type ShellBlock = {
  page: string;
  /** The marker before the block: `runs`, `runs: server`, or null when unmarked. */
  marker: string | null;
  /** The 1-based line number of the block's first line of code. */
  firstLine: number;
  code: string[];
};

/** Every ```sh (or bash) block, with the `<!-- … -->` comment on the last non-blank line before it. */
export function shellBlocks(page: Page): ShellBlock[] {
  const out: ShellBlock[] = [];
  for (let i = 0; i < page.lines.length; i++) {
    const open = /^\s*```(\w+)?\s*$/.exec(page.lines[i]!);
    if (!open) continue;
    let end = i + 1;
    while (end < page.lines.length && !FENCE.test(page.lines[end]!)) end++;
    if (open[1] === 'sh' || open[1] === 'bash') {
      let before = i - 1;
      while (before >= 0 && page.lines[before]!.trim() === '') before--;
      const comment = before >= 0 ? /^<!--\s*(.*?)\s*-->$/.exec(page.lines[before]!.trim()) : null;
      out.push({ page: page.file, marker: comment?.[1] ?? null, firstLine: i + 2, code: page.lines.slice(i + 1, end) });
    }
    i = end;
  }
  return out;
}
