/**
 * The refresh token as an HttpOnly cookie, for browser SPAs that must keep it out of
 * JavaScript. SameSite=Strict plus an Origin check (below) keep other sites from riding on it.
 *
 * The `__Host-` prefix makes browsers refuse the cookie unless it is Secure, has `Path=/` and
 * no `Domain`: a sibling subdomain (`app.example.com` beside `auth.example.com`) can then
 * neither set nor shadow it. A `__Secure-` cookie with a narrower Path could be overwritten
 * from such a sibling ("cookie tossing"), and a more specific Path would win on send.
 */
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { AppEnv } from '../platform/env';
import { ApiError } from '../platform/errors';

export const REFRESH_COOKIE = '__Host-edge-auth-refresh';
/** The name and path used before the `__Host-` cookie; cleared wherever the new one is touched. */
export const LEGACY_REFRESH_COOKIE = { name: '__Secure-edge-auth-refresh', path: '/auth' } as const;

const attributes = { httpOnly: true, secure: true, sameSite: 'Strict', path: '/' } as const;

function clearLegacyCookie(c: Context<AppEnv>): void {
  deleteCookie(c, LEGACY_REFRESH_COOKIE.name, { ...attributes, path: LEGACY_REFRESH_COOKIE.path });
}

export function setRefreshCookie(c: Context<AppEnv>, token: string, maxAge: number): void {
  setCookie(c, REFRESH_COOKIE, token, { ...attributes, maxAge });
  clearLegacyCookie(c);
}

export function clearRefreshCookie(c: Context<AppEnv>): void {
  deleteCookie(c, REFRESH_COOKIE, { ...attributes });
  clearLegacyCookie(c);
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
  if (!origin || (origin !== own && !c.get('config').corsOrigins.includes(origin))) {
    throw new ApiError(403, 'csrf_rejected', 'Cookie-authenticated requests must come from an allowed Origin.');
  }
  return token;
}
