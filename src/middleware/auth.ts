/**
 * Bearer authentication and role checks. The token proves who the caller was when it was
 * issued; the user row and the token's session, read from D1 on every protected request
 * (one query), say who they are now: deleted users, demotions, logout, revoked sessions and
 * logout-all take effect at once.
 */
import { createMiddleware } from 'hono/factory';
import type { Role } from '../db/schema';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { getKeyRing } from '../keys';
import { findTokenSubject } from '../services/sessions';
import { verifyAccessToken } from '../tokens';

const REALM = 'edge-auth';

/** RFC 6750 §3: no `error` attribute when the request carried no credentials at all. */
function challenge(err?: { code: string; detail: string }): string {
  if (!err) return `Bearer realm="${REALM}"`;
  return `Bearer realm="${REALM}", error="${err.code}", error_description="${err.detail.replaceAll('"', "'")}"`;
}

function unauthorized(detail: string, withError: boolean): ApiError {
  return new ApiError(401, withError ? 'invalid_token' : 'unauthorized', detail, {
    headers: { 'WWW-Authenticate': challenge(withError ? { code: 'invalid_token', detail } : undefined) },
  });
}

/**
 * Requires a valid access token. `schemes` lists the accepted Authorization schemes
 * (`JWT` is Flask-JWT's, kept for its clients on the compatibility routes).
 */
export const requireAuth = (schemes: readonly string[] = ['Bearer']) => {
  const accepted = new Set(schemes.map((s) => s.toLowerCase()));
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header('Authorization')?.trim();
    const [scheme = '', ...rest] = header ? header.split(/ +/) : [];
    // RFC 6750 §3.1: no credentials, or another scheme (Basic, ...), gets a bare challenge.
    if (!accepted.has(scheme.toLowerCase())) {
      throw unauthorized(`This route requires an access token (Authorization: ${schemes[0]} <token>).`, false);
    }
    const token = rest.length === 1 && /^[A-Za-z0-9_.~+/=-]+$/.test(rest[0]!) ? rest[0] : undefined;
    if (!token) throw unauthorized('The Authorization header does not carry one well-formed token.', true);

    const config = c.var.config;
    let claims;
    try {
      claims = await verifyAccessToken(config, await getKeyRing(config), token);
    } catch (err) {
      if (err instanceof ApiError) throw unauthorized(err.detail, true);
      throw err;
    }
    const subject = await findTokenSubject(c.var.db, claims.sub, claims.sid, Date.now());
    if (!subject) throw unauthorized('The user of this token no longer exists.', true);
    const { user, sessionLive } = subject;
    if (user.tokenVersion !== claims.ver || !sessionLive) {
      throw unauthorized('The access token has been revoked.', true);
    }
    c.set('user', user);
    c.set('claims', claims);
    await next();
  });
};

/** Allows only users whose current role (from D1, not the token) is one of `roles`. */
export const requireRole = (...roles: Role[]) => {
  if (roles.length === 0) throw new Error('requireRole needs at least one role');
  return createMiddleware<AppEnv>(async (c, next) => {
    if (!roles.includes(c.var.user.role)) {
      throw new ApiError(403, 'forbidden', `This route requires the ${roles.join(' or ')} role.`);
    }
    await next();
  });
};
