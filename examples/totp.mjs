#!/usr/bin/env node
/**
 * The code an authenticator app would show now for a TOTP secret (RFC 6238: HMAC-SHA-1,
 * 6 digits, 30-second steps), so the two-factor walk-through in
 * docs/two-factor-and-recovery.md runs in a terminal without a phone:
 *
 *   node examples/totp.mjs JBSWY3DPEHPK3PXP
 *
 * For trying the service out only: a real second factor lives on another device.
 */
import { createHmac } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const secret = process.argv[2];
if (!secret) {
  console.error('usage: node examples/totp.mjs <base32 secret>');
  process.exit(2);
}

let bits = '';
for (const ch of secret.replace(/=+$/, '').toUpperCase()) {
  const value = BASE32.indexOf(ch);
  if (value < 0) {
    console.error(`totp: not base32: ${ch}`);
    process.exit(2);
  }
  bits += value.toString(2).padStart(5, '0');
}
const key = Buffer.alloc(Math.floor(bits.length / 8));
for (let i = 0; i < key.length; i++) key[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);

const counter = Buffer.alloc(8);
counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000)));
const mac = createHmac('sha1', key).update(counter).digest();
// RFC 4226 section 5.3, dynamic truncation.
const offset = mac[19] & 0xf;
const binary = mac.readUInt32BE(offset) & 0x7fffffff;
console.log(String(binary % 1_000_000).padStart(6, '0'));
