/**
 * Password hashing: PBKDF2-HMAC-SHA256 through WebCrypto, stored as a self-describing
 * PHC-style string `$pbkdf2-sha256$i=<iterations>[,p=1]$<salt>$<hash>` (base64url, no
 * padding), so the cost can be raised later and old hashes upgraded at the next login.
 *
 * Deployed Workers cap PBKDF2 at 100,000 iterations, below OWASP's 600,000. The optional
 * pepper (`PASSWORD_PEPPER`, a Worker secret, never in D1) makes up for it: the password
 * is first HMAC-ed with the pepper, so a stolen database alone cannot be attacked offline.
 */
import { fromBase64Url, randomBytes, timingSafeEqual, toBase64Url, utf8 } from '../platform/crypto';
import type { LegacyHashesCompanion } from './legacy-hashes-companion';
import { parseLegacyHash, verifyLegacyHash } from './legacy-hashes';

const SALT_BYTES = 16;
const KEY_BYTES = 32;
const PHC = /^\$pbkdf2-sha256\$i=(\d{1,7})(,p=1)?\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{16,})$/;

/**
 * The stored hash of an account without a password (one made with a passkey). Like a locked
 * entry in /etc/shadow it is no hash at all, so no password matches it, and checking one
 * against it costs the same PBKDF2 work as a wrong password (verifyPassword burns it).
 */
export const NO_PASSWORD = '!no-password';

export const hasPassword = (storedHash: string): boolean => storedHash !== NO_PASSWORD;

export type HashOptions = { iterations: number; pepper?: string | undefined };

/** Raw PBKDF2-HMAC-SHA256 (exported for the RFC 7914 test vector). */
export async function pbkdf2Sha256(
  password: Uint8Array<ArrayBuffer>,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const key = await crypto.subtle.importKey('raw', password, 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, length * 8);
  return new Uint8Array(bits);
}

const pepperKeys = new Map<string, Promise<CryptoKey>>();

/** The HMAC key for a pepper, imported once per isolate. */
function pepperKey(pepper: string): Promise<CryptoKey> {
  let key = pepperKeys.get(pepper);
  if (!key) {
    key = crypto.subtle.importKey('raw', utf8(pepper), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    pepperKeys.set(pepper, key);
  }
  return key;
}

/** NIST SP 800-63B: normalise to NFKC so the same password typed on any keyboard matches. */
async function passwordInput(password: string, pepper: string | undefined): Promise<Uint8Array<ArrayBuffer>> {
  const normalized = utf8(password.normalize('NFKC'));
  if (!pepper) return normalized;
  return new Uint8Array(await crypto.subtle.sign('HMAC', await pepperKey(pepper), normalized));
}

export async function hashPassword(password: string, options: HashOptions): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const input = await passwordInput(password, options.pepper);
  const hash = await pbkdf2Sha256(input, salt, options.iterations, KEY_BYTES);
  const params = `i=${options.iterations}${options.pepper ? ',p=1' : ''}`;
  return `$pbkdf2-sha256$${params}$${toBase64Url(salt)}$${toBase64Url(hash)}`;
}

export type VerifyResult = { ok: boolean; needsRehash: boolean };

/** The companion Worker that checks imported hashes WebCrypto cannot (legacy-hashes-companion.ts). */
export type VerifyOptions = HashOptions & { legacyHashes?: LegacyHashesCompanion | undefined };

/**
 * Checks `password` against a stored hash in constant time. `needsRehash` says the hash
 * was made with other parameters than today's (fewer iterations, or without the pepper
 * that is now configured), so the caller can store a fresh one after a successful login.
 */
export async function verifyPassword(password: string, stored: string, options: VerifyOptions): Promise<VerifyResult> {
  // Imported from a Flask app (legacy-hashes.ts): good for one login, then replaced by ours.
  const legacy = parseLegacyHash(stored);
  if (legacy) {
    const ok = await verifyLegacyHash(password, legacy, options.legacyHashes);
    return { ok, needsRehash: ok };
  }
  const match = PHC.exec(stored);
  const salt = match && fromBase64Url(match[3]!);
  const expected = match && fromBase64Url(match[4]!);
  if (!match || !salt || !expected) {
    // Still spend the work, so a corrupt row is not a timing oracle.
    await burnPasswordWork(password, options);
    return { ok: false, needsRehash: false };
  }
  const iterations = Number(match[1]);
  const peppered = match[2] !== undefined;
  if (peppered && !options.pepper) {
    // The pepper was removed from configuration: these hashes cannot be checked any more.
    await burnPasswordWork(password, options);
    return { ok: false, needsRehash: false };
  }
  const input = await passwordInput(password, peppered ? options.pepper : undefined);
  const actual = await pbkdf2Sha256(input, salt, iterations, expected.byteLength);
  const ok = timingSafeEqual(actual, expected);
  if (!ok && iterations < options.iterations) {
    // A hash from before the cost was raised is cheaper to check: burn the difference, or a
    // failed login would tell accounts not yet upgraded from unknown names by its speed.
    await pbkdf2Sha256(input, salt, options.iterations - iterations, KEY_BYTES);
  }
  return { ok, needsRehash: ok && (iterations !== options.iterations || peppered !== Boolean(options.pepper)) };
}

/**
 * One PBKDF2 run whose result is thrown away: login for an unknown user costs the same as
 * for a known one, so response time does not tell which usernames exist.
 */
export async function burnPasswordWork(password: string, options: HashOptions): Promise<void> {
  await hashPassword(password, options);
}
