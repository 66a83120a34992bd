/**
 * Server nonces (RFC 9449 §8, §9), on with DPOP_NONCE=true: a proof must carry a nonce the
 * service handed out recently, so a proof cannot be made ahead of time (a stolen key used
 * later, a clock set forward). Stateless: a nonce is an HMAC of the current time window
 * (DPOP_PROOF_MAX_AGE seconds long) under a key derived from the signing secret, and is
 * accepted during its window and the next, so it lives between one and two windows. Any
 * isolate, anywhere, computes the same nonce; nothing is stored.
 */
import type { Config } from '../platform/config';
import { sha256, toBase64Url, utf8 } from '../platform/crypto';

type Nonces = { window: number; current: string; previous: string };
const keys = new WeakMap<Config, Promise<CryptoKey>>();
const memo = new WeakMap<Config, Nonces>();

/**
 * The HMAC key, from the HS256 secret or else the private signing key: either is at least 32
 * random bytes only the service holds. The nonce is no secret, but a client must not be able to
 * compute one ahead of its window. Hashed with a label, so the key serves this purpose only.
 */
function nonceKey(config: Config): Promise<CryptoKey> {
  let key = keys.get(config);
  if (!key) {
    // The config schema requires one of the two.
    const secret = config.jwt.secret ?? config.jwt.privateKeys[0]!.d!;
    key = sha256(`edge-auth dpop nonce\u0000${secret}`).then((raw) =>
      crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']),
    );
    keys.set(config, key);
  }
  return key;
}

const nonceOf = async (key: CryptoKey, window: number) =>
  toBase64Url(await crypto.subtle.sign('HMAC', key, utf8(`${window}`)));

/** The current window's nonce and the previous one's: two HMACs per window per isolate. */
async function nonces(config: Config, now: number): Promise<Nonces> {
  const window = Math.floor(now / 1000 / config.dpop.proofMaxAge);
  let known = memo.get(config);
  if (known?.window !== window) {
    const key = await nonceKey(config);
    known = { window, current: await nonceOf(key, window), previous: await nonceOf(key, window - 1) };
    memo.set(config, known);
  }
  return known;
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
