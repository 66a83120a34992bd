/**
 * A passing `npm test` prints nothing a newcomer would take for a failure, and no line twice.
 * Runs the workers tests that used to make noise (every file: vitest's `node:inspector` lookup,
 * and wrangler's "Using secrets defined in .dev.vars" once per file when a developer has one; the
 * oversized streamed body: workerd's "disconnected" lines; the error and cleanup logs; the slow
 * tests of suites that share a name, which the reporter lists) in a child
 * vitest, in a copy of the project that has a .dev.vars as `npm run dev` leaves one, and reads
 * its output.
 */
import { cp, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { childEnv, ROOT, run, useScratchDir } from './support';

const scratch = useScratchDir('quiet');
// What the child vitest needs; node_modules is linked, not copied.
const COPIED = ['src', 'test', 'migrations', 'scripts', 'app', 'client', 'workers'];
const COPIED_FILES = ['wrangler.toml', 'vitest.config.ts', 'package.json', 'tsconfig.json'];

// eslint-disable-next-line no-control-regex
const stripAnsi = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '');

const NOISE: [string, RegExp][] = [
  ['the vitest plugin warning about node:inspector', /\[vitest-plugin\]/],
  ["workerd's module fallback failure", /Fallback service failed/],
  ["workerd's pipe exceptions", /^exception = .*disconnected/m],
  ['a test printing to stderr', /^stderr \|/m],
  ['a test printing to stdout', /^stdout \|/m],
  ["wrangler's note about .dev.vars", /Using secrets defined in/],
  ["workerd's warning about .text() on a form body", /Called \.text\(\) on an HTTP body/],
];

let project = '';
beforeAll(async () => {
  project = path.join(scratch(), 'project');
  for (const entry of [...COPIED, ...COPIED_FILES]) {
    await cp(path.join(ROOT, entry), path.join(project, entry), { recursive: true });
  }
  await symlink(path.join(ROOT, 'node_modules'), path.join(project, 'node_modules'), 'dir');
  // As `npm run dev` writes it: the tests must neither read it nor mention it.
  await writeFile(path.join(project, '.dev.vars'), `JWT_SECRET=${'d'.repeat(43)}\n`, { mode: 0o600 });
});

describe('a passing test run', () => {
  it('prints no warnings, exceptions or log lines, and no line twice', async () => {
    const result = await run(
      'vitest',
      [
        'run',
        '--project',
        'workers',
        'test/meta.test.ts',
        'test/fuzz.test.ts',
        'test/sessions.test.ts',
        'test/request-body.test.ts',
        'test/oauth-authorize.test.ts',
        '-t',
        // The last two: suites of one name ("in cookie mode") under two parents, with slow tests.
        'streamed body|GET /health|misconfigured|scheduled handler|as a form post too|sent (no body|only whitespace) and no Content-Type > in cookie mode',
      ],
      // PWD as a shell that changed into the copy would set it (wrangler checks it against cwd).
      { cwd: project, env: { ...childEnv(scratch()), PWD: project }, timeoutMs: 150_000 },
    );
    const output = stripAnsi(result.output);
    expect(result.code, output).toBe(0);
    // The tests above really ran: a filter that matched nothing would be quiet too.
    const passed = Number(/Tests\s+(\d+) passed/.exec(output)?.[1] ?? 0);
    expect(passed, output).toBeGreaterThanOrEqual(10);
    for (const [label, pattern] of NOISE) expect(output, label).not.toMatch(pattern);
    const lines = output
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    expect(
      lines.filter((line, i) => lines.indexOf(line) !== i),
      output,
    ).toEqual([]);
  }, 180_000);
});
