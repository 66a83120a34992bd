/** Email verification and forgot-password, with a fake `EMAIL` (send_email) binding in workerd. */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sha256Base64Url } from '../src/platform/crypto';
import { createApp } from '../src/http/app';
import {
  api,
  appWith,
  address,
  codeIn,
  expectProblem,
  fakeEmail,
  FROM,
  login,
  mailing,
  ORIGIN,
  type Api,
  type Sent,
  PASSWORD,
  signedIn,
  tokenIn,
  withVerifiedEmail,
} from './helpers';

afterEach(() => vi.useRealTimers());

describe('adding an email address', () => {
  it('mails a 6-digit code from EMAIL_FROM; the code verifies the address on the user', async () => {
    const { call, sent } = mailing();
    const { token, user } = await signedIn('mail');
    const email = `${user.username}@Example.test`;
    const res = await call('/auth/email', { json: { email, current_password: PASSWORD }, token });
    expect(res.status).toBe(202);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ from: FROM, to: email, subject: expect.any(String), html: expect.any(String) });
    const code = codeIn(sent[0]!);
    expect(code).toMatch(/^\d{6}$/);

    const verified = await call('/auth/email/verify', { json: { code }, token });
    expect(verified.status).toBe(200);
    const body = (await verified.json()) as { user: { email: string; email_verified: boolean } };
    expect(body.user).toMatchObject({ email, email_verified: true });
    const me = (await (await api('/auth/me', { token })).json()) as { user: { email: string } };
    expect(me.user.email).toBe(email);
  });

  it('a wrong code is 400 invalid_email_code; five wrong ones end the code', async () => {
    const { call, sent } = mailing();
    const { token } = await signedIn('wrongmail');
    await call('/auth/email', { json: { email: 'wrong@example.test', current_password: PASSWORD }, token });
    const code = codeIn(sent[0]!)!;
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    for (let i = 0; i < 5; i++) {
      await expectProblem(
        await call('/auth/email/verify', { json: { code: wrong }, token }),
        400,
        'invalid_email_code',
      );
    }
    await expectProblem(await call('/auth/email/verify', { json: { code }, token }), 400, 'invalid_email_code');
  });

  it('the code expires after 15 minutes', async () => {
    const { call, sent } = mailing();
    const { token, user } = await signedIn('latemail');
    await call('/auth/email', { json: { email: 'late@example.test', current_password: PASSWORD }, token });
    vi.setSystemTime(Date.now() + 15 * 60_000 + 1000);
    const fresh = (await login(user.username)).access_token; // the first one expired meanwhile
    await expectProblem(
      await call('/auth/email/verify', { json: { code: codeIn(sent[0]!) }, token: fresh }),
      400,
      'invalid_email_code',
    );
  });

  it('a verified address belongs to one user only (case-insensitively): 409 email_taken', async () => {
    const { call, sent } = mailing();
    const first = await withVerifiedEmail(call, sent, 'owner');
    const { token } = await signedIn('second');
    expect(
      (await call('/auth/email', { json: { email: first.email.toUpperCase(), current_password: PASSWORD }, token }))
        .status,
    ).toBe(202);
    await expectProblem(
      await call('/auth/email/verify', { json: { code: codeIn(sent.at(-1)!) }, token }),
      409,
      'email_taken',
    );
  });

  it('mails one address at most three codes a day, whichever accounts ask', async () => {
    const { call, sent } = mailing();
    const victim = 'sprayed@example.test';
    for (let i = 0; i < 3; i++) {
      const { token } = await signedIn('spray');
      const email = i === 1 ? victim.toUpperCase() : victim;
      expect((await call('/auth/email', { json: { email, current_password: PASSWORD }, token })).status).toBe(202);
    }
    const { token } = await signedIn('spray');
    const refused = await call('/auth/email', { json: { email: victim, current_password: PASSWORD }, token });
    await expectProblem(refused, 429, 'too_many_attempts');
    expect(Number(refused.headers.get('Retry-After'))).toBeGreaterThan(86_000);
    expect(sent.filter((mail) => mail.to.toLowerCase() === victim)).toHaveLength(3);
    // Another address is not affected, and the day's end lifts it.
    expect(
      (await call('/auth/email', { json: { email: 'other@example.test', current_password: PASSWORD }, token })).status,
    ).toBe(202);
    vi.setSystemTime(Date.now() + 86_400_000);
    const fresh = (await login((await signedIn('spray')).user.username)).access_token;
    expect(
      (await call('/auth/email', { json: { email: victim, current_password: PASSWORD }, token: fresh })).status,
    ).toBe(202);
  });

  it("counts a throttled account's requests against no address", async () => {
    const { call, sent } = mailing({ EMAIL_USER_MAX: '1' });
    const { token } = await signedIn('throttled');
    expect(
      (await call('/auth/email', { json: { email: 'first@example.test', current_password: PASSWORD }, token })).status,
    ).toBe(202);
    for (let i = 0; i < 3; i++) {
      await expectProblem(
        await call('/auth/email', { json: { email: 'kept@example.test', current_password: PASSWORD }, token }),
        429,
        'too_many_attempts',
      );
    }
    const other = await signedIn('throttled');
    expect(
      (
        await call('/auth/email', {
          json: { email: 'kept@example.test', current_password: PASSWORD },
          token: other.token,
        })
      ).status,
    ).toBe(202);
    expect(sent.filter((mail) => mail.to === 'kept@example.test')).toHaveLength(1);
  });

  it('refuses what is not an address', async () => {
    const { call } = mailing();
    const { token } = await signedIn('bademail');
    await expectProblem(
      await call('/auth/email', { json: { email: 'not-an-address', current_password: PASSWORD }, token }),
      400,
      'validation_failed',
    );
  });
});

describe('verification codes at rest', () => {
  it('are stored as a keyed HMAC: not the plain SHA-256 a dump could reverse, and useless under another key', async () => {
    const { call, sent } = mailing();
    const { token, user } = await signedIn('keyed');
    const email = address(user.username);
    expect((await call('/auth/email', { json: { email, current_password: PASSWORD }, token })).status).toBe(202);
    const code = codeIn(sent[0]!)!;
    const row = await env.DB.prepare('SELECT code_hash FROM email_verifications WHERE user_id = ?')
      .bind(user.id)
      .first<{ code_hash: string }>();
    // The old form: a million SHA-256 runs over the six digits found the code in any dump.
    expect(row!.code_hash).not.toBe(await sha256Base64Url(`${user.id}\u0000${email}\u0000${code}`));
    expect(row!.code_hash).not.toContain(code);

    // The key comes from DATA_ENCRYPTION_KEY: under another one the right code does not match.
    const otherKey = mailing({ DATA_ENCRYPTION_KEY: 'another-data-key-0123456789abcdefghijklmnopqrstuvwxyz' });
    await expectProblem(
      await otherKey.call('/auth/email/verify', { json: { code }, token }),
      400,
      'invalid_email_code',
    );
    expect((await call('/auth/email/verify', { json: { code }, token })).status).toBe(200);
  });

  it('without DATA_ENCRYPTION_KEY the address routes answer 500 misconfigured, before any password check', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const { call, sent } = mailing({ DATA_ENCRYPTION_KEY: '' });
    const { token } = await signedIn('nokey');
    await expectProblem(
      await call('/auth/email', { json: { email: 'nokey@example.test', current_password: 'wrong-password' }, token }),
      500,
      'misconfigured',
    );
    // The caller is not on loopback: the detail names nothing, the operator's log line does.
    expect(logged.mock.calls.map((args) => String(args[0])).join('\n')).toMatch(/DATA_ENCRYPTION_KEY/);
    await expectProblem(await call('/auth/email/verify', { json: { code: '123456' }, token }), 500, 'misconfigured');
    expect(sent).toHaveLength(0);
  });
});

describe('POST /auth/password/forgot', () => {
  it('mails a reset token to the verified address; the token sets a new password', async () => {
    const { call, sent } = mailing();
    const { user } = await withVerifiedEmail(call, sent, 'forgot');
    const res = await call('/auth/password/forgot', { json: { username: user.username } });
    expect(res.status).toBe(202);
    const mail = sent.at(-1)!;
    expect(mail.to).toBe(address(user.username));
    const reset_token = tokenIn(mail)!;
    expect(reset_token).toBeDefined();
    const done = await api('/auth/password/reset', { json: { reset_token, new_password: 'mailed-new-passphrase' } });
    expect(done.status).toBe(204);
    expect((await login(user.username, 'mailed-new-passphrase')).access_token).toEqual(expect.any(String));
  });

  it('also finds the user by address', async () => {
    const { call, sent } = mailing();
    const { email } = await withVerifiedEmail(call, sent, 'byaddress');
    const before = sent.length;
    expect((await call('/auth/password/forgot', { json: { email: email.toUpperCase() } })).status).toBe(202);
    expect(sent).toHaveLength(before + 1);
    expect(tokenIn(sent.at(-1)!)).toBeDefined();
  });

  it('answers the same whether the user exists, has an address, or neither; mails only the one', async () => {
    const { call, sent } = mailing();
    const { user } = await withVerifiedEmail(call, sent, 'enum');
    const noAddress = await signedIn('noaddress');
    const before = sent.length;
    const answers = await Promise.all(
      [
        { username: user.username },
        { username: noAddress.user.username },
        { username: 'nobody_by_this_name' },
        { email: 'nobody@example.test' },
      ].map((json) => call('/auth/password/forgot', { json })),
    );
    const shapes = await Promise.all(
      answers.map(async (r) => ({
        status: r.status,
        type: r.headers.get('Content-Type'),
        cache: r.headers.get('Cache-Control'),
        body: await r.text(),
      })),
    );
    expect(new Set(shapes.map((s) => JSON.stringify(s))).size).toBe(1);
    expect(shapes[0]!.status).toBe(202);
    expect(sent).toHaveLength(before + 1);
  });

  it('answers before looking anything up: the answer cannot wait on the lookup or the mail', async () => {
    // The mail never completes until released; the 202 must come out regardless. The same
    // code path serves every name, so whatever the lookup finds cannot shape the timing.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const sent: string[] = [];
    const EMAIL = {
      async send(m: { to: string }) {
        await gate;
        sent.push(m.to);
        return { messageId: '<x@example.test>' };
      },
    } as unknown as SendEmail;
    const { call, sent: setup } = mailing();
    const { user } = await withVerifiedEmail(call, setup, 'waits');
    const appEnv = { ...env, EMAIL, EMAIL_FROM: FROM };
    const ctx = createExecutionContext();
    const res = await createApp().fetch(
      new Request(`${ORIGIN}/auth/password/forgot`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: user.username }),
      }),
      appEnv,
      ctx,
    );
    expect(res.status).toBe(202);
    expect(sent).toEqual([]);
    release();
    await waitOnExecutionContext(ctx);
    expect(sent).toEqual([address(user.username)]);
  });

  it('sends at most EMAIL_USER_MAX mails per user, requesting address and hour, still answering 202', async () => {
    const { call, sent } = mailing({ EMAIL_USER_MAX: '2' });
    const { user } = await withVerifiedEmail(call, sent, 'capped');
    const before = sent.length;
    const headers = { 'CF-Connecting-IP': '203.0.113.30' };
    for (let i = 0; i < 3; i++) {
      expect((await call('/auth/password/forgot', { json: { username: user.username }, headers })).status).toBe(202);
    }
    expect(sent.length - before).toBe(2);
  });

  it("cannot be used from other addresses to spend the owner's budget; strangers together get a daily ceiling", async () => {
    const { call, sent } = mailing({ EMAIL_RESET_USER_MAX: '4' });
    const { user, email } = await withVerifiedEmail(call, sent, 'starved');
    const HOME = '192.0.2.150';
    const atHome = { 'CF-Connecting-IP': HOME };
    // The owner's usual address: a login succeeded there.
    expect(
      (await call('/auth/login', { json: { username: user.username, password: PASSWORD }, headers: atHome })).status,
    ).toBe(200);
    const before = sent.length;
    for (let i = 1; i <= 8; i++) {
      const stranger = { 'CF-Connecting-IP': `198.51.100.${i}` };
      for (let j = 0; j < 2; j++) {
        expect(
          (await call('/auth/password/forgot', { json: { username: user.username }, headers: stranger })).status,
        ).toBe(202);
      }
    }
    // Sixteen requests from eight addresses: the ceiling (EMAIL_RESET_USER_MAX) holds the inbox to four.
    expect(sent.length - before).toBe(4);
    // The owner's own address still has its whole budget (EMAIL_USER_MAX, 3 an hour).
    const owner = sent.length;
    for (let i = 0; i < 4; i++) {
      expect((await call('/auth/password/forgot', { json: { email }, headers: atHome })).status).toBe(202);
    }
    expect(sent.length - owner).toBe(3);
    expect(sent.slice(owner).every((mail) => mail.to === email && tokenIn(mail))).toBe(true);
  });

  it('is throttled per address (RECOVERY_IP_MAX per hour) whatever the name', async () => {
    const { call } = mailing({ RECOVERY_IP_MAX: '2' });
    const ask = (username: string) =>
      call('/auth/password/forgot', { json: { username }, headers: { 'CF-Connecting-IP': '203.0.113.9' } });
    expect((await ask('someone_a')).status).toBe(202);
    expect((await ask('someone_b')).status).toBe(202);
    const third = await ask('someone_c');
    await expectProblem(third, 429, 'too_many_attempts');
    expect(third.headers.get('Retry-After')).toBeTruthy();
  });

  it('needs exactly one of username and email', async () => {
    const { call } = mailing();
    await expectProblem(await call('/auth/password/forgot', { json: {} }), 400, 'validation_failed');
    await expectProblem(
      await call('/auth/password/forgot', { json: { username: 'alice', email: 'a@example.test' } }),
      400,
      'validation_failed',
    );
  });
});

describe('what a mail says', () => {
  /** A name no registration allows, as a row written outside the API could hold it. */
  const HOSTILE = 'Urgent: call +1 555 0100 or visit https://evil.example/login';
  const rename = (id: string, username: string) =>
    env.DB.prepare('UPDATE users SET username = ? WHERE id = ?').bind(username, id).run();
  const quotesNothingOf = (mail: Sent) => {
    for (const part of [mail.subject, mail.text, mail.html]) {
      expect(part).not.toMatch(/evil|555|Urgent/);
    }
  };

  it('greets the user by name when it is one registration allows', async () => {
    const { call, sent } = mailing();
    const { user } = await withVerifiedEmail(call, sent, 'greeted');
    expect(sent.at(-1)!.text).toContain(`Hello ${user.username},`);
  });

  it('quotes no other caller-chosen text: a verification mail to any address, a reset mail', async () => {
    const { call, sent } = mailing();
    const { user, token, email } = await withVerifiedEmail(call, sent, 'hostile');
    await rename(user.id, HOSTILE);
    expect(
      (await call('/auth/email', { json: { email: 'anyone@example.test', current_password: PASSWORD }, token })).status,
    ).toBe(202);
    const verification = sent.at(-1)!;
    expect(verification.to).toBe('anyone@example.test');
    quotesNothingOf(verification);
    expect(codeIn(verification)).toMatch(/^\d{6}$/);

    expect((await call('/auth/password/forgot', { json: { email } })).status).toBe(202);
    const reset = sent.at(-1)!;
    expect(reset.to).toBe(email);
    quotesNothingOf(reset);
    expect(tokenIn(reset)).toBeDefined();
  });
});

describe('email is off unless configured', () => {
  it('without EMAIL and EMAIL_FROM the email routes answer 404 email_disabled', async () => {
    const { token } = await signedIn('nomail');
    await expectProblem(
      await api('/auth/email', { json: { email: 'a@example.test', current_password: PASSWORD }, token }),
      404,
      'email_disabled',
    );
    await expectProblem(await api('/auth/password/forgot', { json: { username: 'alice' } }), 404, 'email_disabled');
  });

  it('with only one of the two the service says which is missing (500 misconfigured, named in the log)', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const noBinding = await expectProblem(
      await appWith({ EMAIL_FROM: FROM })('/auth/password/forgot', { json: { username: 'alice' } }),
      500,
      'misconfigured',
    );
    expect(noBinding.detail).toBe('The service is misconfigured.');
    expect(String(logged.mock.calls.at(-1)?.[0])).toMatch(/binding EMAIL\b/);
    const noFrom = await expectProblem(
      await appWith({ EMAIL: fakeEmail().binding })('/auth/password/forgot', { json: { username: 'alice' } }),
      500,
      'misconfigured',
    );
    expect(noFrom.detail).toBe('The service is misconfigured.');
    expect(String(logged.mock.calls.at(-1)?.[0])).toMatch(/EMAIL_FROM/);
    // On loopback (wrangler dev) the answer names it too.
    const local = await expectProblem(
      await appWith({ EMAIL_FROM: FROM })('http://localhost:8787/auth/password/forgot', {
        json: { username: 'alice' },
      }),
      500,
      'misconfigured',
    );
    expect(local.detail).toMatch(/binding EMAIL\b/);
  });
});
