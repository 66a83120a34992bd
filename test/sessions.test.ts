/**
 * Sessions: logout, logout everywhere, listing and revoking sessions, password change, and
 * the scheduled cleanup of ended sessions.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import worker, { cleanup } from '../src/index';
import {
  api,
  expectProblem,
  login,
  PASSWORD,
  register,
  signedIn,
  uniqueName,
  type Tokens,
  sessionIdOf,
} from './helpers';

const DAY = 86_400_000;

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const refresh = (refreshToken: string) => api('/auth/refresh', { json: { refresh_token: refreshToken } });
const logout = (refreshToken: string) => api('/auth/logout', { json: { refresh_token: refreshToken } });

async function loginWithAgent(username: string, userAgent: string): Promise<Tokens> {
  const res = await api('/auth/login', {
    json: { username, password: PASSWORD },
    headers: { 'User-Agent': userAgent },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Tokens;
}

type ListedSession = {
  id: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  user_agent: string | null;
  current: boolean;
};

async function listSessions(accessToken: string): Promise<ListedSession[]> {
  const res = await api('/auth/sessions', { token: accessToken });
  expect(res.status).toBe(200);
  return ((await res.json()) as { sessions: ListedSession[] }).sessions;
}

const changePassword = (accessToken: string, current_password: string, new_password: string) =>
  api('/auth/password', { token: accessToken, json: { current_password, new_password } });

describe('POST /auth/logout', () => {
  describe('with a refresh token in the body', () => {
    it("answers 204, after which the token no longer refreshes and the session's access token is refused", async () => {
      const { tokens } = await signedIn();
      const res = await logout(tokens.refresh_token);
      expect(res.status).toBe(204);
      await expectProblem(await refresh(tokens.refresh_token), 401, 'invalid_refresh_token');
      await expectProblem(await api('/auth/me', { token: tokens.access_token }), 401, 'invalid_token');
    });

    it('ends the session when given an earlier, already rotated token of its chain', async () => {
      const { tokens } = await signedIn();
      const rotated = (await (await refresh(tokens.refresh_token)).json()) as Tokens;
      expect((await logout(tokens.refresh_token)).status).toBe(204);
      await expectProblem(await refresh(rotated.refresh_token), 401, 'invalid_refresh_token');
      await expectProblem(await api('/auth/me', { token: rotated.access_token }), 401, 'invalid_token');
    });

    it('is idempotent: logging out again with the same token is 204 too', async () => {
      const { tokens } = await signedIn();
      expect((await logout(tokens.refresh_token)).status).toBe(204);
      expect((await logout(tokens.refresh_token)).status).toBe(204);
      await expectProblem(await refresh(tokens.refresh_token), 401, 'invalid_refresh_token');
    });

    it('ends only that session: another login of the same user keeps working', async () => {
      const user = await register(uniqueName());
      const ended = await login(user.username);
      const other = await login(user.username);
      expect((await logout(ended.refresh_token)).status).toBe(204);
      expect((await api('/auth/me', { token: other.access_token })).status).toBe(200);
      expect((await refresh(other.refresh_token)).status).toBe(200);
    });

    it('takes the session off the session list', async () => {
      const user = await register(uniqueName());
      const ended = await login(user.username);
      const other = await login(user.username);
      await logout(ended.refresh_token);
      const ids = (await listSessions(other.access_token)).map((s) => s.id);
      expect(ids).toEqual([sessionIdOf(other.access_token)]);
    });
  });

  describe('with an unknown token', () => {
    it('answers 204', async () => {
      const res = await logout('an-unknown-refresh-token-0123456789abcdefghijk');
      expect(res.status).toBe(204);
    });
  });
});

describe('POST /auth/logout-all', () => {
  it('requires an access token', async () => {
    await expectProblem(await api('/auth/logout-all', { method: 'POST' }), 401, 'unauthorized');
  });

  describe('after it answered 204', () => {
    it('refuses every access token issued before, although unexpired, with 401 invalid_token', async () => {
      const user = await register(uniqueName());
      const a = await login(user.username);
      const b = await login(user.username);
      expect((await api('/auth/logout-all', { method: 'POST', token: a.access_token })).status).toBe(204);
      for (const token of [a.access_token, b.access_token]) {
        await expectProblem(await api('/auth/me', { token }), 401, 'invalid_token');
      }
    });

    it('refuses every refresh token of the user', async () => {
      const user = await register(uniqueName());
      const a = await login(user.username);
      const b = await login(user.username);
      const rotated = (await (await refresh(b.refresh_token)).json()) as Tokens;
      expect((await api('/auth/logout-all', { method: 'POST', token: a.access_token })).status).toBe(204);
      for (const token of [a.refresh_token, rotated.refresh_token]) {
        await expectProblem(await refresh(token), 401, 'invalid_refresh_token');
      }
    });

    it('lets the user log in again, and the new tokens work', async () => {
      const { user, token } = await signedIn();
      expect((await api('/auth/logout-all', { method: 'POST', token })).status).toBe(204);
      const fresh = await login(user.username);
      expect((await api('/auth/me', { token: fresh.access_token })).status).toBe(200);
      expect((await refresh(fresh.refresh_token)).status).toBe(200);
    });

    it("leaves other users' sessions alone", async () => {
      const caller = await signedIn();
      const bystander = await signedIn();
      expect((await api('/auth/logout-all', { method: 'POST', token: caller.token })).status).toBe(204);
      expect((await api('/auth/me', { token: bystander.token })).status).toBe(200);
      expect((await refresh(bystander.tokens.refresh_token)).status).toBe(200);
    });
  });
});

describe('GET /auth/sessions', () => {
  it('requires an access token', async () => {
    await expectProblem(await api('/auth/sessions'), 401, 'unauthorized');
  });

  it("lists the caller's active sessions, with current: true on exactly the caller's one", async () => {
    const user = await register(uniqueName());
    const logins = [await login(user.username), await login(user.username), await login(user.username)];
    const caller = logins[1]!;
    const sessions = await listSessions(caller.access_token);

    expect(sessions.map((s) => s.id).sort()).toEqual(logins.map((l) => sessionIdOf(l.access_token)).sort());
    expect(sessions.filter((s) => s.current).map((s) => s.id)).toEqual([sessionIdOf(caller.access_token)]);
    for (const s of sessions) {
      expect(Date.parse(s.expires_at)).toBeGreaterThan(Date.now());
      expect(Date.parse(s.last_used_at)).toBeGreaterThanOrEqual(Date.parse(s.created_at));
    }
  });

  it('lists the most recently used session first', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = Date.UTC(2030, 5, 1);
    vi.setSystemTime(t0);
    const user = await register(uniqueName());
    const older = await login(user.username);
    vi.setSystemTime(t0 + 60_000);
    const newer = await login(user.username);
    vi.setSystemTime(t0 + 120_000);
    const used = (await (await refresh(older.refresh_token)).json()) as Tokens;
    const sessions = await listSessions(used.access_token);
    expect(sessions.map((s) => s.id)).toEqual([sessionIdOf(older.access_token), sessionIdOf(newer.access_token)]);
    expect(sessions[0]!.last_used_at).toBe(new Date(t0 + 120_000).toISOString());
  });

  it('records the user agent of each login', async () => {
    const user = await register(uniqueName());
    const phone = await loginWithAgent(user.username, 'PhoneBrowser/1.0 (test)');
    const laptop = await loginWithAgent(user.username, 'LaptopBrowser/2.0 (test)');
    const byId = new Map((await listSessions(phone.access_token)).map((s) => [s.id, s]));
    expect(byId.get(sessionIdOf(phone.access_token))?.user_agent).toBe('PhoneBrowser/1.0 (test)');
    expect(byId.get(sessionIdOf(laptop.access_token))?.user_agent).toBe('LaptopBrowser/2.0 (test)');
  });

  it('keeps marking the same session as current after its tokens were refreshed', async () => {
    const { tokens } = await signedIn();
    const rotated = (await (await refresh(tokens.refresh_token)).json()) as Tokens;
    const sessions = await listSessions(rotated.access_token);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ id: sessionIdOf(tokens.access_token), current: true });
  });
});

describe('DELETE /auth/sessions/:id', () => {
  it('revokes that session: its refresh and access tokens stop working, the caller’s keep working', async () => {
    const user = await register(uniqueName());
    const caller = await login(user.username);
    const lost = await login(user.username);
    const res = await api(`/auth/sessions/${sessionIdOf(lost.access_token)}`, {
      method: 'DELETE',
      token: caller.access_token,
    });
    expect(res.status).toBe(204);
    await expectProblem(await refresh(lost.refresh_token), 401, 'invalid_refresh_token');
    await expectProblem(await api('/auth/me', { token: lost.access_token }), 401, 'invalid_token');
    expect((await listSessions(caller.access_token)).map((s) => s.id)).toEqual([sessionIdOf(caller.access_token)]);
    expect((await refresh(caller.refresh_token)).status).toBe(200);
  });

  it("answers 404 not_found for another user's session, which keeps working", async () => {
    const caller = await signedIn();
    const victim = await signedIn();
    const res = await api(`/auth/sessions/${sessionIdOf(victim.token)}`, { method: 'DELETE', token: caller.token });
    await expectProblem(res, 404, 'not_found');
    expect((await refresh(victim.tokens.refresh_token)).status).toBe(200);
  });

  it('answers 404 not_found for an unknown id', async () => {
    const { token } = await signedIn();
    await expectProblem(await api('/auth/sessions/no-such-session', { method: 'DELETE', token }), 404, 'not_found');
  });

  it('answers 404 not_found for a session that was already revoked', async () => {
    const user = await register(uniqueName());
    const caller = await login(user.username);
    const other = await login(user.username);
    const path = `/auth/sessions/${sessionIdOf(other.access_token)}`;
    expect((await api(path, { method: 'DELETE', token: caller.access_token })).status).toBe(204);
    await expectProblem(await api(path, { method: 'DELETE', token: caller.access_token }), 404, 'not_found');
  });
});

describe('POST /auth/password', () => {
  const NEW_PASSWORD = 'another-quite-unusual-passphrase';

  describe('with the right current password and an acceptable new one', () => {
    it('answers 204; the old password no longer logs in, the new one does', async () => {
      const { user, token } = await signedIn();
      expect((await changePassword(token, PASSWORD, NEW_PASSWORD)).status).toBe(204);
      const old = await api('/auth/login', { json: { username: user.username, password: PASSWORD } });
      await expectProblem(old, 401, 'invalid_credentials');
      await login(user.username, NEW_PASSWORD);
    });

    it("revokes the user's other sessions but keeps the current session's refresh token working", async () => {
      const user = await register(uniqueName());
      const current = await login(user.username);
      const other = await login(user.username);
      expect((await changePassword(current.access_token, PASSWORD, NEW_PASSWORD)).status).toBe(204);

      await expectProblem(await refresh(other.refresh_token), 401, 'invalid_refresh_token');
      const res = await refresh(current.refresh_token);
      expect(res.status).toBe(200);
      const renewed = (await res.json()) as Tokens;
      expect((await api('/auth/me', { token: renewed.access_token })).status).toBe(200);
    });

    it("refuses every access token issued before, the caller's included, with 401 invalid_token", async () => {
      const user = await register(uniqueName());
      const current = await login(user.username);
      const other = await login(user.username);
      expect((await changePassword(current.access_token, PASSWORD, NEW_PASSWORD)).status).toBe(204);
      for (const token of [current.access_token, other.access_token]) {
        await expectProblem(await api('/auth/me', { token }), 401, 'invalid_token');
      }
    });
  });

  describe('with a wrong current password', () => {
    it('answers 401 invalid_credentials and changes nothing', async () => {
      const user = await register(uniqueName());
      const current = await login(user.username);
      const other = await login(user.username);
      const res = await changePassword(current.access_token, 'not-the-current-password', NEW_PASSWORD);
      await expectProblem(res, 401, 'invalid_credentials');
      await login(user.username, PASSWORD);
      expect((await api('/auth/me', { token: current.access_token })).status).toBe(200);
      expect((await refresh(other.refresh_token)).status).toBe(200);
    });
  });

  describe('with a too-common new password', () => {
    it('answers 400 password_too_common and keeps the old password', async () => {
      const { user, token } = await signedIn();
      await expectProblem(await changePassword(token, PASSWORD, 'password1'), 400, 'password_too_common');
      await login(user.username, PASSWORD);
      expect((await api('/auth/me', { token })).status).toBe(200);
    });
  });

  describe('with a Flask-JWT /auth token, which has a session of its own', () => {
    it('revokes every other session of the user', async () => {
      const user = await register(uniqueName());
      const a = await login(user.username);
      const b = await login(user.username);
      const compat = await api('/auth', { json: { username: user.username, password: PASSWORD } });
      expect(compat.status).toBe(200);
      const { access_token } = (await compat.json()) as { access_token: string };
      expect((await changePassword(access_token, PASSWORD, NEW_PASSWORD)).status).toBe(204);
      for (const token of [a.refresh_token, b.refresh_token]) {
        await expectProblem(await refresh(token), 401, 'invalid_refresh_token');
      }
    });
  });

  it('requires an access token', async () => {
    const res = await api('/auth/password', { json: { current_password: PASSWORD, new_password: NEW_PASSWORD } });
    await expectProblem(res, 401, 'unauthorized');
  });
});

describe('the scheduled cleanup', () => {
  /**
   * One user with five sessions, aged relative to `now` directly in D1: revoked 8 and 6
   * days ago, expired 8 days and 1 day ago, and one still active.
   */
  async function agedSessions(now: number) {
    const user = await register(uniqueName('cleanup'));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(sessionIdOf((await login(user.username)).access_token));
    const [revokedLongAgo, revokedRecently, expiredLongAgo, expiredRecently, active] = ids as [
      string,
      string,
      string,
      string,
      string,
    ];
    const revoke = env.DB.prepare("UPDATE sessions SET revoked_at = ?, revoked_reason = 'logout' WHERE id = ?");
    const expire = env.DB.prepare('UPDATE sessions SET expires_at = ? WHERE id = ?');
    await env.DB.batch([
      revoke.bind(now - 8 * DAY, revokedLongAgo),
      revoke.bind(now - 6 * DAY, revokedRecently),
      expire.bind(now - 8 * DAY, expiredLongAgo),
      expire.bind(now - 1 * DAY, expiredRecently),
    ]);
    return {
      userId: user.id,
      gone: [revokedLongAgo, expiredLongAgo],
      kept: [revokedRecently, expiredRecently, active],
    };
  }

  /** The user's sessions still in D1, and which of `ids` still have refresh tokens there. */
  async function remaining(userId: string, ids: string[]) {
    const sessions = await env.DB.prepare('SELECT id FROM sessions WHERE user_id = ?')
      .bind(userId)
      .all<{ id: string }>();
    const tokens = await env.DB.prepare(
      `SELECT DISTINCT session_id FROM refresh_tokens WHERE session_id IN (${ids.map(() => '?').join(', ')})`,
    )
      .bind(...ids)
      .all<{ session_id: string }>();
    return {
      sessions: sessions.results.map((r) => r.id).sort(),
      tokenSessions: tokens.results.map((r) => r.session_id),
    };
  }

  describe('cleanup(env, now)', () => {
    it('deletes sessions revoked or expired more than 7 days ago, with their refresh tokens, and keeps the rest', async () => {
      const now = Date.now();
      const { userId, gone, kept } = await agedSessions(now);
      const deleted = await cleanup(env, now);
      expect(deleted.sessions).toBeGreaterThanOrEqual(gone.length);

      const after = await remaining(userId, [...gone, ...kept]);
      expect(after.sessions).toEqual([...kept].sort());
      for (const id of gone) expect(after.tokenSessions).not.toContain(id);
      for (const id of kept) expect(after.tokenSessions).toContain(id);
    });
  });

  describe("the Worker's scheduled handler", () => {
    it('runs the same cleanup at the time of the trigger', async () => {
      const now = Date.now();
      const { userId, gone, kept } = await agedSessions(now);
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      const ctx = createExecutionContext();
      await worker.scheduled(createScheduledController({ scheduledTime: now, cron: '17 3 * * *' }), env, ctx);
      await waitOnExecutionContext(ctx);

      const after = await remaining(userId, [...gone, ...kept]);
      expect(after.sessions).toEqual([...kept].sort());
      for (const id of gone) expect(after.tokenSessions).not.toContain(id);
      const summary = log.mock.calls.map((args) => String(args[0])).find((line) => line.includes('"type":"cleanup"'));
      expect(JSON.parse(summary ?? '{}')).toMatchObject({ type: 'cleanup', deleted_sessions: expect.any(Number) });
      expect((JSON.parse(summary!) as { deleted_sessions: number }).deleted_sessions).toBeGreaterThanOrEqual(2);
    });
  });
});
