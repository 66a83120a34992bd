/**
 * The token endpoint's grants, one module each (as node-oidc-provider's lib/actions/grants),
 * over the shared checks of the endpoint (client authentication, rate limits) and the shared
 * issuance of issue.ts. A grant type is added by one file and one line in GRANTS (and, for
 * clients to register it, in CLIENT_GRANT_TYPES).
 */
import { OAuthError } from '../errors';
import { authorizationCodeGrant } from './authorization-code';
import { clientCredentialsGrant } from './client-credentials';
import type { Grant, GrantContext } from './context';
import { deviceCodeGrant } from './device-code';
import type { TokenResponse } from './issue';
import { refreshTokenGrant } from './refresh-token';

const GRANTS: readonly Grant[] = [authorizationCodeGrant, refreshTokenGrant, deviceCodeGrant, clientCredentialsGrant];
const byType = new Map(GRANTS.map((g) => [g.grantType, g]));

/** Every grant type the token endpoint serves, for discovery. */
export const GRANT_TYPES = GRANTS.map((g) => g.grantType);

/** Runs the grant the request names, if the service serves it and the client registered it. */
export function runGrant(ctx: GrantContext): Promise<TokenResponse> {
  const type = ctx.params.grant_type;
  if (type === undefined) throw new OAuthError('invalid_request', 'grant_type is missing.');
  const grant = byType.get(type);
  if (!grant) throw new OAuthError('unsupported_grant_type', `This service does not serve ${type.slice(0, 40)}.`);
  if (!(ctx.client.grantTypes as string[]).includes(type)) {
    throw new OAuthError('unauthorized_client', `This client is not registered for ${type}.`);
  }
  // RFC 9449 §5.2: a client registered with dpop_bound_access_tokens gets no token without a
  // proof, at any grant. Refused before the grant reads its code, refresh token or device code,
  // so they stay unspent for the retry with a proof. invalid_grant, as node-oidc-provider's
  // checkDpopRequired answers, and as a bound code or refresh token without a proof is here.
  if (ctx.client.dpopBoundAccessTokens && !ctx.dpop) {
    throw new OAuthError('invalid_grant', 'This client must send a DPoP proof with every token request.');
  }
  return grant.handle(ctx);
}
