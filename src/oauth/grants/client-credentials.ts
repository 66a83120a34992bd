/**
 * grant_type=client_credentials (RFC 6749 §4.4), as node-oidc-provider's
 * lib/actions/grants/client_credentials.js: a confidential client asks for a token for itself.
 * It gets the RFC 9068 access token of the other grants, with `sub` = its client_id and no
 * grant (`sid`), and no refresh or ID token (§4.4.3: there is no user). Its scopes are those of
 * the APIs behind the service, within what it registered; `aud` is the `resource` (RFC 8707)
 * or else the issuer.
 *
 * A personal API key (src/api-keys/) is such a client acting as its user: its tokens carry the
 * user as `sub` and the key's grant as `sid`, so whatever ends the user's sessions ends them.
 */
import { useApiKey } from '../../api-keys/api-keys';
import { assertClaimed, claimProofQuery } from '../../dpop/replay';
import { audit } from '../../platform/audit';
import { invalidClient, OAuthError } from '../errors';
import { isResourceUri, RESOURCE_RULE } from '../authorize-request';
import { formatScope, isScope, machineScopes, parseScopeWith } from '../scopes';
import { issueOAuthAccessToken, type TokenSubject } from '../tokens';
import type { Grant, GrantContext } from './context';

async function handle(ctx: GrantContext) {
  const { client, params } = ctx;
  if (client.tokenEndpointAuthMethod === 'none') {
    throw new OAuthError('unauthorized_client', 'client_credentials is for confidential clients only.');
  }
  const resource = params.resource;
  if (resource !== undefined && !isResourceUri(resource)) {
    throw new OAuthError('invalid_target', RESOURCE_RULE);
  }
  const machine = machineScopes(ctx.config.oauth.apiScopes);
  // Scopes of the APIs (as configured now) within the registered ones; a key also the OpenID
  // scopes its user chose.
  const allowed = (client.scope ?? []).filter((s) => machine.includes(s) || (client.ownerId && isScope(s)));
  const asked = params.scope === undefined ? allowed : parseScopeWith(params.scope, machine);
  const outside = asked.filter((s) => !allowed.includes(s));
  if (outside.length > 0) throw new OAuthError('invalid_scope', `Not allowed for this client: ${outside.join(' ')}.`);
  const scope = formatScope(asked);
  if (!scope) throw new OAuthError('invalid_scope', 'This client has no scope to ask for.');

  // RFC 9449: a proof binds the token to its key (cnf.jkt), as at the other grants; its jti is
  // spent in D1 first, so a replayed proof gets nothing.
  const jkt = ctx.dpop?.jkt;
  if (ctx.dpop) assertClaimed(await claimProofQuery(ctx.db, ctx.dpop));
  let subject: TokenSubject = {
    userId: client.clientId,
    clientId: client.clientId,
    scope,
    resource: resource ?? null,
    jkt,
  };
  if (client.ownerId) {
    const key = await useApiKey(ctx.db, client.clientId, scope, ctx.now);
    if (!key) throw invalidClient('This API key has been revoked or has expired.');
    subject = { ...subject, userId: key.userId, grantId: key.grantId, role: key.role };
  }
  const ttl = ctx.config.accessTokenTtl;
  const { token } = await issueOAuthAccessToken(ctx.keys, ctx.issuer, subject, ttl, ctx.now);
  audit('oauth_client_credentials', {
    ...ctx.log,
    userId: client.ownerId ?? undefined,
    clientId: client.clientId,
    scope,
  });
  return { access_token: token, token_type: jkt ? ('DPoP' as const) : ('Bearer' as const), expires_in: ttl, scope };
}

export const clientCredentialsGrant: Grant = { grantType: 'client_credentials', handle };
