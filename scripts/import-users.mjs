#!/usr/bin/env node
// `npm run users:import -- <file> --local|--remote [--persist-to <dir>] [--table user] [--dry-run]`
//
// Moves the users of a Flask app into the service without a password reset.
//
//   npm run users:import -- instance/app.db --local --dry-run   # report only, write nothing
//   npm run users:import -- instance/app.db --remote            # the deployed database
//   npm run users:import -- users.csv --local --persist-to ./state
//   npm run users:import -- app.db --local --table accounts     # another table than `user`
//
// <file> is a Flask-SQLAlchemy SQLite database (table `user`, or --table: columns `username`,
// `password_hash` or `password`, optional `role`) or a CSV file with the header
// `username,password[,role]`. For every row:
//   - the username is NFKC-normalised and checked by the registration rule (src/http/schemas.ts);
//     a row that fails is reported and skipped, never altered;
//   - a name already in the file or in D1 (case-insensitively) is reported and skipped, so
//     running the import again changes nothing;
//   - role `admin` stays admin, anything else becomes `user`;
//   - a werkzeug pbkdf2/scrypt or bcrypt hash is stored as it is, and replaced by the
//     service's own at the user's first login (src/credentials/legacy-hashes.ts);
//   - anything else that looks like a hash (another scheme, a damaged or out-of-bounds one)
//     is reported and skipped: taking it for a password would make the hash the password;
//   - the rest is a plaintext password, hashed here into the service's PBKDF2 format. With
//     PASSWORD_PEPPER in this command's environment (the Worker secret's value) the hash is
//     peppered; without it, it is not, and the first login adds the pepper.
// Writes go through `wrangler d1 execute --file` in batches, one wrangler run per batch.
// Every insert is `ON CONFLICT DO NOTHING`, so an interrupted import can simply be re-run.
//
// Exit status: 0 done (skipped rows are reported, not errors); 1 the file could not be read
// or wrangler failed; 2 usage error.
import './lib/ts-hooks.mjs';
import { d1Command } from './lib/d1-command.mjs';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';

// The service's own rules and formats, not copies (see lib/ts-hooks.mjs).
const { passwordSchema, usernameSchema } = await import('../src/http/schemas.ts');
const { hashPassword } = await import('../src/credentials/password.ts');
const { looksLikeLegacyHash, parseLegacyHash, verifiesOnWebCrypto } =
  await import('../src/credentials/legacy-hashes.ts');
const { MAX_PBKDF2_ITERATIONS } = await import('../src/platform/config.ts');

const USAGE = 'usage: npm run users:import -- <file> --local|--remote [--persist-to <dir>] [--table user] [--dry-run]';
/** Rows per `wrangler d1 execute` run, and per INSERT (D1 takes statements up to 100 KB). */
const ROWS_PER_BATCH = 10_000;
const ROWS_PER_INSERT = 100;

const { values, positionals, where, usageError, fail, execute } = d1Command({
  name: 'users:import',
  usage: USAGE,
  options: { table: { type: 'string', default: 'user' }, 'dry-run': { type: 'boolean' } },
});
if (positionals.length !== 1) usageError('pass exactly one file');
const file = positionals[0];
if (!existsSync(file)) usageError(`${file}: no such file`);

// The pepper and iteration count the Worker uses, when the operator provides them here.
const pepper = process.env.PASSWORD_PEPPER || undefined;
if (pepper !== undefined && new TextEncoder().encode(pepper).length < 32) {
  usageError('PASSWORD_PEPPER must be at least 32 bytes, as the Worker requires');
}
const iterations = Number(process.env.PBKDF2_ITERATIONS ?? MAX_PBKDF2_ITERATIONS);
if (!Number.isInteger(iterations) || iterations < 10_000 || iterations > MAX_PBKDF2_ITERATIONS) {
  usageError(`PBKDF2_ITERATIONS must be an integer from 10000 to ${MAX_PBKDF2_ITERATIONS}`);
}

// ---- Reading the rows ---------------------------------------------------------------------

/** @typedef {{ at: string, username: unknown, password: unknown, role: unknown }} Row */

/** Flask-Bcrypt returns bytes; stored without `.decode()`, SQLite holds them as a BLOB. */
function text(value) {
  if (!(value instanceof Uint8Array)) return value;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(value);
  } catch {
    return undefined;
  }
}

/** @returns {Promise<Row[]>} */
async function readSqlite(file, table) {
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const found = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?").get(table);
    if (!found) fail(`${file}: no table "${table}" (use --table)`);
    const quoted = `"${table.replaceAll('"', '""')}"`;
    const columns = db
      .prepare(`PRAGMA table_info(${quoted})`)
      .all()
      .map((c) => String(c.name));
    // Flask-SQLAlchemy tutorials call it password_hash, or password when it held plaintext.
    const passwordColumn = ['password_hash', 'password'].find((c) => columns.includes(c));
    if (!columns.includes('username') || !passwordColumn) {
      fail(`${file}: table "${table}" needs columns username and password_hash or password`);
    }
    const role = columns.includes('role') ? 'role' : 'NULL';
    const rows = db
      .prepare(`SELECT rowid AS r, username, "${passwordColumn}" AS password, ${role} AS role FROM ${quoted}`)
      .all();
    return rows.map((r) => ({ at: `row ${r.r}`, username: r.username, password: text(r.password), role: r.role }));
  } finally {
    db.close();
  }
}

/** @returns {Promise<Row[]>} */
async function readCsv(file) {
  const { parse } = await import('csv-parse/sync');
  let records;
  try {
    records = parse(readFileSync(file), { bom: true, columns: true, skip_empty_lines: true, info: true });
  } catch (err) {
    fail(`${file}: not a valid CSV file: ${err instanceof Error ? err.message : String(err)}`);
  }
  const header = records.length > 0 ? Object.keys(records[0].record) : [];
  if (records.length > 0 && (!header.includes('username') || !header.includes('password'))) {
    fail(`${file}: the header must be username,password[,role]`);
  }
  return records.map(({ record, info }) => ({
    at: `line ${info.lines}`,
    username: record.username,
    password: record.password,
    role: record.role,
  }));
}

const isSqlite = readFileSync(file).subarray(0, 16).toString('latin1') === 'SQLite format 3\0';
const rows = isSqlite ? await readSqlite(file, values.table) : await readCsv(file);

// ---- D1 through wrangler ------------------------------------------------------------------

/** Large files (10,000 users each) may take a while on --remote. */
const d1 = (input) => execute(input, { timeoutMs: 600_000 });

const existingKeys = () =>
  new Set(d1({ command: 'SELECT username_key FROM users' })[0].results.map((r) => r.username_key));

// ---- Deciding each row ----------------------------------------------------------------------

/** Any other scheme: modular crypt `$id$…` (argon2, sha512-crypt, ours) or werkzeug `method$salt$hash`. */
const OTHER_HASH = /^\$[A-Za-z0-9-]+\$|^[a-z0-9_-]+(:[^$]*)?\$[^$]*\$[^$]+$/;

const skipped = new Map();
function skip(row, reason, detail = '') {
  skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
  const who = typeof row.username === 'string' ? ` (${JSON.stringify(row.username.slice(0, 40))})` : '';
  console.error(`users:import: ${row.at}${who} skipped: ${reason}${detail ? `: ${detail}` : ''}`);
}

const inDatabase = existingKeys();
const seen = new Map();
/** @type {{ username: string, key: string, role: string, hash?: string, plaintext?: string }[]} */
const accepted = [];
const kept = new Map();
/** Rows whose hash only the companion Worker (workers/legacy-hashes) can check. */
let needCompanion = 0;

for (const row of rows) {
  if (typeof row.username !== 'string') {
    skip(row, 'invalid_username', 'not a text value');
    continue;
  }
  const name = usernameSchema.safeParse(row.username);
  if (!name.success) {
    skip(row, 'invalid_username', name.error.issues.map((i) => i.message).join('; '));
    continue;
  }
  const username = name.data;
  const key = username.toLowerCase();
  if (seen.has(key)) {
    skip(row, 'duplicate_in_file', `same name as ${seen.get(key)}`);
    continue;
  }
  seen.set(key, row.at);
  if (inDatabase.has(key)) {
    skip(row, 'already_in_database');
    continue;
  }
  const password = row.password;
  if (typeof password !== 'string' || password === '') {
    skip(row, 'missing_password');
    continue;
  }
  const role = typeof row.role === 'string' && row.role.trim().toLowerCase() === 'admin' ? 'admin' : 'user';
  const legacy = parseLegacyHash(password);
  if (legacy) {
    kept.set(legacy.kind, (kept.get(legacy.kind) ?? 0) + 1);
    if (!verifiesOnWebCrypto(legacy)) needCompanion += 1;
    accepted.push({ username, key, role, hash: password });
  } else if (looksLikeLegacyHash(password) || OTHER_HASH.test(password)) {
    // The parameters of a werkzeug or bcrypt string are not secret; anything else might be
    // a password that merely looks like a hash, so none of it is printed.
    const method = password.startsWith('$') ? password.split('$', 3).join('$') : password.split('$', 1)[0];
    const detail = looksLikeLegacyHash(password)
      ? `malformed or out of bounds: ${method.slice(0, 60)}`
      : 'unrecognised';
    skip(row, 'unsupported_hash', detail);
  } else if (!passwordSchema.safeParse(password).success) {
    // Longer than login accepts: the user could never sign in with it.
    skip(row, 'password_too_long');
  } else {
    accepted.push({ username, key, role, plaintext: password });
  }
}

// Plaintext: one PBKDF2 each, at the Worker's parameters. Node runs WebCrypto's PBKDF2 on its
// thread pool, so a few at a time use every core.
const plaintext = accepted.filter((u) => u.plaintext !== undefined);
for (let i = 0; i < plaintext.length;) {
  const chunk = plaintext.slice(i, (i += availableParallelism() * 2));
  await Promise.all(
    chunk.map(async (u) => {
      u.hash = await hashPassword(u.plaintext, { iterations, pepper });
      delete u.plaintext;
    }),
  );
}

// ---- Writing --------------------------------------------------------------------------------

// Only validated values reach the SQL: usernames passed the ASCII-only rule, the role is one of
// two words, ids are UUIDs; hashes are quoted with '' doubled, as SQLite requires.
const quote = (s) => `'${s.replaceAll("'", "''")}'`;
const now = Date.now();

if (!values['dry-run'] && accepted.length > 0) {
  const scratch = mkdtempSync(path.join(tmpdir(), 'edge-auth-import-'));
  try {
    for (let b = 0; b < accepted.length; b += ROWS_PER_BATCH) {
      const batch = accepted.slice(b, b + ROWS_PER_BATCH);
      const statements = [];
      for (let i = 0; i < batch.length; i += ROWS_PER_INSERT) {
        const tuples = batch
          .slice(i, i + ROWS_PER_INSERT)
          .map((u) =>
            [crypto.randomUUID(), u.username, u.key, u.hash, u.role, now, now]
              .map((v) => (typeof v === 'number' ? String(v) : quote(v)))
              .join(', '),
          );
        statements.push(
          'INSERT INTO users (id, username, username_key, password_hash, role, created_at, updated_at) VALUES\n' +
            `(${tuples.join('),\n(')})\nON CONFLICT (username_key) DO NOTHING;`,
        );
      }
      const sqlFile = path.join(scratch, `batch-${b / ROWS_PER_BATCH}.sql`);
      writeFileSync(sqlFile, `${statements.join('\n')}\n`);
      d1({ file: sqlFile });
      if (accepted.length > ROWS_PER_BATCH) {
        console.error(`users:import: ${b + batch.length} of ${accepted.length} written`);
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  // Every row of this run has created_at = now. Fewer than sent: a name was registered
  // between the read above and the inserts, and kept its owner (DO NOTHING).
  const [{ results }] = d1({ command: `SELECT count(*) AS n FROM users WHERE created_at = ${now}` });
  const landed = Number(results[0]?.n ?? 0);
  if (landed !== accepted.length) {
    fail(`${accepted.length - landed} of ${accepted.length} rows were not written; run the import again to see why`);
  }
}

const count = (map) => [...map].map(([k, n]) => `${n} ${k}`).join(', ');
const skippedTotal = [...skipped.values()].reduce((a, b) => a + b, 0);
console.log(
  `users:import: ${values['dry-run'] ? 'dry run, nothing written: would import' : 'imported'} ` +
    `${accepted.length} of ${rows.length} into the ${where} database ` +
    `(${plaintext.length} plaintext hashed${kept.size ? `; legacy hashes kept: ${count(kept)}` : ''}); ` +
    `skipped ${skippedTotal}${skipped.size ? ` (${count(skipped)})` : ''}`,
);
if (needCompanion > 0) {
  const enabled = /^\s*binding\s*=\s*"LEGACY_HASHES"/m.test(
    readFileSync(new URL('../wrangler.toml', import.meta.url), 'utf8'),
  );
  const how =
    where === 'local'
      ? 'run `npm run dev:legacy-hashes` instead of `npm run dev`'
      : enabled
        ? 'make sure it is deployed (`npm run deploy:legacy-hashes`); its binding is on in wrangler.toml'
        : 'deploy it with `npm run deploy:legacy-hashes`, then uncomment the LEGACY_HASHES [[services]] block ' +
          'at the end of wrangler.toml and run `npm run deploy`';
  console.log(
    `users:import: ${needCompanion} imported ${needCompanion === 1 ? 'user needs' : 'users need'} the companion ` +
      'Worker to log in (werkzeug scrypt, PBKDF2 above 100,000 iterations or with a hash WebCrypto lacks, bcrypt); ' +
      `until it runs, their logins get 503 legacy_hash_unavailable. To enable it, ${how} (docs/flask.md).`,
  );
}
