/**
 * The UserInfo endpoint (OIDC Core §5.3): the claims of the granted scopes, for an OAuth
 * access token whose grant is still live. Errors are RFC 6750's, with a Bearer challenge.
 */
import type { Database } from '../platform/db/client';
import type { KeyRing } from '../credentials/keys';
import { userClaims } from './claims';
import { bearerChallenge, OAuthError } from './errors';
import { findLiveGrant } from './grant-store';
import { verifyOAuthAccessToken, type OAuthAccessClaims } from './tokens';

const REALM = 'edge-auth';

export const bearerError = (code: 'invalid_token' | 'insufficient_scope' | 'invalid_request', description: string) =>
  new OAuthError(code, description, {
    headers: { 'WWW-Authenticate': bearerChallenge(REALM, { code, description }) },
  });

/** RFC 6750 §3.1: a request with no token gets a bare challenge and no error code. */
export const noToken = (description = 'An access token is required (Authorization: Bearer <token>).') =>
  new OAuthError('invalid_token', description, { headers: { 'WWW-Authenticate': bearerChallenge(REALM) } });

/** The token from `Authorization: Bearer <token>` (RFC 6750 §2.1), or the fitting error. */
export function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined) throw noToken();
  const [scheme = '', token, ...rest] = authorization.trim().split(/ +/);
  if (scheme.toLowerCase() !== 'bearer') throw noToken();
  if (!token || rest.length > 0 || !/^[A-Za-z0-9_.~+/=-]+$/.test(token)) {
    throw bearerError('invalid_request', 'The Authorization header does not carry one well-formed token.');
  }
  return token;
}

/** The claims the token's grant releases about its user. */
export async function userinfo(
  db: Database,
  ring: KeyRing,
  issuer: string,
  token: string,
  now = Date.now(),
): Promise<Record<string, unknown>> {
  const claims: OAuthAccessClaims | null = await verifyOAuthAccessToken(ring, issuer, token);
  if (!claims) throw bearerError('invalid_token', 'The access token is invalid or expired.');
  // A token for another resource server is not for this endpoint (RFC 8707 audience restriction).
  if (claims.aud !== issuer) throw bearerError('invalid_token', 'The access token is not meant for this endpoint.');
  const scopes = claims.scope.split(' ');
  if (!scopes.includes('openid')) {
    throw bearerError('insufficient_scope', 'The userinfo endpoint needs a token with the openid scope.');
  }
  const live = await findLiveGrant(db, claims.sid, claims.client_id, now);
  if (!live || live.user.id !== claims.sub) throw bearerError('invalid_token', 'The grant of this token has ended.');
  return { sub: live.user.id, ...userClaims(live.user, claims.scope) };
}
