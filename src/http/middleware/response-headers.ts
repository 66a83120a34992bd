import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../../platform/env';

/**
 * The security headers of every answer: what Hono's secureHeaders() writes, with HSTS for a
 * year (ASVS 3.4.1; Hono's default is 180 days), `X-Frame-Options: DENY` and a CSP that
 * allows nothing (the API serves no documents; the demo app and /docs are static assets with
 * their own). A constant list because secureHeaders() reads `c.res.headers` again for each of
 * its twelve headers, a measurable share of the protected path's CPU.
 */
const SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'DENY'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

/**
 * What every answer carries, error answers included, set in one layer after the route ran
 * (each layer is paid on every protected request):
 *
 * - `X-Request-Id`: always ours, since a client-chosen id could forge or collide audit entries.
 * - the security headers above.
 * - `Cache-Control: no-store` unless the route chose: token and user data must never sit in
 *   a shared or browser cache.
 * - `Vary: Origin` on answers to requests without one (API and mobile clients, which skip the
 *   CORS work): the answer to a browser's request differs, and a cache in between must know.
 */
export const responseHeaders = () =>
  createMiddleware<AppEnv>(async (c, next) => {
    const requestId = crypto.randomUUID();
    c.set('requestId', requestId);
    await next();
    const headers = c.res.headers;
    // The few HTML pages the Worker itself renders (the OAuth error page) bring their own CSP,
    // as strict as this one but for loading the app's stylesheet.
    const ownCsp = headers.get('Content-Security-Policy');
    for (const [name, value] of SECURITY_HEADERS) headers.set(name, value);
    if (ownCsp) headers.set('Content-Security-Policy', ownCsp);
    headers.set('X-Request-Id', requestId);
    if (!headers.has('Cache-Control')) headers.set('Cache-Control', 'no-store');
    if (c.req.header('Origin') === undefined) headers.append('Vary', 'Origin');
  });
