/**
 * Verification through the companion Worker `edge-auth-legacy-hashes` (workers/legacy-hashes),
 * reached over the optional service binding LEGACY_HASHES. Only imported hashes that
 * WebCrypto cannot check on a deployed Worker come here (werkzeug scrypt, PBKDF2 above
 * 100,000 iterations or with a hash WebCrypto lacks, bcrypt): once per imported user.
 *
 * Without the binding, or when the companion fails, such a login cannot be decided either
 * way. It gets 503 `legacy_hash_unavailable` and the operator gets one error line saying what
 * to do; never a 500, and never a 401 that would tell the user their right password is wrong.
 * Like any attempt, it counts towards the login throttle until a login succeeds. The trade-off, written in README section 14:
 * the 503 comes whatever the password, so while the companion is missing it tells anyone that
 * the name exists and has not logged in since the import; the response time of a wrong
 * password already tells as much while the companion runs.
 */
import { ApiError } from '../platform/errors';

/**
 * The companion's answer: whether the password matches, or why it would not check (arguments
 * it does not accept, or a hash outside the bounds, which only happens when the two Workers
 * were deployed from different versions). A value rather than a thrown error: an exception
 * thrown out of an RPC method is logged by the runtime as uncaught.
 */
export type LegacyVerdict = { match: boolean } | { refused: string };

/** The companion's RPC surface (workers/legacy-hashes/src/index.ts), as this Worker uses it. */
export type LegacyHashesCompanion = { verify(password: string, stored: string): Promise<LegacyVerdict> };

const unavailable = () =>
  new ApiError(
    503,
    'legacy_hash_unavailable',
    'This account was imported with a password hash the service cannot check at the moment. Try again later, or reset the password.',
  );

/** One line for the operator: what is wrong and what to do; never the password or the hash. */
function logUnavailable(message: string, err?: unknown) {
  console.error(
    JSON.stringify({
      type: 'error',
      kind: 'legacy_hashes',
      message,
      ...(err === undefined ? {} : { name: err instanceof Error ? err.name : typeof err }),
    }),
  );
}

/** The companion's verdict on `password` against `stored`; 503 when it cannot give one. */
export async function verifyThroughCompanion(
  companion: LegacyHashesCompanion | undefined,
  password: string,
  stored: string,
): Promise<boolean> {
  if (!companion) {
    logUnavailable(
      'a user imported with a legacy hash tried to log in, but the LEGACY_HASHES service binding is not configured: ' +
        'deploy the companion (npm run deploy:legacy-hashes) and enable the binding in wrangler.toml (README section 14)',
    );
    throw unavailable();
  }
  let verdict: LegacyVerdict;
  try {
    verdict = await companion.verify(password, stored);
  } catch (err) {
    // Not deployed any more, or over its CPU limit.
    logUnavailable('the legacy-hashes companion Worker failed to verify an imported hash', err);
    throw unavailable();
  }
  if (typeof verdict !== 'object' || verdict === null || !('match' in verdict)) {
    const why =
      typeof verdict === 'object' && verdict !== null && 'refused' in verdict ? verdict.refused : 'no verdict';
    logUnavailable(
      `the legacy-hashes companion Worker did not check an imported hash (${String(why)}); deploy both from the same version`,
    );
    throw unavailable();
  }
  return verdict.match === true;
}
