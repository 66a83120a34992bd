/**
 * Rotating refresh tokens: rotation chains, reuse detection with family revocation, the
 * grace window for parallel tabs, concurrent refreshes, and every way a refresh can fail.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  appWith,
  api,
  expectProblem,
  login,
  ORIGIN,
  register,
  signedIn,
  signedInAdmin,
  uniqueName,
  sessionIdOf,
  type Tokens,
} from './helpers';

const DAY = 86_400_000;
const T0 = Date.UTC(2030, 0, 15, 12, 0, 0);

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** Freezes `Date` (in the tests and, same isolate, in the Worker) at `ms`. */
function setNow(ms: number) {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(ms);
}

const refresh = (refreshToken: string) => api('/auth/refresh', { json: { refresh_token: refreshToken } });

async function refreshOk(refreshToken: string): Promise<Tokens> {
  const res = await refresh(refreshToken);
  expect(res.status).toBe(200);
  return (await res.json()) as Tokens;
}

async function sha256Base64Url(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return btoa(String.fromCharCode(...digest))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');
}

function auditEvents(spy: { mock: { calls: unknown[][] } }, event: string): Record<string, unknown>[] {
  return spy.mock.calls
    .map((args) => {
      try {
        return JSON.parse(String(args[0])) as Record<string, unknown>;
      } catch {
        return null;
      }
    })
    .filter((line): line is Record<string, unknown> => line?.type === 'audit' && line.event === event);
}

describe('POST /auth/refresh', () => {
  describe('login', () => {
    it('returns a refresh token of at least 256 bits that lives 30 days by default', async () => {
      const { tokens } = await signedIn();
      expect(tokens.refresh_token).toMatch(/^[A-Za-z0-9_-]{43,}$/);
      expect(tokens.refresh_expires_in).toBe(2_592_000);
    });

    it('gives every login a different refresh token', async () => {
      const user = await register(uniqueName());
      const [a, b] = [await login(user.username), await login(user.username)];
      expect(a.refresh_token).not.toBe(b.refresh_token);
    });
  });

  describe('a rotation chain', () => {
    it('hands out a new refresh token and a working access token at every step', async () => {
      const { user, tokens } = await signedIn();
      const seen = new Set([tokens.refresh_token]);
      let current = tokens.refresh_token;
      for (let step = 0; step < 4; step++) {
        const next = await refreshOk(current);
        expect(next.refresh_token).toMatch(/^[A-Za-z0-9_-]{43,}$/);
        expect(seen.has(next.refresh_token)).toBe(false);
        expect(next.refresh_expires_in).toBe(2_592_000);
        seen.add(next.refresh_token);
        const me = await api('/auth/me', { token: next.access_token });
        expect(me.status).toBe(200);
        expect(await me.json()).toMatchObject({ user: { id: user.id } });
        current = next.refresh_token;
      }
    });

    it('keeps the same session id through the chain', async () => {
      const { tokens } = await signedIn();
      const first = await refreshOk(tokens.refresh_token);
      const second = await refreshOk(first.refresh_token);
      expect(sessionIdOf(second.access_token)).toBe(sessionIdOf(tokens.access_token));
    });

    it('treats a token two rotations stale as reuse even within the grace window: the family is revoked', async () => {
      const { tokens } = await signedIn();
      const chain = [tokens.refresh_token];
      for (let step = 0; step < 3; step++) chain.push((await refreshOk(chain.at(-1)!)).refresh_token);
      // chain[1]'s successor chain[2] was itself rotated: no parallel tab can hold chain[1] now.
      await expectProblem(await refresh(chain[1]!), 401, 'refresh_token_reused');
      // The whole family is gone, the newest token included.
      await expectProblem(await refresh(chain.at(-1)!), 401, 'invalid_refresh_token');
      await expectProblem(await api('/auth/me', { token: tokens.access_token }), 401, 'invalid_token');
    });

    it('still hands the immediate predecessor of the live token its successor (parallel tabs)', async () => {
      const { tokens } = await signedIn();
      const first = await refreshOk(tokens.refresh_token);
      const second = await refreshOk(first.refresh_token);
      // first.refresh_token is the live head's immediate predecessor: the same successor again.
      const again = await refreshOk(first.refresh_token);
      expect(again.refresh_token).toBe(second.refresh_token);
      await refreshOk(second.refresh_token);
    });
  });

  describe('the absolute session lifetime (SESSION_MAX_LIFETIME, default 90 days)', () => {
    it('ends an active session 90 days after login, however often it refreshed', async () => {
      setNow(T0);
      const { tokens } = await signedIn();
      let current = tokens.refresh_token;
      for (let day = 20; day <= 80; day += 20) {
        setNow(T0 + day * DAY);
        current = (await refreshOk(current)).refresh_token;
      }
      setNow(T0 + 90 * DAY + 1_000);
      await expectProblem(await refresh(current), 401, 'invalid_refresh_token');
    });

    it('caps the refresh lifetime it announces at the end of the session', async () => {
      const short = appWith({ SESSION_MAX_LIFETIME: '3600' });
      setNow(T0);
      const user = await register(uniqueName());
      const loginRes = await short('/auth/login', { json: { username: user.username, password: user.password } });
      const tokens = (await loginRes.json()) as Tokens;
      expect(tokens.refresh_expires_in).toBe(3600);
      setNow(T0 + 1_800_000);
      const res = await short('/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
      expect(res.status).toBe(200);
      const next = (await res.json()) as Tokens;
      expect(next.refresh_expires_in).toBe(1800);
      setNow(T0 + 3_601_000);
      await expectProblem(
        await short('/auth/refresh', { json: { refresh_token: next.refresh_token } }),
        401,
        'invalid_refresh_token',
      );
      // The session's access tokens end with it too.
      await expectProblem(await short('/auth/me', { token: next.access_token }), 401);
    });
  });

  describe('when a rotated token is presented again after the grace window', () => {
    it('answers 401 refresh_token_reused, revokes the whole family and logs an audit line', async () => {
      setNow(T0);
      const { user, tokens } = await signedIn();
      const successor = await refreshOk(tokens.refresh_token);
      const log = vi.spyOn(console, 'log');

      setNow(T0 + 11_000);
      const reused = await refresh(tokens.refresh_token);
      await expectProblem(reused, 401, 'refresh_token_reused');

      // The legitimate holder's newest token dies with the family, and so do the session's access tokens.
      await expectProblem(await refresh(successor.refresh_token), 401, 'invalid_refresh_token');
      for (const token of [tokens.access_token, successor.access_token]) {
        await expectProblem(await api('/auth/me', { token }), 401, 'invalid_token');
      }

      const events = auditEvents(log, 'refresh_reuse_detected');
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ user_id: user.id, session_id: sessionIdOf(tokens.access_token) });
      // Audit lines carry ids only, never token values.
      const logged = log.mock.calls.flat().join('\n');
      expect(logged).not.toContain(tokens.refresh_token);
      expect(logged).not.toContain(successor.refresh_token);
    });

    it('keeps refusing the reused token afterwards', async () => {
      setNow(T0);
      const { tokens } = await signedIn();
      await refreshOk(tokens.refresh_token);
      setNow(T0 + 60_000);
      await expectProblem(await refresh(tokens.refresh_token), 401, 'refresh_token_reused');
      await expectProblem(await refresh(tokens.refresh_token), 401, 'invalid_refresh_token');
    });

    it("leaves the user's other sessions alone", async () => {
      setNow(T0);
      const user = await register(uniqueName());
      const stolen = await login(user.username);
      const other = await login(user.username);
      await refreshOk(stolen.refresh_token);
      setNow(T0 + 11_000);
      await expectProblem(await refresh(stolen.refresh_token), 401, 'refresh_token_reused');
      expect((await api('/auth/me', { token: other.access_token })).status).toBe(200);
      await refreshOk(other.refresh_token);
    });

    it('treats a second presentation one second later as reuse when REFRESH_REUSE_GRACE is 0', async () => {
      const noGrace = appWith({ REFRESH_REUSE_GRACE: '0' });
      setNow(T0);
      const user = await register(uniqueName());
      const loginRes = await noGrace('/auth/login', { json: { username: user.username, password: user.password } });
      expect(loginRes.status).toBe(200);
      const tokens = (await loginRes.json()) as Tokens;
      const rotated = await noGrace('/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
      expect(rotated.status).toBe(200);
      const successor = (await rotated.json()) as Tokens;

      setNow(T0 + 1_000);
      await expectProblem(
        await noGrace('/auth/refresh', { json: { refresh_token: tokens.refresh_token } }),
        401,
        'refresh_token_reused',
      );
      await expectProblem(
        await noGrace('/auth/refresh', { json: { refresh_token: successor.refresh_token } }),
        401,
        'invalid_refresh_token',
      );
    });
  });

  describe('when the just-rotated token is presented again within the grace window (parallel tabs)', () => {
    it('returns the same successor, with a working access token', async () => {
      setNow(T0);
      const { user, tokens } = await signedIn();
      const first = await refreshOk(tokens.refresh_token);

      setNow(T0 + 9_000);
      const second = await refreshOk(tokens.refresh_token);
      expect(second.refresh_token).toBe(first.refresh_token);
      const me = await api('/auth/me', { token: second.access_token });
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({ user: { id: user.id } });
    });

    it('does not revoke anything: the successor keeps rotating and no reuse is logged', async () => {
      setNow(T0);
      const { tokens } = await signedIn();
      const first = await refreshOk(tokens.refresh_token);
      const log = vi.spyOn(console, 'log');

      setNow(T0 + 5_000);
      await refreshOk(tokens.refresh_token);
      const next = await refreshOk(first.refresh_token);
      await refreshOk(next.refresh_token);
      expect(auditEvents(log, 'refresh_reuse_detected')).toHaveLength(0);
    });
  });

  describe('when one token is refreshed 10 times at once', () => {
    it('gives every request the same successor, leaves exactly one live successor, and that one works', async () => {
      const { tokens } = await signedIn();
      const responses = await Promise.all(Array.from({ length: 10 }, () => refresh(tokens.refresh_token)));
      expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
      const bodies = (await Promise.all(responses.map((r) => r.json()))) as Tokens[];

      const successors = new Set(bodies.map((b) => b.refresh_token));
      expect(successors.size).toBe(1);
      const [successor] = [...successors] as [string];
      expect(successor).not.toBe(tokens.refresh_token);

      // In D1, the session has exactly one un-rotated token, and it is that successor.
      const live = await env.DB.prepare(
        'SELECT token_hash FROM refresh_tokens WHERE session_id = ? AND rotated_at IS NULL',
      )
        .bind(sessionIdOf(tokens.access_token))
        .all<{ token_hash: string }>();
      expect(live.results.map((r) => r.token_hash)).toEqual([await sha256Base64Url(successor)]);

      for (const body of bodies) expect((await api('/auth/me', { token: body.access_token })).status).toBe(200);
      await refreshOk(successor);
    });
  });

  describe('an invalid refresh token', () => {
    it('is refused with 401 invalid_refresh_token when unknown', async () => {
      const unknown = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))
        .replaceAll('+', '-')
        .replaceAll('/', '_')
        .replace(/=+$/, '');
      await expectProblem(await refresh(unknown), 401, 'invalid_refresh_token');
    });

    it.each([
      ['an empty string', ''],
      ['a short word', 'garbage'],
      ['dots and spaces', 'a.b.c d'],
      ['non-ASCII text', 'jeton-\u00e9\u00e8\u{1F511}'],
      ['a 512-character string', 'x'.repeat(512)],
    ])('is refused with 401 invalid_refresh_token for %s', async (_label, value) => {
      await expectProblem(await refresh(value), 401, 'invalid_refresh_token');
    });

    it('is refused with 401 invalid_refresh_token when none is sent at all', async () => {
      await expectProblem(await api('/auth/refresh', { method: 'POST' }), 401, 'invalid_refresh_token');
      await expectProblem(await api('/auth/refresh', { json: {} }), 401, 'invalid_refresh_token');
    });

    it('is refused with 401 invalid_refresh_token once expired (after 30 days by default)', async () => {
      setNow(T0);
      const { tokens } = await signedIn();
      setNow(T0 + 30 * DAY + 1_000);
      await expectProblem(await refresh(tokens.refresh_token), 401, 'invalid_refresh_token');
    });

    it('still works just before it expires', async () => {
      setNow(T0);
      const { tokens } = await signedIn();
      setNow(T0 + 30 * DAY - 1_000);
      await refreshOk(tokens.refresh_token);
    });

    it('stays valid while the session is used: each refresh renews the 30-day idle timeout', async () => {
      setNow(T0);
      const { tokens } = await signedIn();
      setNow(T0 + 20 * DAY);
      const renewed = await refreshOk(tokens.refresh_token);
      setNow(T0 + 45 * DAY);
      const again = await refreshOk(renewed.refresh_token);
      setNow(T0 + 45 * DAY + 30 * DAY + 1_000);
      await expectProblem(await refresh(again.refresh_token), 401, 'invalid_refresh_token');
    });

    it('is refused with 401 invalid_refresh_token when it is an access token', async () => {
      const { tokens } = await signedIn();
      await expectProblem(await refresh(tokens.access_token), 401, 'invalid_refresh_token');
      // The session itself is untouched.
      await refreshOk(tokens.refresh_token);
    });

    it('is refused with 401 invalid_refresh_token when its user was deleted', async () => {
      const admin = await signedInAdmin();
      const { user, tokens } = await signedIn();
      const deleted = await api(`/admin/users/${user.id}`, { method: 'DELETE', token: admin.token });
      expect(deleted.status).toBe(204);
      await expectProblem(await refresh(tokens.refresh_token), 401, 'invalid_refresh_token');
    });
  });

  describe('a refresh token presented as a Bearer access token', () => {
    it('is refused with 401 invalid_token', async () => {
      const { tokens } = await signedIn();
      const res = await api('/auth/me', { token: tokens.refresh_token });
      await expectProblem(res, 401, 'invalid_token');
      expect(res.headers.get('WWW-Authenticate')).toContain('error="invalid_token"');
    });
  });
});
