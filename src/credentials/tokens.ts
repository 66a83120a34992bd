/**
 * Access tokens: short-lived JWTs signed with the key ring's signing key (HS256 by
 * default). The header says `typ: at+jwt` (RFC 9068) and the payload `token_use: access`,
 * so no other kind of token can ever pass as one. Verification pins the algorithm to the
 * key the `kid` names. The JWS is jose's; the claims are checked here, by hand (see below).
 */
import { CompactSign, compactVerify, decodeProtectedHeader } from 'jose';
import type { Config } from '../platform/config';
import { ROLES, type Role } from '../platform/db/schema';
import { ApiError } from '../platform/errors';
import { toBase64Url, utf8 } from '../platform/crypto';
import type { KeyRing } from './keys';

export const ACCESS_TOKEN_TYP = 'at+jwt';

export type AccessClaims = {
  sub: string;
  role: Role;
  ver: number;
  sid: string;
  token_use: 'access';
  iss: string;
  aud: string;
  iat: number;
  nbf?: number | undefined;
  exp: number;
  jti?: string | undefined;
  /** RFC 9449 §6: the thumbprint of the DPoP key the token is bound to (absent: a Bearer token). */
  cnf?: { jkt: string } | undefined;
};

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const optional = (v: unknown, type: 'number' | 'string') => v === undefined || typeof v === type;

/**
 * The claims of a verified token, or null when it is not shaped like an access token. By
 * hand, not with zod: it runs on every protected request, and zod's object parsing (without
 * its eval-based fast path, which Workers forbid) was a measurable share of that path's CPU.
 * Only the known claims are kept, as zod would.
 */
function accessClaims(payload: unknown): AccessClaims | null {
  if (typeof payload !== 'object' || payload === null) return null;
  const { sub, role, ver, sid, token_use, iss, aud, iat, nbf, exp, jti, cnf } = payload as Record<string, unknown>;
  const jkt = typeof cnf === 'object' && cnf !== null ? (cnf as { jkt?: unknown }).jkt : undefined;
  const valid =
    nonEmpty(sub) &&
    ROLES.includes(role as Role) &&
    Number.isInteger(ver) &&
    nonEmpty(sid) &&
    token_use === 'access' &&
    typeof iss === 'string' &&
    typeof aud === 'string' &&
    Number.isInteger(iat) &&
    optional(nbf, 'number') &&
    Number.isInteger(exp) &&
    optional(jti, 'string') &&
    // A `cnf` this service did not write (no jkt, another confirmation method) binds to nothing
    // it can check: refused rather than treated as a Bearer token.
    (cnf === undefined || nonEmpty(jkt));
  if (!valid) return null;
  return {
    sub,
    role: role as Role,
    ver: ver as number,
    sid,
    token_use,
    iss,
    aud,
    iat: iat as number,
    nbf: nbf as number | undefined,
    exp: exp as number,
    jti: jti as string | undefined,
    cnf: cnf === undefined ? undefined : { jkt: jkt as string },
  };
}

export type AccessSubject = {
  userId: string;
  role: AccessClaims['role'];
  tokenVersion: number;
  sessionId: string;
  /** The session's DPoP key thumbprint: the token is then bound to it (`cnf.jkt`). */
  dpopJkt?: string | null | undefined;
};

/** Signs an access token with the isolate's imported CryptoKey (no JWK import per call). */
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
    // Unique per token: two tokens for one session in the same second would otherwise be
    // byte-identical, so a resource server could neither tell them apart nor deny-list one.
    jti: toBase64Url(crypto.getRandomValues(new Uint8Array(16))),
    ...(subject.dpopJkt ? { cnf: { jkt: subject.dpopJkt } } : {}),
  };
  const { alg, kid, key } = ring.signing;
  const token = await new CompactSign(utf8(JSON.stringify(claims)))
    .setProtectedHeader({ alg, typ: ACCESS_TOKEN_TYP, kid })
    .sign(key);
  return { token, expiresIn: config.accessTokenTtl };
}

const invalid = (detail: string) => new ApiError(401, 'invalid_token', detail);

/**
 * How far in the future `iat` and `nbf` may lie. Workers in one location verify tokens issued
 * in another, whose clock may be a little ahead; without leeway a fresh token would bounce
 * there. `exp` gets none: a token is never used past its lifetime. (jose's jwtVerify has one
 * leeway for all three, so only the signature is jose's and the claims are checked here.)
 */
export const CLOCK_SKEW_SECONDS = 60;

/** Verifies an access token and returns its claims, or throws a 401 `invalid_token`. */
export async function verifyAccessToken(config: Config, ring: KeyRing, token: string): Promise<AccessClaims> {
  let header: unknown;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw invalid('The access token is malformed.');
  }
  // The header is attacker-chosen JSON: `null`, an array or a number must not throw here.
  const kid = typeof header === 'object' && header !== null ? (header as { kid?: unknown }).kid : undefined;
  const key = typeof kid === 'string' ? ring.verify.get(kid) : undefined;
  if (!key) throw invalid('The access token was not signed by a key this service trusts.');
  let payload: unknown;
  try {
    const verified = await compactVerify(token, key.key, { algorithms: [key.alg] });
    if (verified.protectedHeader.typ !== ACCESS_TOKEN_TYP) throw new Error('typ');
    payload = JSON.parse(new TextDecoder().decode(verified.payload));
  } catch {
    throw invalid('The access token is invalid.');
  }
  const claims = accessClaims(payload);
  if (!claims || claims.iss !== config.issuer || claims.aud !== config.audience) {
    throw invalid('The access token is not a valid access token.');
  }
  const now = Math.floor(Date.now() / 1000);
  if (claims.exp <= now) throw invalid('The access token has expired.');
  const latest = now + CLOCK_SKEW_SECONDS;
  if (claims.iat > latest || (claims.nbf ?? 0) > latest) throw invalid('The access token is not valid yet.');
  return claims;
}
