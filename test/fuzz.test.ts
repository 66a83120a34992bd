/**
 * Fuzzing and hostile input. The properties throw arbitrary requests at every route of the
 * OpenAPI document (and at paths it does not have): the service must never answer 5xx, and
 * every error must be an RFC 9457 problem whose `status` is the HTTP status. The targeted
 * tests below pin the inputs an attacker tries first.
 */
import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { Hono } from 'hono';
import { validator } from 'hono/validator';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ERROR_CODES } from '../src/platform/errors';
import { OAUTH_ERRORS } from '../src/oauth/errors';
import { provider } from './oauth-helpers';
import { b64url, signHs256 } from './jwt';
import {
  ORIGIN,
  PASSWORD,
  api,
  apiDocument,
  appWith,
  expectProblem,
  login,
  register,
  signedIn,
  signedInAdmin,
  uniqueName,
} from './helpers';

type Json = Record<string, unknown>;
type Problem = { type: string; title: string; status: number; detail: string; code: string; errors?: Json[] };

const encoder = new TextEncoder();
const MAX_BODY = 16 * 1024;

const hs256 = (header: Json, payload: Json) => signHs256(header, payload, env.JWT_SECRET!);

/** POSTs `body` verbatim with a JSON content type (unless `contentType` says otherwise). */
function rawPost(path: string, body: BodyInit, contentType: string | null = 'application/json', token?: string) {
  const headers: Record<string, string> = contentType === null ? {} : { 'Content-Type': contentType };
  if (token) headers.Authorization = `Bearer ${token}`;
  return api(path, { method: 'POST', body, headers });
}

async function userRow(id: string) {
  return env.DB.prepare('SELECT id, username, username_key, role, token_version FROM users WHERE id = ?')
    .bind(id)
    .first<{ id: string; username: string; username_key: string; role: string; token_version: number }>();
}

async function countByKey(usernameKey: string): Promise<number> {
  const row = await env.DB.prepare('SELECT count(*) AS n FROM users WHERE username_key = ?')
    .bind(usernameKey)
    .first<{ n: number }>();
  return row!.n;
}

/** Which statuses each problem code may come with. */
const STATUSES_OF_CODE: Record<string, number[]> = {
  validation_failed: [400],
  malformed_json: [400],
  password_too_common: [400],
  unsupported_media_type: [415],
  payload_too_large: [413],
  username_taken: [409],
  last_admin: [409],
  invalid_credentials: [401],
  unauthorized: [401],
  invalid_token: [401],
  invalid_refresh_token: [401],
  refresh_token_reused: [401],
  too_many_attempts: [429],
  forbidden: [403],
  csrf_rejected: [403],
  https_required: [403],
  not_found: [404],
  method_not_allowed: [405],
  too_many_registrations: [429],
  mfa_required: [403],
  mfa_already_enabled: [409],
  mfa_not_enabled: [409],
  invalid_mfa_code: [400, 401],
  invalid_mfa_token: [401],
  interaction_expired: [400],
  invalid_dpop_proof: [400, 401],
  use_dpop_nonce: [400, 401],
  invalid_reset_token: [400],
  invalid_email_code: [400],
  email_taken: [409],
  email_disabled: [404],
  mfa_locked: [403],
  invalid_user_code: [400],
  reauthentication_required: [403],
  invalid_passkey_challenge: [400, 401],
  invalid_passkey: [400, 401],
  unknown_passkey: [401],
  passkey_origin_mismatch: [400, 401],
  passkey_rp_id_mismatch: [400, 401],
  passkey_user_not_verified: [400, 401],
  passkey_counter_regressed: [401],
  passkey_already_registered: [409],
  passkey_limit_reached: [409],
  last_passkey: [409],
  password_already_set: [409],
  api_key_limit_reached: [409],
};

type Sent = { method: string; url: string; headers: Record<string, string>; body?: string };

/**
 * The service with the OAuth provider configured (an RS256 key, an issuer), so its routes are
 * fuzzed past their configuration check; JWT_SECRET still verifies the tokens minted here.
 */
const oauthProvider = await provider();

const describeRequest = (sent: Sent) =>
  `${sent.method} ${sent.url} headers=${JSON.stringify(sent.headers)} body=${JSON.stringify(sent.body?.slice(0, 200))}`;

const HTML_ERROR_PAGES = new Set(['/oauth/authorize', '/oauth/logout']);

/** The contract every response must meet, whatever was sent. */
async function expectWellFormed(sent: Sent, res: Response) {
  const where = describeRequest(sent);
  expect(res.status, where).toBeLessThan(500);
  if (res.status < 400) {
    if (sent.method === 'OPTIONS') expect(res.status, where).toBe(204);
    await res.body?.cancel();
    return;
  }
  const text = await res.text();
  // The OAuth endpoints answer in RFC 6749's terms (`error`, `error_description`) instead.
  const pathname = new URL(sent.url).pathname;
  if (/^\/(oauth\/|\.well-known\/o)/.test(pathname) && res.headers.get('Content-Type') === 'application/json') {
    if (sent.method === 'HEAD') return;
    const body = JSON.parse(text) as { error: string; error_description: string };
    expect(Object.keys(OAUTH_ERRORS), `${where} -> ${res.status} ${text}`).toContain(body.error);
    expect(typeof body.error_description, where).toBe('string');
    return;
  }
  // The Flask-JWT compatibility signup answers a taken name as its tutorial did.
  if (new URL(sent.url).pathname === '/signup' && res.status === 400 && text.includes('"Status":"Error"')) {
    expect(JSON.parse(text), where).toEqual({ Status: 'Error', result: 'User already exists' });
    return;
  }
  // The OAuth endpoints a browser is sent to refuse with a page of ours, never a redirect
  // (RFC 6749 §4.1.2.1): an HTML document, not a problem.
  if (HTML_ERROR_PAGES.has(new URL(sent.url).pathname) && res.status === 400) {
    expect(res.headers.get('Content-Type'), where).toBe('text/html; charset=utf-8');
    expect(res.headers.get('Location'), where).toBeNull();
    return;
  }
  expect(res.headers.get('Content-Type'), `${where} -> ${res.status} ${text}`).toBe('application/problem+json');
  if (sent.method === 'HEAD') return;
  const problem = JSON.parse(text) as Problem;
  expect(problem, where).toMatchObject({
    type: expect.any(String),
    title: expect.any(String),
    detail: expect.any(String),
    code: expect.any(String),
  });
  expect(problem.status, `${where} -> ${text}`).toBe(res.status);
  expect(Object.keys(ERROR_CODES), where).toContain(problem.code);
  expect(STATUSES_OF_CODE[problem.code], `${where} -> ${res.status} ${text}`).toContain(res.status);
  if (problem.code === 'unauthorized' || problem.code === 'invalid_token') {
    // A request in the DPoP scheme, or with a DPoP-bound token, gets the DPoP challenge (RFC 9449 §7.1).
    expect(res.headers.get('WWW-Authenticate') ?? '', where).toMatch(/^(Bearer|DPoP) /);
  }
  if (res.status === 401 && problem.code.includes('dpop')) {
    expect(res.headers.get('WWW-Authenticate') ?? '', where).toMatch(/^DPoP error="/);
  }
  if (res.status === 405) {
    // A 405 whose Allow lists the very method that was refused contradicts itself.
    const allow = (res.headers.get('Allow') ?? '').split(/,\s*/).filter(Boolean);
    expect(allow.length, `${where} -> ${text}`).toBeGreaterThan(0);
    expect(allow, `${where} -> ${text}`).not.toContain(sent.method === 'HEAD' ? 'GET' : sent.method);
  }
}

// The service logs one audit line per event; hundreds of fuzzed requests would drown the output.
beforeAll(() => {
  vi.spyOn(console, 'log').mockImplementation(() => {});
});
afterAll(() => {
  vi.restoreAllMocks();
});

describe('Fuzzing', () => {
  it('knows the statuses of every error code but the 5xx ones (a new code must be added here, or random input finds it first)', () => {
    const serverSide = ['service_unavailable', 'legacy_hash_unavailable', 'misconfigured', 'internal_error'];
    expect(
      Object.keys(ERROR_CODES)
        .filter((code) => !serverSide.includes(code))
        .sort(),
    ).toEqual(Object.keys(STATUSES_OF_CODE).sort());
  });

  let paths: string[];
  /** The documented methods of each documented path. */
  let methodsOf: Record<string, string[]>;
  let kid: string;
  let plain: { id: string; username: string };
  let admin: { id: string; username: string };
  let fodder: { id: string; username: string };
  /** A real refresh token of `plain`: the fuzzer may rotate it, reuse it, or log it out. */
  let refreshToken: string;

  /** A currently valid access token of `userId`, minted with the service secret (no PBKDF2). */
  async function mint(userId: string, extra: Json = {}): Promise<string> {
    const row = await userRow(userId);
    const iat = Math.floor(Date.now() / 1000);
    // Every access token names a live session; the fuzzer may have ended earlier ones.
    const sid = crypto.randomUUID();
    await env.DB.prepare(
      'INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, token_version) VALUES (?, ?, ?, ?, ?, ?)',
    )
      .bind(sid, userId, Date.now(), Date.now(), Date.now() + 3_600_000, row?.token_version ?? 0)
      .run();
    return hs256(
      { alg: 'HS256', typ: 'at+jwt', kid },
      {
        sub: userId,
        role: row?.role ?? 'user',
        ver: row?.token_version ?? 0,
        sid,
        token_use: 'access',
        iss: 'edge-auth',
        aud: 'edge-auth',
        iat,
        exp: iat + 600,
        ...extra,
      },
    );
  }

  beforeAll(async () => {
    // The document is a static asset: the Worker's own routes are the rest.
    const { '/openapi.json': _, ...documented } = apiDocument().paths as Record<string, Json>;
    paths = Object.keys(documented);
    methodsOf = Object.fromEntries(
      Object.entries(documented).map(([path, ops]) => [path, Object.keys(ops).map((m) => m.toUpperCase())]),
    );
    expect(paths).toEqual(expect.arrayContaining(['/auth/register', '/auth/me', '/admin/users/{id}', '/hello']));

    const p = await signedIn('fuzzplain');
    plain = p.user;
    kid = JSON.parse(atob(p.token.split('.')[0]!.replaceAll('-', '+').replaceAll('_', '/'))).kid as string;
    admin = (await signedInAdmin()).user;
    fodder = await register(uniqueName('fodder'));
    refreshToken = (await login(plain.username)).refresh_token;
    // The minted tokens are real ones.
    expect((await api('/auth/me', { token: await mint(plain.id) })).status).toBe(200);
    expect((await api('/admin/users', { token: await mint(admin.id) })).status).toBe(200);
  });

  const asciiText = (maxLength: number) => fc.string({ maxLength });
  const anyText = (maxLength: number) =>
    fc.oneof(
      fc.string({ maxLength }),
      fc.string({ unit: 'grapheme', maxLength }),
      fc.string({ unit: 'binary', maxLength }),
    );

  const percentBytes = fc
    .uint8Array({ minLength: 1, maxLength: 12 })
    .map((bytes) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''));

  const paramArb = () =>
    fc.oneof(
      fc.constant(fodder.id),
      fc.uuid(),
      fc.string({ unit: 'grapheme', maxLength: 80 }).map((s) => encodeURIComponent(s)),
      percentBytes,
      fc.constantFrom('x'.repeat(65), '%27%20OR%201%3D1%20--', '..', '%2e%2e', '%00', '%', '%zz', '%E0%A4%A'),
    );

  const unknownPaths = [
    '/',
    '/nope',
    '/auth/',
    '/auth/me/',
    '/AUTH/ME',
    '/auth//me',
    '//auth/me',
    '/admin',
    '/admin/users/',
    '/admin/users/a/b',
    '/.well-known/',
    '/openapi.json',
    '/openapi.json/',
    '/auth/me/..',
    '/%2e%2e/auth/me',
    '/auth/%6De',
    '/signup/',
  ];

  const methodArb = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS');

  /** A method and a path: mostly a documented route with one of its methods, else anything. */
  const targetArb = () =>
    fc.oneof(
      {
        weight: 6,
        arbitrary: fc
          .constantFrom(...paths)
          .chain((path) =>
            fc.tuple(
              fc.oneof(
                { weight: 3, arbitrary: fc.constantFrom(...methodsOf[path]!) },
                { weight: 1, arbitrary: methodArb },
              ),
              path.includes('{') ? paramArb().map((value) => path.replace(/\{[^}]+\}/g, value)) : fc.constant(path),
            ),
          ),
      },
      { weight: 2, arbitrary: fc.tuple(methodArb, fc.constantFrom(...unknownPaths)) },
      {
        weight: 1,
        arbitrary: fc.tuple(
          methodArb,
          asciiText(30).map((s) => `/${encodeURIComponent(s)}`),
        ),
      },
      {
        weight: 1,
        arbitrary: fc.tuple(
          methodArb,
          percentBytes.map((s) => `/auth/${s}`),
        ),
      },
    );

  const queryArb = fc.oneof(
    fc.constant(''),
    fc
      .array(
        fc.tuple(
          fc.oneof(fc.constantFrom('limit', 'cursor', 'refresh_token', 'username', 'role'), asciiText(8)),
          fc.oneof(fc.constantFrom('0', '-1', '1', '20', '100', '101', '1e9', 'abc', '', '1.5', '0x10'), anyText(20)),
        ),
        { minLength: 1, maxLength: 4 },
      )
      .map((pairs) => {
        const params = new URLSearchParams();
        for (const [k, v] of pairs) params.append(k, v.isWellFormed() ? v : v.toWellFormed());
        return `?${params}`;
      }),
    fc.constantFrom('?%', '?limit=%zz', '?cursor=%E0%A4%A', '?&&==&', '?limit[]=1&limit[]=2', '?limit=1&limit=2'),
  );

  const contentTypeArb = fc.oneof(
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 3, arbitrary: fc.constant('application/json') },
    fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'APPLICATION/JSON',
      'application/json;',
      'application/json ; charset=utf-8',
      'application/json; charset',
      'application/merge-patch+json',
      'application/vnd1+json',
      'application/problem+json',
      'application/jsonx',
      'text/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=xyz',
      '',
      '*/*',
    ),
  );

  const credentialsLike = () =>
    fc
      .record(
        {
          username: fc.oneof(
            anyText(40),
            fc.stringMatching(/^[A-Za-z0-9_.-]{3,32}$/),
            fc.constantFrom(plain.username, admin.username, fodder.username),
            fc.jsonValue({ maxDepth: 1 }),
          ),
          password: fc.oneof(anyText(40), fc.constant(PASSWORD), fc.jsonValue({ maxDepth: 1 })),
          role: fc.constantFrom('admin', 'user', 'root', 7),
          id: fc.uuid(),
          refresh_token: fc.oneof(anyText(60), fc.constant(null), fc.constant(refreshToken)),
          refresh_token_delivery: fc.constantFrom('body', 'cookie', 'both', ''),
          current_password: anyText(20),
          new_password: anyText(20),
        },
        { requiredKeys: [] },
      )
      .map((value) => JSON.stringify(value));

  const bodyArb = () =>
    fc.oneof(
      { weight: 2, arbitrary: fc.constant(undefined) },
      { weight: 2, arbitrary: fc.json({ maxDepth: 3 }) },
      { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }).map((v) => JSON.stringify(v)) },
      { weight: 4, arbitrary: credentialsLike() },
      { weight: 1, arbitrary: anyText(200) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
    );

  /** A JWT-shaped string: each part random or plausible; signatures never valid. */
  const randomJwtArb = () => {
    const headerArb = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.record(
        {
          alg: fc.constantFrom('HS256', 'none', 'EdDSA', 'RS256', 'HS512', ''),
          typ: fc.constantFrom('at+jwt', 'JWT', 'application/at+jwt', ''),
          kid: fc.oneof(fc.constant(kid), asciiText(20), fc.integer()),
          crit: fc.constant(['exp']),
          jku: fc.constant('https://evil.example/jwks'),
        },
        { requiredKeys: ['alg'] },
      ),
    );
    const now = Math.floor(Date.now() / 1000);
    const payloadArb = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.record(
        {
          sub: fc.oneof(fc.constant(plain.id), fc.constant(admin.id), asciiText(20)),
          role: fc.constantFrom('user', 'admin', 'root'),
          ver: fc.oneof(fc.constant(0), fc.integer()),
          token_use: fc.constantFrom('access', 'refresh'),
          iss: fc.constantFrom('edge-auth', 'evil'),
          aud: fc.constantFrom('edge-auth', 'evil'),
          iat: fc.oneof(fc.constant(now), fc.integer()),
          exp: fc.oneof(fc.constant(now + 600), fc.integer(), asciiText(5)),
        },
        { requiredKeys: [] },
      ),
    );
    const signatureArb = fc.oneof(
      fc.constant(''),
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map(b64url),
      fc.stringMatching(/^[A-Za-z0-9_-]{0,90}$/),
    );
    return fc
      .tuple(headerArb, payloadArb, signatureArb)
      .map(([h, p, s]) => `${b64url(JSON.stringify(h))}.${b64url(JSON.stringify(p))}.${s}`);
  };

  type Auth = { kind: 'none' } | { kind: 'raw'; value: string } | { kind: 'plain' } | { kind: 'admin' };
  const authArb = (): fc.Arbitrary<Auth> =>
    fc.oneof(
      { weight: 3, arbitrary: fc.constant<Auth>({ kind: 'none' }) },
      { weight: 1, arbitrary: asciiText(60).map<Auth>((value) => ({ kind: 'raw', value })) },
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.constantFrom('Bearer ', 'JWT ', 'bearer ', 'Bearer  ', 'Basic '), randomJwtArb())
          .map<Auth>(([scheme, jwt]) => ({ kind: 'raw', value: scheme + jwt })),
      },
      { weight: 2, arbitrary: fc.constant<Auth>({ kind: 'plain' }) },
      { weight: 2, arbitrary: fc.constant<Auth>({ kind: 'admin' }) },
    );

  const extraHeadersArb = () =>
    fc.record(
      {
        Origin: fc.constantFrom('https://evil.example', 'null', ORIGIN, 'https://auth.example.test.evil.example'),
        Cookie: fc.oneof(
          fc.constant(`__Host-edge-auth-refresh=${refreshToken}`),
          asciiText(40).map((s) => `__Host-edge-auth-refresh=${encodeURIComponent(s)}`),
          asciiText(60),
        ),
        'X-Request-Id': asciiText(40),
        'User-Agent': asciiText(300),
        'CF-Connecting-IP': fc.oneof(fc.ipV4(), fc.ipV6(), asciiText(20)),
      },
      { requiredKeys: [] },
    );

  it('never answers 5xx, and every error is a problem document whose status is the HTTP status', async () => {
    await fc.assert(
      fc.asyncProperty(
        targetArb(),
        queryArb,
        contentTypeArb,
        bodyArb(),
        authArb(),
        extraHeadersArb(),
        async ([method, path], query, contentType, body, auth, extra) => {
          const headers: Record<string, string> = { ...extra };
          if (contentType !== null) headers['Content-Type'] = contentType;
          if (auth.kind === 'raw') headers.Authorization = auth.value;
          if (auth.kind === 'plain') headers.Authorization = `Bearer ${await mint(plain.id)}`;
          if (auth.kind === 'admin') headers.Authorization = `Bearer ${await mint(admin.id)}`;
          const withBody = body !== undefined && method !== 'GET' && method !== 'HEAD';
          const url = `${ORIGIN}${path}${query}`;
          const sent: Sent = {
            method,
            url,
            headers,
            ...(withBody ? { body: typeof body === 'string' ? body : `<${body.length} bytes>` } : {}),
          };
          const res = await oauthProvider.api(url, { method, headers, ...(withBody ? { body } : {}) });
          await expectWellFormed(sent, res);
        },
      ),
      { numRuns: 150 },
    );
  }, 60_000);

  /** A DPoP-proof-shaped string: plausible or hostile headers and claims; never a valid signature. */
  const randomProofArb = () => {
    const now = Math.floor(Date.now() / 1000);
    const jwkArb = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.record(
        {
          kty: fc.constantFrom('EC', 'OKP', 'RSA', 'oct', ''),
          crv: fc.constantFrom('P-256', 'Ed25519', 'P-384', 'X25519'),
          x: fc.oneof(asciiText(50), fc.stringMatching(/^[A-Za-z0-9_-]{43}$/)),
          y: fc.oneof(asciiText(50), fc.stringMatching(/^[A-Za-z0-9_-]{43}$/)),
          d: fc.stringMatching(/^[A-Za-z0-9_-]{43}$/),
          k: asciiText(20),
        },
        { requiredKeys: [] },
      ),
    );
    const headerArb = fc.record(
      {
        alg: fc.constantFrom('ES256', 'EdDSA', 'none', 'HS256', 'RS256', ''),
        typ: fc.constantFrom('dpop+jwt', 'JWT', ''),
        jwk: jwkArb,
      },
      { requiredKeys: [] },
    );
    const payloadArb = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.record(
        {
          htm: fc.constantFrom('GET', 'POST', 'get', ''),
          htu: fc.oneof(fc.constantFrom(`${ORIGIN}/oauth/token`, `${ORIGIN}/auth/me`, 'not a url'), asciiText(40)),
          iat: fc.oneof(fc.constant(now), fc.integer(), asciiText(5)),
          jti: fc.oneof(asciiText(40), fc.integer(), fc.constant('x'.repeat(300))),
          ath: asciiText(43),
          nonce: fc.oneof(asciiText(43), fc.integer()),
        },
        { requiredKeys: [] },
      ),
    );
    return fc.oneof(
      fc
        .tuple(headerArb, payloadArb, fc.stringMatching(/^[A-Za-z0-9_-]{0,90}$/))
        .map(([h, p, sig]) => `${b64url(JSON.stringify(h))}.${b64url(JSON.stringify(p))}.${sig}`),
      asciiText(80),
      fc.constant('x'.repeat(3000)),
    );
  };

  it('never answers 5xx to a hostile DPoP header, at the routes that take one, in their own error format', async () => {
    const nonced = await provider({ DPOP_NONCE: 'true' });
    const targets: [string, string, string | undefined][] = [
      ['POST', '/auth/login', JSON.stringify({ username: plain.username, password: PASSWORD })],
      ['POST', '/auth/refresh', JSON.stringify({ refresh_token: 'x'.repeat(43) })],
      ['POST', '/auth/mfa/verify', JSON.stringify({ mfa_token: 'x'.repeat(43), code: '123456' })],
      ['POST', '/auth/passkeys/sign-in/verify', '{}'],
      ['POST', '/oauth/token', 'grant_type=refresh_token&refresh_token=abc&client_id=nobody'],
      ['GET', '/oauth/userinfo', undefined],
      ['GET', '/auth/me', undefined],
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...targets),
        randomProofArb(),
        fc.constantFrom('DPoP ', 'Bearer ', 'dpop '),
        fc.boolean(),
        async ([method, path, body], proof, scheme, nonce) => {
          const headers: Record<string, string> = {
            DPoP: proof,
            'Content-Type': path === '/oauth/token' ? 'application/x-www-form-urlencoded' : 'application/json',
          };
          // A DPoP-bound token, so the protected route reads the proof.
          if (method === 'GET')
            headers.Authorization = scheme + (await mint(plain.id, { cnf: { jkt: 'k'.repeat(43) } }));
          const url = `${ORIGIN}${path}`;
          const sent: Sent = { method, url, headers, ...(body ? { body } : {}) };
          const res = await (nonce ? nonced : oauthProvider).api(url, { method, headers, ...(body ? { body } : {}) });
          await expectWellFormed(sent, res);
        },
      ),
      { numRuns: 120 },
    );
  }, 60_000);

  it('never accepts a random JWT-shaped token, and answers each with 401 invalid_token', async () => {
    await fc.assert(
      fc.asyncProperty(
        randomJwtArb(),
        fc.constantFrom('/auth/me', '/auth/protected', '/admin/users', '/hello', '/auth/sessions'),
        async (token, path) => {
          const res = await api(path, { headers: { Authorization: `Bearer ${token}` } });
          const where = `GET ${path} with Bearer ${token}`;
          expect(res.status, where).toBe(401);
          expect(res.headers.get('Content-Type'), where).toBe('application/problem+json');
          const problem = (await res.json()) as Problem;
          expect(problem, where).toMatchObject({ status: 401, code: 'invalid_token' });
          expect(res.headers.get('WWW-Authenticate') ?? '', where).toMatch(/^Bearer .*error="invalid_token"/);
        },
      ),
      { numRuns: 120 },
    );
  }, 30_000);

  it('validates any username exactly as documented: NFKC, then 3-32 of A-Z a-z 0-9 _ . -', async () => {
    // A password too short to register: a valid name gets past validation only to fail on
    // the password, so no hashing is spent and nothing is stored.
    const fullWidth = (s: string) => s.replace(/[!-~]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) + 0xfee0));
    const nameArb = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.stringMatching(/^[A-Za-z0-9_.-]{1,40}$/),
      fc.stringMatching(/^[A-Za-z0-9_.-]{3,32}$/).map(fullWidth),
      fc
        .tuple(
          fc.stringMatching(/^[A-Za-z0-9_.-]{3,32}$/),
          fc.constantFrom('\u0000', '\u200b', '\u0430', '\u202e', ' ', '\n', '\u212a', '\uff21'),
        )
        .map(([s, ch]) => `${s}${ch}`),
    );
    await fc.assert(
      fc.asyncProperty(nameArb, async (username) => {
        const res = await api('/auth/register', { json: { username, password: 'short' } });
        const problem = (await res.json()) as Problem;
        const where = `username ${JSON.stringify(username)} -> ${JSON.stringify(problem)}`;
        expect(res.status, where).toBe(400);
        if (!username.isWellFormed()) {
          expect(problem.code, where).toBe('malformed_json');
          return;
        }
        const normalized = username.normalize('NFKC');
        const valid = username.length <= 256 && /^[A-Za-z0-9_.-]{3,32}$/.test(normalized);
        expect(problem.code, where).toBe('validation_failed');
        const fields = (problem.errors ?? []).map((e) => e.field);
        expect(fields.includes('username'), where).toBe(!valid);
        if (valid) expect(fields, where).toEqual(['password']);
      }),
      { numRuns: 150 },
    );
  }, 30_000);
});

describe('SQL metacharacters', () => {
  const injection = "x'; DROP TABLE users; --";

  it('are refused in a username (400), and the users table still works afterwards', async () => {
    for (const username of [injection, "admin'--", '" OR ""="', "1' OR '1'='1", 'a;b', 'abc)--']) {
      const reg = await api('/auth/register', { json: { username, password: PASSWORD } });
      const problem = await expectProblem(reg, 400, 'validation_failed');
      expect(problem.errors).toEqual([expect.objectContaining({ field: 'username' })]);
      await expectProblem(
        await api('/auth/login', { json: { username, password: PASSWORD } }),
        400,
        'validation_failed',
      );
    }
    const count = await env.DB.prepare('SELECT count(*) AS n FROM users').first<{ n: number }>();
    expect(count!.n).toBeGreaterThan(0);
    const after = await register(uniqueName('aftersql'));
    expect(after.role).toBe('user');
  });

  it('are stored exactly in a password, which then works, while SQL-ish guesses do not', async () => {
    const user = await register(uniqueName('sqlpw'), injection);
    const tokens = await login(user.username, injection);
    expect(tokens.access_token).toBeTruthy();
    for (const guess of ["' OR '1'='1", "' OR 1=1 --", `${injection} `, injection.toUpperCase()]) {
      await expectProblem(
        await api('/auth/login', { json: { username: user.username, password: guess } }),
        401,
        'invalid_credentials',
      );
    }
  });

  it('are plain data in the admin cursor and in user ids', async () => {
    const { token } = await signedInAdmin();
    const bystander = await register(uniqueName('bystander'));
    const cursor = "' OR 1=1 --";
    const page = await api(`/admin/users?limit=100&cursor=${encodeURIComponent(cursor)}`, { token });
    expect(page.status).toBe(200);
    const { users } = (await page.json()) as { users: { id: string }[] };
    for (const u of users) expect(u.id > cursor).toBe(true);

    const id = encodeURIComponent(`${bystander.id}' OR '1'='1`);
    await expectProblem(
      await api(`/admin/users/${id}`, { method: 'PATCH', json: { role: 'admin' }, token }),
      404,
      'not_found',
    );
    await expectProblem(await api(`/admin/users/${id}`, { method: 'DELETE', token }), 404, 'not_found');
    expect(await userRow(bystander.id)).toMatchObject({ role: 'user' });
  });
});

describe('Unicode usernames', () => {
  it('register full-width "ａｄｍｉｎ" as "admin" after NFKC, so a second "admin" is 409', async () => {
    const first = await api('/auth/register', { json: { username: 'ａｄｍｉｎ', password: PASSWORD } });
    expect(first.status).toBe(201);
    expect(await first.json()).toMatchObject({ user: { username: 'admin', role: 'user' } });
    for (const username of ['admin', 'ADMIN', 'Ａｄｍｉｎ']) {
      await expectProblem(
        await api('/auth/register', { json: { username, password: PASSWORD } }),
        409,
        'username_taken',
      );
    }
    expect(await countByKey('admin')).toBe(1);
  });

  it('fold the Kelvin sign and full-width letters onto the same account as ASCII', async () => {
    const name = uniqueName('kel');
    const user = await register(name.replace('k', '\u212a'));
    expect(user.username).toBe(name.replace('k', 'K'));
    // Login with the ASCII name, in any case, is the same account.
    const tokens = await login(name.toUpperCase());
    const res = await api('/auth/me', { token: tokens.access_token });
    expect(await res.json()).toMatchObject({ user: { id: user.id } });
  });

  it.each([
    ['Cyrillic а (U+0430)', '\u0430dmin'],
    ['Cyrillic і (U+0456)', 'adm\u0456n'],
    ['Greek Α (U+0391)', '\u0391DMIN'],
    ['dotless ı (U+0131)', 'adm\u0131n'],
    ['Latin ɑ (U+0251)', '\u0251dmin'],
  ])('refuse a look-alike of "admin" with %s (400, never merged)', async (_label, username) => {
    const problem = await expectProblem(
      await api('/auth/register', { json: { username, password: PASSWORD } }),
      400,
      'validation_failed',
    );
    expect(problem.errors).toEqual([expect.objectContaining({ field: 'username' })]);
    await expectProblem(await api('/auth/login', { json: { username, password: PASSWORD } }), 400, 'validation_failed');
    expect(await countByKey(username.normalize('NFKC').toLowerCase())).toBe(0);
  });

  it.each([
    ['NUL', 'ab\u0000cd'],
    ['a trailing NUL', 'abcd\u0000'],
    ['a newline', 'ab\ncd'],
    ['a tab', 'ab\tcd'],
    ['DEL', 'ab\u007fcd'],
    ['an escape', 'ab\u001bcd'],
    ['a right-to-left override', 'ab\u202ecd'],
    ['a zero-width space', 'ab\u200bcd'],
    ['a soft hyphen', 'ab\u00adcd'],
  ])('refuse a name with %s (400)', async (_label, username) => {
    await expectProblem(
      await api('/auth/register', { json: { username, password: PASSWORD } }),
      400,
      'validation_failed',
    );
  });
});

describe('Hostile JSON', () => {
  it('refuses duplicate keys (400 malformed_json), also when one is written with escapes', async () => {
    const name = uniqueName('dup');
    for (const text of [
      `{"username":"${name}","username":"other_${name}","password":"${PASSWORD}"}`,
      `{"username":"${name}","\\u0075sername":"other","password":"${PASSWORD}"}`,
      `{"username":"${name}","password":"${PASSWORD}","extra":{"k":1,"k":2}}`,
    ]) {
      await expectProblem(await rawPost('/auth/register', text), 400, 'malformed_json');
    }
    expect(await countByKey(name.toLowerCase())).toBe(0);
  });

  it('refuses a login whose duplicate "password" key would log in under last-key-wins', async () => {
    const user = await register(uniqueName('duplogin'));
    const text = `{"username":"${user.username}","password":"wrong-password","password":"${PASSWORD}"}`;
    await expectProblem(await rawPost('/auth/login', text), 400, 'malformed_json');
  });

  it('takes "__proto__" and "constructor" keys literally: no role escalation, no pollution', async () => {
    const name = uniqueName('proto');
    const text = `{"username":"${name}","password":"${PASSWORD}","__proto__":{"role":"admin","isAdmin":true},"constructor":{"prototype":{"role":"admin"}}}`;
    const res = await rawPost('/auth/register', text);
    expect(res.status).toBe(201);
    const { user } = (await res.json()) as { user: { id: string; role: string } };
    expect(user.role).toBe('user');
    expect(await userRow(user.id)).toMatchObject({ role: 'user' });
    const tokens = await login(name);
    await expectProblem(await api('/admin/users', { token: tokens.access_token }), 403, 'forbidden');
    expect(({} as Json).role).toBeUndefined();
    expect(({} as Json).isAdmin).toBeUndefined();
  });

  it('does not inherit credentials hidden under "__proto__"', async () => {
    const text = `{"__proto__":{"username":"${uniqueName('hidden')}","password":"${PASSWORD}"}}`;
    const problem = await expectProblem(await rawPost('/auth/register', text), 400, 'validation_failed');
    expect((problem.errors as Json[]).map((e) => e.field).sort()).toEqual(['password', 'username']);
  });

  it('treats "__proto__" and "constructor" as ordinary usernames', async () => {
    for (const username of ['__proto__', 'constructor', 'hasOwnProperty']) {
      const user = await register(username);
      expect(user).toMatchObject({ username, role: 'user' });
      const tokens = await login(username);
      const res = await api('/auth/me', { token: tokens.access_token });
      expect(await res.json()).toMatchObject({ user: { id: user.id, username, role: 'user' } });
    }
  });

  it.each([
    ['in the username', (n: string) => `{"username":"${n}\\ud800","password":"${PASSWORD}"}`],
    ['in the password', (n: string) => `{"username":"${n}","password":"${PASSWORD}\\udfff"}`],
    ['reversed pair', (n: string) => `{"username":"${n}","password":"${PASSWORD}\\udc00\\ud800"}`],
    ['in a key', (n: string) => `{"username":"${n}","password":"${PASSWORD}","\\ud800":1}`],
  ])('refuses a lone UTF-16 surrogate %s (400 malformed_json)', async (_label, text) => {
    const name = uniqueName('surr');
    await expectProblem(await rawPost('/auth/register', text(name)), 400, 'malformed_json');
    expect(await countByKey(name.toLowerCase())).toBe(0);
  });

  it('accepts a correctly paired surrogate escape in a password (the check is not over-broad)', async () => {
    const name = uniqueName('emoji');
    const res = await rawPost('/auth/register', `{"username":"${name}","password":"${PASSWORD}\\ud83d\\ude00"}`);
    expect(res.status).toBe(201);
    await login(name, `${PASSWORD}\u{1F600}`);
  });

  it.each([
    ['an unterminated object', '{'],
    ['a missing value', '{"username":}'],
    ['single quotes', "{'username':'abc','password':'x'}"],
    ['a trailing comma', '{"username":"abc","password":"x",}'],
    ['NaN', '{"username":NaN}'],
    ['a leading-zero number', '{"a":01}'],
    ['an invalid escape', '{"username":"\\x41bc"}'],
    ['two objects', '{}{}'],
    ['a comment', '{/* c */}'],
  ])('refuses malformed JSON: %s (400 malformed_json)', async (_label, text) => {
    await expectProblem(await rawPost('/auth/register', text), 400, 'malformed_json');
  });

  it.each([['[]'], ['"a string"'], ['42'], ['null'], ['true']])(
    'refuses a JSON body that is not an object: %s (400 malformed_json)',
    async (text) => {
      await expectProblem(await rawPost('/auth/login', text), 400, 'malformed_json');
    },
  );

  it('refuses deeply nested JSON under the size limit with a 400, not a 500', async () => {
    const arrays = `{"username":${'['.repeat(5000)}${']'.repeat(5000)},"password":"x"}`;
    const objects = `{"username":"abc","password":"x","deep":${'{"a":'.repeat(2500)}1${'}'.repeat(2500)}}`;
    for (const text of [arrays, objects]) {
      expect(encoder.encode(text).length).toBeLessThan(MAX_BODY);
      const res = await rawPost('/auth/register', text);
      expect(res.status).toBe(400);
      await expectProblem(res, 400);
    }
  });
});

describe('Oversized input', () => {
  const long = 'a'.repeat(10_000);

  it('is refused with 400 in every string field, never 500', async () => {
    const { token } = await signedIn('longfields');
    const admin = await signedInAdmin();
    const cases: [string, Json, string?][] = [
      ['/auth/register', { username: long, password: PASSWORD }],
      ['/auth/register', { username: uniqueName('lp'), password: long }],
      ['/auth/login', { username: long, password: PASSWORD }],
      ['/auth/login', { username: uniqueName('lp'), password: long }],
      ['/auth/login', { username: uniqueName('lp'), password: PASSWORD, refresh_token_delivery: long }],
      ['/auth/refresh', { refresh_token: long }],
      ['/auth/logout', { refresh_token: long }],
      ['/auth/password', { current_password: long, new_password: PASSWORD }, token],
      ['/auth/password', { current_password: PASSWORD, new_password: long }, token],
      ['/signup', { username: long, password: PASSWORD }],
      ['/auth', { username: uniqueName('lp'), password: long }],
    ];
    for (const [path, json, bearer] of cases) {
      const res = await api(path, { json, ...(bearer ? { token: bearer } : {}) });
      await expectProblem(res, 400, 'validation_failed');
    }
    await expectProblem(
      await api(`/admin/users/${admin.user.id}`, { method: 'PATCH', json: { role: long }, token: admin.token }),
      400,
      'validation_failed',
    );
    await expectProblem(
      await api(`/admin/users/${long}`, { method: 'PATCH', json: { role: 'user' }, token: admin.token }),
      400,
      'validation_failed',
    );
    await expectProblem(await api(`/admin/users?cursor=${long}`, { token: admin.token }), 400, 'validation_failed');
    await expectProblem(await api(`/auth/sessions/${long}`, { method: 'DELETE', token }), 400, 'validation_failed');
    await expectProblem(
      await api('/auth/me', { headers: { Authorization: `Bearer ${long}.${long}.${long}` } }),
      401,
      'invalid_token',
    );
  });

  it('refuses a password longer than 128 characters at registration (400)', async () => {
    const problem = await expectProblem(
      await api('/auth/register', { json: { username: uniqueName('pw129'), password: 'p'.repeat(129) } }),
      400,
      'validation_failed',
    );
    expect(problem.errors).toEqual([expect.objectContaining({ field: 'password' })]);
  });

  it('answers a body over 16 KiB with a declared Content-Length with 413 payload_too_large', async () => {
    const text = JSON.stringify({ username: uniqueName('big'), password: PASSWORD, pad: 'x'.repeat(MAX_BODY) });
    for (const path of ['/auth/register', '/auth/login', '/signup', '/auth/refresh']) {
      const res = await api(path, {
        method: 'POST',
        body: text,
        headers: { 'Content-Type': 'application/json', 'Content-Length': String(encoder.encode(text).length) },
      });
      await expectProblem(res, 413, 'payload_too_large');
    }
  });

  it('answers a streamed body over 16 KiB without Content-Length with 413 payload_too_large, and stops reading it', async () => {
    // The app called in this isolate, not through exports.default.fetch: there the body would
    // cross a pipe whose writer logs "disconnected: read end of pipe was aborted" when the
    // Worker stops reading, which is exactly what this test makes it do.
    const app = appWith({});
    const chunk = encoder.encode('x'.repeat(1024));
    for (const path of ['/auth/register', '/auth/login']) {
      let pulled = 0;
      // 1 MiB on offer, produced only as it is read.
      const body = new ReadableStream<Uint8Array>(
        {
          pull(controller) {
            pulled += 1;
            if (pulled === 1) controller.enqueue(encoder.encode('{"pad":"'));
            else if (pulled <= 1024) controller.enqueue(chunk);
            else {
              controller.enqueue(encoder.encode('"}'));
              controller.close();
            }
          },
        },
        { highWaterMark: 0 },
      );
      const res = await app(path, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
      await expectProblem(res, 413, 'payload_too_large');
      expect(pulled, path).toBeLessThanOrEqual(MAX_BODY / 1024 + 2);
    }
  });

  it('accepts a body of exactly 16 KiB and refuses one byte more', async () => {
    const name = uniqueName('edge');
    const core = JSON.stringify({ username: name, password: PASSWORD });
    const exact = core.slice(0, -1) + ' '.repeat(MAX_BODY - encoder.encode(core).length) + '}';
    expect(encoder.encode(exact).length).toBe(MAX_BODY);
    await expectProblem(await rawPost('/auth/register', `${exact} `), 413, 'payload_too_large');
    const res = await rawPost('/auth/register', exact);
    expect(res.status).toBe(201);
  });
});

describe('Content types on JSON routes', () => {
  const credentials = () => JSON.stringify({ username: uniqueName('ct'), password: PASSWORD });

  it.each([
    ['text/plain', 'text/plain'],
    ['form-urlencoded', 'application/x-www-form-urlencoded'],
    ['multipart', 'multipart/form-data; boundary=xyz'],
    ['XML', 'application/xml'],
    ['text/json', 'text/json'],
    ['application/jsonp', 'application/jsonp'],
    ['no content type at all', null],
  ])('refuse %s with 415 unsupported_media_type', async (_label, contentType) => {
    const { token } = await signedIn('ctuser');
    for (const [path, bearer] of [
      ['/auth/register'],
      ['/auth/login'],
      ['/auth/refresh'],
      ['/auth/logout'],
      ['/signup'],
      ['/auth'],
      ['/auth/password', token],
    ] as [string, string?][]) {
      await expectProblem(await rawPost(path, credentials(), contentType, bearer), 415, 'unsupported_media_type');
    }
  });

  it.each([
    ['application/json;'],
    ['application/json ; charset=utf-8'],
    ['application/json; charset'],
    ['application/vnd1+json'],
  ])(
    'either accept "%s" as JSON or refuse it with 415 unsupported_media_type (never another code)',
    async (contentType) => {
      // A too-short password: if the body is read as JSON, the answer is a 400 about the password.
      const res = await rawPost(
        '/auth/register',
        JSON.stringify({ username: uniqueName('ct'), password: 'short' }),
        contentType,
      );
      const problem = (await res.json()) as Problem;
      if (res.status === 400) {
        expect(problem).toMatchObject({
          code: 'validation_failed',
          errors: [expect.objectContaining({ field: 'password' })],
        });
      } else {
        expect(problem).toMatchObject({ status: 415, code: 'unsupported_media_type' });
      }
    },
  );

  describe("agree with Hono's json validator on which Content-Types are JSON", () => {
    // Hono's own validator as the reference (hono/validator; its test is
    // /^application\/([\w.-]+\+)?json$/i on the media type before any ';').
    const hono = new Hono().post(
      '/',
      validator('json', (value) => value),
      (c) => c.json(c.req.valid('json')),
    );
    const honoReadsJson = async (contentType: string) => {
      const res = await hono.request('/', {
        method: 'POST',
        body: '{"probe":1}',
        headers: { 'Content-Type': contentType },
      });
      return ((await res.json()) as Json).probe === 1;
    };
    /** Whether the Worker reads the body as JSON (a 400 about the password) or refuses it (415). */
    const workerReadsJson = async (contentType: string) => {
      const body = JSON.stringify({ username: uniqueName('ct'), password: 'short' });
      const res = await rawPost('/auth/register', body, contentType);
      const problem = (await res.json()) as Problem;
      if (res.status === 415) {
        expect(problem.code, contentType).toBe('unsupported_media_type');
        return false;
      }
      expect(problem, contentType).toMatchObject({ status: 400, code: 'validation_failed' });
      expect(problem.errors, contentType).toEqual([expect.objectContaining({ field: 'password' })]);
      return true;
    };

    const catalogue = [
      'application/json',
      'application/json; charset=utf-8',
      'application/json;charset=utf-8',
      'application/json ;charset=utf-8',
      'application/json ; charset=utf-8',
      'application/json\t; charset=utf-8',
      'application/json;',
      'application/json; charset',
      'application/json; charset="utf-8"',
      'application/json; a=b; c=d',
      'APPLICATION/JSON',
      'Application/Json; Charset=UTF-8',
      'application/vnd.api+json',
      'application/vnd.api+json; ext=bulk',
      'application/ld+json',
      'application/problem+json',
      'application/merge-patch+json',
      'application/vnd1+json',
      'application/x_y+json',
      'application/xml+json',
      'application/a+b+json',
      'application/+json',
      'application/json+xml',
      'application/json5',
      'application/jsonp',
      'application/json-seq',
      'application /json',
      'application/ json',
      'application/json, text/plain',
      'text/plain, application/json',
      'text/json',
      'text/plain',
      'application/javascript',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'json',
      '',
    ];

    it.each(catalogue)('"%s"', async (contentType) => {
      expect(await workerReadsJson(contentType)).toBe(await honoReadsJson(contentType));
    });

    it('the catalogue holds both verdicts (the test above cannot pass by refusing everything)', async () => {
      const verdicts = await Promise.all(catalogue.map(honoReadsJson));
      expect(verdicts.filter(Boolean).length).toBeGreaterThan(10);
      expect(verdicts.filter((v) => !v).length).toBeGreaterThan(10);
    });

    it('on generated Content-Types', async () => {
      const token = fc.stringMatching(/^[A-Za-z0-9_.+-]{0,12}$/);
      const space = fc.constantFrom('', ' ', '  ', '\t');
      const contentTypeArb = fc
        .tuple(
          fc.constantFrom('application', 'Application', 'text', 'APPLICATION'),
          fc.oneof(
            fc.constantFrom('json', 'JSON', 'vnd.api+json', 'x+json'),
            token.map((t) => `${t}json`),
            token,
          ),
          space,
          fc.array(fc.tuple(space, token, fc.constantFrom('=', ''), token), { maxLength: 2 }),
        )
        .map(
          ([type, subtype, before, params]) =>
            `${type}/${subtype}${before}${params.map(([sp, k, eq, v]) => `;${sp}${k}${eq}${v}`).join('')}`,
        );
      await fc.assert(
        fc.asyncProperty(contentTypeArb, async (contentType) => {
          expect(await workerReadsJson(contentType), contentType).toBe(await honoReadsJson(contentType));
        }),
        { numRuns: 150 },
      );
    }, 30_000);
  });

  it('accepts media type names in any case (RFC 9110: case-insensitive)', async () => {
    const name = uniqueName('CASE');
    const res = await rawPost(
      '/auth/register',
      JSON.stringify({ username: name, password: PASSWORD }),
      'Application/JSON; Charset=UTF-8',
    );
    expect(res.status).toBe(201);
  });
});

describe('The admin user list', () => {
  it.each([['0'], ['-1'], ['101'], ['abc'], ['1e9'], ['1.5'], [''], ['Infinity'], ['NaN']])(
    'refuses ?limit=%s with 400 validation_failed',
    async (limit) => {
      const { token } = await signedInAdmin();
      const problem = await expectProblem(
        await api(`/admin/users?limit=${encodeURIComponent(limit)}`, { token }),
        400,
        'validation_failed',
      );
      expect(problem.errors).toEqual([expect.objectContaining({ field: 'limit' })]);
    },
  );

  it('refuses a repeated ?limit with 400', async () => {
    const { token } = await signedInAdmin();
    await expectProblem(await api('/admin/users?limit=1&limit=2', { token }), 400, 'validation_failed');
  });

  it.each([['1'], ['100']])('honours ?limit=%s', async (limit) => {
    const { token } = await signedInAdmin();
    await register(uniqueName('listed'));
    const res = await api(`/admin/users?limit=${limit}`, { token });
    expect(res.status).toBe(200);
    const { users } = (await res.json()) as { users: unknown[] };
    expect(users.length).toBeGreaterThan(0);
    expect(users.length).toBeLessThanOrEqual(Number(limit));
  });
});

describe('Registration', () => {
  it('ignores a client-supplied role, id, token version and timestamps', async () => {
    const name = uniqueName('greedy');
    const chosenId = crypto.randomUUID();
    const res = await api('/auth/register', {
      json: {
        username: name,
        password: PASSWORD,
        role: 'admin',
        id: chosenId,
        token_version: 99,
        tokenVersion: 99,
        created_at: '1970-01-01T00:00:00.000Z',
      },
    });
    expect(res.status).toBe(201);
    const { user } = (await res.json()) as { user: { id: string; role: string; created_at: string } };
    expect(user.role).toBe('user');
    expect(user.id).not.toBe(chosenId);
    expect(user.created_at).not.toBe('1970-01-01T00:00:00.000Z');
    expect(await userRow(user.id)).toMatchObject({ role: 'user', token_version: 0 });
    expect(await userRow(chosenId)).toBeNull();
    const tokens = await login(name, PASSWORD, { role: 'admin' });
    await expectProblem(await api('/admin/users', { token: tokens.access_token }), 403, 'forbidden');
  });
});

describe('Concurrency', () => {
  it('lets exactly one of 20 simultaneous registrations of one username succeed', async () => {
    const name = uniqueName('race');
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => api('/auth/register', { json: { username: name, password: PASSWORD } })),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    for (const res of responses) {
      if (res.status === 409) await expectProblem(res, 409, 'username_taken');
      else await res.body?.cancel();
    }
    expect(await countByKey(name.toLowerCase())).toBe(1);
  }, 20_000);

  it('lets exactly one of simultaneous registrations of case and width variants of one name succeed', async () => {
    const name = uniqueName('variant');
    const fullWidth = name.replace(/[!-~]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) + 0xfee0));
    const variants = [name, name.toUpperCase(), fullWidth, name.toLowerCase(), fullWidth.toUpperCase()];
    const responses = await Promise.all(
      [...variants, ...variants].map((username) => api('/auth/register', { json: { username, password: PASSWORD } })),
    );
    const statuses = responses.map((r) => r.status);
    for (const res of responses) await res.body?.cancel();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(variants.length * 2 - 1);
    expect(await countByKey(name.toLowerCase())).toBe(1);
  }, 20_000);

  it('applies 10 simultaneous role changes of one user, and D1, /auth/me and the admin routes agree', async () => {
    const { token: adminToken } = await signedInAdmin();
    const target = await signedIn('flipper');
    const roles = Array.from({ length: 10 }, (_, i) => (i % 3 === 0 ? 'user' : i % 2 === 0 ? 'admin' : 'user'));
    expect(new Set(roles)).toEqual(new Set(['user', 'admin']));
    const responses = await Promise.all(
      roles.map((role) =>
        api(`/admin/users/${target.user.id}`, { method: 'PATCH', json: { role }, token: adminToken }),
      ),
    );
    for (const [i, res] of responses.entries()) {
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ user: { id: target.user.id, role: roles[i] } });
    }
    const row = await userRow(target.user.id);
    expect(roles).toContain(row!.role);
    const me = await api('/auth/me', { token: target.token });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ user: { role: row!.role } });
    const adminList = await api('/admin/users', { token: target.token });
    expect(adminList.status).toBe(row!.role === 'admin' ? 200 : 403);
    await adminList.body?.cancel();
  }, 20_000);
});

describe('A path that is not quite a route', () => {
  it.each([
    ['a trailing slash', 'GET', '/auth/me/'],
    ['a trailing slash', 'GET', '/health/'],
    ['a trailing slash', 'POST', '/auth/login/'],
    ['a trailing slash', 'POST', '/auth/'],
    ['another character where the route has a dot', 'GET', '/openapiXjson'],
    ['another character where the route has a dot', 'GET', '/.well-known/jwksXjson'],
  ])('(%s: %s %s) is not refused with a 405 that allows the very method it refused', async (_label, method, path) => {
    const res = await api(path, { method, headers: { 'Content-Type': 'application/json' } });
    const text = await res.text();
    if (res.status === 405) {
      const allow = (res.headers.get('Allow') ?? '').split(/,\s*/);
      expect(allow, `${method} ${path} -> ${text}`).not.toContain(method);
    } else {
      expect([200, 400, 401, 404], `${method} ${path} -> ${res.status} ${text}`).toContain(res.status);
    }
  });
});
