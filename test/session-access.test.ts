import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, expectProblem, login, signedIn } from './helpers';

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
