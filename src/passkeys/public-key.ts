/**
 * A passkey's public key: read from its COSE form (RFC 9053) once, at registration, with
 * @oslojs/webauthn, and kept as the JWK that WebCrypto imports; its signatures are checked by
 * WebCrypto, never by JavaScript big-number code. Three algorithms, the ones the options ask for.
 */
import { COSEKeyType, coseEllipticCurveEd25519, coseEllipticCurveP256, type COSEPublicKey } from '@oslojs/webauthn';
import { toBase64Url } from '../platform/crypto';

export const COSE_ES256 = -7;
export const COSE_EDDSA = -8;
export const COSE_RS256 = -257;

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

/** A big-endian unsigned integer in exactly `length` bytes (COSE coordinates come as bigints). */
function bytes(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--, value >>= 8n) out[i] = Number(value & 0xffn);
  return out;
}

/**
 * The JWK of a COSE key, or null when it is not one of the three allowed algorithms with its
 * matching key type and curve. The `alg` in the key must be present and agree: a P-256 key
 * offered as RS256, or an algorithm the options never asked for, is refused.
 */
export function jwkFromCose(key: COSEPublicKey): StoredKey | null {
  try {
    const algorithm = key.algorithm();
    const type = key.type();
    if (algorithm === COSE_ES256 && type === COSEKeyType.EC2) {
      const { curve, x, y } = key.ec2();
      if (curve !== coseEllipticCurveP256) return null;
      const jwk = { kty: 'EC', crv: 'P-256', x: toBase64Url(bytes(x, 32)), y: toBase64Url(bytes(y, 32)) };
      return { jwk, algorithm };
    }
    if (algorithm === COSE_EDDSA && type === COSEKeyType.OKP) {
      const { curve, x } = key.okp();
      if (curve !== coseEllipticCurveEd25519 || x.byteLength !== 32) return null;
      return { jwk: { kty: 'OKP', crv: 'Ed25519', x: toBase64Url(x) }, algorithm };
    }
    if (algorithm === COSE_RS256 && type === COSEKeyType.RSA) {
      // @oslojs/webauthn admits 2048-bit moduli with a 3-byte exponent (65537) only.
      const { n, e } = key.rsa();
      return { jwk: { kty: 'RSA', n: toBase64Url(bytes(n, 256)), e: toBase64Url(bytes(e, 3)) }, algorithm };
    }
    return null;
  } catch {
    // Missing or malformed parameters.
    return null;
  }
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
