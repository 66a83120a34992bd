/**
 * D1_READS=nearest: read-only requests go through a D1 session that may read the nearest
 * replica ('first-unconstrained'); requests that may write use 'first-primary' throughout,
 * so they read their own writes. The default, `primary`, never opens a session.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, appWith, expectProblem, PASSWORD, register, signedIn, uniqueName } from './helpers';

afterEach(() => vi.restoreAllMocks());

const nearest = appWith({ D1_READS: 'nearest' });

function sessionsOpened() {
  const spy = vi.spyOn(env.DB, 'withSession');
  return () => spy.mock.calls.map(([constraint]) => constraint);
}

describe('D1_READS', () => {
  it('primary (the default) reads and writes through the binding, no session', async () => {
    const opened = sessionsOpened();
    const { token } = await signedIn();
    expect((await api('/auth/me', { token })).status).toBe(200);
    expect(opened()).toEqual([]);
  });

  describe('nearest', () => {
    it('reads the per-request check and read-only routes from the nearest replica', async () => {
      const { token } = await signedIn();
      const opened = sessionsOpened();
      for (const path of ['/auth/me', '/auth/protected', '/auth/sessions', '/hello', '/health']) {
        expect((await nearest(path, { token })).status, path).toBe(200);
      }
      expect(opened()).toEqual(Array(5).fill('first-unconstrained'));
    });

    it('sends a request that writes to the primary for the whole request, and it reads its own writes', async () => {
      const opened = sessionsOpened();
      const username = uniqueName('nearest');
      expect((await nearest('/auth/register', { json: { username, password: PASSWORD } })).status).toBe(201);
      const login = await nearest('/auth/login', { json: { username, password: PASSWORD } });
      expect(login.status).toBe(200);
      const tokens = (await login.json()) as { access_token: string; refresh_token: string };
      const refreshed = await nearest('/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
      expect(refreshed.status).toBe(200);
      const { access_token } = (await refreshed.json()) as { access_token: string };
      expect((await nearest('/auth/logout-all', { method: 'POST', token: access_token })).status).toBe(204);
      expect(opened()).toEqual(Array(4).fill('first-primary'));
      // The revocation is visible to the next read.
      await expectProblem(await nearest('/auth/me', { token: access_token }), 401, 'invalid_token');
    });

    it('keeps every security check: wrong passwords, revoked sessions, throttling', async () => {
      const user = await register(uniqueName('nearest'));
      await expectProblem(
        await nearest('/auth/login', { json: { username: user.username, password: 'wrong-password!' } }),
        401,
        'invalid_credentials',
      );
      const login = await nearest('/auth/login', { json: { username: user.username, password: PASSWORD } });
      const { refresh_token } = (await login.json()) as { refresh_token: string };
      expect((await nearest('/auth/logout', { json: { refresh_token } })).status).toBe(204);
      await expectProblem(await nearest('/auth/refresh', { json: { refresh_token } }), 401, 'invalid_refresh_token');
    });
  });
});
