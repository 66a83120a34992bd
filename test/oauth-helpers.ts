/**
 * The OAuth provider as the tests drive it: the Worker with an RS256 key and an issuer, a
 * fetch that calls it in-process (for openid-client and oauth4webapi, which take a custom
 * fetch), clients registered through DCR, and codes made with createAuthorizationCode, as the
 * authorization endpoint makes them once a user has signed in and consented.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { expect } from 'vitest';
import { createApp } from '../src/http/app';
import { getDb } from '../src/platform/db/client';
import { createAuthorizationCode } from '../src/oauth/codes';
import { getConfig } from '../src/platform/config';
import { ORIGIN, login, promote, register, sessionIdOf, uniqueName, type Api, type Init } from './helpers';

export const ISSUER = ORIGIN;

type PrivateJwk = JsonWebKey & { kid: string; alg: string };

async function generate(alg: 'RS256' | 'ES256' | 'EdDSA', kid: string): Promise<PrivateJwk> {
  const params =
    alg === 'RS256'
      ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
      : alg === 'ES256'
        ? { name: 'ECDSA', namedCurve: 'P-256' }
        : { name: 'Ed25519' };
  const pair = (await crypto.subtle.generateKey(params, true, ['sign', 'verify'])) as CryptoKeyPair;
  const jwk = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as JsonWebKey;
  const { key_ops: _ops, ext: _ext, ...material } = jwk;
  return { ...material, kid, alg };
}

let keys: Promise<{ rs256: PrivateJwk; es256: PrivateJwk }> | undefined;
/** One RS256 and one ES256 key per test file (RSA generation is slow). */
export const testKeys = () =>
  (keys ??= Promise.all([generate('RS256', 'rs-test'), generate('ES256', 'es-test')]).then(([rs256, es256]) => ({
    rs256,
    es256,
  })));

export { generate as generateKey };

/** Bindings of a provider: the RS256 key (and an ES256 one), the issuer. */
export async function providerEnv(overrides: Partial<Cloudflare.Env> = {}): Promise<Partial<Cloudflare.Env>> {
  const { rs256, es256 } = await testKeys();
  return { JWT_PRIVATE_KEY: JSON.stringify([rs256, es256]), OAUTH_ISSUER: ISSUER, ...overrides };
}

export type Provider = {
  /** fetch(), as a third-party client library calls it. */
  fetch: typeof fetch;
  /** The api() of test/helpers.ts, against this provider. */
  api: Api;
  env: Cloudflare.Env;
};

/** The Worker with the given bindings, called in-process. */
export async function provider(overrides: Partial<Cloudflare.Env> = {}): Promise<Provider> {
  const app = createApp();
  const appEnv = { ...env, ...(await providerEnv(overrides)) } as Cloudflare.Env;
  const call = async (request: Request) => {
    const ctx = createExecutionContext();
    const res = await app.fetch(request, appEnv, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  };
  const fetchFn = ((input: RequestInfo | URL, init?: RequestInit) => call(new Request(input, init))) as typeof fetch;
  const api: Api = (path, init: Init = {}) => {
    const headers = new Headers(init.headers);
    if (init.json !== undefined) headers.set('Content-Type', 'application/json');
    if (init.token) headers.set('Authorization', `Bearer ${init.token}`);
    return call(
      new Request(path.startsWith('http') ? path : `${ORIGIN}${path}`, {
        method: init.method ?? (init.json !== undefined || init.body !== undefined ? 'POST' : 'GET'),
        headers,
        body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
      }),
    );
  };
  return { fetch: fetchFn, api, env: appEnv };
}

/** A form body, as OAuth clients send one. */
export function form(params: Record<string, string>, headers: Record<string, string> = {}): Init {
  return {
    method: 'POST',
    body: new URLSearchParams(params).toString(),
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
  };
}

export const basic = (id: string, secret: string) =>
  `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}`;

/** A signed-in admin of `p`, for registering clients. */
export async function adminOf(p: Provider) {
  const username = uniqueName('admin');
  const user = await register(username);
  await promote(user.id);
  const res = await p.api('/auth/login', { json: { username, password: user.password } });
  expect(res.status).toBe(200);
  const tokens = (await res.json()) as { access_token: string };
  return { ...user, token: tokens.access_token };
}

export type RegisteredClient = {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
  token_endpoint_auth_method: string;
  [key: string]: unknown;
};

export const REDIRECT_URI = 'https://rp.example.test/callback';

/** Registers a client through DCR with an admin token. */
export async function registerClient(
  p: Provider,
  metadata: Record<string, unknown> = {},
  adminToken?: string,
): Promise<RegisteredClient> {
  const token = adminToken ?? (await adminOf(p)).token;
  const res = await p.api('/oauth/register', {
    token,
    json: {
      client_name: 'Test app',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      scope: 'openid profile email roles offline_access',
      ...metadata,
    },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as RegisteredClient;
}

/** PKCE: a verifier and its S256 challenge. */
export async function pkce() {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const b64url = (b: Uint8Array) =>
    btoa(String.fromCharCode(...b))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '');
  const verifier = b64url(bytes);
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  return { verifier, challenge };
}

/** A user signed in to the service through `p` (their browser session), for codes to be bound to. */
export async function browserUser(p: Provider) {
  const user = await register(uniqueName('rp_user'));
  const res = await p.api('/auth/login', { json: { username: user.username, password: user.password } });
  expect(res.status).toBe(200);
  const tokens = (await res.json()) as { access_token: string; refresh_token: string };
  return { ...user, tokens, sessionId: sessionIdOf(tokens.access_token) };
}

export type CodeOptions = {
  scope?: string;
  nonce?: string;
  resource?: string;
  redirectUri?: string;
  amr?: string[];
  authTime?: number;
  sessionId?: string | null;
  /** RFC 9449 §10: the code is bound to this DPoP key thumbprint. */
  dpopJkt?: string;
};

/** A code, as the authorization endpoint makes one after sign-in and consent. */
export async function codeFor(
  p: Provider,
  client: RegisteredClient,
  user: { id: string; sessionId?: string },
  options: CodeOptions = {},
) {
  const { verifier, challenge } = await pkce();
  const code = await createAuthorizationCode(getDb(env.DB), getConfig(p.env), {
    clientId: client.client_id,
    redirectUri: options.redirectUri ?? client.redirect_uris[0]!,
    codeChallenge: challenge,
    nonce: options.nonce,
    userId: user.id,
    sessionId: options.sessionId === null ? undefined : (options.sessionId ?? user.sessionId),
    scope: options.scope ?? 'openid profile email offline_access',
    resource: options.resource,
    authTime: options.authTime ?? Date.now() - 5_000,
    amr: options.amr ?? ['pwd'],
    dpopJkt: options.dpopJkt,
  });
  return { code, verifier };
}

export type TokenAnswer = {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
};

/** Exchanges a code at the token endpoint with client_secret_basic (or `none` for public clients). */
export async function exchange(
  p: Provider,
  client: RegisteredClient,
  code: string,
  verifier: string,
  extra: Record<string, string> = {},
) {
  const auth: Record<string, string> = client.client_secret
    ? { Authorization: basic(client.client_id, client.client_secret) }
    : {};
  const params: Record<string, string> = client.client_secret ? {} : { client_id: client.client_id };
  return p.api(
    '/oauth/token',
    form(
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: client.redirect_uris[0]!,
        code_verifier: verifier,
        ...params,
        ...extra,
      },
      auth,
    ),
  );
}

/** A full grant: a signed-in user, a code, and its exchange. */
export async function grant(p: Provider, client: RegisteredClient, options: CodeOptions = {}) {
  const user = await browserUser(p);
  const { code, verifier } = await codeFor(p, client, user, options);
  const res = await exchange(p, client, code, verifier);
  expect(res.status, await res.clone().text()).toBe(200);
  return { user, code, verifier, tokens: (await res.json()) as TokenAnswer };
}

/** Decodes a JWT's header (0) or payload (1) without checking it. */
export function jwtPart(token: string, part: 0 | 1): Record<string, unknown> {
  const text = atob(token.split('.')[part]!.replace(/-/g, '+').replace(/_/g, '/'));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(text, (c) => c.charCodeAt(0)))) as Record<string, unknown>;
}

export { login };

/** A client credentials request (RFC 6749 §4.4.2) with client_secret_basic. */
export const clientCredentials = (p: Provider, client: RegisteredClient, extra: Record<string, string> = {}) =>
  p.api(
    '/oauth/token',
    form(
      { grant_type: 'client_credentials', ...extra },
      { Authorization: basic(client.client_id, client.client_secret!) },
    ),
  );

/** Verifies an access token offline, as a resource server does: with the provider's JWKS only. */
export async function verifyOffline(p: Provider, token: string, audience = ISSUER) {
  const jwks = (await (await p.api('/.well-known/jwks.json')).json()) as JSONWebKeySet;
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: ISSUER, audience, typ: 'at+jwt' });
  return payload;
}
