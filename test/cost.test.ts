/**
 * The cost per request the design promises, counted at the D1 binding and at WebCrypto: a
 * protected request is one D1 query and no write; a login is one PBKDF2 run, one read round
 * trip and one write round trip; the common-password lookup of the flows that set a password
 * rides in a round trip they make anyway.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hashPassword } from '../src/credentials/password';
import { createApp } from '../src/http/app';
import {
  api,
  appWith,
  countD1,
  login,
  ORIGIN,
  PASSWORD,
  pbkdf2IterationsSpent,
  register,
  sessionIdOf,
  signedIn,
  signedInAdmin,
  uniqueName,
} from './helpers';
import { dpopKey } from './dpop';
import { basic, codeFor, browserUser, exchange, form, grant, provider, registerClient } from './oauth-helpers';

afterEach(() => vi.restoreAllMocks());

/** A fresh user signed in with a DPoP proof: a bound session, and the key. */
async function dpopSignedIn() {
  const user = await register(uniqueName());
  const key = await dpopKey();
  const res = await api('/auth/login', {
    json: { username: user.username, password: PASSWORD },
    headers: { DPoP: await key.proof('POST', '/auth/login') },
  });
  expect(res.status).toBe(200);
  return { user, key, tokens: (await res.json()) as { access_token: string; refresh_token: string } };
}

const pbkdf2Runs = () => {
  const spy = vi.spyOn(crypto.subtle, 'deriveBits');
  return () => spy.mock.calls.filter(([alg]) => (alg as { name: string }).name === 'PBKDF2').length;
};

describe('cost per request', () => {
  it('a protected request is one D1 query (user and session by primary key) and no write', async () => {
    const { token } = await signedIn();
    const d1 = countD1();
    for (let i = 0; i < 3; i++) expect((await api('/auth/me', { token })).status).toBe(200);
    expect(d1.executed).toHaveLength(3);
    for (const sql of d1.executed) expect(sql).toMatch(/^select /i);
    expect(d1.batches()).toBe(0);
  });

  it('the per-request check leaves the password hash in D1 (less to read, nothing to leak or cache)', async () => {
    const { token } = await signedIn();
    const d1 = countD1();
    expect((await api('/auth/protected', { token })).status).toBe(200);
    expect(d1.executed).toHaveLength(1);
    expect(d1.executed[0]).not.toMatch(/password_hash/i);
  });

  it('a protected request with a warm access-check cache is no D1 query at all', async () => {
    const cached = appWith({ ACCESS_CHECK_CACHE_TTL: '5' });
    const { token } = await signedIn();
    expect((await cached('/auth/me', { token })).status).toBe(200);
    const d1 = countD1();
    for (let i = 0; i < 3; i++) expect((await cached('/auth/protected', { token })).status).toBe(200);
    expect(d1.executed).toHaveLength(0);
    expect(d1.batches()).toBe(0);
  });

  it('a protected request imports no key: CryptoKeys are made once per isolate', async () => {
    const { token } = await signedIn();
    await api('/auth/me', { token });
    const imports = vi.spyOn(crypto.subtle, 'importKey');
    expect((await api('/auth/me', { token })).status).toBe(200);
    expect(imports).not.toHaveBeenCalled();
  });

  it('a login is one PBKDF2 run, one read round trip and one write round trip', async () => {
    const { user } = await signedIn();
    const d1 = countD1();
    const runs = pbkdf2Runs();
    const res = await api('/auth/login', { json: { username: user.username, password: PASSWORD } });
    expect(res.status).toBe(200);
    expect(runs()).toBe(1);
    expect(d1.batches()).toBe(2);
    expect(d1.executed).toHaveLength(0);
  });

  it('a login with a DPoP proof is still one PBKDF2 run and two round trips (the proof is spent in the first)', async () => {
    const { user } = await signedIn();
    const key = await dpopKey();
    const proof = await key.proof('POST', '/auth/login');
    const d1 = countD1();
    const runs = pbkdf2Runs();
    const res = await api('/auth/login', {
      json: { username: user.username, password: PASSWORD },
      headers: { DPoP: proof },
    });
    expect(res.status).toBe(200);
    expect(runs()).toBe(1);
    expect(d1.batches()).toBe(2);
    expect(d1.executed).toHaveLength(0);
  });

  it('a DPoP-bound protected request is one D1 query, no write, and no key import once the key is known', async () => {
    const { tokens, key } = await dpopSignedIn();
    const me = async () =>
      api('/auth/me', {
        headers: {
          Authorization: `DPoP ${tokens.access_token}`,
          DPoP: await key.proof('GET', '/auth/me', { token: tokens.access_token }),
        },
      });
    expect((await me()).status).toBe(200);
    const proofs = await Promise.all([0, 1, 2].map(() => key.proof('GET', '/auth/me', { token: tokens.access_token })));
    const d1 = countD1();
    const imports = vi.spyOn(crypto.subtle, 'importKey');
    const verifies = vi.spyOn(crypto.subtle, 'verify');
    for (const proof of proofs) {
      const res = await api('/auth/me', { headers: { Authorization: `DPoP ${tokens.access_token}`, DPoP: proof } });
      expect(res.status).toBe(200);
    }
    expect(d1.executed).toHaveLength(3);
    for (const sql of d1.executed) expect(sql).toMatch(/^select /i);
    expect(d1.batches()).toBe(0);
    expect(imports).not.toHaveBeenCalled();
    // The access token's signature (HMAC, checked by sign-and-compare or verify) aside, one
    // signature check per request: the proof's.
    expect(verifies.mock.calls.filter(([alg]) => (alg as { name: string }).name === 'ECDSA')).toHaveLength(3);
  });

  it('a failed login is one PBKDF2 run and answers after one round trip (it was counted before the check)', async () => {
    const { user } = await signedIn();
    const d1 = countD1();
    const runs = pbkdf2Runs();
    const res = await api('/auth/login', { json: { username: user.username, password: 'not-the-password' } });
    expect(res.status).toBe(401);
    expect(runs()).toBe(1);
    expect(d1.batches()).toBe(1);
    // After it, one statement clears the attempt's in-flight mark; the answer does not wait for it.
    expect(d1.executed).toEqual([expect.stringMatching(/^delete from "attempts_in_flight"/i)]);
  });

  it('a failed login answers while the write clearing its in-flight mark is still under way', async () => {
    const { user } = await signedIn();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const cleared: string[] = [];
    const real = env.DB;
    // The real D1, except that single statements (not batches) wait until released.
    const d1 = {
      prepare: (query: string) => {
        const statement = real.prepare(query);
        const hold = (bound: D1PreparedStatement): D1PreparedStatement =>
          new Proxy(bound, {
            get: (target, name) =>
              name === 'run' || name === 'all' || name === 'raw' || name === 'first'
                ? async (...args: unknown[]) => {
                    await held;
                    cleared.push(query);
                    return (target[name] as (...a: unknown[]) => unknown).apply(target, args);
                  }
                : name === 'bind'
                  ? (...values: unknown[]) => hold(target.bind(...values))
                  : Reflect.get(target, name, target),
          });
        return hold(statement);
      },
      batch: (statements: D1PreparedStatement[]) => real.batch(statements),
    } as unknown as D1Database;
    const ctx = createExecutionContext();
    const res = await createApp().fetch(
      new Request(`${ORIGIN}/auth/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: user.username, password: 'not-the-password' }),
      }),
      { ...env, DB: d1 },
      ctx,
    );
    expect(res.status).toBe(401);
    expect(cleared).toEqual([]);
    release();
    await waitOnExecutionContext(ctx);
    expect(cleared).toEqual([expect.stringMatching(/^delete from "attempts_in_flight"/i)]);
  });
});

describe('round trips of the session routes (a batch is one round trip)', () => {
  /** D1 round trips a request makes: batches plus statements run on their own. */
  async function roundTrips(request: () => Promise<Response>, status: number): Promise<number> {
    const d1 = countD1();
    expect((await request()).status).toBe(status);
    const trips = d1.batches() + d1.executed.length;
    vi.restoreAllMocks();
    return trips;
  }
  const refresh = (token: string) => () => api('/auth/refresh', { json: { refresh_token: token } });

  it('a refresh is one round trip: the swap, the successor and the outcome in one batch', async () => {
    const { tokens } = await signedIn();
    expect(await roundTrips(refresh(tokens.refresh_token), 200)).toBe(1);
  });

  it('a refresh repeated inside the grace window (a parallel tab) is one round trip too', async () => {
    const { tokens } = await signedIn();
    expect((await refresh(tokens.refresh_token)()).status).toBe(200);
    expect(await roundTrips(refresh(tokens.refresh_token), 200)).toBe(1);
  });

  it('a refresh of an unknown token is one round trip; a detected reuse may take a second', async () => {
    expect(await roundTrips(refresh('x'.repeat(43)), 401)).toBe(1);
    const { tokens } = await signedIn();
    const next = (await (await refresh(tokens.refresh_token)()).json()) as { refresh_token: string };
    expect((await refresh(next.refresh_token)()).status).toBe(200);
    // Two rotations stale: reuse, which revokes the family in a second round trip.
    expect(await roundTrips(refresh(tokens.refresh_token), 401)).toBe(2);
  });

  it('a refresh of a DPoP-bound session is one round trip: the proof is spent and the key compared in the batch', async () => {
    const { tokens, key } = await dpopSignedIn();
    const withProof = async () =>
      api('/auth/refresh', {
        json: { refresh_token: tokens.refresh_token },
        headers: { DPoP: await key.proof('POST', '/auth/refresh') },
      });
    // Refused (no proof, then another key's) in one round trip too, and unspent.
    expect(await roundTrips(refresh(tokens.refresh_token), 401)).toBe(1);
    const stranger = await dpopKey();
    const otherKey = async () =>
      api('/auth/refresh', {
        json: { refresh_token: tokens.refresh_token },
        headers: { DPoP: await stranger.proof('POST', '/auth/refresh') },
      });
    expect(await roundTrips(otherKey, 401)).toBe(1);
    expect(await roundTrips(withProof, 200)).toBe(1);
  });

  it('a logout is one round trip', async () => {
    const { tokens } = await signedIn();
    expect(await roundTrips(() => api('/auth/logout', { json: { refresh_token: tokens.refresh_token } }), 204)).toBe(1);
    expect((await refresh(tokens.refresh_token)()).status).toBe(401);
  });
});

describe('round trips of the read routes (the access check rides in the route’s own batch)', () => {
  /** D1 round trips of a request: batches plus statements run on their own. */
  async function roundTrips(request: () => Promise<Response>, status: number): Promise<number> {
    const d1 = countD1();
    const res = await request();
    expect(res.status, await res.clone().text()).toBe(status);
    const trips = d1.batches() + d1.executed.length;
    vi.restoreAllMocks();
    return trips;
  }

  it('GET /auth/sessions and DELETE /auth/sessions/{id} are one round trip each', async () => {
    const { user, token } = await signedIn();
    const other = await login(user.username);
    expect(await roundTrips(() => api('/auth/sessions', { token }), 200)).toBe(1);
    const id = sessionIdOf(other.access_token);
    expect(await roundTrips(() => api(`/auth/sessions/${id}`, { method: 'DELETE', token }), 204)).toBe(1);
    expect(await roundTrips(() => api(`/auth/sessions/${id}`, { method: 'DELETE', token }), 404)).toBe(1);
  });

  it('GET /admin/users and GET /admin/users/{id} are one round trip each, the admin check included', async () => {
    const { user, token } = await signedInAdmin();
    expect(await roundTrips(() => api('/admin/users?limit=2', { token }), 200)).toBe(1);
    expect(await roundTrips(() => api(`/admin/users/${user.id}`, { token }), 200)).toBe(1);
    expect(await roundTrips(() => api('/admin/users/no-such-user', { token }), 404)).toBe(1);
    const plain = await signedIn();
    expect(await roundTrips(() => api('/admin/users', { token: plain.token }), 403)).toBe(1);
  });

  it('with D1_READS=nearest, the sessions list is one batch on one replica session, and the admin list one on the primary', async () => {
    const nearest = appWith({ D1_READS: 'nearest' });
    const { token } = await signedIn();
    const admin = await signedInAdmin();
    const opened: { constraint: string | undefined; batches: number; statements: number }[] = [];
    const withSession = env.DB.withSession.bind(env.DB);
    vi.spyOn(env.DB, 'withSession').mockImplementation((constraint?: string) => {
      const session = withSession(constraint as D1SessionConstraint);
      const seen = { constraint, batches: 0, statements: 0 };
      opened.push(seen);
      return new Proxy(session, {
        get: (target, name) => {
          if (name === 'batch') return (s: D1PreparedStatement[]) => (seen.batches++, target.batch(s));
          if (name === 'prepare') return (q: string) => (seen.statements++, target.prepare(q));
          return Reflect.get(target, name, target);
        },
      });
    });
    expect((await nearest('/auth/sessions', { token })).status).toBe(200);
    const used = () => opened.filter((s) => s.batches + s.statements > 0);
    expect(used()).toEqual([{ constraint: 'first-unconstrained', batches: 1, statements: 2 }]);
    opened.length = 0;
    expect((await nearest('/admin/users', { token: admin.token })).status).toBe(200);
    expect(used()).toEqual([{ constraint: 'first-primary', batches: 1, statements: 2 }]);
  });
});

describe('round trips of the OAuth provider’s routes (npm run bench measures these three)', () => {
  /** D1 round trips of a request: batches plus statements run on their own. */
  async function roundTrips(request: () => Promise<Response>, status: number): Promise<number> {
    const d1 = countD1();
    const res = await request();
    expect(res.status, await res.clone().text()).toBe(status);
    const trips = d1.batches() + d1.executed.length;
    vi.restoreAllMocks();
    return trips;
  }

  it('userinfo is one round trip: the grant, its liveness and the user in one joined read', async () => {
    const p = await provider();
    const client = await registerClient(p);
    const { tokens } = await grant(p, client, { scope: 'openid profile email offline_access' });
    const userinfo = () => p.api('/oauth/userinfo', { token: tokens.access_token });
    expect(await roundTrips(userinfo, 200)).toBe(1);
    // An ended grant is found out by that same read.
    const revoked = await p.api(
      '/oauth/revoke',
      form({ token: tokens.refresh_token! }, { Authorization: basic(client.client_id, client.client_secret!) }),
    );
    expect(revoked.status).toBe(200);
    expect(await roundTrips(userinfo, 401)).toBe(1);
  });

  it('a code exchange is three round trips: client authentication with its rate counts, the code, and the claim with the new grant', async () => {
    const p = await provider();
    const client = await registerClient(p);
    const user = await browserUser(p);
    const { code, verifier } = await codeFor(p, client, user);
    expect(await roundTrips(() => exchange(p, client, code, verifier), 200)).toBe(3);
  });

  it('a refresh grant is two round trips: client authentication with its rate counts, then the rotation', async () => {
    const p = await provider();
    const client = await registerClient(p);
    const { tokens } = await grant(p, client);
    const refresh = (refreshToken: string, extra: Record<string, string> = {}) =>
      p.api(
        '/oauth/token',
        form(
          { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra },
          { Authorization: basic(client.client_id, client.client_secret!) },
        ),
      );
    let answer!: Response;
    expect(await roundTrips(async () => (answer = await refresh(tokens.refresh_token!)), 200)).toBe(2);
    const next = ((await answer.json()) as { refresh_token: string }).refresh_token;
    // Narrowing the scope reads the grant first, so a refused request leaves the token unspent.
    expect(await roundTrips(() => refresh(next, { scope: 'openid' }), 200)).toBe(3);
  });

  it('with a DPoP proof, a public client’s code exchange and bound refresh cost the same: the proof is spent in the batch each sends anyway', async () => {
    const p = await provider();
    const client = await registerClient(p, { token_endpoint_auth_method: 'none' });
    const user = await browserUser(p);
    const { code, verifier } = await codeFor(p, client, user);
    const key = await dpopKey();
    const withProof = async (params: Record<string, string>) =>
      p.api(
        '/oauth/token',
        form({ ...params, client_id: client.client_id }, { DPoP: await key.proof('POST', '/oauth/token') }),
      );
    let answer!: Response;
    const params = {
      grant_type: 'authorization_code',
      code,
      redirect_uri: client.redirect_uris[0]!,
      code_verifier: verifier,
    };
    expect(await roundTrips(async () => (answer = await withProof(params)), 200)).toBe(3);
    const { refresh_token } = (await answer.json()) as { refresh_token: string };
    expect(await roundTrips(() => withProof({ grant_type: 'refresh_token', refresh_token }), 200)).toBe(2);
  });
});

describe('cost of setting a password (the common-password lookup adds no round trip)', () => {
  /** As in production, where Cloudflare sets it on every request: the per-address limits run. */
  const CLIENT = { 'CF-Connecting-IP': '198.51.100.60' };
  const NEW_PASSWORD = 'a-new-and-unusual-passphrase';

  it('a registration is one PBKDF2 run, one round trip before it (lookup and address count) and the insert', async () => {
    const d1 = countD1();
    const runs = pbkdf2Runs();
    const res = await api('/auth/register', { json: { username: uniqueName(), password: PASSWORD }, headers: CLIENT });
    expect(res.status).toBe(201);
    expect(runs()).toBe(1);
    expect(d1.batches()).toBe(1);
    expect(d1.executed).toHaveLength(1);
  });

  it('a registration refused as too common is one round trip and no PBKDF2', async () => {
    const d1 = countD1();
    const runs = pbkdf2Runs();
    const res = await api('/auth/register', {
      json: { username: uniqueName(), password: 'Password1' },
      headers: CLIENT,
    });
    expect(res.status).toBe(400);
    expect(runs()).toBe(0);
    expect(d1.batches()).toBe(1);
    expect(d1.executed).toHaveLength(0);
  });

  it('a password change is two PBKDF2 runs (current and new), one read round trip and one write round trip', async () => {
    const { token } = await signedIn();
    const d1 = countD1();
    const runs = pbkdf2Runs();
    const res = await api('/auth/password', {
      token,
      headers: CLIENT,
      json: { current_password: PASSWORD, new_password: NEW_PASSWORD },
    });
    expect(res.status).toBe(204);
    expect(runs()).toBe(2);
    expect(d1.batches()).toBe(2);
    // The access check of the bearer token.
    expect(d1.executed).toHaveLength(1);
  });

  it('a reset by token is one PBKDF2 run: the address count, token read with lookup, and two write batches', async () => {
    const admin = await signedInAdmin();
    const { user } = await signedIn();
    const issued = await api(`/admin/users/${user.id}/password-reset`, { method: 'POST', token: admin.token });
    const { reset_token } = (await issued.json()) as { reset_token: string };
    const d1 = countD1();
    const runs = pbkdf2Runs();
    const res = await api('/auth/password/reset', {
      headers: CLIENT,
      json: { reset_token, new_password: NEW_PASSWORD },
    });
    expect(res.status).toBe(204);
    expect(runs()).toBe(1);
    expect(d1.batches()).toBe(3);
    expect(d1.executed).toHaveLength(1);
  });
});

describe('after PBKDF2_ITERATIONS was raised', () => {
  /** PBKDF2 iterations a request spends, after checking its status. */
  const iterationsSpent = (request: () => Promise<Response>, status: number) =>
    pbkdf2IterationsSpent(async () => expect((await request()).status).toBe(status));

  it('a wrong password for an account not yet upgraded costs what one for an unknown name does', async () => {
    // An account whose hash predates the raise (10,000 iterations; the configuration says 100,000).
    const raised = appWith({ PBKDF2_ITERATIONS: '100000' });
    const stale = await register(uniqueName('stale'));
    const oldHash = await hashPassword(PASSWORD, { iterations: 10_000 });
    await env.DB.prepare('UPDATE users SET password_hash = ? WHERE id = ?').bind(oldHash, stale.id).run();
    const current = uniqueName('current');
    expect((await raised('/auth/register', { json: { username: current, password: PASSWORD } })).status).toBe(201);
    const attempt = (username: string) => () =>
      raised('/auth/login', { json: { username, password: 'not-the-password' } });

    const unknown = await iterationsSpent(attempt(uniqueName('nobody')), 401);
    expect(unknown).toBe(100_000);
    expect(await iterationsSpent(attempt(stale.username), 401)).toBe(unknown);
    expect(await iterationsSpent(attempt(current), 401)).toBe(unknown);
    // The right password still works, and upgrades the hash.
    expect((await raised('/auth/login', { json: { username: stale.username, password: PASSWORD } })).status).toBe(200);
    const row = await env.DB.prepare('SELECT password_hash FROM users WHERE id = ?')
      .bind(stale.id)
      .first<{ password_hash: string }>();
    expect(row!.password_hash).toMatch(/^\$pbkdf2-sha256\$i=100000\$/);
  });
});
