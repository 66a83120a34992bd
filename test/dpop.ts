/**
 * DPoP proofs as a client makes them, with jose's SignJWT (the test side only), plus the
 * malformed ones an attacker sends. Written apart from src/dpop/, so a bug there cannot hide by
 * being on both sides of a test.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { ORIGIN } from './helpers';
import { b64url, unsignedPart } from './jwt';

export type ProofOptions = {
  /** The access token the proof is for: sets `ath`. */
  token?: string;
  /** Seconds since the epoch (default now). */
  iat?: number;
  jti?: string | null;
  nonce?: string;
  htm?: string;
  htu?: string;
  /** Replaces (or, with undefined, drops) header members. */
  header?: Record<string, unknown>;
  /** Extra or replaced claims. */
  claims?: Record<string, unknown>;
};

export const sha256B64url = async (text: string) =>
  b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));

/** A DPoP key pair (extractable, so a test can leak its private half into a header). */
export async function dpopKey(alg: 'ES256' | 'EdDSA' = 'ES256') {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  const jkt = await calculateJwkThumbprint(jwk);
  return {
    alg,
    jwk,
    jkt,
    privateJwk: async (): Promise<JWK> => exportJWK(privateKey),
    /** A proof for `METHOD path` on the test origin. */
    async proof(method: string, path: string, options: ProofOptions = {}): Promise<string> {
      const header = { alg, typ: 'dpop+jwt', jwk, ...options.header };
      const claims: Record<string, unknown> = {
        htm: options.htm ?? method,
        htu: options.htu ?? `${ORIGIN}${path}`,
        iat: options.iat ?? Math.floor(Date.now() / 1000),
        ...(options.jti === null ? {} : { jti: options.jti ?? crypto.randomUUID() }),
        ...(options.token ? { ath: await sha256B64url(options.token) } : {}),
        ...(options.nonce ? { nonce: options.nonce } : {}),
        ...options.claims,
      };
      return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(privateKey);
    },
  };
}
export type DpopKey = Awaited<ReturnType<typeof dpopKey>>;

/** A proof-shaped JWT with `alg: none` and any signature bytes. */
export function unsignedProof(jwk: JWK, method: string, path: string, signature = '') {
  const claims = { htm: method, htu: `${ORIGIN}${path}`, iat: Math.floor(Date.now() / 1000), jti: crypto.randomUUID() };
  return `${unsignedPart({ alg: 'none', typ: 'dpop+jwt', jwk }, claims)}.${signature}`;
}

/** Headers of a call with a DPoP-bound access token. */
export const dpopAuth = (token: string, proof: string) => ({ Authorization: `DPoP ${token}`, DPoP: proof });
