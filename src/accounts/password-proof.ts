/**
 * Proof of the current password from a signed-in user: for a password change, and as the
 * re-authentication asked before a credential or recovery detail changes (ASVS 5.0 V6/V7:
 * the address, two-factor), so that an access token alone, which other services may hold or
 * log, cannot take the account over. Counted and throttled exactly like a login, under the
 * login's keys (the username key, the address): an access token buys no more guesses than
 * the login form.
 */
import { eq, type SQL } from 'drizzle-orm';
import type { LegacyHashesCompanion } from '../credentials/legacy-hashes-companion';
import { verifyPassword } from '../credentials/password';
import { addressKey } from '../platform/address';
import { audit, type AuditEvent, type RequestLog } from '../platform/audit';
import type { Config } from '../platform/config';
import type { Database } from '../platform/db/client';
import { knownAddresses, users, type AccessUser } from '../platform/db/schema';
import { ApiError } from '../platform/errors';
import type { Count } from '../throttle/rate-limit';
import {
  assertAttemptAllowed,
  countPasswordAttemptQuery,
  knownAddressJoin,
  passwordAttemptSucceededQueries,
  type AttemptKeys,
} from '../throttle/throttle';
import { usernameKey } from './users';

export const hashOptions = (config: Config) => ({ iterations: config.pbkdf2Iterations, pepper: config.pepper });
/** Checking a stored hash may need the companion Worker (an imported Flask hash). */
export const verifyOptions = (config: Config, legacyHashes: LegacyHashesCompanion | undefined) => ({
  ...hashOptions(config),
  legacyHashes,
});

/** The reads of a password proof, in the order `check` takes their results. */
type ProofResults = readonly [counts: Count[], known: { since: number }[], stored: { passwordHash: string }[]];

/** What a proven password leaves for the caller's write batch: this attempt was no failure. */
export type ProvenPassword = {
  passwordHash: string;
  succeeded: ReturnType<typeof passwordAttemptSucceededQueries>;
};

/**
 * The proof, in two parts: `reads` go into the caller's first round trip, beside what else
 * it reads (with `onlyIf`, the attempt is counted only when that holds); `check` judges their
 * results and verifies the password. The caller puts `succeeded` in its next write.
 */
export function passwordProof(
  db: Database,
  config: Config,
  input: { user: AccessUser; ip?: string | undefined; onlyIf?: SQL | undefined },
  now: number,
) {
  const user = input.user;
  const keys: AttemptKeys = { user: usernameKey(user.username), address: addressKey(input.ip) };
  // The stored hash is read here, not by requireAuth: it never rides along on other requests.
  const reads = [
    countPasswordAttemptQuery(db, config, keys, now, input.onlyIf),
    db
      .select({ since: knownAddresses.lastSeenAt })
      .from(knownAddresses)
      .where(knownAddressJoin(user.id, keys.address, now)),
    db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, user.id)),
  ] as const;

  async function check(
    [counts, known, stored]: ProofResults,
    password: string,
    options: {
      log: RequestLog;
      /** The audit event of a refusal. */
      failure: AuditEvent;
      /** The LEGACY_HASHES binding, when configured. */
      legacyHashes?: LegacyHashesCompanion | undefined;
    },
  ): Promise<ProvenPassword> {
    const log = { ...options.log, userId: user.id };
    const currentHash = stored[0]?.passwordHash;
    if (currentHash === undefined) throw new ApiError(401, 'invalid_token', 'The user of this token no longer exists.');
    try {
      assertAttemptAllowed(counts, config, keys, known.length > 0, now);
    } catch (err) {
      audit(options.failure, { ...log, reason: 'too_many_attempts' });
      throw err;
    }
    const verdict = await verifyPassword(password, currentHash, verifyOptions(config, options.legacyHashes));
    if (!verdict.ok) {
      audit(options.failure, { ...log, reason: 'invalid_credentials' });
      throw new ApiError(401, 'invalid_credentials', 'The current password is incorrect.');
    }
    return {
      passwordHash: currentHash,
      succeeded: passwordAttemptSucceededQueries(db, keys, user.id, now, known[0]?.since),
    };
  }

  return { reads, check };
}

/**
 * The proof on its own round trip, for a change that has nothing else to read first. Refused:
 * 401 `invalid_credentials` (audited as `reauthentication_failure`), or 429.
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
  const proof = passwordProof(db, config, { user: input.user, ip: input.log.ip }, now);
  return proof.check(await db.batch(proof.reads), input.password, {
    log: input.log,
    failure: 'reauthentication_failure',
    legacyHashes: input.legacyHashes,
  });
}
