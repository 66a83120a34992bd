import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../../platform/env';
import { ApiError } from '../../platform/errors';
import { isLoopbackHost } from '../../platform/loopback';

/**
 * Refuses plain-HTTP requests except on loopback (`wrangler dev`). Refusing rather than
 * redirecting: a redirect would come after the credentials already crossed the network in
 * clear, and would teach clients to keep using http:// URLs.
 */
export const requireHttps = () =>
  createMiddleware<AppEnv>(async (c, next) => {
    // Every production request is https: decide on the string, parse only the exceptions.
    if (!c.req.url.startsWith('https://') && !isLoopbackHost(new URL(c.req.url).hostname)) {
      throw new ApiError(403, 'https_required', 'This service is only available over HTTPS.');
    }
    await next();
  });
