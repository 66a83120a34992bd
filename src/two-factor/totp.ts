/**
 * TOTP (RFC 6238) as authenticator apps implement it: HMAC-SHA-1, 6 digits, 30 s steps. The
 * HOTP arithmetic is @oslojs/otp's; what is ours is the window (one step either side, for
 * clock drift and typing time) and that the match reports its step, so the caller can refuse
 * the same step twice (services/mfa.ts stores the last accepted one).
 */
import { createTOTPKeyURI, generateHOTP } from '@oslojs/otp';
import { randomBytes, timingSafeEqual, utf8 } from '../platform/crypto';

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** RFC 4226 asks at least 128 bits and recommends 160: the HMAC-SHA-1 block it keys. */
const SECRET_BYTES = 20;
const DRIFT_STEPS = 1;

export function newTotpSecret(): Uint8Array<ArrayBuffer> {
  return randomBytes(SECRET_BYTES);
}

export function totpStep(nowMs: number): number {
  return Math.floor(nowMs / 1000 / TOTP_PERIOD_SECONDS);
}

/** The code for one step (a counter), with `digits` digits (RFC 6238's test vectors use 8). */
export function totpCode(secret: Uint8Array, step: number, digits = TOTP_DIGITS): string {
  return generateHOTP(secret, BigInt(step), digits);
}

/**
 * The step whose code `code` is, searched from one step back to one ahead, or null. Every
 * candidate is computed and compared in constant time, so timing says nothing about which
 * step (if any) matched.
 */
export function matchTotp(secret: Uint8Array, code: string, nowMs: number): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const now = totpStep(nowMs);
  let matched: number | null = null;
  for (let step = now - DRIFT_STEPS; step <= now + DRIFT_STEPS; step++) {
    if (timingSafeEqual(utf8(totpCode(secret, step)), utf8(code)) && matched === null) matched = step;
  }
  return matched;
}

/** `otpauth://totp/<issuer>:<account>?secret=…&issuer=…` (the Key Uri Format apps scan). */
export function totpUri(issuer: string, account: string, secret: Uint8Array): string {
  return createTOTPKeyURI(issuer, account, secret, TOTP_PERIOD_SECONDS, TOTP_DIGITS);
}
