/**
 * The options of a ceremony, made by the server, in the JSON form browsers parse with
 * `PublicKeyCredential.parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON`
 * (WebAuthn Level 3 §5.1.8, §5.1.9). Every choice that protects the account is made here, not
 * left to the client.
 */
import { toBase64Url, utf8 } from '../platform/crypto';
import type { Passkey } from '../platform/db/schema';
import { CHALLENGE_TTL_SECONDS } from './challenges';
import { COSE_ES256, COSE_EDDSA, COSE_RS256 } from './public-key';
import type { RelyingParty } from './relying-party';

const TIMEOUT_MS = CHALLENGE_TTL_SECONDS * 1000;

/**
 * The user handle passkeys carry: the user's id, never the username or anything else personal
 * (authenticators may show or sync it). A discoverable sign-in finds the user by it.
 */
export const userHandle = (userId: string) => toBase64Url(utf8(userId));

type Descriptor = { type: 'public-key'; id: string; transports?: string[] };

const descriptor = (passkey: Pick<Passkey, 'id' | 'transports'>): Descriptor => {
  const transports = JSON.parse(passkey.transports) as string[];
  return { type: 'public-key', id: passkey.id, ...(transports.length ? { transports } : {}) };
};

export function creationOptions(
  rp: RelyingParty,
  user: { id: string; username: string },
  challenge: string,
  existing: Pick<Passkey, 'id' | 'transports'>[],
) {
  return {
    rp: { id: rp.id, name: rp.name },
    user: { id: userHandle(user.id), name: user.username, displayName: user.username },
    challenge,
    // In order of preference; EdDSA and ES256 are what authenticators make today, RS256 is
    // what Windows Hello made before them.
    pubKeyCredParams: [COSE_ES256, COSE_EDDSA, COSE_RS256].map((alg) => ({ type: 'public-key' as const, alg })),
    timeout: TIMEOUT_MS,
    // The authenticator declines a second passkey for the same account (InvalidStateError).
    excludeCredentials: existing.map(descriptor),
    authenticatorSelection: {
      // Discoverable: the passkey itself says whose it is, so sign-in needs no username.
      residentKey: 'required' as const,
      requireResidentKey: true,
      // The PIN or biometric check that makes a passkey two factors (checked again in the response).
      userVerification: 'required' as const,
    },
    // No attestation: no decision here depends on the authenticator's make, and asking for
    // it would prompt users on some platforms.
    attestation: 'none' as const,
  };
}

/**
 * Options for a sign-in. With `allowed` (the named user's passkeys), the browser offers those;
 * without (a discoverable sign-in), any passkey of this RP ID on the device.
 */
export function requestOptions(rp: RelyingParty, challenge: string, allowed?: Pick<Passkey, 'id' | 'transports'>[]) {
  return {
    challenge,
    rpId: rp.id,
    timeout: TIMEOUT_MS,
    userVerification: 'required' as const,
    ...(allowed ? { allowCredentials: allowed.map(descriptor) } : {}),
  };
}
