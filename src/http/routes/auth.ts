/** /auth/*: registration, login, tokens, logout, password change and the caller's own user. */
import type { Context } from 'hono';
import * as z from 'zod/mini';
import type { AccessUser } from '../../platform/db/schema';
import type { AppEnv } from '../../platform/env';
import { ApiError } from '../../platform/errors';
import { getKeyRing } from '../../credentials/keys';
import { requireAuth } from '../middleware/auth';
import { sessionProof } from '../middleware/dpop';
import { notifier } from '../middleware/context';
import { clearRefreshCookie, readRefreshCookie, setRefreshCookie } from '../../sessions/refresh-cookie';
import { createRouter, defineRoute } from '../routing';
import type { Tag } from '../tags';
import {
  credentialsSchema,
  json,
  newPasswordSchema,
  passwordSchema,
  problem,
  tokenResponseSchema,
  userSchema,
} from '../schemas';
import { audit } from '../../platform/audit';
import { changePassword, login, register } from '../../accounts/auth';
import { mfaRequired } from '../../two-factor/mfa';
import {
  logoutEverywhere,
  revokeByRefreshToken,
  rotateRefreshToken,
  type IssuedRefresh,
} from '../../sessions/sessions';
import { toPublicUser } from '../../accounts/users';
import { issueAccessToken } from '../../credentials/tokens';
import { replayedProof } from '../../dpop/replay';

const tags: Tag[] = ['auth'];

export const deliverySchema = z._default(z.enum(['body', 'cookie']), 'body').check(
  z.meta({
    description: '`cookie` puts the refresh token in an HttpOnly cookie (for browser SPAs) instead of the body',
  }),
);

/** The login/refresh response: an access token, and the refresh token in the body or a cookie. */
export async function tokenResponse(
  c: Context<AppEnv>,
  user: AccessUser,
  session: IssuedRefresh,
  delivery: 'body' | 'cookie',
) {
  const config = c.get('config');
  const access = await issueAccessToken(config, await getKeyRing(config), {
    userId: user.id,
    role: user.role,
    tokenVersion: user.tokenVersion,
    sessionId: session.sessionId,
    dpopJkt: session.dpopJkt,
  });
  if (delivery === 'cookie') setRefreshCookie(c, session.refreshToken, session.expiresIn);
  return {
    access_token: access.token,
    // RFC 9449 §5: a DPoP-bound session's tokens say so.
    token_type: session.dpopJkt ? ('DPoP' as const) : ('Bearer' as const),
    expires_in: access.expiresIn,
    ...(delivery === 'body' ? { refresh_token: session.refreshToken } : {}),
    refresh_expires_in: session.expiresIn,
    user: toPublicUser(user),
  };
}

/** Refresh and logout take the token from the body, or else from the refresh cookie. */
const refreshTokenBody = z.object({ refresh_token: z.optional(z.string().check(z.maxLength(512))) });

export const registerRoute = defineRoute({
  method: 'post',
  path: '/auth/register',
  request: {
    body: credentialsSchema,
    newPasswords: ['password'],
  },
  docs: API_DOCS && {
    operationId: 'register',
    tags,
    summary: 'Create a user (always with role `user`)',
    description:
      'Creates a user with role `user` and returns it. It does not sign in: call `login` next. The username is NFKC-normalised and unique case-insensitively; the password must meet the length rule and not be one of the most common passwords.',
    example: { username: 'alice', password: 'correct horse battery staple' },
    responses: {
      201: json(z.object({ user: userSchema }), 'The new user'),
      400: problem('Invalid input (`validation_failed`, `password_too_common`, `malformed_json`)'),
      409: problem('Username taken (`username_taken`)'),
      415: problem('Body is not JSON'),
      429: problem('Too many registrations from this address (`too_many_registrations`), see Retry-After'),
    },
  },
});

export const loginRoute = defineRoute({
  method: 'post',
  path: '/auth/login',
  request: {
    body: z.extend(credentialsSchema, { refresh_token_delivery: deliverySchema }),
  },
  docs: API_DOCS && {
    operationId: 'login',
    tags,
    summary: 'Exchange username and password for an access token and a refresh token',
    description:
      'Starts a session. The access token is short-lived (`expires_in` seconds) and goes in `Authorization: Bearer`; the refresh token, in the body or (`refresh_token_delivery: "cookie"`, for browser SPAs) in an HttpOnly cookie, gets new tokens from `refreshToken`. Failed attempts are throttled per account and address. A `DPoP` proof header binds the session (RFC 9449).',
    example: { username: 'alice', password: 'correct horse battery staple', refresh_token_delivery: 'body' },
    responses: {
      200: json(tokenResponseSchema, 'Tokens and the user'),
      400: problem('Invalid input, `invalid_dpop_proof` or `use_dpop_nonce`'),
      401: problem('Wrong username or password (`invalid_credentials`)'),
      403: problem(
        'Right password, and the user has two-factor on (`mfa_required`): no tokens, but `mfa_token` and `mfa_token_expires_in` for POST /auth/mfa/verify',
      ),
      429: problem(
        '`too_many_attempts`, see Retry-After: too many failed attempts (the window), or, with none failed, too many attempts for this account from this address still being checked (`Retry-After: 1`; at a known address LOGIN_KNOWN_ADDRESS_PARALLEL may be in flight). An account still on an imported hash also refuses past LEGACY_VERIFY_MAX_FAILURES failures an hour over all addresses',
      ),
      503: problem(
        'The user was imported from Flask with a hash only the companion Worker can check, and it is not configured or failed (`legacy_hash_unavailable`); README section 14',
      ),
    },
  },
});

export const refreshRoute = defineRoute({
  method: 'post',
  path: '/auth/refresh',
  request: { body: refreshTokenBody, bodyOptional: true },
  docs: API_DOCS && {
    operationId: 'refreshToken',
    tags,
    summary: 'Rotate a refresh token: new access token and new refresh token',
    description:
      'The refresh token comes from the body, or else from the refresh cookie (which needs an allowed Origin). Each refresh token works once: the answer carries its successor, delivered the same way. Presenting a spent one again revokes the whole session (`refresh_token_reused`). A DPoP-bound session needs a `DPoP` proof of its key.',
    refreshCookie: true,
    example: { refresh_token: 'dseXq0v…' },
    responses: {
      200: json(tokenResponseSchema, 'Fresh tokens'),
      400: problem('`invalid_dpop_proof` or `use_dpop_nonce`'),
      401: problem(
        '`invalid_refresh_token` (also a DPoP-bound one without a proof of its key), or `refresh_token_reused` (the whole session was revoked)',
      ),
      403: problem('Cookie sent without an allowed Origin (`csrf_rejected`)'),
    },
  },
});

export const logoutRoute = defineRoute({
  method: 'post',
  path: '/auth/logout',
  request: { body: refreshTokenBody, bodyOptional: true },
  docs: API_DOCS && {
    operationId: 'logout',
    tags,
    summary: 'End the session of a refresh token (idempotent)',
    description:
      'Revokes the session of the refresh token from the body or the refresh cookie, and clears the cookie. Access tokens of that session stop working at once. Answers 204 also when there was nothing to end.',
    refreshCookie: true,
    example: { refresh_token: 'dseXq0v…' },
    responses: { 204: { description: 'Logged out' }, 403: problem('`csrf_rejected`') },
  },
});

export const logoutAllRoute = defineRoute({
  method: 'post',
  path: '/auth/logout-all',
  middleware: [requireAuth()],
  docs: API_DOCS && {
    operationId: 'logoutAll',
    tags,
    summary: 'End every session of the caller and invalidate every access token issued so far',
    description:
      'For a lost device or a suspected leak: every session of the caller, on every device, ends, every access token issued to them so far stops working, and every outstanding password reset token ends.',
    bearer: true,
    responses: { 204: { description: 'Logged out everywhere' }, 401: problem('No or invalid access token') },
  },
});

export const passwordRoute = defineRoute({
  method: 'post',
  path: '/auth/password',
  middleware: [requireAuth()],
  request: {
    body: z.object({ current_password: passwordSchema, new_password: newPasswordSchema }),
    newPasswords: ['new_password'],
  },
  docs: API_DOCS && {
    operationId: 'changePassword',
    tags,
    summary: 'Change the password; other sessions and all access tokens are revoked',
    description:
      'Needs the current password. Every other session ends and every access token (the caller’s too) stops working; the caller’s own session continues, so its refresh token gets a fresh access token. Every outstanding password reset token ends, and the user’s verified address gets a notice. Wrong current passwords are throttled like failed logins.',
    bearer: true,
    example: { current_password: 'correct horse battery staple', new_password: 'a-new-and-unusual-passphrase' },
    responses: {
      204: { description: 'Changed' },
      400: problem('Invalid new password'),
      401: problem('Wrong current password (`invalid_credentials`) or invalid access token'),
      429: problem('Too many wrong passwords'),
      503: problem(
        'The user was imported from Flask with a hash only the companion Worker can check, and it is not configured or failed (`legacy_hash_unavailable`); README section 14',
      ),
    },
  },
});

const meResponse = z.object({ user: userSchema });

export const protectedRoute = defineRoute({
  method: 'get',
  path: '/auth/protected',
  middleware: [requireAuth({ cache: true })],
  docs: API_DOCS && {
    operationId: 'getProtected',
    tags,
    summary: 'A protected greeting (the tutorial route)',
    description: 'Answers only with a valid access token: the simplest way to check one end to end.',
    bearer: true,
    responses: {
      200: json(z.object({ message: z.string(), user: userSchema }), 'Greeting'),
      401: problem('No or invalid access token'),
    },
  },
});

export const meRoute = defineRoute({
  method: 'get',
  path: '/auth/me',
  middleware: [requireAuth({ cache: true })],
  docs: API_DOCS && {
    operationId: 'getMe',
    tags,
    summary: 'The caller',
    description:
      'The user the access token belongs to, as stored now: a role changed since login shows here (with `ACCESS_CHECK_CACHE_TTL` set, within that many seconds).',
    bearer: true,
    responses: { 200: json(meResponse, 'The caller'), 401: problem('No or invalid access token') },
  },
});

export const authRouter = createRouter()
  .route(registerRoute, async (c) => {
    const user = await register(c.get('db'), c.get('config'), {
      ...c.req.valid('json'),
      requestId: c.get('requestId'),
      ip: c.get('clientIp'),
    });
    return c.json({ user: toPublicUser(user) }, 201);
  })
  .route(loginRoute, async (c) => {
    const { username, password, refresh_token_delivery } = c.req.valid('json');
    const result = await login(c.get('db'), c.get('config'), {
      username,
      password,
      ip: c.get('clientIp'),
      userAgent: c.req.header('User-Agent'),
      requestId: c.get('requestId'),
      delivery: refresh_token_delivery,
      legacyHashes: c.env.LEGACY_HASHES,
      defer: (work) => c.executionCtx.waitUntil(work),
      dpop: await sessionProof(c),
    });
    if (result.mfa) throw mfaRequired(result.mfa.challenge);
    return c.json(await tokenResponse(c, result.user, result.session, refresh_token_delivery), 200);
  })
  .route(refreshRoute, async (c) => {
    const fromBody = c.req.valid('json').refresh_token;
    const presented = fromBody ?? readRefreshCookie(c);
    if (!presented) throw new ApiError(401, 'invalid_refresh_token', 'No refresh token was sent.');
    const proof = await sessionProof(c);
    const outcome = await rotateRefreshToken(c.get('db'), c.get('config'), presented, Date.now(), { dpop: proof });
    if (outcome.kind === 'refused') {
      audit('refresh_dpop_refused', {
        requestId: c.get('requestId'),
        userId: outcome.userId,
        sessionId: outcome.sessionId,
        ip: c.get('clientIp'),
        reason: outcome.reason,
      });
      if (outcome.reason === 'replayed_proof') throw replayedProof();
      throw new ApiError(401, 'invalid_refresh_token', 'This refresh token needs a DPoP proof of its key.');
    }
    if (outcome.kind === 'reused') {
      audit('refresh_reuse_detected', {
        requestId: c.get('requestId'),
        userId: outcome.userId,
        sessionId: outcome.sessionId,
        ip: c.get('clientIp'),
      });
      if (!fromBody) clearRefreshCookie(c);
      throw new ApiError(
        401,
        'refresh_token_reused',
        'This refresh token was already used; the session has been revoked.',
      );
    }
    audit('refresh', { requestId: c.get('requestId'), userId: outcome.user.id, sessionId: outcome.issued.sessionId });
    return c.json(await tokenResponse(c, outcome.user, outcome.issued, fromBody ? 'body' : 'cookie'), 200);
  })
  .route(logoutRoute, async (c) => {
    const fromBody = c.req.valid('json').refresh_token;
    const presented = fromBody ?? readRefreshCookie(c);
    const ended = presented ? await revokeByRefreshToken(c.get('db'), presented, Date.now()) : null;
    if (ended) audit('logout', { requestId: c.get('requestId'), ...ended });
    clearRefreshCookie(c);
    return c.body(null, 204);
  })
  .route(logoutAllRoute, async (c) => {
    await logoutEverywhere(c.get('db'), c.get('user').id, Date.now());
    audit('logout_all', { requestId: c.get('requestId'), userId: c.get('user').id });
    clearRefreshCookie(c);
    return c.body(null, 204);
  })
  .route(passwordRoute, async (c) => {
    const { current_password, new_password } = c.req.valid('json');
    await changePassword(c.get('db'), c.get('config'), {
      user: c.get('user'),
      currentPassword: current_password,
      newPassword: new_password,
      sessionId: c.get('claims').sid,
      ip: c.get('clientIp'),
      requestId: c.get('requestId'),
      legacyHashes: c.env.LEGACY_HASHES,
      notify: notifier(c),
    });
    return c.body(null, 204);
  })
  .route(protectedRoute, (c) => {
    const user = c.get('user');
    return c.json({ message: `Hello, ${user.username}!`, user: toPublicUser(user) }, 200);
  })
  .route(meRoute, (c) => c.json({ user: toPublicUser(c.get('user')) }, 200));
