/**
 * The documentation stays whole, offline: README.md is a front page that links every page of
 * docs/, every relative link and anchor there resolves, the error table lists every error code
 * the service can answer, the configuration table every variable its config schema reads, and
 * every shell block that talks to the local service is marked to run (docs-run.test.ts runs
 * them).
 *
 * Run: npx vitest run test/e2e/docs.test.ts
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/platform/config';
import { ERROR_CODES } from '../../src/platform/errors';
import { anchors, firstColumn, links, readPages, shellBlocks, slug, type Page } from './markdown';
import { ROOT } from './support';

const pages = readPages();
const page = (file: string): Page => {
  const found = pages.find((p) => p.file === file);
  if (!found) throw new Error(`${file} is missing`);
  return found;
};

/** The pages the issue asks for, one per topic. */
const TOPICS = [
  'api',
  'configuration',
  'sessions',
  'keys',
  'deploying',
  'security',
  'spa',
  'native-and-server-clients',
  'two-factor-and-recovery',
  'flask',
  'performance',
  'development',
].map((name) => `docs/${name}.md`);

/** `code` → `code`, for first cells written as code spans. */
const unquote = (cell: string) => /^`([^`]+)`$/.exec(cell)?.[1] ?? cell;

/**
 * The variables the config schema reads, found by parsing an environment that records every
 * name asked for: the schema itself is private to its module, and this way a variable added to
 * it is seen without anyone keeping a second list.
 */
function configVariables(): string[] {
  const read = new Set<string>();
  const env = new Proxy(
    {},
    {
      get: (_target, name) => (typeof name === 'string' && read.add(name), undefined),
      has: (_target, name) => (typeof name === 'string' && read.add(name), false),
    },
  );
  try {
    parseConfig(env as Record<string, unknown>);
  } catch {
    // An empty environment lacks a signing key; what was read is what counts here.
  }
  return [...read];
}

describe('README.md, the front page', () => {
  it('is at most 250 lines', () => {
    const lines = page('README.md').lines;
    const count = lines.at(-1) === '' ? lines.length - 1 : lines.length;
    expect(count).toBeLessThanOrEqual(250);
  });

  it('links one page per topic, and every page of docs/', () => {
    const linked = new Set(links(page('README.md')).map(({ target }) => target.split('#')[0]));
    const docs = pages.filter((p) => p.file.startsWith('docs/')).map((p) => p.file);
    expect(docs).toEqual(expect.arrayContaining(TOPICS));
    expect(docs.filter((file) => !linked.has(file))).toEqual([]);
  });
});

describe('links and anchors', () => {
  it('follows GitHub when it makes anchors of headings', () => {
    expect(slug("6. CPU time per request against Workers' limits")).toBe(
      '6-cpu-time-per-request-against-workers-limits',
    );
    expect(slug('With the typed client, `edge-auth/client`')).toBe('with-the-typed-client-edge-authclient');
    expect(slug('By email (optional, off unless configured)')).toBe('by-email-optional-off-unless-configured');
    expect(slug('A — B')).toBe('a--b');
  });

  it('every relative link in README.md and docs/*.md names a file that exists, and an anchor it has', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const from of pages) {
      for (const { line, target } of links(from)) {
        if (/^[a-z][a-z\d+.-]*:/i.test(target) || target.startsWith('//')) continue; // https:, mailto:
        checked++;
        const [file = '', anchor] = target.split('#');
        const resolved = file ? path.posix.normalize(path.posix.join(path.posix.dirname(from.file), file)) : from.file;
        const where = `${from.file}:${line}: ${target}`;
        if (resolved.startsWith('..') || !existsSync(path.join(ROOT, resolved))) {
          broken.push(`${where} (no ${resolved})`);
          continue;
        }
        if (anchor === undefined) continue;
        const to = pages.find((p) => p.file === resolved);
        if (!to || statSync(path.join(ROOT, resolved)).isDirectory()) {
          broken.push(`${where} (an anchor into ${resolved}, which is not one of the pages)`);
        } else if (!anchors(to).has(decodeURIComponent(anchor))) {
          broken.push(`${where} (${resolved} has no heading #${anchor})`);
        }
      }
    }
    expect(checked, 'no relative link found: the link reader is broken').toBeGreaterThan(50);
    expect(broken).toEqual([]);
  });
});

describe('the reference tables are complete', () => {
  it('docs/api.md lists every error code of ERROR_CODES, and no other', () => {
    const documented = firstColumn(page('docs/api.md'), '`code`').map(unquote);
    const codes = Object.keys(ERROR_CODES);
    expect(codes).toContain('legacy_hash_unavailable');
    expect(
      codes.filter((code) => !documented.includes(code)),
      'missing from the error table',
    ).toEqual([]);
    expect(
      documented.filter((code) => !codes.includes(code)),
      'not an error code',
    ).toEqual([]);
  });

  it('docs/configuration.md lists every variable of the config schema, and no other', () => {
    const documented = firstColumn(page('docs/configuration.md'), 'Variable').map(unquote);
    const variables = configVariables();
    expect(variables, 'the schema was not read').toEqual(expect.arrayContaining(['JWT_SECRET', 'DATA_ENCRYPTION_KEY']));
    expect(
      variables.filter((name) => !documented.includes(name)),
      'missing from the table',
    ).toEqual([]);
    expect(
      documented.filter((name) => !variables.includes(name)),
      'not a variable',
    ).toEqual([]);
  });
});

describe('shell blocks', () => {
  const blocks = pages.flatMap(shellBlocks);

  it('every block that talks to the local service is marked to run', () => {
    const unmarked = blocks
      .filter((block) => !block.marker?.startsWith('runs'))
      .filter((block) => block.code.some((line) => /:8787\b|\$B\b/.test(line)))
      .map((block) => `${block.page}:${block.firstLine}`);
    expect(unmarked).toEqual([]);
  });

  it('the quick start starts the service with the two commands', () => {
    const server = blocks.filter((block) => block.marker === 'runs: server');
    expect(server.map((block) => `${block.page}: ${block.code.join('\n')}`)).toEqual([
      'README.md: npm install && npm run dev',
    ]);
  });

  it('every marker is one the runner knows', () => {
    const markers = blocks.map((block) => block.marker).filter((marker) => marker?.startsWith('runs'));
    expect(new Set(markers)).toEqual(new Set(['runs', 'runs: server']));
  });
});
