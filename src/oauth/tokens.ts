/**
 * The JWTs the OAuth endpoints issue, with jose: access tokens per RFC 9068 and ID tokens per
 * OIDC Core §2. Both are signed with the ring's asymmetric keys only (issuer.ts), so resource
 * servers and relying parties verify them with the JWKS.
 *
 * An OAuth access token is kept apart from the service's own (src/credentials/tokens.ts): it
 * carries `client_id` and `scope` and never `token_use: "access"` nor `role`, which the
 * service's own routes require, so /auth/* and /admin/* refuse it; and this module refuses the
 * service's tokens, which carry no `client_id`.
 */
import { decodeProtectedHeader, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { AsymmetricAlg } from '../platform/config';
import { randomToken } from '../platform/crypto';
import { CLOCK_SKEW_SECONDS } from '../credentials/tokens';
import type { KeyRing } from '../credentials/keys';
import type { OAuthKeys } from './issuer';

export const ACCESS_TOKEN_TYP = 'at+jwt';
/**
 * OAuth access tokens are signed with RS256: RFC 9068 §4 makes it the one algorithm every
 * resource server must accept.
 */
const ACCESS_TOKEN_ALG: AsymmetricAlg = 'RS256';

export type OAuthAccessClaims = {
  iss: string;
  sub: string;
  /** The resource (RFC 8707) the grant is bound to, else the issuer. */
  aud: string;
  client_id: string;
  scope: string;
  iat: number;
  exp: number;
  jti: string;
  /**
   * The grant (a session of the service): ending it ends the token at userinfo and introspection.
   * None on a client's own token (client credentials, `sub` = `client_id`): it has no grant.
   */
  sid?: string | undefined;
  auth_time?: number | undefined;
  /** RFC 9068 §2.2.3.1 (SCIM's `roles`): the user's role, with the `roles` scope only. */
  roles?: string[] | undefined;
  /** RFC 9449 §6.1: the DPoP key the token is bound to (its JWK SHA-256 thumbprint). */
  cnf?: { jkt: string } | undefined;
};

/**
 * What a token is issued from: the grant, its user, and what was granted; or, for client
 * credentials, the client alone (`userId` is then the client_id, and there is no grant).
 */
export type TokenSubject = {
  userId: string;
  clientId: string;
  grantId?: string | undefined;
  scope: string;
  resource: string | null;
  /** ms since the epoch. */
  authTime?: number | undefined;
  role?: string | undefined;
  /** The DPoP key of the token request's proof: the token is bound to it. */
  jkt?: string | undefined;
};

export async function issueOAuthAccessToken(
  keys: OAuthKeys,
  issuer: string,
  subject: TokenSubject,
  ttl: number,
  now = Date.now(),
): Promise<{ token: string; claims: OAuthAccessClaims }> {
  const iat = Math.floor(now / 1000);
  const scopes = subject.scope.split(' ');
  const claims: OAuthAccessClaims = {
    iss: issuer,
    sub: subject.userId,
    aud: subject.resource ?? issuer,
    client_id: subject.clientId,
    scope: subject.scope,
    iat,
    exp: iat + ttl,
    jti: randomToken(16),
    ...(subject.grantId ? { sid: subject.grantId } : {}),
    ...(subject.authTime ? { auth_time: Math.floor(subject.authTime / 1000) } : {}),
    ...(subject.role && scopes.includes('roles') ? { roles: [subject.role] } : {}),
    ...(subject.jkt ? { cnf: { jkt: subject.jkt } } : {}),
  };
  const key = keys.signer(ACCESS_TOKEN_ALG);
  const token = await new SignJWT(claims as unknown as JWTPayload)
    .setProtectedHeader({ alg: key.alg, typ: ACCESS_TOKEN_TYP, kid: key.kid })
    .sign(key.key);
  return { token, claims };
}

export type IdTokenInput = {
  issuer: string;
  clientId: string;
  userId: string;
  grantId: string;
  authTime: number;
  amr: readonly string[];
  nonce?: string | null | undefined;
  /** The claims the granted scopes release (claims.ts). */
  claims: Record<string, unknown>;
  alg: AsymmetricAlg;
  ttl: number;
};

/** An ID token (OIDC Core §2), signed with the client's registered algorithm (RS256 by default). */
export async function issueIdToken(keys: OAuthKeys, input: IdTokenInput, now = Date.now()): Promise<string> {
  const iat = Math.floor(now / 1000);
  const key = keys.signer(input.alg);
  return new SignJWT({
    ...input.claims,
    iss: input.issuer,
    sub: input.userId,
    aud: input.clientId,
    iat,
    exp: iat + input.ttl,
    auth_time: Math.floor(input.authTime / 1000),
    amr: [...input.amr],
    sid: input.grantId,
    ...(input.nonce ? { nonce: input.nonce } : {}),
  })
    .setProtectedHeader({ alg: key.alg, typ: 'JWT', kid: key.kid })
    .sign(key.key);
}

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/**
 * Verifies an OAuth access token this issuer signed, and returns its claims, or null for
 * anything else: malformed, signed by an unknown or symmetric key, expired, another issuer,
 * another `typ`, or one of the service's own access tokens.
 */
export async function verifyOAuthAccessToken(
  ring: KeyRing,
  issuer: string,
  token: string,
): Promise<OAuthAccessClaims | null> {
  let kid: unknown;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    return null;
  }
  const key = typeof kid === 'string' ? ring.verify.get(kid) : undefined;
  // A shared secret never verifies what third parties could have been shown.
  if (!key || key.alg === 'HS256') return null;
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, key.key, {
      algorithms: [key.alg],
      issuer,
      typ: ACCESS_TOKEN_TYP,
      clockTolerance: CLOCK_SKEW_SECONDS,
      requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'jti'],
    }));
  } catch {
    return null;
  }
  // jose's tolerance applies to `exp` too; this token must never be used past its lifetime.
  if (typeof payload.exp !== 'number' || payload.exp * 1000 <= Date.now()) return null;
  const { sub, aud, client_id, scope, sid, jti, iat, exp, auth_time, roles, cnf } = payload as Record<string, unknown>;
  const jkt = (cnf as { jkt?: unknown } | undefined)?.jkt;
  if (
    !nonEmpty(sub) ||
    !nonEmpty(aud) ||
    !nonEmpty(client_id) ||
    typeof scope !== 'string' ||
    // A token without a grant is a client's own, and names only that client.
    (sid === undefined ? sub !== client_id : !nonEmpty(sid)) ||
    !nonEmpty(jti) ||
    'token_use' in payload
  ) {
    return null;
  }
  return {
    iss: issuer,
    sub,
    aud,
    client_id,
    scope,
    sid: sid as string | undefined,
    jti,
    iat: iat as number,
    exp: exp as number,
    auth_time: typeof auth_time === 'number' ? auth_time : undefined,
    roles: Array.isArray(roles) ? (roles as string[]) : undefined,
    cnf: nonEmpty(jkt) ? { jkt } : undefined,
  };
}
