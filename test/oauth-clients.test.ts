/**
 * The client registry: Dynamic Client Registration (RFC 7591) with an admin's initial access
 * token or, when switched on, open registration of public clients; the admin routes; and
 * redirect-URI matching.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { matchRedirectUri } from '../src/oauth/clients';
import { captureAudit, signedIn } from './helpers';
import { adminOf, provider, registerClient, type Provider } from './oauth-helpers';

const p: Provider = await provider();
const admin = await adminOf(p);

const register = (metadata: Record<string, unknown>, token?: string, call: Provider = p, headers = {}) =>
  call.api('/oauth/register', { json: metadata, ...(token ? { token } : {}), headers });

async function expectError(res: Response, status: number, error: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: string; error_description: string };
  expect(body.error, body.error_description).toBe(error);
  return body;
}

const web = { redirect_uris: ['https://app.example.test/cb'] };

describe('registration with an admin token', () => {
  it('registers a confidential client, showing its secret once and storing only a hash', async () => {
    const { lines } = await captureAudit(async () => {
      const res = await register(
        { ...web, client_name: 'Billing', scope: 'openid email', unknown_member: 1 },
        admin.token,
      );
      expect(res.status).toBe(201);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({
        client_id: expect.any(String),
        client_secret: expect.any(String),
        client_secret_expires_at: 0,
        client_id_issued_at: expect.any(Number),
        client_name: 'Billing',
        redirect_uris: web.redirect_uris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'openid email',
        id_token_signed_response_alg: 'RS256',
        // RFC 9449 §5.2: false when not asked for.
        dpop_bound_access_tokens: false,
      });
      // RFC 7591 §2: unknown metadata is ignored, not echoed.
      expect(body).not.toHaveProperty('unknown_member');
      expect(body).not.toHaveProperty('token_endpoint_auth_signing_alg');
      const row = await env.DB.prepare('SELECT * FROM oauth_clients WHERE id = ?').bind(body.client_id).first();
      expect(JSON.stringify(row)).not.toContain(body.client_secret as string);
      expect(row!.secret_hash).toEqual(expect.any(String));
      // Never shown again.
      const listed = await p.api('/admin/oauth/clients?limit=100', { token: admin.token });
      expect(JSON.stringify(await listed.json())).not.toContain(body.client_secret as string);
    });
    expect(lines).toContainEqual(expect.objectContaining({ event: 'oauth_client_registered', user_id: admin.id }));
  });

  it('registers native apps with a private-use scheme or a loopback redirect', async () => {
    const res = await register(
      { redirect_uris: ['com.example.app:/callback', 'http://127.0.0.1/cb'], token_endpoint_auth_method: 'none' },
      admin.token,
    );
    expect(res.status).toBe(201);
    expect(await res.json()).not.toHaveProperty('client_secret');
  });

  it('refuses bad metadata with invalid_redirect_uri or invalid_client_metadata', async () => {
    for (const uris of [
      ['http://app.example.test/cb'],
      ['https://app.example.test/cb#fragment'],
      ['not a uri'],
      ['javascript:alert(1)'],
      ['https://user:pass@app.example.test/cb'],
    ]) {
      await expectError(await register({ redirect_uris: uris }, admin.token), 400, 'invalid_redirect_uri');
    }
    for (const metadata of [
      {},
      { redirect_uris: [] },
      { ...web, token_endpoint_auth_method: 'private_key_jwt' },
      { ...web, grant_types: ['implicit'] },
      { ...web, grant_types: ['refresh_token'] },
      { ...web, response_types: ['token'] },
      { ...web, scope: 'openid admin:everything' },
      { ...web, id_token_signed_response_alg: 'none' },
      { ...web, dpop_bound_access_tokens: 'true' },
      { ...web, dpop_bound_access_tokens: 1 },
      // For private_key_jwt clients only.
      { ...web, token_endpoint_auth_signing_alg: 'ES256' },
      { ...web, token_endpoint_auth_method: 'none', token_endpoint_auth_signing_alg: 'EdDSA' },
      { ...web, client_name: 'x'.repeat(101) },
      { ...web, redirect_uris: Array.from({ length: 11 }, (_, i) => `https://app.example.test/${i}`) },
    ]) {
      await expectError(await register(metadata, admin.token), 400, 'invalid_client_metadata');
    }
  });

  it('answers malformed bodies in RFC terms, never with a 500', async () => {
    for (const init of [
      { body: '{not json', headers: { 'Content-Type': 'application/json' } },
      { body: '{"redirect_uris":[],"redirect_uris":[]}', headers: { 'Content-Type': 'application/json' } },
      { body: 'redirect_uris=x', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } },
    ]) {
      const res = await p.api('/oauth/register', {
        method: 'POST',
        body: init.body,
        headers: { ...init.headers, Authorization: `Bearer ${admin.token}` },
      });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(((await res.json()) as { error: string }).error).toEqual(expect.any(String));
    }
  });

  it('refuses a user’s token (403) and a bad token (401), with a Bearer challenge', async () => {
    const user = await signedIn('not_admin');
    await expectError(await register(web, user.token), 403, 'insufficient_scope');
    const bad = await register(web, 'not-a-token');
    await expectError(bad, 401, 'invalid_token');
    expect(bad.headers.get('WWW-Authenticate')).toMatch(/^Bearer /);
  });
});

describe('registration without a token', () => {
  it('is refused while open registration is off', async () => {
    const res = await register({ ...web, token_endpoint_auth_method: 'none' });
    await expectError(res, 401, 'invalid_token');
    expect(res.headers.get('WWW-Authenticate')).toBe('Bearer realm="edge-auth", DPoP algs="ES256 EdDSA Ed25519"');
  });

  it('with OAUTH_OPEN_REGISTRATION=true, takes public clients redirecting to https or loopback only', async () => {
    const open = await provider({ OAUTH_OPEN_REGISTRATION: 'true' });
    const mcp = await register(
      {
        redirect_uris: ['http://localhost:33418/callback', 'https://claude.example.test/cb'],
        token_endpoint_auth_method: 'none',
      },
      undefined,
      open,
    );
    expect(mcp.status).toBe(201);
    await expectError(await register(web, undefined, open), 400, 'invalid_client_metadata');
    await expectError(
      await register({ ...web, token_endpoint_auth_method: 'client_secret_post' }, undefined, open),
      400,
      'invalid_client_metadata',
    );
    await expectError(
      await register({ redirect_uris: ['com.example.app:/cb'], token_endpoint_auth_method: 'none' }, undefined, open),
      400,
      'invalid_redirect_uri',
    );
  });

  it('is limited per address', async () => {
    const limited = await provider({ OAUTH_OPEN_REGISTRATION: 'true', REGISTER_IP_MAX: '2' });
    const ip = { 'CF-Connecting-IP': '192.0.2.77' };
    const pub = { ...web, token_endpoint_auth_method: 'none' };
    expect((await register(pub, undefined, limited, ip)).status).toBe(201);
    expect((await register(pub, undefined, limited, ip)).status).toBe(201);
    const over = await register(pub, undefined, limited, ip);
    await expectError(over, 429, 'temporarily_unavailable');
    expect(Number(over.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect((await register(pub, undefined, limited, { 'CF-Connecting-IP': '192.0.2.78' })).status).toBe(201);
  });
});

describe('/admin/oauth/clients', () => {
  it('lists, updates (skip_consent among others) and deletes clients', async () => {
    const client = await registerClient(p, { client_name: 'First party', dpop_bound_access_tokens: true }, admin.token);
    const page = (await (await p.api('/admin/oauth/clients?limit=100', { token: admin.token })).json()) as {
      clients: Record<string, unknown>[];
    };
    expect(page.clients.find((c) => c.client_id === client.client_id)).toMatchObject({
      client_name: 'First party',
      skip_consent: false,
      registered_by: 'admin',
      dpop_bound_access_tokens: true,
    });

    const patched = await p.api(`/admin/oauth/clients/${client.client_id}`, {
      method: 'PATCH',
      json: {
        skip_consent: true,
        client_name: 'Our app',
        redirect_uris: ['https://ours.example.test/cb'],
        logo_uri: null,
      },
      token: admin.token,
    });
    expect(patched.status).toBe(200);
    expect(((await patched.json()) as { client: unknown }).client).toMatchObject({
      skip_consent: true,
      client_name: 'Our app',
      redirect_uris: ['https://ours.example.test/cb'],
      dpop_bound_access_tokens: true,
    });

    const refused = await p.api(`/admin/oauth/clients/${client.client_id}`, {
      method: 'PATCH',
      json: { redirect_uris: ['http://ours.example.test/cb'] },
      token: admin.token,
    });
    expect(refused.status).toBe(400);
    expect(refused.headers.get('Content-Type')).toBe('application/problem+json');

    expect(
      (await p.api(`/admin/oauth/clients/${client.client_id}`, { method: 'DELETE', token: admin.token })).status,
    ).toBe(204);
    expect(
      (await p.api(`/admin/oauth/clients/${client.client_id}`, { method: 'DELETE', token: admin.token })).status,
    ).toBe(404);
    const missing = await p.api('/admin/oauth/clients/nope', { method: 'PATCH', json: {}, token: admin.token });
    expect(missing.status).toBe(404);
  });

  it('is for admins only', async () => {
    const user = await signedIn('plain');
    expect((await p.api('/admin/oauth/clients', { token: user.token })).status).toBe(403);
    expect((await p.api('/admin/oauth/clients')).status).toBe(401);
  });
});

describe('redirect URI matching', () => {
  const registered = ['https://app.example.test/cb', 'http://127.0.0.1/cb', 'http://[::1]/native'];

  it('matches exactly', () => {
    expect(matchRedirectUri(registered, 'https://app.example.test/cb')).toBe(true);
    for (const near of [
      'https://app.example.test/cb/',
      'https://app.example.test/cb?x=1',
      'https://app.example.test/c',
      'https://APP.example.test/cb',
      'https://app.example.test:444/cb',
      'https://app.example.test/cb#f',
      'http://app.example.test/cb',
    ]) {
      expect(matchRedirectUri(registered, near), near).toBe(false);
    }
  });

  it('matches a loopback URI on any port (RFC 8252 §7.3), but nothing else about it', () => {
    expect(matchRedirectUri(registered, 'http://127.0.0.1:51004/cb')).toBe(true);
    expect(matchRedirectUri(registered, 'http://[::1]:8080/native')).toBe(true);
    expect(matchRedirectUri(registered, 'http://127.0.0.1:51004/other')).toBe(false);
    expect(matchRedirectUri(registered, 'http://localhost:51004/cb')).toBe(false);
    expect(matchRedirectUri(registered, 'https://127.0.0.1:51004/cb')).toBe(false);
    expect(matchRedirectUri(registered, 'http://user@127.0.0.1:51004/cb')).toBe(false);
  });
});
