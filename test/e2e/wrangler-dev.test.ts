/**
 * End to end over real HTTP: a real `wrangler dev` (workerd, wrangler.toml's bindings, a fresh
 * local D1 with the real migrations) and the real `scripts/make-admin.mjs`. The `workers`
 * project already tests the app in-process; this catches what only the assembled pieces show,
 * e.g. that a promotion written through wrangler's D1 CLI reaches the running Worker.
 *
 * Run: npx vitest run --project e2e
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ROOT, api as apiAt, childEnv, run as runCommand, startWranglerDev, uniqueName, type Server } from './support';

const MAKE_ADMIN = path.join(ROOT, 'scripts', 'make-admin.mjs');
const PASSWORD = 'a-long-and-unusual-passphrase';
// Fresh per run: nothing here may depend on, or be satisfied by, a developer's .dev.vars.
const JWT_SECRET = `e2e-${crypto.randomUUID()}-${crypto.randomUUID()}`;

let stateDir = '';
let wrangler: Server | undefined;

const run = (command: string, args: string[]) => runCommand(command, args, { cwd: ROOT, env: childEnv(stateDir) });

const makeAdmin = (...args: string[]) => run('node', [MAKE_ADMIN, ...args, '--local', '--persist-to', stateDir]);

const api = (pathname: string, init: { json?: unknown; token?: string } = {}) =>
  apiAt(wrangler!.baseUrl, pathname, init);

/** Registers and logs in a new user over HTTP; returns the name and access token. */
async function signUp(prefix: string) {
  const username = uniqueName(prefix);
  const registered = await api('/auth/register', { json: { username, password: PASSWORD } });
  expect(registered.status).toBe(201);
  const login = await api('/auth/login', { json: { username, password: PASSWORD } });
  expect(login.status).toBe(200);
  return { username, id: registered.body.user.id as string, token: login.body.access_token as string };
}

describe('wrangler dev, end to end', () => {
  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'edge-auth-e2e-'));
    wrangler = await startWranglerDev(stateDir, { JWT_SECRET });
  });

  afterAll(async () => {
    await wrangler?.stop();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => console.error(`--- wrangler dev output ---\n${wrangler?.output ?? ''}`));
  });

  it('registers, logs in and greets the user on the protected route', async () => {
    const username = uniqueName('e2e');
    const registered = await api('/auth/register', { json: { username, password: PASSWORD } });
    expect(registered.status).toBe(201);
    expect(registered.body.user).toMatchObject({ username, role: 'user' });

    const login = await api('/auth/login', { json: { username, password: PASSWORD } });
    expect(login.status).toBe(200);
    expect(login.body).toMatchObject({
      token_type: 'Bearer',
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      expires_in: expect.any(Number),
    });

    const greeting = await api('/auth/protected', { token: login.body.access_token });
    expect(greeting.status).toBe(200);
    expect(greeting.body.message).toBe(`Hello, ${username}!`);
  });

  it('make-admin promotes and demotes; the same access token follows the role in D1', async () => {
    const user = await signUp('E2E_Admin');
    const forbidden = await api('/admin/users', { token: user.token });
    expect(forbidden.status).toBe(403);
    expect(forbidden.type).toBe('application/problem+json');
    expect(forbidden.body.code).toBe('forbidden');

    // Another case than registered: the script matches on username_key, as the service does.
    const promoted = await makeAdmin(user.username.toLowerCase());
    expect(promoted.code, promoted.output).toBe(0);
    expect(promoted.output).toContain(user.username);

    const listed = await api('/admin/users?limit=100', { token: user.token });
    expect(listed.status).toBe(200);
    expect(listed.body.users).toContainEqual(expect.objectContaining({ id: user.id, role: 'admin' }));

    const demoted = await makeAdmin(user.username, '--role', 'user');
    expect(demoted.code, demoted.output).toBe(0);
    expect((await api('/admin/users', { token: user.token })).status).toBe(403);
  });

  it('make-admin exits 1 for a user that does not exist', async () => {
    const result = await makeAdmin(uniqueName('nobody'));
    expect(result.code, result.output).toBe(1);
    expect(result.output).toMatch(/no user named/);
  });

  it('make-admin refuses an injection attempt as a usage error, changing nothing', async () => {
    const bystander = await signUp('bystander');
    const result = await makeAdmin("x' OR '1'='1");
    expect(result.code, result.output).toBe(2);
    expect(result.output).toMatch(/usage/);
    // Had the quote reached SQL, `OR '1'='1'` would have made every user an admin.
    expect((await api('/admin/users', { token: bystander.token })).status).toBe(403);
  });

  it('refuses a password an operator added to common_passwords with the wrangler command of docs/security.md', async () => {
    const word = `examplecorp-${crypto.randomUUID().slice(0, 8)}`;
    // docs/security.md, with --local --persist-to in place of --remote.
    const added = await run('wrangler', [
      'd1',
      'execute',
      'DB',
      '--local',
      '--persist-to',
      stateDir,
      '--command',
      `INSERT OR IGNORE INTO common_passwords (password) VALUES ('${word}')`,
    ]);
    expect(added.code, added.output).toBe(0);
    const refused = await api('/auth/register', {
      json: { username: uniqueName('e2e'), password: word.toUpperCase() },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('password_too_common');
    const nearMiss = await api('/auth/register', { json: { username: uniqueName('e2e'), password: `${word}!` } });
    expect(nearMiss.status).toBe(201);
  });
});
