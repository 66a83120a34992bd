/** /auth/api-keys: the caller's personal API keys (src/api-keys/). */
import type { Context } from 'hono';
import * as z from 'zod/mini';
import type { AppEnv } from '../../platform/env';
import { createApiKey, listApiKeys, revokeApiKey, MAX_API_KEY_LIFETIME, type ApiKey } from '../../api-keys/api-keys';
import { requireAuth } from '../middleware/auth';
import { notifier, requestLog } from '../middleware/context';
import { createRouter, defineRoute } from '../routing';
import { json, passwordSchema, problem } from '../schemas';
import type { Tag } from '../tags';

const tags: Tag[] = ['api-keys'];
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Documentation only: `API_DOCS ? … : (undefined as never)` keeps it out of the Worker. */
const apiKeySchema = API_DOCS
  ? z.object({
      id: z.string().check(z.meta({ description: 'The key’s client_id' })),
      name: z.string(),
      scope: z.string(),
      created_at: z.iso.datetime(),
      last_used_at: z.nullable(z.iso.datetime()).check(z.meta({ description: 'When it last got an access token' })),
      expires_at: z.nullable(z.iso.datetime()),
    })
  : (undefined as never);
const toPublic = (key: ApiKey) => ({
  id: key.id,
  name: key.name,
  scope: key.scope,
  created_at: iso(key.createdAt)!,
  last_used_at: iso(key.lastUsedAt),
  expires_at: iso(key.expiresAt),
});

export const createApiKeyRoute = defineRoute({
  method: 'post',
  path: '/auth/api-keys',
  middleware: [requireAuth()],
  request: {
    body: z.object({
      name: z.string().check(z.trim(), z.minLength(1), z.maxLength(64)),
      scope: z.string().check(z.minLength(1), z.maxLength(1000)),
      expires_in: z.optional(z.number().check(z.int(), z.minimum(60), z.maximum(MAX_API_KEY_LIFETIME))),
      current_password: z.optional(passwordSchema),
      code: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
    }),
  },
  docs: API_DOCS && {
    operationId: 'createApiKey',
    tags,
    summary: 'Create a personal API key: a client_id and a secret, shown once',
    description:
      'For scripts acting as the caller (`expires_in` in seconds; none: it does not expire). Trade the key at /oauth/token with `grant_type=client_credentials` (HTTP Basic: client_id and client_secret) for access tokens whose `sub` is the caller and `client_id` the key. `scope`: the scopes of the APIs (OAUTH_API_SCOPES, default `api`), `admin` for admins only, and `openid profile email roles` for userinfo. Needs `current_password` (when the account has one), plus `code` when two-factor is on; an account without a password needs a passkey sign-in in the last five minutes. A logout-all, a password change or reset, turning two-factor on, or a demotion (for `admin` keys) ends keys.',
    bearer: true,
    example: { name: 'Nightly export', scope: 'api', current_password: 'correct horse battery staple' },
    responses: {
      201: json(
        z.extend(apiKeySchema, {
          client_id: z.string(),
          client_secret: z.string().check(z.meta({ description: 'Shown this once' })),
        }),
        'The key, with its secret',
      ),
      400: problem('A missing `current_password` or `code`, or an unknown scope (`validation_failed`)'),
      401: problem(
        'Wrong current password (`invalid_credentials`) or code (`invalid_mfa_code`), or no or invalid token',
      ),
      403: problem(
        '`admin` asked by a non-admin (`forbidden`), or no recent passkey sign-in (`reauthentication_required`)',
      ),
      409: problem('The account holds 20 keys (`api_key_limit_reached`)'),
      429: problem('Too many wrong passwords or codes (`too_many_attempts`)'),
    },
  },
});

export const listApiKeysRoute = defineRoute({
  method: 'get',
  path: '/auth/api-keys',
  middleware: [requireAuth()],
  docs: API_DOCS && {
    operationId: 'listApiKeys',
    tags,
    summary: 'The caller’s API keys that still work',
    description: 'Newest first; never a secret.',
    bearer: true,
    responses: {
      200: json(z.object({ api_keys: z.array(apiKeySchema) }), 'The keys'),
      401: problem('No or invalid access token'),
    },
  },
});

export const revokeApiKeyRoute = defineRoute({
  method: 'delete',
  path: '/auth/api-keys/{id}',
  middleware: [requireAuth()],
  request: { params: z.object({ id: z.string().check(z.minLength(1), z.maxLength(64)) }) },
  docs: API_DOCS && {
    operationId: 'revokeApiKey',
    tags,
    summary: 'Revoke one of the caller’s API keys',
    description:
      'The key gets no more access tokens, and those it got introspect as inactive (and are refused by userinfo) at once.',
    bearer: true,
    responses: {
      204: { description: 'Revoked' },
      401: problem('No or invalid access token'),
      404: problem('The caller has no working key with that id (`not_found`)'),
    },
  },
});

const caller = (c: Context<AppEnv>) => ({
  user: c.get('user'),
  sessionId: c.get('claims').sid,
  log: requestLog(c),
  notify: notifier(c),
  legacyHashes: c.env.LEGACY_HASHES,
});

export const apiKeysRouter = createRouter()
  .route(createApiKeyRoute, async (c) => {
    const body = c.req.valid('json');
    const { key, clientSecret } = await createApiKey(
      c.get('db'),
      c.get('config'),
      caller(c),
      {
        name: body.name,
        scope: body.scope,
        expiresIn: body.expires_in,
        currentPassword: body.current_password,
        code: body.code,
      },
      Date.now(),
    );
    return c.json({ ...toPublic(key), client_id: key.id, client_secret: clientSecret }, 201);
  })
  .route(listApiKeysRoute, async (c) => {
    const keys = await listApiKeys(c.get('db'), c.get('user').id, Date.now());
    return c.json({ api_keys: keys.map(toPublic) }, 200);
  })
  .route(revokeApiKeyRoute, async (c) => {
    await revokeApiKey(c.get('db'), c.get('user').id, c.req.valid('param').id, requestLog(c), Date.now());
    return c.body(null, 204);
  });
