// Seeds users straight into a stopped instance's local D1 file (one SQLite transaction, a
// recursive CTE), so a million users take seconds rather than an import's minutes.
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export const BENCH_PASSWORD = 'bench-Password-2026!x';

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

/** One real `$pbkdf2-sha256$` hash of BENCH_PASSWORD (src/credentials/password.ts's format, no pepper), shared by every seeded user. */
export function benchPasswordHash(iterations = 100_000) {
  const salt = randomBytes(16);
  const hash = pbkdf2Sync(Buffer.from(BENCH_PASSWORD.normalize('NFKC')), salt, iterations, 32, 'sha256');
  return `$pbkdf2-sha256$i=${iterations}$${b64url(salt)}$${b64url(hash)}`;
}

/** The SQLite file of the one D1 database under a `v3/d1` persistence directory. */
export function d1File(d1Dir) {
  const objects = join(d1Dir, 'miniflare-D1DatabaseObject');
  const files = readdirSync(objects).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite');
  if (files.length !== 1) throw new Error(`expected one D1 database in ${objects}, found ${files.length}`);
  return join(objects, files[0]);
}

let sqlite;
async function openDatabase(file) {
  // node:sqlite still prints an ExperimentalWarning on Node 22; it is expected here.
  const warn = process.emitWarning;
  process.emitWarning = (w, ...rest) => (String(w).includes('SQLite') ? undefined : warn.call(process, w, ...rest));
  sqlite ??= await import('node:sqlite');
  process.emitWarning = warn;
  return new sqlite.DatabaseSync(file);
}

/**
 * Inserts `count` users `seed0000001`... plus the named ones (e.g. an admin), all with `hash`.
 * Ids are `seed-<n>` (text, like the service's UUIDs), created_at increasing.
 */
export async function seedUsers(d1Dir, { count, hash, named = [] }) {
  const db = await openDatabase(d1File(d1Dir));
  const now = Date.now();
  try {
    db.exec('BEGIN');
    db.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
       INSERT INTO users (id, username, username_key, password_hash, role, token_version, created_at, updated_at)
       SELECT printf('seed-%08d', i), printf('seed%07d', i), printf('seed%07d', i), ?, 'user', 0, ? - ? + i, ? - ? + i FROM n`,
    ).run(count, hash, now, count, now, count);
    const insert = db.prepare(
      `INSERT INTO users (id, username, username_key, password_hash, role, token_version, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, 0, ?, ?)`,
    );
    for (const { username, role = 'user' } of named) {
      insert.run(`bench-${username}`, username, username.toLowerCase(), hash, role, now, now);
    }
    db.exec('COMMIT');
  } finally {
    db.close();
  }
}

/** Stores `passkey` (bench/lib/passkey.mjs) for the user `userId`, as a registration would. */
export async function seedPasskey(d1Dir, userId, passkey) {
  const db = await openDatabase(d1File(d1Dir));
  try {
    db.prepare(
      `INSERT INTO passkeys (id, user_id, public_key, algorithm, name, created_at) VALUES (?, ?, ?, ?, 'bench', ?)`,
    ).run(passkey.id, userId, passkey.publicKey, passkey.algorithm, Date.now());
  } finally {
    db.close();
  }
}
