/**
 * A signed-in user's passkeys: list, rename, remove; and a password for an account that was
 * made with a passkey and has none. Every change is audited.
 */
import { and, eq } from 'drizzle-orm';
import { checkPasswordLength } from '../accounts/auth';
import type { Notify } from '../accounts/notices';
import { assertNotCommonPassword, commonPasswordQuery } from '../credentials/common-passwords';
import { hashPassword, hasPassword, NO_PASSWORD } from '../credentials/password';
import { audit, type RequestLog } from '../platform/audit';
import type { Config } from '../platform/config';
import type { Database } from '../platform/db/client';
import { users, type AccessUser, type Passkey } from '../platform/db/schema';
import { ApiError } from '../platform/errors';
import { proveForNewPassword, proveForRemoval, type Proof } from './proof';
import { listPasskeysQuery, removePasskey, renamePasskey } from './store';

type Caller = { user: AccessUser; sessionId: string; log: RequestLog };

/** The caller's passkeys, oldest first, and whether the account has a password. */
export async function listPasskeys(db: Database, userId: string): Promise<{ passkeys: Passkey[]; password: boolean }> {
  const [rows, stored] = await db.batch([
    listPasskeysQuery(db, userId),
    db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, userId)),
  ]);
  return { passkeys: rows, password: stored[0] ? hasPassword(stored[0].passwordHash) : false };
}

export async function renameOwnPasskey(db: Database, caller: Caller, id: string, name: string): Promise<Passkey> {
  const passkey = await renamePasskey(db, caller.user.id, id, name);
  audit('passkey_renamed', { ...caller.log, userId: caller.user.id, passkeyId: id });
  return passkey;
}

/** Removes a passkey after the proof (proof.ts); never the last one of an account without a password. */
export async function removeOwnPasskey(
  db: Database,
  config: Config,
  caller: Caller,
  id: string,
  proof: Proof,
  now: number,
): Promise<void> {
  await proveForRemoval(db, config, caller, proof, now);
  await removePasskey(db, caller.user.id, id);
  audit('passkey_removed', { ...caller.log, userId: caller.user.id, passkeyId: id });
}

/**
 * Gives an account made with a passkey its first password, after a recent passkey sign-in.
 * Only an account with no password: a password is changed with the current one (POST
 * /auth/password), never replaced this way.
 */
export async function addPassword(
  db: Database,
  config: Config,
  caller: Caller & { notify: Notify },
  newPassword: string,
  now: number,
): Promise<void> {
  checkPasswordLength(newPassword, config, 'new_password');
  if ((await proveForNewPassword(db, caller, now)).hasPassword) throw alreadySet();
  const [listed] = await db.batch([commonPasswordQuery(db, newPassword)]);
  assertNotCommonPassword(listed);
  const passwordHash = await hashPassword(newPassword, { iterations: config.pbkdf2Iterations, pepper: config.pepper });
  const [changed] = await db
    .update(users)
    .set({ passwordHash, updatedAt: now })
    // Conditional: of two parallel requests, or one racing an admin's reset, only one sets it.
    .where(and(eq(users.id, caller.user.id), eq(users.passwordHash, NO_PASSWORD)))
    .returning({ id: users.id });
  if (!changed) throw alreadySet();
  audit('password_added', { ...caller.log, userId: caller.user.id });
  caller.notify('password_added', caller.user);
}

const alreadySet = () =>
  new ApiError(
    409,
    'password_already_set',
    'This account has a password already; change it with the current one (POST /auth/password).',
  );
