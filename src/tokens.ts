/**
 * Access tokens: short-lived JWTs signed with the key ring's signing key (HS256 by
 * default). The header says `typ: at+jwt` (RFC 9068) and the payload `token_use: access`,
 * so no other kind of token can ever pass as one. Verification pins the algorithm to the
 * key the `kid` names, and requires `exp`, which Hono's verify only checks when present.
 */
import { decodeHeader, verify } from 'hono/utils/jwt/jwt';
import { signing } from 'hono/utils/jwt/jws';
import * as z from 'zod';
import type { Config } from './config';
import { ROLES } from './db/schema';
import { ApiError } from './errors';
import { toBase64Url, utf8 } from './crypto';
import type { KeyRing } from './keys';

export const ACCESS_TOKEN_TYP = 'at+jwt';

const accessClaimsSchema = z.object({
  sub: z.string().min(1),
  role: z.enum(ROLES),
  ver: z.number().int(),
  sid: z.string().min(1),
  token_use: z.literal('access'),
  iss: z.string(),
  aud: z.string(),
  iat: z.number().int(),
  nbf: z.number().optional(),
  exp: z.number().int(),
  jti: z.string().optional(),
});
export type AccessClaims = z.infer<typeof accessClaimsSchema>;

export type AccessSubject = { userId: string; role: AccessClaims['role']; tokenVersion: number; sessionId: string };

const encodePart = (part: object) => toBase64Url(utf8(JSON.stringify(part)));

/**
 * Signs an access token. Hono's `sign` writes a `kid` only for JWK keys (re-importing them
 * on every call); building the header here lets the isolate's imported CryptoKey sign.
 */
export async function issueAccessToken(
  config: Config,
  ring: KeyRing,
  subject: AccessSubject,
  now = Date.now(),
): Promise<{ token: string; expiresIn: number }> {
  const iat = Math.floor(now / 1000);
  const claims: AccessClaims = {
    sub: subject.userId,
    role: subject.role,
    ver: subject.tokenVersion,
    sid: subject.sessionId,
    token_use: 'access',
    iss: config.issuer,
    aud: config.audience,
    iat,
    exp: iat + config.accessTokenTtl,
  };
  const { alg, kid, key } = ring.signing;
  const unsigned = `${encodePart({ alg, typ: ACCESS_TOKEN_TYP, kid })}.${encodePart(claims)}`;
  const signature = await signing(key, alg, utf8(unsigned));
  return { token: `${unsigned}.${toBase64Url(signature)}`, expiresIn: config.accessTokenTtl };
}

const invalid = (detail: string) => new ApiError(401, 'invalid_token', detail);

/**
 * How far in the future `iat` and `nbf` may lie. Workers in one location verify tokens issued
 * in another, whose clock may be a little ahead; without leeway a fresh token would bounce
 * there. `exp` gets none: a token is never used past its lifetime. (Hono's verify has no
 * leeway option, so it checks `exp` and this module the other two.)
 */
export const CLOCK_SKEW_SECONDS = 60;

/** Verifies an access token and returns its claims, or throws a 401 `invalid_token`. */
export async function verifyAccessToken(config: Config, ring: KeyRing, token: string): Promise<AccessClaims> {
  let header: unknown;
  try {
    header = decodeHeader(token);
  } catch {
    throw invalid('The access token is malformed.');
  }
  // The header is attacker-chosen JSON: `null`, an array or a number must not throw here.
  const kid = typeof header === 'object' && header !== null ? (header as { kid?: unknown }).kid : undefined;
  const key = typeof kid === 'string' ? ring.verify.get(kid) : undefined;
  if (!key) throw invalid('The access token was not signed by a key this service trusts.');
  let payload: unknown;
  try {
    payload = await verify(token, key.key, {
      alg: key.alg,
      iss: config.issuer,
      aud: config.audience,
      typ: ACCESS_TOKEN_TYP,
      iat: false,
      nbf: false,
    });
  } catch (err) {
    const expired = err instanceof Error && err.name === 'JwtTokenExpired';
    throw invalid(expired ? 'The access token has expired.' : 'The access token is invalid.');
  }
  const claims = accessClaimsSchema.safeParse(payload);
  if (!claims.success) throw invalid('The access token is not a valid access token.');
  const latest = Math.floor(Date.now() / 1000) + CLOCK_SKEW_SECONDS;
  if (claims.data.iat > latest || (claims.data.nbf ?? 0) > latest) throw invalid('The access token is not valid yet.');
  return claims.data;
}
