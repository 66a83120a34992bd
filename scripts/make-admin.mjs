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
import { d1Command } from './lib/d1-command.mjs';

const USAGE = 'usage: npm run admin:promote -- <username> --local|--remote [--persist-to <dir>] [--role admin|user]';
const ROLES = ['admin', 'user'];
// The service's own rule (src/http/schemas.ts usernameSchema). ASCII-only, so a name that passes
// cannot carry a quote or anything else SQL would interpret.
const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;

const { values, positionals, where, usageError, fail, execute } = d1Command({
  name: 'admin:promote',
  usage: USAGE,
  options: { role: { type: 'string', default: 'admin' } },
});
if (!ROLES.includes(values.role)) usageError(`--role must be one of: ${ROLES.join(', ')}`);
if (positionals.length !== 1) usageError('pass exactly one username');

// Same normalization and key as src/accounts/users.ts, so `Alice` and `ａｌｉｃｅ` find `alice`.
const username = positionals[0].normalize('NFKC');
if (!USERNAME.test(username)) {
  usageError('a username is 3-32 characters from A-Z a-z 0-9 _ . - (after NFKC normalization)');
}
const key = username.toLowerCase();
const role = values.role;

// Only validated values are interpolated: `key` passed USERNAME, `role` is one of ROLES, the
// time is an integer. wrangler's --command takes no bound parameters, hence the validation.
// RETURNING, because local `--json` output has no meta.changes: the returned rows are the count.
const sql =
  `UPDATE users SET role = '${role}', updated_at = ${Date.now()} ` +
  `WHERE username_key = '${key}' RETURNING id, username, role`;

const output = execute({ command: sql });

const { results = [], meta = {} } = output[0] ?? {};
const changes = typeof meta.changes === 'number' ? meta.changes : results.length;
if (changes === 0) fail(`no user named "${username}" in the ${where} database (register first)`);

const user = results[0];
console.log(
  `admin:promote: ${user?.username ?? username} (${user?.id ?? 'id unknown'}) now has role "${role}" ` +
    `in the ${where} database; it applies from the user's next request.`,
);
