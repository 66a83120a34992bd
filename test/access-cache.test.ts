/**
 * ACCESS_CHECK_CACHE_TTL: a positive access check reused by the isolate for at most the TTL.
 * A revocation this isolate handles takes effect at once; one made elsewhere (here: written
 * straight into D1, as another isolate or location would) within the TTL.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cachedCheck, forgetAll, forgetUser, rememberCheck } from '../src/sessions/access-cache';
import { api, appWith, countD1, expectProblem, PASSWORD, signedIn, signedInAdmin, sessionIdOf } from './helpers';

const T0 = Date.UTC(2030, 5, 1, 12, 0, 0);
const cached = appWith({ ACCESS_CHECK_CACHE_TTL: '5' });

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  forgetAll();
});

function setNow(ms: number) {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(ms);
}

/** What another isolate's logout would leave in D1. */
const revokeInD1 = (sessionId: string) =>
  env.DB.prepare("UPDATE sessions SET revoked_at = ?, revoked_reason = 'elsewhere' WHERE id = ?")
    .bind(Date.now(), sessionId)
    .run();

describe('the access-check cache', () => {
  it('is off by default: a revocation written elsewhere takes effect on the next request', async () => {
    const { token } = await signedIn();
    expect((await api('/auth/me', { token })).status).toBe(200);
    await revokeInD1(sessionIdOf(token));
    await expectProblem(await api('/auth/me', { token }), 401, 'invalid_token');
  });

  it('answers from the isolate within the TTL, without asking D1', async () => {
    setNow(T0);
    const { token } = await signedIn();
    expect((await cached('/auth/protected', { token })).status).toBe(200);
    const d1 = countD1();
    setNow(T0 + 4_000);
    expect((await cached('/auth/protected', { token })).status).toBe(200);
    expect((await cached('/hello', { token })).status).toBe(200);
    expect(d1.executed).toHaveLength(0);
  });

  it('bounds staleness by the TTL: a revocation made elsewhere takes effect within 5 seconds', async () => {
    setNow(T0);
    const { token } = await signedIn();
    expect((await cached('/auth/me', { token })).status).toBe(200);
    await revokeInD1(sessionIdOf(token));
    setNow(T0 + 4_999);
    // Still inside the bound: this is the documented staleness.
    expect((await cached('/auth/me', { token })).status).toBe(200);
    setNow(T0 + 5_000);
    await expectProblem(await cached('/auth/me', { token }), 401, 'invalid_token');
  });

  describe('is cleared at once by what this isolate handles', () => {
    it('logout', async () => {
      const { tokens } = await signedIn();
      expect((await cached('/auth/me', { token: tokens.access_token })).status).toBe(200);
      expect((await cached('/auth/logout', { json: { refresh_token: tokens.refresh_token } })).status).toBe(204);
      await expectProblem(await cached('/auth/me', { token: tokens.access_token }), 401, 'invalid_token');
    });

    it('logout-all', async () => {
      const { token } = await signedIn();
      expect((await cached('/auth/me', { token })).status).toBe(200);
      expect((await cached('/auth/logout-all', { method: 'POST', token })).status).toBe(204);
      await expectProblem(await cached('/auth/me', { token }), 401, 'invalid_token');
    });

    it('revoking the session from another device', async () => {
      const { user, token } = await signedIn();
      const other = await api('/auth/login', { json: { username: user.username, password: PASSWORD } });
      const otherToken = ((await other.json()) as { access_token: string }).access_token;
      expect((await cached('/auth/me', { token })).status).toBe(200);
      const res = await cached(`/auth/sessions/${sessionIdOf(token)}`, { method: 'DELETE', token: otherToken });
      expect(res.status).toBe(204);
      await expectProblem(await cached('/auth/me', { token }), 401, 'invalid_token');
    });

    it('a password change', async () => {
      const { token } = await signedIn();
      expect((await cached('/auth/me', { token })).status).toBe(200);
      const change = await cached('/auth/password', {
        json: { current_password: PASSWORD, new_password: 'another-long-passphrase' },
        token,
      });
      expect(change.status).toBe(204);
      await expectProblem(await cached('/auth/me', { token }), 401, 'invalid_token');
    });

    it('a role change and a deletion by an admin', async () => {
      const admin = await signedInAdmin();
      const { user, token } = await signedIn();
      expect(await (await cached('/auth/me', { token })).json()).toMatchObject({ user: { role: 'user' } });
      const promote = await cached(`/admin/users/${user.id}`, {
        method: 'PATCH',
        json: { role: 'admin' },
        token: admin.token,
      });
      expect(promote.status).toBe(200);
      expect(await (await cached('/auth/me', { token })).json()).toMatchObject({ user: { role: 'admin' } });
      const del = await cached(`/admin/users/${user.id}`, { method: 'DELETE', token: admin.token });
      expect(del.status).toBe(204);
      await expectProblem(await cached('/auth/me', { token }), 401, 'invalid_token');
    });
  });

  describe('is never used where it must not be', () => {
    it('admin routes check the role in D1: a demotion made elsewhere applies at once', async () => {
      const admin = await signedInAdmin();
      await signedInAdmin(); // another admin, so the demotion is allowed
      expect((await cached('/auth/me', { token: admin.token })).status).toBe(200);
      expect((await cached('/admin/users', { token: admin.token })).status).toBe(200);
      await env.DB.prepare("UPDATE users SET role = 'user' WHERE id = ?").bind(admin.user.id).run();
      await expectProblem(await cached('/admin/users', { token: admin.token }), 403, 'forbidden');
    });

    it('routes that change state check D1: a session revoked elsewhere cannot log out everywhere', async () => {
      const { token } = await signedIn();
      expect((await cached('/auth/me', { token })).status).toBe(200);
      await revokeInD1(sessionIdOf(token));
      await expectProblem(await cached('/auth/logout-all', { method: 'POST', token }), 401, 'invalid_token');
      await expectProblem(
        await cached('/auth/password', {
          json: { current_password: PASSWORD, new_password: 'another-long-passphrase' },
          token,
        }),
        401,
        'invalid_token',
      );
    });

    it('a token of another version or session never matches a cached check', async () => {
      const { user, token } = await signedIn();
      expect((await cached('/auth/me', { token })).status).toBe(200);
      // A new login of the same user has another session: checked in D1, not served from the first.
      const second = await api('/auth/login', { json: { username: user.username, password: PASSWORD } });
      const secondToken = ((await second.json()) as { access_token: string }).access_token;
      await revokeInD1(sessionIdOf(secondToken));
      await expectProblem(await cached('/auth/me', { token: secondToken }), 401, 'invalid_token');
    });
  });

  describe('after this isolate revoked a user (D1_READS=nearest)', () => {
    const user = {
      id: 'held-user',
      username: 'held',
      role: 'user' as const,
      tokenVersion: 0,
      createdAt: 0,
      mfaEnabled: false,
      email: null,
      emailVerifiedAt: null,
    };
    // ACCESS_CHECK_CACHE_TTL 5 plus D1_REPLICA_LAG_BOUND 10.
    const hold = 15_000;

    it('caches no check of that user read from a replica until the TTL plus the lag bound have passed', () => {
      forgetUser(user.id, T0);
      rememberCheck(user, 'sid', T0 + hold - 1, hold);
      expect(cachedCheck(user.id, 'sid', 0, 5, T0 + hold - 1)).toBeUndefined();
      rememberCheck(user, 'sid', T0 + hold, hold);
      expect(cachedCheck(user.id, 'sid', 0, 5, T0 + hold)).toBe(user);
    });

    it('still caches a check of that user read from the primary', () => {
      forgetUser(user.id, T0);
      rememberCheck(user, 'sid', T0 + 1, 0);
      expect(cachedCheck(user.id, 'sid', 0, 5, T0 + 1)).toBe(user);
    });
  });
});
