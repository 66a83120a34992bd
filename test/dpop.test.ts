/**
 * DPoP-bound sessions (RFC 9449): a login with a proof binds the session to the key; its
 * access tokens then work only with a fresh proof of that key, and its refresh token only with
 * a proof of that key. Every rule of the proof check, replay at login (D1) and on protected
 * routes (the isolate), and server nonces.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup } from '../src/index';
import { currentNonce, isCurrentNonce } from '../src/dpop/nonce';
import { spendInIsolate } from '../src/dpop/replay';
import { parseConfig } from '../src/platform/config';
import {
  api,
  appWith,
  captureAudit,
  enrolTotp,
  expectProblem,
  login,
  loginForChallenge,
  ORIGIN,
  PASSWORD,
  register,
  sessionIdOf,
  type Api,
  type Tokens,
  uniqueName,
} from './helpers';
import { addPasskey, signInResponse, verifySignIn, type CreationOptions } from './passkey-support';
import { attestation, newCredential } from './webauthn';
import { badProofs, dpopAuth, dpopKey, sha256B64url, type DpopKey } from './dpop';
import { decodePart } from './jwt';
import { totp } from './totp';

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

type DpopTokens = Tokens & { token_type: string };

/** Logs a fresh user in with a proof of `key`: a DPoP-bound session. */
async function boundSession(key: DpopKey, call: Api = api) {
  const user = await register();
  const res = await call('/auth/login', {
    json: { username: user.username, password: PASSWORD },
    headers: { DPoP: await key.proof('POST', '/auth/login') },
  });
  expect(res.status).toBe(200);
  return { user, tokens: (await res.json()) as DpopTokens };
}

/** GET /auth/me with a bound token and a proof made by `key` (options tweak the proof). */
async function me(key: DpopKey, token: string, options: Parameters<DpopKey['proof']>[2] = {}, call: Api = api) {
  return call('/auth/me', { headers: dpopAuth(token, await key.proof('GET', '/auth/me', { token, ...options })) });
}

async function refreshWith(refreshToken: string, proof?: string) {
  return api('/auth/refresh', { json: { refresh_token: refreshToken }, headers: proof ? { DPoP: proof } : {} });
}

const sessionKey = async (sessionId: string) =>
  (
    await env.DB.prepare('SELECT dpop_jkt FROM sessions WHERE id = ?')
      .bind(sessionId)
      .first<{ dpop_jkt: string | null }>()
  )?.dpop_jkt;

/** Whether a refresh token has been rotated (spent), as D1 holds it. */
const spent = async (refreshToken: string) =>
  (await env.DB.prepare('SELECT rotated_at FROM refresh_tokens WHERE token_hash = ?')
    .bind(await sha256B64url(refreshToken))
    .first<{ rotated_at: number | null }>())!.rotated_at !== null;

/** The problem of a protected route refusing a proof: 401 with the DPoP challenge. */
async function expectProofRefused(res: Response, detail?: RegExp) {
  const problem = await expectProblem(res, 401, 'invalid_dpop_proof');
  expect(res.headers.get('WWW-Authenticate')).toMatch(
    /^DPoP error="invalid_dpop_proof", error_description="[^"]+", algs="ES256 EdDSA Ed25519"$/,
  );
  if (detail) expect(problem.detail).toMatch(detail);
  return problem;
}

describe('a login with a DPoP proof', () => {
  it('binds the session to the key: token_type DPoP, cnf.jkt in the access token, the thumbprint on the session', async () => {
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    expect(tokens.token_type).toBe('DPoP');
    expect(decodePart(tokens.access_token, 1).cnf).toEqual({ jkt: key.jkt });
    expect(await sessionKey(sessionIdOf(tokens.access_token))).toBe(key.jkt);
  });

  it('binds with an EdDSA key too', async () => {
    const key = await dpopKey('EdDSA');
    const { tokens } = await boundSession(key);
    expect(decodePart(tokens.access_token, 1).cnf).toEqual({ jkt: key.jkt });
    expect((await me(key, tokens.access_token)).status).toBe(200);
  });

  it('without a proof stays a Bearer session, as before', async () => {
    const user = await register();
    const res = await api('/auth/login', { json: { username: user.username, password: PASSWORD } });
    const tokens = (await res.json()) as DpopTokens;
    expect(tokens.token_type).toBe('Bearer');
    expect(decodePart(tokens.access_token, 1)).not.toHaveProperty('cnf');
    expect(await sessionKey(sessionIdOf(tokens.access_token))).toBeNull();
  });

  it('refuses a proof used before, through D1: the spent proof is a row there', async () => {
    const key = await dpopKey();
    const user = await register();
    const proof = await key.proof('POST', '/auth/login');
    const first = await api('/auth/login', {
      json: { username: user.username, password: PASSWORD },
      headers: { DPoP: proof },
    });
    expect(first.status).toBe(200);
    const { count } = (await env.DB.prepare('SELECT COUNT(*) AS count FROM dpop_proofs').first<{ count: number }>())!;
    expect(count).toBeGreaterThan(0);
    // Another app (as another isolate would be) on the same D1: still refused.
    const elsewhere = appWith({ DPOP_PROOF_MAX_AGE: '60' });
    const again = await elsewhere('/auth/login', {
      json: { username: user.username, password: PASSWORD },
      headers: { DPoP: proof },
    });
    const problem = await expectProblem(again, 400, 'invalid_dpop_proof');
    expect(problem.detail).toMatch(/already used/);
  });

  it('refuses a bad proof with 400 invalid_dpop_proof and starts no session', async () => {
    const key = await dpopKey();
    const user = await register();
    const res = await api('/auth/login', {
      json: { username: user.username, password: PASSWORD },
      headers: { DPoP: await key.proof('POST', '/auth/refresh') },
    });
    await expectProblem(res, 400, 'invalid_dpop_proof');
    const { count } = (await env.DB.prepare(
      'SELECT COUNT(*) AS count FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = ?',
    )
      .bind(user.username)
      .first<{ count: number }>())!;
    expect(count).toBe(0);
  });

  it('at the two-factor step binds the session the step completes', async () => {
    const key = await dpopKey();
    const user = await register();
    const login = await api('/auth/login', { json: { username: user.username, password: PASSWORD } });
    const { access_token } = (await login.json()) as Tokens;
    const { secret } = await enrolTotp(access_token);
    const { mfa_token } = await loginForChallenge(user.username);
    // The code just used to confirm the enrolment is spent: wait for the next step's code.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 30_000);
    const res = await api('/auth/mfa/verify', {
      json: { mfa_token, code: await totp(secret) },
      headers: { DPoP: await key.proof('POST', '/auth/mfa/verify') },
    });
    expect(res.status).toBe(200);
    const tokens = (await res.json()) as DpopTokens;
    expect(tokens.token_type).toBe('DPoP');
    expect(decodePart(tokens.access_token, 1).cnf).toEqual({ jkt: key.jkt });
    expect((await me(key, tokens.access_token)).status).toBe(200);
  });
});

describe('a passkey sign-in or sign-up with a DPoP proof', () => {
  /** A password account with a passkey: returns the passkey as the fake authenticator holds it. */
  async function userWithPasskey() {
    const user = await register();
    const { access_token } = await login(user.username);
    return addPasskey(api, access_token);
  }

  it('binds the session the sign-in starts; its refresh then needs a proof of the key', async () => {
    const key = await dpopKey();
    const held = await userWithPasskey();
    const res = await verifySignIn(
      api,
      await signInResponse(api, held),
      {},
      {
        DPoP: await key.proof('POST', '/auth/passkeys/sign-in/verify'),
      },
    );
    expect(res.status).toBe(200);
    const tokens = (await res.json()) as DpopTokens;
    expect(tokens.token_type).toBe('DPoP');
    expect(decodePart(tokens.access_token, 1).cnf).toEqual({ jkt: key.jkt });
    expect(await sessionKey(sessionIdOf(tokens.access_token))).toBe(key.jkt);
    expect((await me(key, tokens.access_token)).status).toBe(200);
    await expectProblem(await refreshWith(tokens.refresh_token), 401, 'invalid_refresh_token');
    expect((await refreshWith(tokens.refresh_token, await key.proof('POST', '/auth/refresh'))).status).toBe(200);
  });

  it('refuses a proof spent before (D1), and a bad proof before the passkey response is looked at', async () => {
    const key = await dpopKey();
    const held = await userWithPasskey();
    const proof = await key.proof('POST', '/auth/passkeys/sign-in/verify');
    const first = await verifySignIn(api, await signInResponse(api, held), {}, { DPoP: proof });
    expect(first.status).toBe(200);
    held.counter += 1;
    const response = await signInResponse(api, held);
    const replayed = await verifySignIn(api, response, {}, { DPoP: proof });
    expect((await expectProblem(replayed, 400, 'invalid_dpop_proof')).detail).toMatch(/already used/);

    held.counter += 1;
    const fresh = await signInResponse(api, held);
    const wrongUrl = await verifySignIn(api, fresh, {}, { DPoP: await key.proof('POST', '/auth/login') });
    await expectProblem(wrongUrl, 400, 'invalid_dpop_proof');
    // Its challenge was not taken: the same response signs in with a good proof.
    const retried = await verifySignIn(
      api,
      fresh,
      {},
      {
        DPoP: await key.proof('POST', '/auth/passkeys/sign-in/verify'),
      },
    );
    expect(retried.status).toBe(200);
  });

  it('binds the session a passkey sign-up starts', async () => {
    const key = await dpopKey();
    const options = await api('/auth/passkeys/sign-up/options', { json: { username: uniqueName() } });
    const created = (await options.json()) as CreationOptions;
    const response = await attestation(await newCredential(), {
      challenge: created.challenge,
      rpId: created.rp.id,
      origin: ORIGIN,
    });
    const res = await api('/auth/passkeys/sign-up/verify', {
      json: { credential: response },
      headers: { DPoP: await key.proof('POST', '/auth/passkeys/sign-up/verify') },
    });
    expect(res.status).toBe(201);
    const tokens = (await res.json()) as DpopTokens;
    expect(tokens.token_type).toBe('DPoP');
    expect(decodePart(tokens.access_token, 1).cnf).toEqual({ jkt: key.jkt });
    expect((await me(key, tokens.access_token)).status).toBe(200);
  });
});

describe('a protected route with a DPoP-bound token', () => {
  it('answers with a fresh proof of the key for each call', async () => {
    const key = await dpopKey();
    const { tokens, user } = await boundSession(key);
    for (let i = 0; i < 2; i++) {
      const res = await me(key, tokens.access_token);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { user: { id: string } }).user.id).toBe(user.id);
    }
    const res = await api('/auth/protected', {
      headers: dpopAuth(tokens.access_token, await key.proof('GET', '/auth/protected', { token: tokens.access_token })),
    });
    expect(res.status).toBe(200);
  });

  it('refuses the token sent as Bearer, with the DPoP challenge naming invalid_token', async () => {
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    const res = await api('/auth/me', { token: tokens.access_token });
    await expectProblem(res, 401, 'invalid_token');
    expect(res.headers.get('WWW-Authenticate')).toMatch(/^DPoP error="invalid_token"/);
    // Even with a valid proof beside it: the scheme must say DPoP.
    const withProof = await api('/auth/me', {
      token: tokens.access_token,
      headers: { DPoP: await key.proof('GET', '/auth/me', { token: tokens.access_token }) },
    });
    await expectProblem(withProof, 401, 'invalid_token');
  });

  it('refuses the token without a proof', async () => {
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    const res = await api('/auth/me', { headers: { Authorization: `DPoP ${tokens.access_token}` } });
    await expectProofRefused(res, /required with a DPoP-bound token/);
  });

  it('refuses a proof made with another key', async () => {
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    await expectProofRefused(await me(await dpopKey(), tokens.access_token), /not made with the key/);
  });

  it('refuses a proof without ath, or with the hash of another token', async () => {
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    const noAth = await key.proof('GET', '/auth/me');
    await expectProofRefused(await api('/auth/me', { headers: dpopAuth(tokens.access_token, noAth) }), /ath/);
    const other = await boundSession(key);
    const wrongAth = await key.proof('GET', '/auth/me', { token: other.tokens.access_token });
    await expectProofRefused(await api('/auth/me', { headers: dpopAuth(tokens.access_token, wrongAth) }), /ath/);
  });

  it('refuses a proof for another method or another URL; the query is not part of htu', async () => {
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    const token = tokens.access_token;
    await expectProofRefused(await me(key, token, { htm: 'POST' }), /htm/);
    await expectProofRefused(await me(key, token, { htm: 'get' }), /htm/);
    await expectProofRefused(await me(key, token, { htu: `${ORIGIN}/auth/protected` }), /htu/);
    await expectProofRefused(await me(key, token, { htu: 'https://evil.example.test/auth/me' }), /htu/);
    await expectProofRefused(await me(key, token, { htu: `http://auth.example.test/auth/me` }), /htu/);
    await expectProofRefused(await me(key, token, { htu: 'not a url' }), /htu/);
    const withQuery = await api('/auth/me?x=1', {
      headers: dpopAuth(token, await key.proof('GET', '/auth/me', { token, htu: `${ORIGIN}/auth/me#part` })),
    });
    expect(withQuery.status).toBe(200);
  });

  it('refuses a proof older than DPOP_PROOF_MAX_AGE or from the future, within a small skew', async () => {
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    const now = Math.floor(Date.now() / 1000);
    await expectProofRefused(
      await me(key, tokens.access_token, { iat: now - 75 }),
      /"iat" claim timestamp check failed \(too far in the past\)/,
    );
    await expectProofRefused(
      await me(key, tokens.access_token, { iat: now + 30 }),
      /"iat" claim timestamp check failed \(it should be in the past\)/,
    );
    expect((await me(key, tokens.access_token, { iat: now - 55 })).status).toBe(200);
    expect((await me(key, tokens.access_token, { iat: now + 5 })).status).toBe(200);
    const shorter = appWith({ DPOP_PROOF_MAX_AGE: '20' });
    await expectProofRefused(await me(key, tokens.access_token, { iat: now - 40 }, shorter), /too far in the past/);
  });

  it('refuses a proof without jti or iat', async () => {
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    await expectProofRefused(await me(key, tokens.access_token, { jti: null }), /jti/);
    await expectProofRefused(await me(key, tokens.access_token, { claims: { iat: undefined } }), /iat/);
    await expectProofRefused(await me(key, tokens.access_token, { claims: { jti: 42 } }), /jti/);
  });

  it('refuses a proof replayed to this isolate', async () => {
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    const proof = await key.proof('GET', '/auth/me', { token: tokens.access_token });
    expect((await api('/auth/me', { headers: dpopAuth(tokens.access_token, proof) })).status).toBe(200);
    await expectProofRefused(await api('/auth/me', { headers: dpopAuth(tokens.access_token, proof) }), /already used/);
    // A jti is remembered with its key: another client's proof with the same jti is its own.
    const otherKey = await dpopKey();
    const other = await boundSession(otherKey);
    const jti = decodePart(proof, 1).jti as string;
    expect((await me(otherKey, other.tokens.access_token, { jti })).status).toBe(200);
  });

  it('refuses a replayed proof by its age alone once it is older than DPOP_PROOF_MAX_AGE plus the skew: the bound for isolates that never saw it', async () => {
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    const proof = await key.proof('GET', '/auth/me', { token: tokens.access_token });
    expect((await api('/auth/me', { headers: dpopAuth(tokens.access_token, proof) })).status).toBe(200);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 71_000);
    await expectProofRefused(
      await api('/auth/me', { headers: dpopAuth(tokens.access_token, proof) }),
      /too far in the past/,
    );
  });

  it('refuses an unbound token sent with the DPoP scheme', async () => {
    const user = await register();
    const login = await api('/auth/login', { json: { username: user.username, password: PASSWORD } });
    const { access_token } = (await login.json()) as Tokens;
    const res = await me(await dpopKey(), access_token);
    await expectProblem(res, 401, 'invalid_token');
    expect(res.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm="edge-auth", error="invalid_token"/);
  });

  it('works on a route whose access check rides in its own batch, and is refused there with the DPoP challenge once the session ends', async () => {
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    const list = async (token: string) =>
      api('/auth/sessions', { headers: dpopAuth(token, await key.proof('GET', '/auth/sessions', { token })) });
    expect((await list(tokens.access_token)).status).toBe(200);
    expect((await api('/auth/logout', { json: { refresh_token: tokens.refresh_token } })).status).toBe(204);
    const res = await list(tokens.access_token);
    await expectProblem(res, 401, 'invalid_token');
    expect(res.headers.get('WWW-Authenticate')).toMatch(/^DPoP error="invalid_token"/);
  });

  it('stops working when the session ends, proof or not', async () => {
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    expect((await api('/auth/logout', { json: { refresh_token: tokens.refresh_token } })).status).toBe(204);
    const res = await me(key, tokens.access_token);
    await expectProblem(res, 401, 'invalid_token');
    expect(res.headers.get('WWW-Authenticate')).toMatch(/^DPoP error="invalid_token"/);
  });
});

describe('bad proofs are refused, never a 500', () => {
  const cases = badProofs('GET', '/auth/me');

  for (const [name, make, detail] of cases) {
    it(`on a protected route: ${name}`, async () => {
      const key = await dpopKey();
      const { tokens } = await boundSession(key);
      const res = await api('/auth/me', {
        headers: dpopAuth(tokens.access_token, await make(key, tokens.access_token)),
      });
      await expectProofRefused(res, detail);
    });
  }

  it('at login: each with 400 invalid_dpop_proof', async () => {
    const user = await register();
    for (const [, make] of cases) {
      const key = await dpopKey();
      const res = await api('/auth/login', {
        json: { username: user.username, password: PASSWORD },
        headers: { DPoP: await make(key, 'unused') },
      });
      await expectProblem(res, 400, 'invalid_dpop_proof');
    }
  });
});

describe('refresh of a DPoP-bound session', () => {
  it('needs a proof of the same key, and answers bound tokens', async () => {
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    const res = await refreshWith(tokens.refresh_token, await key.proof('POST', '/auth/refresh'));
    expect(res.status).toBe(200);
    const next = (await res.json()) as DpopTokens;
    expect(next.token_type).toBe('DPoP');
    expect(decodePart(next.access_token, 1).cnf).toEqual({ jkt: key.jkt });
    expect((await me(key, next.access_token)).status).toBe(200);
  });

  for (const [reason, proof] of [
    ['no_proof', async () => undefined],
    ['other_key', async () => (await dpopKey()).proof('POST', '/auth/refresh')],
  ] as const) {
    it(`refuses it ${reason === 'no_proof' ? 'without a proof' : 'with a proof of another key'}, audits it, and leaves the token unspent`, async () => {
      const key = await dpopKey();
      const { tokens } = await boundSession(key);
      let res: Response | undefined;
      const { lines } = await captureAudit(async () => {
        res = await refreshWith(tokens.refresh_token, await proof());
      });
      const problem = await expectProblem(res!, 401, 'invalid_refresh_token');
      expect(problem.detail).toMatch(/needs a DPoP proof of its key/);
      expect(lines).toEqual([
        expect.objectContaining({
          event: 'refresh_dpop_refused',
          reason,
          session_id: sessionIdOf(tokens.access_token),
        }),
      ]);
      // The token was not spent (not even into the grace window), so its holder is not locked out.
      expect(await spent(tokens.refresh_token)).toBe(false);
      const owner = await refreshWith(tokens.refresh_token, await key.proof('POST', '/auth/refresh'));
      expect(owner.status).toBe(200);
    });
  }

  it('refuses a proof already spent at a refresh (one D1 batch decides), audits it, and spends no token', async () => {
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    const proof = await key.proof('POST', '/auth/refresh');
    const first = (await (await refreshWith(tokens.refresh_token, proof)).json()) as DpopTokens;
    let res: Response | undefined;
    const { lines } = await captureAudit(async () => {
      res = await refreshWith(first.refresh_token, proof);
    });
    await expectProblem(res!, 400, 'invalid_dpop_proof');
    expect(lines).toEqual([expect.objectContaining({ event: 'refresh_dpop_refused', reason: 'replayed_proof' })]);
    expect(await spent(first.refresh_token)).toBe(false);
    expect((await refreshWith(first.refresh_token, await key.proof('POST', '/auth/refresh'))).status).toBe(200);
  });

  it('of a Bearer session with a proof stays Bearer (a session is bound when it begins)', async () => {
    const user = await register();
    const login = await api('/auth/login', { json: { username: user.username, password: PASSWORD } });
    const tokens = (await login.json()) as Tokens;
    const res = await refreshWith(tokens.refresh_token, await (await dpopKey()).proof('POST', '/auth/refresh'));
    expect(res.status).toBe(200);
    expect(((await res.json()) as DpopTokens).token_type).toBe('Bearer');
  });

  it('refuses a bad proof with 400 invalid_dpop_proof before the token is looked at', async () => {
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    const res = await refreshWith(tokens.refresh_token, await key.proof('GET', '/auth/refresh'));
    await expectProblem(res, 400, 'invalid_dpop_proof');
    expect((await refreshWith(tokens.refresh_token, await key.proof('POST', '/auth/refresh'))).status).toBe(200);
  });
});

describe('server nonces (DPOP_NONCE=true)', () => {
  const nonced = () => appWith({ DPOP_NONCE: 'true' });

  it('a login proof without a nonce gets 400 use_dpop_nonce with DPoP-Nonce; the retry with it works', async () => {
    const call = nonced();
    const key = await dpopKey();
    const user = await register();
    const body = { username: user.username, password: PASSWORD };
    const first = await call('/auth/login', { json: body, headers: { DPoP: await key.proof('POST', '/auth/login') } });
    await expectProblem(first, 400, 'use_dpop_nonce');
    const nonce = first.headers.get('DPoP-Nonce');
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const retry = await call('/auth/login', {
      json: body,
      headers: { DPoP: await key.proof('POST', '/auth/login', { nonce: nonce! }) },
    });
    expect(retry.status).toBe(200);
    expect(retry.headers.get('DPoP-Nonce')).toBe(nonce);
    expect(((await retry.json()) as DpopTokens).token_type).toBe('DPoP');
  });

  it('a protected call gets 401 with DPoP error="use_dpop_nonce" and the nonce; the retry works', async () => {
    const call = nonced();
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    const first = await me(key, tokens.access_token, {}, call);
    await expectProblem(first, 401, 'use_dpop_nonce');
    expect(first.headers.get('WWW-Authenticate')).toMatch(/^DPoP error="use_dpop_nonce"/);
    const nonce = first.headers.get('DPoP-Nonce')!;
    const retry = await me(key, tokens.access_token, { nonce }, call);
    expect(retry.status).toBe(200);
    expect(retry.headers.get('DPoP-Nonce')).toBe(nonce);
    const made = await me(key, tokens.access_token, { nonce: 'made-up-by-the-client' }, call);
    await expectProblem(made, 401, 'use_dpop_nonce');
  });

  it('a nonce lives through its window and the next, then is refused', async () => {
    const config = parseConfig({ ...env, DPOP_NONCE: 'true', DPOP_PROOF_MAX_AGE: '60' });
    const t0 = Date.UTC(2030, 0, 1, 0, 0, 0);
    const nonce = await currentNonce(config, t0);
    expect(await isCurrentNonce(config, nonce, t0 + 59_000)).toBe(true);
    expect(await isCurrentNonce(config, nonce, t0 + 119_000)).toBe(true);
    expect(await isCurrentNonce(config, nonce, t0 + 120_000)).toBe(false);
    expect(await currentNonce(config, t0 + 60_000)).not.toBe(nonce);
    // Another signing secret, another nonce: a client cannot compute one.
    const other = parseConfig({ ...env, DPOP_NONCE: 'true', JWT_SECRET: 'another-secret-0123456789abcdefghijklmnop' });
    expect(await isCurrentNonce(other, nonce, t0)).toBe(false);
  });

  it('a nonce is not needed while DPOP_NONCE is off', async () => {
    const key = await dpopKey();
    const { tokens } = await boundSession(key);
    const res = await me(key, tokens.access_token);
    expect(res.status).toBe(200);
    expect(res.headers.get('DPoP-Nonce')).toBeNull();
  });
});

describe('the daily cleanup', () => {
  it('deletes a spent proof once it is too old to be accepted anyway', async () => {
    const key = await dpopKey();
    const user = await register();
    const jti = crypto.randomUUID();
    const res = await api('/auth/login', {
      json: { username: user.username, password: PASSWORD },
      headers: { DPoP: await key.proof('POST', '/auth/login', { jti }) },
    });
    expect(res.status).toBe(200);
    const row = await sha256B64url(`${key.jkt}\u0000${jti}`);
    const kept = async () =>
      (await env.DB.prepare('SELECT 1 FROM dpop_proofs WHERE key = ?').bind(row).first()) !== null;
    expect(await kept()).toBe(true);
    await cleanup(env, Date.now());
    expect(await kept()).toBe(true);
    // DPOP_PROOF_MAX_AGE (60 s) and the clock skew (10 s) later, no isolate would accept it.
    const summary = await cleanup(env, Date.now() + 71_000);
    expect(summary.dpopProofs).toBeGreaterThan(0);
    expect(await kept()).toBe(false);
  });
});

describe("the isolate's memory of spent proofs", () => {
  const proof = (jti: string, expiresAt: number) => ({ jkt: 'k'.repeat(43), jti, expiresAt });

  it('forgets a proof once it is too old to be accepted anyway', () => {
    const now = Date.now();
    spendInIsolate(proof('aging', now + 1_000), now);
    expect(() => spendInIsolate(proof('aging', now + 1_000), now + 999)).toThrow(/already used/);
    expect(() => spendInIsolate(proof('aging', now + 61_000), now + 1_000)).not.toThrow();
  });

  it('is bounded: past 20,000 live proofs the oldest are forgotten first', () => {
    const now = Date.now();
    const later = now + 60_000;
    for (let i = 0; i < 20_000; i++) spendInIsolate(proof(`bulk-${i}`, later), now);
    expect(() => spendInIsolate(proof('bulk-19999', later), now)).toThrow(/already used/);
    spendInIsolate(proof('one-more', later), now);
    expect(() => spendInIsolate(proof('bulk-19999', later), now)).toThrow(/already used/);
    expect(() => spendInIsolate(proof('bulk-0', later), now)).not.toThrow();
  });
});
