/**
 * grant_type=refresh_token (RFC 6749 §6). The grant's refresh tokens rotate exactly as the
 * service's own sessions' do (src/sessions/sessions.ts): the same compare-and-swap, the same
 * grace window for racing requests, and a token presented again after it ends the grant.
 * A client may narrow the scope for this response; it can never widen it.
 */
import { and, eq } from 'drizzle-orm';
import { audit } from '../../platform/audit';
import { sha256Base64Url } from '../../platform/crypto';
import { refreshTokens, sessions } from '../../platform/db/schema';
import { ApiError } from '../../platform/errors';
import { rotateRefreshToken } from '../../sessions/sessions';
import { OAuthError } from '../errors';
import { parseScope } from '../scopes';
import { required, type Grant, type GrantContext } from './context';
import { tokenResponse } from './issue';

const words = (text: string | null) => (text ?? '').split(' ').filter(Boolean);

/**
 * A narrower scope or a resource is checked against the grant before the token rotates (one
 * more read, only for requests that ask), so a refused request leaves the client its token.
 */
async function checkRequest(ctx: GrantContext, presented: string, asked: string[] | undefined) {
  const resource = ctx.params.resource;
  if (!asked && resource === undefined) return;
  const grant = await ctx.db
    .select({ scope: sessions.scope, resource: sessions.resource })
    .from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .where(
      and(eq(refreshTokens.tokenHash, await sha256Base64Url(presented)), eq(sessions.clientId, ctx.client.clientId)),
    )
    .get();
  // An unknown token is refused by the rotation below, like any other.
  if (!grant) return;
  const wider = asked?.filter((s) => !words(grant.scope).includes(s)) ?? [];
  if (wider.length > 0) throw new OAuthError('invalid_scope', `Not granted: ${wider.join(' ')}.`);
  if (resource !== undefined && resource !== grant.resource) {
    throw new OAuthError('invalid_target', 'resource differs from the one granted.');
  }
}

async function handle(ctx: GrantContext) {
  const presented = required(ctx.params, 'refresh_token');
  const asked = ctx.params.scope === undefined ? undefined : parseScope(ctx.params.scope);
  await checkRequest(ctx, presented, asked);
  let outcome;
  try {
    outcome = await rotateRefreshToken(ctx.db, ctx.config, presented, ctx.now, { clientId: ctx.client.clientId });
  } catch (err) {
    if (err instanceof ApiError)
      throw new OAuthError('invalid_grant', 'The refresh token is invalid, expired or revoked.');
    throw err;
  }
  if (outcome.kind === 'reused') {
    audit('oauth_refresh_reused', {
      ...ctx.log,
      userId: outcome.userId,
      clientId: ctx.client.clientId,
      sessionId: outcome.sessionId,
    });
    throw new OAuthError('invalid_grant', 'The refresh token was already used; the grant has been ended.');
  }
  const { user, session, issued } = outcome;
  const granted = words(session.scope);
  const scope = asked ? granted.filter((s) => asked.includes(s as never)).join(' ') : granted.join(' ');
  audit('oauth_refresh', { ...ctx.log, userId: user.id, clientId: ctx.client.clientId, sessionId: session.id });
  // OIDC Core §12.2 (errata): the refreshed ID token carries no nonce; a refresh is not an
  // authentication request.
  return tokenResponse(
    ctx,
    {
      id: session.id,
      user,
      scope,
      resource: session.resource,
      authTime: session.authTime ?? session.createdAt,
      amr: words(session.amr),
    },
    { refreshToken: issued.refreshToken },
  );
}

export const refreshTokenGrant: Grant = { grantType: 'refresh_token', handle };
