/**
 * grant_type=refresh_token (RFC 6749 §6). The grant's refresh tokens rotate exactly as the
 * service's own sessions' do (src/sessions/sessions.ts): the same compare-and-swap, the same
 * grace window for racing requests, and a token presented again after it ends the grant.
 * A client may narrow the scope for this response; it can never widen it.
 */
import { audit } from '../../platform/audit';
import type { Session } from '../../platform/db/schema';
import { ApiError } from '../../platform/errors';
import { rotateRefreshToken } from '../../sessions/sessions';
import { replayedProof } from '../../dpop/replay';
import { OAuthError } from '../errors';
import { parseScope } from '../scopes';
import { required, type Grant, type GrantContext } from './context';
import { tokenResponse } from './issue';

async function handle(ctx: GrantContext) {
  const presented = required(ctx.params, 'refresh_token');
  const asked = ctx.params.scope === undefined ? undefined : parseScope(ctx.params.scope);
  const resource = ctx.params.resource;
  const grantedOf = (session: Pick<Session, 'scope'>) => (session.scope ?? '').split(' ').filter(Boolean);
  // Checked before the token rotates, so a refused request leaves the client its token.
  const check = (session: Session) => {
    const wider = asked?.filter((s) => !grantedOf(session).includes(s)) ?? [];
    if (wider.length > 0) throw new OAuthError('invalid_scope', `Not granted: ${wider.join(' ')}.`);
    if (resource !== undefined && resource !== session.resource) {
      throw new OAuthError('invalid_target', 'resource differs from the one granted.');
    }
  };
  let outcome;
  try {
    outcome = await rotateRefreshToken(ctx.db, ctx.config, presented, ctx.now, {
      clientId: ctx.client.clientId,
      // Only a request that narrows the scope or names a resource can be refused by the check,
      // which reads the grant first: the common refresh skips that read (one round trip fewer).
      check: asked !== undefined || resource !== undefined ? check : undefined,
      dpop: ctx.dpop,
    });
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
  // A public client's grant begun with a proof is bound (RFC 9449 §5): a refresh without a
  // proof of its key is refused and leaves the token unspent; a spent proof, at any grant.
  if (outcome.kind === 'refused') {
    audit('refresh_dpop_refused', {
      ...ctx.log,
      userId: outcome.userId,
      clientId: ctx.client.clientId,
      sessionId: outcome.sessionId,
      reason: outcome.reason,
    });
    if (outcome.reason === 'replayed_proof') throw replayedProof();
    throw new OAuthError('invalid_grant', 'This refresh token needs a DPoP proof of its key.');
  }
  const { user, session, issued } = outcome;
  const granted = grantedOf(session);
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
      amr: (session.amr ?? '').split(' ').filter(Boolean),
    },
    { refreshToken: issued.refreshToken },
  );
}

export const refreshTokenGrant: Grant = { grantType: 'refresh_token', handle };
