/**
 * The pieces of the passkey ceremony that need no D1: the configuration of the relying party,
 * the conversion of COSE keys, and the strict reading of ECDSA signatures.
 */
import { decodeCBORToNativeValueNoLeftoverBytes } from '@oslojs/cbor';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/platform/config';
import { ConfigError } from '../src/platform/errors';
import { jwkFromCose, p256SignatureFromDer, verifySignature } from '../src/passkeys/public-key';
import { relyingParty } from '../src/passkeys/relying-party';
import { cbor, concat, newCredential } from './webauthn';
import { parseAttestationObject, parseAuthenticatorData, parseClientData } from '../src/passkeys/parse';

const SECRET = 'x'.repeat(32);
const config = (env: Record<string, string> = {}) => parseConfig({ JWT_SECRET: SECRET, ...env });

describe('the relying party', () => {
  it('is WEBAUTHN_RP_ID, with the service’s own origin and the CORS origins on it by default', () => {
    const rp = relyingParty(
      config({ WEBAUTHN_RP_ID: 'Example.COM', CORS_ORIGINS: 'https://app.example.com https://other.example' }),
      'https://auth.example.com/auth/passkeys/sign-in/options',
    );
    expect(rp).toEqual({
      id: 'example.com',
      name: 'edge-auth',
      origins: ['https://auth.example.com', 'https://app.example.com'],
    });
  });

  it('takes WEBAUTHN_ORIGINS and WEBAUTHN_RP_NAME when set', () => {
    const rp = relyingParty(
      config({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://example.com', WEBAUTHN_RP_NAME: 'Example' }),
      'https://auth.example.com/',
    );
    expect(rp).toEqual({ id: 'example.com', name: 'Example', origins: ['https://example.com'] });
  });

  it('refuses, loudly, an RP ID that is an IP address or a URL, and origins off the RP ID', () => {
    for (const [env, pattern] of [
      [{ WEBAUTHN_RP_ID: '192.0.2.1' }, /WEBAUTHN_RP_ID: .*IP addresses/],
      [{ WEBAUTHN_RP_ID: 'https://example.com' }, /WEBAUTHN_RP_ID: must be a host name/],
      [{ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://evil.example' }, /WEBAUTHN_ORIGINS/],
      [{ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://notexample.com' }, /WEBAUTHN_ORIGINS/],
      [{ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'http://example.com' }, /WEBAUTHN_ORIGINS/],
      [{ WEBAUTHN_ORIGINS: 'https://example.com' }, /WEBAUTHN_ORIGINS is set without WEBAUTHN_RP_ID/],
    ] as const) {
      expect(() => config(env)).toThrow(ConfigError);
      expect(() => config(env)).toThrow(pattern);
    }
  });

  it('needs WEBAUTHN_RP_ID outside loopback; on loopback it is localhost, and 127.0.0.1 cannot have passkeys', () => {
    expect(() => relyingParty(config(), 'https://auth.example.com/')).toThrow(/WEBAUTHN_RP_ID is not set/);
    expect(relyingParty(config({ CORS_ORIGINS: 'http://localhost:5173' }), 'http://localhost:8787/x')).toEqual({
      id: 'localhost',
      name: 'edge-auth',
      origins: ['http://localhost:8787', 'http://localhost:5173'],
    });
    expect(() => relyingParty(config(), 'http://127.0.0.1:8787/x')).toThrow(/open http:\/\/localhost:8787/);
  });
});

describe('COSE public keys', () => {
  const decode = (bytes: Uint8Array) => decodeCBORToNativeValueNoLeftoverBytes(bytes, 4) as Record<string, unknown>;

  it('become the JWKs WebCrypto verifies with, for ES256, EdDSA and RS256', async () => {
    for (const alg of ['ES256', 'EdDSA', 'RS256'] as const) {
      const credential = await newCredential(alg);
      const key = jwkFromCose(decode(credential.cose));
      expect(key, alg).not.toBeNull();
      const data = new TextEncoder().encode('signed') as Uint8Array<ArrayBuffer>;
      const params =
        alg === 'ES256' ? { name: 'ECDSA', hash: 'SHA-256' } : alg === 'EdDSA' ? 'Ed25519' : 'RSASSA-PKCS1-v1_5';
      let signature = new Uint8Array(await crypto.subtle.sign(params, credential.keys.privateKey, data));
      if (alg === 'ES256') signature = der(signature);
      expect(await verifySignature(key!, data, signature), alg).toBe(true);
      expect(await verifySignature(key!, concat(data, new Uint8Array([0])), signature), alg).toBe(false);
    }
  });

  it('are refused when the algorithm, key type or curve do not belong together', () => {
    const x = new Uint8Array(32).fill(1);
    for (const params of [
      [
        [1, 2],
        [3, -7],
        [-1, 2],
        [-2, x],
        [-3, x],
      ], // P-384 curve id under ES256
      [
        [1, 1],
        [3, -7],
        [-1, 6],
        [-2, x],
      ], // an OKP key under ES256
      [
        [1, 2],
        [3, -35],
        [-1, 1],
        [-2, x],
        [-3, x],
      ], // ES384: not offered
      [
        [1, 1],
        [3, -8],
        [-1, 4],
        [-2, x],
      ], // X25519 is no signature curve
      [
        [1, 2],
        [-1, 1],
        [-2, x],
        [-3, x],
      ], // no alg
    ] as [number, number | Uint8Array][][]) {
      expect(jwkFromCose(decode(cbor(new Map(params))))).toBeNull();
    }
  });
});

describe('the bytes of a response', () => {
  const rpIdHash = new Uint8Array(32).fill(7);
  const head = (flags: number) => concat(rpIdHash, new Uint8Array([flags, 0, 0, 1, 2]));
  const key = cbor(
    new Map<number, number | Uint8Array>([
      [1, 1],
      [3, -8],
      [-1, 6],
      [-2, new Uint8Array(32)],
    ]),
  );
  const credentialData = (id: Uint8Array, cose: Uint8Array) =>
    concat(new Uint8Array(16), new Uint8Array([0, id.length]), id, cose);

  it('read the authenticator data’s fixed layout, its credential and its extensions', () => {
    expect(parseAuthenticatorData(head(0x05))).toEqual({ rpIdHash, flags: 0x05, signCount: 258, credential: null });
    const id = new Uint8Array([9, 9, 9]);
    const withCredential = parseAuthenticatorData(concat(head(0x45), credentialData(id, key)));
    expect(withCredential?.credential?.id).toEqual(id);
    expect(withCredential?.credential?.publicKey).toMatchObject({ '1': 1, '3': -8, '-1': 6 });
    const extensions = cbor(new Map([['credProtect', 2]]));
    expect(parseAuthenticatorData(concat(head(0xc5), credentialData(id, key), extensions))).not.toBeNull();
  });

  it('refuse authenticator data that is short, truncated, or has bytes its flags do not account for', () => {
    const id = new Uint8Array([9, 9, 9]);
    for (const bytes of [
      head(0x05).slice(0, 36), // shorter than the fixed part
      concat(head(0x05), new Uint8Array([0])), // a trailing byte
      concat(head(0x45), credentialData(id, key).slice(0, 20)), // credential data cut short
      concat(head(0x45), new Uint8Array(16), new Uint8Array([0, 40]), id), // id longer than what follows
      concat(head(0x45), credentialData(id, cbor([1, 2]))), // a COSE key that is no map
      concat(head(0x85), new Uint8Array([0xff])), // extensions that are no CBOR
    ]) {
      expect(parseAuthenticatorData(bytes)).toBeNull();
    }
  });

  it('read client data only when it is UTF-8 JSON with the fields typed', () => {
    const text = (value: unknown) =>
      new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
    const ok = { type: 'webauthn.get', challenge: 'abc', origin: 'https://example.test' };
    expect(parseClientData(text(ok))).toEqual({ ...ok, crossOrigin: false });
    for (const bad of [
      text('not json'),
      text(null),
      text({ ...ok, challenge: 1 }),
      text({ ...ok, origin: undefined }),
      text({ ...ok, crossOrigin: 'no' }),
      new Uint8Array([0x7b, 0xff, 0x7d]), // not UTF-8
    ]) {
      expect(parseClientData(bad)).toBeNull();
    }
  });

  it('read an attestation object’s format and authenticator data, and nothing that lacks them', () => {
    const authData = head(0x05);
    const object = (entries: [string, unknown][]) => cbor(new Map(entries as [string, Uint8Array][]));
    expect(
      parseAttestationObject(
        object([
          ['fmt', 'none'],
          ['attStmt', new Map() as never],
          ['authData', authData],
        ]),
      ),
    ).toEqual({
      fmt: 'none',
      authData,
    });
    expect(parseAttestationObject(object([['fmt', 'none']]))).toBeNull();
    expect(
      parseAttestationObject(
        object([
          ['fmt', 1 as never],
          ['authData', authData],
        ]),
      ),
    ).toBeNull();
    expect(parseAttestationObject(new Uint8Array([0xa1]))).toBeNull();
  });

  it('refuse COSE keys that carry a private part, or an RSA modulus under 2048 bits', async () => {
    const x = new Uint8Array(32).fill(1);
    expect(jwkFromCose({ '1': 1, '3': -8, '-1': 6, '-2': x, '-4': x })).toBeNull();
    expect(
      jwkFromCose({ '1': 3, '3': -257, '-1': new Uint8Array(128).fill(1), '-2': new Uint8Array([1, 0, 1]) }),
    ).toBeNull();
    expect(
      jwkFromCose({ '1': 3, '3': -257, '-1': new Uint8Array(256).fill(1), '-2': new Uint8Array([1, 0, 1]) }),
    ).not.toBeNull();
  });
});

/** r || s as DER, the way the fake authenticator does (test/webauthn.ts). */
function der(raw: Uint8Array): Uint8Array<ArrayBuffer> {
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

describe('ECDSA signatures in DER', () => {
  const r = new Uint8Array(32).fill(0x11);
  const s = new Uint8Array(32).fill(0x22);

  it('read as r || s, short integers padded and a sign byte dropped', () => {
    expect(p256SignatureFromDer(der(concat(r, s)))).toEqual(concat(r, s));
    const high = new Uint8Array(32).fill(0x91);
    expect(p256SignatureFromDer(der(concat(high, s)))).toEqual(concat(high, s));
    const short = concat(new Uint8Array(31), new Uint8Array([5]));
    expect(p256SignatureFromDer(der(concat(short, s)))).toEqual(concat(short, s));
  });

  it('are refused when not strictly DER', () => {
    const good = der(concat(r, s));
    const cases = [
      good.slice(0, -1), // truncated
      concat(good, new Uint8Array([0])), // trailing byte
      Uint8Array.from([0x31, ...good.slice(1)]), // a SET, not a SEQUENCE
      Uint8Array.from([0x30, 0x46, 0x02, 0x21, 0x00, ...r, 0x02, 0x20, ...s]), // needless leading zero
      Uint8Array.from([0x30, 0x45, 0x02, 0x21, 0x01, ...r, 0x02, 0x20, ...s]), // 33 bytes: above 2^256
      Uint8Array.from([0x30, 0x44, 0x02, 0x20, 0x80, ...r.slice(1), 0x02, 0x20, ...s]), // negative
      Uint8Array.from([0x30, 0x24, 0x02, 0x20, ...r]), // only r
      Uint8Array.from([0x30, 0x06, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00]), // empty integers
    ];
    for (const bytes of cases) expect(p256SignatureFromDer(bytes), String(bytes.slice(0, 6))).toBeNull();
  });
});
