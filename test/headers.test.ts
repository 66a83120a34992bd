/**
 * Security headers, caching, CORS, HTTPS enforcement and request ids, on successful and on
 * error responses alike (an error page is a page too).
 */
import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/http/app';
import { ORIGIN, PASSWORD, api, expectProblem, register, signedIn, signedInAdmin, uniqueName } from './helpers';

type Case = [label: string, request: () => Promise<Response>, status: number];

let userToken: string;
let adminToken: string;

beforeAll(async () => {
  userToken = (await signedIn('hdr')).token;
  adminToken = (await signedInAdmin()).token;
});

const normalResponses: Case[] = [
  ['GET /health', () => api('/health'), 200],
  ['GET /.well-known/jwks.json', () => api('/.well-known/jwks.json'), 200],
  ['GET /auth/me', () => api('/auth/me', { token: userToken }), 200],
  ['GET /admin/users', () => api('/admin/users', { token: adminToken }), 200],
];

const errorResponses: Case[] = [
  ['401 without a token', () => api('/auth/me'), 401],
  ['401 with a bad token', () => api('/auth/me', { token: 'a.b.c' }), 401],
  ['403 for a non-admin', () => api('/admin/users', { token: userToken }), 403],
  ['404 for an unknown path', () => api('/no/such/path'), 404],
  ['405 for a wrong method', () => api('/auth/login', { method: 'PUT' }), 405],
  [
    '400 for malformed JSON',
    () => api('/auth/register', { body: '{', headers: { 'Content-Type': 'application/json' } }),
    400,
  ],
  ['415 for a form body', () => api('/auth/login', { body: 'a=b', headers: { 'Content-Type': 'text/plain' } }), 415],
  [
    '413 for an oversized body',
    () => api('/auth/login', { body: 'x'.repeat(20_000), headers: { 'Content-Type': 'application/json' } }),
    413,
  ],
  ['403 for plain HTTP', () => api('http://auth.example.test/health'), 403],
];

function hstsMaxAge(res: Response): number {
  const value = res.headers.get('Strict-Transport-Security') ?? '';
  const match = /(?:^|;)\s*max-age=(\d+)/i.exec(value);
  return match ? Number(match[1]) : -1;
}

describe('Every response', () => {
  describe.each([
    ['a normal response', normalResponses],
    ['an error response', errorResponses],
  ])('such as %s', (_kind, cases) => {
    it.each(cases)('(%s) carries the security headers', async (_label, request, status) => {
      const res = await request();
      expect(res.status).toBe(status);
      expect(hstsMaxAge(res)).toBeGreaterThanOrEqual(31_536_000);
      expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff');
      const csp = res.headers.get('Content-Security-Policy') ?? '';
      expect(csp).toMatch(/(?:^|;)\s*frame-ancestors 'none'\s*(?:;|$)/);
      expect(res.headers.get('X-Frame-Options')).toBe('DENY');
      expect(res.headers.has('X-Powered-By')).toBe(false);
      expect(res.headers.get('X-Request-Id')).toMatch(/^[\w-]{8,255}$/);
      // The answer to a browser (with Origin) differs: a cache in between must know, errors too.
      expect(res.headers.get('Vary')).toMatch(/(^|,)\s*Origin\s*(,|$)/);
      await res.body?.cancel();
    });
  });

  it.each(errorResponses)(
    '(%s) is a problem document naming the same request id as its header',
    async (_l, request, status) => {
      const res = await request();
      const problem = await expectProblem(res, status);
      expect(problem.request_id).toBe(res.headers.get('X-Request-Id'));
    },
  );
});

describe('Cache-Control: no-store', () => {
  const noStore = (res: Response) => {
    const directives = (res.headers.get('Cache-Control') ?? '').split(',').map((d) => d.trim().toLowerCase());
    expect(directives).toContain('no-store');
    expect(directives).not.toContain('public');
  };

  it('is on register and login responses (they carry tokens)', async () => {
    const username = uniqueName('cache');
    const reg = await api('/auth/register', { json: { username, password: PASSWORD } });
    expect(reg.status).toBe(201);
    noStore(reg);
    const res = await api('/auth/login', { json: { username, password: PASSWORD } });
    expect(res.status).toBe(200);
    noStore(res);
    const { refresh_token } = (await res.json()) as { refresh_token: string };
    const refreshed = await api('/auth/refresh', { json: { refresh_token } });
    expect(refreshed.status).toBe(200);
    noStore(refreshed);
  });

  it('is on the Flask-JWT signup and login responses', async () => {
    const username = uniqueName('cacheflask');
    const signup = await api('/signup', { json: { username, password: PASSWORD } });
    expect(signup.status).toBe(200);
    noStore(signup);
    const auth = await api('/auth', { json: { username, password: PASSWORD } });
    expect(auth.status).toBe(200);
    noStore(auth);
  });

  it.each([
    ['/auth/me', () => userToken],
    ['/auth/protected', () => userToken],
    ['/auth/sessions', () => userToken],
    ['/hello', () => userToken],
    ['/admin/users', () => adminToken],
  ])('is on GET %s', async (path, token) => {
    const res = await api(path, { token: token() });
    expect(res.status).toBe(200);
    noStore(res);
  });

  it.each(errorResponses)('is on errors (%s)', async (_label, request, status) => {
    const res = await request();
    expect(res.status).toBe(status);
    noStore(res);
  });

  it('is on a login failure', async () => {
    const user = await register(uniqueName('cachefail'));
    const res = await api('/auth/login', { json: { username: user.username, password: 'not-the-password' } });
    await expectProblem(res, 401, 'invalid_credentials');
    noStore(res);
  });
});

describe('CORS', () => {
  const evil = 'https://evil.example';

  describe('with no CORS_ORIGINS configured', () => {
    it.each([
      ['GET /health', { method: 'GET' }, '/health'],
      ['GET /auth/me', { method: 'GET' }, '/auth/me'],
      ['POST /auth/login', { method: 'POST' }, '/auth/login'],
      ['an OPTIONS preflight', { method: 'OPTIONS' }, '/auth/login'],
    ] as const)('never allows an arbitrary Origin (%s)', async (_label, init, path) => {
      const headers: Record<string, string> = { Origin: evil };
      if (init.method === 'OPTIONS') headers['Access-Control-Request-Method'] = 'POST';
      if (init.method === 'POST') headers['Content-Type'] = 'application/json';
      const res = await api(path, {
        method: init.method,
        headers,
        ...(init.method === 'POST' ? { body: JSON.stringify({ username: 'nobody', password: 'x' }) } : {}),
      });
      expect(res.headers.get('Access-Control-Allow-Origin')).toBeNull();
      await res.body?.cancel();
    });

    it('does not echo an Origin that merely looks like the service', async () => {
      for (const origin of [ORIGIN, 'null', `${ORIGIN}.evil.example`]) {
        const res = await api('/health', { headers: { Origin: origin } });
        const allowed = res.headers.get('Access-Control-Allow-Origin');
        expect(allowed).not.toBe('*');
        if (origin !== ORIGIN) expect(allowed).toBeNull();
        await res.body?.cancel();
      }
    });
  });

  describe('with CORS_ORIGINS listing one app', () => {
    const app = createApp();
    const listed = 'https://app.example.com';
    const corsEnv = { ...env, CORS_ORIGINS: `${listed}, https://admin.example.com` };
    const corsFetch = (path: string, init: RequestInit = {}) =>
      app.fetch(new Request(`${ORIGIN}${path}`, init), corsEnv);

    it('echoes the listed Origin (never `*`) and varies on Origin', async () => {
      const res = await corsFetch('/health', { headers: { Origin: listed } });
      expect(res.status).toBe(200);
      expect(res.headers.get('Access-Control-Allow-Origin')).toBe(listed);
      expect(res.headers.get('Access-Control-Allow-Credentials')).toBe('true');
      expect(res.headers.get('Vary') ?? '').toMatch(/\bOrigin\b/i);
    });

    it('answers a preflight from the listed Origin', async () => {
      const res = await corsFetch('/auth/login', {
        method: 'OPTIONS',
        headers: {
          Origin: listed,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'content-type',
        },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('Access-Control-Allow-Origin')).toBe(listed);
      expect(res.headers.get('Access-Control-Allow-Methods') ?? '').toContain('POST');
    });

    it.each([
      ['an unlisted site', evil],
      ['the opaque "null" origin', 'null'],
      ['a suffix trick', `${listed}.evil.example`],
      ['a prefix trick', `https://evil-app.example.com`],
      ['plain http of the listed host', 'http://app.example.com'],
      ['another port of the listed host', `${listed}:8443`],
      ['a wildcard', '*'],
    ])('never echoes %s', async (_label, origin) => {
      const inits: RequestInit[] = [
        { headers: { Origin: origin } },
        { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' } },
      ];
      for (const init of inits) {
        const res = await corsFetch('/auth/me', init);
        expect(res.headers.get('Access-Control-Allow-Origin')).toBeNull();
        await res.body?.cancel();
      }
    });

    it('keeps its CORS headers off error responses for unlisted origins, and on for listed ones', async () => {
      const refused = await corsFetch('/auth/me', { headers: { Origin: evil } });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('Access-Control-Allow-Origin')).toBeNull();
      const allowed = await corsFetch('/auth/me', { headers: { Origin: listed } });
      expect(allowed.status).toBe(401);
      expect(allowed.headers.get('Access-Control-Allow-Origin')).toBe(listed);
      // The browser app must be able to read the challenge and the request id.
      const exposed = (allowed.headers.get('Access-Control-Expose-Headers') ?? '').toLowerCase();
      expect(exposed).toContain('www-authenticate');
      expect(exposed).toContain('x-request-id');
      // The next server nonce rides on answers to DPoP calls (RFC 9449 §8, §9).
      expect(exposed).toContain('dpop-nonce');
    });
  });
});

describe('Plain HTTP', () => {
  it.each([
    ['GET /health', 'http://auth.example.test/health', 'GET'],
    ['POST /auth/login', 'http://auth.example.test/auth/login', 'POST'],
    ['GET /auth/me', 'http://auth.example.test/auth/me', 'GET'],
    ['a host that starts with "localhost"', 'http://localhost.evil.example/health', 'GET'],
    ['a host that starts with "127.0.0.1"', 'http://127.0.0.1.nip.io/health', 'GET'],
    ['a host with "localhost" in the path', 'http://evil.example/localhost/health', 'GET'],
    ['an unspecified address', 'http://0.0.0.0/health', 'GET'],
  ])('to a non-loopback host is refused with 403 https_required (%s)', async (_label, url, method) => {
    const res = await api(url, {
      method,
      ...(method === 'POST' ? { json: { username: 'someone', password: PASSWORD } } : {}),
    });
    await expectProblem(res, 403, 'https_required');
  });

  it('is refused before the credentials in it are checked or used', async () => {
    const user = await register(uniqueName('cleartext'));
    const res = await api('http://auth.example.test/auth/login', {
      json: { username: user.username, password: PASSWORD },
    });
    await expectProblem(res, 403, 'https_required');
  });

  it.each([
    ['localhost', 'http://localhost/health'],
    ['127.0.0.1', 'http://127.0.0.1/health'],
    ['another 127/8 address', 'http://127.0.0.2/health'],
    ['[::1]', 'http://[::1]/health'],
  ])('to loopback (%s) works, for wrangler dev', async (_label, url) => {
    const res = await api(url);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });
});

describe('X-Request-Id', () => {
  it('is fresh for every request', async () => {
    const a = await api('/health');
    const b = await api('/health');
    expect(a.headers.get('X-Request-Id')).toBeTruthy();
    expect(a.headers.get('X-Request-Id')).not.toBe(b.headers.get('X-Request-Id'));
  });

  it('never takes a client-supplied id, well-formed or hostile, so clients cannot forge audit entries', async () => {
    for (const hostile of [
      '<script>alert(1)</script>',
      '"},{"type":"audit"',
      'a b',
      'x'.repeat(300),
      'chosen-by-client-123',
    ]) {
      const res = await api('/no/such/path', { headers: { 'X-Request-Id': hostile } });
      const problem = await expectProblem(res, 404, 'not_found');
      expect(res.headers.get('X-Request-Id')).not.toBe(hostile);
      expect(res.headers.get('X-Request-Id')).toMatch(/^[\w-]{8,255}$/);
      expect(problem.request_id).toBe(res.headers.get('X-Request-Id'));
    }
  });
});
