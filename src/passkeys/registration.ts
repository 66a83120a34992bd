/**
 * Making passkeys: adding one to a signed-in account, and signing up with one (an account with
 * a username and a passkey, and no password). Each is two requests: options (a challenge the
 * server stores), then the browser's response, verified against that challenge.
 */
import { eq } from 'drizzle-orm';
import type { Notify } from '../accounts/notices';
import { insertUserQuery, isUniqueViolation, usernameKey } from '../accounts/users';
import { NO_PASSWORD } from '../credentials/password';
import { addressKey } from '../platform/address';
import { audit, type RequestLog } from '../platform/audit';
import type { Config } from '../platform/config';
import type { Database } from '../platform/db/client';
import { users, type AccessUser, type Passkey, type User } from '../platform/db/schema';
import { ApiError } from '../platform/errors';
import { newSessionQueries, type IssuedRefresh } from '../sessions/sessions';
import { assertClaimed, claimProofQuery, type ProofClaim } from '../dpop/replay';
import { assertRegistrationAllowed, countRegistrationQuery } from '../throttle/throttle';
import { challengeHash, invalidChallenge, newChallengeQuery, takeChallengeQuery } from './challenges';
import { creationOptions } from './options';
import { proveForNewPasskey, type Proof } from './proof';
import type { RelyingParty } from './relying-party';
import {
  descriptorsQuery,
  insertPasskeyQuery,
  isDuplicatePasskey,
  MAX_PASSKEYS_PER_USER,
  passkeyLimitReached,
} from './store';
import { readClientData, refusal, verifyRegistration, type RegistrationResponse } from './verification';

export const DEFAULT_PASSKEY_NAME = 'Passkey';

const alreadyRegistered = () => new ApiError(409, 'passkey_already_registered', 'This passkey is registered already.');

/** Runs a verification step, auditing a refusal as `event` before it leaves. */
async function audited<T>(event: 'passkey_failure', log: RequestLog & { userId?: string }, step: () => Promise<T>) {
  try {
    return await step();
  } catch (err) {
    if (err instanceof ApiError) audit(event, { ...log, reason: err.code });
    throw err;
  }
}

/**
 * Options to add a passkey to the caller's account, after the proof (proof.ts). The challenge
 * is bound to the user; the options exclude the passkeys they hold already.
 */
export async function startRegistration(
  db: Database,
  config: Config,
  rp: RelyingParty,
  caller: { user: AccessUser; sessionId: string; log: RequestLog },
  proof: Proof,
  now: number,
) {
  await proveForNewPasskey(db, config, caller, proof, now);
  const { challenge, query } = await newChallengeQuery(db, { purpose: 'register', userId: caller.user.id }, now);
  const [existing] = await db.batch([descriptorsQuery(db, caller.user.id), query]);
  if (existing.length >= MAX_PASSKEYS_PER_USER) throw passkeyLimitReached();
  return creationOptions(rp, caller.user, challenge, existing);
}

/** Verifies the browser's response to startRegistration's options and stores the passkey. */
export async function finishRegistration(
  db: Database,
  rp: RelyingParty,
  caller: { user: AccessUser; log: RequestLog; notify: Notify },
  input: { response: RegistrationResponse; name?: string | undefined },
  now: number,
): Promise<Passkey> {
  const log = { ...caller.log, userId: caller.user.id };
  const refuse = refusal(400);
  const verified = await audited('passkey_failure', log, async () => {
    const clientData = readClientData(input.response.response.clientDataJSON, refuse);
    const [challenge] = await takeChallengeQuery(db, await challengeHash(clientData.challenge), 'register', now);
    // Bound to the user who proved themselves for it: another user's challenge is no challenge.
    if (!challenge || challenge.userId !== caller.user.id) throw invalidChallenge(400);
    return verifyRegistration(input.response, clientData, rp, refuse);
  });
  let rows: Passkey[];
  try {
    rows = await insertPasskeyQuery(db, caller.user.id, verified, input.name ?? DEFAULT_PASSKEY_NAME, now);
  } catch (err) {
    if (isDuplicatePasskey(err)) throw alreadyRegistered();
    throw err;
  }
  const passkey = rows[0];
  if (!passkey) throw passkeyLimitReached();
  audit('passkey_registered', { ...log, passkeyId: passkey.id });
  // A new way into the account: the owner hears of it (issue 16's notices).
  caller.notify('passkey_added', caller.user);
  return passkey;
}

/**
 * Options to sign up with a passkey: the username must be free, and the attempt counts
 * against the address's registrations (REGISTER_IP_MAX) as a password sign-up does. The
 * challenge carries the username and the id the new user will have, which the passkey's user
 * handle holds from now on.
 */
export async function startSignUp(
  db: Database,
  config: Config,
  rp: RelyingParty,
  input: { username: string; ip?: string | undefined },
  now: number,
) {
  const address = addressKey(input.ip);
  const [taken, counts = []] = await db.batch([
    db
      .select({ id: users.id })
      .from(users)
      .where(eq(users.usernameKey, usernameKey(input.username))),
    ...(address ? [countRegistrationQuery(db, config, address, now)] : []),
  ]);
  assertRegistrationAllowed(counts, config, now);
  if (taken.length > 0) throw usernameTaken();
  const user = { id: crypto.randomUUID(), username: input.username };
  const { challenge, query } = await newChallengeQuery(
    db,
    { purpose: 'sign_up', userId: user.id, username: user.username },
    now,
  );
  await query;
  return creationOptions(rp, user, challenge, []);
}

const usernameTaken = () => new ApiError(409, 'username_taken', 'That username is already registered.');

/**
 * Verifies the response to startSignUp's options, then, in one batch, creates the user
 * (without a password), stores the passkey and starts a session: all of it or, if the
 * username was taken meanwhile, none of it.
 */
export async function finishSignUp(
  db: Database,
  config: Config,
  rp: RelyingParty,
  input: {
    response: RegistrationResponse;
    name?: string | undefined;
    userAgent?: string | undefined;
    /** A verified DPoP proof: spent with the challenge, and the session is bound to its key. */
    dpop?: ProofClaim | undefined;
  },
  log: RequestLog,
  now: number,
): Promise<{ user: User; session: IssuedRefresh }> {
  const refuse = refusal(400);
  const { challenge, verified } = await audited('passkey_failure', log, async () => {
    const clientData = readClientData(input.response.response.clientDataJSON, refuse);
    const take = takeChallengeQuery(db, await challengeHash(clientData.challenge), 'sign_up', now);
    const [[challenge], claimed] = input.dpop ? await db.batch([take, claimProofQuery(db, input.dpop)]) : [await take];
    if (claimed) assertClaimed(claimed);
    if (!challenge?.userId || !challenge.username) throw invalidChallenge(400);
    return { challenge, verified: await verifyRegistration(input.response, clientData, rp, refuse) };
  });
  const userId = challenge.userId!;
  const session = await newSessionQueries(
    db,
    config,
    {
      userId,
      userAgent: input.userAgent,
      verified: { passwordHash: NO_PASSWORD, tokenVersion: 0, mfaEnabled: false },
      amr: ['hwk', 'user'],
      dpopJkt: input.dpop?.jkt,
    },
    now,
  );
  let created;
  try {
    // A D1 batch is one transaction: a failed insert leaves no user without a passkey.
    created = await db.batch([
      insertUserQuery(db, { id: userId, username: challenge.username!, passwordHash: NO_PASSWORD }, now),
      insertPasskeyQuery(db, userId, verified, input.name ?? DEFAULT_PASSKEY_NAME, now),
      ...session.queries,
    ]);
  } catch (err) {
    if (isDuplicatePasskey(err)) throw alreadyRegistered();
    if (isUniqueViolation(err)) throw usernameTaken();
    throw err;
  }
  const [[user], [passkey]] = created;
  audit('register', { ...log, userId, method: 'passkey' });
  audit('passkey_registered', { ...log, userId, passkeyId: passkey!.id });
  audit('login_success', { ...log, userId, sessionId: session.issued.sessionId, method: 'passkey' });
  return { user: user!, session: session.issued };
}
