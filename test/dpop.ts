/**
 * DPoP proofs as a client makes them, with jose's SignJWT (the test side only), plus the
 * malformed ones an attacker sends. Written apart from src/dpop/, so a bug there cannot hide by
 * being on both sides of a test.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { ORIGIN } from './helpers';
import { b64url, signHs256, unsignedPart } from './jwt';

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
export async function dpopKey(alg: 'ES256' | 'EdDSA' | 'Ed25519' = 'ES256') {
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

/**
 * Proofs an attacker or a broken client sends for `METHOD path`, each with a pattern of the
 * refusal's detail: every one must be refused, none may cause a 500.
 */
export function badProofs(
  method: string,
  path: string,
): [string, (key: DpopKey, token: string) => Promise<string>, RegExp][] {
  return [
    ['alg none (no signature)', async (key) => unsignedProof(key.jwk, method, path), /one proof/],
    [
      'alg none (with signature bytes)',
      async (key) => unsignedProof(key.jwk, method, path, 'c2ln'),
      /"alg" \(Algorithm\) Header Parameter value not allowed/,
    ],
    [
      'HS256 with a symmetric key in the header',
      async (_key, token) =>
        signHs256(
          { alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: 'c2VjcmV0' } },
          { htm: method, htu: `${ORIGIN}${path}`, iat: Math.floor(Date.now() / 1000), jti: 'x', ath: token },
          'secret',
        ),
      /"alg" \(Algorithm\) Header Parameter value not allowed/,
    ],
    [
      'a private key in the header',
      async (key, token) => key.proof(method, path, { token, header: { jwk: await key.privateJwk() } }),
      /private key/,
    ],
    ['no jwk header', async (key, token) => key.proof(method, path, { token, header: { jwk: undefined } }), /jwk/],
    [
      'a jwk of another curve',
      async (key, token) => key.proof(method, path, { token, header: { jwk: { ...key.jwk, crv: 'P-384' } } }),
      /P-256/,
    ],
    [
      'a jwk that is not a point of the curve',
      async (key, token) => key.proof(method, path, { token, header: { jwk: { ...key.jwk, y: key.jwk.x } } }),
      /not a valid public key|signature verification failed/,
    ],
    ['typ jwt', async (key, token) => key.proof(method, path, { token, header: { typ: 'JWT' } }), /typ/],
    [
      'a signature by another key than the header names',
      async (key, token) => {
        const [header] = (await key.proof(method, path, { token })).split('.');
        const [, payload, signature] = (await (await dpopKey()).proof(method, path, { token })).split('.');
        return `${header}.${payload}.${signature}`;
      },
      /signature verification failed/,
    ],
    ['a malformed JWT', async () => 'abc.def', /one proof/],
    ['garbage in every part', async () => 'a.b.c', /JWS Protected Header is invalid/],
    ['a header that is not JSON', async () => 'bm90IGpzb24.e30.c2ln', /JWS Protected Header is invalid/],
    [
      'two proofs (two DPoP header fields)',
      async (key, token) => {
        const proof = await key.proof(method, path, { token });
        return `${proof}, ${proof}`;
      },
      /one proof/,
    ],
    [
      'an oversized header',
      async (key, token) => key.proof(method, path, { token, claims: { pad: 'x'.repeat(3000) } }),
      /longer than 2048 bytes/,
    ],
  ];
}
