// The bench's passkey: an ES256 key made once per run, stored for the bench user straight into
// D1 (as a registration would store it: its public JWK), and the sign-in responses a platform
// authenticator would send for it, built with node:crypto (WebAuthn Level 3 §6.1, §7.2).
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

/** The relying party the bench Worker is configured with (WEBAUTHN_RP_ID, WEBAUTHN_ORIGINS). */
export const RP_ID = 'bench.example';
export const ORIGIN = `https://${RP_ID}`;

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });

export const BENCH_PASSKEY = {
  id: randomBytes(32).toString('base64url'),
  publicKey: JSON.stringify({ kty, crv, x, y }),
  algorithm: -7,
};

const sha256 = (data) => createHash('sha256').update(data).digest();
/** RP ID hash, flags UP | UV (a verified user), a zero counter (a synced passkey keeps none). */
const authenticatorData = Buffer.concat([sha256(RP_ID), Buffer.from([0x05, 0, 0, 0, 0])]);

/** The JSON of navigator.credentials.get() for `challenge`, signed by the bench passkey of `userId`. */
export function assertion(challenge, userId) {
  const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge, origin: ORIGIN }));
  // node:crypto signs ECDSA in DER, the form WebAuthn sends.
  const signature = sign('sha256', Buffer.concat([authenticatorData, sha256(clientDataJSON)]), privateKey);
  return {
    id: BENCH_PASSKEY.id,
    rawId: BENCH_PASSKEY.id,
    type: 'public-key',
    response: {
      clientDataJSON: clientDataJSON.toString('base64url'),
      authenticatorData: authenticatorData.toString('base64url'),
      signature: signature.toString('base64url'),
      userHandle: Buffer.from(userId).toString('base64url'),
    },
  };
}
