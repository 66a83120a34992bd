/**
 * Token revocation (RFC 7009). Revoking a refresh token ends its grant; so does revoking one
 * of its access tokens (§2.1 allows it): an access token is a JWT and cannot be recalled on its
 * own, and ending its grant is what makes it fail at userinfo and introspection at once.
 * A token that is unknown, invalid, already revoked or another client's is answered 200 all
 * the same (§2.2), and left alone.
 */
import { eq } from 'drizzle-orm';
import { audit, type RequestLog } from '../platform/audit';
import { sha256Base64Url } from '../platform/crypto';
import type { Database } from '../platform/db/client';
import { refreshTokens, sessions } from '../platform/db/schema';
import type { KeyRing } from '../credentials/keys';
import { revokeSession } from '../sessions/sessions';
import type { OAuthClient } from './clients';
import { verifyOAuthAccessToken } from './tokens';

/** The grant a refresh token belongs to, whoever it was issued to. */
async function grantOfRefreshToken(db: Database, token: string) {
  return db
    .select({ grantId: sessions.id, clientId: sessions.clientId, userId: sessions.userId })
    .from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .where(eq(refreshTokens.tokenHash, await sha256Base64Url(token)))
    .get();
}

export async function revokeToken(
  db: Database,
  ring: KeyRing,
  issuer: string,
  client: OAuthClient,
  input: { token: string; hint?: string | undefined },
  log: RequestLog,
  now = Date.now(),
): Promise<void> {
  // The hint only orders the search (§2.1); a JWT is tried first when it looks like one.
  const looksLikeJwt = input.token.split('.').length === 3;
  const order = input.hint === 'refresh_token' || !looksLikeJwt ? ['refresh', 'access'] : ['access', 'refresh'];
  for (const kind of order) {
    const found =
      kind === 'refresh'
        ? await grantOfRefreshToken(db, input.token)
        : await verifyOAuthAccessToken(ring, issuer, input.token).then((c) =>
            c ? { grantId: c.sid, clientId: c.client_id, userId: c.sub } : undefined,
          );
    if (!found) continue;
    if (found.clientId !== client.clientId) return;
    await revokeSession(db, found.grantId, 'oauth_revoked', now);
    audit('oauth_token_revoked', {
      ...log,
      userId: found.userId,
      clientId: client.clientId,
      sessionId: found.grantId,
      method: kind === 'refresh' ? 'refresh_token' : 'access_token',
    });
    return;
  }
}
