import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sha256Base64Url } from '../src/platform/crypto';
import {
  api,
  appWith,
  codeIn,
  enrolTotp,
  expectProblem,
  login,
  loginForChallenge,
  mailing,
  PASSWORD,
  signedIn,
  signedInAdmin,
  tokenIn,
  withVerifiedEmail,
} from './helpers';

afterEach(() => vi.useRealTimers());

const NEW_PASSWORD = 'a-fresh-and-unusual-passphrase';

async function issue(adminToken: string, userId: string) {
  const res = await api(`/admin/users/${userId}/password-reset`, { method: 'POST', token: adminToken });
  expect(res.status).toBe(201);
  return (await res.json()) as { reset_token: string; expires_in: number };
}

const reset = (reset_token: string, new_password = NEW_PASSWORD, headers: Record<string, string> = {}) =>
  api('/auth/password/reset', { json: { reset_token, new_password }, headers });

describe('admin-issued password reset', () => {
  it('issues a 256-bit token valid PASSWORD_RESET_TTL (1 h by default), stored only as its SHA-256', async () => {
    const admin = await signedInAdmin();
    const { user } = await signedIn('forgetful');
    const issued = await issue(admin.token, user.id);
    expect(issued.expires_in).toBe(3600);
    expect(issued.reset_token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes, base64url
    const rows = await env.DB.prepare('SELECT * FROM password_reset_tokens WHERE user_id = ?').bind(user.id).all();
    expect(rows.results).toHaveLength(1);
    expect(rows.results[0]!.token_hash).toBe(await sha256Base64Url(issued.reset_token));
    expect(JSON.stringify(rows.results)).not.toContain(issued.reset_token);
  });

  it('PASSWORD_RESET_TTL sets the lifetime', async () => {
    const call = appWith({ PASSWORD_RESET_TTL: '600' });
    const admin = await signedInAdmin();
    const { user } = await signedIn('ttl');
    const res = await call(`/admin/users/${user.id}/password-reset`, { method: 'POST', token: admin.token });
    expect(((await res.json()) as { expires_in: number }).expires_in).toBe(600);
  });

  it('answers 404 for an unknown user', async () => {
    const admin = await signedInAdmin();
    await expectProblem(
      await api('/admin/users/no-such-user/password-reset', { method: 'POST', token: admin.token }),
      404,
      'not_found',
    );
  });
});

describe('POST /auth/password/reset', () => {
  it('sets the new password, revokes every session and every access token', async () => {
    const admin = await signedInAdmin();
    const { user, tokens, token } = await signedIn('resetme');
    const { reset_token } = await issue(admin.token, user.id);
    const res = await reset(reset_token);
    expect(res.status).toBe(204);
    await expectProblem(
      await api('/auth/login', { json: { username: user.username, password: PASSWORD } }),
      401,
      'invalid_credentials',
    );
    expect((await login(user.username, NEW_PASSWORD)).access_token).toEqual(expect.any(String));
    await expectProblem(await api('/auth/protected', { token }), 401, 'invalid_token');
    await expectProblem(
      await api('/auth/refresh', { json: { refresh_token: tokens.refresh_token } }),
      401,
      'invalid_refresh_token',
    );
  });

  it('works once', async () => {
    const admin = await signedInAdmin();
    const { user } = await signedIn('once');
    const { reset_token } = await issue(admin.token, user.id);
    expect((await reset(reset_token)).status).toBe(204);
    await expectProblem(await reset(reset_token, 'yet-another-unusual-passphrase'), 400, 'invalid_reset_token');
    expect((await login(user.username, NEW_PASSWORD)).access_token).toEqual(expect.any(String));
  });

  it('used twice at once, sets exactly one password', async () => {
    const admin = await signedInAdmin();
    const { user } = await signedIn('race');
    const { reset_token } = await issue(admin.token, user.id);
    const results = await Promise.all([
      reset(reset_token, 'first-racing-passphrase'),
      reset(reset_token, 'second-racing-passphrase'),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([204, 400]);
    const winner = results[0]!.status === 204 ? 'first-racing-passphrase' : 'second-racing-passphrase';
    expect((await login(user.username, winner)).access_token).toEqual(expect.any(String));
  });

  it('refuses unknown and expired tokens with 400 invalid_reset_token', async () => {
    const admin = await signedInAdmin();
    const { user } = await signedIn('expired');
    await expectProblem(await reset('not-a-token'), 400, 'invalid_reset_token');
    const { reset_token } = await issue(admin.token, user.id);
    vi.setSystemTime(Date.now() + 3601_000);
    await expectProblem(await reset(reset_token), 400, 'invalid_reset_token');
    vi.useRealTimers();
    await expectProblem(
      await api('/auth/login', { json: { username: user.username, password: NEW_PASSWORD } }),
      401,
      'invalid_credentials',
    );
  });

  it('a newer token voids the older one', async () => {
    const admin = await signedInAdmin();
    const { user } = await signedIn('newer');
    const older = await issue(admin.token, user.id);
    const newer = await issue(admin.token, user.id);
    await expectProblem(await reset(older.reset_token), 400, 'invalid_reset_token');
    expect((await reset(newer.reset_token)).status).toBe(204);
  });

  it('holds the new password to the registration rules, without spending the token', async () => {
    const admin = await signedInAdmin();
    const { user } = await signedIn('rules');
    const { reset_token } = await issue(admin.token, user.id);
    const short = await expectProblem(await reset(reset_token, 'short'), 400, 'validation_failed');
    expect(short.errors).toEqual([{ field: 'new_password', message: expect.stringMatching(/characters/) }]);
    await expectProblem(await reset(reset_token, 'password123'), 400, 'password_too_common');
    expect((await reset(reset_token)).status).toBe(204);
  });

  it('answers 400 for missing fields', async () => {
    await expectProblem(await api('/auth/password/reset', { json: { reset_token: 'x' } }), 400, 'validation_failed');
    await expectProblem(
      await api('/auth/password/reset', { json: { new_password: NEW_PASSWORD } }),
      400,
      'validation_failed',
    );
  });

  it('leaves TOTP on: the next login still asks for the second factor', async () => {
    const admin = await signedInAdmin();
    const { user, token } = await signedIn('keeptotp');
    await enrolTotp(token);
    const { reset_token } = await issue(admin.token, user.id);
    expect((await reset(reset_token)).status).toBe(204);
    const res = await api('/auth/login', { json: { username: user.username, password: NEW_PASSWORD } });
    await expectProblem(res, 403, 'mfa_required');
  });

  it('ends a second-factor challenge opened with the old password', async () => {
    const admin = await signedInAdmin();
    const { user, token } = await signedIn('oldchallenge');
    const { recoveryCodes } = await enrolTotp(token);
    const { mfa_token } = await loginForChallenge(user.username);
    const { reset_token } = await issue(admin.token, user.id);
    expect((await reset(reset_token)).status).toBe(204);
    await expectProblem(
      await api('/auth/mfa/verify', { json: { mfa_token, recovery_code: recoveryCodes[0] } }),
      401,
      'invalid_mfa_token',
    );
  });

  it('is throttled per address (RECOVERY_IP_MAX per hour), IPv6 by /64', async () => {
    const call = appWith({ RECOVERY_IP_MAX: '3' });
    const from = (ip: string) => (token: string) =>
      call('/auth/password/reset', {
        json: { reset_token: token, new_password: NEW_PASSWORD },
        headers: { 'CF-Connecting-IP': ip },
      });
    const attacker = from('2001:db8:1:2::1');
    for (let i = 0; i < 3; i++) await expectProblem(await attacker(`guess-${i}`), 400, 'invalid_reset_token');
    // Another address in the same /64 shares the budget, and even a valid token waits.
    const admin = await signedInAdmin();
    const { user } = await signedIn('throttled');
    const { reset_token } = await issue(admin.token, user.id);
    const blocked = await from('2001:db8:1:2::ffff')(reset_token);
    await expectProblem(blocked, 429, 'too_many_attempts');
    expect(Number(blocked.headers.get('Retry-After'))).toBeGreaterThan(0);
    // Another address is not affected.
    expect((await from('198.51.100.7')(reset_token)).status).toBe(204);
  });
});

describe('an outstanding reset token does not outlive a credential change', () => {
  /** Outstanding reset tokens of the user, used or not. */
  const resetTokenRows = async (userId: string) =>
    (await env.DB.prepare('SELECT count(*) AS n FROM password_reset_tokens WHERE user_id = ?')
      .bind(userId)
      .first<{ n: number }>())!.n;

  /** A user with an admin-issued reset token they have not used. */
  async function withResetToken(prefix: string) {
    const admin = await signedInAdmin();
    const signed = await signedIn(prefix);
    const { reset_token } = await issue(admin.token, signed.user.id);
    return { ...signed, admin, resetToken: reset_token };
  }

  it('ends at a password change', async () => {
    const { user, token, resetToken } = await withResetToken('change');
    const change = await api('/auth/password', {
      json: { current_password: PASSWORD, new_password: NEW_PASSWORD },
      token,
    });
    expect(change.status).toBe(204);
    await expectProblem(await reset(resetToken, 'yet-another-unusual-passphrase'), 400, 'invalid_reset_token');
    expect(await resetTokenRows(user.id)).toBe(0);
    expect((await login(user.username, NEW_PASSWORD)).access_token).toEqual(expect.any(String));
  });

  it('ends at a logout-all', async () => {
    const { user, token, resetToken } = await withResetToken('logoutall');
    expect((await api('/auth/logout-all', { method: 'POST', token })).status).toBe(204);
    await expectProblem(await reset(resetToken), 400, 'invalid_reset_token');
    expect(await resetTokenRows(user.id)).toBe(0);
  });

  it('ends at a password reset: another token issued meanwhile dies with it', async () => {
    const { user, resetToken } = await withResetToken('resetother');
    // A second live token, as a forgot-password mail racing the admin's issue could leave.
    const other = 'another-outstanding-reset-token-value-000000';
    await env.DB.prepare(
      "INSERT INTO password_reset_tokens (token_hash, user_id, via, created_at, expires_at) VALUES (?, ?, 'email', ?, ?)",
    )
      .bind(await sha256Base64Url(other), user.id, Date.now(), Date.now() + 3_600_000)
      .run();
    expect((await reset(resetToken)).status).toBe(204);
    await expectProblem(await reset(other, 'yet-another-unusual-passphrase'), 400, 'invalid_reset_token');
    expect((await login(user.username, NEW_PASSWORD)).access_token).toEqual(expect.any(String));
  });

  it('ends when the address it was mailed to is replaced', async () => {
    const { call, sent } = mailing();
    const { user, token } = await withVerifiedEmail(call, sent, 'mailed');
    expect((await call('/auth/password/forgot', { json: { username: user.username } })).status).toBe(202);
    const mailed = tokenIn(sent.at(-1)!)!;
    expect(mailed).toBeDefined();

    const added = await call('/auth/email', {
      json: { email: `new-${user.username.toLowerCase()}@example.test`, current_password: PASSWORD },
      token,
    });
    expect(added.status).toBe(202);
    const verified = await call('/auth/email/verify', { json: { code: codeIn(sent.at(-1)!) }, token });
    expect(verified.status).toBe(200);
    await expectProblem(await reset(mailed), 400, 'invalid_reset_token');
    expect(await resetTokenRows(user.id)).toBe(0);
  });

  it('ends at an admin two-factor reset (with the second factor gone, the token alone would open the account)', async () => {
    const { user, token, admin, resetToken } = await withResetToken('mfareset');
    await enrolTotp(token);
    expect((await api(`/admin/users/${user.id}/mfa`, { method: 'DELETE', token: admin.token })).status).toBe(204);
    await expectProblem(await reset(resetToken), 400, 'invalid_reset_token');
    expect(await resetTokenRows(user.id)).toBe(0);
  });

  it('ends when the owner turns two-factor off', async () => {
    const { user, token, admin } = await withResetToken('mfaoff');
    const { recoveryCodes } = await enrolTotp(token);
    const { reset_token } = await issue(admin.token, user.id);
    const off = await api('/auth/mfa/totp', {
      method: 'DELETE',
      json: { code: recoveryCodes[0], current_password: PASSWORD },
      token,
    });
    expect(off.status).toBe(204);
    await expectProblem(await reset(reset_token), 400, 'invalid_reset_token');
  });

  it('ends with the user: a deleted user leaves no reset token behind', async () => {
    const { user, admin, resetToken } = await withResetToken('deleted');
    expect((await api(`/admin/users/${user.id}`, { method: 'DELETE', token: admin.token })).status).toBe(204);
    expect(await resetTokenRows(user.id)).toBe(0);
    await expectProblem(await reset(resetToken), 400, 'invalid_reset_token');
  });
});
