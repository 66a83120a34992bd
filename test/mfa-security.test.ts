/** The security properties of two-factor sign-in: caps, replay, single use, expiry, sealing. */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sha256Base64Url } from '../src/platform/crypto';
import { cleanup } from '../src/index';
import {
  api,
  appWith,
  captureAudit,
  enrolTotp,
  expectProblem,
  loginForChallenge,
  PASSWORD,
  signedIn,
  signedInAdmin,
  type Api,
} from './helpers';
import { totp } from './totp';

afterEach(() => vi.useRealTimers());

const waitSteps = (steps: number) => vi.setSystemTime(Date.now() + steps * 30_000);
/** A six-digit code that is not the current one (nor, with overwhelming odds, a neighbour's). */
const wrongCode = async (secret: string) => String((Number(await totp(secret)) + 500_000) % 1_000_000).padStart(6, '0');

async function twoFactorUser(prefix: string, call: Api = api) {
  const { user, token } = await signedIn(prefix);
  const enrolled = await enrolTotp(token, call);
  waitSteps(1); // The confirming code's step is spent; later logins use the next one.
  return { user, token, ...enrolled };
}

const verify = (body: Record<string, unknown>, call: Api = api) => call('/auth/mfa/verify', { json: body });

describe('attempt caps', () => {
  it('an mfa_token dies after five wrong codes, even for the right code after', async () => {
    const { user, secret } = await twoFactorUser('cap');
    const { mfa_token } = await loginForChallenge(user.username);
    for (let i = 0; i < 5; i++) {
      await expectProblem(await verify({ mfa_token, code: await wrongCode(secret) }), 401, 'invalid_mfa_code');
    }
    await expectProblem(await verify({ mfa_token, code: await totp(secret) }), 401, 'invalid_mfa_token');
  });

  it('parallel wrong codes on one token get at most five checks', async () => {
    const { user, secret } = await twoFactorUser('capparallel');
    const { mfa_token } = await loginForChallenge(user.username);
    const code = await wrongCode(secret);
    const results = await Promise.all(Array.from({ length: 9 }, () => verify({ mfa_token, code })));
    const codes = await Promise.all(results.map(async (r) => ((await r.json()) as { code: string }).code));
    expect(codes.filter((c) => c === 'invalid_mfa_code')).toHaveLength(5);
    expect(codes.filter((c) => c === 'invalid_mfa_token')).toHaveLength(4);
  });

  it('wrong codes are capped per user across fresh tokens (MFA_MAX_FAILURES), with Retry-After', async () => {
    const call = appWith({ MFA_MAX_FAILURES: '3', MFA_WINDOW: '600' });
    const { user, token, secret } = await twoFactorUser('capuser', call);
    for (let i = 0; i < 3; i++) {
      const { mfa_token } = await loginForChallenge(user.username, {}, call);
      await expectProblem(await verify({ mfa_token, code: await wrongCode(secret) }, call), 401, 'invalid_mfa_code');
    }
    const { mfa_token } = await loginForChallenge(user.username, {}, call);
    const locked = await verify({ mfa_token, code: await totp(secret) }, call);
    await expectProblem(locked, 429, 'too_many_attempts');
    expect(Number(locked.headers.get('Retry-After'))).toBeGreaterThan(0);
    // The same budget guards the Bearer routes: a stolen access token cannot guess either.
    await expectProblem(
      await call('/auth/mfa/totp', {
        method: 'DELETE',
        json: { code: await totp(secret), current_password: PASSWORD },
        token,
      }),
      429,
      'too_many_attempts',
    );
    // After the window, the right code works again.
    vi.setSystemTime(Date.now() + 601_000);
    const fresh = await loginForChallenge(user.username, {}, call);
    expect((await verify({ mfa_token: fresh.mfa_token, code: await totp(secret) }, call)).status).toBe(200);
  });
});

describe('the long-run cap: MFA_MAX_CONSECUTIVE_FAILURES wrong codes in a row', () => {
  type Sent = { to: string; subject: string; text: string };
  /** The app with a small cap, the window's own limit out of the way, and mail that is kept. */
  function capped(max: string) {
    const sent: Sent[] = [];
    const EMAIL = {
      async send(message: Sent) {
        sent.push(message);
        return { messageId: '<notice@example.test>' };
      },
    } as unknown as SendEmail;
    const call = appWith({
      MFA_MAX_CONSECUTIVE_FAILURES: max,
      MFA_MAX_FAILURES: '1000',
      EMAIL,
      EMAIL_FROM: 'auth@example.test',
    });
    return { call, sent };
  }
  /** Gives the user a verified address, as POST /auth/email/verify would have. */
  const verifiedAddress = async (userId: string, email: string) =>
    env.DB.prepare('UPDATE users SET email = ?, email_key = ?, email_verified_at = ? WHERE id = ?')
      .bind(email, email, Date.now(), userId)
      .run();
  const wrongAtLogin = async (username: string, secret: string, call: Api) => {
    const { mfa_token } = await loginForChallenge(username, {}, call);
    return verify({ mfa_token, code: await wrongCode(secret) }, call);
  };

  it('stops TOTP sign-in across windows; the owner is told once, by mail and in the audit log', async () => {
    const { call, sent } = capped('3');
    const { user, secret, recoveryCodes } = await twoFactorUser('streak', call);
    await verifiedAddress(user.id, 'streak-owner@example.test');
    const { lines } = await captureAudit(async () => {
      for (let i = 0; i < 3; i++) {
        await expectProblem(await wrongAtLogin(user.username, secret, call), 401, 'invalid_mfa_code');
        // Each guess in a window of its own: the per-window limit never sees more than one.
        vi.setSystemTime(Date.now() + 16 * 60_000);
      }
    });
    expect(lines.filter((l) => l.event === 'mfa_locked')).toEqual([expect.objectContaining({ user_id: user.id })]);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.to).toBe('streak-owner@example.test');
    expect(sent[0]!.text).toMatch(/locked/);
    expect(sent[0]!.text).not.toMatch(/https?:|\/auth\//);

    // Even the right code is refused now, unchecked.
    const { mfa_token } = await loginForChallenge(user.username, {}, call);
    const refused = await verify({ mfa_token, code: await totp(secret) }, call);
    const problem = await expectProblem(refused, 403, 'mfa_locked');
    expect(problem.detail).toMatch(/recovery code/);
    await expectProblem(await wrongAtLogin(user.username, secret, call), 403, 'mfa_locked');
    expect(sent).toHaveLength(1);

    // A recovery code still signs in, and a right code starts the count over.
    expect((await verify({ mfa_token, recovery_code: recoveryCodes[0] }, call)).status).toBe(200);
    waitSteps(1);
    const again = await loginForChallenge(user.username, {}, call);
    expect((await verify({ mfa_token: again.mfa_token, code: await totp(secret) }, call)).status).toBe(200);
  });

  it('counts wrong codes on the Bearer routes too; a right code in between starts over', async () => {
    const { call } = capped('3');
    const { user, token, secret } = await twoFactorUser('streakbearer', call);
    const wrongDisable = async () =>
      call('/auth/mfa/totp', {
        method: 'DELETE',
        json: { code: await wrongCode(secret), current_password: PASSWORD },
        token,
      });
    await expectProblem(await wrongDisable(), 401, 'invalid_mfa_code');
    await expectProblem(await wrongDisable(), 401, 'invalid_mfa_code');
    // Third in a row would lock; a right code first resets the streak.
    const { mfa_token } = await loginForChallenge(user.username, {}, call);
    expect((await verify({ mfa_token, code: await totp(secret) }, call)).status).toBe(200);
    await expectProblem(await wrongDisable(), 401, 'invalid_mfa_code');
    await expectProblem(await wrongDisable(), 401, 'invalid_mfa_code');
    await expectProblem(await wrongDisable(), 401, 'invalid_mfa_code');
    waitSteps(1);
    await expectProblem(
      await call('/auth/mfa/recovery-codes', { json: { code: await totp(secret), current_password: PASSWORD }, token }),
      403,
      'mfa_locked',
    );
  });

  it('holds under parallel guesses: of ten at once, at most the cap are checked', async () => {
    const { call } = capped('3');
    const { user, secret } = await twoFactorUser('streakrace', call);
    const tokens = [];
    for (let i = 0; i < 10; i++) tokens.push((await loginForChallenge(user.username, {}, call)).mfa_token);
    const code = await wrongCode(secret);
    const results = await Promise.all(tokens.map((mfa_token) => verify({ mfa_token, code }, call)));
    const codes = await Promise.all(results.map(async (r) => ((await r.json()) as { code: string }).code));
    expect(codes.filter((c) => c === 'invalid_mfa_code')).toHaveLength(3);
    expect(codes.filter((c) => c === 'mfa_locked')).toHaveLength(7);
  });

  it("an admin's reset ends the lock: the user signs in with the password alone", async () => {
    const { call } = capped('1');
    const admin = await signedInAdmin();
    const { user, secret } = await twoFactorUser('streakreset', call);
    await wrongAtLogin(user.username, secret, call);
    await expectProblem(await wrongAtLogin(user.username, secret, call), 403, 'mfa_locked');
    expect((await call(`/admin/users/${user.id}/mfa`, { method: 'DELETE', token: admin.token })).status).toBe(204);
    expect((await call('/auth/login', { json: { username: user.username, password: PASSWORD } })).status).toBe(200);
  });
});

describe('replay', () => {
  it('a TOTP code is accepted once per user: the same code on a second login is refused', async () => {
    const { user, secret } = await twoFactorUser('replay');
    const code = await totp(secret);
    const first = await loginForChallenge(user.username);
    expect((await verify({ mfa_token: first.mfa_token, code })).status).toBe(200);
    const second = await loginForChallenge(user.username);
    await expectProblem(await verify({ mfa_token: second.mfa_token, code }), 401, 'invalid_mfa_code');
    // An earlier step's code, still inside the drift window, is refused too.
    const earlier = await totp(secret, Date.now(), -1);
    await expectProblem(await verify({ mfa_token: second.mfa_token, code: earlier }), 401, 'invalid_mfa_code');
    waitSteps(1);
    expect((await verify({ mfa_token: second.mfa_token, code: await totp(secret) })).status).toBe(200);
  });

  it('the code that confirmed enrolment cannot sign in', async () => {
    const { user, token } = await signedIn('replayconfirm');
    const { secret } = (await (
      await api('/auth/mfa/totp', { json: { current_password: PASSWORD }, token })
    ).json()) as { secret: string };
    const code = await totp(secret);
    expect((await api('/auth/mfa/totp/confirm', { json: { code }, token })).status).toBe(200);
    const { mfa_token } = await loginForChallenge(user.username);
    await expectProblem(await verify({ mfa_token, code }), 401, 'invalid_mfa_code');
  });

  it('one code sent on two challenges at once signs in exactly once', async () => {
    const { user, secret } = await twoFactorUser('replayrace');
    const [a, b] = [await loginForChallenge(user.username), await loginForChallenge(user.username)];
    const code = await totp(secret);
    const results = await Promise.all([
      verify({ mfa_token: a.mfa_token, code }),
      verify({ mfa_token: b.mfa_token, code }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
  });

  it('one recovery code sent on two challenges at once signs in exactly once', async () => {
    const { user, recoveryCodes } = await twoFactorUser('recoveryrace');
    const [a, b] = [await loginForChallenge(user.username), await loginForChallenge(user.username)];
    const recovery_code = recoveryCodes[0];
    const results = await Promise.all([
      verify({ mfa_token: a.mfa_token, recovery_code }),
      verify({ mfa_token: b.mfa_token, recovery_code }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
  });
});

describe('the mfa_token', () => {
  it('works once', async () => {
    const { user, recoveryCodes } = await twoFactorUser('single');
    const { mfa_token } = await loginForChallenge(user.username);
    expect((await verify({ mfa_token, recovery_code: recoveryCodes[0] })).status).toBe(200);
    await expectProblem(await verify({ mfa_token, recovery_code: recoveryCodes[1] }), 401, 'invalid_mfa_token');
  });

  it('used twice at once with two good codes gives one session', async () => {
    const { user, recoveryCodes } = await twoFactorUser('singlerace');
    const { mfa_token } = await loginForChallenge(user.username);
    const results = await Promise.all([
      verify({ mfa_token, recovery_code: recoveryCodes[0] }),
      verify({ mfa_token, recovery_code: recoveryCodes[1] }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
  });

  it('expires after five minutes', async () => {
    const { user, secret } = await twoFactorUser('expiry');
    const late = await loginForChallenge(user.username);
    const inTime = await loginForChallenge(user.username);
    vi.setSystemTime(Date.now() + 299_000);
    expect((await verify({ mfa_token: inTime.mfa_token, code: await totp(secret) })).status).toBe(200);
    vi.setSystemTime(Date.now() + 2_000);
    waitSteps(1);
    await expectProblem(
      await verify({ mfa_token: late.mfa_token, code: await totp(secret) }),
      401,
      'invalid_mfa_token',
    );
  });

  it('unknown or forged tokens are 401 invalid_mfa_token', async () => {
    for (const mfa_token of ['nope', 'A'.repeat(43), (await loginForChallengeOfFresh()).slice(0, -1) + 'x']) {
      await expectProblem(await verify({ mfa_token, code: '123456' }), 401, 'invalid_mfa_token');
    }
  });

  it('dies when the password changes before it is used', async () => {
    const { user, token, secret } = await twoFactorUser('pwchange');
    const { mfa_token } = await loginForChallenge(user.username);
    const changed = await api('/auth/password', {
      json: { current_password: PASSWORD, new_password: 'another-unusual-passphrase' },
      token,
    });
    expect(changed.status).toBe(204);
    await expectProblem(await verify({ mfa_token, code: await totp(secret) }), 401, 'invalid_mfa_token');
  });

  it('is stored only as its SHA-256', async () => {
    const { user } = await twoFactorUser('tokenhash');
    const { mfa_token } = await loginForChallenge(user.username);
    const rows = await env.DB.prepare('SELECT * FROM mfa_challenges WHERE user_id = ?').bind(user.id).all();
    expect(rows.results).toHaveLength(1);
    expect(rows.results[0]!.token_hash).toBe(await sha256Base64Url(mfa_token));
    expect(JSON.stringify(rows.results)).not.toContain(mfa_token);
  });
});

async function loginForChallengeOfFresh(): Promise<string> {
  const { user } = await twoFactorUser('forged');
  return (await loginForChallenge(user.username)).mfa_token;
}

describe('secrets at rest', () => {
  it('the TOTP secret is sealed: the row holds neither the secret nor anything a dump could use', async () => {
    const { user, secret, recoveryCodes } = await twoFactorUser('sealed');
    const row = await env.DB.prepare('SELECT * FROM mfa_totp WHERE user_id = ?').bind(user.id).first();
    const dump = JSON.stringify(row);
    expect(dump).not.toContain(secret);
    expect(dump).not.toContain(secret.toLowerCase());
    expect(row!.secret_sealed).toMatch(/^[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    const codes = await env.DB.prepare('SELECT * FROM mfa_recovery_codes WHERE user_id = ?').bind(user.id).all();
    expect(codes.results).toHaveLength(10);
    const codesDump = JSON.stringify(codes.results);
    for (const code of recoveryCodes) {
      expect(codesDump).not.toContain(code);
      expect(codesDump).not.toContain(code.replaceAll('-', ''));
      expect(codesDump).not.toContain(await sha256Base64Url(code.replaceAll('-', '')));
    }
  });

  it('without the right DATA_ENCRYPTION_KEY the stored secret and codes are useless', async () => {
    const { user, secret, recoveryCodes } = await twoFactorUser('otherkey');
    const other = appWith({ DATA_ENCRYPTION_KEY: 'another-data-key-of-at-least-thirty-two-bytes' });
    const { mfa_token } = await loginForChallenge(user.username, {}, other);
    await expectProblem(await verify({ mfa_token, code: await totp(secret) }, other), 401, 'invalid_mfa_code');
    await expectProblem(await verify({ mfa_token, recovery_code: recoveryCodes[0] }, other), 401, 'invalid_mfa_code');
  });

  it('without DATA_ENCRYPTION_KEY every MFA route answers 500 misconfigured; only the log names it', async () => {
    const { user, token, recoveryCodes } = await twoFactorUser('nokey');
    const off = appWith({ DATA_ENCRYPTION_KEY: '' });
    const { mfa_token } = await loginForChallenge(user.username, {}, off);
    const calls = [
      off('/auth/mfa/totp', { json: { current_password: PASSWORD }, token }),
      off('/auth/mfa/totp/confirm', { json: { code: '123456' }, token }),
      off('/auth/mfa/totp', { method: 'DELETE', json: { code: '123456', current_password: PASSWORD }, token }),
      off('/auth/mfa/recovery-codes', { json: { code: '123456', current_password: PASSWORD }, token }),
      off('/auth/mfa/verify', { json: { mfa_token, code: '123456' } }),
    ];
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    for (const res of await Promise.all(calls)) {
      const problem = await expectProblem(res, 500, 'misconfigured');
      // Anyone may call /auth/mfa/verify: the answer must not tell them codes cannot be checked.
      expect(problem.detail).toBe('The service is misconfigured.');
    }
    expect(logged).toHaveBeenCalledTimes(calls.length);
    for (const [line] of logged.mock.calls) expect(String(line)).toMatch(/DATA_ENCRYPTION_KEY/);
    // Refused before anything was spent: with the key back, the same challenge still works.
    expect((await verify({ mfa_token, recovery_code: recoveryCodes[0] })).status).toBe(200);
  });
});

describe('admin routes need the admin role', () => {
  it('a user gets 403 forbidden, a stranger 401', async () => {
    const { user, token } = await signedIn('notadmin');
    const target = await signedIn('target');
    for (const [method, path] of [
      ['DELETE', `/admin/users/${target.user.id}/mfa`],
      ['POST', `/admin/users/${target.user.id}/password-reset`],
    ] as const) {
      await expectProblem(await api(path, { method, token }), 403, 'forbidden');
      await expectProblem(await api(path, { method }), 401, 'unauthorized');
    }
    expect(user.role).toBe('user');
    // And an admin's own call works, for contrast.
    const admin = await signedInAdmin();
    expect((await api(`/admin/users/${target.user.id}/mfa`, { method: 'DELETE', token: admin.token })).status).toBe(
      204,
    );
  });
});

describe('the daily cleanup', () => {
  it('removes ended challenges and spent or expired reset tokens, and keeps live ones', async () => {
    const admin = await signedInAdmin();
    const { user } = await twoFactorUser('cleanup');
    await loginForChallenge(user.username);
    await api(`/admin/users/${user.id}/password-reset`, { method: 'POST', token: admin.token });
    const count = async (table: string) =>
      (await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE user_id = ?`)
        .bind(user.id)
        .first<{ n: number }>())!.n;
    await cleanup(env, Date.now());
    expect(await count('mfa_challenges')).toBe(1);
    expect(await count('password_reset_tokens')).toBe(1);
    await cleanup(env, Date.now() + 3601_000);
    expect(await count('mfa_challenges')).toBe(0);
    expect(await count('password_reset_tokens')).toBe(0);
  });
});

describe('parallel changes to one enrolment', () => {
  /** What a dump shows: the flag, the secret's state and the codes must tell one story. */
  async function state(userId: string) {
    const row = await env.DB.prepare(
      `SELECT u.mfa_enabled AS enabled, t.confirmed_at AS confirmed,
        (SELECT count(*) FROM mfa_recovery_codes c WHERE c.user_id = u.id) AS codes
       FROM users u LEFT JOIN mfa_totp t ON t.user_id = u.id WHERE u.id = ?`,
    )
      .bind(userId)
      .first<{ enabled: number; confirmed: number | null; codes: number }>();
    return { enabled: row!.enabled === 1, confirmed: row!.confirmed !== null, codes: row!.codes };
  }

  it('a confirm racing a restart of enrolment either turns two-factor on with its codes, or changes nothing', async () => {
    for (let i = 0; i < 3; i++) {
      const { user, token } = await signedIn('confirmrace');
      const { secret } = (await (
        await api('/auth/mfa/totp', { json: { current_password: PASSWORD }, token })
      ).json()) as { secret: string };
      const [confirm, restart] = await Promise.all([
        api('/auth/mfa/totp/confirm', { json: { code: await totp(secret) }, token }),
        api('/auth/mfa/totp', { json: { current_password: PASSWORD }, token }),
      ]);
      const after = await state(user.id);
      if (confirm.status === 200) {
        expect(restart.status).toBe(409);
        expect(after).toEqual({ enabled: true, confirmed: true, codes: 10 });
      } else {
        expect([confirm.status, restart.status]).toEqual([400, 200]);
        expect(after).toEqual({ enabled: false, confirmed: false, codes: 0 });
      }
    }
  });

  it('new recovery codes racing a disable leave none behind for a user without TOTP', async () => {
    for (let i = 0; i < 3; i++) {
      const { user, token, recoveryCodes } = await twoFactorUser('regenrace');
      const [regen, disable] = await Promise.all([
        api('/auth/mfa/recovery-codes', { json: { code: recoveryCodes[0], current_password: PASSWORD }, token }),
        api('/auth/mfa/totp', {
          method: 'DELETE',
          json: { code: recoveryCodes[1], current_password: PASSWORD },
          token,
        }),
      ]);
      expect(disable.status).toBe(204);
      expect(await state(user.id)).toEqual({ enabled: false, confirmed: false, codes: 0 });
      // 200 if it won, 409 if it found two-factor off, 401 invalid_mfa_code if the disable
      // deleted its recovery code before it was spent.
      expect([200, 401, 409]).toContain(regen.status);
    }
  }, 20_000); // Three rounds of enrolment and two re-authentications: PBKDF2 each.
});
