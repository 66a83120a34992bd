/**
 * Client authentication with a JWT the client signs, `private_key_jwt` (RFC 7523 §2.2 and §3,
 * OIDC Core §9), checked as node-oidc-provider's lib/shared/jwt_client_auth.js checks it, with
 * jose: `iss` and `sub` are the client_id, `aud` is the issuer or the token endpoint, `exp` is
 * required and at most five minutes away, the `jti` is used once, and the algorithm is the
 * client's `token_endpoint_auth_signing_alg` when it registered one. Every failure is
 * `invalid_client` (RFC 7521 §4.2.1).
 *
 * The keys are the client's registered `jwks`, or the JWK Set at its `jwks_uri`, fetched with a
 * time and size limit and cached per isolate; a `kid` the cached set lacks (the client rotated)
 * fetches it again, at most every JWKS_REFETCH_MS.
 */
import { lt } from 'drizzle-orm';
import { decodeProtectedHeader, jwtVerify, type JWSHeaderParameters, type JWTPayload } from 'jose';
import { CLOCK_SKEW_SECONDS } from '../credentials/tokens';
import { fromBase64Url, sha256Base64Url } from '../platform/crypto';
import type { Database } from '../platform/db/client';
import { oauthAssertionJtis } from '../platform/db/schema';
import { CLIENT_KEY_ALGS, jwksSchema, KEY_TYPES, type ClientKeyAlg, type JwkSet, type OAuthClient } from './clients';
import { OAUTH_PATHS } from './endpoints';
import { invalidClient, OAuthError } from './errors';

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/**
 * The longest an assertion may live: enough for a slow network, and it bounds how long a used
 * jti must be remembered (the row goes once the assertion has expired).
 */
const MAX_LIFETIME_SECONDS = 300;
const JWKS_CACHE_MS = 5 * 60_000;
const JWKS_REFETCH_MS = 30_000;
const JWKS_TIMEOUT_MS = 3_000;
/** A JWK Set of ten RSA-4096 keys is about 8 KiB. */
const JWKS_MAX_BYTES = 64 * 1024;

/** The client an assertion claims to be (its `sub`), read before anything is verified. */
export function assertedClientId(assertion: string): string {
  let sub: unknown;
  try {
    sub = JSON.parse(new TextDecoder().decode(fromBase64Url(assertion.split('.')[1] ?? '')!)).sub;
  } catch {
    throw invalidClient('The client assertion is not a JWT.');
  }
  if (typeof sub !== 'string' || !sub) throw invalidClient('The client assertion has no sub.');
  return sub;
}

const IMPORT = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  EdDSA: { name: 'Ed25519' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
} as const satisfies Record<ClientKeyAlg, object>;
const NO_KEY = 'no matching key';
type GetKey = (header: JWSHeaderParameters) => Promise<CryptoKey>;

/**
 * The key of `jwks` an assertion's header names: the one with its `kid`, or without a `kid`
 * the only key for its algorithm. (jose has refused any other algorithm before this runs, and
 * checks the key against the algorithm after.)
 */
const keyIn =
  (jwks: JwkSet): GetKey =>
  async ({ alg, kid }) => {
    const keys = jwks.keys.filter(
      (k) => k.kty === KEY_TYPES[alg as ClientKeyAlg] && (k.alg ?? alg) === alg && (kid === undefined || k.kid === kid),
    );
    if (keys.length !== 1) throw new Error(NO_KEY);
    return crypto.subtle.importKey('jwk', keys[0] as JsonWebKey, IMPORT[alg as ClientKeyAlg], false, ['verify']);
  };

/** The body of a JWK Set response, refused past JWKS_MAX_BYTES as it streams in. */
async function readJwks(uri: string): Promise<JwkSet> {
  const res = await fetch(uri, {
    headers: { Accept: 'application/json' },
    // A redirect could lead anywhere; the registered URI is where the keys must be.
    redirect: 'manual',
    signal: AbortSignal.timeout(JWKS_TIMEOUT_MS),
  });
  if (res.status !== 200 || !res.body) throw new Error();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    if ((size += chunk.byteLength) > JWKS_MAX_BYTES) throw new Error();
    chunks.push(chunk);
  }
  return jwksSchema.parse(JSON.parse(await new Blob(chunks).text()));
}

const fetched = new Map<string, { keys: JwkSet; at: number }>();

async function remoteKeys(uri: string, now: number, maxAge: number): Promise<JwkSet> {
  const cached = fetched.get(uri);
  if (cached && now - cached.at < maxAge) return cached.keys;
  let keys: JwkSet;
  try {
    keys = await readJwks(uri);
  } catch {
    throw invalidClient('The keys at the client’s jwks_uri could not be read.');
  }
  if (fetched.size >= 100) fetched.clear();
  fetched.set(uri, { keys, at: now });
  return keys;
}

/** What jose's refusal means, in words for error_description. */
function describe(err: unknown): string {
  const { code, claim } = err as { code?: string; claim?: string };
  if (code === 'ERR_JWT_EXPIRED') return 'The client assertion has expired.';
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') return `The client assertion's ${claim} is missing or wrong.`;
  return 'The client assertion is not signed with a key of this client (ES256, EdDSA, RS256).';
}

/**
 * Verifies `assertion` as `client`'s, and records its jti: a second use of it is refused. The
 * jti is recorded only after the signature verified, so strangers cannot fill the table.
 */
export async function verifyClientAssertion(
  db: Database,
  client: OAuthClient,
  assertion: string,
  context: { issuer: string; now: number },
): Promise<void> {
  const { issuer, now } = context;
  // RFC 7591 §2: with token_endpoint_auth_signing_alg registered, an assertion signed with any
  // other algorithm is refused, even one the service takes from other clients.
  const algorithms = client.tokenEndpointAuthSigningAlg ? [client.tokenEndpointAuthSigningAlg] : CLIENT_KEY_ALGS;
  // Checked before any key is fetched from a jwks_uri (jose checks it again, with the signature).
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(assertion).alg;
  } catch {
    throw invalidClient('The client assertion is not a JWT.');
  }
  if (!algorithms.includes(alg as ClientKeyAlg)) {
    throw invalidClient(`The client assertion must be signed with ${algorithms.join(', ')}.`);
  }
  const verify = (keys: JwkSet) =>
    jwtVerify(assertion, keyIn(keys), {
      algorithms: [...algorithms],
      issuer: client.clientId,
      subject: client.clientId,
      audience: [issuer, `${issuer}${OAUTH_PATHS.token}`],
      requiredClaims: ['exp', 'jti'],
      clockTolerance: CLOCK_SKEW_SECONDS,
      currentDate: new Date(now),
    });
  let payload: JWTPayload;
  try {
    if (client.jwks) {
      ({ payload } = await verify(client.jwks));
    } else {
      const uri = client.jwksUri!;
      try {
        ({ payload } = await verify(await remoteKeys(uri, now, JWKS_CACHE_MS)));
      } catch (err) {
        if ((err as Error).message !== NO_KEY) throw err;
        ({ payload } = await verify(await remoteKeys(uri, now, JWKS_REFETCH_MS)));
      }
    }
  } catch (err) {
    throw err instanceof OAuthError ? err : invalidClient(describe(err));
  }
  const exp = payload.exp!;
  if (exp * 1000 > now + MAX_LIFETIME_SECONDS * 1000) {
    throw invalidClient('The client assertion must expire within 5 minutes.');
  }
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti.length > 256) throw invalidClient('The client assertion needs a jti.');
  const fresh = await db
    .insert(oauthAssertionJtis)
    .values({
      key: await sha256Base64Url(`${client.clientId}\u0000${jti}`),
      expiresAt: (exp + CLOCK_SKEW_SECONDS) * 1000,
    })
    .onConflictDoNothing()
    .returning({ key: oauthAssertionJtis.key });
  if (fresh.length === 0) throw invalidClient('This client assertion was used before.');
}

/** For the daily cleanup: jtis of assertions that have expired, which no check needs any more. */
export const deleteExpiredAssertionJtisQuery = (db: Database, now: number) =>
  db.delete(oauthAssertionJtis).where(lt(oauthAssertionJtis.expiresAt, now));
