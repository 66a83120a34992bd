/**
 * The client credentials grant (RFC 6749 §4.4): machine clients registered by admins get
 * access tokens for themselves, for scopes of the APIs within what they registered, and
 * nothing a user's grant gets (no refresh token, no ID token, no way into userinfo or the
 * service's own routes).
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { dpopKey } from './dpop';
import { captureAudit } from './helpers';
import {
  adminOf,
  basic,
  clientCredentials,
  form,
  ISSUER,
  jwtPart,
  provider,
  registerClient,
  verifyOffline,
  type Provider,
  type RegisteredClient,
} from './oauth-helpers';

const p: Provider = await provider({ OAUTH_API_SCOPES: 'reports:read reports:write' });
const admin = await adminOf(p);
const machine = (metadata: Record<string, unknown> = {}) =>
  registerClient(
    p,
    {
      client_name: 'Nightly job',
      redirect_uris: undefined,
      grant_types: ['client_credentials'],
      scope: 'reports:read reports:write',
      ...metadata,
    },
    admin.token,
  );
const job: RegisteredClient = await machine();

async function expectOAuthError(res: Response, status: number, error: string) {
  const body = (await res.json()) as { error: string; error_description: string };
  expect(res.status, body.error_description).toBe(status);
  expect(body.error, body.error_description).toBe(error);
  return body;
}

const introspect = (client: RegisteredClient, token: string) =>
  p
    .api('/oauth/introspect', form({ token }, { Authorization: basic(client.client_id, client.client_secret!) }))
    .then((res) => res.json() as Promise<Record<string, unknown>>);

describe('registration', () => {
  it('registers a machine client with DCR: no redirect URIs, no response types, a secret', () => {
    expect(job).toMatchObject({
      client_secret: expect.any(String),
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'reports:read reports:write',
      token_endpoint_auth_method: 'client_secret_basic',
    });
  });

  it('refuses a public client, a client without a scope of the APIs, and open registration', async () => {
    for (const metadata of [
      { token_endpoint_auth_method: 'none' },
      { scope: undefined },
      { scope: 'openid profile' },
      { scope: 'reports:delete' },
    ]) {
      const res = await p.api('/oauth/register', {
        token: admin.token,
        json: { grant_types: ['client_credentials'], scope: 'reports:read', ...metadata },
      });
      await expectOAuthError(res, 400, 'invalid_client_metadata');
    }
    const open = await provider({ OAUTH_OPEN_REGISTRATION: 'true' });
    const res = await open.api('/oauth/register', {
      json: { grant_types: ['client_credentials'], scope: 'api', token_endpoint_auth_method: 'none' },
    });
    await expectOAuthError(res, 400, 'invalid_client_metadata');
  });

  it('lets an admin add the grant to a client with /admin/oauth/clients', async () => {
    const web = await registerClient(p, { scope: 'openid profile' }, admin.token);
    await expectOAuthError(await clientCredentials(p, web), 400, 'unauthorized_client');
    const patch = (json: Record<string, unknown>) =>
      p.api(`/admin/oauth/clients/${web.client_id}`, { method: 'PATCH', token: admin.token, json });
    // Not without a scope of the APIs.
    expect((await patch({ grant_types: ['authorization_code', 'client_credentials'] })).status).toBe(400);
    const res = await patch({
      grant_types: ['authorization_code', 'client_credentials'],
      scope: 'openid reports:read',
    });
    expect(res.status).toBe(200);
    const answer = await clientCredentials(p, web);
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { scope: string }).scope).toBe('reports:read');
  });
});

describe('the token', () => {
  it('is an RFC 9068 access token for the client itself, verifiable offline, with no refresh or ID token', async () => {
    const { lines } = await captureAudit(async () => {
      const res = await clientCredentials(p, job);
      expect(res.status).toBe(200);
      expect(res.headers.get('Cache-Control')).toBe('no-store');
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toEqual({
        access_token: expect.any(String),
        token_type: 'Bearer',
        expires_in: 900,
        scope: 'reports:read reports:write',
      });
      const token = body.access_token as string;
      expect(jwtPart(token, 0)).toMatchObject({ typ: 'at+jwt', alg: 'RS256', kid: 'rs-test' });
      const claims = await verifyOffline(p, token);
      expect(claims).toMatchObject({
        iss: ISSUER,
        sub: job.client_id,
        aud: ISSUER,
        client_id: job.client_id,
        scope: 'reports:read reports:write',
        jti: expect.any(String),
      });
      expect(claims).not.toHaveProperty('sid');
      expect(claims).not.toHaveProperty('auth_time');
    });
    expect(lines).toContainEqual(
      expect.objectContaining({ event: 'oauth_client_credentials', client_id: job.client_id }),
    );
  });

  it('names the resource as its audience (RFC 8707), and refuses a resource that is no absolute URI', async () => {
    const res = await clientCredentials(p, job, { resource: 'https://reports.example.test/' });
    const { access_token } = (await res.json()) as { access_token: string };
    expect((await verifyOffline(p, access_token, 'https://reports.example.test/')).aud).toBe(
      'https://reports.example.test/',
    );
    for (const resource of ['reports', 'https://reports.example.test/#x']) {
      await expectOAuthError(await clientCredentials(p, job, { resource }), 400, 'invalid_target');
    }
  });

  it('carries the scopes asked within the registered ones, and refuses any other as invalid_scope', async () => {
    const narrow = await clientCredentials(p, job, { scope: 'reports:read' });
    expect(((await narrow.json()) as { scope: string }).scope).toBe('reports:read');
    for (const scope of ['admin', 'openid', 'reports:read profile', 'unknown', 'reports:read  reports:write']) {
      await expectOAuthError(await clientCredentials(p, job, { scope }), 400, 'invalid_scope');
    }
  });

  it('grants only the scopes of the APIs configured now', async () => {
    const narrowed = await provider({ OAUTH_API_SCOPES: 'reports:read' });
    const res = await clientCredentials(narrowed, job);
    expect(((await res.json()) as { scope: string }).scope).toBe('reports:read');
    const none = await provider({ OAUTH_API_SCOPES: 'billing' });
    await expectOAuthError(await clientCredentials(none, job), 400, 'invalid_scope');
  });

  it('refuses public clients and clients not registered for the grant (unauthorized_client)', async () => {
    const spa = await registerClient(p, { token_endpoint_auth_method: 'none' }, admin.token);
    const res = await p.api('/oauth/token', form({ grant_type: 'client_credentials', client_id: spa.client_id }));
    await expectOAuthError(res, 400, 'unauthorized_client');
    const web = await registerClient(p, {}, admin.token);
    await expectOAuthError(await clientCredentials(p, web), 400, 'unauthorized_client');
  });

  it('binds the token to a DPoP key (cnf.jkt), and refuses the same proof twice', async () => {
    const key = await dpopKey();
    const proof = await key.proof('POST', '/oauth/token');
    const auth = { Authorization: basic(job.client_id, job.client_secret!), DPoP: proof };
    const res = await p.api('/oauth/token', form({ grant_type: 'client_credentials' }, auth));
    const body = (await res.json()) as { access_token: string; token_type: string };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.token_type).toBe('DPoP');
    expect(await verifyOffline(p, body.access_token)).toMatchObject({ cnf: { jkt: key.jkt } });
    const again = await p.api('/oauth/token', form({ grant_type: 'client_credentials' }, auth));
    expect(again.status).toBe(400);
  });

  it('refuses a wrong secret (401 invalid_client with a Basic challenge)', async () => {
    const res = await clientCredentials(p, { ...job, client_secret: 'wrong' });
    await expectOAuthError(res, 401, 'invalid_client');
    expect(res.headers.get('WWW-Authenticate')).toBe('Basic realm="edge-auth"');
  });

  it('counts against the per-client limit, as the other grants do', async () => {
    const limited = await provider({ OAUTH_TOKEN_CLIENT_MAX: '2', OAUTH_API_SCOPES: 'reports:read' });
    const client = await registerClient(
      limited,
      { grant_types: ['client_credentials'], scope: 'reports:read', redirect_uris: undefined },
      (await adminOf(limited)).token,
    );
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await clientCredentials(limited, client)).status);
    expect(statuses).toEqual([200, 200, 429]);
  });
});

describe('where the token works', () => {
  const token = async (client = job) =>
    ((await (await clientCredentials(p, client)).json()) as { access_token: string }).access_token;

  it('introspects as active for its client, with the client as sub, while the client has the grant', async () => {
    const client = await machine();
    const access = await token(client);
    expect(await introspect(client, access)).toMatchObject({
      active: true,
      client_id: client.client_id,
      sub: client.client_id,
      scope: 'reports:read reports:write',
    });
    // Another client sees nothing of it.
    expect(await introspect(job, access)).toEqual({ active: false });
    // An admin takes the grant away: its tokens end at once.
    const res = await p.api(`/admin/oauth/clients/${client.client_id}`, {
      method: 'PATCH',
      token: admin.token,
      json: { grant_types: ['authorization_code'], redirect_uris: ['https://app.example.test/cb'] },
    });
    expect(res.status).toBe(200);
    expect(await introspect(client, access)).toEqual({ active: false });
  });

  it('is refused by userinfo and by the service’s own routes', async () => {
    const access = await token();
    const info = await p.api('/oauth/userinfo', { token: access });
    expect(info.status).toBeGreaterThanOrEqual(401);
    expect(info.status).toBeLessThanOrEqual(403);
    for (const path of ['/auth/me', '/admin/users']) {
      expect((await p.api(path, { token: access })).status).toBe(401);
    }
  });

  it('cannot be revoked alone: revocation answers 200 and the token lives until it expires', async () => {
    const access = await token();
    const res = await p.api(
      '/oauth/revoke',
      form({ token: access }, { Authorization: basic(job.client_id, job.client_secret!) }),
    );
    expect(res.status).toBe(200);
    expect(await introspect(job, access)).toMatchObject({ active: true });
  });

  it('leaves nothing in the sessions table', async () => {
    await token();
    const grants = await env.DB.prepare('SELECT count(*) AS n FROM sessions WHERE client_id = ?')
      .bind(job.client_id)
      .first<{ n: number }>();
    expect(grants!.n).toBe(0);
  });
});
