/**
 * Moving users from a Flask app, end to end: a Flask-SQLAlchemy SQLite file and a CSV file
 * go through the real `scripts/import-users.mjs` (and so `wrangler d1 execute`) into the D1
 * of a running `wrangler dev`; then each imported user logs in over HTTP, and the hash
 * stored for them becomes the service's own. The hashes are the tool-made vectors of
 * test/fixtures/legacy-hash-vectors.json with werkzeug's and Flask-Bcrypt's real defaults,
 * which the workers pool runs too slowly to verify (see test/legacy-hashes.test.ts). They are
 * checked by the companion Worker (workers/legacy-hashes), started beside the service in the
 * same `wrangler dev` as `npm run dev:legacy-hashes` starts it.
 *
 * Run: npx vitest run test/e2e/import-users.test.ts
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { legacyHashesDevConfigs } from '../../scripts/lib/legacy-hashes-dev.mjs';
import {
  ROOT,
  api as apiAt,
  childEnv,
  copyMigratedD1,
  onFreePort,
  run as runCommand,
  startServer,
  useScratchDir,
  type Server,
} from './support';

const IMPORT = path.join(ROOT, 'scripts', 'import-users.mjs');
const JWT_SECRET = `e2e-${crypto.randomUUID()}-${crypto.randomUUID()}`;
const { vectors } = JSON.parse(readFileSync(path.join(ROOT, 'test/fixtures/legacy-hash-vectors.json'), 'utf8')) as {
  vectors: { hash: string; password: string; wrong_password: string }[];
};
const vector = (prefix: string) => vectors.find((v) => v.hash.startsWith(prefix))!;

/** One user of each kind a Flask app may hold, as its SQLite file has them. */
const FLASK_USERS = [
  { username: 'wz_two', role: 'user', ...vector('pbkdf2:sha256:260000$') },
  { username: 'wz_three_oh', role: 'user', ...vector('pbkdf2:sha256:600000$') },
  { username: 'wz_three_one', role: 'admin', ...vector('pbkdf2:sha256:1000000$') },
  { username: 'wz_scrypt', role: 'user', ...vector('scrypt:32768:8:1$') },
  { username: 'flask_bcrypt', role: null, ...vector('$2b$12$') },
  { username: 'tutorial', role: 'editor', hash: 'plain text password', password: 'plain text password' },
];

const scratch = useScratchDir('import');

/**
 * Runs statements on a SQLite file (a Flask app's, or the local D1's) from a child Node:
 * `node:sqlite` warns that it is experimental, and a passing test run prints nothing but test
 * names. Returns the rows of the last statement.
 */
async function sqlite(
  file: string,
  statements: { sql: string; params?: (string | null | Buffer)[] }[],
): Promise<Record<string, unknown>[]> {
  const code = `
    import { DatabaseSync } from 'node:sqlite';
    const [file, json] = process.argv.slice(1);
    const db = new DatabaseSync(file);
    db.exec('PRAGMA busy_timeout = 10000'); // wrangler dev may be writing the local D1.
    let rows = [];
    for (const { sql, params = [] } of JSON.parse(json)) {
      const statement = db.prepare(sql);
      const values = params.map((p) => (p && typeof p === 'object' ? Buffer.from(p.blob, 'base64') : p));
      rows = statement.columns().length ? statement.all(...values) : (statement.run(...values), []);
    }
    db.close();
    console.log(JSON.stringify(rows));`;
  const encoded = statements.map(({ sql, params = [] }) => ({
    sql,
    params: params.map((p) => (Buffer.isBuffer(p) ? { blob: p.toString('base64') } : p)),
  }));
  const args = [
    '--disable-warning=ExperimentalWarning',
    '--input-type=module',
    '-e',
    code,
    file,
    JSON.stringify(encoded),
  ];
  const result = await run('node', args);
  if (result.code !== 0) throw new Error(`SQLite on ${file} failed:\n${result.output}`);
  return JSON.parse(result.output);
}
let server: Promise<Server> | undefined;
let wrangler: Server | undefined;

const run = (command: string, args: string[]) =>
  runCommand(command, args, { cwd: ROOT, env: childEnv(scratch()), timeoutMs: 60_000 });
const importUsers = (file: string) => run('node', [IMPORT, file, '--local', '--persist-to', scratch()]);
const api = (pathname: string, init: { json?: unknown; token?: string } = {}) =>
  apiAt(wrangler!.baseUrl, pathname, init);

/** The local D1's SQLite file, as wrangler keeps it under --persist-to. */
function localD1File(): string {
  const dir = path.join(scratch(), 'v3/d1/miniflare-D1DatabaseObject');
  const [file] = readdirSync(dir).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite');
  return path.join(dir, file!);
}

/** Every column of every user, read from the local D1's file. */
const dumpUsers = () => sqlite(localD1File(), [{ sql: 'SELECT * FROM users ORDER BY username_key' }]);
const hashOf = (users: Record<string, unknown>[], name: string) =>
  users.find((u) => u.username_key === name.toLowerCase())?.password_hash;

describe('users:import from a Flask app, then login over HTTP', () => {
  let sqliteFile = '';
  let afterFirstImport: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const dir = scratch();
    await copyMigratedD1(dir);

    // As Flask-SQLAlchemy creates it for `class User(db.Model)`.
    sqliteFile = path.join(dir, 'app.db');
    const insert = 'INSERT INTO user (username, password_hash, role) VALUES (?, ?, ?)';
    await sqlite(sqliteFile, [
      {
        sql:
          'CREATE TABLE user (id INTEGER NOT NULL PRIMARY KEY, username VARCHAR(80) NOT NULL UNIQUE, ' +
          'password_hash VARCHAR(256) NOT NULL, role VARCHAR(20))',
      },
      ...FLASK_USERS.map((u) => ({ sql: insert, params: [u.username, u.hash, u.role] })),
      // Flask-Bcrypt's bytes, stored without .decode(): a BLOB.
      { sql: insert, params: ['bcrypt_bytes', Buffer.from(vector('$2b$10$').hash), null] },
      { sql: insert, params: ['no spaces allowed', 'whatever-password', null] },
      { sql: insert, params: ['WZ_TWO', 'another plaintext', null] },
      { sql: insert, params: ['broken_hash', 'pbkdf2:sha256:1000000000000$salt$' + '00'.repeat(32), null] },
    ]);

    const envFile = path.join(dir, 'e2e.env');
    await writeFile(envFile, '# Deliberately empty: see wrangler-dev.test.ts.\n');
    // Started now but awaited only by the tests that need it: it boots while the imports run.
    server = onFreePort((port) =>
      startServer({
        name: 'wrangler dev',
        command: 'wrangler',
        args: [
          'dev',
          ...legacyHashesDevConfigs(),
          '--ip',
          '127.0.0.1',
          '--port',
          String(port),
          '--persist-to',
          dir,
          '--env-file',
          envFile,
          '--var',
          `JWT_SECRET:${JWT_SECRET}`,
          '--show-interactive-dev-session=false',
        ],
        cwd: ROOT,
        env: childEnv(dir),
        port,
      }),
    );
    server.catch(() => {}); // Reported by the first test that awaits it.
  });

  afterAll(async () => {
    await (await server?.catch(() => undefined))?.stop();
  });

  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => console.error(`--- wrangler dev output ---\n${wrangler?.output ?? ''}`));
  });

  it('imports every kind, keeps legacy hashes verbatim, and reports the bad rows with reasons', async () => {
    const result = await importUsers(sqliteFile);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain(
      'imported 7 of 10 into the local database (1 plaintext hashed; legacy hashes kept: 3 werkzeug-pbkdf2, 1 werkzeug-scrypt, 2 bcrypt); ' +
        'skipped 3 (1 invalid_username, 1 duplicate_in_file, 1 unsupported_hash)',
    );
    expect(result.output).toMatch(/"no spaces allowed"\) skipped: invalid_username/);
    expect(result.output).toMatch(/"WZ_TWO"\) skipped: duplicate_in_file/);
    expect(result.output).toMatch(/"broken_hash"\) skipped: unsupported_hash: malformed or out of bounds/);
    // All six legacy hashes are beyond a deployed Worker's WebCrypto: the operator is told how to
    // run the companion that checks them.
    expect(result.output).toContain('users:import: 6 imported users need the companion Worker to log in');
    expect(result.output).toContain('run `npm run dev:legacy-hashes` instead of `npm run dev`');
    // A password is never echoed.
    expect(result.output).not.toContain('plain text password');

    afterFirstImport = await dumpUsers();
    expect(afterFirstImport.map((u) => u.username)).toEqual(
      [...FLASK_USERS.map((u) => u.username), 'bcrypt_bytes'].sort(),
    );
    for (const u of FLASK_USERS.slice(0, 5)) expect(hashOf(afterFirstImport, u.username)).toBe(u.hash);
    expect(hashOf(afterFirstImport, 'bcrypt_bytes')).toBe(vector('$2b$10$').hash);
    expect(hashOf(afterFirstImport, 'tutorial')).toMatch(/^\$pbkdf2-sha256\$i=100000\$/);
    const roles = Object.fromEntries(afterFirstImport.map((u) => [u.username, u.role]));
    expect(roles).toEqual({
      bcrypt_bytes: 'user',
      wz_two: 'user',
      wz_three_oh: 'user',
      wz_three_one: 'admin',
      wz_scrypt: 'user',
      flask_bcrypt: 'user',
      tutorial: 'user',
    });
  });

  it('changes nothing when run a second time', async () => {
    const again = await importUsers(sqliteFile);
    expect(again.code, again.output).toBe(0);
    expect(again.output).toContain('imported 0 of 10');
    expect(again.output).toContain('7 already_in_database');
    expect(await dumpUsers()).toEqual(afterFirstImport);
  });

  it('imports a CSV file (after a dry run that writes nothing), skipping a name already in D1 whatever its case', async () => {
    wrangler = await server;
    const csv = path.join(scratch(), 'users.csv');
    const bcrypt = vector('$2a$');
    await writeFile(
      csv,
      'username,password,role\n' +
        `csv_plain,"a password, with a comma and ""quotes""",admin\n` +
        `csv_bcrypt,${bcrypt.hash},\n` +
        'Tutorial,someone else,\n',
    );
    const dryRun = await run('node', [IMPORT, csv, '--local', '--persist-to', scratch(), '--dry-run']);
    expect(dryRun.code, dryRun.output).toBe(0);
    expect(dryRun.output).toContain('dry run, nothing written: would import 2 of 3');
    const notYet = await api('/auth/login', { json: { username: 'csv_bcrypt', password: bcrypt.password } });
    expect(notYet.status).toBe(401);

    const result = await importUsers(csv);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('imported 2 of 3');
    expect(result.output).toContain('1 imported user needs the companion Worker');
    expect(result.output).toMatch(/line 4 \("Tutorial"\) skipped: already_in_database/);

    const plain = await api('/auth/login', {
      json: { username: 'csv_plain', password: 'a password, with a comma and "quotes"' },
    });
    expect(plain.status).toBe(200);
    expect(plain.body.user.role).toBe('admin');
    const legacy = await api('/auth/login', { json: { username: 'CSV_bcrypt', password: bcrypt.password } });
    expect(legacy.status).toBe(200);
  });

  it('logs each kind in over HTTP, refuses wrong passwords, and upgrades the stored hash', async () => {
    wrangler = await server;
    for (const u of FLASK_USERS) {
      // A wrong password for the cheaper kinds only: the unit tests refuse one of every kind.
      if (u.username === 'wz_scrypt' || u.username === 'flask_bcrypt') {
        const wrong = await api('/auth/login', { json: { username: u.username, password: `${u.password}!` } });
        expect(wrong.status, u.username).toBe(401);
        expect(wrong.body.code).toBe('invalid_credentials');
      }
      const right = await api('/auth/login', { json: { username: u.username, password: u.password } });
      expect(right.status, `${u.username}: ${JSON.stringify(right.body)}`).toBe(200);
      expect(right.body.user.role).toBe(u.role === 'admin' ? 'admin' : 'user');
    }
    const admin = await api('/auth/login', {
      json: { username: 'wz_three_one', password: vector('pbkdf2:sha256:1000000$').password },
    });
    expect((await api('/admin/users', { token: admin.body.access_token })).status).toBe(200);

    const users = await dumpUsers();
    for (const u of FLASK_USERS) expect(hashOf(users, u.username), u.username).toMatch(/^\$pbkdf2-sha256\$i=100000\$/);
    // The plaintext user's hash was already the service's own: a login leaves it alone.
    expect(hashOf(users, 'tutorial')).toBe(hashOf(afterFirstImport, 'tutorial'));
  });

  it('waits while another process holds the write lock (as `wrangler dev` may), then imports', async () => {
    const dir = scratch();
    const csv = path.join(dir, 'locked.csv');
    await writeFile(csv, 'username,password\nwhile_locked,a password long enough\n');
    // A writer that holds SQLite's exclusive lock for 3 s; wrangler is refused at once meanwhile.
    const holder = spawn(
      'node',
      [
        '--disable-warning=ExperimentalWarning',
        '--input-type=module',
        '-e',
        `import { DatabaseSync } from 'node:sqlite';
         const db = new DatabaseSync(process.argv[1]);
         db.exec('BEGIN EXCLUSIVE');
         console.log('locked');
         setTimeout(() => db.exec('COMMIT'), 3000);`,
        localD1File(),
      ],
      { env: childEnv(dir), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await once(holder.stdout, 'data');
    const result = await importUsers(csv).finally(() => holder.kill());
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('imported 1 of 1');
    expect((await dumpUsers()).map((u) => u.username)).toContain('while_locked');
  });
});

describe('users:import refuses bad invocations before touching D1', () => {
  const importWith = (...args: string[]) => run('node', [IMPORT, ...args]);

  it('exits 2 on usage errors', async () => {
    const both = await importWith(path.join(ROOT, 'package.json'), '--local', '--remote');
    expect(both.code, both.output).toBe(2);
    expect(both.output).toContain('pass exactly one of --local or --remote');
    const missing = await importWith(path.join(scratch(), 'nope.db'), '--local');
    expect(missing.code, missing.output).toBe(2);
    expect(missing.output).toContain('no such file');
  });

  it('exits 1 naming the problem when the table or the CSV header is not what a Flask app has', async () => {
    const dbFile = path.join(scratch(), 'other.db');
    await sqlite(dbFile, [{ sql: 'CREATE TABLE accounts (name TEXT, pw TEXT)' }]);
    const noTable = await importWith(dbFile, '--local', '--persist-to', scratch());
    expect(noTable.code, noTable.output).toBe(1);
    expect(noTable.output).toContain('no table "user" (use --table)');
    const noColumns = await importWith(dbFile, '--local', '--persist-to', scratch(), '--table', 'accounts');
    expect(noColumns.code, noColumns.output).toBe(1);
    expect(noColumns.output).toContain('needs columns username and password_hash or password');

    const csv = path.join(scratch(), 'bad.csv');
    await writeFile(csv, 'login,secret\nalice,pw\n');
    const badHeader = await importWith(csv, '--local', '--persist-to', scratch());
    expect(badHeader.code, badHeader.output).toBe(1);
    expect(badHeader.output).toContain('the header must be username,password[,role]');
  });
});
