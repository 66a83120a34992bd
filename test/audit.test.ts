import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, PASSWORD, register, signedIn, signedInAdmin, uniqueName, captureAudit } from './helpers';

afterEach(() => vi.restoreAllMocks());

describe('audit events', () => {
  it('log register, login success and failure with a request id and the user id, never secrets', async () => {
    const username = uniqueName('audited');
    let userId = '';
    let tokens: Record<string, string> = {};
    const { lines, raw } = await captureAudit(async () => {
      const reg = await api('/auth/register', { json: { username, password: PASSWORD } });
      userId = ((await reg.json()) as { user: { id: string } }).user.id;
      await api('/auth/login', { json: { username, password: 'wrong-password-here' } });
      tokens = (await (await api('/auth/login', { json: { username, password: PASSWORD } })).json()) as Record<
        string,
        string
      >;
    });
    expect(lines.map((l) => l.event)).toEqual(['register', 'login_failure', 'login_success']);
    for (const line of lines) expect(line.request_id).toEqual(expect.any(String));
    expect(lines[0]!.user_id).toBe(userId);
    expect(lines[2]!.user_id).toBe(userId);
    for (const secret of [PASSWORD, 'wrong-password-here', tokens.access_token!, tokens.refresh_token!, 'pbkdf2']) {
      expect(raw).not.toContain(secret);
    }
  });

  it('log lockout, refresh, logout, logout-all, password change, role change and deletion', async () => {
    const admin = await signedInAdmin();
    const { user, tokens, token } = await signedIn();
    const { lines, raw } = await captureAudit(async () => {
      const refreshed = (await (
        await api('/auth/refresh', { json: { refresh_token: tokens.refresh_token } })
      ).json()) as Record<string, string>;
      await api('/auth/password', {
        json: { current_password: PASSWORD, new_password: 'a-brand-new-passphrase' },
        token: refreshed.access_token,
      });
      await api('/auth/logout', { json: { refresh_token: refreshed.refresh_token } });
      await api(`/admin/users/${user.id}`, { method: 'PATCH', json: { role: 'admin' }, token: admin.token });
      await api(`/admin/users/${user.id}`, { method: 'DELETE', token: admin.token });
      const victim = await register();
      for (let i = 0; i < 6; i++)
        await api('/auth/login', { json: { username: victim.username, password: 'nope-nope-nope' } });
      await api('/auth/logout-all', { token: admin.token, method: 'POST' });
    });
    const events = lines.map((l) => l.event);
    for (const event of [
      'refresh',
      'password_changed',
      'logout',
      'role_changed',
      'user_deleted',
      'login_locked',
      'logout_all',
    ]) {
      expect(events).toContain(event);
    }
    expect(lines.find((l) => l.event === 'role_changed')).toMatchObject({
      user_id: admin.user.id,
      target_user_id: user.id,
      role: 'admin',
    });
    expect(raw).not.toContain(token);
    expect(raw).not.toContain(tokens.refresh_token);
    expect(raw).not.toContain('a-brand-new-passphrase');
  });
});
