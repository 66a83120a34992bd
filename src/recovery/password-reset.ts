/**
 * Password reset with single-use tokens: 256 random bits, stored as SHA-256 (a dump holds no
 * usable token), valid PASSWORD_RESET_TTL seconds. An admin hands one over out of band, or
 * the forgot-password flow mails one to the user's verified address. Using it sets the new
 * password, revokes every session and bumps the token version; TOTP stays as it is, so a
 * reset alone does not get past a second factor.
 */
import { and, eq, exists, gt, isNull, sql } from 'drizzle-orm';
import { forgetUser } from '../sessions/access-cache';
import type { Config } from '../platform/config';
import { randomToken, sha256Base64Url } from '../platform/crypto';
import type { Database } from '../platform/db/client';
import { knownAddresses, mfaChallenges, passwordResetTokens, users, type User } from '../platform/db/schema';
import { ApiError } from '../platform/errors';
import { hashPassword } from '../credentials/password';
import { audit, type RequestLog } from '../platform/audit';
import { checkPasswordLength } from '../accounts/auth';
import { assertNotCommonPassword, commonPasswordQuery } from '../credentials/common-passwords';
import { resetMail, type Mailer } from '../platform/email';
import { addressKey } from '../platform/address';
import { consumeAttempt, countAgainst, countAttemptQuery, type Limit } from '../throttle/rate-limit';
import { knownAddressJoin } from '../throttle/throttle';
import { revokeUserSessionsQuery } from '../sessions/sessions';
import { emailKey, findUserById, usernameKey } from '../accounts/users';
import type { Notify } from '../accounts/notices';
import { endResetTokensQuery } from './reset-tokens';

const HOUR = 3600;

const invalidResetToken = () =>
  new ApiError(400, 'invalid_reset_token', 'The reset token is invalid, expired or already used.');

/** One limit per address for every unauthenticated recovery request (resets and forgot-password). */
export const recoveryIpLimit = (config: Config, address: string): Limit => ({
  key: `recovery-ip:${address}`,
  max: config.recoveryIpMax,
  windowSeconds: HOUR,
});

/** Verification mails an account sends per hour (POST /auth/email). */
export const mailUserLimit = (config: Config, userId: string): Limit => ({
  key: `mail:${userId}`,
  max: config.emailUserMax,
  windowSeconds: HOUR,
});

/**
 * Reset mails per user and hour, counted per requesting address: anyone can ask for a user's
 * reset mail, and a budget shared by every asker would let a stranger spend the owner's.
 */
const resetMailLimit = (config: Config, userId: string, address: string | undefined): Limit => ({
  key: `mail:reset:${userId}|${address ?? '-'}`,
  max: config.emailUserMax,
  windowSeconds: HOUR,
});

/**
 * The ceiling above those: reset mails per user and day asked from addresses the user has not
 * logged in from (KNOWN_ADDRESS_DAYS), together. It bounds what strangers at many addresses
 * can send to the owner's inbox, and cannot starve the owner at a known address.
 */
const resetMailCeiling = (config: Config, userId: string): Limit => ({
  key: `mail:reset:${userId}`,
  max: config.emailResetUserMax,
  windowSeconds: 24 * HOUR,
});

/** A new reset token for the user; any older unused one stops working. */
async function issueToken(db: Database, config: Config, userId: string, via: 'admin' | 'email', now: number) {
  const resetToken = randomToken(32);
  await db.batch([
    db
      .delete(passwordResetTokens)
      .where(and(eq(passwordResetTokens.userId, userId), isNull(passwordResetTokens.usedAt))),
    db.insert(passwordResetTokens).values({
      tokenHash: await sha256Base64Url(resetToken),
      userId,
      via,
      createdAt: now,
      expiresAt: now + config.passwordResetTtl * 1000,
    }),
  ]);
  return { resetToken, expiresIn: config.passwordResetTtl };
}

/** For `POST /admin/users/{id}/password-reset`. */
export async function issueResetByAdmin(
  db: Database,
  config: Config,
  targetUserId: string,
  log: RequestLog & { adminId: string },
  now = Date.now(),
) {
  if (!(await findUserById(db, targetUserId))) throw new ApiError(404, 'not_found', 'No user with that id.');
  const issued = await issueToken(db, config, targetUserId, 'admin', now);
  audit('password_reset_issued', { ...log, userId: log.adminId, targetUserId, method: 'admin' });
  return issued;
}

/**
 * Sets a new password with a reset token. The token is read first, in one round trip with
 * the common-password lookup (a bad token or password costs no PBKDF2), then one batch
 * writes the password only if the token is still live and marks it used: of two requests
 * with one token, exactly one changes the password, and a token that expired meanwhile
 * changes nothing.
 */
export async function resetPassword(
  db: Database,
  config: Config,
  input: { resetToken: string; newPassword: string; notify: Notify },
  log: RequestLog,
  now = Date.now(),
): Promise<void> {
  const address = addressKey(log.ip);
  if (address) await consumeAttempt(db, recoveryIpLimit(config, address), now);
  const tokenHash = await sha256Base64Url(input.resetToken);
  const live = and(
    eq(passwordResetTokens.tokenHash, tokenHash),
    isNull(passwordResetTokens.usedAt),
    gt(passwordResetTokens.expiresAt, now),
  );
  // A plain select: a relational findFirst that matches nothing breaks drizzle's batch results.
  const [tokens, listed] = await db.batch([
    db.select().from(passwordResetTokens).where(live).limit(1),
    commonPasswordQuery(db, input.newPassword),
  ]);
  const row = tokens[0];
  if (!row) {
    audit('password_reset_failure', { ...log, reason: 'invalid_reset_token' });
    throw invalidResetToken();
  }
  checkPasswordLength(input.newPassword, config, 'new_password');
  assertNotCommonPassword(listed);
  const passwordHash = await hashPassword(input.newPassword, {
    iterations: config.pbkdf2Iterations,
    pepper: config.pepper,
  });
  const [changed] = await db.batch([
    db
      .update(users)
      .set({ passwordHash, tokenVersion: sql`${users.tokenVersion} + 1`, updatedAt: now })
      .where(
        and(
          eq(users.id, row.userId),
          exists(
            db
              .select({ one: sql`1` })
              .from(passwordResetTokens)
              .where(live),
          ),
        ),
      )
      .returning({
        id: users.id,
        username: users.username,
        email: users.email,
        emailVerifiedAt: users.emailVerifiedAt,
      }),
    db.update(passwordResetTokens).set({ usedAt: now }).where(live),
  ]);
  if (changed.length === 0) {
    audit('password_reset_failure', { ...log, userId: row.userId, reason: 'invalid_reset_token' });
    throw invalidResetToken();
  }
  // The version bump above already ended every session (refresh compares it) and access
  // token; this records why, and ends open challenges and other outstanding reset tokens.
  await db.batch([
    revokeUserSessionsQuery(db, row.userId, 'password_reset', now),
    db.delete(mfaChallenges).where(eq(mfaChallenges.userId, row.userId)),
    endResetTokensQuery(db, row.userId, tokenHash),
  ]);
  forgetUser(row.userId);
  audit('password_reset_used', { ...log, userId: row.userId, method: row.via });
  input.notify('password_reset', changed[0]!);
}

/**
 * The forgot-password work, run after the response has gone (waitUntil), so neither the
 * answer nor its timing depends on whether the user exists or has a verified address. Finds
 * the user, checks the mail limits (this address's, then, from an address the user is not
 * known at, the ceiling), issues a token and mails it.
 */
export async function mailResetToken(
  db: Database,
  config: Config,
  mailer: Mailer,
  who: { username: string } | { email: string },
  log: RequestLog,
  now = Date.now(),
): Promise<void> {
  const user: User | undefined =
    'username' in who
      ? await db.query.users.findFirst({ where: eq(users.usernameKey, usernameKey(who.username)) })
      : await db.query.users.findFirst({ where: eq(users.emailKey, emailKey(who.email)) });
  if (!user?.email || user.emailVerifiedAt === null) return;
  const address = addressKey(log.ip);
  const here = resetMailLimit(config, user.id, address);
  const [[counted], known] = await db.batch([
    countAttemptQuery(db, [here], now),
    db
      .select({ since: knownAddresses.lastSeenAt })
      .from(knownAddresses)
      .where(knownAddressJoin(user.id, address, now)),
  ]);
  const throttled =
    (counted !== undefined && counted.count > here.max) ||
    (known.length === 0 && !(await countAgainst(db, resetMailCeiling(config, user.id), now)).ok);
  if (throttled) {
    audit('mail_throttled', { ...log, userId: user.id, reason: 'password_reset' });
    return;
  }
  const issued = await issueToken(db, config, user.id, 'email', now);
  await mailer.send(resetMail(config, user.email, user.username, issued.resetToken, Math.round(issued.expiresIn / 60)));
  audit('password_reset_issued', { ...log, userId: user.id, method: 'email' });
}
