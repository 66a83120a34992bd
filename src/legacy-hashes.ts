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
 * PBKDF2 within the cap goes to WebCrypto; above it, and for scrypt, the pure-JS
 * @noble/hashes runs, and bcryptjs for bcrypt. Both are well kept, dependency-free and
 * small (together 18 KiB gzipped). Their synchronous forms on purpose: the async ones yield
 * by wall-clock time, which stands still inside a Worker while JavaScript runs, so they
 * would only add a clock read per iteration (measured slower in workerd, never faster).
 *
 * The password is checked as the Flask app hashed it: its raw UTF-8 bytes, no NFKC.
 *
 * Parameters come from a database dump, so they are bounded before any work is done: a
 * stored `pbkdf2:sha256:1000000000000$…` or a scrypt asking for gigabytes is refused as
 * malformed (the caller then burns one ordinary hash, as for a corrupt row), never run.
 */
import { compareSync as bcryptCompare } from 'bcryptjs';
import { md5, sha1 } from '@noble/hashes/legacy.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { scrypt } from '@noble/hashes/scrypt.js';
import { sha224, sha256, sha384, sha512, sha512_224, sha512_256 } from '@noble/hashes/sha2.js';
import type { CHash } from '@noble/hashes/utils.js';
import { timingSafeEqual, utf8 } from './crypto';

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
 * The hashlib names werkzeug may have written, with the WebCrypto name where there is one.
 * SHA-3 and BLAKE2 are left out: rare in werkzeug hashes, and SHA-3 alone would add 4 KB
 * gzipped to every cold start. The import reports such rows instead of storing them.
 */
const PBKDF2_HASHES: Record<string, { noble: CHash; webCrypto?: string }> = {
  sha1: { noble: sha1, webCrypto: 'SHA-1' },
  sha224: { noble: sha224 },
  sha256: { noble: sha256, webCrypto: 'SHA-256' },
  sha384: { noble: sha384, webCrypto: 'SHA-384' },
  sha512: { noble: sha512, webCrypto: 'SHA-512' },
  sha512_224: { noble: sha512_224 },
  sha512_256: { noble: sha512_256 },
  md5: { noble: md5 },
};

export type LegacyHash =
  | { kind: 'werkzeug-pbkdf2'; hashName: string; iterations: number; salt: string; expected: Uint8Array }
  | { kind: 'werkzeug-scrypt'; N: number; r: number; p: number; salt: string; expected: Uint8Array }
  | { kind: 'bcrypt'; cost: number; stored: string };

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
    if (expected.byteLength !== hash.noble.outputLen) return null;
    return { kind: 'werkzeug-pbkdf2', hashName, iterations, salt, expected };
  }
  if (args.length !== 3) return null;
  const [N, r, p] = args.map(decimal) as [number, number, number];
  const powerOfTwo = N >= 2 && (N & (N - 1)) === 0;
  if (!powerOfTwo || !(r >= 1 && p >= 1)) return null;
  // What @noble/hashes allocates (V, B and a scratch block), so it never refuses a parsed hash.
  if (N * r * p > MAX_SCRYPT_COST || 128 * r * (N + p + 1) > MAX_SCRYPT_MEMORY) return null;
  return { kind: 'werkzeug-scrypt', N, r, p, salt, expected };
}

async function webCryptoPbkdf2(
  hash: string,
  password: Uint8Array<ArrayBuffer>,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
  bytes: number,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', password, 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'PBKDF2', hash, salt, iterations }, key, bytes * 8));
}

async function derive(password: string, legacy: Exclude<LegacyHash, { kind: 'bcrypt' }>): Promise<Uint8Array> {
  const input = utf8(password);
  const salt = utf8(legacy.salt);
  const dkLen = legacy.expected.byteLength;
  if (legacy.kind === 'werkzeug-scrypt') {
    const { N, r, p } = legacy;
    return scrypt(input, salt, { N, r, p, dkLen, maxmem: MAX_SCRYPT_MEMORY });
  }
  const hash = PBKDF2_HASHES[legacy.hashName]!;
  if (hash.webCrypto && legacy.iterations <= WEBCRYPTO_MAX_PBKDF2_ITERATIONS) {
    return webCryptoPbkdf2(hash.webCrypto, input, salt, legacy.iterations, dkLen);
  }
  return pbkdf2(hash.noble, input, salt, { c: legacy.iterations, dkLen });
}

/** Checks a password against a parsed legacy hash; compared in constant time. */
export async function verifyLegacyHash(password: string, legacy: LegacyHash): Promise<boolean> {
  // bcryptjs compares in constant time, and reads only the first 72 UTF-8 bytes of the
  // password, as Python's bcrypt did when it made these hashes.
  try {
    if (legacy.kind === 'bcrypt') return bcryptCompare(password, legacy.stored);
    return timingSafeEqual(await derive(password, legacy), legacy.expected);
  } catch {
    // parseLegacyHash admits only what the libraries accept; should one refuse anyway, the
    // login fails like a wrong password instead of a 500.
    return false;
  }
}
