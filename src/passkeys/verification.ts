/**
 * The checks of the two WebAuthn ceremonies (Level 3 §7.1 registration, §7.2 authentication),
 * each with the reason it is there. parse.ts reads the bytes (with @oslojs/cbor for the
 * CBOR); every decision is made here. Nothing in this module reads or writes D1: the flows
 * (registration.ts, sign-in.ts) take the challenge and the stored passkey, and store the
 * outcome.
 *
 * A refusal is an ApiError with one of the passkey problem codes; the flow chooses its status
 * (400 for a signed-in registration, 401 for a sign-in).
 */
import { fromBase64Url, sha256, toBase64Url, utf8 } from '../platform/crypto';
import { ApiError, type ErrorCode } from '../platform/errors';
import {
  FLAG_BACKED_UP,
  FLAG_BACKUP_ELIGIBLE,
  FLAG_USER_PRESENT,
  FLAG_USER_VERIFIED,
  parseAttestationObject,
  parseAuthenticatorData,
  parseClientData,
  type AuthenticatorData,
  type ClientData,
} from './parse';
import { importable, jwkFromCose, verifySignature, type StoredKey } from './public-key';
import type { RelyingParty } from './relying-party';

/** The JSON of a registration, as `PublicKeyCredential.toJSON()` gives it (fields used here). */
export type RegistrationResponse = {
  id: string;
  rawId: string;
  type: 'public-key';
  response: { clientDataJSON: string; attestationObject: string; transports?: string[] | undefined };
};

/** The JSON of a sign-in, as `PublicKeyCredential.toJSON()` gives it (fields used here). */
export type AuthenticationResponse = {
  id: string;
  rawId: string;
  type: 'public-key';
  response: {
    clientDataJSON: string;
    authenticatorData: string;
    signature: string;
    userHandle?: string | null | undefined;
  };
};

export type Refuse = (code: ErrorCode, detail: string) => ApiError;
export const refusal =
  (status: 400 | 401): Refuse =>
  (code, detail) =>
    new ApiError(status, code, detail);

/** WebAuthn §5.8.3: longer credential ids are refused (and would only bloat the table). */
const MAX_CREDENTIAL_ID_BYTES = 1023;
const TRANSPORTS = new Set(['ble', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);

const decode = (text: string, refuse: Refuse, what: string): Uint8Array<ArrayBuffer> => {
  const bytes = fromBase64Url(text);
  if (!bytes) throw refuse('invalid_passkey', `The passkey response's ${what} is not base64url.`);
  return bytes;
};

export type ReadClientData = { bytes: Uint8Array<ArrayBuffer>; data: ClientData; challenge: string };

/**
 * The client data of a response, and the challenge in it (base64url, as the options sent it):
 * read first, since the challenge is what the flow looks up before anything else.
 */
export function readClientData(encoded: string, refuse: Refuse): ReadClientData {
  const bytes = decode(encoded, refuse, 'clientDataJSON');
  const data = parseClientData(bytes);
  if (!data) throw refuse('invalid_passkey', 'The passkey response’s client data is malformed.');
  // Looked up exactly as sent: a challenge spelled another way (padding, another alphabet)
  // is no challenge the service made.
  return { bytes, data, challenge: data.challenge };
}

/** §7.1 steps 7-10, §7.2 steps 11-14: what the browser says about where the ceremony ran. */
function checkClientData(
  clientData: ClientData,
  type: 'webauthn.create' | 'webauthn.get',
  rp: RelyingParty,
  refuse: Refuse,
): void {
  // A sign-in response replayed as a registration, or the reverse, is refused here.
  if (clientData.type !== type) throw refuse('invalid_passkey', 'The passkey response is of the other ceremony.');
  // The origin is what phishing changes: a page on another domain gets a signature for its
  // own origin, which no check here lets through.
  if (!rp.origins.includes(clientData.origin)) {
    throw refuse('passkey_origin_mismatch', `Passkeys are not accepted from ${clientData.origin}.`);
  }
  // A ceremony in a frame of another site: the service sends frame-ancestors 'none' and
  // allows none.
  if (clientData.crossOrigin) throw refuse('passkey_origin_mismatch', 'Passkeys are not accepted from a frame.');
}

/** §7.1 steps 13-17, §7.2 steps 15-18: what the authenticator says about itself. */
async function checkAuthenticatorData(
  raw: Uint8Array,
  rp: RelyingParty,
  refuse: Refuse,
): Promise<AuthenticatorData & { backupEligible: boolean; backedUp: boolean }> {
  const data = parseAuthenticatorData(raw);
  if (!data) throw refuse('invalid_passkey', 'The passkey response’s authenticator data is malformed.');
  // The credential is scoped to an RP ID: a passkey of another site (or a response made for
  // another RP ID) does not sign in here, whatever the client data says.
  if (!equal(data.rpIdHash, await sha256(utf8(rp.id)))) {
    throw refuse('passkey_rp_id_mismatch', `The passkey was not made for ${rp.id}.`);
  }
  // Presence: someone touched or unlocked the authenticator, not malware using it silently.
  // Verification: a PIN or biometric on the device. With both, a passkey is two factors
  // (something you have, something you know or are): what lets it stand in for password + TOTP.
  if (!(data.flags & FLAG_USER_PRESENT) || !(data.flags & FLAG_USER_VERIFIED)) {
    throw refuse(
      'passkey_user_not_verified',
      'The authenticator did not verify the user (PIN or biometric); use one that can.',
    );
  }
  const backupEligible = (data.flags & FLAG_BACKUP_ELIGIBLE) !== 0;
  const backedUp = (data.flags & FLAG_BACKED_UP) !== 0;
  // §6.1: a credential that cannot be backed up cannot be backed up; the pair is malformed.
  if (backedUp && !backupEligible) throw refuse('invalid_passkey', 'The authenticator data flags are inconsistent.');
  return { ...data, backupEligible, backedUp };
}

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((byte, i) => byte === b[i]);

export type NewPasskey = {
  id: string;
  key: StoredKey;
  signCount: number;
  transports: string[];
  backupEligible: boolean;
  backedUp: boolean;
};

/**
 * Verifies a registration whose challenge the flow has already taken (§7.1). Attestation was
 * asked as `none`: the statement, whatever its format, is not checked, because no decision
 * depends on who made the authenticator.
 */
export async function verifyRegistration(
  response: RegistrationResponse,
  clientData: ReadClientData,
  rp: RelyingParty,
  refuse: Refuse,
): Promise<NewPasskey> {
  checkClientData(clientData.data, 'webauthn.create', rp, refuse);
  const attestation = parseAttestationObject(decode(response.response.attestationObject, refuse, 'attestationObject'));
  if (!attestation) throw refuse('invalid_passkey', 'The passkey response’s attestation object is malformed.');
  const authData = attestation.authData;
  const data = await checkAuthenticatorData(authData, rp, refuse);
  const credential = data.credential;
  if (!credential) throw refuse('invalid_passkey', 'The passkey response carries no credential.');
  const id = toBase64Url(credential.id);
  if (credential.id.length === 0 || credential.id.length > MAX_CREDENTIAL_ID_BYTES) {
    throw refuse('invalid_passkey', 'The credential id is empty or too long.');
  }
  // The id the browser labels the response with is the one the authenticator made.
  if (response.id !== id || response.rawId !== id) {
    throw refuse('invalid_passkey', 'The response’s id is not the id of the credential it carries.');
  }
  // Only the algorithms the options offered, with keys WebCrypto takes: what cannot be
  // verified at sign-in is refused now, not discovered then.
  const key = jwkFromCose(credential.publicKey);
  if (!key || !(await importable(key))) {
    throw refuse('invalid_passkey', 'The passkey’s key is not ES256, EdDSA or RS256, or is malformed.');
  }
  const transports = (response.response.transports ?? []).filter((t) => TRANSPORTS.has(t));
  return {
    id,
    key,
    signCount: data.signCount,
    transports: [...new Set(transports)],
    backupEligible: data.backupEligible,
    backedUp: data.backedUp,
  };
}

/** What a stored passkey contributes to a sign-in. */
export type StoredPasskey = { id: string; userId: string; key: StoredKey; signCount: number };

/**
 * Verifies a sign-in response whose challenge the flow has taken and whose passkey it found
 * (§7.2). Returns the counter and backup state to store.
 */
export async function verifyAuthentication(
  response: AuthenticationResponse,
  clientData: ReadClientData,
  rp: RelyingParty,
  passkey: StoredPasskey,
  refuse: Refuse,
): Promise<{ signCount: number; backedUp: boolean }> {
  checkClientData(clientData.data, 'webauthn.get', rp, refuse);
  // The user handle, when the authenticator gives one (it always does for a discoverable
  // sign-in), must name the passkey's owner: a passkey is never accepted for someone else.
  const handle = response.response.userHandle;
  if (handle != null && !equal(decode(handle, refuse, 'userHandle'), utf8(passkey.userId))) {
    throw refuse('unknown_passkey', 'The passkey does not belong to this account.');
  }
  const rawAuthData = decode(response.response.authenticatorData, refuse, 'authenticatorData');
  const data = await checkAuthenticatorData(rawAuthData, rp, refuse);
  // The signature covers the authenticator data and the client data's hash, so the
  // challenge, origin, RP ID and flags checked above are what the key holder signed.
  const signed = new Uint8Array(rawAuthData.length + 32);
  signed.set(rawAuthData);
  signed.set(await sha256(clientData.bytes), rawAuthData.length);
  const signature = decode(response.response.signature, refuse, 'signature');
  if (!(await verifySignature(passkey.key, signed, signature))) {
    throw refuse('invalid_passkey', 'The passkey signature does not verify.');
  }
  // §7.2 step 21: a counter that does not move forward means two authenticators hold the
  // key (a cloned one). Zero is exempt: authenticators that keep no counter (most synced
  // passkeys) always send 0.
  const counter = data.signCount;
  if (counter !== 0 && counter <= passkey.signCount) {
    throw refuse(
      'passkey_counter_regressed',
      'The passkey’s signature counter went backwards: this authenticator may be a copy. The passkey was not accepted.',
    );
  }
  return { signCount: Math.max(counter, passkey.signCount), backedUp: data.backedUp };
}
