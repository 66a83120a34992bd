/**
 * A login in flight cannot outlive what committed while it was hashing: a password change,
 * logout-all or deletion. The login's request is held, through a gate in front of the real
 * D1, between its password check and its writes, while the other request runs to the end;
 * then the login goes on. Without conditional writes it would create a session anyway.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  api,
  appWith,
  enrolTotp,
  expectProblem,
  login,
  PASSWORD,
  register,
  signedIn,
  signedInAdmin,
  uniqueName,
  type Api,
  gatedD1,
} from './helpers';

const NEW_PASSWORD = 'a-different-long-passphrase';

afterEach(() => vi.restoreAllMocks());

/** Starts a login whose writes (its second D1 batch) wait for `release()`. */
async function heldLogin(
  username: string,
  password = PASSWORD,
  overrides: Partial<Cloudflare.Env> = {},
  headers: Record<string, string> = {},
) {
  const gate = gatedD1(2);
  const app: Api = appWith({ ...overrides, DB: gate.d1 });
  const response = app('/auth/login', { json: { username, password }, headers });
  await gate.reached;
  return { response, release: gate.release };
}

async function liveSessions(userId: string): Promise<number> {
  const row = await env.DB.prepare('SELECT count(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL')
    .bind(userId)
    .first<{ n: number }>();
  return row!.n;
}

async function sessionCount(userId: string): Promise<number> {
  const row = await env.DB.prepare('SELECT count(*) AS n FROM sessions WHERE user_id = ?')
    .bind(userId)
    .first<{ n: number }>();
  return row!.n;
}

describe('a login racing another request', () => {
  it('that verified the old password gets 401 and no session once a password change committed', async () => {
    const { user, token } = await signedIn('race');
    const before = await sessionCount(user.id);
    const held = await heldLogin(user.username);

    const change = await api('/auth/password', {
      json: { current_password: PASSWORD, new_password: NEW_PASSWORD },
      token,
    });
    expect(change.status).toBe(204);
    held.release();

    await expectProblem(await held.response, 401, 'invalid_credentials');
    expect(await sessionCount(user.id)).toBe(before);
    expect((await api('/auth/login', { json: { username: user.username, password: NEW_PASSWORD } })).status).toBe(200);
  });

  it('gets 401 and no session once a logout-all committed', async () => {
    const { user, token } = await signedIn('race');
    const held = await heldLogin(user.username);
    expect((await api('/auth/logout-all', { method: 'POST', token })).status).toBe(204);
    held.release();

    await expectProblem(await held.response, 401, 'invalid_credentials');
    const live = await env.DB.prepare('SELECT count(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL')
      .bind(user.id)
      .first<{ n: number }>();
    expect(live!.n).toBe(0);
  });

  it('of a user deleted meanwhile gets 401, not a 500', async () => {
    const { token: adminToken } = await signedInAdmin();
    const user = await register(uniqueName('race'));
    const held = await heldLogin(user.username);
    expect((await api(`/admin/users/${user.id}`, { method: 'DELETE', token: adminToken })).status).toBe(204);
    held.release();

    await expectProblem(await held.response, 401, 'invalid_credentials');
    expect(await sessionCount(user.id)).toBe(0);
  });

  it('that found two-factor off makes no session once an enrolment was confirmed meanwhile', async () => {
    const { user, token } = await signedIn('race');
    const held = await heldLogin(user.username);
    // Between the login's password check and its writes, the owner turns two-factor on (which
    // ends every other session that exists by then).
    await enrolTotp(token);
    const live = await liveSessions(user.id);
    held.release();

    // A password-only session now would bypass the second factor the owner just turned on.
    await expectProblem(await held.response, 401, 'invalid_credentials');
    expect(await liveSessions(user.id)).toBe(live);
    await expectProblem(
      await api('/auth/login', { json: { username: user.username, password: PASSWORD } }),
      403,
      'mfa_required',
    );
  });

  it('that upgrades the hash does not write it over a password changed meanwhile', async () => {
    // Hashed at the default 100,000 iterations; this app wants 50,000, so its login rehashes.
    const { user, token } = await signedIn('race');
    const held = await heldLogin(user.username, PASSWORD, { PBKDF2_ITERATIONS: '50000' });
    const change = await api('/auth/password', {
      json: { current_password: PASSWORD, new_password: NEW_PASSWORD },
      token,
    });
    expect(change.status).toBe(204);
    held.release();
    await held.response;

    // The old password must not have come back through the rehash.
    await expectProblem(
      await api('/auth/login', { json: { username: user.username, password: PASSWORD } }),
      401,
      'invalid_credentials',
    );
    expect((await api('/auth/login', { json: { username: user.username, password: NEW_PASSWORD } })).status).toBe(200);
  });

  it('that wins the race is ended by the password change like any other session', async () => {
    const { user, token } = await signedIn('race');
    const early = await login(user.username);
    const change = await api('/auth/password', {
      json: { current_password: PASSWORD, new_password: NEW_PASSWORD },
      token,
    });
    expect(change.status).toBe(204);
    await expectProblem(
      await api('/auth/refresh', { json: { refresh_token: early.refresh_token } }),
      401,
      'invalid_refresh_token',
    );
  });
});

describe('refresh and the token version', () => {
  it("refuses a session whose token version lags the user's (it should have died with a logout-all)", async () => {
    const { user, tokens } = await signedIn('lag');
    // What a session created after a logout-all's revocation would look like.
    await env.DB.prepare('UPDATE users SET token_version = token_version + 1 WHERE id = ?').bind(user.id).run();
    await expectProblem(
      await api('/auth/refresh', { json: { refresh_token: tokens.refresh_token } }),
      401,
      'invalid_refresh_token',
    );
  });

  it('keeps the session that changed the password refreshable (it follows the new version)', async () => {
    const { tokens } = await signedIn('keep');
    const change = await api('/auth/password', {
      json: { current_password: PASSWORD, new_password: NEW_PASSWORD },
      token: tokens.access_token,
    });
    expect(change.status).toBe(204);
    const res = await api('/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
    expect(res.status).toBe(200);
    const { access_token } = (await res.json()) as { access_token: string };
    expect((await api('/auth/me', { token: access_token })).status).toBe(200);
  });
});

describe('a password change racing a deletion', () => {
  it('of a user deleted after the access check gets 401 invalid_token (no user), not a 500, and nothing is written', async () => {
    const { token: adminToken } = await signedInAdmin();
    const { user, token } = await signedIn('race');
    // The change reads the stored hash in its first batch: held until the deletion committed.
    const gate = gatedD1(1);
    const change = appWith({ DB: gate.d1 })('/auth/password', {
      json: { current_password: PASSWORD, new_password: NEW_PASSWORD },
      token,
    });
    await gate.reached;
    expect((await api(`/admin/users/${user.id}`, { method: 'DELETE', token: adminToken })).status).toBe(204);
    gate.release();

    await expectProblem(await change, 401, 'invalid_token');
    const row = await env.DB.prepare('SELECT count(*) AS n FROM users WHERE id = ?')
      .bind(user.id)
      .first<{ n: number }>();
    expect(row!.n).toBe(0);
  });
});

describe('parallel logins with the right password', () => {
  const from = (address: string) => ({ 'CF-Connecting-IP': address });
  const loginFrom = (username: string, address: string, password = PASSWORD, call: Api = api) =>
    call('/auth/login', { json: { username, password }, headers: from(address) });

  it('refused only because attempts are still being checked: the answer says so, with Retry-After: 1', async () => {
    const { username } = await register(uniqueName('inflight'));
    const address = '198.51.100.180';
    // Five logins hold between their password check and their writes: in flight, none failed.
    const held = [];
    for (let i = 0; i < 5; i++) held.push(await heldLogin(username, PASSWORD, {}, from(address)));
    const refused = await loginFrom(username, address);
    const problem = await expectProblem(refused, 429, 'too_many_attempts');
    expect(refused.headers.get('Retry-After')).toBe('1');
    expect(problem.detail).toMatch(/still being checked/);
    expect(problem.detail).not.toMatch(/failed attempts/i);
    for (const login of held) login.release();
    for (const login of held) expect((await login.response).status).toBe(200);
    // A second later, as it said: nothing was held against the account.
    expect((await loginFrom(username, address)).status).toBe(200);
  });

  it('from a known address: twelve at once all succeed', async () => {
    const { username } = await register(uniqueName('fleet'));
    const nat = '198.51.100.181';
    expect((await loginFrom(username, nat)).status).toBe(200);
    const responses = await Promise.all(Array.from({ length: 12 }, () => loginFrom(username, nat)));
    expect(responses.map((r) => r.status)).toEqual(Array(12).fill(200));
  });

  it('from an unknown address: at most five are checked at once; the others are told to retry in a second', async () => {
    const { username } = await register(uniqueName('stranger'));
    const address = '198.51.100.182';
    const responses = await Promise.all(Array.from({ length: 12 }, () => loginFrom(username, address)));
    const refused = responses.filter((r) => r.status === 429);
    // All twelve reach D1 before the first check ends: five are let in, the rest wait their turn.
    expect(responses.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(5);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused.length + responses.filter((r) => r.status === 200).length).toBe(12);
    for (const r of refused) {
      expect(r.headers.get('Retry-After')).toBe('1');
      expect(((await r.json()) as { detail: string }).detail).toMatch(/still being checked/);
    }
    expect((await loginFrom(username, address)).status).toBe(200);
  });

  it('takes the known-address bound from LOGIN_KNOWN_ADDRESS_PARALLEL', async () => {
    const overrides = { LOGIN_KNOWN_ADDRESS_PARALLEL: '3' };
    const call = appWith(overrides);
    const { username } = await register(uniqueName('bounded'));
    const nat = '198.51.100.183';
    expect((await loginFrom(username, nat, PASSWORD, call)).status).toBe(200);
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await heldLogin(username, PASSWORD, overrides, from(nat)));
    const refused = await loginFrom(username, nat, PASSWORD, call);
    await expectProblem(refused, 429, 'too_many_attempts');
    expect(refused.headers.get('Retry-After')).toBe('1');
    for (const login of held) login.release();
    for (const login of held) expect((await login.response).status).toBe(200);
  });
});

describe('parallel wrong passwords', () => {
  const WRONG = 'definitely-not-it';

  it('from a known address are checked LOGIN_KNOWN_ADDRESS_PARALLEL at a time at most, then lock it like failures', async () => {
    const call = appWith({ LOGIN_KNOWN_ADDRESS_PARALLEL: '6' });
    const { username } = await register(uniqueName('nat'));
    const nat = { 'CF-Connecting-IP': '198.51.100.184' };
    expect((await call('/auth/login', { json: { username, password: PASSWORD }, headers: nat })).status).toBe(200);
    const responses = await Promise.all(
      Array.from({ length: 15 }, () => call('/auth/login', { json: { username, password: WRONG }, headers: nat })),
    );
    const statuses = responses.map((r) => r.status);
    // Six in flight at a time, and a new one only while fewer than five have failed: at most
    // 6 + 4 verdicts however the fifteen interleave (six when all reach D1 first, as here).
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(6 + 4);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(5);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    // Those that failed are failures: the right password is now refused there for the window.
    const locked = await call('/auth/login', { json: { username, password: PASSWORD }, headers: nat });
    const problem = await expectProblem(locked, 429, 'too_many_attempts');
    expect(Number(locked.headers.get('Retry-After'))).toBeGreaterThan(800);
    expect(problem.detail).toMatch(/failed attempts/i);
  });
});
