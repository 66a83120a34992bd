/**
 * The common-password list (ASVS 5.0 V6.2.4) lives in D1: seeded by the real migrations,
 * extended by operators with SQL, and checked by every flow that sets a password.
 */
import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { commonPasswordKey } from '../src/credentials/common-passwords';
import { api, appWith, expectProblem, login, PASSWORD, signedIn, signedInAdmin, uniqueName } from './helpers';

/** What an operator adds (docs/security.md), in lower case as the table requires. */
const OPERATOR_WORD = 'examplecorp-widgets';

const isListed = async (password: string) =>
  (await env.DB.prepare('SELECT 1 FROM common_passwords WHERE password = ?').bind(password).first()) !== null;

/** Full-width forms (ｐａｓｓｗｏｒｄ), which NFKC folds back to ASCII. */
const fullWidth = (text: string) => text.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));

async function expectTooCommon(res: Response) {
  const problem = await expectProblem(res, 400, 'password_too_common');
  expect(problem).toMatchObject({
    title: 'Password too common',
    detail: 'This password is among the most commonly used ones; choose another.',
  });
}

/** Every flow that sets a password: sends `password` as the new one; `ok` is its success status. */
const flows = [
  {
    name: 'registration (POST /auth/register)',
    ok: 201,
    send: (password: string) => api('/auth/register', { json: { username: uniqueName(), password } }),
  },
  {
    name: 'Flask-JWT sign-up (POST /signup)',
    ok: 200,
    send: (password: string) => api('/signup', { json: { username: uniqueName('flask'), password } }),
  },
  {
    name: 'password change (POST /auth/password)',
    ok: 204,
    send: async (password: string) => {
      const { token } = await signedIn();
      return api('/auth/password', { token, json: { current_password: PASSWORD, new_password: password } });
    },
  },
  {
    name: 'password reset by token (POST /auth/password/reset)',
    ok: 204,
    send: async (password: string) => {
      const admin = await signedInAdmin();
      const { user } = await signedIn();
      const issued = await api(`/admin/users/${user.id}/password-reset`, { method: 'POST', token: admin.token });
      const { reset_token } = (await issued.json()) as { reset_token: string };
      return api('/auth/password/reset', { json: { reset_token, new_password: password } });
    },
  },
];

beforeAll(async () => {
  // docs/security.md's command, run against this file's D1.
  await env.DB.prepare(`INSERT OR IGNORE INTO common_passwords (password) VALUES ('${OPERATOR_WORD}')`).run();
});

describe('the list the migrations seed', () => {
  it('holds the 3,000 most common passwords of length 8 or more, each stored as the check looks it up', async () => {
    const { results } = await env.DB.prepare('SELECT password FROM common_passwords WHERE password != ?')
      .bind(OPERATOR_WORD)
      .all<{ password: string }>();
    expect(results).toHaveLength(3000);
    for (const { password } of results) {
      expect(commonPasswordKey(password)).toBe(password);
      expect([...password].length).toBeGreaterThanOrEqual(8);
    }
    for (const top of ['password', '12345678', 'qwertyuiop', 'iloveyou', 'trustno1'])
      expect(await isListed(top)).toBe(true);
  });

  it('refuses an entry with capitals, which no case-folded password could ever match', async () => {
    await expect(
      env.DB.prepare("INSERT INTO common_passwords (password) VALUES ('ExampleCorp2026')").run(),
    ).rejects.toThrow(/CHECK constraint failed/);
    expect(await isListed('ExampleCorp2026')).toBe(false);
  });
});

describe.each(flows)('$name', ({ ok, send }) => {
  it('refuses a listed password with 400 password_too_common', async () => {
    expect(await isListed('iloveyou')).toBe(true);
    await expectTooCommon(await send('iloveyou'));
  });

  it('folds case and NFKC before looking it up', async () => {
    await expectTooCommon(await send('ILoveYou'));
    await expectTooCommon(await send(fullWidth('iloveyou')));
    await expectTooCommon(await send(fullWidth('TRUSTNO1')));
  });

  it('accepts a near miss of a listed password', async () => {
    expect(await isListed('iloveyou!')).toBe(false);
    expect((await send('iloveyou!')).status).toBe(ok);
  });

  it('refuses a word an operator added to the table, in any case', async () => {
    await expectTooCommon(await send('ExampleCorp-Widgets'));
  });
});

describe('a refused common password counts against no limit', () => {
  it('is not a registration from that address', async () => {
    const limited = appWith({ REGISTER_IP_MAX: '2' });
    const from = (password: string) =>
      limited('/auth/register', {
        json: { username: uniqueName('limited'), password },
        headers: { 'CF-Connecting-IP': '198.51.100.90' },
      });
    for (let i = 0; i < 5; i++) await expectTooCommon(await from('password1'));
    expect((await from(PASSWORD)).status).toBe(201);
    expect((await from(PASSWORD)).status).toBe(201);
    await expectProblem(await from(PASSWORD), 429, 'too_many_registrations');
  });

  it('is not a failed guess of the current password', async () => {
    const { user, token } = await signedIn();
    const headers = { 'CF-Connecting-IP': '198.51.100.91' };
    const change = (new_password: string) =>
      api('/auth/password', { token, headers, json: { current_password: PASSWORD, new_password } });
    // LOGIN_MAX_FAILURES is 5: had these counted, the address would now be locked out.
    for (let i = 0; i < 6; i++) await expectTooCommon(await change('trustno1'));
    expect((await change('a-new-and-unusual-passphrase')).status).toBe(204);
    await login(user.username, 'a-new-and-unusual-passphrase');
  });
});
