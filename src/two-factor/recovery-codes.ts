/**
 * Recovery codes: ten single-use codes shown once at enrolment (or regeneration) and stored
 * only as keyed hashes. 60 random bits each: far beyond what the attempt caps let anyone try
 * online, and the HMAC key (data-key.ts) keeps a dump from being searched offline.
 */
import type { Config } from '../platform/config';
import { randomBytes } from '../platform/crypto';
import { mac } from './data-key';

export const RECOVERY_CODE_COUNT = 10;
/** Crockford's base32 alphabet: no I, L, O or U, so codes survive being read aloud or retyped. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const GROUPS = 3;
const GROUP_LENGTH = 4;

/** `XXXX-XXXX-XXXX`: 12 characters of 5 bits each. */
export function newRecoveryCode(): string {
  const chars = [...randomBytes(GROUPS * GROUP_LENGTH)].map((b) => ALPHABET[b & 31]!);
  const groups = Array.from({ length: GROUPS }, (_, i) => chars.slice(i * GROUP_LENGTH, (i + 1) * GROUP_LENGTH));
  return groups.map((g) => g.join('')).join('-');
}

/**
 * What a user may type for a code: any case, with or without dashes or spaces, and the
 * look-alikes Crockford maps (I and L are 1, O is 0). Null when it cannot be a code.
 */
export function normalizeRecoveryCode(input: string): string | null {
  const cleaned = input.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
  return cleaned.length === GROUPS * GROUP_LENGTH && [...cleaned].every((c) => ALPHABET.includes(c)) ? cleaned : null;
}

/** The stored form: HMAC of the normalised code, bound to the user. */
export function recoveryCodeHash(config: Config, userId: string, normalized: string): Promise<string> {
  return mac(config, 'recovery_code', `${userId}\u0000${normalized}`);
}
