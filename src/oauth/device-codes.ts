/**
 * Device authorizations (RFC 8628): the device code a device polls with, the user code a person
 * types on the hosted device page, and the row that joins them (see the schema). This module
 * makes the codes and stores them hashed; the endpoint (device-authorization.ts), the page
 * (device-flow.ts) and the grant (grants/device-code.ts) act on the row.
 */
import { and, eq, gt, lt } from 'drizzle-orm';
import type { Config } from '../platform/config';
import { randomBytes, randomToken, sha256Base64Url } from '../platform/crypto';
import type { Database } from '../platform/db/client';
import { oauthDeviceCodes } from '../platform/db/schema';
import { mac } from '../two-factor/data-key';

/** RFC 8628 §3.2 leaves it to the server; ten minutes to find a phone and sign in. */
export const DEVICE_CODE_TTL_SECONDS = 600;
/** RFC 8628 §3.2: the default when the answer names none; named anyway. */
export const POLL_INTERVAL_SECONDS = 5;

/**
 * RFC 8628 §6.1's base-20 alphabet: consonants only, so no words are spelt and none of the
 * letters read alike (no A E I O U Y, so no 0/O or 1/I). 8 of them: 20^8, about 2.6e10 codes.
 */
const ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const USER_CODE_LENGTH = 8;

/** A new user code, 8 letters without bias: bytes of 240 or more are drawn again (240 = 12 × 20). */
export function newUserCode(): string {
  let code = '';
  while (code.length < USER_CODE_LENGTH) {
    for (const byte of randomBytes(USER_CODE_LENGTH)) {
      if (byte < 240 && code.length < USER_CODE_LENGTH) code += ALPHABET[byte % 20];
    }
  }
  return code;
}

/** As it is shown: `BCDF-GHJK`. */
export const formatUserCode = (code: string) => `${code.slice(0, 4)}-${code.slice(4)}`;

/**
 * What a person typed, as stored codes are: any case, with or without the dash (and spaces).
 * Null when it cannot be a code at all, which needs no lookup to say.
 */
export function normalizeUserCode(input: string): string | null {
  const code = input.replace(/[\s-]/g, '').toUpperCase();
  return code.length === USER_CODE_LENGTH && [...code].every((ch) => ALPHABET.includes(ch)) ? code : null;
}

export const deviceCodeHash = (deviceCode: string) => sha256Base64Url(`edge-auth device code\u0000${deviceCode}`);
/** Keyed: a user code has too few bits for a plain hash to keep it from a database dump. */
export const userCodeHash = (config: Config, code: string) => mac(config, 'user_code', code);

export type DeviceRequest = { clientId: string; scope: string; resource?: string | undefined };

/**
 * Stores a new device authorization; returns its two codes. A user code that collides with a
 * live one (one chance in millions per code even with thousands pending) is drawn again.
 */
export async function createDeviceCode(
  db: Database,
  config: Config,
  request: DeviceRequest,
  now: number,
): Promise<{ deviceCode: string; userCode: string }> {
  for (;;) {
    const deviceCode = randomToken(32);
    const userCode = newUserCode();
    const inserted = await db
      .insert(oauthDeviceCodes)
      .values({
        deviceCodeHash: await deviceCodeHash(deviceCode),
        userCodeHash: await userCodeHash(config, userCode),
        clientId: request.clientId,
        scope: request.scope,
        resource: request.resource ?? null,
        status: 'pending',
        pollInterval: POLL_INTERVAL_SECONDS,
        polledAt: now,
        createdAt: now,
        expiresAt: now + DEVICE_CODE_TTL_SECONDS * 1000,
      })
      .onConflictDoNothing()
      .returning({ hash: oauthDeviceCodes.deviceCodeHash });
    if (inserted.length === 1) return { deviceCode, userCode };
  }
}

/** The query that finds the pending, unexpired authorization a user code names (batchable). */
export const pendingByUserCodeQuery = (db: Database, hash: string, now: number) =>
  db
    .select({ deviceCodeHash: oauthDeviceCodes.deviceCodeHash, clientId: oauthDeviceCodes.clientId })
    .from(oauthDeviceCodes)
    .where(
      and(
        eq(oauthDeviceCodes.userCodeHash, hash),
        eq(oauthDeviceCodes.status, 'pending'),
        gt(oauthDeviceCodes.expiresAt, now),
      ),
    )
    .limit(1);

/**
 * For the daily cleanup: authorizations expired more than SESSION_RETENTION ago. A redeemed one
 * is kept that long so that a late replay of its device code still ends the grant it made.
 */
export function deleteExpiredDeviceCodesQuery(db: Database, config: Config, now: number) {
  return db.delete(oauthDeviceCodes).where(lt(oauthDeviceCodes.expiresAt, now - config.sessionRetention * 1000));
}
