/**
 * Registration, login and password change: the flows that spend PBKDF2 work. Each is one
 * read round trip, the hash, and at most one batched write.
 */
import { eq } from 'drizzle-orm';
import { MAX_PASSWORD_LENGTH, type Config } from '../config';
import type { Database } from '../db/client';
import { users, type User } from '../db/schema';
import { ApiError } from '../errors';
import type { Delivery } from '../mfa/challenges';
import { audit } from './audit';
import { secondFactorGate, type SecondFactorGate } from './mfa';
import { burnPasswordWork, hashPassword, verifyPassword } from '../password';
import { isCommonPassword } from '../security/common-passwords';
import { newSessionQueries, revokeUserSessionsQuery, type IssuedRefresh } from './sessions';
import {
  assertNotLocked,
  clearUserFailuresQuery,
  recordFailureQueries,
  selectFailures,
  type ThrottleKeys,
} from './throttle';
import { bumpTokenVersionQuery, createUser, usernameKey } from './users';

const hashOptions = (config: Config) => ({ iterations: config.pbkdf2Iterations, pepper: config.pepper });

/**
 * Length limits (NIST SP 800-63B: counted in characters after NFKC) and the common-password
 * list (ASVS 6.2.4). No composition rules, as both ask.
 */
export function checkNewPassword(password: string, config: Config, field = 'password'): void {
  const length = [...password.normalize('NFKC')].length;
  if (length < config.passwordMinLength || length > MAX_PASSWORD_LENGTH) {
    throw new ApiError(400, 'validation_failed', 'The request is invalid.', {
      errors: [{ field, message: `must be ${config.passwordMinLength} to ${MAX_PASSWORD_LENGTH} characters` }],
    });
  }
  if (isCommonPassword(password)) {
    throw new ApiError(
      400,
      'password_too_common',
      'This password is among the most commonly used ones; choose another.',
    );
  }
}

export async function register(
  db: Database,
  config: Config,
  input: { username: string; password: string; requestId?: string | undefined; ip?: string | undefined },
): Promise<User> {
  checkNewPassword(input.password, config);
  const passwordHash = await hashPassword(input.password, hashOptions(config));
  const user = await createUser(db, { username: input.username, passwordHash });
  audit('register', { requestId: input.requestId, userId: user.id, ip: input.ip });
  return user;
}

const invalidCredentials = () => new ApiError(401, 'invalid_credentials', 'The username or password is incorrect.');

/** `mfa` set: the password was right but a second factor is needed (no session was made). */
export type LoginResult = { user: User; session: IssuedRefresh | null; mfa?: SecondFactorGate };

/**
 * Checks credentials under throttling. Locked out -> 429 before any hashing (throttling
 * protects CPU too). Unknown user and wrong password are the same 401 at the same cost.
 */
export async function login(
  db: Database,
  config: Config,
  input: {
    username: string;
    password: string;
    ip?: string | undefined;
    userAgent?: string | undefined;
    withSession: boolean;
    /** The refresh_token_delivery a two-factor challenge will honour. */
    delivery?: Delivery;
    requestId?: string | undefined;
  },
  now = Date.now(),
): Promise<LoginResult> {
  const log = { requestId: input.requestId, ip: input.ip };
  try {
    const result = await checkCredentials(db, config, input, now);
    if (result.mfa) audit('login_mfa_required', { ...log, userId: result.user.id });
    else audit('login_success', { ...log, userId: result.user.id, sessionId: result.session?.sessionId });
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
  const keys: ThrottleKeys = { user: usernameKey(input.username), ip: input.ip };
  // One round trip for the user and the throttle counters. (A relational findFirst that
  // matches nothing crashes drizzle's batch result mapping, hence the plain select.)
  const [matches, failures] = await db.batch([
    db.select().from(users).where(eq(users.usernameKey, keys.user)).limit(1),
    selectFailures(db, keys),
  ]);
  const found = matches[0];
  assertNotLocked(failures, config, now);

  const verdict = found
    ? await verifyPassword(input.password, found.passwordHash, hashOptions(config))
    : (await burnPasswordWork(input.password, hashOptions(config)), { ok: false, needsRehash: false });
  if (!found || !verdict.ok) {
    await db.batch(recordFailureQueries(db, keys, now, config));
    throw invalidCredentials();
  }

  // Two-factor users get a challenge (or, without a session, just the verdict) instead (services/mfa.ts).
  const mfa = await secondFactorGate(db, found, input.withSession ? (input.delivery ?? 'body') : null, now);
  const session =
    input.withSession && !mfa
      ? await newSessionQueries(db, config, { userId: found.id, userAgent: input.userAgent }, now)
      : null;
  // Upgrading the hash costs a second PBKDF2 run, once per user after a parameter change.
  const rehash = verdict.needsRehash ? await hashPassword(input.password, hashOptions(config)) : null;
  await db.batch([
    clearUserFailuresQuery(db, keys),
    ...(session?.queries ?? []),
    ...(mfa?.queries ?? []),
    ...(rehash ? [db.update(users).set({ passwordHash: rehash, updatedAt: now }).where(eq(users.id, found.id))] : []),
  ]);
  return { user: found, session: session?.issued ?? null, ...(mfa ? { mfa } : {}) };
}

/**
 * Changes a password after checking the current one (throttled like a login). Every other
 * session is revoked and the token version bumped, so every access token issued so far,
 * this caller's included, stops working; the current session's refresh token still works.
 */
export async function changePassword(
  db: Database,
  config: Config,
  input: {
    user: User;
    currentPassword: string;
    newPassword: string;
    sessionId?: string | undefined;
    ip?: string | undefined;
    requestId?: string | undefined;
  },
  now = Date.now(),
): Promise<void> {
  const keys: ThrottleKeys = { user: input.user.usernameKey, ip: input.ip };
  const log = { requestId: input.requestId, userId: input.user.id, ip: input.ip };
  try {
    assertNotLocked(await selectFailures(db, keys), config, now);
  } catch (err) {
    audit('password_change_failure', { ...log, reason: 'too_many_attempts' });
    throw err;
  }
  const verdict = await verifyPassword(input.currentPassword, input.user.passwordHash, hashOptions(config));
  if (!verdict.ok) {
    await db.batch(recordFailureQueries(db, keys, now, config));
    audit('password_change_failure', { ...log, reason: 'invalid_credentials' });
    throw new ApiError(401, 'invalid_credentials', 'The current password is incorrect.');
  }
  checkNewPassword(input.newPassword, config, 'new_password');
  const passwordHash = await hashPassword(input.newPassword, hashOptions(config));
  await db.batch([
    db.update(users).set({ passwordHash, updatedAt: now }).where(eq(users.id, input.user.id)),
    bumpTokenVersionQuery(db, input.user.id),
    revokeUserSessionsQuery(db, input.user.id, 'password_changed', now, input.sessionId),
    clearUserFailuresQuery(db, keys),
  ]);
  audit('password_changed', log);
}
