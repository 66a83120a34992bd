/**
 * A user's email address, for password reset by mail. Adding or replacing one needs the
 * current password, and a second factor when the user has one: the address is where reset
 * tokens go, so it is worth as much as the password. Then a 6-digit code is mailed to it; the
 * address is stored on the user only once that code comes back, and a verified address
 * belongs to one user only (unique index). Codes expire after 15 minutes and die after five
 * wrong tries. Mails are limited per sending account (EMAIL_USER_MAX per hour) and per
 * destination (three a day, whichever accounts ask): accounts are cheap, so the account limit
 * alone would let anyone mail any address without end. A replaced address gets a notice, and
 * every outstanding reset token ends.
 */
import { and, eq, gt, lt, sql } from 'drizzle-orm';
import { forgetUser } from '../sessions/access-cache';
import type { Config } from '../platform/config';
import { fromBase64Url, timingSafeEqual } from '../platform/crypto';
import type { Database } from '../platform/db/client';
import { emailVerifications, users, type AccessUser, type User } from '../platform/db/schema';
import { ApiError } from '../platform/errors';
import { audit, type RequestLog } from '../platform/audit';
import { verificationMail, type Mailer } from '../platform/email';
import type { LegacyHashesCompanion } from '../credentials/legacy-hashes-companion';
import { mailUserLimit } from '../recovery/password-reset';
import { endResetTokensQuery } from '../recovery/reset-tokens';
import { assertWithinLimit, consumeAttempt, countLimitQuery, type Limit } from '../throttle/rate-limit';
import { assertDataKey, mac } from '../two-factor/data-key';
import { proveSecondFactor } from '../two-factor/mfa';
import type { Notify } from './notices';
import { provePassword } from './password-proof';
import { emailKey, isUniqueViolation } from './users';

const CODE_TTL_SECONDS = 15 * 60;
const MAX_ATTEMPTS = 5;

/** Verification mails one address receives per day, from every account together. */
export const DESTINATION_MAILS_PER_DAY = 3;
const destinationLimit = (email: string): Limit => ({
  key: `mail-to:${emailKey(email)}`,
  max: DESTINATION_MAILS_PER_DAY,
  windowSeconds: 86_400,
});

/** Six uniformly random digits (rejection sampling: no digit more likely than another). */
function newCode(): string {
  const buf = new Uint32Array(1);
  do crypto.getRandomValues(buf);
  while (buf[0]! >= 4_294_000_000);
  return String(buf[0]! % 1_000_000).padStart(6, '0');
}

/**
 * Bound to the user and the address, so a code for one address cannot verify another. Keyed
 * (data-key.ts): a million candidates make a plain hash of six digits no secret at all.
 */
const codeHash = (config: Config, userId: string, email: string, code: string) =>
  mac(config, 'email_code', `${userId}\u0000${emailKey(email)}\u0000${code}`);

const invalidCode = () =>
  new ApiError(400, 'invalid_email_code', 'The code is wrong or expired; ask for a new one with POST /auth/email.');

const TOO_MANY_MAILS = 'Too many mails to this account';

export async function requestEmailVerification(
  db: Database,
  config: Config,
  mailer: Mailer,
  user: AccessUser,
  input: {
    email: string;
    currentPassword: string;
    /** A TOTP or recovery code: required when the user has two-factor on. */
    code?: string | undefined;
    /** The LEGACY_HASHES binding, when configured. */
    legacyHashes?: LegacyHashesCompanion | undefined;
    /** Tells the owner when this proof's wrong code locks their authenticator codes. */
    notify: Notify;
  },
  log: RequestLog,
  now = Date.now(),
): Promise<{ expiresIn: number }> {
  const { email } = input;
  // Refused before anything is counted: neither costs the owner a password attempt.
  assertDataKey(config);
  if (user.mfaEnabled && input.code === undefined) {
    throw new ApiError(400, 'validation_failed', 'The request is invalid.', {
      errors: [{ field: 'code', message: 'required: two-factor authentication is on' }],
    });
  }
  const proven = await provePassword(
    db,
    config,
    { user, password: input.currentPassword, log, legacyHashes: input.legacyHashes },
    now,
  );
  const mails = mailUserLimit(config, user.id);
  if (input.code !== undefined && user.mfaEnabled) {
    await proveSecondFactor(db, config, user, input.code, log, input.notify, now, proven.succeeded);
    await consumeAttempt(db, mails, now, TOO_MANY_MAILS);
  } else {
    const [counted] = await db.batch([countLimitQuery(db, mails, now), ...proven.succeeded]);
    assertWithinLimit(counted, mails, now, TOO_MANY_MAILS);
  }
  // Counted only once the account may send: a throttled account spends no address's budget.
  await consumeAttempt(db, destinationLimit(email), now, 'Too many verification mails to this address');
  const code = newCode();
  const row = {
    userId: user.id,
    email,
    codeHash: await codeHash(config, user.id, email, code),
    attempts: 0,
    createdAt: now,
    expiresAt: now + CODE_TTL_SECONDS * 1000,
  };
  await db.insert(emailVerifications).values(row).onConflictDoUpdate({ target: emailVerifications.userId, set: row });
  await mailer.send(verificationMail(config, email, user.username, code, CODE_TTL_SECONDS / 60));
  audit('email_verification_sent', { ...log, userId: user.id });
  return { expiresIn: CODE_TTL_SECONDS };
}

export async function verifyEmail(
  db: Database,
  config: Config,
  user: AccessUser,
  code: string,
  log: RequestLog,
  notify: Notify,
  now = Date.now(),
): Promise<User> {
  assertDataKey(config);
  // The attempt is counted before the code is compared: parallel guesses share the cap.
  const [pending] = await db
    .update(emailVerifications)
    .set({ attempts: sql`${emailVerifications.attempts} + 1` })
    .where(
      and(
        eq(emailVerifications.userId, user.id),
        gt(emailVerifications.expiresAt, now),
        lt(emailVerifications.attempts, MAX_ATTEMPTS),
      ),
    )
    .returning();
  if (!pending) throw invalidCode();
  const expected = fromBase64Url(pending.codeHash);
  const presented = fromBase64Url(await codeHash(config, user.id, pending.email, code));
  if (!expected || !presented || !timingSafeEqual(presented, expected)) throw invalidCode();
  try {
    const [[updated]] = await db.batch([
      db
        .update(users)
        .set({ email: pending.email, emailKey: emailKey(pending.email), emailVerifiedAt: now, updatedAt: now })
        .where(eq(users.id, user.id))
        .returning(),
      db.delete(emailVerifications).where(eq(emailVerifications.userId, user.id)),
      // A token mailed to the old address must not outlive it.
      endResetTokensQuery(db, user.id),
    ]);
    if (!updated) throw invalidCode();
    forgetUser(user.id);
    audit('email_verified', { ...log, userId: user.id });
    // `user` is the row as this request found it: the old address, if one was verified.
    if (user.email && emailKey(user.email) !== updated.emailKey) notify('email_replaced', user);
    return updated;
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new ApiError(409, 'email_taken', 'This address is already verified for another account.');
    }
    throw err;
  }
}
