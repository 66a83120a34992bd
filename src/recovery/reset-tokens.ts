/**
 * Ending a user's password reset tokens. Its own module, below everything that changes a
 * credential (password change, reset, logout-all, email change, two-factor removal), so each
 * of them can put the query in its own write batch without importing the reset flows.
 */
import { and, eq, ne } from 'drizzle-orm';
import type { Database } from '../platform/db/client';
import { passwordResetTokens } from '../platform/db/schema';

/**
 * Deletes every reset token of the user (but `keep`, the one being used): a token issued
 * before a credential changed, mailed to an address since replaced, or handed out by an
 * admin, must not outlive the change.
 */
export function endResetTokensQuery(db: Database, userId: string, keep?: string) {
  return db
    .delete(passwordResetTokens)
    .where(and(eq(passwordResetTokens.userId, userId), keep ? ne(passwordResetTokens.tokenHash, keep) : undefined));
}
