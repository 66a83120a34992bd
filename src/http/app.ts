/**
 * Builds the app: global middleware (outermost first), the routers (routers.ts), and the one
 * place where every error becomes a problem+json response.
 */
import type { Context } from 'hono';
import { Hono } from './hono';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import type { AppEnv } from '../platform/env';
import { ApiError, ConfigError, problemBody, problemResponse, type ErrorCode } from '../platform/errors';
import { isLoopbackHost } from '../platform/loopback';
import { OAuthError, oauthErrorResponse, type OAuthErrorCode } from '../oauth/errors';
import { OAUTH_PATHS } from '../oauth/endpoints';
import { context } from './middleware/context';
import { requireHttps } from './middleware/https';
import { responseHeaders } from './middleware/response-headers';
import { MAX_BODY_BYTES } from './schemas';
import { routers } from './routers';

export { MAX_BODY_BYTES };

/** The OAuth endpoints a browser-based client calls with fetch (not the authorization pages it navigates to). */
const OAUTH_CORS_PATHS = new Set<string>([
  OAUTH_PATHS.token,
  OAUTH_PATHS.deviceAuthorization,
  OAUTH_PATHS.userinfo,
  OAUTH_PATHS.revocation,
  OAUTH_PATHS.introspection,
  OAUTH_PATHS.registration,
  OAUTH_PATHS.jwks,
  '/.well-known/openid-configuration',
  '/.well-known/oauth-authorization-server',
]);

/**
 * On OAuth endpoints, the service's own errors in the RFC's terms: request-validation failures
 * become the route's validation code, a refused Bearer token `invalid_token` (RFC 6750), a rate
 * limit `temporarily_unavailable`. Headers (WWW-Authenticate, Retry-After) are kept.
 */
function asOAuthError(err: ApiError | HTTPException, validation: OAuthErrorCode): OAuthError {
  const status = err.status;
  const headers: Record<string, string> =
    err instanceof ApiError ? { ...err.extra.headers } : Object.fromEntries(err.getResponse().headers);
  const description = err instanceof ApiError ? err.detail : err.message || 'Bad request.';
  // RFC 9449's codes are OAuth's too (src/dpop/errors.ts), with their status and DPoP headers.
  if (err instanceof ApiError && (err.code === 'invalid_dpop_proof' || err.code === 'use_dpop_nonce')) {
    return new OAuthError(err.code, description, { status, headers });
  }
  if (status === 401) return new OAuthError('invalid_token', description, { headers });
  if (status === 403) return new OAuthError('insufficient_scope', description, { headers });
  if (status === 429) return new OAuthError('temporarily_unavailable', description, { status, headers });
  if (status >= 500) return new OAuthError('server_error', 'Internal server error.', { status });
  const detail = err instanceof ApiError && err.extra.errors?.length ? err.extra.errors : undefined;
  const named = detail ? `${description} ${detail.map((e) => `${e.field}: ${e.message}`).join('; ')}` : description;
  return new OAuthError(status === 400 ? validation : 'invalid_request', named, { status, headers });
}

function renderError(err: unknown, c: Context<AppEnv>): Response {
  const requestId = c.get('requestId');
  const oauth = c.get('oauthErrors');
  if (oauth && (err instanceof ApiError || err instanceof HTTPException)) err = asOAuthError(err, oauth.validation);
  if (err instanceof OAuthError) return oauthErrorResponse(err, requestId ? { 'X-Request-Id': requestId } : {});
  const render = (
    status: number,
    code: ErrorCode,
    detail: string,
    extra: Pick<ApiError['extra'], 'errors' | 'members'> = {},
  ) =>
    problemResponse(problemBody(status, code, detail, { ...extra, requestId }), {
      'Cache-Control': 'no-store',
      ...(requestId ? { 'X-Request-Id': requestId } : {}),
    });

  if (err instanceof ApiError) {
    const res = render(err.status, err.code, err.detail, { errors: err.extra.errors, members: err.extra.members });
    for (const [name, value] of Object.entries(err.extra.headers ?? {})) res.headers.set(name, value);
    return res;
  }
  if (err instanceof HTTPException) {
    // Hono's own (e.g. its validator's) 4xx; keep headers such as WWW-Authenticate.
    const codes: Partial<Record<number, ErrorCode>> = {
      401: 'unauthorized',
      413: 'payload_too_large',
      415: 'unsupported_media_type',
    };
    const code = codes[err.status] ?? 'validation_failed';
    const res = render(err.status, code, err.status >= 500 ? 'Internal server error.' : err.message || 'Bad request.');
    err.getResponse().headers.forEach((value, name) => {
      if (name.toLowerCase() === 'www-authenticate') res.headers.set(name, value);
    });
    return res;
  }
  if (err instanceof ConfigError) {
    // The message names variables, never their values, so the operator can act on it. The log
    // is the operator's; a caller learns which secret is missing only on loopback (a developer
    // at `wrangler dev`): anyone else would learn what the deployment lacks, e.g. that
    // two-factor codes cannot be checked.
    console.error(JSON.stringify({ type: 'error', kind: 'config', message: err.message, request_id: requestId }));
    const local = isLoopbackHost(new URL(c.req.url).hostname);
    return render(500, 'misconfigured', local ? err.message : 'The service is misconfigured.');
  }
  // Name and first stack frame only: messages of query errors carry bound parameters
  // (password hashes, token hashes), which must never reach the logs.
  const frame = err instanceof Error ? err.stack?.split('\n').find((line) => line.trim().startsWith('at ')) : undefined;
  console.error(
    JSON.stringify({
      type: 'error',
      kind: 'unexpected',
      name: err instanceof Error ? err.name : typeof err,
      at: frame?.trim(),
      request_id: requestId,
    }),
  );
  return render(500, 'internal_error', 'An unexpected error occurred.');
}

export function createApp() {
  const app = new Hono<AppEnv>();

  app.use(responseHeaders());
  app.use(context());
  const corsForBrowsers = cors({
    // Never `*`, never an echo: only origins listed in CORS_ORIGINS get CORS headers.
    origin: (origin, c: Context<AppEnv>) => (c.get('config').corsOrigins.includes(origin) ? origin : null),
    credentials: true,
    allowMethods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowHeaders: ['Authorization', 'Content-Type', 'DPoP'],
    exposeHeaders: ['DPoP-Nonce', 'Retry-After', 'WWW-Authenticate', 'X-Request-Id'],
    maxAge: 600,
  });
  // The OAuth machine endpoints take no cookies (a client authenticates itself, a token is a
  // Bearer), so any origin may call them without credentials: a browser SPA on its own origin
  // is an OAuth client like any other (RFC 9700 §4.2 leaves CORS to the server; `*` without
  // credentials hands no ambient authority to the calling page).
  const corsForOAuthClients = cors({
    origin: '*',
    allowMethods: ['GET', 'POST'],
    allowHeaders: ['Authorization', 'Content-Type'],
    exposeHeaders: ['Retry-After', 'WWW-Authenticate', 'X-Request-Id'],
    maxAge: 600,
  });
  // Only browsers send Origin; API and mobile clients (most protected calls) skip the CORS work.
  app.use((c, next) => {
    if (c.req.header('Origin') === undefined) return next();
    return (OAUTH_CORS_PATHS.has(c.req.path) ? corsForOAuthClients : corsForBrowsers)(c, next);
  });
  app.use(requireHttps());

  for (const router of routers) app.route('/', router.app);

  // A known path with another method is a 405 with Allow, not a 404.
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const routes = app.routes
    .filter((r) => r.method !== 'ALL')
    .map((r) => ({
      method: r.method,
      pattern: new RegExp(
        `^${r.path
          .split(/(:[^/]+)/)
          .map((part) => (part.startsWith(':') ? '[^/]+' : escape(part)))
          .join('')}$`,
      ),
    }));
  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    const allowed = [...new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method))];
    const method = c.req.method === 'HEAD' ? 'GET' : c.req.method;
    if (allowed.length > 0 && !allowed.includes(method)) {
      throw new ApiError(405, 'method_not_allowed', `${c.req.method} is not allowed here; use ${allowed.join(', ')}.`, {
        headers: { Allow: allowed.join(', ') },
      });
    }
    throw new ApiError(404, 'not_found', `No route for ${c.req.method} ${path}.`);
  });
  app.onError(renderError);
  return app;
}
