import type { MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { secureHeaders } from 'hono/secure-headers';
import type { AppEnv } from '../env';

/**
 * What every answer carries, in one layer: each middleware layer is paid on every protected
 * request (issue 9's profile), and these three only decorate the response.
 *
 * - `X-Request-Id`: always ours, since a client-chosen id could forge or collide audit entries.
 * - Hono's security headers. HSTS for a year (ASVS 3.4.1; Hono's default is 180 days).
 * - `Cache-Control: no-store` unless the route chose: token and user data must never sit in
 *   a shared or browser cache.
 */
export const responseHeaders = (): MiddlewareHandler<AppEnv> => {
  const security = secureHeaders({
    strictTransportSecurity: 'max-age=31536000; includeSubDomains',
    contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    xFrameOptions: 'DENY',
    crossOriginResourcePolicy: 'same-origin',
    // Nothing here sets X-Powered-By; removing it would be one more call per response.
    removePoweredBy: false,
  });
  return createMiddleware<AppEnv>(async (c, next) => {
    const requestId = crypto.randomUUID();
    c.set('requestId', requestId);
    // Hono's own middleware, called in this layer rather than as a layer of its own.
    await security(c, next);
    const headers = c.res.headers;
    headers.set('X-Request-Id', requestId);
    if (!headers.has('Cache-Control')) headers.set('Cache-Control', 'no-store');
  });
};
