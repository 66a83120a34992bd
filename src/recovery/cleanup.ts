/** What the daily cleanup removes of two-factor and recovery state: nothing live, nothing needed. */
import { lt, or, isNotNull } from 'drizzle-orm';
import type { Database } from '../platform/db/client';
import { emailVerifications, passwordResetTokens } from '../platform/db/schema';
import { deleteEndedChallengesQuery } from '../two-factor/challenges';

export function deleteEndedRecoveryQueries(db: Database, now: number) {
  return [
    deleteEndedChallengesQuery(db, now),
    db
      .delete(passwordResetTokens)
      .where(or(lt(passwordResetTokens.expiresAt, now), isNotNull(passwordResetTokens.usedAt))),
    db.delete(emailVerifications).where(lt(emailVerifications.expiresAt, now)),
  ] as const;
}
