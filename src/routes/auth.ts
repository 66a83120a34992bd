/** /auth/*: registration, login, tokens, logout, password change and the caller's own user. */
import type { Context } from 'hono';
import * as z from 'zod';
import type { User } from '../db/schema';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { getKeyRing } from '../keys';
import { requireAuth } from '../middleware/auth';
import { clearRefreshCookie, readRefreshCookie, setRefreshCookie } from '../refresh-cookie';
import { createRouter, defineRoute } from '../routing';
import {
  credentialsSchema,
  json,
  newPasswordSchema,
  passwordSchema,
  problem,
  tokenResponseSchema,
  userSchema,
} from '../schemas';
import { audit } from '../services/audit';
import { changePassword, login, register } from '../services/auth';
import { logoutEverywhere, revokeByRefreshToken, rotateRefreshToken, type IssuedRefresh } from '../services/sessions';
import { toPublicUser } from '../services/users';
import { issueAccessToken } from '../tokens';

const tags = ['auth'];

const deliverySchema = z.enum(['body', 'cookie']).default('body').meta({
  description: '`cookie` puts the refresh token in an HttpOnly cookie (for browser SPAs) instead of the body',
});

/** The login/refresh response: an access token, and the refresh token in the body or a cookie. */
async function tokenResponse(c: Context<AppEnv>, user: User, session: IssuedRefresh, delivery: 'body' | 'cookie') {
  const config = c.var.config;
  const access = await issueAccessToken(config, await getKeyRing(config), {
    userId: user.id,
    role: user.role,
    tokenVersion: user.tokenVersion,
    sessionId: session.sessionId,
  });
  if (delivery === 'cookie') setRefreshCookie(c, session.refreshToken, session.expiresIn);
  return {
    access_token: access.token,
    token_type: 'Bearer' as const,
    expires_in: access.expiresIn,
    ...(delivery === 'body' ? { refresh_token: session.refreshToken } : {}),
    refresh_expires_in: session.expiresIn,
    user: toPublicUser(user),
  };
}

/** Refresh and logout take the token from the body, or else from the refresh cookie. */
const refreshTokenBody = z.object({ refresh_token: z.string().max(512).optional() });

export const registerRoute = defineRoute({
  method: 'post',
  path: '/auth/register',
  tags,
  summary: 'Create a user (always with role `user`)',
  request: { body: credentialsSchema },
  responses: {
    201: json(z.object({ user: userSchema }), 'The new user'),
    400: problem('Invalid input (`validation_failed`, `password_too_common`, `malformed_json`)'),
    409: problem('Username taken (`username_taken`)'),
    415: problem('Body is not JSON'),
  },
});

export const loginRoute = defineRoute({
  method: 'post',
  path: '/auth/login',
  tags,
  summary: 'Exchange username and password for an access token and a refresh token',
  request: { body: credentialsSchema.extend({ refresh_token_delivery: deliverySchema }) },
  responses: {
    200: json(tokenResponseSchema, 'Tokens and the user'),
    400: problem('Invalid input'),
    401: problem('Wrong username or password (`invalid_credentials`)'),
    429: problem('Too many failed attempts (`too_many_attempts`), see Retry-After'),
  },
});

export const refreshRoute = defineRoute({
  method: 'post',
  path: '/auth/refresh',
  tags,
  summary: 'Rotate a refresh token: new access token and new refresh token',
  description:
    'The refresh token comes from the body, or else from the refresh cookie (which needs an allowed Origin).',
  request: { body: refreshTokenBody, bodyOptional: true },
  responses: {
    200: json(tokenResponseSchema, 'Fresh tokens'),
    401: problem('`invalid_refresh_token`, or `refresh_token_reused` (the whole session was revoked)'),
    403: problem('Cookie sent without an allowed Origin (`csrf_rejected`)'),
  },
});

export const logoutRoute = defineRoute({
  method: 'post',
  path: '/auth/logout',
  tags,
  summary: 'End the session of a refresh token (idempotent)',
  request: { body: refreshTokenBody, bodyOptional: true },
  responses: { 204: { description: 'Logged out' }, 403: problem('`csrf_rejected`') },
});

export const logoutAllRoute = defineRoute({
  method: 'post',
  path: '/auth/logout-all',
  tags,
  summary: 'End every session of the caller and invalidate every access token issued so far',
  middleware: [requireAuth()],
  bearer: true,
  responses: { 204: { description: 'Logged out everywhere' }, 401: problem('No or invalid access token') },
});

export const passwordRoute = defineRoute({
  method: 'post',
  path: '/auth/password',
  tags,
  summary: 'Change the password; other sessions and all access tokens are revoked',
  middleware: [requireAuth()],
  bearer: true,
  request: { body: z.object({ current_password: passwordSchema, new_password: newPasswordSchema }) },
  responses: {
    204: { description: 'Changed' },
    400: problem('Invalid new password'),
    401: problem('Wrong current password (`invalid_credentials`) or invalid access token'),
    429: problem('Too many wrong passwords'),
  },
});

const meResponse = z.object({ user: userSchema });

export const protectedRoute = defineRoute({
  method: 'get',
  path: '/auth/protected',
  tags,
  summary: 'A protected greeting (the tutorial route)',
  middleware: [requireAuth({ cache: true })],
  bearer: true,
  responses: {
    200: json(z.object({ message: z.string(), user: userSchema }), 'Greeting'),
    401: problem('No or invalid access token'),
  },
});

export const meRoute = defineRoute({
  method: 'get',
  path: '/auth/me',
  tags,
  summary: 'The caller',
  middleware: [requireAuth({ cache: true })],
  bearer: true,
  responses: { 200: json(meResponse, 'The caller'), 401: problem('No or invalid access token') },
});

export const authRouter = createRouter()
  .route(registerRoute, async (c) => {
    const user = await register(c.var.db, c.var.config, {
      ...c.req.valid('json'),
      requestId: c.var.requestId,
      ip: c.var.clientIp,
    });
    return c.json({ user: toPublicUser(user) }, 201);
  })
  .route(loginRoute, async (c) => {
    const { username, password, refresh_token_delivery } = c.req.valid('json');
    const result = await login(c.var.db, c.var.config, {
      username,
      password,
      ip: c.var.clientIp,
      userAgent: c.req.header('User-Agent'),
      requestId: c.var.requestId,
    });
    return c.json(await tokenResponse(c, result.user, result.session, refresh_token_delivery), 200);
  })
  .route(refreshRoute, async (c) => {
    const fromBody = c.req.valid('json').refresh_token;
    const presented = fromBody ?? readRefreshCookie(c);
    if (!presented) throw new ApiError(401, 'invalid_refresh_token', 'No refresh token was sent.');
    const outcome = await rotateRefreshToken(c.var.db, c.var.config, presented, Date.now());
    if (outcome.kind === 'reused') {
      audit('refresh_reuse_detected', {
        requestId: c.var.requestId,
        userId: outcome.userId,
        sessionId: outcome.sessionId,
        ip: c.var.clientIp,
      });
      if (!fromBody) clearRefreshCookie(c);
      throw new ApiError(
        401,
        'refresh_token_reused',
        'This refresh token was already used; the session has been revoked.',
      );
    }
    audit('refresh', { requestId: c.var.requestId, userId: outcome.user.id, sessionId: outcome.issued.sessionId });
    return c.json(await tokenResponse(c, outcome.user, outcome.issued, fromBody ? 'body' : 'cookie'), 200);
  })
  .route(logoutRoute, async (c) => {
    const fromBody = c.req.valid('json').refresh_token;
    const presented = fromBody ?? readRefreshCookie(c);
    const ended = presented ? await revokeByRefreshToken(c.var.db, presented, Date.now()) : null;
    if (ended) audit('logout', { requestId: c.var.requestId, ...ended });
    clearRefreshCookie(c);
    return c.body(null, 204);
  })
  .route(logoutAllRoute, async (c) => {
    await logoutEverywhere(c.var.db, c.var.user.id, Date.now());
    audit('logout_all', { requestId: c.var.requestId, userId: c.var.user.id });
    clearRefreshCookie(c);
    return c.body(null, 204);
  })
  .route(passwordRoute, async (c) => {
    const { current_password, new_password } = c.req.valid('json');
    await changePassword(c.var.db, c.var.config, {
      user: c.var.user,
      currentPassword: current_password,
      newPassword: new_password,
      sessionId: c.var.claims.sid,
      ip: c.var.clientIp,
      requestId: c.var.requestId,
    });
    return c.body(null, 204);
  })
  .route(protectedRoute, (c) => {
    const user = c.var.user;
    return c.json({ message: `Hello, ${user.username}!`, user: toPublicUser(user) }, 200);
  })
  .route(meRoute, (c) => c.json({ user: toPublicUser(c.var.user) }, 200));
