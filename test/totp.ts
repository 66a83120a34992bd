/**
 * The tests' own TOTP (RFC 6238 over RFC 4226), written from the RFCs with WebCrypto and
 * sharing nothing with src/two-factor/totp.ts, so a test that passes means two implementations agree.
 */
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Decode(text: string): Uint8Array<ArrayBuffer> {
  const bits = [...text.replace(/=+$/, '').toUpperCase()]
    .map((ch) => {
      const value = BASE32.indexOf(ch);
      if (value < 0) throw new Error(`not base32: ${ch}`);
      return value.toString(2).padStart(5, '0');
    })
    .join('');
  const bytes = new Uint8Array(Math.floor(bits.length / 8));
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  return bytes;
}

/** HOTP(K, C) with `digits` digits (RFC 4226 section 5.3). */
export async function hotp(key: Uint8Array<ArrayBuffer>, counter: number, digits = 6): Promise<string> {
  const message = new Uint8Array(8);
  new DataView(message.buffer).setBigUint64(0, BigInt(counter));
  const hmacKey = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
  const hs = new Uint8Array(await crypto.subtle.sign('HMAC', hmacKey, message));
  const offset = hs[19]! & 0xf;
  const binary = ((hs[offset]! & 0x7f) << 24) | (hs[offset + 1]! << 16) | (hs[offset + 2]! << 8) | hs[offset + 3]!;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** The code an authenticator app shows at `timeMs` for a base32 secret, `offset` steps away. */
export function totp(secretBase32: string, timeMs = Date.now(), offset = 0): Promise<string> {
  return hotp(base32Decode(secretBase32), Math.floor(timeMs / 30_000) + offset);
}
