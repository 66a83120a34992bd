/**
 * Security notices: the owner's verified address hears of a replaced address (the old one
 * does), a changed or reset password, and two-factor turned off by the owner or an admin. A
 * notice carries nothing that acts, and a mail that fails does not fail the change.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  api,
  codeIn,
  enrolTotp,
  expectProblem,
  fakeEmail,
  FROM,
  mailing,
  PASSWORD,
  signedIn,
  signedInAdmin,
  appWith,
  withVerifiedEmail,
  type Sent,
} from './helpers';

afterEach(() => vi.restoreAllMocks());

const NEW_PASSWORD = 'a-fresh-and-unusual-passphrase';

/** A notice holds no link, no reset token and no code: nothing in it can be used. */
function expectInert(mail: Sent) {
  for (const body of [mail.text, mail.html]) {
    expect(body).not.toMatch(/https?:|www\.|<a[\s>]/i);
    expect(body).not.toMatch(/[A-Za-z0-9_-]{43}/);
    expect(body).not.toMatch(/\b\d{6}\b/);
  }
}

/** The mails sent to `to` after the first `from` of `sent`. */
const mailsTo = (sent: Sent[], to: string, from = 0) => sent.slice(from).filter((m) => m.to === to);

describe('security notices', () => {
  it('a password change: the verified address is told, with nothing in the mail that acts', async () => {
    const { call, sent } = mailing();
    const { token, email, user } = await withVerifiedEmail(call, sent, 'changed');
    const before = sent.length;
    const res = await call('/auth/password', {
      json: { current_password: PASSWORD, new_password: NEW_PASSWORD },
      token,
    });
    expect(res.status).toBe(204);
    const [notice, ...more] = mailsTo(sent, email, before);
    expect(more).toHaveLength(0);
    expect(notice).toMatchObject({ from: FROM, subject: expect.stringMatching(/password was changed/i) });
    expect(notice!.text).toContain(user.username);
    expectInert(notice!);
  });

  it('a password reset: the verified address is told', async () => {
    const { call, sent } = mailing();
    const { user, email } = await withVerifiedEmail(call, sent, 'wasreset');
    const admin = await signedInAdmin();
    const issued = await api(`/admin/users/${user.id}/password-reset`, { method: 'POST', token: admin.token });
    const { reset_token } = (await issued.json()) as { reset_token: string };
    const before = sent.length;
    const res = await call('/auth/password/reset', { json: { reset_token, new_password: NEW_PASSWORD } });
    expect(res.status).toBe(204);
    const [notice] = mailsTo(sent, email, before);
    expect(notice?.subject).toMatch(/password was reset/i);
    expectInert(notice!);
  });

  it('a replaced address: the old address is told, the new one gets only its code', async () => {
    const { call, sent } = mailing();
    const { token, email: old } = await withVerifiedEmail(call, sent, 'moved');
    const fresh = `fresh-${old}`;
    const before = sent.length;
    expect((await call('/auth/email', { json: { email: fresh, current_password: PASSWORD }, token })).status).toBe(202);
    expect(mailsTo(sent, old, before)).toHaveLength(0); // nothing changed yet
    const verified = await call('/auth/email/verify', { json: { code: codeIn(sent.at(-1)!) }, token });
    expect(verified.status).toBe(200);
    const [notice, ...more] = mailsTo(sent, old, before);
    expect(more).toHaveLength(0);
    expect(notice?.subject).toMatch(/email address .* was changed/i);
    // The old address does not learn the new one.
    expect(notice!.text).not.toContain(fresh);
    expectInert(notice!);
    expect(mailsTo(sent, fresh, before)).toHaveLength(1);
  });

  it('a first address, or the same one verified again, sends no notice', async () => {
    const { call, sent } = mailing();
    const { token, email } = await withVerifiedEmail(call, sent, 'first');
    expect(sent).toHaveLength(1); // the code only
    expect((await call('/auth/email', { json: { email, current_password: PASSWORD }, token })).status).toBe(202);
    expect((await call('/auth/email/verify', { json: { code: codeIn(sent.at(-1)!) }, token })).status).toBe(200);
    expect(sent).toHaveLength(2);
  });

  it('two-factor turned off by the owner, or reset by an admin: the verified address is told', async () => {
    const { call, sent } = mailing();
    const owner = await withVerifiedEmail(call, sent, 'mfaoff');
    const { recoveryCodes } = await enrolTotp(owner.token, call);
    let before = sent.length;
    const off = await call('/auth/mfa/totp', {
      method: 'DELETE',
      json: { code: recoveryCodes[0], current_password: PASSWORD },
      token: owner.token,
    });
    expect(off.status).toBe(204);
    expect(mailsTo(sent, owner.email, before).map((m) => m.subject)).toEqual([
      expect.stringMatching(/two-factor authentication was turned off/i),
    ]);

    await enrolTotp(owner.token, call);
    const admin = await signedInAdmin();
    before = sent.length;
    expect((await call(`/admin/users/${owner.user.id}/mfa`, { method: 'DELETE', token: admin.token })).status).toBe(
      204,
    );
    const [notice] = mailsTo(sent, owner.email, before);
    expect(notice?.subject).toMatch(/administrator turned off your two-factor/i);
    expectInert(notice!);
    // Nothing to turn off: no notice.
    before = sent.length;
    expect((await call(`/admin/users/${owner.user.id}/mfa`, { method: 'DELETE', token: admin.token })).status).toBe(
      204,
    );
    expect(sent).toHaveLength(before);
  });

  it('no verified address, or no email configured: the change goes through and nothing is sent', async () => {
    const { call, sent } = mailing();
    const { token } = await signedIn('noaddress');
    const change = { json: { current_password: PASSWORD, new_password: NEW_PASSWORD }, token };
    expect((await call('/auth/password', change)).status).toBe(204);
    expect(sent).toHaveLength(0);

    const unmailed = await withVerifiedEmail(call, sent, 'nomail');
    const off = appWith({ EMAIL: undefined, EMAIL_FROM: '' });
    const res = await off('/auth/password', { ...change, token: unmailed.token });
    expect(res.status).toBe(204);
  });

  it('a mail that fails does not fail the change; the failure is logged without the address', async () => {
    const { call, sent } = mailing();
    const { token, email } = await withVerifiedEmail(call, sent, 'failing');
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const broken = fakeEmail();
    broken.binding.send = async () => {
      throw new Error(`could not deliver to ${email}`);
    };
    const res = await appWith({ EMAIL: broken.binding, EMAIL_FROM: FROM })('/auth/password', {
      json: { current_password: PASSWORD, new_password: NEW_PASSWORD },
      token,
    });
    expect(res.status).toBe(204);
    const logged = errors.mock.calls.map((args) => String(args[0]));
    expect(logged).toEqual([expect.stringContaining('"kind":"notice"')]);
    expect(logged[0]).toContain('"notice":"password_changed"');
    expect(logged[0]).not.toContain(email);
  });

  it('half-configured email fails no change either; the log names what is missing', async () => {
    const { call, sent } = mailing();
    const { token } = await withVerifiedEmail(call, sent, 'halfconf');
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await appWith({ EMAIL: undefined, EMAIL_FROM: FROM })('/auth/password', {
      json: { current_password: PASSWORD, new_password: NEW_PASSWORD },
      token,
    });
    expect(res.status).toBe(204);
    expect(errors.mock.calls.map((args) => String(args[0]))).toEqual([expect.stringContaining('EMAIL')]);
  });

  it('a refused change sends nothing', async () => {
    const { call, sent } = mailing();
    const { token } = await withVerifiedEmail(call, sent, 'refused');
    const before = sent.length;
    await expectProblem(
      await call('/auth/password', {
        json: { current_password: 'not-the-password', new_password: NEW_PASSWORD },
        token,
      }),
      401,
      'invalid_credentials',
    );
    expect(sent).toHaveLength(before);
  });
});
