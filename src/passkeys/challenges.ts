/**
 * WebAuthn challenges, kept in D1. The challenge is what makes a signed response fresh: the
 * authenticator signs it (through clientDataJSON), so a response recorded once can never be
 * played again, because its challenge is gone. Each one:
 * - is 32 random bytes made by the server (WebAuthn §13.4.3 asks for at least 16);
 * - is stored as its SHA-256 only, like every token here, though it is no secret: the row
 *   need not hold anything a dump could be used for;
 * - lives five minutes (the `timeout` the options give the browser);
 * - works once: the verification deletes it in the statement that reads it, so of two
 *   requests with one response exactly one gets it;
 * - is bound to what it was made for: a purpose, the signed-in user for a registration, the
 *   new user for a sign-up, the named user (or nobody, for a discoverable sign-in) for a
 *   sign-in.
 */
import { and, eq, gt, lt, sql, type SQL } from 'drizzle-orm';
import { randomToken, sha256Base64Url } from '../platform/crypto';
import type { Database } from '../platform/db/client';
import { passkeyChallenges } from '../platform/db/schema';
import { ApiError } from '../platform/errors';

export const CHALLENGE_TTL_SECONDS = 5 * 60;

export type Purpose = 'register' | 'sign_in' | 'sign_up';
export type Challenge = typeof passkeyChallenges.$inferSelect;

/**
 * A new challenge and the query that stores it. With `onlyIf`, the row is stored only when
 * that SQL holds in the same batch (a rate limit counted just before), so a caller over a
 * limit cannot fill the table by ignoring its 429s.
 */
export async function newChallengeQuery(
  db: Database,
  input: { purpose: Purpose; userId?: string | undefined; username?: string | undefined },
  now: number,
  onlyIf?: SQL,
) {
  const challenge = randomToken(32);
  const row = {
    challengeHash: await challengeHash(challenge),
    purpose: input.purpose,
    userId: input.userId ?? null,
    username: input.username ?? null,
    createdAt: now,
    expiresAt: now + CHALLENGE_TTL_SECONDS * 1000,
  };
  const query = onlyIf
    ? db
        .insert(passkeyChallenges)
        .select(
          sql`SELECT ${row.challengeHash}, ${row.purpose}, ${row.userId}, ${row.username}, ${row.createdAt}, ${row.expiresAt} WHERE ${onlyIf}`,
        )
    : db.insert(passkeyChallenges).values(row);
  return { challenge, query };
}

/** How a challenge is looked up: by the SHA-256 of its value (the client data carries the value). */
export const challengeHash = (challenge: string) => sha256Base64Url(challenge);

/**
 * Takes a live challenge of `purpose` (deleting it), for the batch that verifies a response:
 * returns the row, or nothing when it is unknown, expired, used, or of another purpose.
 */
export function takeChallengeQuery(db: Database, hash: string, purpose: Purpose, now: number) {
  return db
    .delete(passkeyChallenges)
    .where(
      and(
        eq(passkeyChallenges.challengeHash, hash),
        eq(passkeyChallenges.purpose, purpose),
        gt(passkeyChallenges.expiresAt, now),
      ),
    )
    .returning();
}

export const invalidChallenge = (status: 400 | 401) =>
  new ApiError(
    status,
    'invalid_passkey_challenge',
    'The passkey challenge is unknown, expired or already used; start again.',
  );

export function deleteExpiredChallengesQuery(db: Database, now: number) {
  return db.delete(passkeyChallenges).where(lt(passkeyChallenges.expiresAt, now));
}
