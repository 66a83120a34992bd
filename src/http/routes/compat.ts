/**
 * Flask-JWT compatibility: /signup, /auth and /hello answer as the Flask-JWT tutorial did,
 * so its clients move over unchanged. Same users, hashing, throttling and tokens as /auth/*.
 */
import * as z from 'zod/mini';
import { ApiError } from '../../platform/errors';
import { getKeyRing } from '../../credentials/keys';
import { requireAuth } from '../middleware/auth';
import { createRouter, defineRoute } from '../routing';
import type { Tag } from '../tags';
import { credentialsSchema, json, problem } from '../schemas';
import { login, register } from '../../accounts/auth';
import { mfaRequired } from '../../two-factor/mfa';
import { issueAccessToken } from '../../credentials/tokens';

const tags: Tag[] = ['flask-jwt compatibility'];
const statusSchema = z.object({ Status: z.enum(['Success', 'Error']), result: z.string() });

export const signupRoute = defineRoute({
  method: 'post',
  path: '/signup',
  request: { body: credentialsSchema },
  docs: API_DOCS && {
    operationId: 'flaskSignup',
    tags,
    summary: 'Flask-JWT tutorial signup',
    description: 'Registration as the Flask-JWT tutorial answered it. New clients use `register`.',
    example: { username: 'alice', password: 'correct horse battery staple' },
    responses: {
      200: json(statusSchema, '`{"Status":"Success","result":"User created"}`'),
      400: json(
        statusSchema,
        '`{"Status":"Error","result":"User already exists"}`; invalid input is a problem document',
      ),
      429: problem('Too many registrations from this address (`too_many_registrations`), see Retry-After'),
    },
  },
});

export const flaskAuthRoute = defineRoute({
  method: 'post',
  path: '/auth',
  request: { body: credentialsSchema },
  docs: API_DOCS && {
    operationId: 'flaskLogin',
    tags,
    summary: 'Flask-JWT login: an access token only (no refresh token)',
    description:
      'Login as the Flask-JWT tutorial answered it: `{"access_token"}` only, no refresh token. It still belongs to a session, listed and ended like any other. Same users, throttling and tokens as `login`; new clients use `login`.',
    example: { username: 'alice', password: 'correct horse battery staple' },
    responses: {
      200: json(z.object({ access_token: z.string() }), 'The access token'),
      401: problem('`invalid_credentials`'),
      403: problem('The user has two-factor on (`mfa_required`); this route cannot complete such a login'),
      429: problem('`too_many_attempts`, see Retry-After (as for POST /auth/login)'),
      503: problem('`legacy_hash_unavailable`: an imported Flask hash that only the companion Worker can check'),
    },
  },
});

export const helloRoute = defineRoute({
  method: 'get',
  path: '/hello',
  middleware: [requireAuth({ schemes: ['JWT', 'Bearer'], cache: true })],
  docs: API_DOCS && {
    operationId: 'flaskHello',
    tags,
    summary: 'Flask-JWT protected greeting',
    description: 'Accepts `Authorization: JWT <token>` (Flask-JWT’s scheme) or `Bearer <token>`.',
    bearer: true,
    responses: {
      200: json(statusSchema, '`{"Status":"Success","result":"Hello <username>"}`'),
      401: problem('No or invalid token'),
    },
  },
});

export const compatRouter = createRouter()
  .route(signupRoute, async (c) => {
    try {
      await register(c.get('db'), c.get('config'), {
        ...c.req.valid('json'),
        requestId: c.get('requestId'),
        ip: c.get('clientIp'),
      });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'username_taken') {
        return c.json({ Status: 'Error' as const, result: 'User already exists' }, 400);
      }
      throw err;
    }
    return c.json({ Status: 'Success' as const, result: 'User created' }, 200);
  })
  .route(flaskAuthRoute, async (c) => {
    // A session like every login, so /auth/sessions lists it and revoke, logout-all and
    // reuse detection end it; Flask-JWT clients just never see its refresh token.
    const result = await login(c.get('db'), c.get('config'), {
      ...c.req.valid('json'),
      ip: c.get('clientIp'),
      userAgent: c.req.header('User-Agent'),
      requestId: c.get('requestId'),
      legacyHashes: c.env.LEGACY_HASHES,
      defer: (work) => c.executionCtx.waitUntil(work),
    });
    // Flask-JWT clients cannot answer a second-factor challenge: no token for such users.
    if (result.mfa) throw mfaRequired(null);
    const { user, session } = result;
    // Flask-JWT clients cannot answer a second-factor challenge: no token for such users.
    if (result.mfa) throw mfaRequired(null);
    const config = c.get('config');
    const access = await issueAccessToken(config, await getKeyRing(config), {
      userId: user.id,
      role: user.role,
      tokenVersion: user.tokenVersion,
      sessionId: session.sessionId,
    });
    return c.json({ access_token: access.token }, 200);
  })
  .route(helloRoute, (c) => c.json({ Status: 'Success' as const, result: `Hello ${c.get('user').username}` }, 200));
