// DPoP proofs for the bench (RFC 9449): one ES256 key, a proof signed per request. Node's sign()
// is synchronous, so autocannon's setupRequest can make each request its own proof (the
// service refuses a proof's jti a second time).
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

const b64 = (text) => Buffer.from(text).toString('base64url');

/** A signer: `(method, url, accessToken?) => proof`. */
export function dpopSigner() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  const header = b64(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } }));
  const aths = new Map();
  const ath = (token) => {
    let hash = aths.get(token);
    if (!hash) aths.set(token, (hash = createHash('sha256').update(token).digest('base64url')));
    return hash;
  };
  return (method, url, token) => {
    const claims = {
      jti: randomBytes(12).toString('base64url'),
      htm: method,
      htu: url,
      iat: Math.floor(Date.now() / 1000),
      ...(token ? { ath: ath(token) } : {}),
    };
    const input = `${header}.${b64(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  };
}
