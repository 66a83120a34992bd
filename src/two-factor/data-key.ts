/**
 * Keys derived from DATA_ENCRYPTION_KEY (HKDF-SHA-256, one `info` label per use, so no key
 * serves two purposes), imported once per isolate:
 * - an AES-GCM key that seals TOTP secrets at rest, with the user id as associated data
 *   (a sealed secret copied onto another user's row does not open);
 * - HMAC keys for recovery-code hashes, email verification codes and the device flow's user
 *   codes, so a database dump alone cannot be searched for codes offline (a 6-digit code's
 *   plain hash falls to a million guesses at once, an 8-letter user code's to 2.6e10).
 * Without the variable the two-factor, email-verification and device authorization routes
 * answer `500 misconfigured` naming it.
 */
import type { Config } from '../platform/config';
import { fromBase64Url, randomBytes, toBase64Url, utf8 } from '../platform/crypto';
import { ConfigError } from '../platform/errors';

/** What an HMAC key is for: each use has its own key. */
export type MacPurpose = 'recovery_code' | 'email_code' | 'user_code';

type DataKeys = { seal: CryptoKey } & Record<MacPurpose, CryptoKey>;

const cache = new WeakMap<Config, Promise<DataKeys>>();

async function derive(secret: string): Promise<DataKeys> {
  const master = await crypto.subtle.importKey('raw', utf8(secret), 'HKDF', false, ['deriveKey']);
  const params = (info: string) => ({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(), info: utf8(info) });
  const hmac = (info: string) =>
    crypto.subtle.deriveKey(params(info), master, { name: 'HMAC', hash: 'SHA-256', length: 256 }, false, ['sign']);
  const [seal, recoveryCode, emailCode, userCode] = await Promise.all([
    crypto.subtle.deriveKey(params('edge-auth totp secret seal v1'), master, { name: 'AES-GCM', length: 256 }, false, [
      'encrypt',
      'decrypt',
    ]),
    hmac('edge-auth recovery code mac v1'),
    hmac('edge-auth email code mac v1'),
    hmac('edge-auth device user code mac v1'),
  ]);
  return { seal, recovery_code: recoveryCode, email_code: emailCode, user_code: userCode };
}

/** Throws ConfigError (500 `misconfigured`) when DATA_ENCRYPTION_KEY is not set. */
export function assertDataKey(config: Config): string {
  if (!config.dataEncryptionKey) {
    throw new ConfigError(
      'DATA_ENCRYPTION_KEY is not set: two-factor authentication, email verification and the device flow need it (at least 32 random bytes, `wrangler secret put DATA_ENCRYPTION_KEY`)',
    );
  }
  return config.dataEncryptionKey;
}

function dataKeys(config: Config): Promise<DataKeys> {
  const secret = assertDataKey(config);
  let keys = cache.get(config);
  if (!keys) {
    keys = derive(secret);
    cache.set(config, keys);
  }
  return keys;
}

/** `iv.ciphertext`, base64url; `context` (the user id) is bound as associated data. */
export async function seal(config: Config, plaintext: Uint8Array<ArrayBuffer>, context: string): Promise<string> {
  const { seal: key } = await dataKeys(config);
  const iv = randomBytes(12);
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: utf8(context) }, key, plaintext);
  return `${toBase64Url(iv)}.${toBase64Url(sealed)}`;
}

/** The plaintext, or null when the value was not sealed for `context` under this key. */
export async function open(config: Config, sealed: string, context: string): Promise<Uint8Array | null> {
  const { seal: key } = await dataKeys(config);
  const [iv, data] = sealed.split('.').map((part) => fromBase64Url(part));
  if (!iv || !data) return null;
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: utf8(context) }, key, data),
    );
  } catch {
    return null;
  }
}

export async function mac(config: Config, purpose: MacPurpose, message: string): Promise<string> {
  const key = (await dataKeys(config))[purpose];
  return toBase64Url(await crypto.subtle.sign('HMAC', key, utf8(message)));
}
