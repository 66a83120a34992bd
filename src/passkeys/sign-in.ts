/**
 * Signing in with a passkey, with a username (the options list that user's passkeys) or
 * without one (a discoverable sign-in: the passkey says whose it is). The answer is a session
 * like a password login's, made by the same session service, throttled per address like a
 * login. A passkey with user verification is two factors, so a user with TOTP on is not asked
 * for a code; the session records `hwk user` (RFC 8176) as how they signed in.
 */
import { usernameKey } from '../accounts/users';
import { addressKey } from '../platform/address';
import { audit, type RequestLog } from '../platform/audit';
import type { Config } from '../platform/config';
import type { Database } from '../platform/db/client';
import type { User } from '../platform/db/schema';
import { ApiError } from '../platform/errors';
import { newSessionQueries, type IssuedRefresh } from '../sessions/sessions';
import { assertClaimed, claimProofQuery, type ProofClaim } from '../dpop/replay';
import { countAttemptQuery, tooMany, withinLimitSql, type Count, type Limit } from '../throttle/rate-limit';
import {
  addressAttemptSucceededQueries,
  assertAddressAttemptAllowed,
  countAddressAttemptQuery,
} from '../throttle/throttle';
import { challengeHash, invalidChallenge, newChallengeQuery, takeChallengeQuery } from './challenges';
import { requestOptions } from './options';
import type { RelyingParty } from './relying-party';
import { descriptorsByUsernameQuery, findForSignInQueries, passkeyUsedQuery, storedPasskey } from './store';
import { readClientData, refusal, verifyAuthentication, type AuthenticationResponse } from './verification';

/**
 * Sign-in options per address (PASSKEY_OPTIONS_IP_MAX per LOGIN_WINDOW): each stores a
 * challenge, and nobody may fill the table from one address.
 */
const optionsLimit = (config: Config, address: string): Limit => ({
  key: `passkey-options:${address}`,
  max: config.webauthn.optionsIpMax,
  windowSeconds: config.loginWindow,
});

/**
 * Options for a sign-in: with a username, that user's passkeys as `allowCredentials` and the
 * challenge bound to the name; without, neither. A name with no passkeys (or no account)
 * gets an empty list, which browsers treat as a discoverable sign-in; the verification then
 * refuses any other account's passkey.
 */
export async function startSignIn(
  db: Database,
  config: Config,
  rp: RelyingParty,
  input: { username?: string | undefined; ip?: string | undefined },
  now: number,
) {
  const address = addressKey(input.ip);
  const limit = address ? optionsLimit(config, address) : undefined;
  const key = input.username === undefined ? undefined : usernameKey(input.username);
  const { challenge, query } = await newChallengeQuery(
    db,
    { purpose: 'sign_in', username: key },
    now,
    // Stored only within the limit counted just before it, in the same batch.
    limit ? withinLimitSql(limit) : undefined,
  );
  // Without a username, a name no account has (usernames are 3 characters or more).
  const descriptors = descriptorsByUsernameQuery(db, key ?? '');
  const [counts, allowed] = limit
    ? await db.batch([countAttemptQuery(db, [limit], now), descriptors, query])
    : [[] as Count[], ...(await db.batch([descriptors, query]))];
  const [counted] = counts;
  if (limit && counted && counted.count > limit.max) {
    throw tooMany('too_many_attempts', 'Too many passkey sign-ins started', counted.expiresAt, now);
  }
  return requestOptions(rp, challenge, key === undefined ? undefined : allowed);
}

/**
 * Verifies a sign-in response and starts the session. One round trip takes the challenge,
 * counts the attempt, finds the passkey with its user and spends a DPoP proof; after the
 * checks, one batch writes the session (bound to the proof's key), the passkey's counter and
 * the throttle's bookkeeping.
 */
export async function finishSignIn(
  db: Database,
  config: Config,
  rp: RelyingParty,
  input: {
    response: AuthenticationResponse;
    userAgent?: string | undefined;
    /** A verified DPoP proof (src/http/middleware/dpop.ts): spent here, and the session is bound to its key. */
    dpop?: ProofClaim | undefined;
  },
  log: RequestLog,
  now: number,
): Promise<{ user: User; session: IssuedRefresh }> {
  const refuse = refusal(401);
  const address = addressKey(log.ip);
  const fail = (err: unknown, userId?: string) => {
    if (err instanceof ApiError) {
      audit(err.status === 429 ? 'login_locked' : 'login_failure', {
        ...log,
        userId,
        reason: err.code,
        method: 'passkey',
      });
      if (err.code === 'passkey_counter_regressed')
        audit('passkey_counter_regressed', { ...log, userId, passkeyId: input.response.id });
    }
    return err;
  };
  let userId: string | undefined;
  try {
    const clientData = readClientData(input.response.response.clientDataJSON, refuse);
    if (input.response.id !== input.response.rawId)
      throw refuse('invalid_passkey', 'The response’s id and rawId differ.');
    const take = takeChallengeQuery(db, await challengeHash(clientData.challenge), 'sign_in', now);
    const [findPasskey, findUser] = findForSignInQueries(db, input.response.id);
    // Counted before anything is checked, like a password attempt (throttle.ts).
    const claim = input.dpop ? [claimProofQuery(db, input.dpop)] : [];
    const [counts, [challenge], [passkey], [owner], claimed] = address
      ? await db.batch([countAddressAttemptQuery(db, config, address, now), take, findPasskey, findUser, ...claim])
      : [[], ...(await db.batch([take, findPasskey, findUser, ...claim]))];
    const found = passkey && owner ? { passkey, user: owner } : undefined;
    assertAddressAttemptAllowed(counts, config, now);
    if (claimed) assertClaimed(claimed);
    if (!challenge) throw invalidChallenge(401);
    if (!found) throw refuse('unknown_passkey', 'This passkey is not registered here (it may have been removed).');
    userId = found.user.id;
    // A challenge made for a named user signs in that user only.
    if (challenge.username !== null && challenge.username !== found.user.usernameKey) {
      throw refuse('unknown_passkey', 'This passkey is not one of that account’s.');
    }
    const result = await verifyAuthentication(input.response, clientData, rp, storedPasskey(found.passkey), refuse);
    const user = found.user;
    // Conditional on the user as read, like a login's session: a password change or
    // logout-all that committed meanwhile wins.
    const session = await newSessionQueries(
      db,
      config,
      {
        userId: user.id,
        userAgent: input.userAgent,
        verified: { passwordHash: user.passwordHash, tokenVersion: user.tokenVersion, mfaEnabled: user.mfaEnabled },
        amr: ['hwk', 'user'],
        dpopJkt: input.dpop?.jkt,
      },
      now,
    );
    const [created] = await db.batch([
      ...session.queries,
      passkeyUsedQuery(db, found.passkey.id, result, now),
      ...(address
        ? addressAttemptSucceededQueries(db, address, user.id, now, [optionsLimit(config, address).key])
        : []),
    ]);
    if (created.length === 0) throw invalidChallenge(401);
    audit('login_success', { ...log, userId: user.id, sessionId: session.issued.sessionId, method: 'passkey' });
    return { user, session: session.issued };
  } catch (err) {
    throw fail(err, userId);
  }
}
