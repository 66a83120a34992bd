#!/usr/bin/env node
// `npm run bench:import`: times `npm run users:import` of a large Flask app into a fresh
// local D1 (a benchmark, not a test: run it on an otherwise idle machine).
//
// Builds a Flask-SQLAlchemy SQLite file of BENCH_USERS users (default 100,000) holding the
// werkzeug and bcrypt hashes of test/fixtures/legacy-hash-vectors.json, plus BENCH_PLAINTEXT
// plaintext users (default 1,000: each costs one PBKDF2 at import), applies the migrations,
// and times the import, then a second run (which must change nothing).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const PLAINTEXT = Number(process.env.BENCH_PLAINTEXT ?? 1_000);
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' };
const state = mkdtempSync(join(tmpdir(), 'edge-auth-bench-import-'));
process.on('exit', () => rmSync(state, { recursive: true, force: true }));

function run(command, args) {
  const start = performance.now();
  const result = spawnSync(command, args, { cwd: ROOT, env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.stderr}${result.stdout}`);
  return { seconds: (performance.now() - start) / 1000, output: result.stdout.trim() };
}

const { vectors } = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/legacy-hash-vectors.json'), 'utf8'));
const hashes = ['pbkdf2:sha256:600000$', 'pbkdf2:sha256:1000000$', 'scrypt:32768:8:1$', '$2b$12$'].map(
  (prefix) => vectors.find((v) => v.hash.startsWith(prefix)).hash,
);
const file = join(state, 'app.db');
const db = new DatabaseSync(file);
db.exec(
  'CREATE TABLE user (id INTEGER PRIMARY KEY, username TEXT UNIQUE NOT NULL, password_hash TEXT NOT NULL, role TEXT)',
);
const insert = db.prepare('INSERT INTO user (username, password_hash, role) VALUES (?, ?, ?)');
db.exec('BEGIN');
for (let i = 0; i < USERS; i++) insert.run(`user_${i}`, hashes[i % hashes.length], i % 1000 === 0 ? 'admin' : null);
for (let i = 0; i < PLAINTEXT; i++) insert.run(`plain_${i}`, `plaintext password ${i}`, null);
db.exec('COMMIT');
db.close();

run('wrangler', ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', state]);
const args = ['scripts/import-users.mjs', file, '--local', '--persist-to', state];
const first = run('node', args);
console.log(first.output);
console.log(`first import: ${USERS + PLAINTEXT} rows (${PLAINTEXT} plaintext) in ${first.seconds.toFixed(1)} s`);
const second = run('node', args);
console.log(second.output);
console.log(`second import (changes nothing): ${second.seconds.toFixed(1)} s`);
