/**
 * The bytes of a WebAuthn response, read strictly: the client data (a JSON text, WebAuthn
 * Level 3 §5.8.1), the authenticator data (a fixed binary layout, §6.1) and the CBOR in them
 * (the attestation object, COSE keys, extensions), which @oslojs/cbor decodes. Every reader
 * answers null for anything malformed, never throws.
 *
 * Why not @oslojs/webauthn for the first two: it cost 7.6 KiB gzip in the Worker (a pure-JS
 * SHA-2 it cannot leave out, its own copy of the encoders), the CBOR decoder alone 2.4 KiB, and
 * three issues share one deploy budget (docs/passkeys.md).
 */
import { decodeCBORToNativeValue, decodeCBORToNativeValueNoLeftoverBytes } from '@oslojs/cbor';

/** Nesting a COSE key or an attestation object needs (a map of byte strings, a map in a map). */
const MAX_DEPTH = 4;

export const FLAG_USER_PRESENT = 0x01;
export const FLAG_USER_VERIFIED = 0x04;
export const FLAG_BACKUP_ELIGIBLE = 0x08;
export const FLAG_BACKED_UP = 0x10;
const FLAG_ATTESTED_CREDENTIAL = 0x40;
const FLAG_EXTENSIONS = 0x80;

export type ClientData = { type: string; challenge: string; origin: string; crossOrigin: boolean };

/** The client data's fields the checks need; null unless it is UTF-8 JSON with them, typed. */
export function parseClientData(bytes: Uint8Array): ClientData | null {
  let data: unknown;
  try {
    data = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    return null;
  }
  const { type, challenge, origin, crossOrigin = false } = (data ?? {}) as Record<string, unknown>;
  if (typeof type !== 'string' || typeof challenge !== 'string' || typeof origin !== 'string') return null;
  if (typeof crossOrigin !== 'boolean') return null;
  return { type, challenge, origin, crossOrigin };
}

/** A COSE key as CBOR decodes it: integer labels as the object's keys (`1`, `3`, `-1`, ...). */
export type CoseKey = Record<string, unknown>;

export type AuthenticatorData = {
  rpIdHash: Uint8Array;
  flags: number;
  signCount: number;
  /** Present when the AT flag is: a registration's new credential. */
  credential: { id: Uint8Array; publicKey: CoseKey } | null;
};

/**
 * §6.1: RP ID hash (32 bytes), flags (1), signature counter (4, big-endian), then, by the
 * flags, the attested credential data (AAGUID 16, id length 2, id, COSE key) and extensions
 * (CBOR). Nothing may follow: bytes the layout does not account for are a malformed response.
 */
export function parseAuthenticatorData(bytes: Uint8Array): AuthenticatorData | null {
  if (bytes.length < 37) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = bytes[32]!;
  let at = 37;
  let credential: AuthenticatorData['credential'] = null;
  try {
    if (flags & FLAG_ATTESTED_CREDENTIAL) {
      if (bytes.length < at + 18) return null;
      const idLength = view.getUint16(at + 16);
      at += 18;
      if (bytes.length < at + idLength) return null;
      const id = bytes.slice(at, at + idLength);
      at += idLength;
      const [publicKey, size] = decodeCBORToNativeValue(bytes.subarray(at), MAX_DEPTH);
      if (typeof publicKey !== 'object' || publicKey === null || Array.isArray(publicKey)) return null;
      at += size;
      credential = { id, publicKey: publicKey as CoseKey };
    }
    if (flags & FLAG_EXTENSIONS) {
      // Read to find where they end; no extension is asked for, so none is acted on.
      const [, size] = decodeCBORToNativeValue(bytes.subarray(at), MAX_DEPTH);
      at += size;
    }
  } catch {
    return null;
  }
  if (at !== bytes.length) return null;
  return { rpIdHash: bytes.slice(0, 32), flags, signCount: view.getUint32(33), credential };
}

/** The attestation object (§6.5): its format's name and the authenticator data; the statement is not read. */
export function parseAttestationObject(bytes: Uint8Array): { fmt: string; authData: Uint8Array } | null {
  let decoded: unknown;
  try {
    decoded = decodeCBORToNativeValueNoLeftoverBytes(bytes, MAX_DEPTH);
  } catch {
    return null;
  }
  const { fmt, authData } = (decoded ?? {}) as { fmt?: unknown; authData?: unknown };
  if (typeof fmt !== 'string' || !(authData instanceof Uint8Array)) return null;
  return { fmt, authData };
}
