/**
 * Grants as sessions. Every OAuth grant is a row of the sessions table with its client
 * (see the schema), so it lists in GET /auth/sessions, and a revoke there, logout-all, a
 * password change or the user's deletion ends it like any login. This module reads a grant
 * for the endpoints that must know it is still live (userinfo, introspection, revocation).
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Database } from '../platform/db/client';
import { sessions, users } from '../platform/db/schema';
import type { ClaimsUser } from './claims';

export type LiveGrant = {
  user: ClaimsUser;
  grant: { id: string; clientId: string; scope: string; expiresAt: number };
};

/**
 * The grant `grantId` of `clientId` and its user, if the grant has not ended: not revoked, not
 * expired, and not older than the user's last logout-all or password change.
 */
export async function findLiveGrant(
  db: Database,
  grantId: string,
  clientId: string,
  now: number,
): Promise<LiveGrant | undefined> {
  const row = await db
    .select({
      id: users.id,
      username: users.username,
      role: users.role,
      updatedAt: users.updatedAt,
      email: users.email,
      emailVerifiedAt: users.emailVerifiedAt,
      grantScope: sessions.scope,
      expiresAt: sessions.expiresAt,
    })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(
      and(
        eq(sessions.id, grantId),
        eq(sessions.clientId, clientId),
        sql`${sessions.revokedAt} IS NULL`,
        sql`${sessions.expiresAt} > ${now}`,
        eq(sessions.tokenVersion, users.tokenVersion),
      ),
    )
    .get();
  if (!row) return undefined;
  const { grantScope, expiresAt, ...user } = row;
  return { user, grant: { id: grantId, clientId, scope: grantScope ?? '', expiresAt } };
}
