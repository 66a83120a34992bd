/**
 * Grants as sessions. Every OAuth grant is a row of the sessions table with its client
 * (see the schema), so it lists in GET /auth/sessions, and a revoke there, logout-all, a
 * password change or the user's deletion ends it like any login. This module reads a grant
 * for the endpoints that must know it is still live (userinfo, introspection, revocation).
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Database } from '../platform/db/client';
import { sessions, users } from '../platform/db/schema';
import { claimsUserColumns, type ClaimsUser } from './claims';

export type LiveGrant = {
  user: ClaimsUser;
  grant: { id: string; clientId: string; scope: string; expiresAt: number };
};

/**
 * The grant `grantId` of `clientId` and its user, if the grant has not ended: not revoked, not
 * expired, and not older than the user's last logout-all or password change.
 */
/**
 * Built once per Database (once per isolate on the primary) and read as raw rows, as the
 * protected routes' subject query is (sessions.ts): userinfo runs it on every call, and
 * building the statement and mapping its row through Drizzle was most of the endpoint's own CPU.
 */
const prepareLiveGrantQuery = (db: Database) =>
  db
    .select({
      ...claimsUserColumns,
      grantScope: sessions.scope,
      expiresAt: sessions.expiresAt,
    })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(
      and(
        eq(sessions.id, sql.placeholder('grantId')),
        eq(sessions.clientId, sql.placeholder('clientId')),
        sql`${sessions.revokedAt} IS NULL`,
        sql`${sessions.expiresAt} > ${sql.placeholder('now')}`,
        eq(sessions.tokenVersion, users.tokenVersion),
      ),
    )
    .prepare();
const liveGrantQueries = new WeakMap<Database, ReturnType<typeof prepareLiveGrantQuery>>();

/** A row of prepareLiveGrantQuery, in the order of its columns. */
type LiveGrantRow = [
  id: string,
  username: string,
  role: ClaimsUser['role'],
  updatedAt: number,
  email: string | null,
  emailVerifiedAt: number | null,
  grantScope: string | null,
  expiresAt: number,
];

export async function findLiveGrant(
  db: Database,
  grantId: string,
  clientId: string,
  now: number,
): Promise<LiveGrant | undefined> {
  let query = liveGrantQueries.get(db);
  if (!query) liveGrantQueries.set(db, (query = prepareLiveGrantQuery(db)));
  const [row] = (await query.values({ grantId, clientId, now })) as LiveGrantRow[];
  if (!row) return undefined;
  const [id, username, role, updatedAt, email, emailVerifiedAt, grantScope, expiresAt] = row;
  return {
    user: { id, username, role, updatedAt, email, emailVerifiedAt },
    grant: { id: grantId, clientId, scope: grantScope ?? '', expiresAt },
  };
}
