// What the scripts that write into the service's D1 share (admin:promote, users:import): the
// `--local|--remote [--persist-to <dir>]` target, usage errors (exit 2) and failures (exit 1)
// under the script's name, and `wrangler d1 execute --json` run from the repo root.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = path.join(root, 'node_modules', '.bin');

/**
 * Parses the command line (the target options plus `options`) and checks the target.
 * @param {{ name: string, usage: string, options?: import('node:util').ParseArgsConfig['options'] }} spec
 */
export function d1Command({ name, usage, options = {} }) {
  /** @param {string} message @returns {never} */
  const usageError = (message) => {
    console.error(`${name}: ${message}\n${usage}`);
    process.exit(2);
  };
  /** @param {string} message @returns {never} */
  const fail = (message) => {
    console.error(`${name}: ${message}`);
    process.exit(1);
  };

  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        local: { type: 'boolean' },
        remote: { type: 'boolean' },
        'persist-to': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        ...options,
      },
    });
  } catch (err) {
    usageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  // Neither is a default on purpose: writing to the wrong database by accident is worse than
  // typing one more flag.
  if (values.local === values.remote) usageError('pass exactly one of --local or --remote');
  if (values['persist-to'] !== undefined && !values.local) usageError('--persist-to only applies with --local');
  // wrangler would silently create a fresh, empty state in a mistyped directory.
  if (values['persist-to'] !== undefined && !existsSync(values['persist-to'])) {
    usageError(`--persist-to ${values['persist-to']}: no such directory`);
  }
  const where = values.local ? 'local' : 'remote';

  /** One `wrangler d1 execute` run, from the repo root. */
  function runWrangler(args, timeoutMs) {
    return spawnSync('wrangler', args, {
      // The repo root, so wrangler finds wrangler.toml wherever this is run from.
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 512 * 1024 * 1024,
      timeout: timeoutMs,
      env: {
        ...process.env,
        // The repo's Node 22 (wrangler needs >= 22.12) and wrangler, even when run with plain `node`.
        PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`,
        CLOUDFLARE_CF_FETCH_ENABLED: 'false',
        WRANGLER_SEND_METRICS: 'false',
      },
    });
  }

  /** Whether wrangler answered that another process holds the local database's write lock. */
  const isLocked = (result) => /SQLITE_BUSY|database is locked/.test(`${result.stdout ?? ''}${result.stderr ?? ''}`);

  /**
   * Runs `wrangler d1 execute` with `--command` or `--file` and returns its parsed `--json`
   * output (an array of results); a failure ends the script with exit status 1.
   * @param {{ command?: string, file?: string }} input
   * @param {{ timeoutMs?: number }} [limits] a remote call may be slow, but must not hang forever
   */
  function execute(input, { timeoutMs = 120_000 } = {}) {
    const args = ['d1', 'execute', 'DB', values.local ? '--local' : '--remote'];
    // Relative to where the operator ran the command, not to the repo root wrangler runs in.
    if (values['persist-to'] !== undefined) args.push('--persist-to', path.resolve(values['persist-to']));
    if (values.remote) args.push('--yes');
    args.push('--json', ...(input.file ? ['--file', input.file] : ['--command', input.command]));
    let result = runWrangler(args, timeoutMs);
    // A local database is a SQLite file that another process may be writing at that moment:
    // `wrangler dev` (its startup, or a request), or a second script. SQLite then refuses at
    // once rather than wait. Every statement these scripts send is idempotent (INSERT … ON
    // CONFLICT DO NOTHING, UPDATE … SET), and a refused run wrote nothing, so it is run again,
    // waiting up to about 15 s in all.
    for (let waitMs = 250; values.local && isLocked(result) && waitMs <= 8_000; waitMs *= 2) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, waitMs);
      result = runWrangler(args, timeoutMs);
    }
    if (result.error) fail(`could not run wrangler: ${result.error.message}`);
    // `--json` prints a JSON array of results, or an object with `error` when the query failed.
    let output;
    try {
      output = JSON.parse(result.stdout);
    } catch {}
    if (result.status !== 0 || !Array.isArray(output)) {
      const detail = output?.error?.text ?? (result.stderr || result.stdout).trim();
      const hint = /no such table/.test(detail)
        ? ` (migrations not applied? npm run db:migrate:${where})`
        : isLocked(result)
          ? ' (another process kept the local database busy: a request to `wrangler dev`, or a second script?)'
          : '';
      fail(`wrangler d1 execute failed (exit ${result.status ?? result.signal}): ${detail}${hint}`);
    }
    return output;
  }

  return { values, positionals, where, usageError, fail, execute };
}
