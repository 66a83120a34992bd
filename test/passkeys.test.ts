/**
 * Passkeys through the Worker: adding one to a signed-in account, and signing in with it,
 * with responses made by a fake authenticator (test/webauthn.ts) from the specs, so each
 * check of the ceremony is met by a response that fails exactly it.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  captureAudit,
  enrolTotp,
  expectProblem,
  loginForChallenge,
  ORIGIN,
  PASSWORD,
  sessionIdOf,
  signedIn,
  uniqueName,
} from './helpers';
import { b64url, fromB64url } from './jwt';
import {
  addPasskey,
  passkeyApi,
  registerOptions,
  RP_ID,
  signInOptions,
  signInResponse,
  signInWithPasskey,
  signUp,
  verifySignIn,
} from './passkey-support';
import { attestation, cbor, FLAGS, newCredential } from './webauthn';

afterEach(() => vi.restoreAllMocks());

const call = passkeyApi();

/** Registration options and a response to them from a new credential, bent as asked. */
async function registration(token: string, bend: Parameters<typeof attestation>[2] = {}) {
  const options = await registerOptions(call, token);
  const credential = await newCredential();
  const response = await attestation(credential, { challenge: options.challenge, rpId: RP_ID, origin: ORIGIN }, bend);
  return { options, credential, response };
}

const verifyRegistration = (token: string, credential: unknown, name?: string) =>
  call('/auth/passkeys/register/verify', { json: { credential, ...(name ? { name } : {}) }, token });

const listPasskeys = async (token: string) => {
  const res = await call('/auth/passkeys', { token });
  expect(res.status).toBe(200);
  return (await res.json()) as {
    passkeys: { id: string; name: string; backed_up: boolean; device_type: string; last_used_at: string | null }[];
    password: boolean;
  };
};

describe('adding a passkey to a signed-in account', () => {
  it('makes options that ask for a discoverable, user-verified passkey, and stores the response', async () => {
    const { user, token } = await signedIn('pk');
    const { options, credential, response } = await registration(token);
    expect(options.rp).toEqual({ id: RP_ID, name: 'edge-auth' });
    // The user handle is the user's id, never the username.
    expect(options.user).toEqual({ id: b64url(user.id), name: user.username, displayName: user.username });
    expect(options.pubKeyCredParams.map((p) => p.alg)).toEqual([-7, -8, -257]);
    expect(options.authenticatorSelection).toEqual({
      residentKey: 'required',
      requireResidentKey: true,
      userVerification: 'required',
    });
    expect(options.attestation).toBe('none');
    expect(options.timeout).toBe(300_000);
    expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const res = await verifyRegistration(token, response, 'Laptop');
    expect(res.status).toBe(201);
    const { passkey } = (await res.json()) as { passkey: Record<string, unknown> };
    expect(passkey).toMatchObject({
      id: b64url(credential.id),
      name: 'Laptop',
      backed_up: true,
      device_type: 'multi_device',
      last_used_at: null,
      transports: ['internal', 'hybrid'],
    });
    expect((await listPasskeys(token)).passkeys.map((p) => p.id)).toEqual([b64url(credential.id)]);

    // The next options exclude it, so the authenticator will not make a second one.
    const again = await registerOptions(call, token);
    expect(again.excludeCredentials).toEqual([
      { type: 'public-key', id: b64url(credential.id), transports: ['internal', 'hybrid'] },
    ]);
  });

  for (const alg of ['ES256', 'EdDSA', 'RS256'] as const) {
    it(`registers and signs in with an ${alg} passkey`, async () => {
      const { token } = await signedIn('pk');
      const held = await addPasskey(call, token, { alg });
      const tokens = await signInWithPasskey(call, held);
      const me = await call('/auth/me', { token: tokens.access_token });
      expect(me.status).toBe(200);
    });
  }

  it('needs the current password, then a code when two-factor is on: the access token alone adds nothing', async () => {
    const { token } = await signedIn('pk');
    const missing = await call('/auth/passkeys/register/options', { method: 'POST', token });
    const body = await expectProblem(missing, 400, 'validation_failed');
    expect(body.errors).toEqual([{ field: 'current_password', message: 'Current password is required.' }]);
    const wrong = await call('/auth/passkeys/register/options', {
      json: { current_password: 'not-the-password' },
      token,
    });
    await expectProblem(wrong, 401, 'invalid_credentials');

    const { recoveryCodes } = await enrolTotp(token);
    const noCode = await call('/auth/passkeys/register/options', { json: { current_password: PASSWORD }, token });
    expect((await expectProblem(noCode, 400, 'validation_failed')).errors).toEqual([
      { field: 'code', message: 'Code is required.' },
    ]);
    const badCode = await call('/auth/passkeys/register/options', {
      json: { current_password: PASSWORD, code: '000000' },
      token,
    });
    await expectProblem(badCode, 401, 'invalid_mfa_code');
    await addPasskey(call, token, { body: { current_password: PASSWORD, code: recoveryCodes[0] } });
    // The recovery code was spent by that proof.
    const spent = await call('/auth/passkeys/register/options', {
      json: { current_password: PASSWORD, code: recoveryCodes[0] },
      token,
    });
    await expectProblem(spent, 401, 'invalid_mfa_code');
  });

  it('binds the challenge to the user it was made for, and uses it once', async () => {
    const alice = await signedIn('pk');
    const bob = await signedIn('pk');
    const { response } = await registration(alice.token);
    // Bob presents Alice's challenge: no challenge of his.
    await expectProblem(await verifyRegistration(bob.token, response), 400, 'invalid_passkey_challenge');
    // ... and it is gone for Alice too: a challenge works once, whoever tries it.
    await expectProblem(await verifyRegistration(alice.token, response), 400, 'invalid_passkey_challenge');

    const fresh = await registration(alice.token);
    expect((await verifyRegistration(alice.token, fresh.response)).status).toBe(201);
    await expectProblem(await verifyRegistration(alice.token, fresh.response), 400, 'invalid_passkey_challenge');
  });

  it('refuses an expired challenge', async () => {
    const { token } = await signedIn('pk');
    const { response } = await registration(token);
    await env.DB.prepare('UPDATE passkey_challenges SET expires_at = ?')
      .bind(Date.now() - 1)
      .run();
    await expectProblem(await verifyRegistration(token, response), 400, 'invalid_passkey_challenge');
  });

  it.each([
    ['another origin', { origin: 'https://evil.example' }, 'passkey_origin_mismatch'],
    ['a frame of another site', { crossOrigin: true }, 'passkey_origin_mismatch'],
    ['another RP ID', { rpId: 'evil.example' }, 'passkey_rp_id_mismatch'],
    ['no user verification', { flags: FLAGS.UP | FLAGS.AT }, 'passkey_user_not_verified'],
    ['no user presence', { flags: FLAGS.UV | FLAGS.AT }, 'passkey_user_not_verified'],
    ['backed up but not backup eligible', { flags: FLAGS.UP | FLAGS.UV | FLAGS.BS | FLAGS.AT }, 'invalid_passkey'],
    ['no credential data', { flags: FLAGS.UP | FLAGS.UV }, 'invalid_passkey'],
    ['the sign-in ceremony’s type', { type: 'webauthn.get' }, 'invalid_passkey'],
    ['another id than the credential’s', { rawId: new Uint8Array([1, 2, 3]) }, 'invalid_passkey'],
  ])('refuses a response from %s (%s)', async (_what, bend, code) => {
    const { token } = await signedIn('pk');
    const { response } = await registration(token, bend);
    const { lines } = await captureAudit(async () =>
      expectProblem(await verifyRegistration(token, response), 400, code),
    );
    expect(lines.find((l) => l.event === 'passkey_failure')).toMatchObject({ reason: code });
    expect((await listPasskeys(token)).passkeys).toEqual([]);
  });

  it('refuses keys of algorithms the options did not offer, and malformed keys', async () => {
    const { token } = await signedIn('pk');
    const credential = await newCredential('ES256');
    const jwk = (await crypto.subtle.exportKey('jwk', credential.keys.publicKey)) as JsonWebKey;
    const coseKey = (alg: number, crv = 1) =>
      cbor(
        new Map<number, number | Uint8Array>([
          [1, 2],
          [3, alg],
          [-1, crv],
          [-2, fromB64url(jwk.x!)],
          [-3, fromB64url(jwk.y!)],
        ]),
      );
    for (const cose of [coseKey(-35), coseKey(-7, 2), coseKey(-257), cbor(new Map([[1, 2]]))]) {
      const options = await registerOptions(call, token);
      const response = await attestation(
        { ...credential, cose },
        { challenge: options.challenge, rpId: RP_ID, origin: ORIGIN },
      );
      await expectProblem(await verifyRegistration(token, response), 400, 'invalid_passkey');
    }
  });

  it('refuses a credential registered before, to this account or another', async () => {
    const alice = await signedIn('pk');
    const bob = await signedIn('pk');
    const credential = await newCredential();
    for (const [who, status] of [
      [alice, 201],
      [alice, 409],
      [bob, 409],
    ] as const) {
      const options = await registerOptions(call, who.token);
      const response = await attestation(credential, { challenge: options.challenge, rpId: RP_ID, origin: ORIGIN });
      const res = await verifyRegistration(who.token, response);
      if (status === 201) expect(res.status).toBe(201);
      else await expectProblem(res, 409, 'passkey_already_registered');
    }
    expect((await listPasskeys(bob.token)).passkeys).toEqual([]);
  });

  it('holds at most ten passkeys per user, however many registrations run at once', async () => {
    // An account made with a passkey proves itself with that sign-in: no PBKDF2 per option.
    const { tokens } = await signUp(call, uniqueName('pk'));
    const token = tokens.access_token;
    const pending = [];
    for (let i = 0; i < 10; i++) {
      const options = await registerOptions(call, token, {});
      const response = await attestation(await newCredential(), {
        challenge: options.challenge,
        rpId: RP_ID,
        origin: ORIGIN,
      });
      pending.push(response);
    }
    // Ten options were made while one passkey was held; the inserts themselves keep the cap.
    const answers = await Promise.all(pending.map((response) => verifyRegistration(token, response)));
    expect(answers.filter((r) => r.status === 201)).toHaveLength(9);
    await expectProblem(
      answers.find((r) => r.status !== 201)!,
      409,
      'passkey_limit_reached',
    );
    expect((await listPasskeys(token)).passkeys).toHaveLength(10);
    const options = await call('/auth/passkeys/register/options', { method: 'POST', token });
    await expectProblem(options, 409, 'passkey_limit_reached');
  });
});

describe('signing in with a passkey', () => {
  it('needs no username: the options list no credentials, and the answer is login’s, with a session that records hwk', async () => {
    const { user, token } = await signedIn('pk');
    const held = await addPasskey(call, token);
    const options = await signInOptions(call);
    expect(options).toEqual({
      challenge: expect.any(String),
      rpId: RP_ID,
      timeout: 300_000,
      userVerification: 'required',
    });

    const response = await signInResponse(call, held, { challenge: options.challenge });
    const { lines } = await captureAudit(async () => {
      const res = await verifySignIn(call, response);
      expect(res.status).toBe(200);
      const tokens = (await res.json()) as Record<string, unknown>;
      expect(tokens).toMatchObject({
        token_type: 'Bearer',
        access_token: expect.any(String),
        refresh_token: expect.any(String),
        user: { id: user.id, username: user.username },
      });
      const session = await env.DB.prepare('SELECT amr, auth_time FROM sessions WHERE id = ?')
        .bind(sessionIdOf(tokens.access_token as string))
        .first<{ amr: string; auth_time: number }>();
      expect(session!.amr).toBe('hwk user');
      expect(Date.now() - session!.auth_time).toBeLessThan(60_000);
      // The refresh token works like a login's.
      const refreshed = await call('/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
      expect(refreshed.status).toBe(200);
    });
    expect(lines.find((l) => l.event === 'login_success')).toMatchObject({ user_id: user.id, method: 'passkey' });
    const [listed] = (await listPasskeys(token)).passkeys;
    expect(listed!.last_used_at).not.toBeNull();
  });

  it('delivers the refresh token in the cookie when asked, as login does', async () => {
    const { token } = await signedIn('pk');
    const held = await addPasskey(call, token);
    const res = await verifySignIn(call, await signInResponse(call, held), { refresh_token_delivery: 'cookie' });
    expect(res.status).toBe(200);
    expect(await res.json()).not.toHaveProperty('refresh_token');
    expect(res.headers.get('Set-Cookie')).toMatch(/^__Host-edge-auth-refresh=.+; .*HttpOnly/);
  });

  it('counts as two factors: a user with TOTP on gets tokens, not mfa_required', async () => {
    const { user, token } = await signedIn('pk');
    const { recoveryCodes } = await enrolTotp(token);
    await loginForChallenge(user.username);
    const held = await addPasskey(call, token, { body: { current_password: PASSWORD, code: recoveryCodes[0] } });
    const tokens = await signInWithPasskey(call, held);
    expect(tokens.user).toMatchObject({ id: user.id, mfa_enabled: true });
  });

  it('with a username, offers that user’s passkeys only and accepts no other account’s', async () => {
    const alice = await signedIn('pk');
    const bob = await signedIn('pk');
    const alicePasskey = await addPasskey(call, alice.token);
    const bobPasskey = await addPasskey(call, bob.token);
    const options = await signInOptions(call, { username: alice.user.username.toUpperCase() });
    expect(options.allowCredentials).toEqual([
      { type: 'public-key', id: b64url(alicePasskey.id), transports: ['internal', 'hybrid'] },
    ]);
    const bobs = await signInResponse(call, bobPasskey, { challenge: options.challenge });
    await expectProblem(await verifySignIn(call, bobs), 401, 'unknown_passkey');
    const tokens = await signInWithPasskey(call, alicePasskey, { username: alice.user.username });
    expect(tokens.user.id).toBe(alice.user.id);
    // A name with no passkeys gets an empty list (and can still be answered by none but its own).
    const nobody = await signInOptions(call, { username: uniqueName('nobody') });
    expect(nobody.allowCredentials).toEqual([]);
  });

  it('refuses a passkey that is not registered, and a user handle that is not its owner’s', async () => {
    const { token } = await signedIn('pk');
    const held = await addPasskey(call, token);
    const stranger = { ...(await newCredential()), userHandle: held.userHandle, counter: 0 };
    await expectProblem(await verifySignIn(call, await signInResponse(call, stranger)), 401, 'unknown_passkey');
    const other = await signedIn('pk');
    const posing = await signInResponse(call, held, { bend: { userHandle: b64url(other.user.id) } });
    await expectProblem(await verifySignIn(call, posing), 401, 'unknown_passkey');
  });

  it.each([
    ['another origin', { origin: 'https://evil.example' }, 'passkey_origin_mismatch'],
    ['an http page of the same host', { origin: 'http://auth.example.test' }, 'passkey_origin_mismatch'],
    ['a frame of another site', { crossOrigin: true, topOrigin: 'https://evil.example' }, 'passkey_origin_mismatch'],
    ['another RP ID', { rpId: 'evil.example' }, 'passkey_rp_id_mismatch'],
    ['no user verification', { flags: FLAGS.UP }, 'passkey_user_not_verified'],
    ['no user presence', { flags: FLAGS.UV }, 'passkey_user_not_verified'],
    ['a bad signature', { badSignature: true }, 'invalid_passkey'],
    ['the registration ceremony’s type', { type: 'webauthn.create' }, 'invalid_passkey'],
    [
      'a challenge the service never made',
      { challenge: b64url(crypto.getRandomValues(new Uint8Array(32))) },
      'invalid_passkey_challenge',
    ],
  ])('refuses a response from %s (%s)', async (_what, bend, code) => {
    const { token } = await signedIn('pk');
    const held = await addPasskey(call, token);
    const response = await signInResponse(call, held, { bend });
    const { lines } = await captureAudit(async () => expectProblem(await verifySignIn(call, response), 401, code));
    expect(lines.find((l) => l.event === 'login_failure')).toMatchObject({ reason: code, method: 'passkey' });
  });

  it('uses a challenge once, and not after five minutes', async () => {
    const { token } = await signedIn('pk');
    const held = await addPasskey(call, token);
    const response = await signInResponse(call, held);
    // Two at once: exactly one gets the challenge.
    const [first, second] = await Promise.all([verifySignIn(call, response), verifySignIn(call, response)]);
    expect([first.status, second.status].sort()).toEqual([200, 401]);
    await expectProblem(first.status === 401 ? first : second, 401, 'invalid_passkey_challenge');
    await expectProblem(await verifySignIn(call, response), 401, 'invalid_passkey_challenge');

    const late = await signInResponse(call, held);
    await env.DB.prepare('UPDATE passkey_challenges SET expires_at = ?')
      .bind(Date.now() - 1)
      .run();
    await expectProblem(await verifySignIn(call, late), 401, 'invalid_passkey_challenge');
  });

  it('refuses a signature counter that goes backwards (or stands still), and audits it; zero is no counter', async () => {
    const { user, token } = await signedIn('pk');
    const held = await addPasskey(call, token);
    // An authenticator without a counter sends 0 every time.
    await signInWithPasskey(call, held, { counter: 0 });
    await signInWithPasskey(call, held, { counter: 0 });
    await signInWithPasskey(call, held, { counter: 5 });
    for (const counter of [5, 3]) {
      const response = await signInResponse(call, held, { counter });
      const { lines } = await captureAudit(async () =>
        expectProblem(await verifySignIn(call, response), 401, 'passkey_counter_regressed'),
      );
      expect(lines.find((l) => l.event === 'passkey_counter_regressed')).toMatchObject({
        user_id: user.id,
        passkey_id: b64url(held.id),
      });
    }
    await signInWithPasskey(call, held, { counter: 6 });
    const stored = await env.DB.prepare('SELECT sign_count FROM passkeys WHERE id = ?').bind(b64url(held.id)).first();
    expect(stored).toEqual({ sign_count: 6 });
  });

  it('is throttled per address like a login: failures count, a success takes its count back', async () => {
    const throttled = passkeyApi({ LOGIN_IP_MAX_FAILURES: '3' });
    const address = { 'CF-Connecting-IP': `203.0.113.${Math.floor(Math.random() * 200) + 1}` };
    const { token } = await signedIn('pk');
    const held = await addPasskey(throttled, token);
    const stranger = { ...(await newCredential()), userHandle: held.userHandle, counter: 0 };
    const ok = await verifySignIn(throttled, await signInResponse(throttled, held), {}, address);
    expect(ok.status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const res = await verifySignIn(throttled, await signInResponse(throttled, stranger), {}, address);
      await expectProblem(res, 401, 'unknown_passkey');
    }
    const locked = await verifySignIn(throttled, await signInResponse(throttled, held), {}, address);
    await expectProblem(locked, 429, 'too_many_attempts');
    expect(Number(locked.headers.get('Retry-After'))).toBeGreaterThan(0);
  });

  it('limits the sign-in options an address may start', async () => {
    const limited = passkeyApi({ PASSKEY_OPTIONS_IP_MAX: '2' });
    const address = { 'CF-Connecting-IP': `198.51.100.${Math.floor(Math.random() * 200) + 1}` };
    await signInOptions(limited, undefined, address);
    await signInOptions(limited, undefined, address);
    const before = await env.DB.prepare('SELECT count(*) AS n FROM passkey_challenges').first<{ n: number }>();
    const res = await limited('/auth/passkeys/sign-in/options', { method: 'POST', headers: address });
    await expectProblem(res, 429, 'too_many_attempts');
    // Refused, and nothing stored.
    const after = await env.DB.prepare('SELECT count(*) AS n FROM passkey_challenges').first<{ n: number }>();
    expect(after!.n).toBe(before!.n);
  });

  it('no longer signs in with a removed passkey, nor with any passkey of a deleted user', async () => {
    const { token } = await signedIn('pk');
    const held = await addPasskey(call, token, { name: 'first' });
    const id = b64url(held.id);
    expect((await call(`/auth/passkeys/${id}`, { method: 'DELETE', token })).status).toBe(204);
    await expectProblem(await verifySignIn(call, await signInResponse(call, held)), 401, 'unknown_passkey');

    const admin = await signedIn('admin');
    await env.DB.prepare("UPDATE users SET role = 'admin' WHERE id = ?").bind(admin.user.id).run();
    const doomed = await signedIn('pk');
    const theirs = await addPasskey(call, doomed.token);
    expect((await call(`/admin/users/${doomed.user.id}`, { method: 'DELETE', token: admin.token })).status).toBe(204);
    const left = await env.DB.prepare('SELECT count(*) AS n FROM passkeys WHERE user_id = ?')
      .bind(doomed.user.id)
      .first();
    expect(left).toEqual({ n: 0 });
    await expectProblem(await verifySignIn(call, await signInResponse(call, theirs)), 401, 'unknown_passkey');
  });

  it('makes no session when a logout-all commits between the checks and the writes', async () => {
    const { user, token } = await signedIn('pk');
    const held = await addPasskey(call, token);
    const response = await signInResponse(call, held);
    // The sign-in's second batch (its writes) waits until the logout-all has committed.
    let reached!: () => void;
    let release!: () => void;
    const atWrites = new Promise<void>((resolve) => (reached = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    let batches = 0;
    const gated = {
      prepare: (query: string) => env.DB.prepare(query),
      batch: async (statements: D1PreparedStatement[]) => {
        if (++batches === 2) {
          reached();
          await released;
        }
        return env.DB.batch(statements);
      },
      withSession: () => env.DB.withSession(),
    } as unknown as D1Database;
    const pending = passkeyApi({ DB: gated })('/auth/passkeys/sign-in/verify', { json: { credential: response } });
    await atWrites;
    expect((await call('/auth/logout-all', { method: 'POST', token })).status).toBe(204);
    const before = await env.DB.prepare('SELECT count(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL')
      .bind(user.id)
      .first<{ n: number }>();
    release();
    await expectProblem(await pending, 401, 'invalid_passkey_challenge');
    const after = await env.DB.prepare('SELECT count(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL')
      .bind(user.id)
      .first<{ n: number }>();
    expect(after!.n).toBe(before!.n);
  });
});

describe('configuration', () => {
  const unset = () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    return passkeyApi({ WEBAUTHN_RP_ID: '' });
  };

  it('answers 500 misconfigured outside loopback without WEBAUTHN_RP_ID, and logs which variable', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await passkeyApi({ WEBAUTHN_RP_ID: '' })('/auth/passkeys/sign-in/options', { method: 'POST' });
    await expectProblem(res, 500, 'misconfigured');
    expect(spy.mock.calls.join('\n')).toContain('WEBAUTHN_RP_ID is not set');
    spy.mockRestore();
  });

  it('uses localhost as the RP ID on loopback, and refuses 127.0.0.1, which browsers refuse as an RP ID', async () => {
    const local = await unset()('http://localhost:8787/auth/passkeys/sign-in/options', { method: 'POST' });
    expect(local.status).toBe(200);
    expect(((await local.json()) as { rpId: string }).rpId).toBe('localhost');
    const ip = await unset()('http://127.0.0.1:8787/auth/passkeys/sign-in/options', { method: 'POST' });
    const problem = await expectProblem(ip, 500, 'misconfigured');
    expect(problem.detail).toContain('http://localhost:8787');
  });

  it('accepts the origins of CORS_ORIGINS on the RP ID, and only those', async () => {
    const shared = passkeyApi({ CORS_ORIGINS: 'https://app.example.test https://elsewhere.example' });
    const { token } = await signedIn('pk');
    const held = await addPasskey(shared, token, { origin: 'https://app.example.test' });
    const fromApp = await signInResponse(shared, held, { origin: 'https://app.example.test' });
    expect((await verifySignIn(shared, fromApp)).status).toBe(200);
    const fromElsewhere = await signInResponse(shared, held, { origin: 'https://elsewhere.example' });
    await expectProblem(await verifySignIn(shared, fromElsewhere), 401, 'passkey_origin_mismatch');
  });

  it('takes WEBAUTHN_ORIGINS instead, when set', async () => {
    const listed = passkeyApi({ WEBAUTHN_ORIGINS: 'https://id.example.test' });
    const { token } = await signedIn('pk');
    const held = await addPasskey(listed, token, { origin: 'https://id.example.test' });
    const own = await signInResponse(listed, held, { origin: ORIGIN });
    await expectProblem(await verifySignIn(listed, own), 401, 'passkey_origin_mismatch');
  });
});
