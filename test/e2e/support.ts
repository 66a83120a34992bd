/**
 * What the e2e tests share: free ports, the environment every child gets, commands run to
 * completion, and long-running servers (`wrangler dev`, `npm run dev`) started in their own
 * process group, waited for on GET /health, and stopped with everything they started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, inject } from 'vitest';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(ROOT, 'node_modules', '.bin');

export const START_TIMEOUT_MS = 120_000;
export const COMMAND_TIMEOUT_MS = 30_000;
export const STOP_GRACE_MS = 5_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A port nobody listens on right now (the OS picks; wrangler binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error())));
    });
  });
}

export type ChildEnv = Record<string, string | undefined>;

/**
 * For every child: the repo's Node 22 and wrangler first on PATH, and no network calls.
 * `scratchDir` is the test's own temporary directory (it holds wrangler's dev registry).
 */
export function childEnv(scratchDir: string): ChildEnv {
  return {
    ...process.env,
    PATH: `${BIN}${path.delimiter}${process.env.PATH ?? ''}`,
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    WRANGLER_SEND_METRICS: 'false',
    // Otherwise a JWT_SECRET (or any config variable) exported in the shell reaches the Worker.
    CLOUDFLARE_INCLUDE_PROCESS_ENV: 'false',
    // Keep this Worker out of the machine-wide dev registry that `npm run dev` also uses.
    WRANGLER_REGISTRY_PATH: path.join(scratchDir, 'registry'),
  };
}

export type Result = { code: number | null; output: string };
export type RunOptions = { cwd: string; env: ChildEnv; timeoutMs?: number };

/** Runs a command to completion, killed if it outlives `timeoutMs` (default `COMMAND_TIMEOUT_MS`). */
export function run(command: string, args: string[], options: RunOptions): Promise<Result> {
  const { cwd, env, timeoutMs = COMMAND_TIMEOUT_MS } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (chunk) => (output += String(chunk)));
    child.stderr?.on('data', (chunk) => (output += String(chunk)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** Whether any process of the group led by `pid` is still there. */
export const groupAlive = (pid: number) => {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitGroupGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (groupAlive(pid) && Date.now() < deadline) await sleep(100);
  return !groupAlive(pid);
}

// A killed or crashed test run never reaches afterAll; do not leave a server behind. The
// listener is only installed while some group is running.
const running = new Set<number>();
const killRunningOnExit = () => {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
};
function track(pid: number) {
  if (running.size === 0) process.on('exit', killRunningOnExit);
  running.add(pid);
}
function untrack(pid: number) {
  if (running.delete(pid) && running.size === 0) process.off('exit', killRunningOnExit);
}

/**
 * SIGTERM to the whole group, then SIGKILL if it has not gone within `STOP_GRACE_MS`.
 * Resolves once the group is gone; rejects if even SIGKILL did not end it in time.
 */
export async function stopGroup(pid: number): Promise<void> {
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return; // Already gone.
  }
  if (await waitGroupGone(pid, STOP_GRACE_MS)) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    return;
  }
  if (!(await waitGroupGone(pid, STOP_GRACE_MS))) {
    throw new Error(`process group ${pid} still there ${STOP_GRACE_MS} ms after SIGKILL`);
  }
}

export type Server = {
  baseUrl: string;
  child: ChildProcess;
  /** Everything it printed so far (for wrangler: including the Worker's console). */
  readonly output: string;
  /** Stops the whole process group (see `stopGroup`); resolves once it is gone. */
  stop(): Promise<void>;
};

export type StartOptions = {
  /** How failures name it, e.g. `wrangler dev`. */
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: ChildEnv;
  /** The port it was told to listen on, at 127.0.0.1. */
  port: number;
  timeoutMs?: number;
};

/**
 * Starts a long-running server in its own process group (so that stopping it also stops the
 * workerd it starts) and waits until GET /health answers 200. If it does not, the group is
 * stopped and the error carries the server's output.
 */
export async function startServer(options: StartOptions): Promise<Server> {
  const { name, command, args, cwd, env, port, timeoutMs = START_TIMEOUT_MS } = options;
  const baseUrl = `http://127.0.0.1:${port}`;
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout?.on('data', (chunk) => (output += String(chunk)));
  child.stderr?.on('data', (chunk) => (output += String(chunk)));
  child.on('error', (err) => (output += `\nspawn error: ${err.message}\n`));
  const pid = child.pid;
  if (pid) track(pid);

  const server: Server = {
    baseUrl,
    child,
    get output() {
      return output;
    },
    async stop() {
      if (!pid) return;
      try {
        await stopGroup(pid);
      } finally {
        untrack(pid);
      }
    },
  };

  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const deadline = Date.now() + timeoutMs;
  let lastAnswer = 'none';
  while (Date.now() < deadline) {
    if (exited()) break;
    try {
      const res = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return server;
      // E.g. 500 `misconfigured`: the reason is in the body, not in the server's log.
      lastAnswer = `${res.status} ${await res.text()}`;
    } catch {
      // Not listening yet.
    }
    await sleep(200);
  }
  const failure = exited()
    ? `${name} exited (code ${child.exitCode}, signal ${child.signalCode}) before GET /health answered 200.`
    : `${name} did not answer GET /health with 200 within ${timeoutMs} ms (last answer: ${lastAnswer}).`;
  await server.stop().catch(() => {});
  throw new Error(`${failure} Its output:\n${output}`);
}

/**
 * Starts a server on a port from `freePort()`, and again on a new port if another process
 * took that one between freePort() closing it and the server binding it (several e2e files
 * start servers at once). Any other failure is thrown as it is.
 */
export async function onFreePort(start: (port: number) => Promise<Server>, tries = 3): Promise<Server> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (err) {
      if (attempt >= tries || !/address already in use/i.test((err as Error).message)) throw err;
    }
  }
}

/**
 * Makes `stateDir` hold a local D1 with every migration applied, as `wrangler d1 migrations
 * apply --local --persist-to stateDir` leaves it: a copy of the one d1-setup.ts migrated for
 * this run, once it is ready.
 */
export async function copyMigratedD1(stateDir: string): Promise<void> {
  const template = inject('migratedD1');
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!existsSync(path.join(template, 'READY'))) {
    if (existsSync(path.join(template, 'FAILED')))
      throw new Error(await readFile(path.join(template, 'FAILED'), 'utf8'));
    if (Date.now() > deadline) throw new Error(`the migrated D1 was not ready after ${START_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await cp(path.join(template, 'state'), stateDir, { recursive: true });
}

/**
 * A real `wrangler dev` on 127.0.0.1 (workerd, wrangler.toml's bindings) serving a fresh local
 * D1 in `stateDir`, with the real migrations applied (copyMigratedD1). `vars` become `--var`s.
 *
 * With --env-file, wrangler reads that file INSTEAD of .dev.vars (and .env). --var alone is
 * not enough: it does win over .dev.vars for the same name (checked: the token's kid was the
 * --var secret's), but every other .dev.vars entry (e.g. ACCESS_TOKEN_TTL=31) still got in.
 */
export async function startWranglerDev(
  stateDir: string,
  vars: Record<string, string>,
  options: { /** Another wrangler config than the project's (e.g. with extra bindings). */ config?: string } = {},
): Promise<Server> {
  const env = childEnv(stateDir);
  const config = options.config ? ['--config', options.config] : [];
  await copyMigratedD1(stateDir);
  const envFile = path.join(stateDir, 'e2e.env');
  await writeFile(envFile, '# Deliberately empty: see startWranglerDev in support.ts.\n');
  return onFreePort((port) =>
    startServer({
      name: 'wrangler dev',
      command: 'wrangler',
      args: [
        'dev',
        ...config,
        '--ip',
        '127.0.0.1',
        '--port',
        String(port),
        '--persist-to',
        stateDir,
        '--env-file',
        envFile,
        ...Object.entries(vars).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
        '--show-interactive-dev-session=false',
      ],
      cwd: ROOT,
      env,
      port,
    }),
  );
}

export type ApiResponse = { status: number; type: string | null; body: any };

/** GET, or POST when `json` is given; the body parsed as JSON when it is JSON. */
export async function api(
  baseUrl: string,
  pathname: string,
  init: { json?: unknown; token?: string } = {},
): Promise<ApiResponse> {
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

/** An RS256 private JWK for JWT_PRIVATE_KEY, as `npm run keys:generate -- --alg RS256` makes one. */
export function rs256Key(): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid: 'e2e-rs256', alg: 'RS256' });
}

export const uniqueName = (prefix: string) => `${prefix}_${crypto.randomUUID().slice(0, 8)}`;

/** A temporary directory for the calling file's tests, made before them and removed after. */
export function useScratchDir(prefix: string): () => string {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), `edge-auth-${prefix}-`));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return () => dir;
}
