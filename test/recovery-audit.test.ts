import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, appWith, enrolTotp, loginForChallenge, PASSWORD, signedIn, signedInAdmin, captureAudit } from './helpers';
import { totp } from './totp';

afterEach(() => vi.restoreAllMocks());

describe('audit events of two-factor and recovery', () => {
  it('log enrol, confirm, challenge, verify, disable, admin reset, reset issued and used, email verified; no secret', async () => {
    const secrets: string[] = [];
    const sent: { text: string }[] = [];
    const EMAIL = {
      send: async (m: { text: string }) => (sent.push(m), { messageId: '<a@b>' }),
    } as unknown as SendEmail;
    const mail = appWith({ EMAIL, EMAIL_FROM: 'auth@example.test' });
    const admin = await signedInAdmin();
    const { user, token } = await signedIn('audited');
    const { lines, raw } = await captureAudit(async () => {
      const enrolled = await enrolTotp(token);
      secrets.push(enrolled.secret, ...enrolled.recoveryCodes);
      const { mfa_token } = await loginForChallenge(user.username);
      secrets.push(mfa_token);
      await api('/auth/mfa/verify', { json: { mfa_token, recovery_code: enrolled.recoveryCodes[0] } });
      await api('/auth/mfa/totp', {
        method: 'DELETE',
        json: { code: enrolled.recoveryCodes[1], current_password: PASSWORD },
        token,
      });
      await enrolTotp(token);
      await api(`/admin/users/${user.id}/mfa`, { method: 'DELETE', token: admin.token });
      const issued = await api(`/admin/users/${user.id}/password-reset`, { method: 'POST', token: admin.token });
      const { reset_token } = (await issued.json()) as { reset_token: string };
      secrets.push(reset_token);
      await api('/auth/password/reset', { json: { reset_token, new_password: 'audited-new-passphrase' } });
      const other = await signedIn('mailer');
      await mail('/auth/email', {
        json: { email: 'audited@example.test', current_password: PASSWORD },
        token: other.token,
      });
      const code = /^(\d{6})$/m.exec(sent[0]!.text)![1]!;
      await mail('/auth/email/verify', { json: { code }, token: other.token });
      secrets.push(await totp(enrolled.secret));
    });
    const events = lines.map((l) => l.event);
    for (const event of [
      'mfa_enrolment_started',
      'mfa_enabled',
      'login_mfa_required',
      'mfa_disabled',
      'mfa_reset_by_admin',
      'password_reset_issued',
      'password_reset_used',
      'email_verification_sent',
      'email_verified',
    ]) {
      expect(events).toContain(event);
    }
    expect(lines.find((l) => l.event === 'login_success' && l.user_id === user.id)).toMatchObject({
      method: 'recovery_code',
      session_id: expect.any(String),
    });
    expect(lines.find((l) => l.event === 'mfa_reset_by_admin')).toMatchObject({
      user_id: admin.user.id,
      target_user_id: user.id,
    });
    expect(lines.find((l) => l.event === 'password_reset_issued')).toMatchObject({
      user_id: admin.user.id,
      target_user_id: user.id,
      method: 'admin',
    });
    for (const secret of secrets) expect(raw).not.toContain(secret);
  }, 20_000); // A dozen PBKDF2 runs (logins, password checks, a reset): slow on a busy machine.
});
