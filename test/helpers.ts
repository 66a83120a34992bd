/** Drives the real Worker (exports.default.fetch) inside workerd, against the test D1. */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { expect, vi } from 'vitest';
import { createApp } from '../src/http/app';
import { decodePart } from './jwt';
import { totp } from './totp';

export const ORIGIN = 'https://auth.example.test';

let counter = 0;
/** A username no other test uses (storage is per file, but tests in a file share it). */
export function uniqueName(prefix = 'user'): string {
  counter += 1;
  return `${prefix}_${counter}_${crypto.randomUUID().slice(0, 8)}`;
}

export const PASSWORD = 'a-long-and-unusual-passphrase';

export type Init = {
  method?: string;
  json?: unknown;
  body?: BodyInit;
  token?: string;
  headers?: Record<string, string>;
};

function buildRequest(path: string, init: Init): Request {
  const headers = new Headers(init.headers);
  if (init.json !== undefined) headers.set('Content-Type', 'application/json');
  if (init.token) headers.set('Authorization', `Bearer ${init.token}`);
  const url = path.startsWith('http') ? path : `${ORIGIN}${path}`;
  return new Request(url, {
    method: init.method ?? (init.json !== undefined || init.body !== undefined ? 'POST' : 'GET'),
    headers,
    body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
    // A redirect is an answer to assert on (the OAuth endpoints'), never one to follow.
    redirect: 'manual',
  });
}

/**
 * The OpenAPI document as deployed: built from the route declarations at build time
 * (scripts/build-assets.mjs) and served as a static asset, so the Worker itself never has it.
 */
export const apiDocument = (): Record<string, any> => structuredClone(env.TEST_OPENAPI_DOCUMENT);

/** A request to the Worker as deployed (its default export), with the test configuration. */
export async function api(path: string, init: Init = {}): Promise<Response> {
  return exports.default.fetch(buildRequest(path, init));
}

export type Api = typeof api;

/**
 * The same app with configuration overrides (key rotation, CORS origins, ...), on the same
 * D1. Configuration is parsed per env object, so each override set gets its own config.
 */
export function appWith(overrides: Partial<Cloudflare.Env>): Api {
  const app = createApp();
  const appEnv = { ...env, ...overrides };
  return async (path, init = {}) => {
    const ctx = createExecutionContext();
    const res = await app.fetch(buildRequest(path, init), appEnv, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  };
}

export async function register(username = uniqueName(), password = PASSWORD) {
  const res = await api('/auth/register', { json: { username, password } });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { user: { id: string; username: string; role: string } };
  return { ...body.user, password };
}

export type Tokens = {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  refresh_expires_in: number;
  user: { id: string; username: string; role: string; mfa_enabled: boolean };
};

export async function login(username: string, password = PASSWORD, extra: Record<string, unknown> = {}) {
  const res = await api('/auth/login', { json: { username, password, ...extra } });
  expect(res.status).toBe(200);
  return (await res.json()) as Tokens;
}

/** Registers and logs in a fresh user. */
export async function signedIn(prefix = 'user') {
  const user = await register(uniqueName(prefix));
  const tokens = await login(user.username);
  return { user, tokens, token: tokens.access_token };
}

/** Makes `userId` an admin directly in D1, as `npm run admin:promote` does. */
export async function promote(userId: string) {
  await env.DB.prepare("UPDATE users SET role = 'admin' WHERE id = ?").bind(userId).run();
}

/** A user as `npm run users:import` stores one from a Flask app: with that app's password hash. */
export async function insertImportedUser(passwordHash: string) {
  const username = uniqueName('flask');
  const id = crypto.randomUUID();
  await env.DB.prepare(
    'INSERT INTO users (id, username, username_key, password_hash, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  )
    .bind(id, username, username.toLowerCase(), passwordHash, 'user', 0, 0)
    .run();
  return { id, username };
}

/** The app without the companion Worker of imported hashes: its binding is off by default. */
export const withoutLegacyHashes = () => appWith({ LEGACY_HASHES: undefined });

export async function signedInAdmin() {
  const s = await signedIn('admin');
  await promote(s.user.id);
  return s;
}

/** Asserts an RFC 9457 problem response and returns its body. */
export async function expectProblem(res: Response, status: number, code?: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('Content-Type')).toBe('application/problem+json');
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({
    status,
    type: expect.any(String),
    title: expect.any(String),
    detail: expect.any(String),
  });
  if (code) expect(body.code).toBe(code);
  expect(JSON.stringify(body)).not.toMatch(/at .*\.(ts|js):\d+/);
  return body;
}

/**
 * Counts D1 round trips as the binding sees them: statement executions (first/all/run/raw,
 * prepared once or not) and batches. Call before the requests to count.
 */
export function countD1() {
  const statements: string[] = [];
  const prepare = env.DB.prepare.bind(env.DB);
  vi.spyOn(env.DB, 'prepare').mockImplementation((sql: string) => {
    const statement = prepare(sql);
    sqlOf.set(statement, sql);
    return statement;
  });
  const proto = Object.getPrototypeOf(prepare('SELECT 1')) as Record<string, (...args: unknown[]) => unknown>;
  const executed: string[] = [];
  for (const method of ['first', 'all', 'run', 'raw'] as const) {
    const original = proto[method]!;
    vi.spyOn(proto, method).mockImplementation(function (this: D1PreparedStatement, ...args: unknown[]) {
      executed.push(sqlOf.get(this) ?? '?');
      return original.apply(this, args);
    });
  }
  const bind = proto.bind!;
  vi.spyOn(proto, 'bind').mockImplementation(function (this: D1PreparedStatement, ...args: unknown[]) {
    const bound = bind.apply(this, args) as D1PreparedStatement;
    sqlOf.set(bound, sqlOf.get(this) ?? '?');
    return bound;
  });
  const batches = vi.spyOn(env.DB, 'batch');
  return { statements, executed, batches: () => batches.mock.calls.length };
}
const sqlOf = new WeakMap<object, string>();

/**
 * Turns two-factor on for the holder of `token` as a client would: enrol, read the secret,
 * confirm with the current code. Returns the secret and the recovery codes.
 */
export async function enrolTotp(token: string, call: Api = api, password = PASSWORD) {
  const started = await call('/auth/mfa/totp', { json: { current_password: password }, token });
  expect(started.status).toBe(200);
  const { secret, otpauth_uri } = (await started.json()) as { secret: string; otpauth_uri: string };
  const confirmed = await call('/auth/mfa/totp/confirm', { json: { code: await totp(secret) }, token });
  expect(confirmed.status).toBe(200);
  const { recovery_codes } = (await confirmed.json()) as { recovery_codes: string[] };
  return { secret, otpauthUri: otpauth_uri, recoveryCodes: recovery_codes };
}

/** A login of a two-factor user: the 403 `mfa_required` problem, with its `mfa_token`. */
export async function loginForChallenge(username: string, extra: Record<string, unknown> = {}, call: Api = api) {
  const res = await call('/auth/login', { json: { username, password: PASSWORD, ...extra } });
  const problem = await expectProblem(res, 403, 'mfa_required');
  return problem as { mfa_token: string; mfa_token_expires_in: number };
}

/** PBKDF2 iterations spent while `work` runs, counted at WebCrypto: the cost an observer can time. */
export async function pbkdf2IterationsSpent(work: () => Promise<unknown>): Promise<number> {
  const spy = vi.spyOn(crypto.subtle, 'deriveBits');
  try {
    await work();
    return spy.mock.calls
      .map(([alg]) => alg as { name: string; iterations?: number })
      .filter((alg) => alg.name === 'PBKDF2')
      .reduce((sum, alg) => sum + (alg.iterations ?? 0), 0);
  } finally {
    spy.mockRestore();
  }
}

/** The session id (`sid` claim) an access token belongs to. */
export function sessionIdOf(accessToken: string): string {
  return decodePart(accessToken, 1).sid as string;
}

export type AuditLine = Record<string, unknown>;

/** The structured audit lines (and all raw console.log output) written while `fn` runs. */
export async function captureAudit(fn: () => Promise<unknown>): Promise<{ lines: AuditLine[]; raw: string }> {
  const spy = vi.spyOn(console, 'log');
  let calls: unknown[][];
  try {
    await fn();
  } finally {
    // Read before restoring: restoring a spy also clears what it recorded.
    calls = [...spy.mock.calls];
    spy.mockRestore();
  }
  const raw = calls.map((args) => args.join(' ')).join('\n');
  const lines = calls
    .map((args) => {
      try {
        return JSON.parse(String(args[0])) as AuditLine;
      } catch {
        return null;
      }
    })
    .filter((l): l is AuditLine => l?.type === 'audit');
  return { lines, raw };
}

export const FROM = 'auth@example.test';
export type Sent = { from: string; to: string; subject: string; text: string; html: string };

/** A stand-in for Cloudflare's send_email binding that keeps what it was asked to send. */
export function fakeEmail() {
  const sent: Sent[] = [];
  const binding = {
    async send(message: Sent) {
      sent.push(message);
      return { messageId: `<${sent.length}@example.test>` };
    },
  } as unknown as SendEmail;
  return { sent, binding };
}

/** The app with email on (a fake binding keeps what is sent), waiting for mails sent after the answer. */
export function mailing(overrides: Partial<Cloudflare.Env> = {}) {
  const mail = fakeEmail();
  return { ...mail, call: appWith({ EMAIL: mail.binding, EMAIL_FROM: FROM, ...overrides }) };
}

export const codeIn = (mail: Sent) => /^(\d{6})$/m.exec(mail.text)?.[1];
export const tokenIn = (mail: Sent) => /^([A-Za-z0-9_-]{43})$/m.exec(mail.text)?.[1];
export const address = (name: string) => `${name.toLowerCase()}@example.test`;

/** A signed-in user whose address (`<username>@example.test`) is verified through `call`. */
export async function withVerifiedEmail(call: Api, sent: Sent[], prefix: string) {
  const s = await signedIn(prefix);
  const email = address(s.user.username);
  const added = await call('/auth/email', { json: { email, current_password: PASSWORD }, token: s.token });
  expect(added.status).toBe(202);
  const code = codeIn(sent.at(-1)!);
  expect((await call('/auth/email/verify', { json: { code }, token: s.token })).status).toBe(200);
  return { ...s, email };
}

/**
 * The real test D1, except that its `batchNumber`-th batch waits until `release()`.
 * `reached` resolves when that batch is called.
 */
export function gatedD1(batchNumber: number) {
  let calls = 0;
  let reached!: () => void;
  let release!: () => void;
  const reachedP = new Promise<void>((resolve) => (reached = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  const real = env.DB;
  const d1 = {
    prepare: (query: string) => real.prepare(query),
    batch: async (statements: D1PreparedStatement[]) => {
      calls += 1;
      if (calls === batchNumber) {
        reached();
        await released;
      }
      return real.batch(statements);
    },
    exec: (query: string) => real.exec(query),
    dump: () => real.dump(),
    withSession: (constraint?: string) => real.withSession(constraint),
  } as unknown as D1Database;
  return { d1, reached: reachedP, release };
}
