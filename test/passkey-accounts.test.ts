/**
 * Accounts made with a passkey (a username and a passkey, no password), and every user's
 * management of their passkeys: list, rename, remove, and the proof each change needs.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import {
  captureAudit,
  expectProblem,
  login,
  PASSWORD,
  register,
  sessionIdOf,
  signedIn,
  signedInAdmin,
  uniqueName,
} from './helpers';
import { b64url } from './jwt';
import {
  addPasskey,
  ageSignIn,
  passkeyApi,
  signInResponse,
  signInWithPasskey,
  signUp,
  verifySignIn,
  type CreationOptions,
} from './passkey-support';
import { attestation, newCredential } from './webauthn';

const call = passkeyApi();
const NEW_PASSWORD = 'a-new-and-unusual-passphrase';

const list = async (token: string) => {
  const res = await call('/auth/passkeys', { token });
  expect(res.status).toBe(200);
  return (await res.json()) as { passkeys: { id: string; name: string }[]; password: boolean };
};

const remove = (token: string, id: string, body?: Record<string, unknown>) =>
  call(`/auth/passkeys/${id}`, { method: 'DELETE', token, ...(body ? { json: body } : {}) });

describe('signing up with a passkey', () => {
  it('creates a user without a password, signed in at once, who then signs in with the passkey alone', async () => {
    const username = uniqueName('pkup');
    const { lines } = await captureAudit(async () => {
      const { held, tokens } = await signUp(call, username, 'EdDSA');
      expect(tokens).toMatchObject({ token_type: 'Bearer', user: { username, role: 'user', mfa_enabled: false } });
      expect(held.userHandle).toBe(b64url(tokens.user.id));
      expect(await list(tokens.access_token)).toMatchObject({ password: false, passkeys: [{ name: 'Passkey' }] });
      const again = await signInWithPasskey(call, held);
      expect(again.user.id).toBe(tokens.user.id);
    });
    expect(lines.map((l) => l.event)).toEqual(
      expect.arrayContaining(['register', 'passkey_registered', 'login_success']),
    );
    // No password opens it: not the empty string, not the marker stored in its place.
    for (const password of ['!no-password', 'x'.repeat(8)]) {
      const res = await call('/auth/login', { json: { username, password } });
      await expectProblem(res, 401, 'invalid_credentials');
    }
  });

  it('refuses a taken username at the options, and one taken meanwhile at the verification, storing nothing', async () => {
    const taken = await register();
    await expectProblem(
      await call('/auth/passkeys/sign-up/options', { json: { username: taken.username.toUpperCase() } }),
      409,
      'username_taken',
    );

    const username = uniqueName('pkup');
    const res = await call('/auth/passkeys/sign-up/options', { json: { username } });
    const options = (await res.json()) as CreationOptions;
    await register(username); // a password sign-up gets there first
    const credential = await newCredential();
    const response = await attestation(credential, {
      challenge: options.challenge,
      rpId: options.rp.id,
      origin: 'https://auth.example.test',
    });
    const verified = await call('/auth/passkeys/sign-up/verify', { json: { credential: response } });
    await expectProblem(verified, 409, 'username_taken');
    const stored = await env.DB.prepare('SELECT count(*) AS n FROM passkeys WHERE id = ?')
      .bind(b64url(credential.id))
      .first();
    expect(stored).toEqual({ n: 0 });
  });

  it('counts against the address’s registrations, as a password sign-up does', async () => {
    const limited = passkeyApi({ REGISTER_IP_MAX: '1' });
    const headers = { 'CF-Connecting-IP': '192.0.2.77' };
    const first = await limited('/auth/passkeys/sign-up/options', { json: { username: uniqueName() }, headers });
    expect(first.status).toBe(200);
    const second = await limited('/auth/passkeys/sign-up/options', { json: { username: uniqueName() }, headers });
    await expectProblem(second, 429, 'too_many_registrations');
  });

  it('cannot use a sign-up challenge to add a passkey, nor a registration challenge to sign up', async () => {
    const username = uniqueName('pkup');
    const res = await call('/auth/passkeys/sign-up/options', { json: { username } });
    const options = (await res.json()) as CreationOptions;
    const response = await attestation(await newCredential(), {
      challenge: options.challenge,
      rpId: options.rp.id,
      origin: 'https://auth.example.test',
    });
    const { token } = await signedIn('pk');
    const misused = await call('/auth/passkeys/register/verify', { json: { credential: response }, token });
    await expectProblem(misused, 400, 'invalid_passkey_challenge');
  });
});

describe('an account without a password', () => {
  it('adds a password with a recent passkey sign-in, and then signs in with it too', async () => {
    const username = uniqueName('pkup');
    const { held, tokens } = await signUp(call, username);
    await ageSignIn(sessionIdOf(tokens.access_token), 6);
    const stale = await call('/auth/password/add', {
      json: { new_password: NEW_PASSWORD },
      token: tokens.access_token,
    });
    await expectProblem(stale, 403, 'reauthentication_required');

    const fresh = await signInWithPasskey(call, held);
    const { lines } = await captureAudit(async () => {
      const added = await call('/auth/password/add', {
        json: { new_password: NEW_PASSWORD },
        token: fresh.access_token,
      });
      expect(added.status).toBe(204);
    });
    expect(lines.map((l) => l.event)).toContain('password_added');
    expect((await login(username, NEW_PASSWORD)).user.username).toBe(username);
    expect((await list(fresh.access_token)).password).toBe(true);
    // Only once: a password is changed with the current one, never replaced this way.
    const again = await call('/auth/password/add', { json: { new_password: NEW_PASSWORD }, token: fresh.access_token });
    await expectProblem(again, 409, 'password_already_set');
  });

  it('checks the new password like registration does', async () => {
    const { tokens } = await signUp(call, uniqueName('pkup'));
    const short = await call('/auth/password/add', { json: { new_password: 'short' }, token: tokens.access_token });
    await expectProblem(short, 400, 'validation_failed');
    const common = await call('/auth/password/add', {
      json: { new_password: 'password123' },
      token: tokens.access_token,
    });
    await expectProblem(common, 400, 'password_too_common');
  });

  it('adds more passkeys with a recent passkey sign-in instead of a password', async () => {
    const { held, tokens } = await signUp(call, uniqueName('pkup'));
    const second = await addPasskey(call, tokens.access_token, { body: {} });
    expect((await list(tokens.access_token)).passkeys).toHaveLength(2);
    await signInWithPasskey(call, second);

    await ageSignIn(sessionIdOf(tokens.access_token), 6);
    const stale = await call('/auth/passkeys/register/options', { method: 'POST', token: tokens.access_token });
    await expectProblem(stale, 403, 'reauthentication_required');
    // A password sign-in would not do either (there is none); a fresh passkey sign-in does.
    const fresh = await signInWithPasskey(call, held);
    expect((await call('/auth/passkeys/register/options', { method: 'POST', token: fresh.access_token })).status).toBe(
      200,
    );
  });

  it('cannot remove its last passkey while it has no password', async () => {
    const { held, tokens } = await signUp(call, uniqueName('pkup'));
    const token = tokens.access_token;
    await expectProblem(await remove(token, b64url(held.id)), 409, 'last_passkey');
    const second = await addPasskey(call, token, { body: {} });
    expect((await remove(token, b64url(held.id))).status).toBe(204);
    await expectProblem(await remove(token, b64url(second.id)), 409, 'last_passkey');
    expect(await call('/auth/password/add', { json: { new_password: NEW_PASSWORD }, token })).toHaveProperty(
      'status',
      204,
    );
    expect((await remove(token, b64url(second.id))).status).toBe(204);
    expect((await list(token)).passkeys).toEqual([]);
  });

  it('two parallel removals cannot take both of its passkeys', async () => {
    const { held, tokens } = await signUp(call, uniqueName('pkup'));
    const token = tokens.access_token;
    const second = await addPasskey(call, token, { body: {} });
    const answers = await Promise.all([remove(token, b64url(held.id)), remove(token, b64url(second.id))]);
    expect(answers.map((r) => r.status).sort()).toEqual([204, 409]);
    expect((await list(token)).passkeys).toHaveLength(1);
  });

  it('still gets the admin’s password reset and MFA reset', async () => {
    const admin = await signedInAdmin();
    const username = uniqueName('pkup');
    const { tokens } = await signUp(call, username);
    const userId = tokens.user.id;
    const mfa = await call(`/admin/users/${userId}/mfa`, { method: 'DELETE', token: admin.token });
    expect(mfa.status).toBe(204);
    const issued = await call(`/admin/users/${userId}/password-reset`, { method: 'POST', token: admin.token });
    expect(issued.status).toBe(201);
    const { reset_token } = (await issued.json()) as { reset_token: string };
    const reset = await call('/auth/password/reset', { json: { reset_token, new_password: NEW_PASSWORD } });
    expect(reset.status).toBe(204);
    expect((await login(username, NEW_PASSWORD)).user.id).toBe(userId);
  });
});

describe('managing passkeys', () => {
  it('lists them oldest first, renames one, and answers 404 for another user’s', async () => {
    const { token } = await signedIn('pk');
    const first = await addPasskey(call, token, { name: 'Phone' });
    const second = await addPasskey(call, token);
    expect((await list(token)).passkeys.map((p) => [p.id, p.name])).toEqual([
      [b64url(first.id), 'Phone'],
      [b64url(second.id), 'Passkey'],
    ]);
    const { lines } = await captureAudit(async () => {
      const renamed = await call(`/auth/passkeys/${b64url(second.id)}`, {
        method: 'PATCH',
        json: { name: '  Work laptop ' },
        token,
      });
      expect(renamed.status).toBe(200);
      expect(((await renamed.json()) as { passkey: { name: string } }).passkey.name).toBe('Work laptop');
    });
    expect(lines.find((l) => l.event === 'passkey_renamed')).toMatchObject({ passkey_id: b64url(second.id) });

    const other = await signedIn('pk');
    const theirs = await call(`/auth/passkeys/${b64url(first.id)}`, {
      method: 'PATCH',
      json: { name: 'Mine' },
      token: other.token,
    });
    await expectProblem(theirs, 404, 'not_found');
    await expectProblem(await remove(other.token, b64url(first.id)), 404, 'not_found');
    const blank = await call(`/auth/passkeys/${b64url(first.id)}`, { method: 'PATCH', json: { name: '   ' }, token });
    await expectProblem(blank, 400, 'validation_failed');
  });

  it('removes one after a recent sign-in, or else with the current password, and audits it', async () => {
    const { tokens, token } = await signedIn('pk');
    const held = await addPasskey(call, token);
    await ageSignIn(sessionIdOf(tokens.access_token), 6);
    await expectProblem(await remove(token, b64url(held.id)), 403, 'reauthentication_required');
    await expectProblem(
      await remove(token, b64url(held.id), { current_password: 'wrong-password' }),
      401,
      'invalid_credentials',
    );
    const { lines } = await captureAudit(async () =>
      expect((await remove(token, b64url(held.id), { current_password: PASSWORD })).status).toBe(204),
    );
    expect(lines.find((l) => l.event === 'passkey_removed')).toMatchObject({ passkey_id: b64url(held.id) });
    await expectProblem(await verifySignIn(call, await signInResponse(call, held)), 401, 'unknown_passkey');
  });

  it('needs an access token for every call', async () => {
    for (const [path, init] of [
      ['/auth/passkeys', {}],
      ['/auth/passkeys/register/options', { method: 'POST' }],
      ['/auth/passkeys/x', { method: 'DELETE' }],
      ['/auth/password/add', { json: { new_password: NEW_PASSWORD } }],
    ] as const) {
      await expectProblem(await call(path, init), 401, 'unauthorized');
    }
  });
});
