/**
 * The pure-JavaScript verifiers: @noble/hashes (PBKDF2 with any werkzeug hash and any
 * iteration count within the bounds, scrypt) and bcryptjs. Both are well kept and
 * dependency-free. Their synchronous forms on purpose: the async ones yield by wall-clock
 * time, which stands still inside a Worker while JavaScript runs, so they would only add a
 * clock read per iteration (measured slower in workerd, never faster).
 *
 * PBKDF2 that WebCrypto can do within a deployed Worker's cap goes to WebCrypto here too,
 * through the same code edge-auth uses (so the bench measures both paths in one place).
 */
import { compareSync as bcryptCompare } from 'bcryptjs';
import { md5, sha1 } from '@noble/hashes/legacy.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { scrypt } from '@noble/hashes/scrypt.js';
import { sha224, sha256, sha384, sha512, sha512_224, sha512_256 } from '@noble/hashes/sha2.js';
import type { CHash } from '@noble/hashes/utils.js';
import { timingSafeEqual, utf8 } from '../../../src/platform/crypto';
import {
  MAX_SCRYPT_MEMORY,
  verifiesOnWebCrypto,
  verifyPbkdf2OnWebCrypto,
  type LegacyHash,
} from '../../../src/credentials/legacy-hashes';

/** The noble implementation of every hash name parseLegacyHash accepts (PBKDF2_HASHES). */
export const NOBLE_HASHES: Record<string, CHash> = {
  sha1,
  sha224,
  sha256,
  sha384,
  sha512,
  sha512_224,
  sha512_256,
  md5,
};

function derive(password: string, legacy: Extract<LegacyHash, { kind: 'werkzeug-pbkdf2' | 'werkzeug-scrypt' }>) {
  const input = utf8(password);
  const salt = utf8(legacy.salt);
  const dkLen = legacy.expected.byteLength;
  if (legacy.kind === 'werkzeug-scrypt') {
    const { N, r, p } = legacy;
    return scrypt(input, salt, { N, r, p, dkLen, maxmem: MAX_SCRYPT_MEMORY });
  }
  return pbkdf2(NOBLE_HASHES[legacy.hashName]!, input, salt, { c: legacy.iterations, dkLen });
}

/** Checks a password against a parsed (so bounded) legacy hash; compared in constant time. */
export async function verifyLegacyHashInJs(password: string, legacy: LegacyHash): Promise<boolean> {
  if (legacy.kind === 'werkzeug-pbkdf2' && verifiesOnWebCrypto(legacy))
    return verifyPbkdf2OnWebCrypto(password, legacy);
  try {
    // bcryptjs compares in constant time, and reads only the first 72 UTF-8 bytes of the
    // password, as Python's bcrypt did when it made these hashes.
    if (legacy.kind === 'bcrypt') return bcryptCompare(password, legacy.stored);
    return timingSafeEqual(derive(password, legacy), legacy.expected);
  } catch {
    // parseLegacyHash admits only what the libraries accept; should one refuse anyway, the
    // login fails like a wrong password.
    return false;
  }
}
