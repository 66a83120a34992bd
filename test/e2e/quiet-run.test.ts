/**
 * A passing `npm test` prints nothing a newcomer would take for a failure. Runs the workers
 * tests that used to make noise (every file: vitest's `node:inspector` lookup; the oversized
 * streamed body: workerd's "disconnected" lines; the error and cleanup logs) in a child vitest
 * and reads its output.
 */
import { describe, expect, it } from 'vitest';
import { childEnv, ROOT, run, useScratchDir } from './support';

const scratch = useScratchDir('quiet');

// eslint-disable-next-line no-control-regex
const stripAnsi = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '');

const NOISE: [string, RegExp][] = [
  ['the vitest plugin warning about node:inspector', /\[vitest-plugin\]/],
  ["workerd's module fallback failure", /Fallback service failed/],
  ["workerd's pipe exceptions", /^exception = .*disconnected/m],
  ['a test printing to stderr', /^stderr \|/m],
  ['a test printing to stdout', /^stdout \|/m],
];

describe('a passing test run', () => {
  it('prints no warnings, exceptions or log lines', async () => {
    const result = await run(
      'vitest',
      [
        'run',
        '--project',
        'workers',
        'test/meta.test.ts',
        'test/fuzz.test.ts',
        'test/sessions.test.ts',
        '-t',
        'streamed body|GET /health|misconfigured|scheduled handler',
      ],
      { cwd: ROOT, env: childEnv(scratch()), timeoutMs: 90_000 },
    );
    const output = stripAnsi(result.output);
    expect(result.code, output).toBe(0);
    // The tests above really ran: a filter that matched nothing would be quiet too.
    const passed = Number(/Tests\s+(\d+) passed/.exec(output)?.[1] ?? 0);
    expect(passed, output).toBeGreaterThanOrEqual(5);
    for (const [label, pattern] of NOISE) expect(output, label).not.toMatch(pattern);
  }, 120_000);
});
