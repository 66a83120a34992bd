import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/http/app';
import { api, apiDocument, expectProblem } from './helpers';

afterEach(() => vi.restoreAllMocks());

/**
 * Captures the operator's error log lines (JSON on stderr) instead of printing them, so a
 * passing run shows no error output; the tests assert what the operator would read.
 */
function errorLog(): () => Record<string, unknown>[] {
  const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
  return () => spy.mock.calls.map(([line]) => JSON.parse(line as string) as Record<string, unknown>);
}

describe('GET /health', () => {
  it('is ok when D1 answers', async () => {
    const res = await api('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('is a 503 problem when D1 is unreachable', async () => {
    const broken = {
      prepare: () => {
        throw new Error('D1 is down');
      },
      batch: () => Promise.reject(new Error('D1 is down')),
    } as unknown as D1Database;
    const logged = errorLog();
    const res = await createApp().fetch(new Request('https://auth.example.test/health'), { ...env, DB: broken });
    await expectProblem(res, 503, 'service_unavailable');
    expect(logged()).toEqual([
      { type: 'error', message: 'health check: D1 query failed', request_id: res.headers.get('X-Request-Id') },
    ]);
  });
});

describe('unknown routes and methods', () => {
  it('are 404 problems for unknown paths', async () => {
    await expectProblem(await api('/nope'), 404, 'not_found');
    await expectProblem(await api('/admin/users/x/y'), 404, 'not_found');
  });

  it('are 405 problems with Allow for a known path', async () => {
    const res = await api('/auth/register');
    await expectProblem(res, 405, 'method_not_allowed');
    expect(res.headers.get('Allow')).toBe('POST');
    const item = await api('/admin/users/some-id', { method: 'PUT' });
    await expectProblem(item, 405, 'method_not_allowed');
    expect(item.headers.get('Allow')).toBe('GET, PATCH, DELETE');
  });
});

describe('a misconfigured deployment', () => {
  const misconfigured = { ...env, JWT_SECRET: 'too-short' };

  it('answers 500 misconfigured and logs it, naming the variable but not its value', async () => {
    const logged = errorLog();
    const res = await createApp().fetch(new Request('https://auth.example.test/health'), misconfigured);
    const problem = await expectProblem(res, 500, 'misconfigured');
    expect(JSON.stringify(problem)).not.toContain('too-short');
    expect(logged()).toEqual([
      expect.objectContaining({ type: 'error', kind: 'config', message: expect.stringMatching(/JWT_SECRET/) }),
    ]);
    expect(JSON.stringify(logged())).not.toContain('too-short');
  });

  it('tells an outside caller only that it is misconfigured, not which variable is wrong', async () => {
    errorLog();
    const res = await createApp().fetch(new Request('https://auth.example.test/health'), misconfigured);
    const problem = await expectProblem(res, 500, 'misconfigured');
    expect(problem.detail).toBe('The service is misconfigured.');
    expect(JSON.stringify(problem)).not.toMatch(/JWT_SECRET/);
  });

  it('names the variable to a caller on loopback (a developer at wrangler dev)', async () => {
    errorLog();
    for (const origin of ['http://localhost:8787', 'http://127.0.0.1:8787', 'http://[::1]:8787']) {
      const res = await createApp().fetch(new Request(`${origin}/health`), misconfigured);
      const problem = await expectProblem(res, 500, 'misconfigured');
      expect(problem.detail, origin).toMatch(/JWT_SECRET/);
      expect(JSON.stringify(problem)).not.toContain('too-short');
    }
  });
});

describe('a key ring with one kid for two different keys', () => {
  it('is refused as misconfigured instead of shadowing the signing key', async () => {
    const pair = async () => {
      const keys = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
      return (await crypto.subtle.exportKey('jwk', keys.privateKey)) as JsonWebKey;
    };
    const signing = { ...(await pair()), kid: 'k1', alg: 'EdDSA' };
    const logged = errorLog();
    const { d: _d, ...other } = { ...(await pair()), kid: 'k1', alg: 'EdDSA' };
    const res = await createApp().fetch(new Request('https://auth.example.test/.well-known/jwks.json'), {
      ...env,
      JWT_PRIVATE_KEY: JSON.stringify(signing),
      JWT_PREVIOUS_PUBLIC_KEYS: JSON.stringify([other]),
    });
    const problem = await expectProblem(res, 500, 'misconfigured');
    expect(problem.detail).toBe('The service is misconfigured.');
    expect(JSON.stringify(problem)).not.toContain(signing.d!);
    expect(logged()).toEqual([expect.objectContaining({ kind: 'config', message: expect.stringMatching(/kid "k1"/) })]);
    expect(JSON.stringify(logged())).not.toContain(signing.d!);
  });
});

describe('The OpenAPI document (/openapi.json, a static asset built from the routes)', () => {
  it('is an OpenAPI 3.1 document covering every route', async () => {
    const doc = apiDocument() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(routes.sort()).toEqual(
      [
        'POST /auth/register',
        'POST /auth/login',
        'POST /auth/refresh',
        'POST /auth/logout',
        'POST /auth/logout-all',
        'POST /auth/password',
        'GET /auth/protected',
        'GET /auth/me',
        'GET /auth/sessions',
        'DELETE /auth/sessions/{id}',
        'POST /auth/api-keys',
        'GET /auth/api-keys',
        'DELETE /auth/api-keys/{id}',
        'GET /admin/users',
        'GET /admin/users/{id}',
        'PATCH /admin/users/{id}',
        'DELETE /admin/users/{id}',
        'GET /health',
        'GET /openapi.json',
        'GET /.well-known/jwks.json',
        'POST /signup',
        'POST /auth',
        'GET /hello',
        'POST /auth/mfa/totp',
        'POST /auth/mfa/totp/confirm',
        'DELETE /auth/mfa/totp',
        'POST /auth/mfa/recovery-codes',
        'POST /auth/mfa/verify',
        'POST /auth/password/reset',
        'POST /auth/password/forgot',
        'POST /auth/email',
        'POST /auth/email/verify',
        'POST /admin/users/{id}/password-reset',
        'DELETE /admin/users/{id}/mfa',
        'POST /auth/passkeys/register/options',
        'POST /auth/passkeys/register/verify',
        'POST /auth/passkeys/sign-in/options',
        'POST /auth/passkeys/sign-in/verify',
        'POST /auth/passkeys/sign-up/options',
        'POST /auth/passkeys/sign-up/verify',
        'GET /auth/passkeys',
        'PATCH /auth/passkeys/{id}',
        'DELETE /auth/passkeys/{id}',
        'POST /auth/password/add',
        'GET /.well-known/openid-configuration',
        'GET /.well-known/oauth-authorization-server',
        'POST /oauth/token',
        'GET /oauth/userinfo',
        'POST /oauth/userinfo',
        'POST /oauth/revoke',
        'POST /oauth/introspect',
        'POST /oauth/register',
        'GET /oauth/authorize',
        'POST /oauth/authorize',
        'POST /oauth/interaction/sign-in',
        'POST /oauth/interaction/verify',
        'POST /oauth/interaction/consent',
        'POST /oauth/interaction/next',
        'GET /oauth/logout',
        'POST /oauth/logout',
        'POST /oauth/interaction/logout',
        'POST /oauth/interaction/logout/next',
        'GET /admin/oauth/clients',
        'PATCH /admin/oauth/clients/{client_id}',
        'DELETE /admin/oauth/clients/{client_id}',
        'POST /oauth/interaction/passkey',
        'POST /oauth/device_authorization',
        'POST /oauth/interaction/device',
      ].sort(),
    );
  });

  it('gives every operation a plain-text summary (tools show a summary as written, backticks and all)', async () => {
    const doc = apiDocument() as { paths: Record<string, Record<string, { summary: string }>> };
    const summaries = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((op) => op.summary));
    expect(summaries).toContain('Create a user (always with role user)');
    expect(summaries.filter((summary) => summary.includes('`'))).toEqual([]);
  });

  it('documents request bodies from the same zod schemas that validate them', async () => {
    const doc = apiDocument();
    const schema = doc.paths['/auth/register'].post.requestBody.content['application/json'].schema;
    expect(schema.required).toEqual(expect.arrayContaining(['username', 'password']));
    expect(schema.properties.username.maxLength ?? schema.properties.username).toBeTruthy();
  });
});
