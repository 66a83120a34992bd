/**
 * `private_key_jwt` (RFC 7523, OIDC Core §9): clients that authenticate with a JWT signed by
 * one of their keys, registered inline (`jwks`) or at an https `jwks_uri`. Each refusal is
 * `invalid_client`: a wrong audience, an expired or far `exp`, a missing or reused `jti`,
 * another signer, another algorithm.
 */
import { env } from 'cloudflare:workers';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup } from '../src/index';
import { verifyClientAssertion } from '../src/oauth/client-assertion';
import { getClient } from '../src/oauth/clients';
import { getDb } from '../src/platform/db/client';
import { adminOf, basic, form, ISSUER, provider, registerClient, type Provider } from './oauth-helpers';

const p: Provider = await provider();
const admin = await adminOf(p);
const TOKEN_ENDPOINT = `${ISSUER}/oauth/token`;
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

type Alg = 'ES256' | 'EdDSA' | 'RS256';
async function keyPair(alg: Alg, kid = `${alg}-${crypto.randomUUID().slice(0, 8)}`) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg } as JWK, kid, alg };
}
type Key = Awaited<ReturnType<typeof keyPair>>;

/** A machine client authenticating with `key`, registered with `jwks` (or the metadata given). */
async function keyedClient(key: Key, metadata: Record<string, unknown> = {}) {
  return registerClient(
    p,
    {
      redirect_uris: undefined,
      grant_types: ['client_credentials'],
      scope: 'api',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [key.jwk] },
      ...metadata,
    },
    admin.token,
  );
}

type Claims = { iss?: string; sub?: string; aud?: string | string[]; exp?: number; jti?: string; iat?: number };
/** An assertion as a client library makes one (oauth4webapi: aud = issuer, exp in 60 s), with `overrides`. */
function assertion(clientId: string, key: { privateKey: CryptoKey; kid: string; alg: string }, overrides: Claims = {}) {
  const now = Math.floor(Date.now() / 1000);
  const claims: Claims = {
    iss: clientId,
    sub: clientId,
    aud: ISSUER,
    exp: now + 60,
    iat: now,
    jti: crypto.randomUUID(),
  };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete claims[name as keyof Claims];
    else Object.assign(claims, { [name]: value });
  }
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid }).sign(key.privateKey);
}

const withAssertion = (jwt: string, extra: Record<string, string> = {}) => ({
  client_assertion_type: ASSERTION_TYPE,
  client_assertion: jwt,
  ...extra,
});
const tokenRequest = (jwt: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) =>
  p.api('/oauth/token', form({ grant_type: 'client_credentials', ...withAssertion(jwt, extra) }, headers));

async function expectOAuthError(res: Response, status: number, error: string) {
  const body = (await res.json()) as { error: string; error_description: string };
  expect(res.status, body.error_description).toBe(status);
  expect(body.error, body.error_description).toBe(error);
  return body.error_description;
}

/** Registers a client-credentials client with `private_key_jwt` and `jwk`, plus `metadata`. */
const registerAssertionClient = (jwk: unknown, metadata: Record<string, unknown>) =>
  p.api('/oauth/register', {
    token: admin.token,
    json: {
      grant_types: ['client_credentials'],
      scope: 'api',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [jwk] },
      ...metadata,
    },
  });

describe('authentication with a signed assertion', () => {
  it.each(['ES256', 'EdDSA', 'RS256'] as const)(
    'accepts a client’s %s assertion at the token endpoint',
    async (alg) => {
      const key = await keyPair(alg);
      const client = await keyedClient(key);
      expect(client).not.toHaveProperty('client_secret');
      expect(client).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.jwk] } });
      const res = await tokenRequest(await assertion(client.client_id, key));
      expect(res.status, await res.clone().text()).toBe(200);
      expect(((await res.json()) as { token_type: string }).token_type).toBe('Bearer');
    },
  );

  it('takes the token endpoint as aud too, a client_id beside the assertion, and an aud array', async () => {
    const key = await keyPair('ES256');
    const client = await keyedClient(key);
    for (const aud of [TOKEN_ENDPOINT, [ISSUER, 'https://elsewhere.example.test']]) {
      const res = await tokenRequest(await assertion(client.client_id, key, { aud }), { client_id: client.client_id });
      expect(res.status, await res.clone().text()).toBe(200);
    }
  });

  it('authenticates at the introspection and revocation endpoints', async () => {
    const key = await keyPair('ES256');
    const client = await keyedClient(key);
    const { access_token } = (await (await tokenRequest(await assertion(client.client_id, key))).json()) as {
      access_token: string;
    };
    const introspected = await p.api(
      '/oauth/introspect',
      form({ token: access_token, ...withAssertion(await assertion(client.client_id, key)) }),
    );
    expect(await introspected.json()).toMatchObject({ active: true, client_id: client.client_id });
    const revoked = await p.api(
      '/oauth/revoke',
      form({ token: access_token, ...withAssertion(await assertion(client.client_id, key)) }),
    );
    expect(revoked.status).toBe(200);
  });
});

const key = await keyPair('ES256');
const client = await keyedClient(key);

describe('refusals, each invalid_client', () => {
  const now = () => Math.floor(Date.now() / 1000);

  it('refuses a replayed assertion, and stores its jti only as a hash', async () => {
    const jwt = await assertion(client.client_id, key);
    expect((await tokenRequest(jwt)).status).toBe(200);
    const description = await expectOAuthError(await tokenRequest(jwt), 401, 'invalid_client');
    expect(description).toMatch(/used before/);
    // The same jti at another endpoint is the same replay.
    const again = await p.api('/oauth/introspect', form({ token: 'x', ...withAssertion(jwt) }));
    await expectOAuthError(again, 401, 'invalid_client');
    const jti = JSON.parse(atob(jwt.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))).jti as string;
    const rows = await env.DB.prepare('SELECT key FROM oauth_assertion_jtis').all<{ key: string }>();
    expect(JSON.stringify(rows.results)).not.toContain(jti);
  });

  it('refuses a wrong audience', async () => {
    for (const aud of ['https://other-issuer.example.test', `${ISSUER}/oauth/introspect`, [`${ISSUER}/other`]]) {
      const res = await tokenRequest(await assertion(client.client_id, key, { aud }));
      expect(await expectOAuthError(res, 401, 'invalid_client')).toMatch(/aud/);
    }
  });

  it('refuses an expired assertion, and one that expires more than 5 minutes out', async () => {
    const expired = await tokenRequest(await assertion(client.client_id, key, { exp: now() - 120, iat: now() - 180 }));
    expect(await expectOAuthError(expired, 401, 'invalid_client')).toMatch(/expired/);
    const far = await tokenRequest(await assertion(client.client_id, key, { exp: now() + 600 }));
    expect(await expectOAuthError(far, 401, 'invalid_client')).toMatch(/5 minutes/);
  });

  it('refuses an assertion without jti or exp, or whose iss is not its sub', async () => {
    const noJti = await tokenRequest(await assertion(client.client_id, key, { jti: undefined }));
    expect(await expectOAuthError(noJti, 401, 'invalid_client')).toMatch(/jti/);
    const noExp = await tokenRequest(await assertion(client.client_id, key, { exp: undefined }));
    expect(await expectOAuthError(noExp, 401, 'invalid_client')).toMatch(/exp/);
    const other = await keyedClient(key);
    const mixed = await tokenRequest(await assertion(client.client_id, key, { iss: other.client_id }));
    await expectOAuthError(mixed, 401, 'invalid_client');
  });

  it('refuses another key, alg none, an HMAC with the public key, and a non-JWT', async () => {
    const stranger = await keyPair('ES256', key.kid);
    await expectOAuthError(await tokenRequest(await assertion(client.client_id, stranger)), 401, 'invalid_client');
    const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    const claims = { iss: client.client_id, sub: client.client_id, aud: ISSUER, exp: now() + 60, jti: 'x1' };
    const none = `${b64({ alg: 'none' })}.${b64(claims)}.`;
    await expectOAuthError(await tokenRequest(none), 401, 'invalid_client');
    const hmac = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: key.kid })
      .sign(new TextEncoder().encode(JSON.stringify(key.jwk)));
    await expectOAuthError(await tokenRequest(hmac), 401, 'invalid_client');
    await expectOAuthError(await tokenRequest('not-a-jwt'), 401, 'invalid_client');
  });

  it('refuses the client’s assertion for another client, and a secret for this client', async () => {
    const other = await registerClient(
      p,
      { redirect_uris: undefined, grant_types: ['client_credentials'], scope: 'api' },
      admin.token,
    );
    const res = await tokenRequest(await assertion(other.client_id, key));
    await expectOAuthError(res, 401, 'invalid_client');
    const basicAuth = await p.api(
      '/oauth/token',
      form({ grant_type: 'client_credentials' }, { Authorization: basic(client.client_id, 'guess') }),
    );
    await expectOAuthError(basicAuth, 401, 'invalid_client');
  });

  it('answers a malformed request as invalid_request', async () => {
    const jwt = await assertion(client.client_id, key);
    await expectOAuthError(await tokenRequest(jwt, { client_assertion_type: 'urn:other' }), 400, 'invalid_request');
    await expectOAuthError(
      await tokenRequest(jwt, {}, { Authorization: basic(client.client_id, 'x') }),
      400,
      'invalid_request',
    );
    await expectOAuthError(await tokenRequest(jwt, { client_id: 'someone-else' }), 400, 'invalid_request');
  });
});

describe('registration', () => {
  it('refuses a private key, both or neither of jwks and jwks_uri, and a jwks_uri off https or on loopback', async () => {
    const key = await keyPair('ES256');
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    for (const metadata of [
      { jwks: { keys: [privateJwk] } },
      { jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } },
      { jwks: undefined },
      { jwks_uri: 'https://keys.example.test/jwks.json' },
      { jwks: undefined, jwks_uri: 'http://keys.example.test/jwks.json' },
      { jwks: undefined, jwks_uri: 'https://127.0.0.1/jwks.json' },
      { jwks: undefined, jwks_uri: 'https://localhost/jwks.json' },
    ]) {
      await expectOAuthError(await registerAssertionClient(key.jwk, metadata), 400, 'invalid_client_metadata');
    }
  });

  it('lets an admin rotate the keys', async () => {
    const [old, fresh] = [await keyPair('ES256'), await keyPair('EdDSA')];
    const client = await keyedClient(old);
    const res = await p.api(`/admin/oauth/clients/${client.client_id}`, {
      method: 'PATCH',
      token: admin.token,
      json: { jwks: { keys: [fresh.jwk] } },
    });
    expect(res.status).toBe(200);
    await expectOAuthError(await tokenRequest(await assertion(client.client_id, old)), 401, 'invalid_client');
    expect((await tokenRequest(await assertion(client.client_id, fresh))).status).toBe(200);
  });
});

describe('token_endpoint_auth_signing_alg', () => {
  const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
  /** A client that holds an ES256 and an EdDSA key and registered EdDSA as its only algorithm. */
  async function edOnly() {
    const [es, ed] = [await keyPair('ES256'), await keyPair('EdDSA')];
    const client = await keyedClient(es, {
      jwks: { keys: [es.jwk, ed.jwk] },
      grant_types: ['client_credentials', DEVICE_GRANT],
      scope: 'api openid',
      token_endpoint_auth_signing_alg: 'EdDSA',
    });
    return { client, es, ed };
  }

  it('is returned at registration and in the admin listing', async () => {
    const { client } = await edOnly();
    expect(client.token_endpoint_auth_signing_alg).toBe('EdDSA');
    const listed = (await (await p.api('/admin/oauth/clients?limit=100', { token: admin.token })).json()) as {
      clients: Record<string, unknown>[];
    };
    expect(listed.clients.find((c) => c.client_id === client.client_id)).toMatchObject({
      token_endpoint_auth_signing_alg: 'EdDSA',
    });
  });

  it('refuses an assertion signed with another algorithm the service takes, at every endpoint that authenticates clients', async () => {
    const { client, es, ed } = await edOnly();
    const ok = await tokenRequest(await assertion(client.client_id, ed));
    expect(ok.status, await ok.clone().text()).toBe(200);
    const { access_token } = (await ok.json()) as { access_token: string };
    for (const [path, params] of [
      ['/oauth/token', { grant_type: 'client_credentials' }],
      ['/oauth/introspect', { token: access_token }],
      ['/oauth/revoke', { token: access_token }],
      ['/oauth/device_authorization', { scope: 'openid' }],
    ] as const) {
      const res = await p.api(path, form({ ...params, ...withAssertion(await assertion(client.client_id, es)) }));
      expect(res.headers.get('WWW-Authenticate'), path).toBe('Basic realm="edge-auth"');
      expect(await expectOAuthError(res, 401, 'invalid_client'), path).toMatch(/must be signed with EdDSA/);
      // The registered algorithm works there.
      const good = await p.api(path, form({ ...params, ...withAssertion(await assertion(client.client_id, ed)) }));
      expect(good.status, `${path}: ${await good.clone().text()}`).toBe(200);
    }
  });

  it('is changed or cleared by an admin (PATCH); without it, each of the client’s keys works', async () => {
    const { client, es } = await edOnly();
    const patch = (json: Record<string, unknown>) =>
      p.api(`/admin/oauth/clients/${client.client_id}`, { method: 'PATCH', token: admin.token, json });
    const cleared = await patch({ token_endpoint_auth_signing_alg: null });
    expect(cleared.status).toBe(200);
    expect(((await cleared.json()) as { client: object }).client).not.toHaveProperty('token_endpoint_auth_signing_alg');
    expect((await tokenRequest(await assertion(client.client_id, es))).status).toBe(200);
    expect((await patch({ token_endpoint_auth_signing_alg: 'ES256' })).status).toBe(200);
    expect((await tokenRequest(await assertion(client.client_id, es))).status).toBe(200);
    // Keys that cannot sign with the algorithm would lock the client out: refused.
    expect((await patch({ token_endpoint_auth_signing_alg: 'RS256' })).status).toBe(400);
    expect((await patch({ token_endpoint_auth_signing_alg: 'HS256' })).status).toBe(400);
  });

  it('refuses an assertion in another algorithm before fetching the keys at a jwks_uri', async () => {
    const [es, ed] = [await keyPair('ES256'), await keyPair('EdDSA')];
    const calls: string[] = [];
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      calls.push(String(input));
      return Response.json({ keys: [es.jwk, ed.jwk] });
    });
    try {
      const uri = `https://keys-${crypto.randomUUID()}.example.test/jwks.json`;
      const client = await keyedClient(ed, {
        jwks: undefined,
        jwks_uri: uri,
        token_endpoint_auth_signing_alg: 'EdDSA',
      });
      await expectOAuthError(await tokenRequest(await assertion(client.client_id, es)), 401, 'invalid_client');
      expect(calls).toEqual([]);
      expect((await tokenRequest(await assertion(client.client_id, ed))).status).toBe(200);
      expect(calls).toEqual([uri]);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it('refuses none, an HMAC, an unknown algorithm, a non-string, keys that cannot sign with it, and any other auth method', async () => {
    const key = await keyPair('ES256');
    const register = (metadata: Record<string, unknown>) => registerAssertionClient(key.jwk, metadata);
    for (const alg of ['none', 'HS256', 'PS256', 'ES384', 'es256', 256, null]) {
      await expectOAuthError(await register({ token_endpoint_auth_signing_alg: alg }), 400, 'invalid_client_metadata');
    }
    const mismatch = await register({ token_endpoint_auth_signing_alg: 'EdDSA' });
    expect(await expectOAuthError(mismatch, 400, 'invalid_client_metadata')).toMatch(/no key for EdDSA/);
    for (const method of ['client_secret_basic', 'client_secret_post']) {
      const res = await register({ token_endpoint_auth_method: method, token_endpoint_auth_signing_alg: 'ES256' });
      expect(await expectOAuthError(res, 400, 'invalid_client_metadata')).toMatch(/private_key_jwt only/);
    }
    const publicClient = await p.api('/oauth/register', {
      token: admin.token,
      json: {
        redirect_uris: ['https://rp.example.test/cb'],
        token_endpoint_auth_method: 'none',
        token_endpoint_auth_signing_alg: 'ES256',
      },
    });
    await expectOAuthError(publicClient, 400, 'invalid_client_metadata');
    // Nor may a change give it to a client of another method.
    const secretClient = await registerClient(p, {}, admin.token);
    const patched = await p.api(`/admin/oauth/clients/${secretClient.client_id}`, {
      method: 'PATCH',
      token: admin.token,
      json: { token_endpoint_auth_signing_alg: 'ES256' },
    });
    expect(patched.status).toBe(400);
    expect(JSON.stringify(await patched.json())).toMatch(/private_key_jwt only/);
  });
});

describe('keys at a jwks_uri', () => {
  afterEach(() => vi.restoreAllMocks());

  /** Serves `body` at every fetch of the Worker, counting the fetches. */
  function serve(body: () => BodyInit | null, init: ResponseInit = {}) {
    const calls: string[] = [];
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      calls.push(String(input instanceof Request ? input.url : input));
      return new Response(body(), { headers: { 'Content-Type': 'application/json' }, ...init });
    });
    return calls;
  }

  it('fetches them once, keeps them, and fetches again for a kid it does not know', async () => {
    const [first, second] = [await keyPair('ES256'), await keyPair('RS256')];
    const uri = `https://keys-${crypto.randomUUID()}.example.test/jwks.json`;
    const client = await keyedClient(first, { jwks: undefined, jwks_uri: uri });
    let published = [first.jwk];
    const calls = serve(() => JSON.stringify({ keys: published }));
    for (let i = 0; i < 2; i++) expect((await tokenRequest(await assertion(client.client_id, first))).status).toBe(200);
    expect(calls).toEqual([uri]);

    // The client rotates: a kid the cached set lacks is looked up again, at most every 30 s.
    published = [first.jwk, second.jwk];
    const db = getDb(env.DB);
    const registered = (await getClient(db, client.client_id))!;
    const later = Date.now() + 31_000;
    const jwt = await assertion(client.client_id, second);
    await expect(verifyClientAssertion(db, registered, jwt, { issuer: ISSUER, now: later })).resolves.toBeUndefined();
    expect(calls).toEqual([uri, uri]);
  });

  it('refuses keys it cannot read: an error, a redirect, an oversized or malformed body', async () => {
    const key = await keyPair('ES256');
    const big = JSON.stringify({ keys: [key.jwk], padding: 'x'.repeat(70 * 1024) });
    for (const [body, init] of [
      ['{"keys": []}', { status: 500 }],
      [null, { status: 302, headers: { Location: 'https://elsewhere.example.test/' } }],
      [big, {}],
      ['not json', {}],
      [JSON.stringify({ keys: [{ ...key.jwk, d: 'private' }] }), {}],
    ] as const) {
      vi.restoreAllMocks();
      serve(() => body, init);
      const uri = `https://keys-${crypto.randomUUID()}.example.test/jwks.json`;
      const client = await keyedClient(key, { jwks: undefined, jwks_uri: uri });
      const res = await tokenRequest(await assertion(client.client_id, key));
      expect(await expectOAuthError(res, 401, 'invalid_client')).toMatch(/jwks_uri/);
    }
  });

  it('gives up on a server that does not answer within 3 seconds', async () => {
    const key = await keyPair('ES256');
    vi.spyOn(globalThis, 'fetch').mockImplementation(
      (_input, init) =>
        new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason))),
    );
    const uri = `https://slow-${crypto.randomUUID()}.example.test/jwks.json`;
    const client = await keyedClient(key, { jwks: undefined, jwks_uri: uri });
    const started = Date.now();
    const res = await tokenRequest(await assertion(client.client_id, key));
    await expectOAuthError(res, 401, 'invalid_client');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('cleanup', () => {
  it('forgets the jtis of expired assertions', async () => {
    const key = await keyPair('ES256');
    const client = await keyedClient(key);
    expect((await tokenRequest(await assertion(client.client_id, key))).status).toBe(200);
    const count = async () =>
      (await env.DB.prepare('SELECT count(*) AS n FROM oauth_assertion_jtis').first<{ n: number }>())!.n;
    const before = await count();
    expect(before).toBeGreaterThan(0);
    await cleanup(env, Date.now() + 10 * 60_000);
    expect(await count()).toBe(0);
  });
});
