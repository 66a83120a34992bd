/**
 * Bearer and DPoP authentication and role checks. The token proves who the caller was when it
 * was issued; the user row and the token's session, read from D1 on every protected request
 * (one query), say who they are now: deleted users, demotions, logout, revoked sessions and
 * logout-all take effect at once. A DPoP-bound token (`cnf.jkt`) also needs, with every
 * request, a proof signed by its key (RFC 9449 §7): a copy of the token alone is useless.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { BatchItem } from 'drizzle-orm/batch';
import { mayReadReplica, primaryDb, type Database } from '../../platform/db/client';
import type { Role } from '../../platform/db/schema';
import type { AppEnv } from '../../platform/env';
import { cachedCheck, rememberCheck } from '../../sessions/access-cache';
import { ApiError } from '../../platform/errors';
import { getKeyRing } from '../../credentials/keys';
import { findTokenSubject, tokenSubject, tokenSubjectStatement } from '../../sessions/sessions';
import { verifyAccessToken, type AccessClaims } from '../../credentials/tokens';
import { dpopChallenge, DpopProofError, forResource, invalidProof } from '../../dpop/errors';
import { currentNonce } from '../../dpop/nonce';
import { verifyDpopProof } from '../../dpop/proof';
import { spendInIsolate } from '../../dpop/replay';

const REALM = 'edge-auth';

/** RFC 6750 §3: no `error` attribute when the request carried no credentials at all. */
function challenge(err?: { code: string; detail: string }): string {
  if (!err) return `Bearer realm="${REALM}", ${dpopChallenge()}`;
  return `Bearer realm="${REALM}", error="${err.code}", error_description="${err.detail.replaceAll('"', "'")}"`;
}

/** A 401 in the challenge of the scheme the request used (RFC 9449 §7.1 for DPoP). */
function unauthorized(detail: string, withError: boolean, scheme: 'bearer' | 'dpop' = 'bearer'): ApiError {
  const error = withError ? { code: 'invalid_token', detail } : undefined;
  return new ApiError(401, withError ? 'invalid_token' : 'unauthorized', detail, {
    headers: { 'WWW-Authenticate': scheme === 'dpop' ? dpopChallenge(error) : challenge(error) },
  });
}

export type RequireAuthOptions = {
  /**
   * Accepted Authorization schemes (`JWT` is Flask-JWT's, kept for its compatibility routes).
   * `DPoP` is always accepted besides them, for DPoP-bound tokens.
   */
  schemes?: readonly string[];
  /**
   * May reuse a check cached by this isolate for up to ACCESS_CHECK_CACHE_TTL seconds. Only
   * for routes that read and need no admin role: anything that changes state or needs the
   * admin role must see D1 as it is now.
   */
  cache?: boolean;
  /**
   * Checks on the D1 primary, and keeps the rest of the request there, even for a read under
   * D1_READS=nearest: for routes that decide on the role (requireRole), which a lagging
   * replica could still show as it was before a demotion.
   */
  primary?: boolean;
  /**
   * Verifies the token here but leaves the D1 check to the handler, which runs it in one batch
   * with its own statement (withAccessCheck): one round trip instead of two, for the routes a
   * client calls on every page (the sessions list, the admin's user list). The handler must
   * call withAccessCheck before it answers; a route that forgets fails loudly.
   */
  deferred?: boolean;
};

/**
 * RFC 9449 §7: the token's scheme must match its binding, and a bound token needs a proof
 * made with its key, for this request (method, URL) and this token (`ath`), never seen before
 * by this isolate. One signature check and one thumbprint, before D1 is asked anything. Also
 * the OAuth userinfo endpoint's check, whose 401s the OAuth error handler keeps with their
 * challenge.
 */
export async function checkBinding(c: Context<AppEnv>, token: string, jkt: string | undefined, dpop: boolean) {
  if (!dpop) {
    const detail = 'A DPoP-bound token: send it as Authorization: DPoP, with a proof.';
    throw new ApiError(401, 'invalid_token', detail, {
      headers: { 'WWW-Authenticate': dpopChallenge({ code: 'invalid_token', detail }) },
    });
  }
  if (!jkt) throw unauthorized('Not a DPoP-bound token: send it as Authorization: Bearer.', true);
  const config = c.get('config');
  try {
    const proof = await verifyDpopProof(config, {
      method: c.req.method,
      url: c.req.url,
      headers: c.req.raw.headers,
      accessToken: token,
    });
    if (!proof) throw invalidProof('DPoP proof: required with a DPoP-bound token.');
    if (proof.jkt !== jkt) throw invalidProof('DPoP proof: not made with the key the token is bound to.');
    spendInIsolate(proof);
  } catch (err) {
    throw err instanceof DpopProofError ? forResource(err) : err;
  }
  // RFC 9449 §9: the next nonce rides on every answer, so a client never waits for a refusal.
  if (config.dpop.nonce) c.header('DPoP-Nonce', await currentNonce(config));
}

type Subject = Awaited<ReturnType<typeof findTokenSubject>>;

/**
 * The D1 half of the check: the token's user at the token's version, and its session live. A
 * bound token got here in the DPoP scheme (checkBinding), so its refusals carry DPoP's challenge.
 */
function checkSubject(subject: Subject, claims: Pick<AccessClaims, 'ver' | 'cnf'>) {
  const as = claims.cnf ? 'dpop' : 'bearer';
  if (!subject) throw unauthorized('The user of this token no longer exists.', true, as);
  if (subject.user.tokenVersion !== claims.ver || !subject.sessionLive) {
    throw unauthorized('The access token has been revoked.', true, as);
  }
  return subject.user;
}

function checkRole(roles: readonly Role[], role: Role) {
  if (!roles.includes(role))
    throw new ApiError(403, 'forbidden', `This route requires the ${roles.join(' or ')} role.`);
}

/** Requires a valid access token whose user and session are still live. */
export const requireAuth = ({
  schemes = ['Bearer'],
  cache = false,
  primary = false,
  deferred = false,
}: RequireAuthOptions = {}) => {
  const accepted = new Set(schemes.map((s) => s.toLowerCase()));
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header('Authorization')?.trim();
    const [scheme = '', ...rest] = header ? header.split(/ +/) : [];
    const dpop = scheme.toLowerCase() === 'dpop';
    // RFC 6750 §3.1: no credentials, or another scheme (Basic, ...), gets a bare challenge.
    if (!dpop && !accepted.has(scheme.toLowerCase())) {
      throw unauthorized(`This route requires an access token (Authorization: ${schemes[0]} <token>).`, false);
    }
    const as = dpop ? 'dpop' : 'bearer';
    const token = rest.length === 1 && /^[A-Za-z0-9_.~+/=-]+$/.test(rest[0]!) ? rest[0] : undefined;
    if (!token) throw unauthorized('The Authorization header does not carry one well-formed token.', true, as);

    const config = c.get('config');
    let claims;
    try {
      claims = await verifyAccessToken(config, await getKeyRing(config), token);
    } catch (err) {
      if (err instanceof ApiError) throw unauthorized(err.detail, true, as);
      throw err;
    }
    const jkt = claims.cnf?.jkt;
    if (dpop || jkt) await checkBinding(c, token, jkt, dpop);
    const now = Date.now();
    if (primary) c.set('db', primaryDb(c.env.DB, config.d1Reads));
    if (deferred) {
      c.set('claims', claims);
      c.set('accessCheck', 'deferred');
      await next();
      // An answer without the check would serve a revoked token (a refusal is an error, not an answer).
      if (!c.error && c.get('accessCheck') !== 'done')
        throw new Error(`${c.req.path} answered without its access check`);
      return;
    }
    const ttl = cache && !primary ? config.accessCheckCacheTtl : 0;
    let user = ttl ? cachedCheck(claims.sub, claims.sid, claims.ver, ttl, now) : undefined;
    if (!user) {
      user = checkSubject(await findTokenSubject(c.get('db'), claims.sub, claims.sid, now), claims);
      if (config.accessCheckCacheTtl) {
        const fromReplica = !primary && mayReadReplica(config.d1Reads, c.req.method);
        const hold = fromReplica ? (config.accessCheckCacheTtl + config.d1ReplicaLagBound) * 1000 : 0;
        rememberCheck(user, claims.sid, now, hold);
      }
    }
    c.set('user', user);
    c.set('claims', claims);
    await next();
  });
};

/**
 * Authenticates (requireAuth) and allows only users whose current role is one of `roles`: the
 * role as the D1 primary holds it, not the token's nor a replica's, so a demotion applies to
 * the next request.
 */
export const requireRole = (...roles: Role[]): MiddlewareHandler<AppEnv>[] => {
  if (roles.length === 0) throw new Error('requireRole needs at least one role');
  return [
    requireAuth({ primary: true }),
    createMiddleware<AppEnv>(async (c, next) => {
      checkRole(roles, c.get('user').role);
      await next();
    }),
  ];
};

/**
 * The access check of a `requireAuth({ deferred: true })` route, in one D1 batch with the
 * route's own statement: one round trip. The statement runs whatever the check finds (a batch
 * is all or nothing), so it must be a read, or a write that carries the check in its own WHERE
 * (sessions' accessStillValid); its result is returned only to a caller that passed, with
 * `user` set on the context as requireAuth sets it. `roles`: as requireRole, on the same read.
 */
export async function withAccessCheck<T extends BatchItem<'sqlite'>>(
  c: Context<AppEnv>,
  statement: (db: Database) => T,
  roles?: readonly Role[],
): Promise<Awaited<T>> {
  if (c.get('accessCheck') !== 'deferred') throw new Error('withAccessCheck needs requireAuth({ deferred: true })');
  const db = c.get('db');
  const claims = c.get('claims');
  const [row, result] = await db.batch([tokenSubjectStatement(db, claims.sub, claims.sid, Date.now()), statement(db)]);
  const user = checkSubject(tokenSubject((row as Parameters<typeof tokenSubject>[0][])[0]), claims);
  if (roles) checkRole(roles, user.role);
  c.set('user', user);
  c.set('accessCheck', 'done');
  return result as Awaited<T>;
}
