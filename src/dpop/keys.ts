/**
 * The public key a DPoP proof carries in its `jwk` header (RFC 9449 §4.2): checked, named by
 * its JWK SHA-256 thumbprint (RFC 7638), and imported. Imports are kept per isolate by
 * thumbprint: a client signs every call with the same key, and the thumbprint is computed
 * anyway (it is what a token is bound to), so a repeat call pays for no import.
 */
import { sha256Base64Url } from '../platform/crypto';
import { invalidProof, type DpopAlg } from './errors';

/**
 * Members that only a private (`d`) or symmetric (`k`) key has: such a key in a header is
 * refused. (RSA's other private members need kty RSA, which no accepted algorithm takes.)
 */
const SECRET_MEMBERS = ['d', 'k'];

/** The key type and curve each algorithm signs with, and how WebCrypto imports it. */
const ED25519 = { kty: 'OKP', crv: 'Ed25519', import: { name: 'Ed25519' } };
const KEY_TYPES: Record<DpopAlg, { kty: string; crv: string; import: { name: string; namedCurve?: string } }> = {
  ES256: { kty: 'EC', crv: 'P-256', import: { name: 'ECDSA', namedCurve: 'P-256' } },
  EdDSA: ED25519,
  Ed25519: ED25519,
};

export type ProofKey = { jkt: string; key: CryptoKey };

const imported = new Map<string, CryptoKey>();
/** Past this many keys the cache starts over rather than grow (an isolate has 128 MB). */
const MAX_KEYS = 1_000;

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 128;

/** The public key of a proof's header and its thumbprint, or a 400 `invalid_dpop_proof`. */
export async function proofKey(jwk: unknown, alg: DpopAlg): Promise<ProofKey> {
  if (typeof jwk !== 'object' || jwk === null) {
    throw invalidProof('DPoP proof: no "jwk" header.');
  }
  const members = jwk as Record<string, unknown>;
  // RFC 9449 §4.3 step 7: a proof must carry a public key. A client that sends its private
  // key has leaked it; accepting the proof would bind tokens to a key anyone may now hold.
  if (SECRET_MEMBERS.some((m) => m in members)) {
    throw invalidProof('DPoP proof: "jwk" holds a private key; send the public key only.');
  }
  const type = KEY_TYPES[alg];
  const { kty, crv, x, y } = members;
  if (kty !== type.kty || crv !== type.crv || !isString(x) || (kty === 'EC' ? !isString(y) : y !== undefined)) {
    throw invalidProof(`DPoP proof: "jwk" must be a ${type.crv} public key for ${alg}.`);
  }
  // RFC 7638: the SHA-256 of the required members, in lexicographic order, as compact JSON.
  // Written here rather than with jose's calculateJwkThumbprint, which brings its key export
  // code along (0.7 KiB gzipped) for the two key shapes checked just above. Only these members
  // are imported, so the cached key is exactly the key the thumbprint names.
  const publicJwk: JsonWebKey = kty === 'EC' ? { crv, kty, x, y: y as string } : { crv, kty, x };
  const jkt = await sha256Base64Url(JSON.stringify(publicJwk));
  let key = imported.get(jkt);
  if (!key) {
    try {
      key = await crypto.subtle.importKey('jwk', publicJwk, type.import, false, ['verify']);
    } catch {
      throw invalidProof('DPoP proof: "jwk" is not a valid public key.');
    }
    if (imported.size >= MAX_KEYS) imported.clear();
    imported.set(jkt, key);
  }
  return { jkt, key };
}
