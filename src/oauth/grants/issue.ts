/** What every grant ends with: the token response (RFC 6749 §5.1) for a grant of a user. */
import type { ClaimsUser } from '../claims';
import { userClaims } from '../claims';
import type { OAuthClient } from '../clients';
import type { OAuthKeys } from '../issuer';
import { issueIdToken, issueOAuthAccessToken } from '../tokens';
import type { Config } from '../../platform/config';
import type { ProofClaim } from '../../dpop/replay';

export type TokenResponse = {
  access_token: string;
  /** RFC 9449 §5: `DPoP` for a token bound to the request's proof. */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope: string;
  refresh_token?: string | undefined;
  id_token?: string | undefined;
};

export type IssuedGrant = {
  id: string;
  user: ClaimsUser;
  /** The scope of this response: the grant's, or a narrower one asked for at refresh. */
  scope: string;
  resource: string | null;
  authTime: number;
  amr: readonly string[];
};

export async function tokenResponse(
  ctx: {
    config: Config;
    issuer: string;
    keys: OAuthKeys;
    client: OAuthClient;
    now: number;
    dpop?: ProofClaim | undefined;
  },
  grant: IssuedGrant,
  extra: { refreshToken?: string | undefined; nonce?: string | null | undefined },
): Promise<TokenResponse> {
  const ttl = ctx.config.accessTokenTtl;
  const jkt = ctx.dpop?.jkt;
  const subject = {
    jkt,
    userId: grant.user.id,
    clientId: ctx.client.clientId,
    grantId: grant.id,
    scope: grant.scope,
    resource: grant.resource,
    authTime: grant.authTime,
    role: grant.user.role,
  };
  const access = await issueOAuthAccessToken(ctx.keys, ctx.issuer, subject, ttl, ctx.now);
  const idToken = grant.scope.split(' ').includes('openid')
    ? await issueIdToken(
        ctx.keys,
        {
          issuer: ctx.issuer,
          clientId: ctx.client.clientId,
          userId: grant.user.id,
          grantId: grant.id,
          authTime: grant.authTime,
          amr: grant.amr,
          nonce: extra.nonce,
          claims: userClaims(grant.user, grant.scope),
          alg: ctx.client.idTokenSignedResponseAlg,
          ttl,
        },
        ctx.now,
      )
    : undefined;
  return {
    access_token: access.token,
    token_type: jkt ? 'DPoP' : 'Bearer',
    expires_in: ttl,
    scope: grant.scope,
    ...(extra.refreshToken ? { refresh_token: extra.refreshToken } : {}),
    ...(idToken ? { id_token: idToken } : {}),
  };
}
