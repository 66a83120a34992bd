/**
 * Proof of the current password from a signed-in user, asked before a credential changes (a
 * passkey added), so that an access token alone, which other services may hold or log, cannot
 * add a way into the account. Counted and throttled exactly like a login, under the login's
 * keys (the username key, the address), as the password change's check is (auth.ts): an
 * access token buys no more guesses than the login form.
 *
 * (The step-up work of issue 16 brings the same function, `provePassword`, here; it is meant to
 * replace this one when both land.)
 */
import { eq } from 'drizzle-orm';
import type { LegacyHashesCompanion } from '../credentials/legacy-hashes-companion';
import { verifyPassword } from '../credentials/password';
import { addressKey } from '../platform/address';
import { audit, type RequestLog } from '../platform/audit';
import type { Config } from '../platform/config';
import type { Database } from '../platform/db/client';
import { knownAddresses, users, type AccessUser } from '../platform/db/schema';
import { ApiError } from '../platform/errors';
import {
  assertAttemptAllowed,
  countPasswordAttemptQuery,
  knownAddressJoin,
  passwordAttemptSucceededQueries,
  type AttemptKeys,
} from '../throttle/throttle';
import { usernameKey } from './users';

/** What a proven password leaves for the caller's write batch: this attempt was no failure. */
export type ProvenPassword = {
  passwordHash: string;
  succeeded: ReturnType<typeof passwordAttemptSucceededQueries>;
};

/**
 * Checks the current password in one round trip (the attempt counted, the address's standing
 * and the stored hash read together). Refused: 401 `invalid_credentials` (audited as
 * `reauthentication_failure`), or 429. The caller puts `succeeded` in its next write.
 */
export async function provePassword(
  db: Database,
  config: Config,
  input: {
    user: AccessUser;
    password: string;
    log: RequestLog;
    legacyHashes?: LegacyHashesCompanion | undefined;
  },
  now: number,
): Promise<ProvenPassword> {
  const user = input.user;
  const keys: AttemptKeys = { user: usernameKey(user.username), address: addressKey(input.log.ip) };
  const log = { ...input.log, userId: user.id };
  // The stored hash is read here, not by requireAuth: it never rides along on other requests.
  const [counts, known, stored] = await db.batch([
    countPasswordAttemptQuery(db, config, keys, now),
    db
      .select({ since: knownAddresses.lastSeenAt })
      .from(knownAddresses)
      .where(knownAddressJoin(user.id, keys.address, now)),
    db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, user.id)),
  ]);
  const currentHash = stored[0]?.passwordHash;
  if (currentHash === undefined) throw new ApiError(401, 'invalid_token', 'The user of this token no longer exists.');
  try {
    assertAttemptAllowed(counts, config, keys, known.length > 0, now);
  } catch (err) {
    audit('reauthentication_failure', { ...log, reason: 'too_many_attempts' });
    throw err;
  }
  const verdict = await verifyPassword(input.password, currentHash, {
    iterations: config.pbkdf2Iterations,
    pepper: config.pepper,
    legacyHashes: input.legacyHashes,
  });
  if (!verdict.ok) {
    audit('reauthentication_failure', { ...log, reason: 'invalid_credentials' });
    throw new ApiError(401, 'invalid_credentials', 'The current password is incorrect.');
  }
  return {
    passwordHash: currentHash,
    succeeded: passwordAttemptSucceededQueries(db, keys, user.id, now, known[0]?.since),
  };
}
