/**
 * Consent, remembered per user and client as the set of scopes the user allowed. A request is
 * covered when every scope it asks for is in that set; one that asks for more is asked again,
 * and Allow then adds the new scopes to the set.
 */
import { and, eq } from 'drizzle-orm';
import type { Database } from '../platform/db/client';
import { oauthConsents } from '../platform/db/schema';
import { formatScope } from './scopes';

async function consentedScopes(db: Database, userId: string, clientId: string): Promise<Set<string>> {
  const row = await db
    .select({ scope: oauthConsents.scope })
    .from(oauthConsents)
    .where(and(eq(oauthConsents.userId, userId), eq(oauthConsents.clientId, clientId)))
    .get();
  return new Set(row ? row.scope.split(' ').filter(Boolean) : []);
}

/** Whether the user has allowed the client every one of `scopes`. */
export async function hasConsent(
  db: Database,
  userId: string,
  clientId: string,
  scopes: readonly string[],
): Promise<boolean> {
  const given = await consentedScopes(db, userId, clientId);
  return scopes.every((scope) => given.has(scope));
}

/** Records that the user allowed the client `scopes` (added to what it allowed before). */
export async function rememberConsent(
  db: Database,
  userId: string,
  clientId: string,
  scopes: readonly string[],
  now: number,
): Promise<void> {
  const scope = formatScope([...(await consentedScopes(db, userId, clientId)), ...scopes]);
  await db
    .insert(oauthConsents)
    .values({ userId, clientId, scope, createdAt: now, updatedAt: now })
    .onConflictDoUpdate({ target: [oauthConsents.userId, oauthConsents.clientId], set: { scope, updatedAt: now } });
}
