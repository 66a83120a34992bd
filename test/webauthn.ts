/**
 * A fake WebAuthn authenticator for the tests, written from the specs (WebAuthn Level 3 §6,
 * RFC 8949 CBOR, RFC 9053 COSE keys) with WebCrypto and sharing nothing with src/passkeys/: it
 * builds the authenticator data, the client data and the signature a browser would send, so a
 * test that passes means two independent implementations agree. Every field a check looks at
 * can be bent (flags, counter, origin, RP ID, challenge, type), to make each refusal happen.
 */
import { b64url, fromB64url } from './jwt';

export type Alg = 'ES256' | 'EdDSA' | 'RS256';

// --- CBOR (RFC 8949), the subset COSE keys and attestation objects use ---

type Cbor = number | string | Uint8Array | Cbor[] | Map<Cbor, Cbor>;

function head(major: number, value: number): number[] {
  if (value < 24) return [(major << 5) | value];
  if (value < 0x100) return [(major << 5) | 24, value];
  if (value < 0x10000) return [(major << 5) | 25, value >> 8, value & 0xff];
  return [(major << 5) | 26, (value >>> 24) & 0xff, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];
}

export function cbor(value: Cbor): Uint8Array<ArrayBuffer> {
  const out: number[] = [];
  const put = (v: Cbor) => {
    if (typeof v === 'number') out.push(...(v >= 0 ? head(0, v) : head(1, -1 - v)));
    else if (typeof v === 'string') {
      const bytes = new TextEncoder().encode(v);
      out.push(...head(3, bytes.length), ...bytes);
    } else if (v instanceof Uint8Array) out.push(...head(2, v.length), ...v);
    else if (Array.isArray(v)) {
      out.push(...head(4, v.length));
      v.forEach(put);
    } else {
      out.push(...head(5, v.size));
      for (const [k, item] of v) {
        put(k);
        put(item);
      }
    }
  };
  put(value);
  return new Uint8Array(out);
}

// --- bytes ---

export const concat = (...parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const u32 = (n: number) => new Uint8Array([(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
const sha256 = async (data: Uint8Array<ArrayBuffer>) => new Uint8Array(await crypto.subtle.digest('SHA-256', data));
const utf8 = (s: string) => new TextEncoder().encode(s) as Uint8Array<ArrayBuffer>;

/** An ECDSA signature as WebCrypto gives it (r || s) in the DER form WebAuthn sends (RFC 3279). */
function derSignature(raw: Uint8Array): Uint8Array<ArrayBuffer> {
  const integer = (bytes: Uint8Array) => {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    let v: Uint8Array = bytes.slice(i);
    if (v[0]! & 0x80) v = concat(new Uint8Array([0]), v);
    return concat(new Uint8Array([0x02, v.length]), v);
  };
  const body = concat(integer(raw.slice(0, 32)), integer(raw.slice(32)));
  return concat(new Uint8Array([0x30, body.length]), body);
}

export const FLAGS = { UP: 0x01, UV: 0x04, BE: 0x08, BS: 0x10, AT: 0x40 } as const;

// --- the authenticator ---

export type CredentialKey = { alg: Alg; id: Uint8Array<ArrayBuffer>; keys: CryptoKeyPair; cose: Uint8Array };

export async function newCredential(alg: Alg = 'ES256'): Promise<CredentialKey> {
  const id = crypto.getRandomValues(new Uint8Array(32));
  if (alg === 'ES256') {
    const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const jwk = (await crypto.subtle.exportKey('jwk', keys.publicKey)) as JsonWebKey;
    const cose = new Map<Cbor, Cbor>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, fromB64url(jwk.x!)],
      [-3, fromB64url(jwk.y!)],
    ]);
    return { alg, id, keys, cose: cbor(cose) };
  }
  if (alg === 'EdDSA') {
    const keys = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const raw = new Uint8Array((await crypto.subtle.exportKey('raw', keys.publicKey)) as ArrayBuffer);
    const cose = new Map<Cbor, Cbor>([
      [1, 1],
      [3, -8],
      [-1, 6],
      [-2, raw],
    ]);
    return { alg, id, keys, cose: cbor(cose) };
  }
  const keys = (await crypto.subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    true,
    ['sign', 'verify'],
  )) as CryptoKeyPair;
  const jwk = (await crypto.subtle.exportKey('jwk', keys.publicKey)) as JsonWebKey;
  const cose = new Map<Cbor, Cbor>([
    [1, 3],
    [3, -257],
    [-1, fromB64url(jwk.n!)],
    [-2, fromB64url(jwk.e!)],
  ]);
  return { alg, id, keys, cose: cbor(cose) };
}

async function sign(credential: CredentialKey, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const key = credential.keys.privateKey;
  if (credential.alg === 'ES256') {
    return derSignature(new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, data)));
  }
  const name = credential.alg === 'EdDSA' ? 'Ed25519' : 'RSASSA-PKCS1-v1_5';
  return new Uint8Array(await crypto.subtle.sign(name, key, data));
}

/** What the fake authenticator and browser may be made to do wrong (or differently). */
export type Bend = {
  rpId?: string;
  origin?: string;
  challenge?: string;
  type?: string;
  flags?: number;
  counter?: number;
  /** Sign something else than what is sent. */
  badSignature?: boolean;
  /** Another user handle than the credential's. */
  userHandle?: string | null;
  /** Another credential id in the response than the one that signs. */
  rawId?: Uint8Array;
  crossOrigin?: boolean;
  topOrigin?: string;
};

function clientData(kind: 'create' | 'get', challenge: string, origin: string, bend: Bend): Uint8Array<ArrayBuffer> {
  return utf8(
    JSON.stringify({
      type: bend.type ?? `webauthn.${kind}`,
      challenge: bend.challenge ?? challenge,
      origin: bend.origin ?? origin,
      crossOrigin: bend.crossOrigin ?? false,
      ...(bend.topOrigin ? { topOrigin: bend.topOrigin } : {}),
    }),
  );
}

/** The JSON a browser's `PublicKeyCredential.toJSON()` gives for navigator.credentials.create(). */
export async function attestation(
  credential: CredentialKey,
  options: { challenge: string; rpId: string; origin: string },
  bend: Bend = {},
) {
  const flags = bend.flags ?? FLAGS.UP | FLAGS.UV | FLAGS.BE | FLAGS.BS | FLAGS.AT;
  const authData = concat(
    await sha256(utf8(bend.rpId ?? options.rpId)),
    new Uint8Array([flags]),
    u32(bend.counter ?? 0),
    new Uint8Array(16), // AAGUID: zeros, as with attestation "none"
    new Uint8Array([credential.id.length >> 8, credential.id.length & 0xff]),
    credential.id,
    credential.cose,
  );
  const attestationObject = cbor(
    new Map<Cbor, Cbor>([
      ['fmt', 'none'],
      ['attStmt', new Map()],
      ['authData', authData],
    ]),
  );
  const id = b64url(bend.rawId ?? credential.id);
  return {
    id,
    rawId: id,
    type: 'public-key',
    response: {
      clientDataJSON: b64url(clientData('create', options.challenge, options.origin, bend)),
      attestationObject: b64url(attestationObject),
      transports: ['internal', 'hybrid'],
    },
    clientExtensionResults: {},
    authenticatorAttachment: 'platform',
  };
}

/** The JSON a browser's `PublicKeyCredential.toJSON()` gives for navigator.credentials.get(). */
export async function assertion(
  credential: CredentialKey,
  options: { challenge: string; rpId: string; origin: string; userHandle: string; counter?: number },
  bend: Bend = {},
) {
  const flags = bend.flags ?? FLAGS.UP | FLAGS.UV | FLAGS.BE | FLAGS.BS;
  const authenticatorData = concat(
    await sha256(utf8(bend.rpId ?? options.rpId)),
    new Uint8Array([flags]),
    u32(bend.counter ?? options.counter ?? 0),
  );
  const clientDataJSON = clientData('get', options.challenge, options.origin, bend);
  const signed = concat(authenticatorData, await sha256(clientDataJSON));
  const signature = await sign(credential, bend.badSignature ? concat(signed, new Uint8Array([1])) : signed);
  const id = b64url(bend.rawId ?? credential.id);
  const userHandle = bend.userHandle === undefined ? options.userHandle : bend.userHandle;
  return {
    id,
    rawId: id,
    type: 'public-key',
    response: {
      clientDataJSON: b64url(clientDataJSON),
      authenticatorData: b64url(authenticatorData),
      signature: b64url(signature),
      ...(userHandle === null ? {} : { userHandle }),
    },
    clientExtensionResults: {},
    authenticatorAttachment: 'platform',
  };
}
