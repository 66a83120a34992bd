/**
 * The documentation runs as written. README.md's quick start starts the service (`npm run dev`,
 * in a throw-away copy of the project, on a free port); then every shell block marked
 * `<!-- runs -->` runs with bash against it: README.md's first, then each page's in the order of
 * the README's table of pages, one bash per page (a page's blocks share its variables, as in a
 * reader's terminal). Nothing in a block is changed but the port (`:8787`), and for
 * examples/node-client.mjs, whose default address is that same port, EDGE_AUTH_URL.
 *
 * Each command must succeed, and each `curl` must answer 2xx unless a comment on its line starts
 * with the statuses it answers (`# 401 …`, `# 201 or 409 …`): a wrapper defined before the
 * page's code records every curl's status and line, so an example that drifts (a logout before
 * the lines that need its session, a placeholder password) fails here.
 *
 * `npm install` of the quick start is this checkout's own; `npm test` is this run.
 *
 * Run: npx vitest run test/e2e/docs-run.test.ts
 */
import { cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { links, readPages, shellBlocks, type ShellBlock } from './markdown';
import { ROOT, childEnv, onFreePort, run, startServer, useScratchDir, type Server } from './support';

// What `npm run dev` and the pages' commands need; no dist/ (the first run builds the app).
const COPIED = [
  'src',
  'migrations',
  'scripts',
  'app',
  'client',
  'examples',
  'wrangler.toml',
  'package.json',
  'tsconfig.json',
];
/** A page's bash; the test itself gets a minute more, to report what the page did by then. */
const PAGE_TIMEOUT_MS = 150_000;

const pages = readPages();
const blocks = pages.flatMap(shellBlocks);

/** README.md, then the pages in the order its "Documentation" table links them. */
function readingOrder(): string[] {
  const readme = pages.find((p) => p.file === 'README.md')!;
  const start = readme.lines.findIndex((line) => line === '## Documentation');
  const end = readme.lines.findIndex((line, i) => i > start && line.startsWith('## '));
  const table = links(readme)
    .filter(({ line }) => line > start && line <= end)
    .map(({ target }) => target.split('#')[0]!)
    .filter((target) => target.startsWith('docs/'));
  return ['README.md', ...new Set(table)];
}

/**
 * Before each page's code: stop at the first failing command (naming its line), and record
 * every curl's status with the line of the page's code that ran it (through functions too).
 */
const PRELUDE = [
  'set -Eeuo pipefail',
  `trap 'echo "docs-run: failed at script line $LINENO" >&2' ERR`,
  'curl() {',
  '  local headers status=0',
  '  headers=$(mktemp)',
  '  command curl -D "$headers" "$@" || status=$?',
  `  printf '%s %s\\n' "\${BASH_LINENO[\${#BASH_LINENO[@]}-2]}" \\`,
  `    "$(awk 'toupper($1) ~ /^HTTP\\// { code = $2 } END { print code }' "$headers")" >> "$DOCS_RUN_CALLS"`,
  '  rm -f "$headers"',
  '  return $status',
  '}',
];

type Script = { text: string; origin: Map<number, { block: ShellBlock; index: number }> };

/** The page's blocks after the prelude, the port replaced; `origin` maps script lines back. */
function script(pageBlocks: ShellBlock[], port: number): Script {
  const lines = [...PRELUDE];
  const origin = new Map<number, { block: ShellBlock; index: number }>();
  for (const block of pageBlocks) {
    lines.push(`# ${block.page}:${block.firstLine}`);
    block.code.forEach((code, index) => {
      lines.push(code.replaceAll(':8787', `:${port}`));
      origin.set(lines.length, { block, index });
    });
  }
  return { text: `${lines.join('\n')}\n`, origin };
}

/**
 * The statuses a call may answer: those a comment on its command's lines starts with (the
 * command continues over lines ending in `\`), else any 2xx.
 */
function expected(block: ShellBlock, index: number): { allowed: (status: number) => boolean; wording: string } {
  let first = index;
  while (first > 0 && block.code[first - 1]!.trimEnd().endsWith('\\')) first--;
  let last = index;
  while (last < block.code.length - 1 && block.code[last]!.trimEnd().endsWith('\\')) last++;
  for (const line of block.code.slice(first, last + 1)) {
    const comment = /\s#\s*(\d{3}(?:\s*(?:,|or)\s*\d{3})*)\b/.exec(line);
    if (comment) {
      const statuses = comment[1]!.match(/\d{3}/g)!.map(Number);
      return { allowed: (status) => statuses.includes(status), wording: statuses.join(' or ') };
    }
  }
  return { allowed: (status) => status >= 200 && status < 300, wording: '2xx' };
}

const scratch = useScratchDir('docs-run');
let project = '';
let server: Server | undefined;

beforeAll(async () => {
  project = path.join(scratch(), 'project');
  await mkdir(project);
  for (const entry of COPIED) await cp(path.join(ROOT, entry), path.join(project, entry), { recursive: true });
  await symlink(path.join(ROOT, 'node_modules'), path.join(project, 'node_modules'), 'dir');

  // The quick start's `npm install && npm run dev`: the service, on a port of its own.
  const [quickStart] = blocks.filter((block) => block.marker === 'runs: server');
  expect(quickStart?.code).toEqual(['npm install && npm run dev']);
  server = await onFreePort((port) =>
    startServer({
      name: 'npm run dev',
      command: 'npm',
      args: ['run', 'dev', '--', '--port', String(port)],
      cwd: project,
      env: childEnv(scratch()),
      port,
    }),
  );
}, 2 * PAGE_TIMEOUT_MS);

afterAll(async () => {
  await server?.stop();
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => console.error(`--- npm run dev output ---\n${server?.output ?? ''}`));
});

/** Checks a page's output beyond the statuses, where the page promises something visible. */
const PROMISES: Record<string, (output: string, serverOutput: string) => void> = {
  'docs/sessions.md': (_output, serverOutput) => {
    // The cron trigger, fired through /cdn-cgi/local/scheduled without --test-scheduled.
    expect(serverOutput).toMatch(/\{"type":"cleanup","deleted_sessions":\d+/);
  },
  'docs/native-and-server-clients.md': (output) => {
    expect(output).toContain('Signed in as alice (admin) with password');
    expect(output).toContain('Signed in as alice (admin) with restored session');
    expect(output).toContain('Logged out');
  },
};

describe('the documentation, run as written against npm run dev', () => {
  const order = readingOrder();

  it('runs no block of a page missing from the README', () => {
    const pagesWithBlocks = [...new Set(blocks.filter((block) => block.marker === 'runs').map((block) => block.page))];
    expect(pagesWithBlocks.filter((file) => !order.includes(file))).toEqual([]);
  });

  for (const file of order) {
    const pageBlocks = blocks.filter((block) => block.page === file && block.marker === 'runs');
    if (pageBlocks.length === 0) continue;

    it(
      `${file}: every block runs, and every curl answers as the page says`,
      async () => {
        const port = Number(new URL(server!.baseUrl).port);
        const { text, origin } = script(pageBlocks, port);
        const name = file.replaceAll('/', '_');
        const scriptFile = path.join(scratch(), `${name}.sh`);
        const calls = path.join(scratch(), `${name}.calls`);
        await writeFile(scriptFile, text);
        await rm(calls, { force: true });

        const env = childEnv(scratch());
        const result = await run('bash', [scriptFile], {
          cwd: project,
          env: { ...env, DOCS_RUN_CALLS: calls, EDGE_AUTH_URL: server!.baseUrl },
          timeoutMs: PAGE_TIMEOUT_MS,
        });
        const where = (line: number) => {
          const at = origin.get(line);
          return at ? `${at.block.page}:${at.block.firstLine + at.index}: ${at.block.code[at.index]}` : `line ${line}`;
        };
        const recorded = (await readFile(calls, 'utf8').catch(() => ''))
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((entry) => entry.split(' ').map(Number) as [number, number]);
        const wrong = recorded.flatMap(([line, status]) => {
          const at = origin.get(line);
          if (!at) return [`a curl outside the page's code (script line ${line}) answered ${status}`];
          const { allowed, wording } = expected(at.block, at.index);
          return allowed(status) ? [] : [`${where(line)}\n  answered ${status || 'nothing'}, expected ${wording}`];
        });
        const failedAt = /docs-run: failed at script line (\d+)/.exec(result.output);
        expect(
          result.code,
          [
            failedAt ? `failed at ${where(Number(failedAt[1]))}` : `bash exited ${result.code}`,
            ...wrong,
            `output:\n${result.output}`,
          ].join('\n'),
        ).toBe(0);
        if (pageBlocks.some((block) => block.code.some((line) => /\bcurl\b/.test(line)))) {
          expect(recorded.length, 'no curl was recorded: the wrapper is broken').toBeGreaterThan(0);
        }
        expect(wrong, `output:\n${result.output}`).toEqual([]);
        PROMISES[file]?.(result.output, server!.output);
      },
      PAGE_TIMEOUT_MS + 60_000,
    );
  }
});
