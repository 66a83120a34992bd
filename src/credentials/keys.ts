/**
 * The signing key ring: one key that signs the service's own access tokens, one per
 * asymmetric algorithm that signs OAuth tokens (ID tokens, OAuth access tokens), and any
 * number that only verify (previous keys kept through a rotation), each with a `kid`. Keys
 * are imported into CryptoKeys once per isolate; a request never pays for an import.
 */
import type { AsymmetricAlg, Config } from '../platform/config';
import { ConfigError } from '../platform/errors';
import { sha256, toBase64Url, utf8 } from '../platform/crypto';

export type TokenAlg = 'HS256' | AsymmetricAlg;
export type VerifyKey = { kid: string; alg: TokenAlg; key: CryptoKey };
export type SigningKey = { kid: string; alg: TokenAlg; key: CryptoKey };
export type KeyRing = {
  signing: SigningKey;
  /**
   * The asymmetric signing key of each configured algorithm. OAuth tokens are signed only with
   * these: a shared secret must never sign tokens that third parties verify.
   */
  bySigningAlg: Partial<Record<AsymmetricAlg, SigningKey & { alg: AsymmetricAlg }>>;
  /** Every key a token may be verified with, by kid. */
  verify: Map<string, VerifyKey>;
  /** Public keys only; empty when only HS256 secrets are configured. */
  jwks: { keys: PublicJwk[] };
};
export type PublicJwk = JsonWebKey & { kid: string; alg: AsymmetricAlg; use: 'sig' };

const importParams: Record<AsymmetricAlg, { name: string; namedCurve?: string; hash?: string }> = {
  EdDSA: { name: 'Ed25519' },
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
};

/**
 * An HS256 key's kid is derived from the secret so that no extra variable must be kept in
 * step with it. The hash of a >= 32-byte random secret reveals nothing usable.
 */
async function secretKid(secret: string): Promise<string> {
  return `hs-${toBase64Url(await sha256(`edge-auth kid\u0000${secret}`)).slice(0, 16)}`;
}

async function importSecret(secret: string): Promise<VerifyKey> {
  const key = await crypto.subtle.importKey('raw', utf8(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
    'verify',
  ]);
  return { kid: await secretKid(secret), alg: 'HS256', key };
}

function toPublicJwk(jwk: JsonWebKey & { kid: string; alg: AsymmetricAlg }): PublicJwk {
  const { kty, crv, x, y, n, e, kid, alg } = jwk;
  if (kty === 'RSA') return { kty, n, e, kid, alg, use: 'sig' };
  return { kty, crv, x, ...(y ? { y } : {}), kid, alg, use: 'sig' };
}

/** Whether two public JWKs hold the same key material. */
const sameKey = (a: PublicJwk, b: PublicJwk) => a.x === b.x && a.y === b.y && a.n === b.n && a.e === b.e;

async function importPublic(jwk: PublicJwk, variable: string): Promise<VerifyKey> {
  try {
    const key = await crypto.subtle.importKey('jwk', jwk, importParams[jwk.alg], false, ['verify']);
    return { kid: jwk.kid, alg: jwk.alg, key };
  } catch {
    throw new ConfigError(`${variable}: key "${jwk.kid}" is not a valid ${jwk.alg} public key`);
  }
}

async function buildKeyRing(config: Config): Promise<KeyRing> {
  const { secret, previousSecrets, privateKeys, previousPublicKeys } = config.jwt;
  const verify = new Map<string, VerifyKey>();
  const jwks: PublicJwk[] = [];
  const bySigningAlg: KeyRing['bySigningAlg'] = {};
  let signing: KeyRing['signing'] | undefined;

  for (const privateKey of privateKeys) {
    let key: CryptoKey;
    try {
      key = await crypto.subtle.importKey('jwk', privateKey, importParams[privateKey.alg], false, ['sign']);
    } catch {
      throw new ConfigError(`JWT_PRIVATE_KEY: key "${privateKey.kid}" is not a valid ${privateKey.alg} private JWK`);
    }
    bySigningAlg[privateKey.alg] = { kid: privateKey.kid, alg: privateKey.alg, key };
    signing ??= { kid: privateKey.kid, alg: privateKey.alg, key };
    const pub = toPublicJwk(privateKey);
    jwks.push(pub);
    verify.set(pub.kid, await importPublic(pub, 'JWT_PRIVATE_KEY'));
  }
  for (const jwk of previousPublicKeys) {
    const pub = toPublicJwk(jwk);
    const known = jwks.find((k) => k.kid === pub.kid);
    // The same key listed twice is normal mid-rotation (published first, then made the
    // signing key); a different key under a used kid would shadow it and fail its tokens.
    if (known && !sameKey(known, pub)) {
      throw new ConfigError(`JWT_PREVIOUS_PUBLIC_KEYS: kid "${pub.kid}" names two different keys`);
    }
    if (known) continue;
    jwks.push(pub);
    verify.set(pub.kid, await importPublic(pub, 'JWT_PREVIOUS_PUBLIC_KEYS'));
  }
  // With an asymmetric key configured, JWT_SECRET only verifies (tokens from before the
  // switch stay valid until they expire); otherwise it is the signing key.
  for (const s of [secret, ...previousSecrets]) {
    if (!s) continue;
    const hs = await importSecret(s);
    verify.set(hs.kid, hs);
    signing ??= hs;
  }
  if (!signing) throw new ConfigError('JWT_SECRET is not set');
  return { signing, bySigningAlg, verify, jwks: { keys: jwks } };
}

const rings = new WeakMap<Config, Promise<KeyRing>>();

export function getKeyRing(config: Config): Promise<KeyRing> {
  let ring = rings.get(config);
  if (!ring) {
    ring = buildKeyRing(config);
    // A failed import must not be cached forever as a rejected promise.
    ring.catch(() => rings.delete(config));
    rings.set(config, ring);
  }
  return ring;
}
