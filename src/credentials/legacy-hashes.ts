/**
 * Password hashes brought over from Flask apps by `npm run users:import`, verified once per
 * user: the first successful login replaces them with the service's own hash (password.ts).
 *
 * - werkzeug `pbkdf2:<hashlib name>:<iterations>$<salt>$<hex>` (SHA-256 by default, with
 *   260,000 iterations in 2.0-2.2, 600,000 in 2.3-3.0, 1,000,000 in 3.1), salt and password
 *   used as their UTF-8 bytes;
 * - werkzeug `scrypt:<N>:<r>:<p>$<salt>$<hex>` (the default since 3.0: 32768:8:1, 64 bytes);
 * - bcrypt `$2a$`, `$2b$`, `$2y$` (Flask-Bcrypt).
 *
 * Deployed Workers refuse PBKDF2 above 100,000 iterations, in WebCrypto and in `node:crypto`
 * alike (workerd's checkPbkdfLimits), and local workerd does not enforce that cap. So only
 * PBKDF2 within the cap, with a hash WebCrypto has, is checked here; everything else needs
 * pure JavaScript (@noble/hashes, bcryptjs: 17 KiB gzipped together), which lives in the
 * companion Worker workers/legacy-hashes and is reached through legacy-hashes-companion.ts.
 * That code runs once per imported user; kept out of this bundle, it costs nothing on the
 * cold starts of every other request.
 *
 * This module is shared: the companion parses and bounds with it too, and the import uses it
 * to decide what to keep, so the three always agree on what a valid stored hash is.
 *
 * The password is checked as the Flask app hashed it: its raw UTF-8 bytes, no NFKC.
 *
 * Parameters come from a database dump, so they are bounded before any work is done: a
 * stored `pbkdf2:sha256:1000000000000$…` or a scrypt asking for gigabytes is refused as
 * malformed (the caller then burns one ordinary hash, as for a corrupt row), never run.
 */
import { timingSafeEqual, utf8 } from '../platform/crypto';
import { verifyThroughCompanion, type LegacyHashesCompanion } from './legacy-hashes-companion';

/** Deployed Workers refuse WebCrypto (and node:crypto) PBKDF2 above this. */
export const WEBCRYPTO_MAX_PBKDF2_ITERATIONS = 100_000;
/** Twice werkzeug 3.1's default; beyond it a stored hash is taken as corrupt or hostile. */
export const MAX_LEGACY_PBKDF2_ITERATIONS = 2_000_000;
/** workerd's own scrypt cost cap (N·r·p); werkzeug's default is 2^18. */
export const MAX_SCRYPT_COST = 2 ** 20;
/** 128·r·(N + p + 1) bytes: twice werkzeug's default 32 MiB, well inside a Worker's 128 MB. */
export const MAX_SCRYPT_MEMORY = 64 * 1024 * 1024;
/** Flask-Bcrypt defaults to 12; each step doubles the work. */
export const MAX_BCRYPT_COST = 15;

/**
 * The hashlib names werkzeug may have written: digest length, and the WebCrypto name where
 * there is one. SHA-3 and BLAKE2 are left out: rare in werkzeug hashes. The import reports
 * such rows instead of storing them.
 */
export const PBKDF2_HASHES: Record<string, { bytes: number; webCrypto?: string }> = {
  sha1: { bytes: 20, webCrypto: 'SHA-1' },
  sha224: { bytes: 28 },
  sha256: { bytes: 32, webCrypto: 'SHA-256' },
  sha384: { bytes: 48, webCrypto: 'SHA-384' },
  sha512: { bytes: 64, webCrypto: 'SHA-512' },
  sha512_224: { bytes: 28 },
  sha512_256: { bytes: 32 },
  md5: { bytes: 16 },
};

/** A parsed legacy hash; `stored` is the string it was parsed from. */
export type LegacyHash = { stored: string } & (
  | { kind: 'werkzeug-pbkdf2'; hashName: string; iterations: number; salt: string; expected: Uint8Array }
  | { kind: 'werkzeug-scrypt'; N: number; r: number; p: number; salt: string; expected: Uint8Array }
  | { kind: 'bcrypt'; cost: number }
);
export type Pbkdf2Hash = Extract<LegacyHash, { kind: 'werkzeug-pbkdf2' }>;

// werkzeug writes `method$salt$hex`; salts are printable ASCII without `$` (token_urlsafe today).
const WERKZEUG = /^(pbkdf2|scrypt):([A-Za-z0-9_:]{1,64})\$([!-#%-~]{1,128})\$((?:[0-9a-f]{2}){16,128})$/;
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/**
 * Whether a stored value claims to be one of the legacy formats, well-formed or not. The
 * import uses it to refuse a damaged hash instead of taking it for a plaintext password.
 */
export function looksLikeLegacyHash(stored: string): boolean {
  return /^(pbkdf2|scrypt):/.test(stored) || /^\$2[a-z]?\$/.test(stored);
}

const decimal = (s: string | undefined) => (s !== undefined && /^[1-9]\d{0,9}$/.test(s) ? Number(s) : NaN);

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The parsed legacy hash, or null when it is not one or its parameters are out of bounds. */
export function parseLegacyHash(stored: string): LegacyHash | null {
  const bcrypt = BCRYPT.exec(stored);
  if (bcrypt) {
    const cost = Number(bcrypt[1]);
    return cost >= 4 && cost <= MAX_BCRYPT_COST ? { kind: 'bcrypt', cost, stored } : null;
  }
  const werkzeug = WERKZEUG.exec(stored);
  if (!werkzeug) return null;
  const [, method, params, salt, hex] = werkzeug as unknown as [string, string, string, string, string];
  const args = params.split(':');
  const expected = fromHex(hex);
  if (method === 'pbkdf2') {
    // werkzeug always writes the iteration count; without it the default of whichever
    // version wrote the hash would apply, which the string does not say.
    if (args.length !== 2) return null;
    const [hashName, count] = args as [string, string];
    const hash = Object.hasOwn(PBKDF2_HASHES, hashName) ? PBKDF2_HASHES[hashName]! : undefined;
    const iterations = decimal(count);
    if (!hash || !(iterations <= MAX_LEGACY_PBKDF2_ITERATIONS)) return null;
    // werkzeug leaves hashlib's default length: one digest.
    if (expected.byteLength !== hash.bytes) return null;
    return { kind: 'werkzeug-pbkdf2', hashName, iterations, salt, expected, stored };
  }
  if (args.length !== 3) return null;
  const [N, r, p] = args.map(decimal) as [number, number, number];
  const powerOfTwo = N >= 2 && (N & (N - 1)) === 0;
  if (!powerOfTwo || !(r >= 1 && p >= 1)) return null;
  // What @noble/hashes allocates in the companion (V, B and a scratch block), so it never
  // refuses a parsed hash.
  if (N * r * p > MAX_SCRYPT_COST || 128 * r * (N + p + 1) > MAX_SCRYPT_MEMORY) return null;
  return { kind: 'werkzeug-scrypt', N, r, p, salt, expected, stored };
}

/**
 * Whether a deployed Worker's WebCrypto can check this hash. When not, only the companion
 * Worker can (the import tells the operator to deploy it when such rows came in).
 */
export function verifiesOnWebCrypto(legacy: LegacyHash): boolean {
  return (
    legacy.kind === 'werkzeug-pbkdf2' &&
    PBKDF2_HASHES[legacy.hashName]!.webCrypto !== undefined &&
    legacy.iterations <= WEBCRYPTO_MAX_PBKDF2_ITERATIONS
  );
}

/** PBKDF2 through WebCrypto, within its cap; compared in constant time. */
export async function verifyPbkdf2OnWebCrypto(password: string, legacy: Pbkdf2Hash): Promise<boolean> {
  const hash = PBKDF2_HASHES[legacy.hashName]!.webCrypto!;
  try {
    const key = await crypto.subtle.importKey('raw', utf8(password), 'PBKDF2', false, ['deriveBits']);
    const params = { name: 'PBKDF2', hash, salt: utf8(legacy.salt), iterations: legacy.iterations };
    const bits = await crypto.subtle.deriveBits(params, key, legacy.expected.byteLength * 8);
    return timingSafeEqual(new Uint8Array(bits), legacy.expected);
  } catch {
    // parseLegacyHash admits only what WebCrypto accepts; should it refuse anyway, the login
    // fails like a wrong password instead of a 500.
    return false;
  }
}

/**
 * Checks a password against a parsed legacy hash: here when WebCrypto can, otherwise in the
 * companion Worker (503 `legacy_hash_unavailable` when it is not bound or fails).
 */
export async function verifyLegacyHash(
  password: string,
  legacy: LegacyHash,
  companion: LegacyHashesCompanion | undefined,
): Promise<boolean> {
  if (legacy.kind === 'werkzeug-pbkdf2' && verifiesOnWebCrypto(legacy))
    return verifyPbkdf2OnWebCrypto(password, legacy);
  return verifyThroughCompanion(companion, password, legacy.stored);
}
