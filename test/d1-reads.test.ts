/**
 * D1_READS=nearest: read-only requests go through a D1 session that may read the nearest
 * replica ('first-unconstrained'); requests that may write use 'first-primary' throughout,
 * so they read their own writes. The default, `primary`, never opens a session.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { forgetAll } from '../src/sessions/access-cache';
import { api, appWith, expectProblem, PASSWORD, register, signedIn, signedInAdmin, uniqueName } from './helpers';

afterEach(() => {
  vi.restoreAllMocks();
  forgetAll();
});

/**
 * The test D1 behind a read replica that can fall behind: sessions opened 'first-primary'
 * read the real database; 'first-unconstrained' ones read the replica, which answers each
 * query as the primary does until `lag()`, and from then on as it last answered it (the same
 * SQL and text parameters; numbers such as the current time may differ) until `catchUp()`.
 */
function laggingReplica() {
  const real = env.DB;
  const lastAnswers = new Map<string, unknown>();
  let lagging = false;
  const statement = (query: string, args: unknown[] = []): D1PreparedStatement => {
    const key = JSON.stringify([query, args.filter((a) => typeof a === 'string')]);
    const answer =
      (method: 'all' | 'first' | 'raw' | 'run') =>
      async (...rest: unknown[]) => {
        if (lagging && lastAnswers.has(`${method}:${key}`)) return lastAnswers.get(`${method}:${key}`);
        const bound = real.prepare(query).bind(...args) as unknown as Record<string, (...a: unknown[]) => unknown>;
        const result = await bound[method]!(...rest);
        lastAnswers.set(`${method}:${key}`, result);
        return result;
      };
    return {
      bind: (...values: unknown[]) => statement(query, values),
      all: answer('all'),
      first: answer('first'),
      raw: answer('raw'),
      run: answer('run'),
    } as unknown as D1PreparedStatement;
  };
  const replica = { prepare: (query: string) => statement(query), batch: real.batch.bind(real) };
  const d1 = {
    prepare: (query: string) => real.prepare(query),
    batch: (statements: D1PreparedStatement[]) => real.batch(statements),
    exec: (query: string) => real.exec(query),
    withSession: (constraint?: string) => (constraint === 'first-primary' ? real.withSession(constraint) : replica),
  } as unknown as D1Database;
  return {
    d1,
    lag: () => void (lagging = true),
    catchUp: () => void (lagging = false),
  };
}

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

    it('checks the admin role on the primary: an admin demoted there is refused though a replica lags', async () => {
      const replica = laggingReplica();
      const nearestLagging = appWith({ D1_READS: 'nearest', DB: replica.d1 });
      const admin = await signedInAdmin();
      expect((await nearestLagging('/admin/users', { token: admin.token })).status).toBe(200);
      replica.lag();
      await env.DB.prepare("UPDATE users SET role = 'user' WHERE id = ?").bind(admin.user.id).run();
      await expectProblem(await nearestLagging('/admin/users', { token: admin.token }), 403, 'forbidden');
      // A route without the role check may still read the replica (its answer lags, by design).
      expect((await nearestLagging('/auth/me', { token: admin.token })).status).toBe(200);
    });

    it('after a revocation in this isolate, does not cache the revoked user from a replica', async () => {
      const replica = laggingReplica();
      const cachedNearest = appWith({ D1_READS: 'nearest', ACCESS_CHECK_CACHE_TTL: '5', DB: replica.d1 });
      const { token } = await signedIn('lagged');
      expect((await cachedNearest('/auth/me', { token })).status).toBe(200);
      replica.lag();
      expect((await cachedNearest('/auth/logout-all', { method: 'POST', token })).status).toBe(204);
      // Within the replica's lag the stale row may answer once (what D1_REPLICA_LAG_BOUND bounds)...
      expect((await cachedNearest('/auth/me', { token })).status).toBe(200);
      replica.catchUp();
      // ...but it was not cached: once the replica has caught up, the revocation holds.
      await expectProblem(await cachedNearest('/auth/me', { token }), 401, 'invalid_token');
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
