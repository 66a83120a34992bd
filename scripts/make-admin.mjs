#!/usr/bin/env node
// `npm run admin:promote -- <username> --local|--remote [--persist-to <dir>] [--role admin|user]`
//
// Makes the first admin. Deliberately not an HTTP route: whoever can run this already holds
// the wrangler credentials for the D1 database, so it adds no new way in. Later admins can
// be made over PATCH /admin/users/{id} by an existing admin.
//
//   npm run admin:promote -- alice --local                      # the `npm run dev` database
//   npm run admin:promote -- alice --local --persist-to ./state # a `wrangler dev --persist-to` one
//   npm run admin:promote -- alice --remote                     # the deployed database
//   npm run admin:promote -- alice --local --role user          # demote again
//   npm run admin:promote -- --local -- -alice                  # names starting with "-" go after `--`
//
// The change applies to the user's very next request, existing access tokens included: the
// service re-reads the role from D1 on every protected request.
//
// Exit status: 0 one user changed; 1 no such user, or wrangler failed; 2 usage error.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const USAGE = 'usage: npm run admin:promote -- <username> --local|--remote [--persist-to <dir>] [--role admin|user]';
const ROLES = ['admin', 'user'];
// The service's own rule (src/schemas.ts usernameSchema). ASCII-only, so a name that passes
// cannot carry a quote or anything else SQL would interpret.
const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;

/** @param {string} message @returns {never} */
function usageError(message) {
  console.error(`admin:promote: ${message}\n${USAGE}`);
  process.exit(2);
}

/** @param {string} message @returns {never} */
function fail(message) {
  console.error(`admin:promote: ${message}`);
  process.exit(1);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      local: { type: 'boolean' },
      remote: { type: 'boolean' },
      'persist-to': { type: 'string' },
      role: { type: 'string', default: 'admin' },
      help: { type: 'boolean', short: 'h' },
    },
  });
} catch (err) {
  usageError(err instanceof Error ? err.message : String(err));
}
const { values, positionals } = parsed;

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
// Neither is a default on purpose: promoting in the wrong database by accident is worse
// than typing one more flag.
if (values.local === values.remote) usageError('pass exactly one of --local or --remote');
if (values['persist-to'] !== undefined && !values.local) usageError('--persist-to only applies with --local');
// wrangler would silently create a fresh, empty state in a mistyped directory.
if (values['persist-to'] !== undefined && !existsSync(values['persist-to'])) {
  usageError(`--persist-to ${values['persist-to']}: no such directory`);
}
if (!ROLES.includes(values.role)) usageError(`--role must be one of: ${ROLES.join(', ')}`);
if (positionals.length !== 1) usageError('pass exactly one username');

// Same normalization and key as src/services/users.ts, so `Alice` and `ａｌｉｃｅ` find `alice`.
const username = positionals[0].normalize('NFKC');
if (!USERNAME.test(username)) {
  usageError('a username is 3-32 characters from A-Z a-z 0-9 _ . - (after NFKC normalization)');
}
const key = username.toLowerCase();
const role = values.role;
const where = values.local ? 'local' : 'remote';

// Only validated values are interpolated: `key` passed USERNAME, `role` is one of ROLES, the
// time is an integer. wrangler's --command takes no bound parameters, hence the validation.
// RETURNING, because local `--json` output has no meta.changes: the returned rows are the count.
const sql =
  `UPDATE users SET role = '${role}', updated_at = ${Date.now()} ` +
  `WHERE username_key = '${key}' RETURNING id, username, role`;

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = path.join(root, 'node_modules', '.bin');
const args = ['d1', 'execute', 'DB', values.local ? '--local' : '--remote'];
// Relative to where the operator ran the command, not to the repo root wrangler runs in.
if (values['persist-to'] !== undefined) args.push('--persist-to', path.resolve(values['persist-to']));
args.push('--json', '--command', sql);

const result = spawnSync('wrangler', args, {
  // The repo root, so wrangler finds wrangler.toml wherever this is run from.
  cwd: root,
  encoding: 'utf8',
  // A remote call may be slow, but must not hang a script or a test forever.
  timeout: 120_000,
  env: {
    ...process.env,
    // The repo's Node 22 (wrangler needs >= 22.12) and wrangler, even when run with plain `node`.
    PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`,
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    WRANGLER_SEND_METRICS: 'false',
  },
});
if (result.error) fail(`could not run wrangler: ${result.error.message}`);

/** `--json` prints a JSON array of results, or an object with `error` when the query failed. */
function parseOutput(stdout) {
  try {
    return JSON.parse(stdout);
  } catch {
    return undefined;
  }
}
const output = parseOutput(result.stdout);
if (result.status !== 0 || !Array.isArray(output)) {
  const detail = output?.error?.text ?? (result.stderr || result.stdout).trim();
  const hint = /no such table/.test(detail) ? ` (migrations not applied? npm run db:migrate:${where})` : '';
  fail(`wrangler d1 execute failed (exit ${result.status ?? result.signal}): ${detail}${hint}`);
}

const { results = [], meta = {} } = output[0] ?? {};
const changes = typeof meta.changes === 'number' ? meta.changes : results.length;
if (changes === 0) fail(`no user named "${username}" in the ${where} database (register first)`);

const user = results[0];
console.log(
  `admin:promote: ${user?.username ?? username} (${user?.id ?? 'id unknown'}) now has role "${role}" ` +
    `in the ${where} database; it applies from the user's next request.`,
);
