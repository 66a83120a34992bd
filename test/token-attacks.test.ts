/**
 * The catalog of access-token attacks. Every forged or misused token must be answered with
 * 401 `invalid_token` and an RFC 6750 challenge carrying `error="invalid_token"`; the one
 * request with no credentials at all gets a bare challenge and `unauthorized`.
 *
 * Forgeries are hand-built (base64url header.payload.signature) so that nothing in the
 * service's own signing code is trusted by the test. A baseline built the same way with the
 * real secret must be accepted (checked in beforeAll), so each refusal is the attack's doing.
 */
import { env } from 'cloudflare:workers';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/http/app';
import { b64url, decodePart, fromB64url, signHs256, unsignedPart } from './jwt';
import { ORIGIN, api, expectProblem, login, signedIn, signedInAdmin, type Tokens } from './helpers';

type Json = Record<string, unknown>;

const encoder = new TextEncoder();

/** An HS256 JWS over exactly these parts, keyed with the service's own secret by default. */
const hs256 = (header: unknown, payload: unknown, secret: string | Uint8Array<ArrayBuffer> = serviceSecret()) =>
  signHs256(header, payload, secret);

async function ed25519(header: unknown, payload: unknown, privateKey: CryptoKey) {
  const unsigned = unsignedPart(header, payload);
  return `${unsigned}.${b64url(await crypto.subtle.sign('Ed25519', privateKey, encoder.encode(unsigned)))}`;
}

function serviceSecret(): string {
  if (!env.JWT_SECRET) throw new Error('the test configuration must set JWT_SECRET');
  return env.JWT_SECRET;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

const me = (token: string) => api('/auth/me', { token });

/** 401 `invalid_token`, with an RFC 6750 challenge naming the error. */
async function expectInvalidToken(res: Response) {
  const body = await expectProblem(res, 401, 'invalid_token');
  const challenge = res.headers.get('WWW-Authenticate') ?? '';
  expect(challenge.startsWith('Bearer')).toBe(true);
  expect(challenge).toContain('error="invalid_token"');
  return body;
}

async function expectAccepted(res: Response, username: string) {
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ user: { username } });
}

// One ordinary user whose legitimately issued token is the template for every forgery.
let victim: { id: string; username: string };
let legitToken: string;
let kid: string;
let legitClaims: Json;

/** The legit header, with overrides (`undefined` removes a member). */
const header = (overrides: Json = {}): Json => ({ alg: 'HS256', typ: 'at+jwt', kid, ...overrides });
/** The legit claims, fresh (iat now, exp in 10 minutes), with overrides (`undefined` removes). */
const claims = (overrides: Json = {}): Json => {
  const iat = nowSeconds();
  return { ...legitClaims, iat, exp: iat + 600, ...overrides };
};

beforeAll(async () => {
  const s = await signedIn('victim');
  victim = s.user;
  legitToken = s.token;
  const legitHeader = decodePart(legitToken, 0);
  expect(legitHeader).toMatchObject({ alg: 'HS256', typ: 'at+jwt', kid: expect.stringMatching(/^hs-/) });
  kid = legitHeader.kid as string;
  legitClaims = decodePart(legitToken, 1);
  expect(legitClaims).toMatchObject({ sub: victim.id, token_use: 'access', iss: 'edge-auth', aud: 'edge-auth' });
  // The baseline: hand-built exactly like the service builds its own tokens, it is accepted.
  await expectAccepted(await me(await hs256(header(), claims())), victim.username);
});

describe('An access token', () => {
  describe('is refused when its algorithm', () => {
    it.each(['none', 'None', 'NONE'])('is "%s" with an empty signature (unsigned token)', async (alg) => {
      const unsigned = unsignedPart(header({ alg }), claims());
      await expectInvalidToken(await me(`${unsigned}.`));
    });

    it('is "none" and the signature is the legit one of the same claims', async () => {
      const signed = await hs256(header(), claims());
      const signature = signed.split('.')[2]!;
      await expectInvalidToken(await me(`${unsignedPart(header({ alg: 'none' }), claims())}.${signature}`));
    });

    it('is HS512 or HS384, keyed with the real secret', async () => {
      for (const [alg, hash] of [
        ['HS512', 'SHA-512'],
        ['HS384', 'SHA-384'],
      ] as const) {
        const unsigned = unsignedPart(header({ alg }), claims());
        const key = await crypto.subtle.importKey(
          'raw',
          encoder.encode(serviceSecret()),
          { name: 'HMAC', hash },
          false,
          ['sign'],
        );
        const token = `${unsigned}.${b64url(await crypto.subtle.sign('HMAC', key, encoder.encode(unsigned)))}`;
        await expectInvalidToken(await me(token));
      }
    });
  });

  describe('is refused when its signature', () => {
    it('is stripped (empty third part)', async () => {
      const [h, p] = legitToken.split('.');
      await expectInvalidToken(await me(`${h}.${p}.`));
    });

    it('is missing altogether (two parts)', async () => {
      const [h, p] = legitToken.split('.');
      await expectInvalidToken(await me(`${h}.${p}`));
    });

    it('belongs to the original payload and the payload was edited to role "admin"', async () => {
      const [h, , signature] = legitToken.split('.');
      const edited = b64url(JSON.stringify({ ...legitClaims, role: 'admin' }));
      await expectInvalidToken(await me(`${h}.${edited}.${signature}`));
      // The edit must not have reached the admin routes either.
      await expectInvalidToken(await api('/admin/users', { token: `${h}.${edited}.${signature}` }));
    });

    it('was made with another secret under the service kid', async () => {
      const token = await hs256(header(), claims(), 'attacker-secret-0123456789abcdefghijklmnopqrstuvwxyz');
      await expectInvalidToken(await me(token));
    });

    it('was keyed with the (public) kid itself under the service kid', async () => {
      await expectInvalidToken(await me(await hs256(header(), claims(), kid)));
    });

    it('has one bit flipped', async () => {
      const [h, p, signature] = legitToken.split('.') as [string, string, string];
      const bytes = fromB64url(signature);
      bytes[0]! ^= 0x01;
      await expectInvalidToken(await me(`${h}.${p}.${b64url(bytes)}`));
    });
  });

  describe('is refused when its kid', () => {
    it.each<[string, () => unknown]>([
      ['is unknown', () => 'hs-AAAAAAAAAAAAAAAA'],
      ['is a path traversal', () => '../../etc/passwd'],
      ['is an SQL injection', () => "' OR 1=1 --"],
      ['is the real kid with a suffix', () => `${kid}/../${kid}`],
      ['is empty', () => ''],
      ['is a number', () => 1],
      ['is an array holding the real kid', () => [kid]],
      ['is an object holding the real kid', () => ({ kid })],
    ])('%s (even correctly signed)', async (_label, value) => {
      await expectInvalidToken(await me(await hs256(header({ kid: value() }), claims())));
    });

    it('is missing (even correctly signed)', async () => {
      await expectInvalidToken(await me(await hs256(header({ kid: undefined }), claims())));
    });
  });

  describe('ignores key material named in its header', () => {
    const fetchSpy = () => vi.spyOn(globalThis, 'fetch');
    afterEach(() => vi.restoreAllMocks());

    it('a "jku" pointing at an attacker JWKS (token signed by the attacker key)', async () => {
      const spy = fetchSpy();
      const attacker = await newEd25519Key();
      const token = await ed25519(
        { alg: 'EdDSA', typ: 'at+jwt', kid: 'attacker', jku: 'https://evil.example/jwks.json' },
        claims(),
        attacker.privateKey,
      );
      await expectInvalidToken(await me(token));
      const underServiceKid = await ed25519(
        { alg: 'EdDSA', typ: 'at+jwt', kid, jku: 'https://evil.example/jwks.json' },
        claims(),
        attacker.privateKey,
      );
      await expectInvalidToken(await me(underServiceKid));
      expect(spy).not.toHaveBeenCalled();
    });

    it('an "x5u" pointing at an attacker certificate (token signed by the attacker key)', async () => {
      const spy = fetchSpy();
      const attacker = await newEd25519Key();
      const token = await ed25519(
        { alg: 'EdDSA', typ: 'at+jwt', kid, x5u: 'https://evil.example/cert.pem' },
        claims(),
        attacker.privateKey,
      );
      await expectInvalidToken(await me(token));
      expect(spy).not.toHaveBeenCalled();
    });

    it('an embedded "jwk" holding the attacker HMAC key, under the service kid', async () => {
      const attackerSecret = 'attacker-secret-0123456789abcdefghijklmnopqrstuvwxyz';
      const token = await hs256(
        header({ jwk: { kty: 'oct', k: b64url(attackerSecret), alg: 'HS256', kid } }),
        claims(),
        attackerSecret,
      );
      await expectInvalidToken(await me(token));
    });

    it('an embedded "jwk" holding the attacker Ed25519 public key', async () => {
      const attacker = await newEd25519Key();
      const jwk = { ...(await crypto.subtle.exportKey('jwk', attacker.publicKey)), kid: 'attacker', alg: 'EdDSA' };
      const token = await ed25519({ alg: 'EdDSA', typ: 'at+jwt', kid: 'attacker', jwk }, claims(), attacker.privateKey);
      await expectInvalidToken(await me(token));
    });
  });

  describe('is refused when its header', () => {
    it('carries "crit", even correctly signed', async () => {
      const token = await hs256(header({ crit: ['exp'] }), claims());
      await expectInvalidToken(await me(token));
    });

    it('says typ "JWT" instead of "at+jwt", even correctly signed', async () => {
      await expectInvalidToken(await me(await hs256(header({ typ: 'JWT' }), claims())));
    });

    it('has no typ, even correctly signed', async () => {
      await expectInvalidToken(await me(await hs256(header({ typ: undefined }), claims())));
    });

    it.each([
      ['JSON null', 'null'],
      ['a JSON array', '[]'],
      ['a JSON number', '0'],
      ['a JSON string', '"HS256"'],
      ['not JSON', 'HS256'],
    ])('is %s', async (_label, headerText) => {
      await expectInvalidToken(await me(await hs256(headerText, claims())));
    });
  });

  describe('is refused when its claims', () => {
    it('give exp as a string, even correctly signed', async () => {
      await expectInvalidToken(await me(await hs256(header(), claims({ exp: String(nowSeconds() + 600) }))));
    });

    it('omit exp, even correctly signed', async () => {
      await expectInvalidToken(await me(await hs256(header(), claims({ exp: undefined }))));
    });

    it('expired (exp in the past), even correctly signed', async () => {
      const iat = nowSeconds() - 3600;
      await expectInvalidToken(await me(await hs256(header(), claims({ iat, exp: iat + 900 }))));
    });

    it('set nbf in the future, even correctly signed', async () => {
      await expectInvalidToken(await me(await hs256(header(), claims({ nbf: nowSeconds() + 3600 }))));
    });

    it('set iat far in the future, even correctly signed', async () => {
      const iat = nowSeconds() + 30 * 86_400;
      await expectInvalidToken(await me(await hs256(header(), claims({ iat, exp: iat + 600 }))));
    });

    it('name another issuer, even correctly signed', async () => {
      await expectInvalidToken(await me(await hs256(header(), claims({ iss: 'https://evil.example' }))));
    });

    it('omit the issuer, even correctly signed', async () => {
      await expectInvalidToken(await me(await hs256(header(), claims({ iss: undefined }))));
    });

    it('name another audience, even correctly signed', async () => {
      await expectInvalidToken(await me(await hs256(header(), claims({ aud: 'another-service' }))));
    });

    it('omit token_use, even correctly signed', async () => {
      await expectInvalidToken(await me(await hs256(header(), claims({ token_use: undefined }))));
    });

    it('say token_use "refresh", even correctly signed', async () => {
      await expectInvalidToken(await me(await hs256(header(), claims({ token_use: 'refresh' }))));
    });

    it('name a user that never existed, even correctly signed', async () => {
      await expectInvalidToken(await me(await hs256(header(), claims({ sub: crypto.randomUUID() }))));
    });

    it('carry a stale token version, even correctly signed', async () => {
      await expectInvalidToken(await me(await hs256(header(), claims({ ver: (legitClaims.ver as number) + 1 }))));
    });

    it('are JSON null, even correctly signed', async () => {
      await expectInvalidToken(await me(await hs256(header(), 'null')));
    });

    // Cases only the claims check stands against: D1 would not catch them.
    it.each<[string, Json]>([
      ['a role that does not exist', { role: 'superuser' }],
      ['no role', { role: undefined }],
      ['no sid', { sid: undefined }],
      ['an empty sid', { sid: '' }],
      ['a numeric sub', { sub: 42 }],
      ['a numeric jti', { jti: 7 }],
    ])('carry %s, even correctly signed', async (_label, overrides) => {
      await expectInvalidToken(await me(await hs256(header(), claims(overrides))));
    });

    it('are a JSON array or string, even correctly signed', async () => {
      await expectInvalidToken(await me(await hs256(header(), '["access"]')));
      await expectInvalidToken(await me(await hs256(header(), '"access"')));
    });
  });

  describe('issued by a Worker whose clock runs ahead (up to 60 s of skew is tolerated)', () => {
    // Real time, whole seconds: the victim's session (checked on every request) stays live.
    const now = nowSeconds();
    const T0 = now * 1000;
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(T0);
    });
    afterEach(() => vi.useRealTimers());

    it.each<[string, Json]>([
      ['iat 1 s ahead', { iat: now + 1, exp: now + 601 }],
      ['iat 60 s ahead (the limit)', { iat: now + 60, exp: now + 660 }],
      ['nbf 60 s ahead (the limit)', { iat: now, nbf: now + 60, exp: now + 600 }],
      ['iat and nbf both 60 s ahead', { iat: now + 60, nbf: now + 60, exp: now + 660 }],
      ['nbf now', { iat: now, nbf: now, exp: now + 600 }],
      ['a fractional nbf 59.5 s ahead', { iat: now, nbf: now + 59.5, exp: now + 600 }],
      ['exp 1 s from now', { iat: now - 599, exp: now + 1 }],
    ])('is accepted with %s', async (_label, times) => {
      await expectAccepted(await me(await hs256(header(), claims(times))), victim.username);
    });

    it.each<[string, Json]>([
      ['iat 61 s ahead', { iat: now + 61, exp: now + 661 }],
      ['nbf 61 s ahead', { iat: now, nbf: now + 61, exp: now + 600 }],
      ['nbf 60.5 s ahead', { iat: now, nbf: now + 60.5, exp: now + 600 }],
      ['iat an hour ahead', { iat: now + 3600, exp: now + 4200 }],
      ['exp exactly now (exp gets no leeway)', { iat: now - 600, exp: now }],
      ['exp 1 s ago (exp gets no leeway)', { iat: now - 601, exp: now - 1 }],
      ['exp before iat, both within the skew', { iat: now + 30, exp: now - 1 }],
      ['nbf as a string', { iat: now, nbf: String(now), exp: now + 600 }],
      ['nbf null', { iat: now, nbf: null, exp: now + 600 }],
      ['iat as a string', { iat: String(now), exp: now + 600 }],
      ['no iat', { iat: undefined, exp: now + 600 }],
    ])('is refused with %s, even correctly signed', async (_label, times) => {
      await expectInvalidToken(await me(await hs256(header(), claims(times))));
    });

    it('tolerates the skew on a token the service issued itself, read by a Worker whose clock is 60 s behind', async () => {
      const { token } = await signedIn('skew');
      vi.setSystemTime(T0 - 60_000);
      expect((await me(token)).status).toBe(200);
      vi.setSystemTime(T0 - 61_000);
      await expectInvalidToken(await me(token));
    });
  });

  describe('is refused when its session (sid) is not a live session of its user', () => {
    it('names another user’s live session', async () => {
      const other = await signedIn('neighbour');
      const otherSid = decodePart(other.token, 1).sid as string;
      await expectAccepted(await me(other.token), other.user.username);
      await expectInvalidToken(await me(await hs256(header(), claims({ sid: otherSid }))));
    });

    it('names no session at all', async () => {
      await expectInvalidToken(await me(await hs256(header(), claims({ sid: crypto.randomUUID() }))));
    });

    it('names a session past its absolute lifetime, while a fresh one works', async () => {
      const s = await signedIn('aged');
      const fresh = await login(s.user.username);
      const sid = decodePart(s.token, 1).sid as string;
      await env.DB.prepare('UPDATE sessions SET expires_at = ? WHERE id = ?')
        .bind(Date.now() - 1000, sid)
        .run();
      await expectInvalidToken(await me(s.token));
      await expectInvalidToken(await api('/auth/protected', { token: s.token }));
      await expectAccepted(await me(fresh.access_token), s.user.username);
    });
  });

  describe('of a user who was deleted', () => {
    it('stops working at once, though correctly signed and unexpired', async () => {
      const admin = await signedInAdmin();
      const doomed = await signedIn('doomed');
      await expectAccepted(await me(doomed.token), doomed.user.username);

      const deleted = await api(`/admin/users/${doomed.user.id}`, { method: 'DELETE', token: admin.token });
      expect(deleted.status).toBe(204);

      await expectInvalidToken(await me(doomed.token));
      await expectInvalidToken(await api('/auth/protected', { token: doomed.token }));
    });
  });

  describe('of an admin who was demoted', () => {
    it('is forbidden on the admin routes at once, while it still works elsewhere', async () => {
      const boss = await signedInAdmin();
      const demoted = await signedInAdmin();
      const before = await api('/admin/users', { token: demoted.token });
      expect(before.status).toBe(200);

      const patched = await api(`/admin/users/${demoted.user.id}`, {
        method: 'PATCH',
        json: { role: 'user' },
        token: boss.token,
      });
      expect(patched.status).toBe(200);

      await expectProblem(await api('/admin/users', { token: demoted.token }), 403, 'forbidden');
      await expectProblem(
        await api(`/admin/users/${boss.user.id}`, { method: 'DELETE', token: demoted.token }),
        403,
        'forbidden',
      );
      const still = await me(demoted.token);
      expect(still.status).toBe(200);
      expect(await still.json()).toMatchObject({ user: { id: demoted.user.id, role: 'user' } });
    });
  });

  describe('of a plain user, re-signed with role "admin" in its claims', () => {
    it('still cannot reach the admin routes (the role comes from D1)', async () => {
      const forged = await hs256(header(), claims({ role: 'admin' }));
      await expectAccepted(await me(forged), victim.username);
      await expectProblem(await api('/admin/users', { token: forged }), 403, 'forbidden');
    });
  });

  describe('that was forged', () => {
    it('does not spoil the untouched original presented right after it', async () => {
      const [h, , signature] = legitToken.split('.');
      const forged = `${h}.${b64url(JSON.stringify({ ...legitClaims, role: 'admin' }))}.${signature}`;
      await expectInvalidToken(await me(forged));
      await expectAccepted(await me(legitToken), victim.username);
    });
  });
});

describe('The Authorization header', () => {
  it('when absent, gets 401 `unauthorized` and a bare Bearer challenge (no error attribute)', async () => {
    const res = await api('/auth/me');
    await expectProblem(res, 401, 'unauthorized');
    const challenge = res.headers.get('WWW-Authenticate') ?? '';
    expect(challenge.startsWith('Bearer')).toBe(true);
    expect(challenge).not.toContain('error=');
  });

  it.each([
    ['holds a bare "Bearer"', 'Bearer'],
    ['holds "Bearer" and garbage', 'Bearer !!not*a*token!!'],
    ['holds "Bearer" and random base64url', 'Bearer dGhpcyBpcyBub3QgYSBKV1Q'],
    ['holds "Bearer" and three dots', 'Bearer ...'],
  ])('%s: 401 invalid_token', async (_label, value) => {
    await expectInvalidToken(await api('/auth/me', { headers: { Authorization: value } }));
  });

  it('holds two bearer tokens (space or comma separated): 401 invalid_token', async () => {
    for (const value of [`Bearer ${legitToken} ${legitToken}`, `Bearer ${legitToken}, Bearer ${legitToken}`]) {
      await expectInvalidToken(await api('/auth/me', { headers: { Authorization: value } }));
    }
  });

  it('holds a Basic credential: 401 with a Bearer challenge', async () => {
    const res = await api('/auth/me', { headers: { Authorization: `Basic ${btoa(`${victim.username}:secret`)}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('Content-Type')).toBe('application/problem+json');
    expect(res.headers.get('WWW-Authenticate')?.startsWith('Bearer')).toBe(true);
  });

  it('holds a refresh token as a bearer token: 401 invalid_token', async () => {
    const { user } = await signedIn('refresher');
    const tokens: Tokens = await login(user.username);
    await expectInvalidToken(await me(tokens.refresh_token));
    await expectInvalidToken(await api('/auth/protected', { token: tokens.refresh_token }));
  });

  describe('with the Flask-JWT "JWT <token>" scheme', () => {
    it('works on /hello', async () => {
      const res = await api('/hello', { headers: { Authorization: `JWT ${legitToken}` } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ Status: 'Success', result: `Hello ${victim.username}` });
    });

    it('does not work on /auth/me: 401 with a Bearer challenge', async () => {
      const res = await api('/auth/me', { headers: { Authorization: `JWT ${legitToken}` } });
      expect(res.status).toBe(401);
      expect(res.headers.get('Content-Type')).toBe('application/problem+json');
      expect(res.headers.get('WWW-Authenticate')?.startsWith('Bearer')).toBe(true);
    });
  });

  // RFC 6750 §3.1: "If the request lacks any authentication information (e.g., the client was
  // unaware that authentication is necessary or attempted using an unsupported authentication
  // method), the resource server SHOULD NOT include an error code or other error information."
  it.each([
    ['Basic on /auth/me', '/auth/me', () => `Basic ${btoa('alice:secret')}`],
    ['JWT on /auth/me', '/auth/me', () => `JWT ${legitToken}`],
    ['Digest on /admin/users', '/admin/users', () => 'Digest username="alice", realm="edge-auth"'],
  ])(
    'answers an unsupported scheme (%s) with a bare challenge and `unauthorized` (RFC 6750 §3.1)',
    async (_label, path, value) => {
      const res = await api(path, { headers: { Authorization: value() } });
      await expectProblem(res, 401, 'unauthorized');
      const challenge = res.headers.get('WWW-Authenticate') ?? '';
      expect(challenge.startsWith('Bearer')).toBe(true);
      expect(challenge).not.toContain('error=');
    },
  );
});

async function newEd25519Key(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
}

describe('With an asymmetric (EdDSA) signing key configured', () => {
  const app = createApp();
  let edEnv: typeof env;
  let servicePrivateKey: CryptoKey;
  let publicJwk: JsonWebKey;
  let jwksText: string;
  let spki: Uint8Array<ArrayBuffer>;
  let user: { id: string; username: string };
  let edToken: string;
  let edClaims: Json;

  const edFetch = (path: string, init: RequestInit = {}) => app.fetch(new Request(`${ORIGIN}${path}`, init), edEnv);
  const edMe = (token: string) => edFetch('/auth/me', { headers: { Authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    const pair = await newEd25519Key();
    servicePrivateKey = pair.privateKey;
    const privateJwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
    edEnv = { ...env, JWT_PRIVATE_KEY: JSON.stringify({ ...privateJwk, kid: 'k1', alg: 'EdDSA' }) };
    spki = new Uint8Array((await crypto.subtle.exportKey('spki', pair.publicKey)) as ArrayBuffer);

    // What any attacker can read: the published JWKS.
    const jwks = await edFetch('/.well-known/jwks.json');
    expect(jwks.status).toBe(200);
    jwksText = await jwks.text();
    const keys = (JSON.parse(jwksText) as { keys: JsonWebKey[] }).keys;
    expect(keys).toHaveLength(1);
    publicJwk = keys[0]!;
    expect(publicJwk).toMatchObject({ kid: 'k1', alg: 'EdDSA', kty: 'OKP', crv: 'Ed25519' });
    expect(publicJwk).not.toHaveProperty('d');

    const s = await signedIn('ed');
    user = s.user;
    const res = await edFetch('/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: user.username, password: s.user.password }),
    });
    expect(res.status).toBe(200);
    edToken = ((await res.json()) as Tokens).access_token;
    expect(decodePart(edToken, 0)).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' });
    edClaims = decodePart(edToken, 1);
    // Baselines: the issued token, and one hand-signed with the service key, are accepted.
    await expectAccepted(await edMe(edToken), user.username);
    const iat = nowSeconds();
    const handSigned = await ed25519(
      { alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' },
      { ...edClaims, iat, exp: iat + 600 },
      servicePrivateKey,
    );
    await expectAccepted(await edMe(handSigned), user.username);
  });

  const pem = () =>
    `-----BEGIN PUBLIC KEY-----\n${btoa(String.fromCharCode(...spki))
      .match(/.{1,64}/g)!
      .join('\n')}\n-----END PUBLIC KEY-----\n`;

  describe('an HS256 token keyed with the public key (algorithm confusion)', () => {
    it.each([
      ['the "x" member as text', () => publicJwk.x!],
      ['the raw public key bytes', () => fromB64url(publicJwk.x!)],
      ['the public JWK as JSON', () => JSON.stringify(publicJwk)],
      ['the whole JWKS document', () => jwksText],
      ['the SPKI DER bytes', () => spki],
      ['the SPKI PEM text', pem],
    ])('is refused when the key is %s', async (_label, secret) => {
      const iat = nowSeconds();
      const payload = { ...edClaims, iat, exp: iat + 600 };
      // Under the asymmetric kid, and under every other kid the service trusts.
      const hsKid = decodePart(legitToken, 0).kid as string;
      for (const k of ['k1', hsKid]) {
        const token = await hs256({ alg: 'HS256', typ: 'at+jwt', kid: k }, payload, secret());
        await expectInvalidToken(await edMe(token));
      }
    });
  });

  it('refuses an EdDSA token signed by another Ed25519 key under the service kid', async () => {
    const attacker = await newEd25519Key();
    const iat = nowSeconds();
    const token = await ed25519(
      { alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' },
      { ...edClaims, iat, exp: iat + 600 },
      attacker.privateKey,
    );
    await expectInvalidToken(await edMe(token));
  });

  it('refuses an EdDSA token embedding the attacker public key as "jwk" under the service kid', async () => {
    const attacker = await newEd25519Key();
    const jwk = { ...(await crypto.subtle.exportKey('jwk', attacker.publicKey)), kid: 'k1', alg: 'EdDSA' };
    const iat = nowSeconds();
    const token = await ed25519(
      { alg: 'EdDSA', typ: 'at+jwt', kid: 'k1', jwk },
      { ...edClaims, iat, exp: iat + 600 },
      attacker.privateKey,
    );
    await expectInvalidToken(await edMe(token));
  });

  it('refuses "alg: none" under the asymmetric kid', async () => {
    const iat = nowSeconds();
    const unsigned = unsignedPart({ alg: 'none', typ: 'at+jwt', kid: 'k1' }, { ...edClaims, iat, exp: iat + 600 });
    await expectInvalidToken(await edMe(`${unsigned}.`));
  });
});
