/**
 * Each OAuth grant is a session of its user: it lists in GET /auth/sessions with its client,
 * and ends with a revoke there, logout-all, a password change, the user's deletion or the
 * client's. OAuth access tokens never open the service's own routes.
 */
import { describe, expect, it } from 'vitest';
import { PASSWORD } from './helpers';
import { adminOf, basic, form, grant, provider, registerClient, type Provider } from './oauth-helpers';

const p: Provider = await provider();
const client = await registerClient(p, { client_name: 'Photo printer' });

const userinfoStatus = async (token: string) => (await p.api('/oauth/userinfo', { token })).status;
const refreshStatus = async (refreshToken: string) =>
  (
    await p.api(
      '/oauth/token',
      form(
        { grant_type: 'refresh_token', refresh_token: refreshToken },
        { Authorization: basic(client.client_id, client.client_secret!) },
      ),
    )
  ).status;

describe('a grant is a session', () => {
  it('lists in GET /auth/sessions with the client’s name and scope', async () => {
    const { user, tokens } = await grant(p, client);
    const res = await p.api('/auth/sessions', { token: user.tokens.access_token });
    const { sessions } = (await res.json()) as {
      sessions: {
        id: string;
        current: boolean;
        client: { client_id: string; client_name: string; scope: string } | null;
      }[];
    };
    expect(sessions).toHaveLength(2);
    const login = sessions.find((s) => s.current)!;
    expect(login.client).toBeNull();
    const granted = sessions.find((s) => !s.current)!;
    expect(granted.client).toEqual({ client_id: client.client_id, client_name: 'Photo printer', scope: tokens.scope });
  });

  it('ends when the user revokes it there', async () => {
    const { user, tokens } = await grant(p, client);
    const { sessions } = (await (await p.api('/auth/sessions', { token: user.tokens.access_token })).json()) as {
      sessions: { id: string; current: boolean }[];
    };
    const grantId = sessions.find((s) => !s.current)!.id;
    expect(
      (await p.api(`/auth/sessions/${grantId}`, { method: 'DELETE', token: user.tokens.access_token })).status,
    ).toBe(204);
    expect(await userinfoStatus(tokens.access_token)).toBe(401);
    expect(await refreshStatus(tokens.refresh_token!)).toBe(400);
  });

  it('ends with logout-all', async () => {
    const { user, tokens } = await grant(p, client);
    expect((await p.api('/auth/logout-all', { method: 'POST', token: user.tokens.access_token })).status).toBe(204);
    expect(await userinfoStatus(tokens.access_token)).toBe(401);
    expect(await refreshStatus(tokens.refresh_token!)).toBe(400);
  });

  it('ends with a password change', async () => {
    const { user, tokens } = await grant(p, client);
    const changed = await p.api('/auth/password', {
      json: { current_password: PASSWORD, new_password: 'another-long-unusual-passphrase' },
      token: user.tokens.access_token,
    });
    expect(changed.status).toBe(204);
    expect(await userinfoStatus(tokens.access_token)).toBe(401);
    expect(await refreshStatus(tokens.refresh_token!)).toBe(400);
  });

  it('ends with the user’s deletion', async () => {
    const { user, tokens } = await grant(p, client);
    const admin = await adminOf(p);
    expect((await p.api(`/admin/users/${user.id}`, { method: 'DELETE', token: admin.token })).status).toBe(204);
    expect(await userinfoStatus(tokens.access_token)).toBe(401);
    expect(await refreshStatus(tokens.refresh_token!)).toBe(400);
  });

  it('ends with the client’s deletion', async () => {
    const doomed = await registerClient(p);
    const { tokens, user } = await grant(p, doomed);
    const admin = await adminOf(p);
    const deleted = await p.api(`/admin/oauth/clients/${doomed.client_id}`, { method: 'DELETE', token: admin.token });
    expect(deleted.status).toBe(204);
    expect(await userinfoStatus(tokens.access_token)).toBe(401);
    const { sessions } = (await (await p.api('/auth/sessions', { token: user.tokens.access_token })).json()) as {
      sessions: unknown[];
    };
    expect(sessions).toHaveLength(1);
  });
});

describe('OAuth access tokens and the service’s own routes', () => {
  it('are refused by /auth/* and /admin/*, even an admin’s', async () => {
    const { user, tokens } = await grant(p, client, { scope: 'openid profile roles' });
    const admin = await adminOf(p);
    const adminGrant = await grant(p, client, { scope: 'openid roles' });
    await p.api(`/admin/users/${adminGrant.user.id}`, {
      method: 'PATCH',
      json: { role: 'admin' },
      token: admin.token,
    });
    for (const [method, path, token] of [
      ['GET', '/auth/me', tokens.access_token],
      ['GET', '/auth/sessions', tokens.access_token],
      ['POST', '/auth/logout-all', tokens.access_token],
      ['GET', '/admin/users', adminGrant.tokens.access_token],
      ['GET', '/admin/oauth/clients', adminGrant.tokens.access_token],
    ] as const) {
      const res = await p.api(path, { method, token });
      expect(res.status, `${method} ${path}`).toBe(401);
    }
    const changed = await p.api('/auth/password', {
      json: { current_password: PASSWORD, new_password: 'another-long-unusual-passphrase' },
      token: tokens.access_token,
    });
    expect(changed.status).toBe(401);
    // The user's own token still works: the refusal was about the token, not the user.
    expect((await p.api('/auth/me', { token: user.tokens.access_token })).status).toBe(200);
  });

  it('the service’s own access tokens are refused by userinfo', async () => {
    const { user } = await grant(p, client);
    const res = await p.api('/oauth/userinfo', { token: user.tokens.access_token });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_token');
  });
});
