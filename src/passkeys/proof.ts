/**
 * The proof a signed-in user gives before their passkeys or password change, beside the access
 * token (which other services may hold or log, and which alone must not add a way in):
 *
 * - adding a passkey: the current password, plus a code when two-factor is on, as for the
 *   other credential changes. An account without a password has neither: it proves itself
 *   with a passkey sign-in in the last five minutes instead (the session records how and when
 *   its user signed in);
 * - adding a password to an account that has none: that recent passkey sign-in;
 * - removing a passkey: any sign-in in the last five minutes, or the current password.
 */
import { eq } from 'drizzle-orm';
import type { Notify } from '../accounts/notices';
import { provePassword } from '../accounts/password-proof';
import type { LegacyHashesCompanion } from '../credentials/legacy-hashes-companion';
import { hasPassword } from '../credentials/password';
import type { RequestLog } from '../platform/audit';
import type { Config } from '../platform/config';
import type { Database } from '../platform/db/client';
import { sessions, users, type AccessUser } from '../platform/db/schema';
import { ApiError } from '../platform/errors';
import { proveSecondFactor } from '../two-factor/mfa';

export const RECENT_SIGN_IN_SECONDS = 5 * 60;

export type Proof = {
  currentPassword?: string | undefined;
  code?: string | undefined;
  legacyHashes?: LegacyHashesCompanion | undefined;
  /** The notices of a second-factor check (its lock after too many wrong codes). */
  notify: Notify;
};

type Caller = { user: AccessUser; sessionId: string; log: RequestLog };

/** Whether the account has a password, and how and when the caller's session signed in: one round trip. */
async function read(db: Database, caller: Caller) {
  const [stored, session] = await db.batch([
    db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, caller.user.id)),
    db
      .select({ authTime: sessions.authTime, amr: sessions.amr })
      .from(sessions)
      .where(eq(sessions.id, caller.sessionId)),
  ]);
  if (!stored[0]) throw new ApiError(401, 'invalid_token', 'The user of this token no longer exists.');
  return { hasPassword: hasPassword(stored[0].passwordHash), session: session[0] };
}

function signedInRecently(
  session: { authTime: number | null; amr: string | null } | undefined,
  now: number,
  withPasskey: boolean,
) {
  if (!session?.authTime || session.authTime <= now - RECENT_SIGN_IN_SECONDS * 1000) return false;
  return !withPasskey || (session.amr ?? '').split(' ').includes('hwk');
}

const required = (field: string, label: string) =>
  new ApiError(400, 'validation_failed', 'The request is invalid.', {
    errors: [{ field, message: `${label} is required.` }],
  });

const signInAgain = (what: string) =>
  new ApiError(
    403,
    'reauthentication_required',
    `${what} needs a passkey sign-in in the last ${RECENT_SIGN_IN_SECONDS / 60} minutes: sign in with your passkey again, then retry.`,
  );

/** Before a passkey is added. Throws 400 (a missing field), 401, 403 `reauthentication_required` or 429. */
export async function proveForNewPasskey(db: Database, config: Config, caller: Caller, proof: Proof, now: number) {
  const account = await read(db, caller);
  if (!account.hasPassword) {
    if (!signedInRecently(account.session, now, true))
      throw signInAgain('Adding a passkey to an account without a password');
    return;
  }
  if (proof.currentPassword === undefined) throw required('current_password', 'Current password');
  if (caller.user.mfaEnabled && proof.code === undefined) throw required('code', 'Code');
  const proven = await provePassword(
    db,
    config,
    { user: caller.user, password: proof.currentPassword, log: caller.log, legacyHashes: proof.legacyHashes },
    now,
  );
  // The password's bookkeeping rides in the code check's round trip, or alone.
  if (caller.user.mfaEnabled) {
    await proveSecondFactor(db, config, caller.user, proof.code!, caller.log, proof.notify, now, proven.succeeded);
  } else {
    await db.batch(proven.succeeded);
  }
}

/**
 * Before a password is added to an account that has none: a recent passkey sign-in. An
 * account that has a password needs no proof here; it is told so instead.
 */
export async function proveForNewPassword(
  db: Database,
  caller: Caller,
  now: number,
): Promise<{ hasPassword: boolean }> {
  const account = await read(db, caller);
  if (account.hasPassword) return { hasPassword: true };
  if (!signedInRecently(account.session, now, true)) throw signInAgain('Adding a password');
  return { hasPassword: false };
}

/** Before a passkey is removed: a recent sign-in of any kind, or the current password. */
export async function proveForRemoval(db: Database, config: Config, caller: Caller, proof: Proof, now: number) {
  const account = await read(db, caller);
  if (signedInRecently(account.session, now, false)) return;
  if (!account.hasPassword) throw signInAgain('Removing a passkey');
  if (proof.currentPassword === undefined) {
    throw new ApiError(
      403,
      'reauthentication_required',
      `Removing a passkey needs your current password, or a sign-in in the last ${RECENT_SIGN_IN_SECONDS / 60} minutes.`,
    );
  }
  const proven = await provePassword(
    db,
    config,
    { user: caller.user, password: proof.currentPassword, log: caller.log, legacyHashes: proof.legacyHashes },
    now,
  );
  await db.batch(proven.succeeded);
}
