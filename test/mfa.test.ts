import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { REFRESH_COOKIE } from '../src/sessions/refresh-cookie';
import {
  api,
  appWith,
  enrolTotp,
  expectProblem,
  login,
  loginForChallenge,
  ORIGIN,
  PASSWORD,
  signedIn,
  signedInAdmin,
} from './helpers';
import { totp } from './totp';

afterEach(() => vi.useRealTimers());

/** Moves the clock `steps` TOTP steps ahead: a code for a new step, as a user would wait for. */
const waitSteps = (steps: number) => vi.setSystemTime(Date.now() + steps * 30_000);

describe('TOTP enrolment', () => {
  it('hands out a base32 secret and its otpauth URI, pending until confirmed', async () => {
    const { user, token } = await signedIn('enrol');
    const res = await api('/auth/mfa/totp', { json: { current_password: PASSWORD }, token });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { secret: string; otpauth_uri: string };
    expect(body.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(body.otpauth_uri).toMatch(new RegExp(`^otpauth://totp/edge-auth:${user.username}\\?`));
    const params = new URLSearchParams(body.otpauth_uri.slice(body.otpauth_uri.indexOf('?')));
    expect(params.get('secret')).toBe(body.secret);
    expect(params.get('issuer')).toBe('edge-auth');
    // Pending: the login is still a one-step login.
    expect((await login(user.username)).user.mfa_enabled).toBe(false);
  });

  it('confirms with a first code: ten distinct recovery codes, and mfa_enabled on every user object', async () => {
    const admin = await signedInAdmin();
    const { user, token } = await signedIn('confirm');
    const { recoveryCodes } = await enrolTotp(token);
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    for (const code of recoveryCodes) expect(code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);

    const me = (await (await api('/auth/me', { token })).json()) as { user: { mfa_enabled: boolean } };
    expect(me.user.mfa_enabled).toBe(true);
    const list = (await (await api('/admin/users?limit=100', { token: admin.token })).json()) as {
      users: { id: string; mfa_enabled: boolean }[];
    };
    expect(list.users.find((u) => u.id === user.id)?.mfa_enabled).toBe(true);
    expect(list.users.find((u) => u.id === admin.user.id)?.mfa_enabled).toBe(false);
  });

  it('calling again replaces a pending secret: only the newest one confirms', async () => {
    const { token } = await signedIn('restart');
    const first = (await (await api('/auth/mfa/totp', { json: { current_password: PASSWORD }, token })).json()) as {
      secret: string;
    };
    const second = (await (await api('/auth/mfa/totp', { json: { current_password: PASSWORD }, token })).json()) as {
      secret: string;
    };
    expect(second.secret).not.toBe(first.secret);
    await expectProblem(
      await api('/auth/mfa/totp/confirm', { json: { code: await totp(first.secret) }, token }),
      400,
      'invalid_mfa_code',
    );
    const ok = await api('/auth/mfa/totp/confirm', { json: { code: await totp(second.secret) }, token });
    expect(ok.status).toBe(200);
  });

  it('answers 409 mfa_already_enabled once TOTP is on, and keeps the secret', async () => {
    const { token } = await signedIn('twice');
    await enrolTotp(token);
    await expectProblem(
      await api('/auth/mfa/totp', { json: { current_password: PASSWORD }, token }),
      409,
      'mfa_already_enabled',
    );
    await expectProblem(
      await api('/auth/mfa/totp/confirm', { json: { code: '123456' }, token }),
      409,
      'mfa_already_enabled',
    );
  });

  it("ends every other session of the user once it is on; the caller's session continues", async () => {
    const { user, tokens } = await signedIn('lockout');
    const other = await login(user.username); // a device the owner may be locking out
    const { secret } = (await (
      await api('/auth/mfa/totp', { json: { current_password: PASSWORD }, token: other.access_token })
    ).json()) as { secret: string };
    // A pending enrolment ends nothing yet.
    expect((await api('/auth/me', { token: tokens.access_token })).status).toBe(200);
    const confirmed = await api('/auth/mfa/totp/confirm', {
      json: { code: await totp(secret) },
      token: other.access_token,
    });
    expect(confirmed.status).toBe(200);

    await expectProblem(await api('/auth/me', { token: tokens.access_token }), 401, 'invalid_token');
    await expectProblem(
      await api('/auth/refresh', { json: { refresh_token: tokens.refresh_token } }),
      401,
      'invalid_refresh_token',
    );
    expect((await api('/auth/me', { token: other.access_token })).status).toBe(200);
    const refreshed = await api('/auth/refresh', { json: { refresh_token: other.refresh_token } });
    expect(refreshed.status).toBe(200);
    const revoked = await env.DB.prepare(
      "SELECT count(*) AS n FROM sessions WHERE user_id = ? AND revoked_reason = 'mfa_enabled'",
    )
      .bind(user.id)
      .first<{ n: number }>();
    expect(revoked!.n).toBe(1);
  });

  it('refuses a wrong first code with 400 invalid_mfa_code, and a confirm without enrolment with 409', async () => {
    const { token } = await signedIn('wrongfirst');
    await expectProblem(
      await api('/auth/mfa/totp/confirm', { json: { code: '000000' }, token }),
      409,
      'mfa_not_enabled',
    );
    const { secret } = (await (
      await api('/auth/mfa/totp', { json: { current_password: PASSWORD }, token })
    ).json()) as { secret: string };
    const wrong = String((Number(await totp(secret)) + 1) % 1_000_000).padStart(6, '0');
    await expectProblem(await api('/auth/mfa/totp/confirm', { json: { code: wrong }, token }), 400, 'invalid_mfa_code');
    await expectProblem(await api('/auth/mfa/totp/confirm', { json: {}, token }), 400, 'validation_failed');
  });

  it('requires an access token', async () => {
    await expectProblem(await api('/auth/mfa/totp', { method: 'POST' }), 401, 'unauthorized');
    await expectProblem(await api('/auth/mfa/totp/confirm', { json: { code: '123456' } }), 401, 'unauthorized');
  });
});

describe('login with TOTP on', () => {
  it('answers 403 mfa_required with an mfa_token and no token of any kind', async () => {
    const { user, token } = await signedIn('gate');
    await enrolTotp(token);
    const res = await api('/auth/login', { json: { username: user.username, password: PASSWORD } });
    const problem = await expectProblem(res, 403, 'mfa_required');
    expect(problem.mfa_token).toEqual(expect.stringMatching(/^[A-Za-z0-9_-]{43}$/));
    expect(problem.mfa_token_expires_in).toBe(300);
    expect(problem).not.toHaveProperty('access_token');
    expect(problem).not.toHaveProperty('refresh_token');
    expect(res.headers.get('Set-Cookie')).toBeNull();
  });

  it('a wrong password is still 401 invalid_credentials, with no mfa_token', async () => {
    const { user, token } = await signedIn('gatewrong');
    await enrolTotp(token);
    const problem = await expectProblem(
      await api('/auth/login', { json: { username: user.username, password: 'not-the-password' } }),
      401,
      'invalid_credentials',
    );
    expect(problem).not.toHaveProperty('mfa_token');
  });

  it('completes with a TOTP code: the same token response as login, and a working session', async () => {
    const { user, token } = await signedIn('verify');
    const { secret } = await enrolTotp(token);
    waitSteps(1);
    const { mfa_token } = await loginForChallenge(user.username);
    const res = await api('/auth/mfa/verify', { json: { mfa_token, code: await totp(secret) } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown> & { refresh_token: string; access_token: string };
    expect(body).toMatchObject({
      token_type: 'Bearer',
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      expires_in: expect.any(Number),
      refresh_expires_in: expect.any(Number),
      user: { id: user.id, mfa_enabled: true },
    });
    expect((await api('/auth/protected', { token: body.access_token })).status).toBe(200);
    const refreshed = await api('/auth/refresh', { json: { refresh_token: body.refresh_token } });
    expect(refreshed.status).toBe(200);
    const sessions = (await (await api('/auth/sessions', { token: body.access_token })).json()) as {
      sessions: unknown[];
    };
    expect(sessions.sessions.length).toBeGreaterThanOrEqual(2);
  });

  it("honours the login's refresh_token_delivery: cookie mode sets the refresh cookie, not the body", async () => {
    const { user, token } = await signedIn('cookie');
    const { secret } = await enrolTotp(token);
    waitSteps(1);
    const { mfa_token } = await loginForChallenge(user.username, { refresh_token_delivery: 'cookie' });
    const res = await api('/auth/mfa/verify', { json: { mfa_token, code: await totp(secret) } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).not.toHaveProperty('refresh_token');
    const cookie = res.headers.get('Set-Cookie') ?? '';
    expect(cookie).toContain(`${REFRESH_COOKIE}=`);
    expect(cookie).toMatch(/HttpOnly/i);
    const value = new RegExp(`${REFRESH_COOKIE}=([^;]+)`).exec(cookie)![1]!;
    const refreshed = await api('/auth/refresh', {
      method: 'POST',
      headers: { Cookie: `${REFRESH_COOKIE}=${value}`, Origin: ORIGIN },
    });
    expect(refreshed.status).toBe(200);
  });

  it('completes with a recovery code, which then never works again', async () => {
    const { user, token } = await signedIn('recovery');
    const { recoveryCodes } = await enrolTotp(token);
    const first = await loginForChallenge(user.username);
    // Any case, with or without dashes, as a user might type it.
    const typed = recoveryCodes[3]!.toLowerCase().replaceAll('-', '');
    const ok = await api('/auth/mfa/verify', { json: { mfa_token: first.mfa_token, recovery_code: typed } });
    expect(ok.status).toBe(200);
    const second = await loginForChallenge(user.username);
    await expectProblem(
      await api('/auth/mfa/verify', { json: { mfa_token: second.mfa_token, recovery_code: recoveryCodes[3] } }),
      401,
      'invalid_mfa_code',
    );
    const other = await api('/auth/mfa/verify', {
      json: { mfa_token: second.mfa_token, recovery_code: recoveryCodes[4] },
    });
    expect(other.status).toBe(200);
  });

  it('answers 400 for missing or doubled fields', async () => {
    const { user, token } = await signedIn('fields');
    await enrolTotp(token);
    const { mfa_token } = await loginForChallenge(user.username);
    await expectProblem(await api('/auth/mfa/verify', { json: { mfa_token } }), 400, 'validation_failed');
    await expectProblem(await api('/auth/mfa/verify', { json: { code: '123456' } }), 400, 'validation_failed');
    await expectProblem(
      await api('/auth/mfa/verify', { json: { mfa_token, code: '123456', recovery_code: 'AAAA-BBBB-CCCC' } }),
      400,
      'validation_failed',
    );
    await expectProblem(await api('/auth/mfa/verify', { json: {} }), 400, 'validation_failed');
  });

  it('the Flask-JWT /auth route never issues a token to a TOTP user', async () => {
    const { user, token } = await signedIn('flask');
    await enrolTotp(token);
    const res = await api('/auth', { json: { username: user.username, password: PASSWORD } });
    const problem = await expectProblem(res, 403, 'mfa_required');
    expect(problem).not.toHaveProperty('access_token');
    expect(problem).not.toHaveProperty('mfa_token');
  });
});

describe('disabling TOTP and new recovery codes', () => {
  it('DELETE /auth/mfa/totp with a current code turns it off; login is one step again', async () => {
    const { user, token } = await signedIn('disable');
    const { secret } = await enrolTotp(token);
    waitSteps(1);
    const res = await api('/auth/mfa/totp', {
      method: 'DELETE',
      json: { code: await totp(secret), current_password: PASSWORD },
      token,
    });
    expect(res.status).toBe(204);
    const again = await login(user.username);
    expect(again.user.mfa_enabled).toBe(false);
    const rows = await env.DB.prepare('SELECT count(*) AS n FROM mfa_recovery_codes WHERE user_id = ?')
      .bind(user.id)
      .first<{ n: number }>();
    expect(rows!.n).toBe(0);
  });

  it('DELETE /auth/mfa/totp also takes a recovery code; a wrong code is 401 (as at sign-in) and changes nothing', async () => {
    const { user, token } = await signedIn('disable2');
    const { recoveryCodes } = await enrolTotp(token);
    await expectProblem(
      await api('/auth/mfa/totp', {
        method: 'DELETE',
        json: { code: 'ZZZZ-ZZZZ-ZZZZ', current_password: PASSWORD },
        token,
      }),
      401,
      'invalid_mfa_code',
    );
    await loginForChallenge(user.username);
    const res = await api('/auth/mfa/totp', {
      method: 'DELETE',
      json: { code: recoveryCodes[0], current_password: PASSWORD },
      token,
    });
    expect(res.status).toBe(204);
    await expectProblem(
      await api('/auth/mfa/totp', {
        method: 'DELETE',
        json: { code: recoveryCodes[1], current_password: PASSWORD },
        token,
      }),
      409,
      'mfa_not_enabled',
    );
  });

  it('POST /auth/mfa/recovery-codes gives a fresh set and voids the old one', async () => {
    const { user, token } = await signedIn('regen');
    const { secret, recoveryCodes: old } = await enrolTotp(token);
    waitSteps(1);
    const res = await api('/auth/mfa/recovery-codes', {
      json: { code: await totp(secret), current_password: PASSWORD },
      token,
    });
    expect(res.status).toBe(200);
    const { recovery_codes } = (await res.json()) as { recovery_codes: string[] };
    expect(recovery_codes).toHaveLength(10);
    expect(recovery_codes.filter((c) => old.includes(c))).toEqual([]);

    const { mfa_token } = await loginForChallenge(user.username);
    await expectProblem(
      await api('/auth/mfa/verify', { json: { mfa_token, recovery_code: old[0] } }),
      401,
      'invalid_mfa_code',
    );
    const ok = await api('/auth/mfa/verify', { json: { mfa_token, recovery_code: recovery_codes[0] } });
    expect(ok.status).toBe(200);
  });
});

describe('DELETE /admin/users/{id}/mfa', () => {
  it('turns off the second factor of a user who lost it; they log in with the password alone', async () => {
    const admin = await signedInAdmin();
    const { user, token } = await signedIn('lostphone');
    await enrolTotp(token);
    const pending = await loginForChallenge(user.username);
    const res = await api(`/admin/users/${user.id}/mfa`, { method: 'DELETE', token: admin.token });
    expect(res.status).toBe(204);
    expect((await login(user.username)).user.mfa_enabled).toBe(false);
    // A challenge opened before the reset is gone with it.
    await expectProblem(
      await api('/auth/mfa/verify', { json: { mfa_token: pending.mfa_token, code: '123456' } }),
      401,
      'invalid_mfa_token',
    );
  });

  it('answers 404 for an unknown user', async () => {
    const admin = await signedInAdmin();
    await expectProblem(
      await api('/admin/users/nobody/mfa', { method: 'DELETE', token: admin.token }),
      404,
      'not_found',
    );
  });
});

describe('with the access-check cache on (ACCESS_CHECK_CACHE_TTL)', () => {
  it('/auth/me shows mfa_enabled change at once, and a password reset ends a cached token at once', async () => {
    const cached = appWith({ ACCESS_CHECK_CACHE_TTL: '60' });
    const admin = await signedInAdmin();
    const { user, token } = await signedIn('cached');
    const me = async () => (await cached('/auth/me', { token })).json() as Promise<{ user: { mfa_enabled: boolean } }>;
    expect((await me()).user.mfa_enabled).toBe(false);
    await enrolTotp(token, cached);
    expect((await me()).user.mfa_enabled).toBe(true);
    expect((await cached(`/admin/users/${user.id}/mfa`, { method: 'DELETE', token: admin.token })).status).toBe(204);
    expect((await me()).user.mfa_enabled).toBe(false);

    const issued = await cached(`/admin/users/${user.id}/password-reset`, { method: 'POST', token: admin.token });
    const { reset_token } = (await issued.json()) as { reset_token: string };
    const done = await cached('/auth/password/reset', { json: { reset_token, new_password: 'cached-new-passphrase' } });
    expect(done.status).toBe(204);
    await expectProblem(await cached('/auth/me', { token }), 401, 'invalid_token');
  });
});
