/**
 * The contract: real answers of every operation in /openapi.json, for every status it
 * documents, success and error, validated against the document's own schemas.
 *
 * - An operation without a case for each documented status fails the test, and so does a
 *   case for an undocumented status: adding a route (or a response) means adding its cases.
 * - A route the app serves that the document does not list fails too.
 *
 * Validation runs here in workerd, next to the real Worker and D1 (cheap, and configuration
 * overrides are one appWith() away), with @cfworker/json-schema: workerd forbids eval and
 * `new Function`, which ajv needs to compile schemas, while @cfworker/json-schema interprets
 * them (JSON Schema 2020-12, OpenAPI 3.1's dialect).
 */
import { Validator, type Schema } from '@cfworker/json-schema';
import { env } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app';
import { MAX_BODY_BYTES } from '../src/schemas';
import { PASSWORD, api, appWith, login, promote, register, signedIn, signedInAdmin, uniqueName } from './helpers';

type Json = Record<string, any>;
type Operation = {
  operationId: string;
  requestBody?: unknown;
  security?: Record<string, unknown>[];
  responses: Record<string, { content?: Record<string, { schema: Json }> }>;
};

const document = (await (await api('/openapi.json')).json()) as Json;
const operations = Object.entries(document.paths as Record<string, Record<string, Operation>>).flatMap(
  ([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, ...op })),
);

/** Each case sends one request and must get the status it is listed under. */
type Send = () => Promise<Response>;
const NO_SUCH_ID = 'no-such-id-0000';

/** Repeats a failing attempt until the throttle answers 429 (a strict limit keeps it short). */
async function until429(send: Send): Promise<Response> {
  let res = await send();
  for (let i = 0; i < 10 && res.status !== 429; i++) res = await send();
  return res;
}
const strict = () => appWith({ LOGIN_MAX_FAILURES: '1', LOGIN_WINDOW: '60' });

/** Registrations from one address (one per route, no other case uses it) until the limit answers. */
function registerUntil429(path: '/auth/register' | '/signup'): Promise<Response> {
  const app = appWith({ REGISTER_IP_MAX: '1', REGISTER_WINDOW: '60' });
  const ip = path === '/signup' ? '198.51.100.2' : '198.51.100.1';
  return until429(() =>
    app(path, { json: { username: uniqueName(), password: PASSWORD }, headers: { 'CF-Connecting-IP': ip } }),
  );
}

/** A refresh cookie from a cookie-mode login, for the CSRF cases. */
async function refreshCookie(): Promise<string> {
  const user = await register();
  const res = await api('/auth/login', {
    json: { username: user.username, password: PASSWORD, refresh_token_delivery: 'cookie' },
  });
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('__Host-'));
  expect(cookie).toBeDefined();
  return cookie!.split(';')[0]!;
}
const foreignOrigin = async (path: string) =>
  api(path, { method: 'POST', headers: { Cookie: await refreshCookie(), Origin: 'https://evil.example' } });

/** A D1 that is down: every query fails. */
const unreachableDb = new Proxy({} as D1Database, {
  get: () => () => {
    throw new Error('D1 unreachable');
  },
});

/** Makes `userId` the only admin, as on a fresh deployment. */
async function onlyAdmin(userId: string) {
  await env.DB.prepare("UPDATE users SET role = 'user' WHERE role = 'admin'").run();
  await promote(userId);
}

const CASES: Record<string, Record<number, Send[]>> = {
  getHealth: {
    200: [() => api('/health')],
    503: [
      async () => {
        // The operator's log line is asserted in meta.test.ts; here it would only be noise.
        const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
        try {
          return await appWith({ DB: unreachableDb })('/health');
        } finally {
          quiet.mockRestore();
        }
      },
    ],
  },
  getOpenApiDocument: { 200: [() => api('/openapi.json')] },
  getJwks: { 200: [() => api('/.well-known/jwks.json')] },
  register: {
    201: [() => api('/auth/register', { json: { username: uniqueName(), password: PASSWORD } })],
    400: [
      () => api('/auth/register', { json: { username: 'x', password: PASSWORD } }),
      () => api('/auth/register', { json: { username: uniqueName(), password: 'password' } }),
    ],
    409: [async () => api('/auth/register', { json: { username: (await register()).username, password: PASSWORD } })],
    429: [() => registerUntil429('/auth/register')],
  },
  login: {
    200: [
      async () => api('/auth/login', { json: { username: (await register()).username, password: PASSWORD } }),
      async () =>
        api('/auth/login', {
          json: { username: (await register()).username, password: PASSWORD, refresh_token_delivery: 'cookie' },
        }),
    ],
    400: [() => api('/auth/login', { json: { username: 'alice' } })],
    401: [async () => api('/auth/login', { json: { username: (await register()).username, password: 'wrong-one' } })],
    429: [
      async () => {
        const { username } = await register();
        const app = strict();
        return until429(() => app('/auth/login', { json: { username, password: 'wrong-one' } }));
      },
    ],
  },
  refreshToken: {
    200: [async () => api('/auth/refresh', { json: { refresh_token: (await signedIn()).tokens.refresh_token } })],
    401: [
      () => api('/auth/refresh', { json: { refresh_token: 'not-a-refresh-token' } }),
      () => api('/auth/refresh', { method: 'POST' }),
    ],
    403: [() => foreignOrigin('/auth/refresh')],
  },
  logout: {
    204: [
      async () => api('/auth/logout', { json: { refresh_token: (await signedIn()).tokens.refresh_token } }),
      () => api('/auth/logout', { method: 'POST' }),
    ],
    403: [() => foreignOrigin('/auth/logout')],
  },
  logoutAll: {
    204: [async () => api('/auth/logout-all', { method: 'POST', token: (await signedIn()).token })],
    401: [() => api('/auth/logout-all', { method: 'POST' })],
  },
  changePassword: {
    204: [
      async () =>
        api('/auth/password', {
          token: (await signedIn()).token,
          json: { current_password: PASSWORD, new_password: `${PASSWORD}-2` },
        }),
    ],
    400: [
      async () =>
        api('/auth/password', {
          token: (await signedIn()).token,
          json: { current_password: PASSWORD, new_password: 'x' },
        }),
    ],
    401: [
      async () =>
        api('/auth/password', {
          token: (await signedIn()).token,
          json: { current_password: 'wrong-one', new_password: `${PASSWORD}-2` },
        }),
      () => api('/auth/password', { json: { current_password: PASSWORD, new_password: `${PASSWORD}-2` } }),
    ],
    429: [
      async () => {
        const { token } = await signedIn();
        const app = strict();
        return until429(() =>
          app('/auth/password', { token, json: { current_password: 'wrong-one', new_password: `${PASSWORD}-2` } }),
        );
      },
    ],
  },
  getProtected: {
    200: [async () => api('/auth/protected', { token: (await signedIn()).token })],
    401: [() => api('/auth/protected'), () => api('/auth/protected', { token: 'not.a.token' })],
  },
  getMe: {
    200: [async () => api('/auth/me', { token: (await signedIn()).token })],
    401: [() => api('/auth/me')],
  },
  listSessions: {
    200: [async () => api('/auth/sessions', { token: (await signedIn()).token })],
    401: [() => api('/auth/sessions')],
  },
  revokeSession: {
    204: [
      async () => {
        const { user, token } = await signedIn();
        const other = await login(user.username);
        const { sessions } = (await (await api('/auth/sessions', { token: other.access_token })).json()) as Json;
        const current = (sessions as Json[]).find((s) => s.current)!;
        return api(`/auth/sessions/${current.id}`, { method: 'DELETE', token });
      },
    ],
    400: [async () => api(`/auth/sessions/${'x'.repeat(65)}`, { method: 'DELETE', token: (await signedIn()).token })],
    401: [() => api(`/auth/sessions/${NO_SUCH_ID}`, { method: 'DELETE' })],
    404: [async () => api(`/auth/sessions/${NO_SUCH_ID}`, { method: 'DELETE', token: (await signedIn()).token })],
  },
  listUsers: {
    200: [
      async () => {
        const { token } = await signedInAdmin();
        const first = (await (await api('/admin/users?limit=1', { token })).json()) as Json;
        return api(`/admin/users?limit=1&cursor=${first.next_cursor}`, { token });
      },
    ],
    400: [async () => api('/admin/users?limit=0', { token: (await signedInAdmin()).token })],
    401: [() => api('/admin/users')],
    403: [async () => api('/admin/users', { token: (await signedIn()).token })],
  },
  setUserRole: {
    200: [
      async () =>
        api(`/admin/users/${(await register()).id}`, {
          method: 'PATCH',
          token: (await signedInAdmin()).token,
          json: { role: 'admin' },
        }),
    ],
    400: [
      async () =>
        api(`/admin/users/${(await register()).id}`, {
          method: 'PATCH',
          token: (await signedInAdmin()).token,
          json: { role: 'root' },
        }),
    ],
    401: [() => api(`/admin/users/${NO_SUCH_ID}`, { method: 'PATCH', json: { role: 'admin' } })],
    403: [
      async () =>
        api(`/admin/users/${NO_SUCH_ID}`, {
          method: 'PATCH',
          token: (await signedIn()).token,
          json: { role: 'admin' },
        }),
    ],
    404: [
      async () =>
        api(`/admin/users/${NO_SUCH_ID}`, {
          method: 'PATCH',
          token: (await signedInAdmin()).token,
          json: { role: 'admin' },
        }),
    ],
    409: [
      async () => {
        const { user, token } = await signedInAdmin();
        await onlyAdmin(user.id);
        return api(`/admin/users/${user.id}`, { method: 'PATCH', token, json: { role: 'user' } });
      },
    ],
  },
  deleteUser: {
    204: [
      async () =>
        api(`/admin/users/${(await register()).id}`, { method: 'DELETE', token: (await signedInAdmin()).token }),
    ],
    400: [
      async () => api(`/admin/users/${'x'.repeat(65)}`, { method: 'DELETE', token: (await signedInAdmin()).token }),
    ],
    401: [() => api(`/admin/users/${NO_SUCH_ID}`, { method: 'DELETE' })],
    403: [async () => api(`/admin/users/${NO_SUCH_ID}`, { method: 'DELETE', token: (await signedIn()).token })],
    404: [async () => api(`/admin/users/${NO_SUCH_ID}`, { method: 'DELETE', token: (await signedInAdmin()).token })],
    409: [
      async () => {
        const { user, token } = await signedInAdmin();
        await onlyAdmin(user.id);
        return api(`/admin/users/${user.id}`, { method: 'DELETE', token });
      },
    ],
  },
  flaskSignup: {
    200: [() => api('/signup', { json: { username: uniqueName(), password: PASSWORD } })],
    400: [
      async () => api('/signup', { json: { username: (await register()).username, password: PASSWORD } }),
      () => api('/signup', { json: { username: 'x', password: PASSWORD } }),
    ],
    429: [() => registerUntil429('/signup')],
  },
  flaskLogin: {
    200: [async () => api('/auth', { json: { username: (await register()).username, password: PASSWORD } })],
    400: [() => api('/auth', { json: { username: 'alice' } })],
    401: [async () => api('/auth', { json: { username: (await register()).username, password: 'wrong-one' } })],
    429: [
      async () => {
        const { username } = await register();
        const app = strict();
        return until429(() => app('/auth', { json: { username, password: 'wrong-one' } }));
      },
    ],
  },
  flaskHello: {
    200: [async () => api('/hello', { headers: { Authorization: `JWT ${(await signedIn()).token}` } })],
    401: [() => api('/hello')],
  },
};

/**
 * Cases every operation with a request body gets, since routing.ts wires the same checks
 * into each: malformed JSON (400), a body over the limit (413), a body that is not JSON (415).
 */
function bodyCases(path: string, method: string, op: Operation): Record<number, Send[]> {
  if (!op.requestBody) return {};
  const url = path.replace(/\{\w+\}/g, NO_SUCH_ID);
  const bearer = op.security?.some((s) => 'bearerAuth' in s) ?? false;
  const send = (body: string, contentType: string) => async () =>
    api(url, {
      method: method.toUpperCase(),
      body,
      token: bearer ? (await signedInAdmin()).token : undefined,
      headers: { 'Content-Type': contentType },
    });
  return {
    400: [send('{"unterminated": ', 'application/json')],
    413: [send(JSON.stringify({ padding: 'x'.repeat(MAX_BODY_BYTES) }), 'application/json')],
    415: [send('username=alice', 'application/x-www-form-urlencoded')],
  };
}

function casesOf(path: string, method: string, op: Operation): Record<number, Send[]> {
  const cases: Record<number, Send[]> = {};
  for (const source of [CASES[op.operationId] ?? {}, bodyCases(path, method, op)]) {
    for (const [status, sends] of Object.entries(source)) (cases[Number(status)] ??= []).push(...sends);
  }
  return cases;
}

/** The document's schema with its `#/components/schemas/...` references inlined. */
function resolve(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(resolve);
  if (typeof schema !== 'object' || schema === null) return schema;
  const ref = (schema as Json).$ref as string | undefined;
  if (ref?.startsWith('#/components/schemas/')) return resolve(document.components.schemas[ref.split('/').pop()!]);
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, resolve(v)]));
}

async function expectConforms(op: Operation, status: number, res: Response) {
  expect(res.status, await res.clone().text()).toBe(status);
  const documented = op.responses[String(status)]!;
  const text = await res.text();
  if (!documented.content) {
    expect(text).toBe('');
    return;
  }
  const mediaType = res.headers.get('Content-Type')?.split(';')[0]?.trim() ?? '';
  expect(Object.keys(documented.content)).toContain(mediaType);
  const schema = resolve(documented.content[mediaType]!.schema) as Schema;
  const result = new Validator(schema, '2020-12', false).validate(JSON.parse(text));
  expect(result.errors, text).toEqual([]);
  expect(result.valid).toBe(true);
}

describe('the OpenAPI contract', () => {
  it('lists every route the app serves', () => {
    const served = createApp()
      .routes.filter((r) => r.method !== 'ALL')
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    const documented = operations.map((op) => `${op.method.toUpperCase()} ${op.path}`);
    expect([...new Set(served)].sort()).toEqual(documented.sort());
  });

  it('has cases for exactly the documented statuses of every operation, and none for unknown operations', () => {
    for (const { path, method, ...op } of operations) {
      const documented = Object.keys(op.responses).map(Number).sort();
      const tested = Object.keys(casesOf(path, method, op))
        .map(Number)
        .sort();
      expect(tested, `${op.operationId} (${method.toUpperCase()} ${path})`).toEqual(documented);
    }
    const known = new Set(operations.map((op) => op.operationId));
    expect(Object.keys(CASES).filter((id) => !known.has(id))).toEqual([]);
  });

  it('would catch an answer that breaks the document', async () => {
    const login = operations.find((op) => op.operationId === 'login')!;
    const ok = (await (await CASES.login![200]![0]!()).json()) as Json;
    const body = (b: unknown) => new Response(JSON.stringify(b), { headers: { 'Content-Type': 'application/json' } });
    const broken = [
      { ...ok, user: { ...ok.user, role: 'root' } },
      { ...ok, user: { ...ok.user, created_at: 'yesterday' } },
      { ...ok, unexpected: true },
      { ...ok, access_token: undefined },
    ];
    for (const b of broken) await expect(expectConforms(login, 200, body(b))).rejects.toThrow();
    const problem = new Response(JSON.stringify({ title: 'x', status: 401, detail: 'x', code: 'made_up' }), {
      status: 401,
      headers: { 'Content-Type': 'application/problem+json' },
    });
    await expect(expectConforms(login, 401, problem)).rejects.toThrow();
    await expect(expectConforms(login, 200, body(ok))).resolves.toBeUndefined();
  });

  describe.each(operations)('$operationId ($method $path)', ({ path, method, ...op }) => {
    const cases = Object.entries(casesOf(path, method, op)).flatMap(([status, sends]) =>
      sends.map((send, i) => ({
        status: Number(status),
        send,
        name: `${status}${sends.length > 1 ? ` #${i + 1}` : ''}`,
      })),
    );
    it.each(cases)('answers $name as documented', async ({ status, send }) => {
      await expectConforms(op, status, await send());
    });
  });
});
