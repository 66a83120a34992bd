/**
 * The UserInfo endpoint (OIDC Core §5.3): the claims of the granted scopes, for an OAuth
 * access token whose grant is still live. Errors are RFC 6750's, with a Bearer challenge, or
 * RFC 9449's DPoP challenge for a request that used the DPoP scheme.
 */
import type { Database } from '../platform/db/client';
import type { KeyRing } from '../credentials/keys';
import { userClaims } from './claims';
import { bearerChallenge, OAuthError } from './errors';
import { dpopChallenge } from '../dpop/errors';
import { findLiveGrant } from './grant-store';
import { verifyOAuthAccessToken, type OAuthAccessClaims } from './tokens';

const REALM = 'edge-auth';

type ResourceError = 'invalid_token' | 'insufficient_scope' | 'invalid_request';

/** An error in the challenge of the request's scheme: DPoP's (RFC 9449 §7.1) or Bearer's (RFC 6750 §3). */
export const bearerError = (code: ResourceError, description: string, dpop = false) =>
  new OAuthError(code, description, {
    headers: {
      'WWW-Authenticate': dpop
        ? dpopChallenge({ code, detail: description })
        : bearerChallenge(REALM, { code, description }),
    },
  });

/** RFC 6750 §3.1: a request with no token gets bare challenges (both schemes) and no error code. */
export const noToken = (description = 'An access token is required (Authorization: Bearer or DPoP).') =>
  new OAuthError('invalid_token', description, {
    headers: { 'WWW-Authenticate': `${bearerChallenge(REALM)}, ${dpopChallenge()}` },
  });

/** The token of `Authorization: Bearer <token>` (RFC 6750 §2.1) or `DPoP <token>` (RFC 9449 §7.1). */
export function accessTokenOf(authorization: string | undefined): { token: string; dpop: boolean } {
  if (authorization === undefined) throw noToken();
  const [scheme = '', token, ...rest] = authorization.trim().split(/ +/);
  const dpop = scheme.toLowerCase() === 'dpop';
  if (!dpop && scheme.toLowerCase() !== 'bearer') throw noToken();
  if (!token || rest.length > 0 || !/^[A-Za-z0-9_.~+/=-]+$/.test(token)) {
    throw bearerError('invalid_request', 'The Authorization header does not carry one well-formed token.', dpop);
  }
  return { token, dpop };
}

/**
 * The claims the token's grant releases about its user. `bound` checks the token's sender
 * constraint (RFC 9449 §7: the scheme, and a proof of the `cnf.jkt` key) once its signature is
 * known good and before D1 is asked.
 */
export async function userinfo(
  db: Database,
  ring: KeyRing,
  issuer: string,
  presented: { token: string; dpop: boolean },
  bound: (jkt: string | undefined) => Promise<void>,
  now = Date.now(),
): Promise<Record<string, unknown>> {
  const { token, dpop } = presented;
  const claims: OAuthAccessClaims | null = await verifyOAuthAccessToken(ring, issuer, token);
  if (!claims) throw bearerError('invalid_token', 'The access token is invalid or expired.', dpop);
  // A token for another resource server is not for this endpoint (RFC 8707 audience restriction).
  if (claims.aud !== issuer) {
    throw bearerError('invalid_token', 'The access token is not meant for this endpoint.', dpop);
  }
  await bound(claims.cnf?.jkt);
  const scopes = claims.scope.split(' ');
  if (!scopes.includes('openid')) {
    throw bearerError('insufficient_scope', 'The userinfo endpoint needs a token with the openid scope.', dpop);
  }
  const live = claims.sid && (await findLiveGrant(db, claims.sid, claims.client_id, now));
  if (!live || live.user.id !== claims.sub) {
    throw bearerError('invalid_token', 'The grant of this token has ended.', dpop);
  }
  return { sub: live.user.id, ...userClaims(live.user, claims.scope) };
}
