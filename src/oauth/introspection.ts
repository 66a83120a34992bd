/**
 * Token introspection (RFC 7662). The caller is an authenticated client, and it sees only
 * tokens issued to it or whose audience names it; anything else, like any token that is
 * unknown, expired, revoked or of an ended grant, is `{"active": false}` and nothing more
 * (§2.2), so introspection cannot be used to probe other clients' tokens.
 */
import { and, eq, gt, isNull } from 'drizzle-orm';
import { sha256Base64Url } from '../platform/crypto';
import type { Database } from '../platform/db/client';
import { refreshTokens, sessions } from '../platform/db/schema';
import type { KeyRing } from '../credentials/keys';
import { getClient, type OAuthClient } from './clients';
import { findLiveGrant } from './grant-store';
import { verifyOAuthAccessToken } from './tokens';

export type Introspection = { active: false } | ({ active: true } & Record<string, unknown>);

const INACTIVE: Introspection = { active: false };

async function introspectAccessToken(
  db: Database,
  ring: KeyRing,
  issuer: string,
  client: OAuthClient,
  token: string,
  now: number,
): Promise<Introspection | null> {
  const claims = await verifyOAuthAccessToken(ring, issuer, token);
  if (!claims) return null;
  if (claims.client_id !== client.clientId && claims.aud !== client.clientId) return INACTIVE;
  let username: string | undefined;
  if (claims.sid) {
    const live = await findLiveGrant(db, claims.sid, claims.client_id, now);
    if (!live || live.user.id !== claims.sub) return INACTIVE;
    username = live.user.username;
  } else {
    // A client's own token (client credentials) lives while its client is registered for that grant.
    const owner = claims.client_id === client.clientId ? client : await getClient(db, claims.client_id);
    if (!owner?.grantTypes.includes('client_credentials')) return INACTIVE;
  }
  return {
    active: true,
    // RFC 9449 §6.2: a bound token says so, and names its key, for the resource server to check.
    token_type: claims.cnf ? 'DPoP' : 'Bearer',
    ...(claims.cnf ? { cnf: claims.cnf } : {}),
    scope: claims.scope,
    client_id: claims.client_id,
    sub: claims.sub,
    aud: claims.aud,
    iss: claims.iss,
    iat: claims.iat,
    exp: claims.exp,
    jti: claims.jti,
    ...(username && claims.scope.split(' ').includes('profile') ? { username } : {}),
  };
}

async function introspectRefreshToken(db: Database, client: OAuthClient, token: string, now: number) {
  const row = await db
    .select({
      grantId: sessions.id,
      createdAt: refreshTokens.createdAt,
      expiresAt: refreshTokens.expiresAt,
      rotatedAt: refreshTokens.rotatedAt,
      jkt: sessions.dpopJkt,
    })
    .from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .where(
      and(
        eq(refreshTokens.tokenHash, await sha256Base64Url(token)),
        eq(sessions.clientId, client.clientId),
        isNull(refreshTokens.rotatedAt),
        gt(refreshTokens.expiresAt, now),
      ),
    )
    .get();
  if (!row) return null;
  const live = await findLiveGrant(db, row.grantId, client.clientId, now);
  if (!live) return INACTIVE;
  return {
    active: true,
    scope: live.grant.scope,
    client_id: client.clientId,
    sub: live.user.id,
    iat: Math.floor(row.createdAt / 1000),
    exp: Math.floor(Math.min(row.expiresAt, live.grant.expiresAt) / 1000),
    ...(row.jkt ? { cnf: { jkt: row.jkt } } : {}),
  } satisfies Introspection;
}

export async function introspect(
  db: Database,
  ring: KeyRing,
  issuer: string,
  client: OAuthClient,
  input: { token: string; hint?: string | undefined },
  now = Date.now(),
): Promise<Introspection> {
  // The hint orders the search, which goes on through every kind (§2.1).
  const access = () => introspectAccessToken(db, ring, issuer, client, input.token, now);
  const refresh = () => introspectRefreshToken(db, client, input.token, now);
  const looksLikeJwt = input.token.split('.').length === 3;
  const order = input.hint === 'refresh_token' || !looksLikeJwt ? [refresh, access] : [access, refresh];
  for (const attempt of order) {
    const answer = await attempt();
    if (answer) return answer;
  }
  return INACTIVE;
}
