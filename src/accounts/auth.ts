/**
 * Registration, login and password change: the flows that spend PBKDF2 work. Each is one read round trip,
 * the hash, and at most one batched write.
 */
import { and, eq, sql } from 'drizzle-orm';
import { forgetUser } from '../sessions/access-cache';
import { addressKey } from '../platform/address';
import { MAX_PASSWORD_LENGTH, type Config } from '../platform/config';
import type { Database } from '../platform/db/client';
import { knownAddresses, sessions, users, type AccessUser, type User } from '../platform/db/schema';
import { ApiError, type FieldError } from '../platform/errors';
import type { LegacyHashesCompanion } from '../credentials/legacy-hashes-companion';
import { burnPasswordWork, hashPassword, verifyPassword } from '../credentials/password';
import type { Delivery, IssuedChallenge } from '../two-factor/challenges';
import { audit } from '../platform/audit';
import { endResetTokensQuery } from '../recovery/reset-tokens';
import type { Notify } from './notices';
import { hashOptions, passwordProof, verifyOptions } from './password-proof';
import { assertNotCommonPassword, commonPasswordQuery, notCommonPassword } from '../credentials/common-passwords';
import { secondFactorGate } from '../two-factor/mfa';
import { newSessionQueries, revokeUserSessionsQuery, type IssuedRefresh } from '../sessions/sessions';
import { assertClaimed, claimProofQuery, type ProofClaim } from '../dpop/replay';
import {
  assertRegistrationAllowed,
  countRegistrationQuery,
  knownAddressJoin,
  loginAttempt,
  passwordAttemptSucceededQueries,
  type AttemptKeys,
  type ExtraLimit,
} from '../throttle/throttle';
import { createUser, usernameKey } from './users';

/**
 * Length limits (NIST SP 800-63B: counted in characters after NFKC). No composition rules, as
 * NIST and ASVS ask; the common-password list (ASVS 6.2.4) is looked up in D1 by each flow, in
 * the batch it sends before hashing (common-passwords.ts). The routes check this beside their
 * schema, so a form learns every bad field in one answer; the services check it again.
 */
export function passwordLengthError(password: string, config: Config, field = 'password'): FieldError | undefined {
  const length = [...password.normalize('NFKC')].length;
  if (length >= config.passwordMinLength && length <= MAX_PASSWORD_LENGTH) return undefined;
  const label = field === 'new_password' ? 'New password' : 'Password';
  return { field, message: `${label} must be ${config.passwordMinLength} to ${MAX_PASSWORD_LENGTH} characters.` };
}

export function checkPasswordLength(password: string, config: Config, field = 'password'): void {
  const error = passwordLengthError(password, config, field);
  if (error) throw new ApiError(400, 'validation_failed', 'The request is invalid.', { errors: [error] });
}

/**
 * One round trip before the hash: whether the password is common, and the registration count
 * of the address (taken only for a password that is not common, so a refused one counts
 * against no limit). Then the hash and the insert.
 */
export async function register(
  db: Database,
  config: Config,
  input: { username: string; password: string; requestId?: string | undefined; ip?: string | undefined },
): Promise<User> {
  checkPasswordLength(input.password, config);
  const address = addressKey(input.ip);
  const now = Date.now();
  const [listed, counts = []] = await db.batch([
    commonPasswordQuery(db, input.password),
    ...(address ? [countRegistrationQuery(db, config, address, now, notCommonPassword(input.password))] : []),
  ]);
  assertNotCommonPassword(listed);
  assertRegistrationAllowed(counts, config, now);
  const passwordHash = await hashPassword(input.password, hashOptions(config));
  const user = await createUser(db, { username: input.username, passwordHash });
  audit('register', { requestId: input.requestId, userId: user.id, ip: input.ip });
  return user;
}

const invalidCredentials = () => new ApiError(401, 'invalid_credentials', 'The username or password is incorrect.');

/** `mfa`: the password was right but the user has a second factor; no session was made. */
export type LoginResult =
  | { user: User; session: IssuedRefresh; mfa?: undefined }
  | { user: User; session?: undefined; mfa: { challenge: IssuedChallenge | null } };

/**
 * Checks credentials under throttling and starts a session. Over a limit -> 429 before any
 * hashing (throttling protects CPU too). Unknown user and wrong password are the same 401 at
 * the same cost. Two D1 round trips: count + read, then the success writes; a failure answers
 * after the first and then clears its in-flight mark (throttle.ts) with a write it hands to
 * `defer`.
 */
export async function login(
  db: Database,
  config: Config,
  input: {
    username: string;
    password: string;
    ip?: string | undefined;
    userAgent?: string | undefined;
    requestId?: string | undefined;
    /** The refresh_token_delivery a second-factor challenge honours; none: no challenge (Flask-JWT /auth). */
    delivery?: Delivery | undefined;
    /** The LEGACY_HASHES binding, when configured. */
    legacyHashes?: LegacyHashesCompanion | undefined;
    /** Runs work the answer need not wait for (ExecutionContext.waitUntil); without it, it is awaited. */
    defer?: ((work: Promise<unknown>) => void) | undefined;
    /** A verified DPoP proof: spent in D1 with the attempt, and the session is bound to its key. */
    dpop?: ProofClaim | undefined;
  },
  now = Date.now(),
): Promise<LoginResult> {
  const log = { requestId: input.requestId, ip: input.ip };
  try {
    const result = await checkCredentials(db, config, input, now);
    if (result.mfa) audit('login_mfa_required', { ...log, userId: result.user.id });
    else audit('login_success', { ...log, userId: result.user.id, sessionId: result.session.sessionId });
    return result;
  } catch (err) {
    if (err instanceof ApiError)
      audit(err.status === 429 ? 'login_locked' : 'login_failure', { ...log, reason: err.code });
    throw err;
  }
}

async function checkCredentials(
  db: Database,
  config: Config,
  input: Parameters<typeof login>[2],
  now: number,
): Promise<LoginResult> {
  const keys: AttemptKeys = { user: usernameKey(input.username), address: addressKey(input.ip) };
  const attempt = loginAttempt(db, config, keys, now, legacyVerifyLimit(config, keys.user));
  // One round trip: the attempt is counted and judged before the password is checked, the user
  // is read with whether this address is known for them, and a DPoP proof is spent. (A
  // relational findFirst that matches nothing crashes drizzle's batch result mapping, hence the
  // plain select.)
  const [matches, ...judged] = await db.batch([
    db
      .select({ user: users, knownSince: knownAddresses.lastSeenAt })
      .from(users)
      .leftJoin(knownAddresses, knownAddressJoin(users.id, keys.address, now))
      .where(eq(users.usernameKey, keys.user))
      .limit(1),
    ...(input.dpop ? [claimProofQuery(db, input.dpop)] : []),
    ...attempt.queries,
  ]);
  const claimed = input.dpop ? (judged.shift() as unknown[]) : null;
  attempt.admit(judged);
  const found = matches[0];

  // The attempt is in flight until its verdict. A failure stays counted; only its in-flight
  // mark goes, sent before the answer leaves but not waited for.
  const failed = async () => {
    const work = attempt.failed.then(
      () => undefined,
      (err: unknown) =>
        console.error(
          JSON.stringify({ type: 'error', kind: 'login_settle', name: err instanceof Error ? err.name : typeof err }),
        ),
    );
    if (input.defer) input.defer(work);
    else await work;
  };
  // A replayed proof is refused before the password is checked; the attempt counts as failed.
  if (claimed && claimed.length === 0) {
    await failed();
    assertClaimed(claimed);
  }
  let verdict;
  try {
    verdict = found
      ? await verifyPassword(input.password, found.user.passwordHash, verifyOptions(config, input.legacyHashes))
      : (await burnPasswordWork(input.password, hashOptions(config)), { ok: false, needsRehash: false });
  } catch (err) {
    // No verdict (503 from the companion, say): it counts like a failure.
    await failed();
    throw err;
  }
  if (!found || !verdict.ok) {
    await failed();
    throw invalidCredentials();
  }

  const user = found.user;
  // Every write below is conditional on the hash, token version and second-factor flag just
  // read: a login that verified the old password cannot outlive a password change, logout-all
  // or deletion that committed while it was hashing, and one that found two-factor off cannot
  // make a password-only session once an enrolment was confirmed meanwhile.
  const verified = { passwordHash: user.passwordHash, tokenVersion: user.tokenVersion, mfaEnabled: user.mfaEnabled };
  // A user with a second factor gets a challenge instead of a session (services/mfa.ts).
  const gate = await secondFactorGate(db, user, verified, input.delivery, now);
  const session = gate
    ? null
    : await newSessionQueries(
        db,
        config,
        { userId: user.id, userAgent: input.userAgent, verified, dpopJkt: input.dpop?.jkt },
        now,
      );
  // Upgrading the hash costs a second PBKDF2 run, once per user after a parameter change.
  const rehash = verdict.needsRehash ? await hashPassword(input.password, hashOptions(config)) : null;
  const [created] = await db.batch([
    ...(gate?.queries ?? session!.queries),
    ...(rehash ? [replaceHashQuery(db, user.id, user.passwordHash, rehash, now)] : []),
    ...passwordAttemptSucceededQueries(db, keys, user.id, now, found.knownSince),
    attempt.succeeded,
  ]);
  if (created.length === 0) throw invalidCredentials();
  return gate ? { user, mfa: { challenge: gate.challenge } } : { user, session: session!.issued };
}

/**
 * LEGACY_VERIFY_MAX_FAILURES an hour, over all addresses, for an account whose stored hash is
 * still an imported one (legacy-hashes.ts: werkzeug pbkdf2 or scrypt, bcrypt): checking one
 * may cost seconds of CPU, and the per-username limit alone would allow a hundred a window.
 * Counted for every attempt on such an account before the check; the first right password
 * replaces the hash, and the limit no longer applies.
 */
const legacyVerifyLimit = (config: Config, user: string): ExtraLimit => ({
  key: `login:legacy:${user}`,
  max: config.legacyVerifyMaxFailures,
  windowSeconds: 3600,
  onlyIf: sql`EXISTS (SELECT 1 FROM ${users} WHERE ${users.usernameKey} = ${user} AND (${users.passwordHash} GLOB 'pbkdf2:*' OR ${users.passwordHash} GLOB 'scrypt:*' OR ${users.passwordHash} GLOB '$2[aby]$*'))`,
});

/** Replaces only the hash that was verified: a password changed meanwhile stays changed. */
function replaceHashQuery(db: Database, userId: string, verifiedHash: string, newHash: string, now: number) {
  return db
    .update(users)
    .set({ passwordHash: newHash, updatedAt: now })
    .where(and(eq(users.id, userId), eq(users.passwordHash, verifiedHash)));
}

/**
 * Changes a password after checking the current one (throttled like a login). Every other
 * session is revoked and the token version bumped, so every access token issued so far,
 * this caller's included, stops working; the current session's refresh token still works.
 * Every outstanding reset token ends, and the owner gets a notice.
 */
export async function changePassword(
  db: Database,
  config: Config,
  input: {
    user: AccessUser;
    currentPassword: string;
    newPassword: string;
    sessionId: string;
    ip?: string | undefined;
    requestId?: string | undefined;
    /** The LEGACY_HASHES binding, when configured. */
    legacyHashes?: LegacyHashesCompanion | undefined;
    notify: Notify;
  },
  now = Date.now(),
): Promise<void> {
  // Not counted: a too-short or common new password is no failed guess of the current one.
  checkPasswordLength(input.newPassword, config, 'new_password');
  const user = input.user;
  const log = { requestId: input.requestId, ip: input.ip };
  const proof = passwordProof(db, config, { user, ip: input.ip, onlyIf: notCommonPassword(input.newPassword) }, now);
  const [listed, ...read] = await db.batch([commonPasswordQuery(db, input.newPassword), ...proof.reads]);
  assertNotCommonPassword(listed);
  const proven = await proof.check(read, input.currentPassword, {
    log,
    failure: 'password_change_failure',
    legacyHashes: input.legacyHashes,
  });
  const passwordHash = await hashPassword(input.newPassword, hashOptions(config));
  const [changed] = await db.batch([
    // Conditional on what was verified: of two concurrent changes only one lands.
    db
      .update(users)
      .set({ passwordHash, tokenVersion: sql`${users.tokenVersion} + 1`, updatedAt: now })
      .where(
        and(
          eq(users.id, user.id),
          eq(users.passwordHash, proven.passwordHash),
          eq(users.tokenVersion, user.tokenVersion),
        ),
      )
      .returning({ id: users.id }),
    revokeUserSessionsQuery(db, user.id, 'password_changed', now, input.sessionId),
    // The kept session follows the new version, so its refresh token keeps working.
    db
      .update(sessions)
      .set({ tokenVersion: sql`(SELECT ${users.tokenVersion} FROM ${users} WHERE ${users.id} = ${user.id})` })
      .where(and(eq(sessions.id, input.sessionId), sql`${sessions.revokedAt} IS NULL`)),
    endResetTokensQuery(db, user.id),
    ...proven.succeeded,
  ]);
  if (changed.length === 0) {
    audit('password_change_failure', { ...log, userId: user.id, reason: 'invalid_credentials' });
    throw new ApiError(401, 'invalid_credentials', 'The password was changed by another request meanwhile.');
  }
  forgetUser(user.id);
  audit('password_changed', { ...log, userId: user.id });
  input.notify('password_changed', user);
}
