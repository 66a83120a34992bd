/**
 * A passkey's public key: read from its COSE form (RFC 9052 §7, RFC 9053) once, at
 * registration, and kept as the JWK that WebCrypto imports; its signatures are checked by
 * WebCrypto, never by JavaScript big-number code. Three algorithms, the ones the options ask for.
 */
import { toBase64Url } from '../platform/crypto';
import type { CoseKey } from './parse';

export const COSE_ES256 = -7;
export const COSE_EDDSA = -8;
export const COSE_RS256 = -257;

/** COSE key types and curves (RFC 9053 §7, the IANA COSE registries). */
const KTY_OKP = 1;
const KTY_EC2 = 2;
const KTY_RSA = 3;
const CRV_P256 = 1;
const CRV_ED25519 = 6;

export type StoredKey = { jwk: JsonWebKey; algorithm: number };

type ImportAlgorithm = Parameters<typeof crypto.subtle.importKey>[2];
type VerifyAlgorithm = Parameters<typeof crypto.subtle.verify>[0];

const IMPORT: Record<number, ImportAlgorithm> = {
  [COSE_ES256]: { name: 'ECDSA', namedCurve: 'P-256' },
  [COSE_EDDSA]: { name: 'Ed25519' },
  [COSE_RS256]: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
};
const VERIFY: Record<number, VerifyAlgorithm> = {
  [COSE_ES256]: { name: 'ECDSA', hash: 'SHA-256' },
  [COSE_EDDSA]: { name: 'Ed25519' },
  [COSE_RS256]: { name: 'RSASSA-PKCS1-v1_5' },
};

const bytesOf = (value: unknown, min: number, max = min): Uint8Array | null =>
  value instanceof Uint8Array && value.length >= min && value.length <= max ? value : null;

/**
 * The JWK of a COSE key, or null unless it is one of the three allowed algorithms with its own
 * key type and curve, and public only. The `alg` must be present and agree: a P-256 key
 * offered as RS256, or an algorithm the options never offered, is refused.
 */
export function jwkFromCose(key: CoseKey): StoredKey | null {
  const [kty, algorithm, crv] = [key['1'], key['3'], key['-1']];
  // -4 is `d`, the private part, for every key type here: an authenticator never sends it.
  if ('-4' in key || typeof algorithm !== 'number') return null;
  if (algorithm === COSE_ES256 && kty === KTY_EC2 && crv === CRV_P256) {
    const [x, y] = [bytesOf(key['-2'], 32), bytesOf(key['-3'], 32)];
    return x && y ? { jwk: { kty: 'EC', crv: 'P-256', x: toBase64Url(x), y: toBase64Url(y) }, algorithm } : null;
  }
  if (algorithm === COSE_EDDSA && kty === KTY_OKP && crv === CRV_ED25519) {
    const x = bytesOf(key['-2'], 32);
    return x ? { jwk: { kty: 'OKP', crv: 'Ed25519', x: toBase64Url(x) }, algorithm } : null;
  }
  if (algorithm === COSE_RS256 && kty === KTY_RSA) {
    // 2048 to 4096 bits (NIST SP 800-131A: nothing shorter), and a sane exponent.
    const [n, e] = [bytesOf(key['-1'], 256, 512), bytesOf(key['-2'], 1, 4)];
    return n && e ? { jwk: { kty: 'RSA', n: toBase64Url(n), e: toBase64Url(e) }, algorithm } : null;
  }
  return null;
}

/**
 * An ECDSA signature as WebAuthn sends it, DER `SEQUENCE { r INTEGER, s INTEGER }` (RFC 3279),
 * in the fixed 64-byte `r || s` form WebCrypto verifies. Strict: anything else is null. (A few
 * lines here rather than @oslojs/crypto's decoder, which brings a whole ASN.1 library: 7 KiB.)
 */
export function p256SignatureFromDer(der: Uint8Array): Uint8Array<ArrayBuffer> | null {
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) return null;
  const out = new Uint8Array(64);
  let at = 2;
  for (const offset of [0, 32]) {
    const length = der[at + 1]!;
    if (der[at] !== 0x02 || length < 1 || length > 33 || at + 2 + length > der.length) return null;
    let value = der.subarray(at + 2, at + 2 + length);
    // DER: a leading zero only to keep a high bit from reading as a sign, and never more.
    if (value.length > 1 && value[0] === 0 && !(value[1]! & 0x80)) return null;
    if (value[0]! & 0x80) return null;
    if (value.length === 33) {
      if (value[0] !== 0) return null; // above 2^256: no P-256 scalar
      value = value.subarray(1);
    }
    out.set(value, offset + 32 - value.length);
    at += 2 + length;
  }
  return at === der.length ? out : null;
}

/** Whether `signature` over `data` verifies under the stored key. Never throws. */
export async function verifySignature(
  key: StoredKey,
  data: Uint8Array<ArrayBuffer>,
  signature: Uint8Array<ArrayBuffer>,
): Promise<boolean> {
  const importParams = IMPORT[key.algorithm];
  const verifyParams = VERIFY[key.algorithm];
  if (!importParams || !verifyParams) return false;
  const raw = key.algorithm === COSE_ES256 ? p256SignatureFromDer(signature) : signature;
  if (!raw) return false;
  try {
    const imported = await crypto.subtle.importKey('jwk', key.jwk, importParams, false, ['verify']);
    return await crypto.subtle.verify(verifyParams, imported, raw, data);
  } catch {
    return false;
  }
}

/** Whether WebCrypto takes the key at all: checked at registration, so sign-in never meets a bad one. */
export async function importable(key: StoredKey): Promise<boolean> {
  try {
    await crypto.subtle.importKey('jwk', key.jwk, IMPORT[key.algorithm]!, false, ['verify']);
    return true;
  } catch {
    return false;
  }
}
