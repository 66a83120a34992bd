/**
 * Two-factor sign-in, forgot-password, and what a stolen access token can no longer do, end to
 * end, over HTTP against a real `wrangler dev` with a `[[send_email]]` binding. Locally that binding sends nothing: Miniflare logs each
 * mail with the path of a file holding its text, which is where this test (and a developer,
 * see the README) reads the code and the reset token.
 *
 * Run: npx vitest run test/e2e/recovery.test.ts
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { totp } from '../totp';
import { ROOT, api as apiAt, startWranglerDev, uniqueName, useScratchDir, type Server } from './support';

const PASSWORD = 'a-long-and-unusual-passphrase';
const FROM = 'auth@example.test';

const scratch = useScratchDir('recovery');
let stateDir = '';
let wrangler: Server | undefined;

const api = (pathname: string, init: { json?: unknown; token?: string } = {}) =>
  apiAt(wrangler!.baseUrl, pathname, init);

/**
 * wrangler.toml as it is, plus the mail settings an operator adds to turn email on. It lives in
 * the scratch directory, so its paths are made absolute (wrangler resolves them from the file).
 */
async function writeConfig(): Promise<string> {
  const base = await readFile(path.join(ROOT, 'wrangler.toml'), 'utf8');
  const absolute = (relative: string) => JSON.stringify(path.join(ROOT, relative));
  const text = base
    .replace(
      /^(main|migrations_dir|directory) = "(.*)"$/gm,
      (_, key: string, value: string) => `${key} = ${absolute(value)}`,
    )
    .replace(
      /^command = "node (\S+)"$/m,
      (_, script: string) => `command = ${JSON.stringify(`node ${path.join(ROOT, script)}`)}`,
    )
    .replace(/^watch_dir = .*$/m, '');
  const file = path.join(stateDir, 'wrangler.toml');
  await writeFile(file, `${text}\nEMAIL_FROM = "${FROM}"\n\n[[send_email]]\nname = "EMAIL"\n`);
  return file;
}

/** The text of the next mail to `to` that Miniflare reports after `seen` bytes of output. */
async function mailTo(to: string, seen: number): Promise<string> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const fresh = wrangler!.output.slice(seen);
    const block = fresh.split('send_email binding called').find((part) => part.includes(to));
    const file = block && /Text: (\S+\.txt)/.exec(block)?.[1];
    if (file) return readFile(file, 'utf8');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no mail to ${to} in the wrangler dev output:\n${wrangler!.output.slice(seen)}`);
}

describe('two-factor and recovery under wrangler dev', () => {
  beforeAll(async () => {
    stateDir = scratch();
    wrangler = await startWranglerDev(
      stateDir,
      {
        JWT_SECRET: `e2e-${crypto.randomUUID()}-${crypto.randomUUID()}`,
        DATA_ENCRYPTION_KEY: `e2e-${crypto.randomUUID()}-${crypto.randomUUID()}`,
      },
      { config: await writeConfig() },
    );
  });

  afterAll(async () => {
    await wrangler?.stop();
  });

  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => console.error(`--- wrangler dev output ---\n${wrangler?.output ?? ''}`));
  });

  it('enrols TOTP, then signs in with the password and a code', async () => {
    const username = uniqueName('e2e_totp');
    expect((await api('/auth/register', { json: { username, password: PASSWORD } })).status).toBe(201);
    const { access_token } = (await api('/auth/login', { json: { username, password: PASSWORD } })).body;
    const enrol = await api('/auth/mfa/totp', { json: { current_password: PASSWORD }, token: access_token });
    expect(enrol.status, JSON.stringify(enrol.body)).toBe(200);
    const secret: string = enrol.body.secret;
    const confirm = await api('/auth/mfa/totp/confirm', { json: { code: await totp(secret) }, token: access_token });
    expect(confirm.status, JSON.stringify(confirm.body)).toBe(200);
    expect(confirm.body.recovery_codes).toHaveLength(10);

    const gate = await api('/auth/login', { json: { username, password: PASSWORD } });
    expect(gate.status).toBe(403);
    expect(gate.body).toMatchObject({ code: 'mfa_required', mfa_token: expect.any(String) });
    // The confirming code's step is spent; the next step's code is inside the drift window.
    const code = await totp(secret, Date.now(), 1);
    const verified = await api('/auth/mfa/verify', { json: { mfa_token: gate.body.mfa_token, code } });
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(verified.body.user).toMatchObject({ username, mfa_enabled: true });
  });

  it('verifies an address and resets a forgotten password through the mails Miniflare captured', async () => {
    const username = uniqueName('e2e_mail');
    const email = `${username.toLowerCase()}@example.test`;
    expect((await api('/auth/register', { json: { username, password: PASSWORD } })).status).toBe(201);
    const { access_token } = (await api('/auth/login', { json: { username, password: PASSWORD } })).body;

    let seen = wrangler!.output.length;
    const added = await api('/auth/email', { json: { email, current_password: PASSWORD }, token: access_token });
    expect(added.status, JSON.stringify(added.body)).toBe(202);
    const code = /^(\d{6})$/m.exec(await mailTo(email, seen))?.[1];
    expect(code).toBeDefined();
    const verified = await api('/auth/email/verify', { json: { code }, token: access_token });
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(verified.body.user).toMatchObject({ email, email_verified: true });

    seen = wrangler!.output.length;
    const forgot = await api('/auth/password/forgot', { json: { username } });
    expect(forgot.status).toBe(202);
    const resetToken = /^([A-Za-z0-9_-]{43})$/m.exec(await mailTo(email, seen))?.[1];
    expect(resetToken).toBeDefined();
    const reset = await api('/auth/password/reset', {
      json: { reset_token: resetToken, new_password: 'a-new-mailed-passphrase' },
    });
    expect(reset.status, JSON.stringify(reset.body)).toBe(204);
    const login = await api('/auth/login', { json: { username, password: 'a-new-mailed-passphrase' } });
    expect(login.status).toBe(200);
  });

  describe('a stolen access token is not an account takeover', () => {
    /** A user signed in (the owner's session) with a verified address, through the mails. */
    async function ownerWithAddress(prefix: string) {
      const username = uniqueName(prefix);
      const email = `${username.toLowerCase()}@example.test`;
      expect((await api('/auth/register', { json: { username, password: PASSWORD } })).status).toBe(201);
      const session = (await api('/auth/login', { json: { username, password: PASSWORD } })).body;
      const seen = wrangler!.output.length;
      const json = { email, current_password: PASSWORD };
      expect((await api('/auth/email', { json, token: session.access_token })).status).toBe(202);
      const code = /^(\d{6})$/m.exec(await mailTo(email, seen))?.[1];
      const verified = await api('/auth/email/verify', { json: { code }, token: session.access_token });
      expect(verified.status, JSON.stringify(verified.body)).toBe(200);
      return { username, email, session };
    }

    it('stops at the first step: replacing the address with the token alone, or a guessed password, is refused', async () => {
      const owner = await ownerWithAddress('e2e_victim');
      const stolen = owner.session.access_token;
      const attacker = `attacker-${crypto.randomUUID().slice(0, 8)}@example.test`;
      const seen = wrangler!.output.length;

      const tokenOnly = await api('/auth/email', { json: { email: attacker }, token: stolen });
      expect(tokenOnly.status).toBe(400);
      expect(tokenOnly.body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'current_password' }] });
      const guessed = await api('/auth/email', {
        json: { email: attacker, current_password: 'a-guessed-password' },
        token: stolen,
      });
      expect(guessed.status).toBe(401);
      expect(guessed.body.code).toBe('invalid_credentials');

      // Nothing reached the attacker; the owner's address still receives the reset mail.
      expect(wrangler!.output.slice(seen)).not.toContain(attacker);
      const me = await api('/auth/me', { token: stolen });
      expect(me.body.user).toMatchObject({ email: owner.email, email_verified: true });
      const before = wrangler!.output.length;
      expect((await api('/auth/password/forgot', { json: { username: owner.username } })).status).toBe(202);
      expect(await mailTo(owner.email, before)).toMatch(/^[A-Za-z0-9_-]{43}$/m);
    });

    it('refuses TOTP enrolment with the token alone', async () => {
      const username = uniqueName('e2e_enrol');
      expect((await api('/auth/register', { json: { username, password: PASSWORD } })).status).toBe(201);
      const { access_token } = (await api('/auth/login', { json: { username, password: PASSWORD } })).body;
      const tokenOnly = await api('/auth/mfa/totp', { json: {}, token: access_token });
      expect(tokenOnly.status).toBe(400);
      expect(tokenOnly.body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'current_password' }] });
      const guessed = await api('/auth/mfa/totp', {
        json: { current_password: 'a-guessed-password' },
        token: access_token,
      });
      expect(guessed.status).toBe(401);
      expect(guessed.body.code).toBe('invalid_credentials');
    });

    it('a mailed reset token dies when the password is changed, and the owner is told', async () => {
      const owner = await ownerWithAddress('e2e_resetdies');
      let seen = wrangler!.output.length;
      expect((await api('/auth/password/forgot', { json: { username: owner.username } })).status).toBe(202);
      const resetToken = /^([A-Za-z0-9_-]{43})$/m.exec(await mailTo(owner.email, seen))?.[1];
      expect(resetToken).toBeDefined();

      seen = wrangler!.output.length;
      const changed = await api('/auth/password', {
        json: { current_password: PASSWORD, new_password: 'a-changed-long-passphrase' },
        token: owner.session.access_token,
      });
      expect(changed.status, JSON.stringify(changed.body)).toBe(204);

      const reset = await api('/auth/password/reset', {
        json: { reset_token: resetToken, new_password: 'the-attackers-passphrase' },
      });
      expect(reset.status).toBe(400);
      expect(reset.body.code).toBe('invalid_reset_token');
      expect(await mailTo(owner.email, seen)).toMatch(/Your password was changed/);
      const login = await api('/auth/login', {
        json: { username: owner.username, password: 'a-changed-long-passphrase' },
      });
      expect(login.status).toBe(200);
    });

    it("turning two-factor on ends another session: its refresh and access tokens stop working, the caller's go on", async () => {
      const username = uniqueName('e2e_lockout');
      expect((await api('/auth/register', { json: { username, password: PASSWORD } })).status).toBe(201);
      const other = (await api('/auth/login', { json: { username, password: PASSWORD } })).body;
      const mine = (await api('/auth/login', { json: { username, password: PASSWORD } })).body;
      const enrol = await api('/auth/mfa/totp', { json: { current_password: PASSWORD }, token: mine.access_token });
      expect(enrol.status, JSON.stringify(enrol.body)).toBe(200);
      const confirm = await api('/auth/mfa/totp/confirm', {
        json: { code: await totp(enrol.body.secret) },
        token: mine.access_token,
      });
      expect(confirm.status, JSON.stringify(confirm.body)).toBe(200);

      expect((await api('/auth/me', { token: other.access_token })).status).toBe(401);
      const refreshed = await api('/auth/refresh', { json: { refresh_token: other.refresh_token } });
      expect(refreshed.status).toBe(401);
      expect(refreshed.body.code).toBe('invalid_refresh_token');
      expect((await api('/auth/me', { token: mine.access_token })).status).toBe(200);
      expect((await api('/auth/refresh', { json: { refresh_token: mine.refresh_token } })).status).toBe(200);
    });
  });
});
