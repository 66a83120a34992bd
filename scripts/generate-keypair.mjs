#!/usr/bin/env node
// `npm run keys:generate [-- --alg EdDSA|ES256|RS256] [--kid <kid>]`
//
// A fresh signing key pair for JWT_PRIVATE_KEY, made with WebCrypto (no OpenSSL, no extra
// dependency). EdDSA (Ed25519) is the default: small keys, fast, no nonce to get wrong;
// ES256 (P-256) is there for clients whose JWT library lacks EdDSA; RS256 (RSA 2048) is what
// OpenID Connect requires of every provider, and the OAuth endpoints need one (docs/oauth.md).
//
// stdout carries exactly two lines of JSON and nothing else, so it can be piped:
//   line 1: the private JWK (secret!), the value of JWT_PRIVATE_KEY
//   line 2: the public JWK; keep it, after the next rotation it goes into JWT_PREVIOUS_PUBLIC_KEYS
// Instructions go to stderr. Use `npm run --silent` (or plain `node`) when piping, or npm's
// own "> edge-auth@... keys:generate" banner lands on stdout too:
//
//   npm run --silent keys:generate | head -n 1 | npx wrangler secret put JWT_PRIVATE_KEY
//
// Nothing is written to disk: a private key in a file is one more copy to leak.
import { randomBytes } from 'node:crypto';
import process from 'node:process';
import { parseArgs } from 'node:util';

const USAGE = 'usage: npm run keys:generate [-- --alg EdDSA|ES256|RS256] [--kid <kid>]';
// The same algorithms, and the same parameters, as src/credentials/keys.ts imports them with.
const ALGS = {
  EdDSA: { name: 'Ed25519' },
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
};
// src/platform/config.ts refuses a kid longer than this.
const MAX_KID_LENGTH = 64;

/** @param {string} message @returns {never} */
function usageError(message) {
  console.error(`keys:generate: ${message}\n${USAGE}`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    options: { alg: { type: 'string', default: 'EdDSA' }, kid: { type: 'string' }, help: { type: 'boolean' } },
  });
} catch (err) {
  usageError(err instanceof Error ? err.message : String(err));
}
const { values } = parsed;
if (values.help) {
  console.error(USAGE);
  process.exit(0);
}

// Case-insensitive input (`--alg eddsa`), canonical output: the service matches `alg` exactly.
const alg = Object.keys(ALGS).find((a) => a.toLowerCase() === values.alg.toLowerCase());
if (!alg) usageError(`--alg must be one of: ${Object.keys(ALGS).join(', ')}`);

// Date first so keys sort by age in a JWKS; the random part keeps two keys made on one day apart.
const today = new Date().toISOString().slice(0, 10).replaceAll('-', '');
const kid = values.kid ?? `${alg.toLowerCase()}-${today}-${randomBytes(6).toString('base64url').slice(0, 6)}`;
if (kid.length < 1 || kid.length > MAX_KID_LENGTH) usageError(`--kid must be 1-${MAX_KID_LENGTH} characters`);

const { privateKey } = await globalThis.crypto.subtle.generateKey(ALGS[alg], true, ['sign', 'verify']);
const exported = await globalThis.crypto.subtle.exportKey('jwk', privateKey);
const { kty, crv, x, y, n, e, d, p, q, dp, dq, qi } = exported;

// Only the key material, plus kid/alg: the exported `key_ops: ["sign"]` and `ext` would be
// wrong on the public half, and nothing in the service needs them on the private one.
const publicJwk = kty === 'RSA' ? { kid, alg, kty, n, e } : { kid, alg, kty, crv, x, ...(y ? { y } : {}) };
const privateJwk = kty === 'RSA' ? { ...publicJwk, d, p, q, dp, dq, qi } : { ...publicJwk, d };

process.stdout.write(`${JSON.stringify(privateJwk)}\n${JSON.stringify({ ...publicJwk, use: 'sig' })}\n`);

console.error(`keys:generate: new ${alg} key pair, kid "${kid}".
  Line 1 is the PRIVATE key. Store it as a secret and nowhere else:
    npx wrangler secret put JWT_PRIVATE_KEY        (paste line 1)
  Line 2 is the public key; GET /.well-known/jwks.json serves it once the private key is set.
  Keep line 2: when this key is replaced, add it to the JSON array in JWT_PREVIOUS_PUBLIC_KEYS
  so tokens it signed stay valid until they expire.`);
