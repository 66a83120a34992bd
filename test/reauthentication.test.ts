/**
 * An access token alone changes no credential and no recovery detail: replacing the email
 * address (where reset tokens go), enrolling or removing a second factor, and new recovery
 * codes all need the current password, and the address also a second factor when the user
 * has one. Wrong passwords are throttled as failed logins under the login's keys; wrong codes
 * answer as at sign-in and count against the per-user code limit.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  api,
  appWith,
  enrolTotp,
  expectProblem,
  loginForChallenge,
  mailing,
  PASSWORD,
  signedIn,
  withVerifiedEmail,
  type Api,
} from './helpers';
import { totp } from './totp';

afterEach(() => vi.useRealTimers());

const WRONG = 'definitely-not-the-password';

/** Moves the clock past the current TOTP step (the confirming code's step is spent). */
const nextStep = () => vi.setSystemTime(Date.now() + 30_000);

const pendingAddress = async (userId: string) =>
  (await env.DB.prepare('SELECT email FROM email_verifications WHERE user_id = ?').bind(userId).first<{
    email: string;
  }>()) ?? null;

const fieldsOf = (problem: Record<string, unknown>) => (problem.errors as { field: string }[]).map((e) => e.field);

describe('POST /auth/email (adding or replacing the address)', () => {
  it('refuses an access token alone: 400 validation_failed naming current_password; nothing is mailed', async () => {
    const { call, sent } = mailing();
    const { user, token } = await signedIn('tokenonly');
    const problem = await expectProblem(
      await call('/auth/email', { json: { email: 'attacker@example.test' }, token }),
      400,
      'validation_failed',
    );
    expect(fieldsOf(problem)).toEqual(['current_password']);
    expect(sent).toHaveLength(0);
    expect(await pendingAddress(user.id)).toBeNull();
  });

  it('refuses a wrong password with 401 invalid_credentials; nothing is mailed', async () => {
    const { call, sent } = mailing();
    const { user, token } = await signedIn('wrongpw');
    await expectProblem(
      await call('/auth/email', { json: { email: 'attacker@example.test', current_password: WRONG }, token }),
      401,
      'invalid_credentials',
    );
    expect(sent).toHaveLength(0);
    expect(await pendingAddress(user.id)).toBeNull();
  });

  it('leaves a verified address in place when the password is wrong', async () => {
    const { call, sent } = mailing();
    const owner = await withVerifiedEmail(call, sent, 'owner');
    const mailed = sent.length;
    await expectProblem(
      await call('/auth/email', {
        json: { email: 'attacker@example.test', current_password: WRONG },
        token: owner.token,
      }),
      401,
      'invalid_credentials',
    );
    expect(sent).toHaveLength(mailed);
    const me = (await (await api('/auth/me', { token: owner.token })).json()) as { user: { email: string } };
    expect(me.user.email).toBe(owner.email);
  });

  it('with two-factor on, also needs a code: none is 400, a wrong one 401 invalid_mfa_code, a right one 202', async () => {
    const { call, sent } = mailing();
    const { token } = await signedIn('mfamail');
    const { secret, recoveryCodes } = await enrolTotp(token);
    const email = 'mine@example.test';

    const missing = await expectProblem(
      await call('/auth/email', { json: { email, current_password: PASSWORD }, token }),
      400,
      'validation_failed',
    );
    expect(fieldsOf(missing)).toEqual(['code']);
    await expectProblem(
      await call('/auth/email', { json: { email, current_password: PASSWORD, code: 'ZZZZ-ZZZZ-ZZZZ' }, token }),
      401,
      'invalid_mfa_code',
    );
    // The password is checked first: with a wrong one, the right code is not spent.
    nextStep();
    const code = await totp(secret);
    await expectProblem(
      await call('/auth/email', { json: { email, current_password: WRONG, code }, token }),
      401,
      'invalid_credentials',
    );
    expect(sent).toHaveLength(0);
    expect((await call('/auth/email', { json: { email, current_password: PASSWORD, code }, token })).status).toBe(202);
    expect(
      (await call('/auth/email', { json: { email, current_password: PASSWORD, code: recoveryCodes[0] }, token }))
        .status,
    ).toBe(202);
    expect(sent).toHaveLength(2);
  });

  it('counts wrong codes against MFA_MAX_FAILURES, as sign-in does', async () => {
    const { sent, call } = mailing({ MFA_MAX_FAILURES: '2' });
    const { user, token } = await signedIn('mfacap');
    const { recoveryCodes } = await enrolTotp(token);
    const body = { email: 'mine@example.test', current_password: PASSWORD, code: 'ZZZZ-ZZZZ-ZZZZ' };
    for (let i = 0; i < 2; i++) await expectProblem(await call('/auth/email', { json: body, token }), 401);
    await expectProblem(await call('/auth/email', { json: body, token }), 429, 'too_many_attempts');
    // The same counter as sign-in: the login's second step is locked too.
    const { mfa_token } = await loginForChallenge(user.username);
    await expectProblem(
      await appWith({ MFA_MAX_FAILURES: '2' })('/auth/mfa/verify', {
        json: { mfa_token, recovery_code: recoveryCodes[0] },
      }),
      429,
      'too_many_attempts',
    );
    expect(sent).toHaveLength(0);
  });
});

describe('POST /auth/mfa/totp (starting enrolment)', () => {
  it('refuses an access token alone with 400, and a wrong password with 401; no secret is stored', async () => {
    const { user, token } = await signedIn('enrol');
    const problem = await expectProblem(await api('/auth/mfa/totp', { json: {}, token }), 400, 'validation_failed');
    expect(fieldsOf(problem)).toEqual(['current_password']);
    await expectProblem(await api('/auth/mfa/totp', { method: 'POST', token }), 400, 'validation_failed');
    await expectProblem(
      await api('/auth/mfa/totp', { json: { current_password: WRONG }, token }),
      401,
      'invalid_credentials',
    );
    const rows = await env.DB.prepare('SELECT count(*) AS n FROM mfa_totp WHERE user_id = ?')
      .bind(user.id)
      .first<{ n: number }>();
    expect(rows!.n).toBe(0);
    expect((await api('/auth/mfa/totp', { json: { current_password: PASSWORD }, token })).status).toBe(200);
  });
});

describe.each([
  [
    'DELETE /auth/mfa/totp',
    (call: Api, token: string, json: object) => call('/auth/mfa/totp', { method: 'DELETE', token, json }),
    204,
  ],
  [
    'POST /auth/mfa/recovery-codes',
    (call: Api, token: string, json: object) => call('/auth/mfa/recovery-codes', { token, json }),
    200,
  ],
] as const)('%s', (_, send, ok) => {
  it('needs the current password beside the code: none is 400, a wrong one 401 and spends no code', async () => {
    const { token } = await signedIn('change2fa');
    const { recoveryCodes } = await enrolTotp(token);
    const code = recoveryCodes[0]!;
    const problem = await expectProblem(await send(api, token, { code }), 400, 'validation_failed');
    expect(fieldsOf(problem)).toEqual(['current_password']);
    await expectProblem(await send(api, token, { code, current_password: WRONG }), 401, 'invalid_credentials');
    // The recovery code was not spent by the refused requests.
    expect((await send(api, token, { code, current_password: PASSWORD })).status).toBe(ok);
  });

  it('answers a wrong code as sign-in does: 401 invalid_mfa_code', async () => {
    const { token } = await signedIn('wrongcode');
    await enrolTotp(token);
    await expectProblem(
      await send(api, token, { code: 'ZZZZ-ZZZZ-ZZZZ', current_password: PASSWORD }),
      401,
      'invalid_mfa_code',
    );
  });
});

describe('wrong current passwords count as failed logins under the login keys', () => {
  type Send = (call: Api, token: string, headers: Record<string, string>) => Promise<Response>;
  const ROUTES: [route: string, twoFactor: boolean, send: Send][] = [
    [
      'POST /auth/email',
      false,
      (call, token, headers) =>
        call('/auth/email', { token, headers, json: { email: 'x@example.test', current_password: WRONG } }),
    ],
    [
      'POST /auth/mfa/totp',
      false,
      (call, token, headers) => call('/auth/mfa/totp', { token, headers, json: { current_password: WRONG } }),
    ],
    [
      'DELETE /auth/mfa/totp',
      true,
      (call, token, headers) =>
        call('/auth/mfa/totp', {
          method: 'DELETE',
          token,
          headers,
          json: { code: '123456', current_password: WRONG },
        }),
    ],
    [
      'POST /auth/mfa/recovery-codes',
      true,
      (call, token, headers) =>
        call('/auth/mfa/recovery-codes', { token, headers, json: { code: '123456', current_password: WRONG } }),
    ],
  ];

  it.each(ROUTES.map((row, i) => [...row, `203.0.113.${150 + i}`] as const))(
    '%s: the sixth wrong one is 429, and a login from that address is locked too',
    async (_, twoFactor, send, address) => {
      // Mixed case: counted under the same username key as the login.
      const { user, token } = await signedIn('MixedCase');
      if (twoFactor) await enrolTotp(token);
      const { call } = mailing();
      const headers = { 'CF-Connecting-IP': address };
      for (let i = 0; i < 5; i++) await expectProblem(await send(call, token, headers), 401, 'invalid_credentials');
      await expectProblem(await send(call, token, headers), 429, 'too_many_attempts');
      const login = await api('/auth/login', { json: { username: user.username, password: PASSWORD }, headers });
      await expectProblem(login, 429, 'too_many_attempts');
    },
  );

  it('a right password takes its attempt back, as a successful login does', async () => {
    const { user, token } = await signedIn('rightpw');
    const headers = { 'CF-Connecting-IP': '203.0.113.160' };
    const attempt = (current_password: string) => api('/auth/mfa/totp', { token, headers, json: { current_password } });
    for (let i = 0; i < 4; i++) await expectProblem(await attempt(WRONG), 401, 'invalid_credentials');
    expect((await attempt(PASSWORD)).status).toBe(200);
    // The right password reset the (username, address) counter: four more do not lock the owner out.
    for (let i = 0; i < 4; i++) await expectProblem(await attempt(WRONG), 401, 'invalid_credentials');
    const login = await api('/auth/login', { json: { username: user.username, password: PASSWORD }, headers });
    expect(login.status).toBe(200);
  });
});
