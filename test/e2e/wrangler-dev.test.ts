/**
 * End to end over real HTTP: a real `wrangler dev` (workerd, wrangler.toml's bindings, a fresh
 * local D1 with the real migrations) and the real `scripts/make-admin.mjs`. The `workers`
 * project already tests the app in-process; this catches what only the assembled pieces show,
 * e.g. that a promotion written through wrangler's D1 CLI reaches the running Worker.
 *
 * Run: npx vitest run --project e2e
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'node_modules', '.bin');
const MAKE_ADMIN = path.join(ROOT, 'scripts', 'make-admin.mjs');
const START_TIMEOUT_MS = 60_000;
const COMMAND_TIMEOUT_MS = 30_000;
const PASSWORD = 'a-long-and-unusual-passphrase';
// Fresh per run: nothing here may depend on, or be satisfied by, a developer's .dev.vars.
const JWT_SECRET = `e2e-${crypto.randomUUID()}-${crypto.randomUUID()}`;

let stateDir = '';
let baseUrl = '';
let wrangler: ChildProcess | undefined;
/** wrangler's output (including the Worker's console), shown when something fails. */
let wranglerLog = '';

/** A port nobody listens on right now (the OS picks; wrangler binds it a moment later). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error())));
    });
  });
}

/** For every child: the repo's Node 22 and wrangler first on PATH, and no network calls. */
function childEnv(): Record<string, string | undefined> {
  return {
    ...process.env,
    PATH: `${BIN}${path.delimiter}${process.env.PATH ?? ''}`,
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    WRANGLER_SEND_METRICS: 'false',
    // Otherwise a JWT_SECRET (or any config variable) exported in the shell reaches the Worker.
    CLOUDFLARE_INCLUDE_PROCESS_ENV: 'false',
    // Keep this Worker out of the machine-wide dev registry that `npm run dev` also uses.
    WRANGLER_REGISTRY_PATH: path.join(stateDir, 'registry'),
  };
}

type Result = { code: number | null; output: string };

/** Runs a command to completion, killed if it outlives `COMMAND_TIMEOUT_MS`. */
function run(command: string, args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (chunk) => (output += String(chunk)));
    child.stderr?.on('data', (chunk) => (output += String(chunk)));
    const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const makeAdmin = (...args: string[]) => run('node', [MAKE_ADMIN, ...args, '--local', '--persist-to', stateDir]);

async function startWrangler(): Promise<void> {
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  // With --env-file, wrangler reads that file INSTEAD of .dev.vars (and .env). --var alone is
  // not enough: it does win over .dev.vars for the same name (checked: the token's kid was the
  // --var secret's), but every other .dev.vars entry (e.g. ACCESS_TOKEN_TTL=31) still got in.
  const envFile = path.join(stateDir, 'e2e.env');
  await writeFile(envFile, '# Deliberately empty: see wrangler-dev.test.ts.\n');
  const child = spawn(
    'wrangler',
    [
      'dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--persist-to',
      stateDir,
      '--env-file',
      envFile,
      '--var',
      `JWT_SECRET:${JWT_SECRET}`,
      '--show-interactive-dev-session=false',
    ],
    // Its own process group, so that stopping it also stops the workerd it starts.
    { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  wrangler = child;
  child.stdout?.on('data', (chunk) => (wranglerLog += String(chunk)));
  child.stderr?.on('data', (chunk) => (wranglerLog += String(chunk)));
  child.on('error', (err) => (wranglerLog += `\nspawn error: ${err.message}\n`));

  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastAnswer = 'none';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    try {
      const res = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return;
      // E.g. 500 `misconfigured`: the reason is in the body, not in wrangler's log.
      lastAnswer = `${res.status} ${await res.text()}`;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const exited = child.exitCode !== null || child.signalCode !== null;
  throw new Error(
    (exited
      ? `wrangler dev exited (code ${child.exitCode}, signal ${child.signalCode}) before GET /health answered 200.`
      : `wrangler dev did not answer GET /health with 200 within ${START_TIMEOUT_MS} ms (last answer: ${lastAnswer}).`) +
      ` Its output:\n${wranglerLog}`,
  );
}

const groupAlive = (pid: number) => {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** SIGTERM to the whole group, then SIGKILL if it has not gone within 5 s. */
async function stopWrangler(): Promise<void> {
  const pid = wrangler?.pid;
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return; // Already gone.
  }
  const deadline = Date.now() + 5_000;
  while (groupAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  if (groupAlive(pid)) process.kill(-pid, 'SIGKILL');
}
// A killed or crashed test run never reaches afterAll; do not leave a wrangler behind.
const killOnExit = () => wrangler?.pid && groupAlive(wrangler.pid) && process.kill(-wrangler.pid, 'SIGKILL');

async function api(pathname: string, init: { json?: unknown; token?: string } = {}) {
  const headers: Record<string, string> = {};
  if (init.json !== undefined) headers['Content-Type'] = 'application/json';
  if (init.token) headers.Authorization = `Bearer ${init.token}`;
  const res = await fetch(`${baseUrl}${pathname}`, {
    method: init.json === undefined ? 'GET' : 'POST',
    headers,
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let body: any = text; // Left as text when it is not JSON, so a failure shows what came back.
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, type: res.headers.get('Content-Type'), body };
}

const uniqueName = (prefix: string) => `${prefix}_${crypto.randomUUID().slice(0, 8)}`;

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
    process.on('exit', killOnExit);
    // The real migrations into the same state directory wrangler dev will serve.
    const migrated = await run('wrangler', ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', stateDir]);
    if (migrated.code !== 0) throw new Error(`migrations failed (exit ${migrated.code}):\n${migrated.output}`);
    await startWrangler();
  });

  afterAll(async () => {
    await stopWrangler();
    process.off('exit', killOnExit);
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => console.error(`--- wrangler dev output ---\n${wranglerLog}`));
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
});
