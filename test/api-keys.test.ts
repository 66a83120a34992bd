/**
 * Personal API keys: a user makes a key (with the proof a new credential needs), a script
 * trades it for short-lived access tokens that act as the user, and everything that ends the
 * user's sessions ends the key and its tokens: revoking it, logout-all, a password change,
 * a demotion (for `admin` keys) and the user's deletion.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup } from '../src/index';
import {
  api,
  appWith,
  captureAudit,
  enrolTotp,
  expectProblem,
  PASSWORD,
  signedIn,
  signedInAdmin,
  type Api,
  gatedD1,
} from './helpers';
import { basic, clientCredentials, form, provider, verifyOffline, type Provider } from './oauth-helpers';

const p: Provider = await provider({ OAUTH_API_SCOPES: 'reports:read reports:write' });

afterEach(() => vi.restoreAllMocks());

type Key = {
  id: string;
  client_id: string;
  client_secret: string;
  name: string;
  scope: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
};

const create = (token: string, body: Record<string, unknown>, call: Api = p.api) =>
  call('/auth/api-keys', { token, json: { name: 'Nightly export', current_password: PASSWORD, ...body } });

async function newKey(token: string, body: Record<string, unknown> = {}): Promise<Key> {
  const res = await create(token, { scope: 'reports:read', ...body });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Key;
}

const asClient = (key: Key) => ({ client_id: key.client_id, client_secret: key.client_secret, redirect_uris: [] });
const tokenOf = async (key: Key, extra: Record<string, string> = {}) => {
  const res = await clientCredentials(
    p,
    { ...asClient(key), token_endpoint_auth_method: 'client_secret_basic' },
    extra,
  );
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
};
const introspect = async (key: Key, token: string) =>
  (await (
    await p.api('/oauth/introspect', form({ token }, { Authorization: basic(key.client_id, key.client_secret) }))
  ).json()) as Record<string, unknown>;
const listed = async (token: string) =>
  ((await (await p.api('/auth/api-keys', { token })).json()) as { api_keys: Omit<Key, 'client_secret'>[] }).api_keys;

describe('creating a key', () => {
  it('needs the current password, and answers the client_id and a secret shown once and stored hashed', async () => {
    const { token, user } = await signedIn('keys');
    const missing = await p.api('/auth/api-keys', { token, json: { name: 'x', scope: 'reports:read' } });
    expect(((await expectProblem(missing, 400, 'validation_failed')).errors as unknown[])[0]).toMatchObject({
      field: 'current_password',
    });
    await expectProblem(
      await create(token, { scope: 'reports:read', current_password: 'wrong' }),
      401,
      'invalid_credentials',
    );

    let key!: Key;
    const { lines } = await captureAudit(async () => {
      key = await newKey(token);
    });
    expect(key).toEqual({
      id: key.client_id,
      client_id: expect.any(String),
      client_secret: expect.any(String),
      name: 'Nightly export',
      scope: 'reports:read',
      created_at: expect.any(String),
      last_used_at: null,
      expires_at: null,
    });
    expect(lines).toContainEqual(
      expect.objectContaining({ event: 'api_key_created', user_id: user.id, client_id: key.client_id }),
    );
    const row = await env.DB.prepare('SELECT * FROM oauth_clients WHERE id = ?').bind(key.client_id).first();
    expect(row).toMatchObject({ owner_id: user.id, token_endpoint_auth_method: 'client_secret_basic' });
    expect(JSON.stringify(row)).not.toContain(key.client_secret);
    // Listed without its secret, and never among the admins' clients.
    const keys = await listed(token);
    expect(keys).toEqual(
      [{ ...key, client_secret: undefined, client_id: undefined }].map(({ client_secret, client_id, ...k }) => k),
    );
    const admin = await signedInAdmin();
    const clients = await (await p.api('/admin/oauth/clients?limit=100', { token: admin.token })).text();
    expect(clients).not.toContain(key.client_id);
  });

  it('needs a code too when two-factor is on', async () => {
    const { token } = await signedIn('keys');
    const { recoveryCodes } = await enrolTotp(token);
    const missing = await create(token, { scope: 'reports:read' });
    expect(((await expectProblem(missing, 400, 'validation_failed')).errors as unknown[])[0]).toMatchObject({
      field: 'code',
    });
    expect((await create(token, { scope: 'reports:read', code: recoveryCodes[0] })).status).toBe(201);
  });

  it('takes scopes within what the user may do: admin for admins only, never offline_access', async () => {
    const { token } = await signedIn('keys');
    for (const scope of [
      'reports:delete',
      'offline_access reports:read',
      '',
      'reports:read  openid',
      'openid profile',
    ]) {
      expect((await create(token, { scope })).status).toBe(400);
    }
    await expectProblem(await create(token, { scope: 'admin' }), 403, 'forbidden');
    const admin = await signedInAdmin();
    const key = await newKey(admin.token, { scope: 'admin reports:write openid' });
    expect(key.scope).toBe('openid admin reports:write');
  });

  it('expires when asked to', async () => {
    const { token } = await signedIn('keys');
    const key = await newKey(token, { expires_in: 3600 });
    const expiresAt = Date.parse(key.expires_at!);
    expect(Math.abs(expiresAt - (Date.now() + 3600_000))).toBeLessThan(60_000);
    expect((await create(token, { scope: 'reports:read', expires_in: 10 })).status).toBe(400);

    await env.DB.prepare('UPDATE sessions SET expires_at = ? WHERE client_id = ?')
      .bind(Date.now() - 1000, key.client_id)
      .run();
    const res = await clientCredentials(p, { ...asClient(key), token_endpoint_auth_method: 'client_secret_basic' });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_client');
    expect(await listed(token)).toEqual([]);
  });

  it('holds at most 20 working keys per account', async () => {
    const { token, user } = await signedIn('keys');
    for (let i = 0; i < 20; i++) {
      const id = `k-${crypto.randomUUID()}`;
      await env.DB.batch([
        env.DB.prepare(
          "INSERT INTO oauth_clients (id, secret_hash, redirect_uris, grant_types, response_types, token_endpoint_auth_method, scope, registered_by, created_at, updated_at, owner_id) VALUES (?, 'h', '[]', '[\"client_credentials\"]', '[]', 'client_secret_basic', 'reports:read', 'admin', 0, 0, ?)",
        ).bind(id, user.id),
        env.DB.prepare(
          'INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, token_version, client_id, scope) VALUES (?, ?, 0, 0, ?, 0, ?, ?)',
        ).bind(`s-${id}`, user.id, Date.now() + 86_400_000, id, 'reports:read'),
      ]);
    }
    await expectProblem(await create(token, { scope: 'reports:read' }), 409, 'api_key_limit_reached');
  });
});

describe('using a key', () => {
  it('gets short-lived access tokens as its user, verifiable offline, and marks the key used', async () => {
    const { token, user } = await signedIn('keys');
    const key = await newKey(token, { scope: 'reports:read reports:write' });
    const res = await clientCredentials(p, { ...asClient(key), token_endpoint_auth_method: 'client_secret_basic' });
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 900,
      scope: 'reports:read reports:write',
    });
    const claims = await verifyOffline(p, body.access_token as string);
    expect(claims).toMatchObject({ sub: user.id, client_id: key.client_id, scope: 'reports:read reports:write' });
    expect(claims.exp! - claims.iat!).toBe(900);
    expect(await introspect(key, body.access_token as string)).toMatchObject({
      active: true,
      sub: user.id,
      client_id: key.client_id,
    });
    const [shown] = await listed(token);
    expect(shown!.last_used_at).not.toBeNull();
    // A narrower scope on request; nothing outside the key's.
    expect(
      (
        (await (
          await clientCredentials(p, { ...asClient(key), token_endpoint_auth_method: 'x' }, { scope: 'reports:read' })
        ).json()) as { scope: string }
      ).scope,
    ).toBe('reports:read');
    const wider = await clientCredentials(
      p,
      { ...asClient(key), token_endpoint_auth_method: 'x' },
      { scope: 'openid' },
    );
    expect(((await wider.json()) as { error: string }).error).toBe('invalid_scope');
  });

  it('answers userinfo for a key with openid, and is no session of the service', async () => {
    const { token, user } = await signedIn('keys');
    const key = await newKey(token, { scope: 'openid profile reports:read' });
    const access = await tokenOf(key);
    const info = await p.api('/oauth/userinfo', { token: access });
    expect(await info.json()).toEqual({
      sub: user.id,
      preferred_username: user.username,
      updated_at: expect.any(Number),
    });
    expect((await p.api('/auth/me', { token: access })).status).toBe(401);
    const sessions = (await (await p.api('/auth/sessions', { token })).json()) as { sessions: unknown[] };
    expect(sessions.sessions).toHaveLength(1);
  });
});

describe('what ends a key and its tokens', () => {
  /** A key with openid, one of its tokens, and checks that both have ended. */
  async function keyWithToken(token: string, scope = 'openid reports:read') {
    const key = await newKey(token, { scope });
    const access = await tokenOf(key);
    expect(await introspect(key, access)).toMatchObject({ active: true });
    const ended = async () => {
      expect(await introspect(key, access)).toEqual({ active: false });
      const info = await p.api('/oauth/userinfo', { token: access });
      expect(info.status).toBe(401);
      const again = await clientCredentials(p, { ...asClient(key), token_endpoint_auth_method: 'x' });
      expect(again.status).toBe(401);
      expect(((await again.json()) as { error: string }).error).toBe('invalid_client');
    };
    return { key, access, ended };
  }

  it('revoking it (DELETE /auth/api-keys/{id}): once, by its owner only', async () => {
    const { token, user } = await signedIn('keys');
    const { key, ended } = await keyWithToken(token);
    const stranger = await signedIn('keys');
    await expectProblem(
      await p.api(`/auth/api-keys/${key.id}`, { method: 'DELETE', token: stranger.token }),
      404,
      'not_found',
    );
    const { lines } = await captureAudit(async () => {
      expect((await p.api(`/auth/api-keys/${key.id}`, { method: 'DELETE', token })).status).toBe(204);
    });
    expect(lines).toContainEqual(expect.objectContaining({ event: 'api_key_revoked', user_id: user.id }));
    await ended();
    expect(await listed(token)).toEqual([]);
    await expectProblem(await p.api(`/auth/api-keys/${key.id}`, { method: 'DELETE', token }), 404, 'not_found');
  });

  // Keys do not survive a logout-all (docs/api-keys.md says why).
  it('logout-all', async () => {
    const { token } = await signedIn('keys');
    const { ended } = await keyWithToken(token);
    expect((await p.api('/auth/logout-all', { method: 'POST', token })).status).toBe(204);
    await ended();
  });

  it('a password change', async () => {
    const { token } = await signedIn('keys');
    const { ended } = await keyWithToken(token);
    const res = await p.api('/auth/password', {
      token,
      json: { current_password: PASSWORD, new_password: 'another-long-unusual-passphrase' },
    });
    expect(res.status).toBe(204);
    await ended();
  });

  it('a demotion ends the admin keys, and leaves the others', async () => {
    const demoted = await signedInAdmin();
    const adminKey = await keyWithToken(demoted.token, 'openid admin');
    const plainKey = await keyWithToken(demoted.token, 'openid reports:read');
    const admin = await signedInAdmin();
    const res = await p.api(`/admin/users/${demoted.user.id}`, {
      method: 'PATCH',
      token: admin.token,
      json: { role: 'user' },
    });
    expect(res.status).toBe(200);
    await adminKey.ended();
    expect(await introspect(plainKey.key, plainKey.access)).toMatchObject({ active: true });
  });

  it('deleting the user', async () => {
    const { token, user } = await signedIn('keys');
    const { key, access } = await keyWithToken(token);
    const admin = await signedInAdmin();
    expect((await p.api(`/admin/users/${user.id}`, { method: 'DELETE', token: admin.token })).status).toBe(204);
    expect((await p.api('/oauth/userinfo', { token: access })).status).toBe(401);
    const again = await clientCredentials(p, { ...asClient(key), token_endpoint_auth_method: 'x' });
    expect(((await again.json()) as { error: string }).error).toBe('invalid_client');
    const row = await env.DB.prepare('SELECT id FROM oauth_clients WHERE id = ?').bind(key.client_id).first();
    expect(row).toBeNull();
  });

  it('the daily cleanup removes a revoked key once its grant is past the retention period', async () => {
    const { token } = await signedIn('keys');
    const { key } = await keyWithToken(token);
    expect((await p.api(`/auth/api-keys/${key.id}`, { method: 'DELETE', token })).status).toBe(204);
    const exists = async () =>
      (await env.DB.prepare('SELECT id FROM oauth_clients WHERE id = ?').bind(key.client_id).first()) !== null;
    await cleanup(env, Date.now());
    expect(await exists()).toBe(true);
    await cleanup(env, Date.now() + 8 * 86_400_000);
    expect(await exists()).toBe(false);
  });
});

describe('races', () => {
  it('an admin key made while its user is demoted is not made', async () => {
    const demoted = await signedInAdmin();
    // The creation's third batch (after the password proof's two) inserts the key's grant.
    const gate = gatedD1(3);
    const held = create(demoted.token, { scope: 'admin' }, appWith({ DB: gate.d1 }));
    await gate.reached;
    const admin = await signedInAdmin();
    const res = await api(`/admin/users/${demoted.user.id}`, {
      method: 'PATCH',
      token: admin.token,
      json: { role: 'user' },
    });
    expect(res.status).toBe(200);
    gate.release();
    await expectProblem(await held, 403, 'forbidden');
    expect(await listed(demoted.token)).toEqual([]);
    const orphans = await env.DB.prepare('SELECT count(*) AS n FROM oauth_clients WHERE owner_id = ?')
      .bind(demoted.user.id)
      .first<{ n: number }>();
    expect(orphans!.n).toBe(0);
  });
});
