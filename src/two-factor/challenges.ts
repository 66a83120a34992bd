/**
 * Login challenges: the `mfa_token` a login gets instead of a session when the user has a
 * second factor. Opaque, 256 random bits, stored as SHA-256, single use, valid five minutes,
 * and dead after five wrong codes. Every attempt is counted before its code is checked, in
 * one conditional write, so parallel guesses cannot exceed the cap.
 */
import { and, eq, gt, isNull, lt, sql } from 'drizzle-orm';
import { randomToken, sha256Base64Url } from '../platform/crypto';
import type { Database } from '../platform/db/client';
import { mfaChallenges, users, type User } from '../platform/db/schema';
import { ApiError } from '../platform/errors';

export const CHALLENGE_TTL_SECONDS = 5 * 60;
export const CHALLENGE_MAX_ATTEMPTS = 5;

export type Delivery = 'body' | 'cookie';
export type IssuedChallenge = { mfaToken: string; expiresIn: number };

export const invalidMfaToken = () =>
  new ApiError(401, 'invalid_mfa_token', 'The two-factor token is invalid, expired or already used; log in again.');

/**
 * The first query of a login's write batch for a two-factor user, in place of the session's:
 * the challenge row is inserted only if the user still has the password hash and token
 * version the login verified (INSERT ... SELECT), so it returns no row if a password change
 * or logout-all committed meanwhile. Without a delivery (the Flask-JWT route, which cannot
 * answer a challenge) it only checks that, and nothing is issued.
 */
export async function challengeQuery(
  db: Database,
  user: User,
  verified: { passwordHash: string; tokenVersion: number },
  delivery: Delivery | undefined,
  now: number,
) {
  const stillVerified = and(
    eq(users.id, user.id),
    eq(users.passwordHash, verified.passwordHash),
    eq(users.tokenVersion, verified.tokenVersion),
  );
  if (!delivery) return { query: db.select({ id: users.id }).from(users).where(stillVerified), issued: null };
  const mfaToken = randomToken(32);
  const query = db
    .insert(mfaChallenges)
    .select(
      db
        .select({
          tokenHash: sql<string>`${await sha256Base64Url(mfaToken)}`.as('token_hash'),
          userId: users.id,
          tokenVersion: users.tokenVersion,
          delivery: sql<Delivery>`${delivery}`.as('delivery'),
          attempts: sql<number>`0`.as('attempts'),
          createdAt: sql<number>`${now}`.as('created_at'),
          expiresAt: sql<number>`${now + CHALLENGE_TTL_SECONDS * 1000}`.as('expires_at'),
          usedAt: sql<null>`NULL`.as('used_at'),
        })
        .from(users)
        .where(stillVerified),
    )
    .returning({ id: mfaChallenges.userId });
  return { query, issued: { mfaToken, expiresIn: CHALLENGE_TTL_SECONDS } satisfies IssuedChallenge };
}

const live = (tokenHash: string, now: number) =>
  and(eq(mfaChallenges.tokenHash, tokenHash), isNull(mfaChallenges.usedAt), gt(mfaChallenges.expiresAt, now));

/** Counts one attempt on a live challenge; 401 `invalid_mfa_token` when there is none left. */
export async function takeAttempt(db: Database, mfaToken: string, now: number) {
  const tokenHash = await sha256Base64Url(mfaToken);
  const [row] = await db
    .update(mfaChallenges)
    .set({ attempts: sql`${mfaChallenges.attempts} + 1` })
    .where(and(live(tokenHash, now), lt(mfaChallenges.attempts, CHALLENGE_MAX_ATTEMPTS)))
    .returning();
  if (!row) throw invalidMfaToken();
  return row;
}

/** Marks the challenge used; false when another request got there first. */
export async function completeChallenge(db: Database, tokenHash: string, now: number): Promise<boolean> {
  const done = await db
    .update(mfaChallenges)
    .set({ usedAt: now })
    .where(live(tokenHash, now))
    .returning({ tokenHash: mfaChallenges.tokenHash });
  return done.length === 1;
}

/** Ends every open challenge of a user (second factor removed or changed). */
export function deleteUserChallengesQuery(db: Database, userId: string) {
  return db.delete(mfaChallenges).where(eq(mfaChallenges.userId, userId));
}

export function deleteEndedChallengesQuery(db: Database, now: number) {
  return db.delete(mfaChallenges).where(lt(mfaChallenges.expiresAt, now));
}
