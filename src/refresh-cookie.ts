/**
 * The refresh token as an HttpOnly cookie, for browser SPAs that must keep it out of
 * JavaScript. Scoped to /auth so it travels only to the routes that use it; SameSite=Strict
 * plus an Origin check (below) keep other sites from riding on it.
 */
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { AppEnv } from './env';
import { ApiError } from './errors';

export const REFRESH_COOKIE = '__Secure-edge-auth-refresh';
const COOKIE_PATH = '/auth';

export function setRefreshCookie(c: Context<AppEnv>, token: string, maxAge: number): void {
  setCookie(c, REFRESH_COOKIE, token, { httpOnly: true, secure: true, sameSite: 'Strict', path: COOKIE_PATH, maxAge });
}

export function clearRefreshCookie(c: Context<AppEnv>): void {
  deleteCookie(c, REFRESH_COOKIE, { path: COOKIE_PATH, secure: true, httpOnly: true, sameSite: 'Strict' });
}

/**
 * The refresh token from the cookie, after a CSRF check: a cookie-authenticated request
 * must carry an Origin that is this service's own or one listed in CORS_ORIGINS.
 */
export function readRefreshCookie(c: Context<AppEnv>): string | undefined {
  const token = getCookie(c, REFRESH_COOKIE);
  if (!token) return undefined;
  const origin = c.req.header('Origin');
  const own = new URL(c.req.url).origin;
  if (!origin || (origin !== own && !c.var.config.corsOrigins.includes(origin))) {
    throw new ApiError(403, 'csrf_rejected', 'Cookie-authenticated requests must come from an allowed Origin.');
  }
  return token;
}
