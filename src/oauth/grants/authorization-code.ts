/**
 * grant_type=authorization_code (RFC 6749 §4.1.3, PKCE per RFC 7636 §4.6). The code must be
 * this client's, unexpired, unused, sent with the same redirect_uri, and proven with the
 * verifier of its S256 challenge. Its exchange starts the grant: a session of the user with
 * the client, created in the same D1 batch that marks the code used.
 *
 * A code presented a second time answers `invalid_grant` and ends the grant its first use
 * created (RFC 6749 §4.1.2: "SHOULD revoke ... all tokens previously issued based on that
 * authorization code"): whoever holds a copy of it, one of the two uses was not the client.
 */
import { and, eq, isNull, sql } from 'drizzle-orm';
import { audit } from '../../platform/audit';
import { sha256Base64Url, timingSafeEqual, utf8 } from '../../platform/crypto';
import { oauthCodes, users } from '../../platform/db/schema';
import { revokeSession, sessionLiveSql } from '../../sessions/sessions';
import { claimsUserColumns } from '../claims';
import { codeHash } from '../codes';
import { OAuthError } from '../errors';
import { required, type Grant, type GrantContext } from './context';
import { tokenResponse } from './issue';
import { redeemIntoGrant } from './redeem';

/** RFC 7636 §4.1: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~". */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

const invalidGrant = (description: string) => new OAuthError('invalid_grant', description);

async function pkceMatches(verifier: string, challenge: string): Promise<boolean> {
  return timingSafeEqual(utf8(await sha256Base64Url(verifier)), utf8(challenge));
}

function readCode(ctx: GrantContext, hash: string) {
  return ctx.db
    .select({
      code: oauthCodes,
      user: claimsUserColumns,
      // 1 when the browser session the code came from is still live (or there was none).
      browserLive: sql<number>`(${oauthCodes.browserSessionId} IS NULL OR ${sessionLiveSql(oauthCodes.browserSessionId, ctx.now)})`,
    })
    .from(oauthCodes)
    .innerJoin(users, eq(users.id, oauthCodes.userId))
    .where(eq(oauthCodes.codeHash, hash))
    .get();
}

/** Ends the grant a code's first use created: its second use is a replay. */
async function replayed(ctx: GrantContext, hash: string, grantId: string | null, userId: string): Promise<never> {
  if (grantId) await revokeSession(ctx.db, grantId, 'code_replayed', ctx.now);
  audit('oauth_code_replayed', {
    ...ctx.log,
    userId,
    clientId: ctx.client.clientId,
    sessionId: grantId ?? undefined,
  });
  throw invalidGrant('The code has already been used; the tokens issued for it are revoked.');
}

async function handle(ctx: GrantContext) {
  const code = required(ctx.params, 'code');
  const redirectUri = required(ctx.params, 'redirect_uri');
  const verifier = required(ctx.params, 'code_verifier');
  if (!VERIFIER.test(verifier)) {
    throw new OAuthError('invalid_request', 'code_verifier must be 43-128 unreserved characters (RFC 7636).');
  }
  const hash = await codeHash(code);
  const row = await readCode(ctx, hash);
  // Another client's code is answered as an unknown one, and is left unspent for its owner.
  if (!row || row.code.clientId !== ctx.client.clientId) throw invalidGrant('The code is invalid or expired.');
  const stored = row.code;
  if (stored.usedAt !== null) return replayed(ctx, hash, stored.grantId, stored.userId);
  if (stored.expiresAt <= ctx.now) throw invalidGrant('The code is invalid or expired.');
  if (stored.redirectUri !== redirectUri) throw invalidGrant('redirect_uri differs from the authorization request.');
  if (!(await pkceMatches(verifier, stored.codeChallenge))) {
    throw invalidGrant('code_verifier does not match the code_challenge.');
  }
  if (row.browserLive !== 1) throw invalidGrant('The sign-in this code was issued from has ended.');
  const resource = ctx.params.resource;
  if (resource !== undefined && resource !== stored.resource) {
    throw new OAuthError('invalid_target', 'resource differs from the one granted at the authorization request.');
  }
  // RFC 9449 §10: a code asked for with dpop_jkt goes only to a proof of that key.
  if (stored.dpopJkt !== null && stored.dpopJkt !== ctx.dpop?.jkt) {
    throw invalidGrant('The code is bound to the dpop_jkt key: send a DPoP proof made with it.');
  }

  const scopes = stored.scope.split(' ');
  // Refresh tokens only where the user granted offline access and the client may refresh.
  const refreshable = scopes.includes('offline_access') && ctx.client.grantTypes.includes('refresh_token');
  const { issued, claimed, created } = await redeemIntoGrant(ctx, {
    userId: stored.userId,
    tokenVersion: stored.tokenVersion,
    grant: {
      clientId: ctx.client.clientId,
      scope: stored.scope,
      resource: stored.resource,
      authTime: stored.authTime,
      amr: stored.amr,
      browserSessionId: stored.browserSessionId,
    },
    refreshable,
    claimedFor: (grantId) =>
      sql`EXISTS (SELECT 1 FROM ${oauthCodes} WHERE ${oauthCodes.codeHash} = ${hash} AND ${oauthCodes.grantId} = ${grantId})`,
    claim: (grantId, proofIsOurs) =>
      ctx.db
        .update(oauthCodes)
        .set({ usedAt: ctx.now, grantId })
        .where(and(eq(oauthCodes.codeHash, hash), isNull(oauthCodes.usedAt), proofIsOurs))
        .returning({ grantId: oauthCodes.grantId }),
  });
  if (!claimed) {
    const winner = await ctx.db
      .select({ grantId: oauthCodes.grantId })
      .from(oauthCodes)
      .where(eq(oauthCodes.codeHash, hash))
      .get();
    return replayed(ctx, hash, winner?.grantId ?? null, stored.userId);
  }
  if (!created) {
    throw invalidGrant('The user signed out everywhere or changed their password since this code was issued.');
  }
  audit('oauth_code_exchanged', {
    ...ctx.log,
    userId: stored.userId,
    clientId: ctx.client.clientId,
    sessionId: issued.sessionId,
    scope: stored.scope,
  });
  return tokenResponse(
    ctx,
    {
      id: issued.sessionId,
      user: row.user,
      scope: stored.scope,
      resource: stored.resource,
      authTime: stored.authTime,
      amr: stored.amr.split(' ').filter(Boolean),
    },
    { refreshToken: refreshable ? issued.refreshToken : undefined, nonce: stored.nonce },
  );
}

export const authorizationCodeGrant: Grant = { grantType: 'authorization_code', handle };
