/**
 * The README's quick start, literally: `npm run dev` (scripts/dev.mjs) gives a newcomer an API
 * on 127.0.0.1 backed by a local D1 that is created and migrated automatically, with a
 * development-only JWT secret generated into `.dev.vars`, and email on (each mail written to a
 * file whose path the console prints); a second `npm run dev` reuses the same database and
 * secret, so nothing is lost between runs.
 *
 * All of it happens in a throw-away copy of the project (node_modules symlinked), so the
 * developer's own `.dev.vars` and `.wrangler/state` are never read or touched.
 *
 * Run: npx vitest run --project e2e
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { importJWK, jwtVerify, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ROOT, api, childEnv, onFreePort, startServer, uniqueName, type Server } from './support';

// No dist/: the copy is a fresh clone, whose first `wrangler dev` builds the app itself.
const COPIED = ['src', 'migrations', 'scripts', 'app', 'client', 'wrangler.toml', 'package.json', 'tsconfig.json'];
const PASSWORD = 'a-long-and-unusual-passphrase';

let scratch = '';
/** The throw-away project copy: where `npm run dev` runs. */
let project = '';
let devVarsPath = '';
let server: Server | undefined;
/** Every run's output, shown when something fails. */
let log = '';
/** The developer's own .dev.vars (or null), to prove it was left alone. */
let ownDevVars: Buffer | null = null;

/** What the first run left for the second. */
let first: { devVars: Buffer; user: unknown; username: string; token: string } | undefined;

const readIfThere = (file: string) => readFile(file).catch(() => null);

/** `npm run dev -- --port <port>` in the copy, as `npm run` would run it; resolves once /health is 200. */
async function npmRunDev(): Promise<Server> {
  try {
    server = await onFreePort((port) => {
      log += `\n--- npm run dev -- --port ${port} ---\n`;
      return startServer({
        name: 'npm run dev',
        command: 'node',
        args: ['scripts/dev.mjs', '--port', String(port)],
        cwd: project,
        env: childEnv(scratch),
        port,
      });
    });
  } catch (err) {
    log += (err as Error).message;
    throw err;
  }
  return server;
}

async function stop(): Promise<void> {
  if (!server) return;
  const stopping = server;
  log += stopping.output;
  server = undefined;
  await stopping.stop(); // Resolves only once the whole group (node, wrangler, workerd) is gone.
}

/**
 * The text of the mail to `to` that the dev console reported after `seen` characters of
 * output: Miniflare prints, per mail, its recipients and the path of the file holding its text.
 */
async function mailedTo(dev: Server, to: string, seen: number): Promise<string> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const block = dev.output
      .slice(seen)
      .split('send_email binding called')
      .find((part) => part.includes(to));
    const file = block && /Text: (\S+\.txt)/.exec(block)?.[1];
    if (file) return readFile(file, 'utf8');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no mail to ${to} in the npm run dev output:\n${dev.output.slice(seen)}`);
}

const secretIn = (devVars: string, name = 'JWT_SECRET') => new RegExp(`^${name}=(\\S+)$`, 'm').exec(devVars)?.[1] ?? '';

describe('README quick start: npm run dev, twice', () => {
  beforeAll(async () => {
    ownDevVars = await readIfThere(path.join(ROOT, '.dev.vars'));
    scratch = await mkdtemp(path.join(tmpdir(), 'edge-auth-quick-start-'));
    project = path.join(scratch, 'project');
    await mkdir(project);
    for (const entry of COPIED) await cp(path.join(ROOT, entry), path.join(project, entry), { recursive: true });
    await symlink(path.join(ROOT, 'node_modules'), path.join(project, 'node_modules'), 'dir');
    devVarsPath = path.join(project, '.dev.vars');
  });

  afterAll(async () => {
    await stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => console.error(`--- npm run dev output ---\n${log}${server?.output ?? ''}`));
  });

  it('first run: writes a private .dev.vars secret, creates and migrates the local D1, serves the API', async () => {
    expect(existsSync(devVarsPath), 'the copy must start without .dev.vars').toBe(false);
    expect(existsSync(path.join(project, '.wrangler')), 'the copy must start without local state').toBe(false);

    const dev = await npmRunDev();

    const devVars = await readFile(devVarsPath);
    const secret = secretIn(devVars.toString('utf8'));
    expect(secret.length, `no JWT_SECRET line of >= 32 characters in:\n${devVars}`).toBeGreaterThanOrEqual(32);
    const mode = (await stat(devVarsPath)).mode;
    expect((mode & 0o077).toString(8), `.dev.vars has mode ${(mode & 0o777).toString(8)}`).toBe('0');
    expect(existsSync(path.join(project, '.wrangler', 'state', 'v3', 'd1')), 'no local D1 was created').toBe(true);
    // One line per migration, not wrangler's tables (about 150 lines of box drawing).
    const migrations = (await readdir(path.join(ROOT, 'migrations'))).filter((name) => name.endsWith('.sql')).sort();
    expect(migrations.length).toBeGreaterThan(1);
    const applied = dev.output.split('\n').filter((line) => line.startsWith('dev: applied migration '));
    expect(applied, 'the first run did not apply each migration once').toEqual(
      migrations.map((name) => `dev: applied migration ${name}`),
    );
    expect(dev.output).not.toMatch(/[│┌└├]/);

    const username = uniqueName('newcomer');
    const registered = await api(dev.baseUrl, '/auth/register', { json: { username, password: PASSWORD } });
    expect(registered.status, JSON.stringify(registered.body)).toBe(201);
    const login = await api(dev.baseUrl, '/auth/login', { json: { username, password: PASSWORD } });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    const token: string = login.body.access_token;

    // The Worker really signs with the RS256 key npm run dev wrote to .dev.vars (not one from
    // anywhere else): its first JWT_PRIVATE_KEY signs the service's tokens, and the OAuth
    // endpoints need an RS256 key (docs/oauth.md).
    const privateJwk = JSON.parse(/^JWT_PRIVATE_KEY='(.+)'$/m.exec(devVars.toString('utf8'))?.[1] ?? '{}') as JWK;
    expect(privateJwk).toMatchObject({ alg: 'RS256', kty: 'RSA' });
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = privateJwk;
    await expect(
      jwtVerify(token, await importJWK(publicJwk, 'RS256'), { algorithms: ['RS256'] }),
    ).resolves.toBeTruthy();

    // The OpenID provider works out of the box: discovery names this server as its issuer.
    const discovery = await api(dev.baseUrl, '/.well-known/openid-configuration');
    expect(discovery.status, JSON.stringify(discovery.body)).toBe(200);
    expect(discovery.body.issuer).toBe(dev.baseUrl);
    expect(discovery.body.id_token_signing_alg_values_supported).toContain('RS256');

    // Two-factor works out of the box: npm run dev generated its DATA_ENCRYPTION_KEY too.
    const dataKey = secretIn(devVars.toString('utf8'), 'DATA_ENCRYPTION_KEY');
    expect(dataKey.length, `no DATA_ENCRYPTION_KEY line of >= 32 characters in:\n${devVars}`).toBeGreaterThanOrEqual(
      32,
    );
    expect(dataKey).not.toBe(secret);
    const enrol = await api(dev.baseUrl, '/auth/mfa/totp', { json: { current_password: PASSWORD }, token });
    expect(enrol.status, JSON.stringify(enrol.body)).toBe(200);

    // Email is on with no setup: the mail is written to a file, and the console names it.
    const email = `${username.toLowerCase()}@example.test`;
    const seen = dev.output.length;
    const added = await api(dev.baseUrl, '/auth/email', { json: { email, current_password: PASSWORD }, token });
    expect(added.status, JSON.stringify(added.body)).toBe(202);
    const code = /^(\d{6})$/m.exec(await mailedTo(dev, email, seen))?.[1];
    expect(code, 'no 6-digit code in the mail').toBeDefined();
    const verified = await api(dev.baseUrl, '/auth/email/verify', { json: { code }, token });
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(verified.body.user).toMatchObject({ email, email_verified: true });
    // Only the dev server gets the binding: a deploy of wrangler.toml still sends no mail.
    const toml = await readFile(path.join(project, 'wrangler.toml'), 'utf8');
    expect(toml).not.toMatch(/^\s*\[\[send_email\]\]/m);
    expect(toml).not.toMatch(/^\s*EMAIL_FROM\s*=/m);

    // The demo app and the API reference were built on the way (nothing built is committed).
    for (const page of ['/', '/docs']) {
      const res = await fetch(`${dev.baseUrl}${page}`);
      expect(res.status, page).toBe(200);
      expect(res.headers.get('Content-Type'), page).toMatch(/^text\/html/);
    }
    expect(existsSync(path.join(project, 'dist', 'assets', 'app.js')), 'the app was not built').toBe(true);

    await stop();
    first = { devVars, user: verified.body.user, username, token };
  });

  it('second run: reuses the same .dev.vars and database; the old token and the old password still work', async () => {
    expect(first, 'the first run did not complete').toBeDefined();
    const before = first!;

    const dev = await npmRunDev();

    expect((await readFile(devVarsPath)).equals(before.devVars), '.dev.vars changed between runs').toBe(true);

    // Same secret and same database: the token from the first run still names an existing user.
    const me = await api(dev.baseUrl, '/auth/me', { token: before.token });
    expect(me.status, JSON.stringify(me.body)).toBe(200);
    expect(me.body.user).toEqual(before.user);

    // The migrations were not re-applied destructively: the account is still there.
    const login = await api(dev.baseUrl, '/auth/login', { json: { username: before.username, password: PASSWORD } });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    expect(login.body.user).toEqual(before.user);

    expect(dev.output, 'the second run applied migrations again').toContain(
      'dev: the local database is up to date (no migration to apply)',
    );
    expect(dev.output).not.toContain('dev: applied migration');
    await stop();
  });

  it("never touched the developer's own .dev.vars", async () => {
    expect(await readIfThere(path.join(ROOT, '.dev.vars'))).toEqual(ownDevVars);
  });
});
