/**
 * Server nonces (RFC 9449 §8, §9), on with DPOP_NONCE=true: a proof must carry a nonce the
 * service handed out recently, so a proof cannot be made ahead of time (a stolen key used
 * later, a clock set forward). Stateless: a nonce is an HMAC of the current time window
 * (DPOP_PROOF_MAX_AGE seconds long) under a key derived from the signing secret, and is
 * accepted during its window and the next, so it lives between one and two windows. Any
 * isolate, anywhere, computes the same nonce; nothing is stored.
 */
import type { Config } from '../platform/config';
import { toBase64Url, utf8 } from '../platform/crypto';
import { ConfigError } from '../platform/errors';

type Nonces = { key: CryptoKey; window: number; current: string; previous: string };
const byConfig = new WeakMap<Config, Promise<CryptoKey>>();
const memo = new WeakMap<Config, Nonces>();

/**
 * The secret the nonce key derives from: the HS256 secret, or else the private signing key.
 * Either is at least 32 random bytes that only the service holds; the nonce is no secret, but
 * it must not be computable by a client ahead of its window.
 */
function secretOf(config: Config): string {
  const secret = config.jwt.secret ?? config.jwt.privateKeys[0]?.d;
  if (!secret) throw new ConfigError('DPOP_NONCE needs a signing secret (JWT_SECRET or JWT_PRIVATE_KEY)');
  return secret;
}

function nonceKey(config: Config): Promise<CryptoKey> {
  let key = byConfig.get(config);
  if (!key) {
    key = (async () => {
      const master = await crypto.subtle.importKey('raw', utf8(secretOf(config)), 'HKDF', false, ['deriveKey']);
      const params = { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(), info: utf8('edge-auth dpop nonce v1') };
      return crypto.subtle.deriveKey(params, master, { name: 'HMAC', hash: 'SHA-256', length: 256 }, false, ['sign']);
    })();
    byConfig.set(config, key);
  }
  return key;
}

const nonceOf = async (key: CryptoKey, window: number) =>
  toBase64Url(await crypto.subtle.sign('HMAC', key, utf8(`dpop-nonce:${window}`)));

/** The current window's nonce and the previous one's; two HMACs per window per isolate. */
async function nonces(config: Config, now: number): Promise<Nonces> {
  const window = Math.floor(now / 1000 / config.dpop.proofMaxAge);
  const known = memo.get(config);
  if (known?.window === window) return known;
  const key = known?.key ?? (await nonceKey(config));
  const previous = known?.window === window - 1 ? known.current : await nonceOf(key, window - 1);
  const next = { key, window, current: await nonceOf(key, window), previous };
  memo.set(config, next);
  return next;
}

/** The nonce to hand out now (`DPoP-Nonce`). */
export async function currentNonce(config: Config, now = Date.now()): Promise<string> {
  return (await nonces(config, now)).current;
}

/**
 * Whether `nonce` is this window's or the previous one's. Compared with `===`: a nonce is
 * handed to any client that asks, so there is no secret for a timing difference to reveal.
 */
export async function isCurrentNonce(config: Config, nonce: string, now = Date.now()): Promise<boolean> {
  const { current, previous } = await nonces(config, now);
  return nonce === current || nonce === previous;
}
