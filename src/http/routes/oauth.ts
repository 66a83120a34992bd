/**
 * The OAuth 2.1 / OpenID Connect provider's machine endpoints: discovery, token, userinfo,
 * revocation, introspection and registration. Each handler is a few lines over src/oauth/;
 * every route starts with oauthEndpoint(), so its errors are RFC JSON and a deployment without
 * an issuer or an RS256 key fails loudly. (The authorization endpoint and the hosted pages
 * live beside these, in their own router.)
 */
import * as z from 'zod/mini';
import { OAUTH_PATHS } from '../../oauth/endpoints';
import { serverMetadata } from '../../oauth/discovery';
import { authenticateClientRequest } from '../../oauth/client-auth';
import { clientMetadataSchema, CLIENT_GRANT_TYPES, CLIENT_KEY_ALGS, ID_TOKEN_ALGS } from '../../oauth/clients';
import { runGrant } from '../../oauth/grants';
import { introspect } from '../../oauth/introspection';
import { registerDynamicClient } from '../../oauth/registration';
import { revokeToken } from '../../oauth/revocation';
import { accessTokenOf, userinfo } from '../../oauth/userinfo';
import { CLIENT_AUTH_METHODS } from '../../platform/db/schema';
import { checkBinding, requireRole } from '../middleware/auth';
import { requestLog } from '../middleware/context';
import { oauthEndpoint } from '../middleware/oauth';
import { sessionProof } from '../middleware/dpop';
import { createRouter, defineRoute, type ResponseSpec } from '../routing';
import { CLIENT_BASIC_SCHEME } from '../openapi';
import type { Tag } from '../tags';
import type { Context, MiddlewareHandler, Next } from 'hono';
import type { AppEnv } from '../../platform/env';

const tags: Tag[] = ['oauth'];
// Documentation only (the response specs and schemas below): `API_DOCS ? value : (undefined as
// never)` compiles them out of the Worker, where a module-level value would stay, unused.
const oauthError = (description: string): ResponseSpec => ({ description, oauthError: true });
const clientAuthFailed = API_DOCS
  ? {
      ...oauthError('Client authentication failed (`invalid_client`), with `WWW-Authenticate: Basic`'),
      headers: { 'WWW-Authenticate': 'Basic realm="edge-auth"' },
    }
  : (undefined as never);
const rateLimited = API_DOCS
  ? {
      ...oauthError('Too many requests from this client or address (`temporarily_unavailable`)'),
      headers: { 'Retry-After': 'Seconds to wait' },
    }
  : (undefined as never);
const misconfigured = API_DOCS
  ? {
      description: 'OAUTH_ISSUER unset outside loopback, or no RS256 key in JWT_PRIVATE_KEY (`misconfigured`)',
      problem: true as const,
    }
  : (undefined as never);
/** Client authentication: Basic, or form parameters (a secret, a signed assertion, or the client_id alone). */
const clientSecurity: Record<string, string[]>[] = API_DOCS
  ? [{ [CLIENT_BASIC_SCHEME]: [] }, {}]
  : (undefined as never);
/** Registration: an admin's token, or none where open registration is on. */
const registrationSecurity: Record<string, string[]>[] = API_DOCS ? [{ bearerAuth: [] }, {}] : (undefined as never);
/** A form parameter; `API_DOCS && '…'` keeps a description out of the Worker. */
const param = (description: string | false) => z.optional(z.string()).check(z.meta(description ? { description } : {}));
const clientParams = {
  client_id: param('The client, for `client_secret_post` and public clients (`none`)'),
  client_secret: param('The secret, for `client_secret_post`'),
  client_assertion_type: param(API_DOCS && '`private_key_jwt`: urn:ietf:params:oauth:client-assertion-type:jwt-bearer'),
  client_assertion: param(
    API_DOCS &&
      '`private_key_jwt` (RFC 7523): a JWT signed with one of the client’s keys, `iss` and `sub` its client_id, `aud` the issuer or the token endpoint, `exp` within 5 minutes, a `jti` used once',
  ),
};

const metadataSchema = API_DOCS
  ? z.looseObject({
      issuer: z.string(),
      authorization_endpoint: z.string(),
      token_endpoint: z.string(),
      jwks_uri: z.string(),
      response_types_supported: z.array(z.string()),
    })
  : (undefined as never);

const discovery = (path: string, operationId: string, summary: string) =>
  defineRoute({
    method: 'get',
    path,
    middleware: [oauthEndpoint()],
    docs: API_DOCS && {
      operationId,
      tags,
      summary,
      description:
        'The provider’s metadata: its endpoints and what it supports. OpenID Connect Discovery 1.0 and RFC 8414 serve the same document. Cacheable for a few minutes.',
      oauthErrors: true,
      responses: { 200: { description: 'The metadata', schema: metadataSchema }, 500: misconfigured },
    },
  });

export const openIdConfigurationRoute = discovery(
  '/.well-known/openid-configuration',
  'getOpenIdConfiguration',
  'OpenID Connect Discovery metadata',
);
export const authorizationServerMetadataRoute = discovery(
  '/.well-known/oauth-authorization-server',
  'getAuthorizationServerMetadata',
  'OAuth 2.0 authorization server metadata (RFC 8414)',
);

const tokenResponseSchema = API_DOCS
  ? z.object({
      access_token: z.string().check(z.meta({ description: 'A JWT per RFC 9068 (`typ: at+jwt`), signed with RS256' })),
      token_type: z
        .enum(['Bearer', 'DPoP'])
        .check(z.meta({ description: '`DPoP` when the request carried a DPoP proof' })),
      expires_in: z.number().check(z.int()),
      scope: z.string(),
      refresh_token: z
        .optional(z.string())
        .check(
          z.meta({ description: 'Only with `offline_access` granted and the client registered for `refresh_token`' }),
        ),
      id_token: z.optional(z.string()).check(z.meta({ description: 'With the `openid` scope' })),
    })
  : (undefined as never);

export const tokenRoute = defineRoute({
  method: 'post',
  path: OAUTH_PATHS.token,
  middleware: [oauthEndpoint()],
  request: {
    form: z.looseObject({
      grant_type: z.union([z.enum(CLIENT_GRANT_TYPES), z.string()]).check(
        z.meta({
          description:
            'authorization_code, refresh_token, urn:ietf:params:oauth:grant-type:device_code or client_credentials',
        }),
      ),
      code: param('authorization_code: the code from the redirect'),
      redirect_uri: param('authorization_code: as in the authorization request'),
      code_verifier: param('authorization_code: the PKCE verifier (43-128 characters)'),
      refresh_token: param('refresh_token: the current refresh token'),
      device_code: param('device_code: the device code of the device authorization'),
      scope: param('refresh_token: a narrower scope; client_credentials: the scopes asked'),
      resource: param('RFC 8707: the resource bound to the grant; client_credentials: the token’s audience'),
      ...clientParams,
    }),
  },
  docs: API_DOCS && {
    operationId: 'oauthToken',
    tags,
    summary: 'Token endpoint: exchange a code, poll for a device, refresh, or client credentials',
    description:
      '`authorization_code` (with PKCE `code_verifier` and the same `redirect_uri`) starts a grant: an access token, an ID token with `openid`, and a refresh token with `offline_access`. `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628, with `device_code`) is polled every `interval` seconds: `authorization_pending` until the user answers on the device page, `slow_down` when polled sooner (the interval then grows by 5 seconds), `access_denied`, `expired_token`, then the same tokens as a code exchange; a spent device code is `invalid_grant` and ends its grant. `refresh_token` rotates the refresh token; presenting a spent one after the grace window ends the grant. Each grant is a session of the user (GET /auth/sessions). `client_credentials` (confidential clients): an access token for the client itself (`sub` = client_id), or for an API key’s user, for scopes within the registered ones; no refresh or ID token. Limited per client and per address. A `DPoP` proof (RFC 9449) binds the access token to its key (`cnf.jkt`); a public client’s refresh token is then bound too, and needs a proof of that key. A client registered with `dpop_bound_access_tokens: true` must send one with every token request (else `invalid_grant`).',
    oauthErrors: true,
    security: clientSecurity,
    responses: {
      200: { description: 'Tokens', schema: tokenResponseSchema },
      400: oauthError(
        '`invalid_request`, `invalid_grant`, `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`, `invalid_target`, `invalid_dpop_proof` or `use_dpop_nonce` (with `DPoP-Nonce`), or for the device flow `authorization_pending`, `slow_down`, `access_denied`, `expired_token`',
      ),
      401: clientAuthFailed,
      429: rateLimited,
      500: misconfigured,
    },
  },
});

const userinfoSchema = API_DOCS
  ? z.looseObject({
      sub: z.string(),
      preferred_username: z.optional(z.string()).check(z.meta({ description: 'With `profile`' })),
      updated_at: z.optional(z.number().check(z.int())).check(z.meta({ description: 'With `profile`' })),
      email: z
        .optional(z.string())
        .check(z.meta({ description: 'With `email`, when the user has a verified address' })),
      email_verified: z.optional(z.boolean()),
      role: z.optional(z.string()).check(z.meta({ description: 'With `roles`' })),
    })
  : (undefined as never);

const userinfoRoute = (method: 'get' | 'post', operationId: string) =>
  defineRoute({
    method,
    path: OAUTH_PATHS.userinfo,
    middleware: [oauthEndpoint()],
    docs: API_DOCS && {
      operationId,
      tags,
      summary: 'Claims about the signed-in user (OpenID Connect UserInfo)',
      description:
        'Needs an OAuth access token with the `openid` scope whose grant is still live, in `Authorization: Bearer`, or for a DPoP-bound token `Authorization: DPoP` with a proof. Answers the claims of the granted scopes.',
      bearer: true,
      oauthErrors: true,
      responses: {
        200: { description: 'Claims', schema: userinfoSchema },
        401: {
          ...oauthError('No, an invalid, expired or revoked token (`invalid_token`), or a bad DPoP proof'),
          headers: { 'WWW-Authenticate': 'Bearer (RFC 6750) or DPoP (RFC 9449) challenge' },
        },
        403: oauthError('The token lacks the `openid` scope (`insufficient_scope`)'),
        500: misconfigured,
      },
    },
  });
export const userinfoGetRoute = userinfoRoute('get', 'oauthUserinfo');
export const userinfoPostRoute = userinfoRoute('post', 'oauthUserinfoPost');

const tokenParams = {
  token: z.string().check(z.meta({ description: 'An access token or a refresh token' })),
  token_type_hint: param('`access_token` or `refresh_token`: where to look first'),
  ...clientParams,
};

export const revocationRoute = defineRoute({
  method: 'post',
  path: OAUTH_PATHS.revocation,
  middleware: [oauthEndpoint()],
  request: { form: z.looseObject(tokenParams) },
  docs: API_DOCS && {
    operationId: 'oauthRevoke',
    tags,
    summary: 'Revoke a token (RFC 7009)',
    description:
      'Revoking a refresh token, or one of its access tokens, ends the grant: its tokens stop working at userinfo and introspect as inactive. Answers 200 for unknown tokens and other clients’ tokens too, revoking nothing.',
    oauthErrors: true,
    security: clientSecurity,
    responses: {
      200: { description: 'Revoked, or nothing to revoke' },
      400: oauthError('`invalid_request`'),
      401: clientAuthFailed,
      429: rateLimited,
      500: misconfigured,
    },
  },
});

export const introspectionRoute = defineRoute({
  method: 'post',
  path: OAUTH_PATHS.introspection,
  middleware: [oauthEndpoint()],
  request: { form: z.looseObject(tokenParams) },
  docs: API_DOCS && {
    operationId: 'oauthIntrospect',
    tags,
    summary: 'Introspect a token (RFC 7662)',
    description:
      'The calling client sees only tokens issued to it or whose audience is its client_id; for any other token, and for unknown, expired or revoked ones, the answer is `{"active": false}`.',
    oauthErrors: true,
    security: clientSecurity,
    responses: {
      200: {
        description: 'Whether the token is active, and if so its claims',
        schema: z.looseObject({
          active: z.boolean(),
          scope: z.optional(z.string()),
          client_id: z.optional(z.string()),
          sub: z.optional(z.string()),
          exp: z.optional(z.number().check(z.int())),
        }),
      },
      400: oauthError('`invalid_request`'),
      401: clientAuthFailed,
      429: rateLimited,
      500: misconfigured,
    },
  },
});

const registrationResponseSchema = API_DOCS
  ? z.looseObject({
      client_id: z.string(),
      client_secret: z
        .optional(z.string())
        .check(z.meta({ description: 'Confidential clients only; shown this once' })),
      client_secret_expires_at: z.optional(z.number().check(z.int())),
      client_id_issued_at: z.number().check(z.int()),
      redirect_uris: z.array(z.string()),
      token_endpoint_auth_method: z.enum(CLIENT_AUTH_METHODS),
      id_token_signed_response_alg: z.enum(ID_TOKEN_ALGS),
      token_endpoint_auth_signing_alg: z
        .optional(z.enum(CLIENT_KEY_ALGS))
        .check(z.meta({ description: '`private_key_jwt`: the only algorithm its assertions may be signed with' })),
      dpop_bound_access_tokens: z
        .boolean()
        .check(z.meta({ description: 'RFC 9449 §5.2: token requests without a DPoP proof are refused' })),
    })
  : (undefined as never);

// The admin check as every admin route makes it: the caller's token, then the role on the primary.
const [bearerAuth, adminRole] = requireRole('admin') as [MiddlewareHandler<AppEnv>, MiddlewareHandler<AppEnv>];
/** An admin's access token, if one is sent: then it must be valid and an admin's. */
const optionalAdmin = [
  async (c: Context<AppEnv>, next: Next) => {
    if (c.req.header('Authorization') === undefined) return next();
    await bearerAuth(c, async () => {
      await adminRole(c, next);
    });
  },
];

export const registrationRoute = defineRoute({
  method: 'post',
  path: OAUTH_PATHS.registration,
  middleware: [oauthEndpoint('invalid_client_metadata'), ...optionalAdmin],
  request: {
    body: clientMetadataSchema,
  },
  docs: API_DOCS && {
    operationId: 'oauthRegister',
    tags,
    summary: 'Register a client (RFC 7591)',
    description:
      'With an admin’s access token as the initial access token, any client. Without one, only when `OAUTH_OPEN_REGISTRATION=true`, and then only public clients (`token_endpoint_auth_method: "none"`) whose redirect URIs are https or loopback. A confidential client’s `client_secret` is in this answer only. Limited per address.',
    oauthErrors: true,
    security: registrationSecurity,
    example: {
      client_name: 'Example app',
      redirect_uris: ['https://app.example.com/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'openid profile email offline_access',
    },
    responses: {
      201: { description: 'Registered', schema: registrationResponseSchema },
      400: oauthError('`invalid_client_metadata` or `invalid_redirect_uri`'),
      401: {
        ...oauthError('No admin token while open registration is off, or an invalid token (`invalid_token`)'),
        headers: { 'WWW-Authenticate': 'Bearer challenge (RFC 6750)' },
      },
      403: oauthError('The token is not an admin’s (`insufficient_scope`)'),
      429: rateLimited,
      500: misconfigured,
    },
  },
});

/** The form parameters of a client-authenticated request. */
const authenticate = (c: Context<AppEnv>, endpoint: 'token' | 'revocation' | 'introspection', params: object) =>
  authenticateClientRequest(c.get('db'), c.get('config'), {
    endpoint,
    issuer: c.get('oauth').issuer,
    authorization: c.req.header('Authorization'),
    params: params as Record<string, string | undefined>,
    ip: c.get('clientIp'),
  });

async function answerUserinfo(c: Context<AppEnv>) {
  const { issuer, keys } = c.get('oauth');
  const presented = accessTokenOf(c.req.header('Authorization'));
  // A bound token's proof is checked as on the service's own protected routes.
  const bound = (jkt: string | undefined) =>
    jkt || presented.dpop ? checkBinding(c, presented.token, jkt, presented.dpop) : Promise.resolve();
  const claims = await userinfo(c.get('db'), keys.ring, issuer, presented, bound);
  return c.json(claims, 200);
}

export const oauthRouter = createRouter()
  .route(openIdConfigurationRoute, (c) => {
    const { issuer, keys } = c.get('oauth');
    c.header('Cache-Control', 'public, max-age=300');
    return c.json(serverMetadata(issuer, keys.ring, c.get('config').oauth.apiScopes), 200);
  })
  .route(authorizationServerMetadataRoute, (c) => {
    const { issuer, keys } = c.get('oauth');
    c.header('Cache-Control', 'public, max-age=300');
    return c.json(serverMetadata(issuer, keys.ring, c.get('config').oauth.apiScopes), 200);
  })
  .route(tokenRoute, async (c) => {
    const params = c.req.valid('form');
    const client = await authenticate(c, 'token', params);
    const { issuer, keys } = c.get('oauth');
    const tokens = await runGrant({
      db: c.get('db'),
      config: c.get('config'),
      issuer,
      keys,
      client,
      params: params as Record<string, string | undefined>,
      dpop: await sessionProof(c),
      log: requestLog(c),
      now: Date.now(),
    });
    return c.json(tokens, 200);
  })
  .route(userinfoGetRoute, answerUserinfo)
  .route(userinfoPostRoute, answerUserinfo)
  .route(revocationRoute, async (c) => {
    const params = c.req.valid('form');
    const client = await authenticate(c, 'revocation', params);
    const { issuer, keys } = c.get('oauth');
    await revokeToken(
      c.get('db'),
      keys.ring,
      issuer,
      client,
      { token: params.token, hint: params.token_type_hint },
      requestLog(c),
    );
    return c.body(null, 200);
  })
  .route(introspectionRoute, async (c) => {
    const params = c.req.valid('form');
    const client = await authenticate(c, 'introspection', params);
    const { issuer, keys } = c.get('oauth');
    const answer = await introspect(c.get('db'), keys.ring, issuer, client, {
      token: params.token,
      hint: params.token_type_hint,
    });
    return c.json(answer, 200);
  })
  .route(registrationRoute, async (c) => {
    const admin = c.req.header('Authorization') === undefined ? undefined : c.get('user');
    const registered = await registerDynamicClient(c.get('db'), c.get('config'), c.req.valid('json'), {
      adminId: admin?.id,
      ...requestLog(c),
    });
    return c.json(registered, 201);
  });
