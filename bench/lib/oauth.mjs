// The bench's OAuth side: the Worker as a provider (an RS256 key), a first-party client, the
// bench user's browser session, and grants got through the real code flow.
import { createHash, generateKeyPairSync } from 'node:crypto';

/** Where the bench client is sent back to; never fetched (the bench reads the code off the redirect). */
export const REDIRECT_URI = 'https://bench-client.example/callback';
/** PKCE: one verifier (43 characters) and its S256 challenge; the Worker hashes it on every exchange all the same. */
export const VERIFIER = 'bench-pkce-verifier-0123456789abcdefghijklmnopqrstuvwxyz';
export const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');
/** What the bench client asks for: the userinfo claims, and refresh tokens. */
export const SCOPE = 'openid profile email offline_access';
export const REFRESH_COOKIE = '__Host-edge-auth-refresh';
export const BROWSER_COOKIE = '__Host-edge-auth-oauth';

/**
 * The variables that make an instance an OAuth provider: an RS256 key made for this run (the
 * OAuth endpoints refuse to sign with the HS256 secret), and the token endpoint's per-client
 * and per-address limits lifted so the scenarios measure the work, not the throttle (whose
 * counting writes are still in the numbers). The issuer is the request's origin (loopback).
 */
export function providerVars() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'rs256-bench', alg: 'RS256' };
  return {
    JWT_PRIVATE_KEY: JSON.stringify([jwk]),
    OAUTH_TOKEN_CLIENT_MAX: '1000000',
    OAUTH_TOKEN_IP_MAX: '1000000',
  };
}

/** The query of the bench client's authorization request. */
export const authorizeQuery = (clientId) =>
  new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    scope: SCOPE,
    state: 'bench-state',
    nonce: 'bench-nonce',
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
  }).toString();

export const basicAuth = (id, secret) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** A header value from a headers object (autocannon keeps the server's case). */
export const header = (headers, name) =>
  headers?.[name] ?? Object.entries(headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1];

/**
 * A client registered through DCR with the admin's token (confidential, client_secret_basic),
 * then marked first-party (`skip_consent`) by the admin, so the flow has no consent page.
 */
export async function registerBenchClient(url, adminToken, headers) {
  const auth = { ...headers, 'content-type': 'application/json', authorization: `Bearer ${adminToken}` };
  const res = await fetch(`${url}/oauth/register`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({
      client_name: 'Bench client',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: SCOPE,
    }),
  });
  if (res.status !== 201) throw new Error(`POST /oauth/register -> ${res.status} ${await res.text()}`);
  const client = await res.json();
  const patched = await fetch(`${url}/admin/oauth/clients/${client.client_id}`, {
    method: 'PATCH',
    headers: auth,
    body: JSON.stringify({ skip_consent: true }),
  });
  if (!patched.ok) throw new Error(`PATCH /admin/oauth/clients -> ${patched.status} ${await patched.text()}`);
  return { clientId: client.client_id, clientSecret: client.client_secret };
}

/** The bench user's browser session with the service: a cookie-mode login's refresh cookie. */
export async function browserSession(url, username, password, headers) {
  const res = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json', origin: url },
    body: JSON.stringify({ username, password, refresh_token_delivery: 'cookie' }),
  });
  if (!res.ok) throw new Error(`POST /auth/login (cookie) -> ${res.status} ${await res.text()}`);
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith(`${REFRESH_COOKIE}=`));
  if (!cookie) throw new Error('the cookie-mode login set no refresh cookie');
  return cookie.split(';')[0].slice(REFRESH_COOKIE.length + 1);
}
