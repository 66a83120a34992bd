/**
 * Two-factor authentication with TOTP and recovery codes. The pieces live beside it in src/two-factor/
 * (totp.ts, recovery-codes.ts, challenges.ts, data-key.ts); this module holds the flows:
 * enrol -> confirm (recovery codes shown once) -> sign in with a challenge -> disable or
 * regenerate codes, and the operator's reset for a user who lost the phone. Enrolling,
 * disabling and regenerating codes also need the current password (password-proof.ts): an
 * access token alone changes no second factor.
 *
 * Every code check is counted before it runs, per user (MFA_MAX_FAILURES per MFA_WINDOW)
 * and, at sign-in, per challenge (five), so a stolen password or access token buys a bounded
 * number of guesses. Over the long run, codes checked since the last right one are counted
 * too (mfa_totp.consecutive_failures): past MFA_MAX_CONSECUTIVE_FAILURES (NIST SP 800-63B
 * 5.2.2), TOTP codes are refused (403 `mfa_locked`) until a recovery code or an admin's reset;
 * without it the windows alone allow about a thousand guesses a day. An accepted TOTP step is
 * recorded and never accepted again; a recovery code is spent by the write that accepts it.
 */
import { encodeBase32NoPadding } from '@oslojs/encoding';
import { and, eq, exists, isNotNull, isNull, lt, or, sql, type SQL } from 'drizzle-orm';
import type { BatchItem } from 'drizzle-orm/batch';
import { forgetUser } from '../sessions/access-cache';
import type { Config } from '../platform/config';
import type { Database } from '../platform/db/client';
import { mfaRecoveryCodes, mfaTotp, users, type AccessUser, type User } from '../platform/db/schema';
import { ApiError } from '../platform/errors';
import {
  completeChallenge,
  deleteUserChallengesQuery,
  invalidMfaToken,
  challengeQuery,
  takeAttempt,
  type Delivery,
  type IssuedChallenge,
} from './challenges';
import { assertDataKey, open, seal } from './data-key';
import { newRecoveryCode, normalizeRecoveryCode, RECOVERY_CODE_COUNT, recoveryCodeHash } from './recovery-codes';
import { matchTotp, newTotpSecret, totpUri } from './totp';
import { audit, type RequestLog } from '../platform/audit';
import { clearCounterQuery, countAttemptQuery, tooMany, type Limit } from '../throttle/rate-limit';
import {
  newSessionQueries,
  revokeUserSessionsQuery,
  type IssuedRefresh,
  type VerifiedUser,
} from '../sessions/sessions';
import { assertClaimed, claimProofQuery, type ProofClaim } from '../dpop/replay';
import { findUserById } from '../accounts/users';
import type { LegacyHashesCompanion } from '../credentials/legacy-hashes-companion';
import { provePassword } from '../accounts/password-proof';
import type { Notify } from '../accounts/notices';
import { endResetTokensQuery } from '../recovery/reset-tokens';

/** The proof a change of a second factor asks for besides the access token. */
type Reauthentication = {
  currentPassword: string;
  /** The LEGACY_HASHES binding, when configured. */
  legacyHashes?: LegacyHashesCompanion | undefined;
};
/** Changing a second factor: the password and a code, and whom to tell when codes lock. */
type FactorChange = Reauthentication & { code: string; notify: Notify };

const mfaLimitKey = (userId: string) => `mfa:${userId}`;
const failuresLimit = (config: Config, userId: string): Limit => ({
  key: mfaLimitKey(userId),
  max: config.mfaMaxFailures,
  windowSeconds: config.mfaWindow,
});

const invalidCode = (status: 400 | 401) =>
  new ApiError(status, 'invalid_mfa_code', 'The two-factor code is wrong, expired or already used.');
const alreadyEnabled = () =>
  new ApiError(409, 'mfa_already_enabled', 'Two-factor authentication is already enabled; disable it first.');
const notEnabled = () => new ApiError(409, 'mfa_not_enabled', 'Two-factor authentication is not enabled.');

const TOO_MANY_CODES = 'Too many two-factor codes tried';

const locked = () =>
  new ApiError(
    403,
    'mfa_locked',
    'Authenticator codes are locked for this account after too many wrong ones in a row. Use a recovery code, or ask an administrator to reset two-factor authentication.',
  );

/**
 * Counts one code check for the user, before it runs: 429 past MFA_MAX_FAILURES in the window
 * (forgiven by a right code). Returns the streak: checks since the last right code, this one
 * included (0 without a confirmed TOTP secret).
 */
async function countCheck(
  db: Database,
  config: Config,
  userId: string,
  now: number,
  alongside: readonly BatchItem<'sqlite'>[] = [],
): Promise<number> {
  const limit = failuresLimit(config, userId);
  // One statement each, one round trip: parallel checks each see a distinct count. `alongside`
  // rides in the same round trip (a proven password's bookkeeping).
  const [counted, streak] = await db.batch([
    countAttemptQuery(db, [limit], now),
    db
      .update(mfaTotp)
      .set({ consecutiveFailures: sql`${mfaTotp.consecutiveFailures} + 1` })
      .where(and(eq(mfaTotp.userId, userId), isNotNull(mfaTotp.confirmedAt)))
      .returning({ count: mfaTotp.consecutiveFailures }),
    ...alongside,
  ]);
  const [row] = counted;
  if (row && row.count > limit.max) {
    throw tooMany('too_many_attempts', TOO_MANY_CODES, row.expiresAt, now);
  }
  return streak[0]?.count ?? 0;
}

/** A TOTP code past the streak's cap is refused unchecked; a recovery code still goes through. */
function assertNotLocked(config: Config, streak: number, factor: { code: string } | { recoveryCode: string }) {
  if ('code' in factor && streak > config.mfaMaxConsecutiveFailures) throw locked();
}

/** After a wrong code: the one that completes the streak locks TOTP codes; audit it and tell the owner. */
function afterFailure(config: Config, user: AccessUser | User, streak: number, log: RequestLog, notify: Notify) {
  if (streak !== config.mfaMaxConsecutiveFailures) return;
  audit('mfa_locked', { ...log, userId: user.id });
  notify('mfa_locked', user);
}

/** Queries a right code adds to its write: the streak starts over. */
const resetStreakQuery = (db: Database, userId: string) =>
  db.update(mfaTotp).set({ consecutiveFailures: 0 }).where(eq(mfaTotp.userId, userId));

/**
 * Checks a second factor and spends it: a TOTP code's step is recorded (a later request with
 * that step or an earlier one fails), a recovery code is marked used. Both by a conditional
 * write, so of two parallel requests with one code exactly one succeeds.
 */
async function spendFactor(
  db: Database,
  config: Config,
  userId: string,
  factor: { code: string } | { recoveryCode: string },
  now: number,
): Promise<'totp' | 'recovery_code' | null> {
  if ('code' in factor) {
    const row = await db.query.mfaTotp.findFirst({ where: eq(mfaTotp.userId, userId) });
    const secret = row?.confirmedAt ? await open(config, row.secretSealed, userId) : null;
    const step = secret ? matchTotp(secret, factor.code, now) : null;
    if (step === null) return null;
    const spent = await db
      .update(mfaTotp)
      .set({ lastStep: step, consecutiveFailures: 0 })
      .where(
        and(
          eq(mfaTotp.userId, userId),
          isNotNull(mfaTotp.confirmedAt),
          or(isNull(mfaTotp.lastStep), lt(mfaTotp.lastStep, step)),
        ),
      )
      .returning({ userId: mfaTotp.userId });
    return spent.length === 1 ? 'totp' : null;
  }
  const normalized = normalizeRecoveryCode(factor.recoveryCode);
  if (!normalized) return null;
  const codeHash = await recoveryCodeHash(config, userId, normalized);
  const spent = await db
    .update(mfaRecoveryCodes)
    .set({ usedAt: now })
    .where(
      and(
        eq(mfaRecoveryCodes.userId, userId),
        eq(mfaRecoveryCodes.codeHash, codeHash),
        isNull(mfaRecoveryCodes.usedAt),
      ),
    )
    .returning({ userId: mfaRecoveryCodes.userId });
  return spent.length === 1 ? 'recovery_code' : null;
}

/** One `code` field (Bearer routes, the OAuth sign-in page) takes either kind: six digits are TOTP, anything else a recovery code. */
export const factorOf = (code: string) => (/^\s*\d{6}\s*$/.test(code) ? { code: code.trim() } : { recoveryCode: code });

/**
 * Fresh recovery codes: the values for the user, and the queries that replace the stored set.
 * Every query runs only while `still` holds (evaluated in the same batch), so a confirm or a
 * regeneration that loses a race with another change stores nothing.
 */
async function newRecoveryCodes(db: Database, config: Config, userId: string, now: number, still: SQL) {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  const hashes = await Promise.all(codes.map((code) => recoveryCodeHash(config, userId, normalizeRecoveryCode(code)!)));
  const insert = (codeHash: string) =>
    db.insert(mfaRecoveryCodes).select(
      db
        .select({
          userId: users.id,
          codeHash: sql<string>`${codeHash}`.as('code_hash'),
          createdAt: sql<number>`${now}`.as('created_at'),
          usedAt: sql<null>`NULL`.as('used_at'),
        })
        .from(users)
        .where(and(eq(users.id, userId), still)),
    );
  const queries = [
    db.delete(mfaRecoveryCodes).where(and(eq(mfaRecoveryCodes.userId, userId), still)),
    ...hashes.map(insert),
  ] as const;
  return { codes, queries };
}

/** SQL: the user has a confirmed TOTP secret (optionally: exactly this one, confirmed at `at`). */
const totpConfirmed = (db: Database, userId: string, exactly?: { secretSealed: string; at: number }) =>
  exists(
    db
      .select({ one: sql`1` })
      .from(mfaTotp)
      .where(
        and(
          eq(mfaTotp.userId, userId),
          exactly
            ? and(eq(mfaTotp.confirmedAt, exactly.at), eq(mfaTotp.secretSealed, exactly.secretSealed))
            : isNotNull(mfaTotp.confirmedAt),
        ),
      ),
  );

/**
 * Starts (or restarts) TOTP enrolment, after the current password: a new secret, pending
 * until confirmed with a code. (Whoever enrols a second factor can keep the owner out.)
 */
export async function startTotpEnrolment(
  db: Database,
  config: Config,
  user: AccessUser,
  proof: Reauthentication,
  log: RequestLog,
  now = Date.now(),
): Promise<{ secret: string; otpauthUri: string }> {
  assertDataKey(config);
  if (user.mfaEnabled) throw alreadyEnabled();
  const proven = await provePassword(
    db,
    config,
    { user, password: proof.currentPassword, log, legacyHashes: proof.legacyHashes },
    now,
  );
  const secret = newTotpSecret();
  const secretSealed = await seal(config, secret, user.id);
  // Replaces a pending secret, never a confirmed one (a parallel confirm may have landed).
  const [written] = await db.batch([
    db
      .insert(mfaTotp)
      .values({ userId: user.id, secretSealed, createdAt: now })
      .onConflictDoUpdate({
        target: mfaTotp.userId,
        set: { secretSealed, createdAt: now, lastStep: null },
        setWhere: isNull(mfaTotp.confirmedAt),
      })
      .returning({ userId: mfaTotp.userId }),
    ...proven.succeeded,
  ]);
  if (written.length === 0) throw alreadyEnabled();
  audit('mfa_enrolment_started', { ...log, userId: user.id });
  return { secret: encodeBase32NoPadding(secret), otpauthUri: totpUri(config.issuer, user.username, secret) };
}

/**
 * Confirms enrolment with a first code; turns two-factor on and returns the recovery codes,
 * once. Every other session of the user ends (devices the owner may be locking out), the
 * caller's (`sessionId`) continues.
 */
export async function confirmTotpEnrolment(
  db: Database,
  config: Config,
  user: AccessUser,
  code: string,
  sessionId: string,
  log: RequestLog,
  now = Date.now(),
): Promise<string[]> {
  assertDataKey(config);
  if (user.mfaEnabled) throw alreadyEnabled();
  const pending = await db.query.mfaTotp.findFirst({
    where: and(eq(mfaTotp.userId, user.id), isNull(mfaTotp.confirmedAt)),
  });
  if (!pending) {
    throw new ApiError(409, 'mfa_not_enabled', 'No enrolment is pending; start one with POST /auth/mfa/totp.');
  }
  await countCheck(db, config, user.id, now);
  const secret = await open(config, pending.secretSealed, user.id);
  const step = secret ? matchTotp(secret, code, now) : null;
  if (step === null) {
    audit('mfa_failure', { ...log, userId: user.id, reason: 'enrolment' });
    throw invalidCode(400);
  }
  // One batch: the secret that was checked is confirmed (a restart in between leaves it
  // pending), and the flag and the codes are written only if that confirmation happened.
  const confirmedNow = totpConfirmed(db, user.id, { secretSealed: pending.secretSealed, at: now });
  const recovery = await newRecoveryCodes(db, config, user.id, now, confirmedNow);
  const [confirmed] = await db.batch([
    db
      .update(mfaTotp)
      .set({ confirmedAt: now, lastStep: step })
      .where(
        and(eq(mfaTotp.userId, user.id), isNull(mfaTotp.confirmedAt), eq(mfaTotp.secretSealed, pending.secretSealed)),
      )
      .returning({ userId: mfaTotp.userId }),
    db
      .update(users)
      .set({ mfaEnabled: true, updatedAt: now })
      .where(and(eq(users.id, user.id), confirmedNow)),
    // A login that read two-factor as off and has not written yet makes no session now
    // (newSessionQueries checks the flag); one that already wrote ends here.
    revokeUserSessionsQuery(db, user.id, 'mfa_enabled', now, sessionId, confirmedNow),
    ...recovery.queries,
    clearCounterQuery(db, failuresLimit(config, user.id).key),
  ]);
  if (confirmed.length === 0) throw invalidCode(400);
  forgetUser(user.id); // a cached access check holds the old mfa_enabled
  audit('mfa_enabled', { ...log, userId: user.id, method: 'totp' });
  return recovery.codes;
}

/**
 * Queries that turn two-factor off for a user and end what depended on it. An outstanding
 * reset token ends too: with the second factor gone it alone would open the account.
 */
function removeQueries(db: Database, userId: string, now: number) {
  return [
    db.delete(mfaTotp).where(eq(mfaTotp.userId, userId)),
    db.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId)),
    deleteUserChallengesQuery(db, userId),
    db.update(users).set({ mfaEnabled: false, updatedAt: now }).where(eq(users.id, userId)),
    endResetTokensQuery(db, userId),
  ] as const;
}

/**
 * Proof of the second factor from a signed-in user with two-factor on: a current TOTP code or
 * an unused recovery code (spent by this check), counted against MFA_MAX_FAILURES and the
 * consecutive-failure streak first. A wrong code answers as at sign-in, 401 `invalid_mfa_code`.
 * `alongside` rides in the count's round trip (a proven password's bookkeeping).
 */
export async function proveSecondFactor(
  db: Database,
  config: Config,
  user: AccessUser,
  code: string,
  log: RequestLog,
  notify: Notify,
  now: number,
  alongside: readonly BatchItem<'sqlite'>[] = [],
): Promise<'totp' | 'recovery_code'> {
  assertDataKey(config);
  if (!user.mfaEnabled) throw notEnabled();
  const streak = await countCheck(db, config, user.id, now, alongside);
  const factor = factorOf(code);
  assertNotLocked(config, streak, factor);
  const method = await spendFactor(db, config, user.id, factor, now);
  if (!method) {
    audit('mfa_failure', { ...log, userId: user.id, reason: 'reauthentication' });
    afterFailure(config, user, streak, log, notify);
    throw invalidCode(401);
  }
  return method;
}

/** The current password, then a code (TOTP or recovery): what changing a second factor asks for. */
async function reauthenticate(
  db: Database,
  config: Config,
  user: AccessUser,
  proof: FactorChange,
  log: RequestLog,
  now: number,
) {
  // Checked before anything is counted: a misconfigured service or a user without
  // two-factor costs no password attempt.
  assertDataKey(config);
  if (!user.mfaEnabled) throw notEnabled();
  const proven = await provePassword(
    db,
    config,
    { user, password: proof.currentPassword, log, legacyHashes: proof.legacyHashes },
    now,
  );
  return proveSecondFactor(db, config, user, proof.code, log, proof.notify, now, proven.succeeded);
}

/** Turns two-factor off after the current password and a current code or a recovery code. */
export async function disableTotp(
  db: Database,
  config: Config,
  user: AccessUser,
  proof: FactorChange,
  log: RequestLog,
  now = Date.now(),
) {
  const method = await reauthenticate(db, config, user, proof, log, now);
  await db.batch([...removeQueries(db, user.id, now), clearCounterQuery(db, failuresLimit(config, user.id).key)]);
  forgetUser(user.id);
  audit('mfa_disabled', { ...log, userId: user.id, method });
  proof.notify('mfa_disabled', user);
}

/** A fresh set of recovery codes, after the current password and a code; the old ones stop working. */
export async function regenerateRecoveryCodes(
  db: Database,
  config: Config,
  user: AccessUser,
  proof: FactorChange,
  log: RequestLog,
  now = Date.now(),
): Promise<string[]> {
  const method = await reauthenticate(db, config, user, proof, log, now);
  const recovery = await newRecoveryCodes(db, config, user.id, now, totpConfirmed(db, user.id));
  const [, first] = await db.batch([
    ...recovery.queries,
    clearCounterQuery(db, failuresLimit(config, user.id).key),
    resetStreakQuery(db, user.id),
  ]);
  // Two-factor was turned off meanwhile: nothing was stored, so hand nothing out.
  if (first.meta.changes === 0) throw notEnabled();
  audit('mfa_recovery_codes_regenerated', { ...log, userId: user.id, method });
  return recovery.codes;
}

/** The operator's way out for a user who lost both the phone and the recovery codes. */
export async function resetMfaByAdmin(
  db: Database,
  targetUserId: string,
  log: RequestLog & { adminId: string },
  notify: Notify,
  now = Date.now(),
): Promise<void> {
  const target = await findUserById(db, targetUserId);
  if (!target) throw new ApiError(404, 'not_found', 'No user with that id.');
  await db.batch([...removeQueries(db, targetUserId, now), clearCounterQuery(db, mfaLimitKey(targetUserId))]);
  forgetUser(targetUserId);
  audit('mfa_reset_by_admin', { requestId: log.requestId, ip: log.ip, userId: log.adminId, targetUserId });
  if (target.mfaEnabled) notify('mfa_reset_by_admin', target);
}

/**
 * The login hook. For a user with two-factor on, the password step ends here: instead of a
 * session, a challenge for the login's delivery (or, with no delivery, just the verdict that
 * a second factor is needed). Null for everyone else. `queries` take the place of the
 * session's at the head of the login's batch (see challengeQuery).
 */
export async function secondFactorGate(
  db: Database,
  user: User,
  verified: VerifiedUser,
  delivery: Delivery | undefined,
  now: number,
) {
  if (!user.mfaEnabled) return null;
  const { query, issued } = await challengeQuery(db, user, verified, delivery, now);
  return { queries: [query] as const, challenge: issued };
}

/** The 403 a login answers when a second factor is needed, with the challenge's token if any. */
export function mfaRequired(challenge: IssuedChallenge | null): ApiError {
  return new ApiError(403, 'mfa_required', 'A second factor is required to complete this login.', {
    members: challenge ? { mfa_token: challenge.mfaToken, mfa_token_expires_in: challenge.expiresIn } : {},
  });
}

/**
 * Completes a login with its challenge and a TOTP or recovery code: the session login would
 * have created, and the delivery the login asked for.
 */
export async function verifyLoginChallenge(
  db: Database,
  config: Config,
  input: {
    mfaToken: string;
    factor: { code: string } | { recoveryCode: string };
    userAgent?: string | undefined;
    /** A verified DPoP proof: the session is bound to its key. */
    dpop?: ProofClaim | undefined;
  },
  log: RequestLog,
  notify: Notify,
  now = Date.now(),
): Promise<{ user: User; session: IssuedRefresh; delivery: Delivery }> {
  assertDataKey(config);
  // Spent first, on its own trip (this flow makes several): a replayed proof costs no attempt.
  if (input.dpop) assertClaimed(await claimProofQuery(db, input.dpop));
  const challenge = await takeAttempt(db, input.mfaToken, now);
  const streak = await countCheck(db, config, challenge.userId, now);
  const user = await db.query.users.findFirst({ where: eq(users.id, challenge.userId) });
  // A password change, reset or logout-all since the password step ends the challenge.
  if (!user || !user.mfaEnabled || user.tokenVersion !== challenge.tokenVersion) throw invalidMfaToken();
  assertNotLocked(config, streak, input.factor);
  const method = await spendFactor(db, config, user.id, input.factor, now);
  if (!method) {
    audit('mfa_failure', { ...log, userId: user.id, reason: 'login' });
    afterFailure(config, user, streak, log, notify);
    throw invalidCode(401);
  }
  if (!(await completeChallenge(db, challenge.tokenHash, now))) throw invalidMfaToken();
  // Created as login creates it, conditional on the password and version of the password step.
  const verified = { passwordHash: user.passwordHash, tokenVersion: challenge.tokenVersion, mfaEnabled: true };
  const session = await newSessionQueries(
    db,
    config,
    { userId: user.id, userAgent: input.userAgent, verified, amr: ['pwd', 'otp'], dpopJkt: input.dpop?.jkt },
    now,
  );
  const [created] = await db.batch([
    ...session.queries,
    clearCounterQuery(db, failuresLimit(config, user.id).key),
    resetStreakQuery(db, user.id),
  ]);
  if (created.length === 0) throw invalidMfaToken();
  audit('login_success', { ...log, userId: user.id, sessionId: session.issued.sessionId, method });
  return { user, session: session.issued, delivery: challenge.delivery };
}
