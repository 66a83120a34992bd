import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../../platform/env';
import { ApiError } from '../../platform/errors';

/**
 * CSRF protection of the hosted pages' JSON endpoints (sign in, verify, consent, logout): only
 * the service's own pages may call them, never another site, and not even an origin listed in
 * CORS_ORIGINS (an SPA trusted with the API must still not be able to click Allow for its user).
 *
 * - `Sec-Fetch-Site` (Fetch Metadata), when the browser sends it, must be `same-origin`;
 * - `Origin`, which browsers send on every POST, must be this service's own;
 * - the body must be JSON (jsonBody), which a cross-site form cannot send and a cross-site
 *   fetch cannot send without a CORS preflight that this check then refuses.
 *
 * The cookies these endpoints read are SameSite too, so each layer holds on its own.
 */
export const sameOriginOnly = () =>
  createMiddleware<AppEnv>(async (c, next) => {
    const site = c.req.header('Sec-Fetch-Site');
    const origin = c.req.header('Origin');
    if ((site !== undefined && site !== 'same-origin') || origin !== new URL(c.req.url).origin) {
      throw new ApiError(403, 'csrf_rejected', 'This endpoint answers only the service’s own pages.');
    }
    await next();
  });
