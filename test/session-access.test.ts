import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, expectProblem, login, register, sessionIdOf, signedIn, signedInAdmin } from './helpers';

/** Ending a session ends the access tokens issued for it, not only its refresh token. */
describe('access tokens die with their session', () => {
  afterEach(() => vi.useRealTimers());

  it('on logout, while the same user’s other sessions keep working', async () => {
    const { user, tokens } = await signedIn();
    const other = await login(user.username);
    expect((await api('/auth/logout', { json: { refresh_token: tokens.refresh_token } })).status).toBe(204);
    await expectProblem(await api('/auth/me', { token: tokens.access_token }), 401, 'invalid_token');
    expect((await api('/auth/me', { token: other.access_token })).status).toBe(200);
  });

  it('when the session is revoked from the session list', async () => {
    const { user, token } = await signedIn();
    const phone = await login(user.username);
    const { sessions } = (await (await api('/auth/sessions', { token })).json()) as {
      sessions: { id: string; current: boolean }[];
    };
    const phoneSession = sessions.find((s) => !s.current)!;
    expect((await api(`/auth/sessions/${phoneSession.id}`, { method: 'DELETE', token })).status).toBe(204);
    await expectProblem(await api('/auth/me', { token: phone.access_token }), 401, 'invalid_token');
    expect((await api('/auth/me', { token })).status).toBe(200);
  });

  it('when refresh-token reuse revokes the family', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-06-01T12:00:00Z'));
    const { tokens } = await signedIn();
    const rotated = await api('/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
    const fresh = (await rotated.json()) as { access_token: string };
    expect((await api('/auth/me', { token: fresh.access_token })).status).toBe(200);

    vi.setSystemTime(new Date('2026-06-01T12:01:00Z'));
    await expectProblem(
      await api('/auth/refresh', { json: { refresh_token: tokens.refresh_token } }),
      401,
      'refresh_token_reused',
    );
    await expectProblem(await api('/auth/me', { token: fresh.access_token }), 401, 'invalid_token');
  });
});

/**
 * The sessions list, a session's revocation and the admin's user reads check the caller in the
 * same D1 batch as their own statement (withAccessCheck): the check must hold all the same, and
 * a write in that batch must not happen for a caller whose token no longer holds.
 */
describe('routes whose access check rides in their own batch', () => {
  it('a token whose session ended cannot revoke another session: 401, and that session lives on', async () => {
    const { user, tokens } = await signedIn();
    const phone = await login(user.username);
    const phoneSession = sessionIdOf(phone.access_token);
    expect((await api('/auth/logout', { json: { refresh_token: tokens.refresh_token } })).status).toBe(204);
    await expectProblem(
      await api(`/auth/sessions/${phoneSession}`, { method: 'DELETE', token: tokens.access_token }),
      401,
      'invalid_token',
    );
    expect((await api('/auth/me', { token: phone.access_token })).status).toBe(200);
    expect((await api('/auth/refresh', { json: { refresh_token: phone.refresh_token } })).status).toBe(200);
  });

  it('the sessions list refuses a token after logout-all and after the user is deleted', async () => {
    const { user, tokens } = await signedIn();
    expect((await api('/auth/sessions', { token: tokens.access_token })).status).toBe(200);
    expect((await api('/auth/logout-all', { method: 'POST', token: tokens.access_token })).status).toBe(204);
    await expectProblem(await api('/auth/sessions', { token: tokens.access_token }), 401, 'invalid_token');

    const again = await login(user.username);
    const admin = await signedInAdmin();
    expect((await api(`/admin/users/${user.id}`, { method: 'DELETE', token: admin.token })).status).toBe(204);
    await expectProblem(await api('/auth/sessions', { token: again.access_token }), 401, 'invalid_token');
  });

  it('a demoted admin is refused the user list and a user by id at once (403), and never sees either', async () => {
    const admin = await signedInAdmin();
    const other = await signedInAdmin();
    const listed = await api(`/admin/users/${other.user.id}`, { token: admin.token });
    expect(((await listed.json()) as { user: { id: string } }).user.id).toBe(other.user.id);
    const demoted = await api(`/admin/users/${admin.user.id}`, {
      method: 'PATCH',
      token: other.token,
      json: { role: 'user' },
    });
    expect(demoted.status).toBe(200);
    for (const path of ['/admin/users', `/admin/users/${other.user.id}`]) {
      const res = await api(path, { token: admin.token });
      await expectProblem(res.clone(), 403, 'forbidden');
      expect(await res.text()).not.toContain(other.user.username);
    }
  });

  it('GET /admin/users/{id} answers the user as the list shows them, and 404 for an unknown id', async () => {
    const { token } = await signedInAdmin();
    const target = await register();
    const one = (await (await api(`/admin/users/${target.id}`, { token })).json()) as { user: Record<string, unknown> };
    expect(one.user).toEqual({
      id: target.id,
      username: target.username,
      role: 'user',
      created_at: expect.any(String),
      mfa_enabled: false,
      email: null,
      email_verified: false,
    });
    expect(JSON.stringify(one)).not.toMatch(/password|hash|token_version/i);
    await expectProblem(await api('/admin/users/no-such-user', { token }), 404, 'not_found');
  });
});
