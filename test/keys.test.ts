/**
 * Signing keys: token headers, HS256 secret rotation, EdDSA signing with a published JWKS
 * that an independent JOSE implementation can use, algorithm confusion, rotation of
 * asymmetric keys, and a missing or weak JWT_SECRET.
 */
import { env } from 'cloudflare:workers';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { b64url, fromB64url, signHs256 } from './jwt';
import {
  api,
  appWith,
  expectProblem,
  login,
  ORIGIN,
  type Api as Call,
  PASSWORD,
  register,
  signedIn,
  uniqueName,
  type Tokens,
} from './helpers';

afterEach(() => {
  vi.restoreAllMocks();
});

const encoder = new TextEncoder();

const part = (token: string, index: 0 | 1) =>
  JSON.parse(new TextDecoder().decode(fromB64url(token.split('.')[index]!))) as Record<string, unknown>;
const header = (token: string) => part(token, 0);

/** A fresh random secret of 32 bytes (43 base64url characters). */
const randomSecret = () => b64url(crypto.getRandomValues(new Uint8Array(32)));

async function loginVia(call: Call, username: string): Promise<Tokens> {
  const res = await call('/auth/login', { json: { username, password: PASSWORD } });
  expect(res.status).toBe(200);
  return (await res.json()) as Tokens;
}

async function me(call: Call, token: string): Promise<number> {
  return (await call('/auth/me', { token })).status;
}

type PublicJwk = JsonWebKey & { kid: string; alg: string };

/** A fresh Ed25519 key pair: JWT_PRIVATE_KEY's value and the matching public JWK. */
async function ed25519(kid: string): Promise<{ privateKey: string; publicJwk: PublicJwk }> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const jwk = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as JsonWebKey;
  return {
    privateKey: JSON.stringify({ ...jwk, kid, alg: 'EdDSA' }),
    publicJwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid, alg: 'EdDSA' },
  };
}

/** Signs `claims` under `head` with HMAC-SHA256 and `secret`: a hand-made HS256 token. */
const hs256 = (head: object, claims: object, secret: Uint8Array) => signHs256(head, claims, new Uint8Array(secret));

async function jwks(call: Call): Promise<{ res: Response; body: JSONWebKeySet }> {
  const res = await call('/.well-known/jwks.json');
  expect(res.status).toBe(200);
  return { res, body: (await res.json()) as JSONWebKeySet };
}

const defaultApp: Call = (path, init = {}) => api(path, init);

describe('access tokens', () => {
  it('carry a kid, typ "at+jwt" and alg "HS256" by default, at login and at refresh', async () => {
    const { tokens } = await signedIn();
    const res = await api('/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
    expect(res.status).toBe(200);
    const refreshed = (await res.json()) as Tokens;
    for (const token of [tokens.access_token, refreshed.access_token]) {
      expect(header(token)).toEqual({ alg: 'HS256', typ: 'at+jwt', kid: expect.stringMatching(/.+/) });
    }
    expect(header(refreshed.access_token).kid).toBe(header(tokens.access_token).kid);
  });

  it('each carry their own jti, even when issued for one session in the same second', async () => {
    const { tokens } = await signedIn();
    const first = await api('/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
    // Inside the grace window the same refresh token answers again, in the same second.
    const again = await api('/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
    const issued = [tokens, (await first.json()) as Tokens, (await again.json()) as Tokens].map((t) => t.access_token);
    const jtis = issued.map((token) => part(token, 1).jti);
    for (const jti of jtis) expect(jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(new Set(jtis).size).toBe(3);
    expect(new Set(issued).size).toBe(3);
  });
});

describe('HS256 secret rotation', () => {
  describe('with JWT_SECRET=B and JWT_PREVIOUS_SECRETS=A', () => {
    it('still accepts a token issued under A', async () => {
      const [a, b] = [randomSecret(), randomSecret()];
      const user = await register(uniqueName());
      const old = await loginVia(appWith({ JWT_SECRET: a }), user.username);
      expect(await me(appWith({ JWT_SECRET: b, JWT_PREVIOUS_SECRETS: a }), old.access_token)).toBe(200);
    });

    it('signs new tokens with B, under a different kid', async () => {
      const [a, b] = [randomSecret(), randomSecret()];
      const user = await register(uniqueName());
      const old = await loginVia(appWith({ JWT_SECRET: a }), user.username);
      const rotated = appWith({ JWT_SECRET: b, JWT_PREVIOUS_SECRETS: a });
      const fresh = await loginVia(rotated, user.username);

      expect(header(fresh.access_token)).toMatchObject({ alg: 'HS256', typ: 'at+jwt' });
      expect(header(fresh.access_token).kid).not.toBe(header(old.access_token).kid);
      const options = { issuer: 'edge-auth', audience: 'edge-auth', algorithms: ['HS256'] };
      await expect(jwtVerify(fresh.access_token, encoder.encode(b), options)).resolves.toBeTruthy();
      await expect(jwtVerify(fresh.access_token, encoder.encode(a), options)).rejects.toThrow();
      expect(await me(rotated, fresh.access_token)).toBe(200);
    });
  });

  describe('after A was removed entirely', () => {
    it('refuses a token issued under A with 401 invalid_token, and accepts one issued under B', async () => {
      const [a, b] = [randomSecret(), randomSecret()];
      const user = await register(uniqueName());
      const old = await loginVia(appWith({ JWT_SECRET: a }), user.username);
      const fresh = await loginVia(appWith({ JWT_SECRET: b, JWT_PREVIOUS_SECRETS: a }), user.username);
      const onlyB = appWith({ JWT_SECRET: b });
      await expectProblem(await onlyB('/auth/me', { token: old.access_token }), 401, 'invalid_token');
      expect(await me(onlyB, fresh.access_token)).toBe(200);
    });

    it('still lets the client refresh, since refresh tokens are not signed, and the new access token works', async () => {
      const [a, b] = [randomSecret(), randomSecret()];
      const user = await register(uniqueName());
      const old = await loginVia(appWith({ JWT_SECRET: a }), user.username);
      const onlyB = appWith({ JWT_SECRET: b });
      const res = await onlyB('/auth/refresh', { json: { refresh_token: old.refresh_token } });
      expect(res.status).toBe(200);
      const renewed = (await res.json()) as Tokens;
      expect(await me(onlyB, renewed.access_token)).toBe(200);
    });
  });
});

describe('GET /.well-known/jwks.json', () => {
  describe('with only HS256 secrets', () => {
    it('publishes an empty key set', async () => {
      const { body } = await jwks(defaultApp);
      expect(body).toEqual({ keys: [] });
    });
  });
});

describe('EdDSA signing (JWT_PRIVATE_KEY)', () => {
  it('signs access tokens with alg "EdDSA" under the configured kid, and accepts them', async () => {
    const key = await ed25519('k1');
    const app = appWith({ JWT_PRIVATE_KEY: key.privateKey });
    const user = await register(uniqueName());
    const tokens = await loginVia(app, user.username);
    expect(header(tokens.access_token)).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' });
    expect(await me(app, tokens.access_token)).toBe(200);
  });

  it('does not need JWT_SECRET', async () => {
    const key = await ed25519('k-only');
    const app = appWith({ JWT_PRIVATE_KEY: key.privateKey, JWT_SECRET: undefined });
    const user = await register(uniqueName());
    const tokens = await loginVia(app, user.username);
    expect(header(tokens.access_token).alg).toBe('EdDSA');
    expect(await me(app, tokens.access_token)).toBe(200);
  });

  describe('the JWKS', () => {
    it('publishes the public key only, with a Cache-Control max-age', async () => {
      const key = await ed25519('k1');
      const { res, body } = await jwks(appWith({ JWT_PRIVATE_KEY: key.privateKey }));
      expect(body.keys).toHaveLength(1);
      expect(body.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', x: key.publicJwk.x, kid: 'k1', alg: 'EdDSA' });
      expect(body.keys[0]).not.toHaveProperty('d');
      const d = (JSON.parse(key.privateKey) as { d: string }).d;
      expect(JSON.stringify(body)).not.toContain(d);
      expect(res.headers.get('Cache-Control')).toMatch(/(^|[,\s])max-age=\d+/);
      expect(res.headers.get('Cache-Control')).not.toMatch(/no-store|private/);
    });

    it('lets an independent JOSE implementation verify an issued token with nothing else', async () => {
      const key = await ed25519('k1');
      const app = appWith({ JWT_PRIVATE_KEY: key.privateKey });
      const user = await register(uniqueName());
      const tokens = await loginVia(app, user.username);
      const { body } = await jwks(app);

      const { payload, protectedHeader } = await jwtVerify(tokens.access_token, createLocalJWKSet(body), {
        issuer: 'edge-auth',
        audience: 'edge-auth',
        typ: 'at+jwt',
        algorithms: ['EdDSA'],
      });
      expect(protectedHeader).toMatchObject({ alg: 'EdDSA', kid: 'k1' });
      expect(payload).toMatchObject({ sub: user.id, token_use: 'access' });
    });
  });

  describe('forged tokens', () => {
    /** Claims copied from a genuine EdDSA token of a real user, so only the signature is wrong. */
    async function genuine() {
      const key = await ed25519('k1');
      const app = appWith({ JWT_PRIVATE_KEY: key.privateKey });
      const user = await register(uniqueName());
      const tokens = await loginVia(app, user.username);
      return { key, app, claims: part(tokens.access_token, 1) };
    }

    it("are accepted when correctly signed with the service's HS256 secret (control for the cases below)", async () => {
      const { claims } = await genuine();
      const kid = header((await login((await register(uniqueName())).username)).access_token).kid;
      const token = await hs256({ alg: 'HS256', typ: 'at+jwt', kid }, claims, encoder.encode(env.JWT_SECRET!));
      expect(await me(defaultApp, token)).toBe(200);
    });

    it.each([
      ['the x text', (x: string) => encoder.encode(x)],
      ['the decoded x bytes', (x: string) => fromB64url(x)],
    ])(
      'are refused with 401 invalid_token when signed HS256 with the public key (%s) as secret',
      async (_label, toSecret) => {
        const { key, app, claims } = await genuine();
        const token = await hs256({ alg: 'HS256', typ: 'at+jwt', kid: 'k1' }, claims, toSecret(key.publicJwk.x!));
        await expectProblem(await app('/auth/me', { token }), 401, 'invalid_token');
      },
    );

    it('are refused with 401 invalid_token when signed HS256 with the published JWK as secret', async () => {
      const { app, claims } = await genuine();
      const { body } = await jwks(app);
      const token = await hs256(
        { alg: 'HS256', typ: 'at+jwt', kid: 'k1' },
        claims,
        encoder.encode(JSON.stringify(body.keys[0])),
      );
      await expectProblem(await app('/auth/me', { token }), 401, 'invalid_token');
    });

    it('are refused with 401 invalid_token when unsigned (alg "none")', async () => {
      const { app, claims } = await genuine();
      const unsigned = [{ alg: 'none', typ: 'at+jwt', kid: 'k1' }, claims]
        .map((p) => b64url(encoder.encode(JSON.stringify(p))))
        .join('.');
      await expectProblem(await app('/auth/me', { token: `${unsigned}.` }), 401, 'invalid_token');
    });

    it('are refused with 401 invalid_token when signed by another Ed25519 key claiming the kid', async () => {
      const { app, claims } = await genuine();
      const impostor = await ed25519('k1');
      const signer = await crypto.subtle.importKey(
        'jwk',
        JSON.parse(impostor.privateKey) as JsonWebKey,
        { name: 'Ed25519' },
        false,
        ['sign'],
      );
      const unsigned = [{ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' }, claims]
        .map((p) => b64url(encoder.encode(JSON.stringify(p))))
        .join('.');
      const signature = await crypto.subtle.sign({ name: 'Ed25519' }, signer, encoder.encode(unsigned));
      await expectProblem(await app('/auth/me', { token: `${unsigned}.${b64url(signature)}` }), 401, 'invalid_token');
    });
  });

  describe('rotation with JWT_PREVIOUS_PUBLIC_KEYS', () => {
    it('publishes a staged key before it signs anything, while the current key keeps signing', async () => {
      const [current, next] = [await ed25519('k1'), await ed25519('k2')];
      const staged = appWith({
        JWT_PRIVATE_KEY: current.privateKey,
        JWT_PREVIOUS_PUBLIC_KEYS: JSON.stringify([next.publicJwk]),
      });
      const user = await register(uniqueName());
      const tokens = await loginVia(staged, user.username);
      expect(header(tokens.access_token).kid).toBe('k1');
      const { body } = await jwks(staged);
      expect(body.keys.map((k) => k.kid).sort()).toEqual(['k1', 'k2']);
    });

    it('accepts the old key copied from the published JWKS, as a JWKS object', async () => {
      const [k1, k2] = [await ed25519('k1'), await ed25519('k2')];
      const before = appWith({ JWT_PRIVATE_KEY: k1.privateKey });
      const user = await register(uniqueName());
      const old = await loginVia(before, user.username);
      const { body: published } = await jwks(before);
      const rotated = appWith({ JWT_PRIVATE_KEY: k2.privateKey, JWT_PREVIOUS_PUBLIC_KEYS: JSON.stringify(published) });
      expect(await me(rotated, old.access_token)).toBe(200);
    });

    it("keeps the old key's tokens valid, signs with the new key, and publishes both", async () => {
      const [k1, k2] = [await ed25519('k1'), await ed25519('k2')];
      const user = await register(uniqueName());
      const old = await loginVia(appWith({ JWT_PRIVATE_KEY: k1.privateKey }), user.username);
      const rotated = appWith({
        JWT_PRIVATE_KEY: k2.privateKey,
        JWT_PREVIOUS_PUBLIC_KEYS: JSON.stringify([k1.publicJwk]),
      });

      expect(await me(rotated, old.access_token)).toBe(200);
      const fresh = await loginVia(rotated, user.username);
      expect(header(fresh.access_token)).toMatchObject({ alg: 'EdDSA', kid: 'k2' });

      const { body } = await jwks(rotated);
      expect(body.keys.map((k) => k.kid).sort()).toEqual(['k1', 'k2']);
      for (const k of body.keys) expect(k).not.toHaveProperty('d');
      const keySet = createLocalJWKSet(body);
      const options = { issuer: 'edge-auth', audience: 'edge-auth', algorithms: ['EdDSA'] };
      await expect(jwtVerify(old.access_token, keySet, options)).resolves.toBeTruthy();
      await expect(jwtVerify(fresh.access_token, keySet, options)).resolves.toBeTruthy();
    });

    it("keeps working when the signing key's public half is still listed too (README §7 step 4), publishing each kid once", async () => {
      const [k1, k2] = [await ed25519('k1'), await ed25519('k2')];
      const user = await register(uniqueName());
      const old = await loginVia(appWith({ JWT_PRIVATE_KEY: k1.privateKey }), user.username);
      // Step 2 staged k2's public key; step 4 switched the signing key without unstaging it.
      const switched = appWith({
        JWT_PRIVATE_KEY: k2.privateKey,
        JWT_PREVIOUS_PUBLIC_KEYS: JSON.stringify([k1.publicJwk, k2.publicJwk]),
      });
      const fresh = await loginVia(switched, user.username);
      expect(header(fresh.access_token)).toMatchObject({ alg: 'EdDSA', kid: 'k2' });
      expect(await me(switched, fresh.access_token)).toBe(200);
      expect(await me(switched, old.access_token)).toBe(200);
      const { body } = await jwks(switched);
      expect(body.keys.map((k) => k.kid).sort()).toEqual(['k1', 'k2']);
    });

    it("answers 500 misconfigured, naming JWT_PREVIOUS_PUBLIC_KEYS in the log, when another key claims the signing key's kid", async () => {
      const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
      const [signer, impostor] = [await ed25519('k2'), await ed25519('k2')];
      const app = appWith({
        JWT_PRIVATE_KEY: signer.privateKey,
        JWT_PREVIOUS_PUBLIC_KEYS: JSON.stringify([impostor.publicJwk]),
      });
      const user = await register(uniqueName());
      const res = await app('/auth/login', { json: { username: user.username, password: PASSWORD } });
      const problem = await expectProblem(res, 500, 'misconfigured');
      expect(problem.detail).toBe('The service is misconfigured.');
      expect(errors.mock.calls.flat().join('\n')).toContain('JWT_PREVIOUS_PUBLIC_KEYS');
    });

    it("refuses the old key's tokens with 401 invalid_token once it is no longer configured", async () => {
      const [k1, k2] = [await ed25519('k1'), await ed25519('k2')];
      const user = await register(uniqueName());
      const old = await loginVia(appWith({ JWT_PRIVATE_KEY: k1.privateKey }), user.username);
      const onlyK2 = appWith({ JWT_PRIVATE_KEY: k2.privateKey });
      await expectProblem(await onlyK2('/auth/me', { token: old.access_token }), 401, 'invalid_token');
    });
  });
});

describe('ES256 signing (JWT_PRIVATE_KEY with a P-256 key)', () => {
  it('signs with ES256, publishes the P-256 public key, and verifies with jose from the JWKS alone', async () => {
    const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const jwk = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as JsonWebKey;
    const app = appWith({ JWT_PRIVATE_KEY: JSON.stringify({ ...jwk, kid: 'p256-1', alg: 'ES256' }) });
    const user = await register(uniqueName());
    const tokens = await loginVia(app, user.username);
    expect(header(tokens.access_token)).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: 'p256-1' });
    expect(await me(app, tokens.access_token)).toBe(200);

    const { body } = await jwks(app);
    expect(body.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid: 'p256-1', alg: 'ES256' });
    expect(body.keys[0]).not.toHaveProperty('d');
    const { payload } = await jwtVerify(tokens.access_token, createLocalJWKSet(body), {
      issuer: 'edge-auth',
      audience: 'edge-auth',
      typ: 'at+jwt',
      algorithms: ['ES256'],
    });
    expect(payload.sub).toBe(user.id);
  });
});

describe('a misconfigured signing secret', () => {
  it.each([
    ['JWT_SECRET is missing', { JWT_SECRET: undefined }, 'JWT_SECRET', undefined],
    ['JWT_SECRET is empty', { JWT_SECRET: '' }, 'JWT_SECRET', undefined],
    [
      'JWT_SECRET is shorter than 32 bytes',
      { JWT_SECRET: 'tooShortSecret-Zq7xW' },
      'JWT_SECRET',
      'tooShortSecret-Zq7xW',
    ],
    [
      'a JWT_PREVIOUS_SECRETS entry is shorter than 32 bytes',
      { JWT_PREVIOUS_SECRETS: 'oldShortSecret-Pk3vB' },
      'JWT_PREVIOUS_SECRETS',
      'oldShortSecret-Pk3vB',
    ],
  ] as const)(
    'answers 500 misconfigured when %s, naming the variable in the log but never its value',
    async (_label, overrides, variable, value) => {
      const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
      const user = await register(uniqueName());
      const res = await appWith(overrides)('/auth/login', { json: { username: user.username, password: PASSWORD } });
      const problem = await expectProblem(res, 500, 'misconfigured');
      // Only the operator's log names it; a caller outside loopback learns nothing more.
      expect(problem.detail).toBe('The service is misconfigured.');
      expect(errors.mock.calls.flat().join('\n')).toContain(variable);
      if (value !== undefined) {
        expect(JSON.stringify(problem)).not.toContain(value);
        expect(errors.mock.calls.flat().join('\n')).not.toContain(value);
      }
    },
  );
});
