/**
 * The device authorization grant (RFC 8628):
 *
 *   POST /oauth/device_authorization   the device asks for a device code and a user code
 *   /oauth/device                      a static page (app/oauth/device.html), which calls:
 *   POST /oauth/interaction/device     the user code typed, checked and limited; an interaction
 *   then the sign-in page's endpoints  (oauth-authorize.ts): sign-in, two-factor, Allow or Deny
 *
 * The device polls the token endpoint with grant_type urn:ietf:params:oauth:grant-type:device_code
 * (src/oauth/grants/device-code.ts).
 */
import * as z from 'zod/mini';
import { authenticateClientRequest } from '../../oauth/client-auth';
import { authorizeDevice } from '../../oauth/device-authorization';
import { enterUserCode } from '../../oauth/device-flow';
import { OAUTH_PATHS } from '../../oauth/endpoints';
import { CLIENT_BASIC_SCHEME } from '../openapi';
import { oauthEndpoint } from '../middleware/oauth';
import { sameOriginOnly } from '../middleware/same-origin';
import { createRouter, defineRoute } from '../routing';
import { json, problem } from '../schemas';
import type { Tag } from '../tags';
import { keepBrowserSecret } from './oauth-authorize';

const tags: Tag[] = ['oauth'];
const param = (description: string) => z.optional(z.string()).check(z.meta({ description }));
/**
 * Every parameter is an optional string, which the form reader ensures already: the schema only
 * documents them, so the Worker's bundle leaves it out (API_DOCS).
 */
const deviceParams = () => ({
  client_id: param('The client, for `client_secret_post` and public clients (`none`)'),
  client_secret: param('The secret, for `client_secret_post`'),
  scope: param('The scopes asked for; default: the client’s registered `scope`'),
  resource: param('RFC 8707: the API the access tokens are for (their `aud`)'),
});

export const deviceAuthorizationRoute = defineRoute({
  method: 'post',
  path: OAUTH_PATHS.deviceAuthorization,
  middleware: [oauthEndpoint()],
  request: { form: z.looseObject(API_DOCS ? deviceParams() : {}) },
  docs: API_DOCS && {
    operationId: 'oauthDeviceAuthorization',
    tags,
    summary: 'Device authorization endpoint (RFC 8628): codes for a device to sign a user in',
    description:
      'For a client registered with the grant type `urn:ietf:params:oauth:grant-type:device_code`, authenticated as at the token endpoint (a public client sends its `client_id`). The device shows `user_code` and `verification_uri` (or `verification_uri_complete` as a link or QR code), then polls the token endpoint with `device_code` every `interval` seconds until the user has answered on the hosted page. Limited per client and per address, as the token endpoint.',
    oauthErrors: true,
    security: [{ [CLIENT_BASIC_SCHEME]: [] }, {}] as Record<string, string[]>[],
    responses: {
      200: {
        description: 'The codes',
        schema: z.object({
          device_code: z.string().check(z.meta({ description: 'The device’s secret for the token endpoint' })),
          user_code: z.string().check(z.meta({ description: '8 letters, shown as `XXXX-XXXX`' })),
          verification_uri: z.string(),
          verification_uri_complete: z
            .string()
            .check(z.meta({ description: 'verification_uri with the code filled in' })),
          expires_in: z.number().check(z.int()),
          interval: z.number().check(z.int(), z.meta({ description: 'Seconds between polls' })),
        }),
      },
      400: {
        description: '`invalid_request`, `unauthorized_client`, `invalid_scope` or `invalid_target`',
        oauthError: true,
      },
      401: {
        description: 'Client authentication failed (`invalid_client`)',
        oauthError: true,
        headers: { 'WWW-Authenticate': 'Basic realm="edge-auth"' },
      },
      429: {
        description: 'Too many requests from this client or address (`temporarily_unavailable`)',
        oauthError: true,
        headers: { 'Retry-After': 'Seconds to wait' },
      },
      500: {
        description: 'No issuer, RS256 key or DATA_ENCRYPTION_KEY (`misconfigured`)',
        problem: true,
      },
    },
  },
});

export const enterUserCodeRoute = defineRoute({
  method: 'post',
  path: '/oauth/interaction/device',
  middleware: [sameOriginOnly()],
  request: {
    body: z.object({ user_code: z.string().check(z.minLength(1), z.maxLength(64)) }),
  },
  docs: API_DOCS && {
    operationId: 'oauthEnterUserCode',
    tags,
    summary: 'The device page: the code the device shows, for an interaction',
    description:
      'Any case, with or without the dash. A code of a pending device authorization starts an interaction, which the page continues with `oauthNextStep` and the sign-in and consent calls. Wrong codes are limited per address and over all addresses (`OAUTH_USER_CODE_IP_MAX`, `OAUTH_USER_CODE_FAILURES_MAX` per hour). Called by the hosted page only: same-origin, or `403 csrf_rejected`.',
    example: { user_code: 'BCDF-GHJK' },
    responses: {
      200: json(z.object({ interaction: z.string() }), 'The interaction, for the page’s next calls'),
      400: problem('Wrong, expired or already answered code (`invalid_user_code`), or invalid input'),
      403: problem('Not called by the service’s own page (`csrf_rejected`)'),
      429: problem('Too many wrong codes (`too_many_attempts`), see Retry-After'),
      500: problem('DATA_ENCRYPTION_KEY is not set (`misconfigured`)'),
    },
  },
});

export const oauthDeviceRouter = createRouter()
  .route(deviceAuthorizationRoute, async (c) => {
    const params = c.req.valid('form') as Record<string, string | undefined>;
    const client = await authenticateClientRequest(c.get('db'), c.get('config'), {
      endpoint: 'device_authorization',
      issuer: c.get('oauth').issuer,
      authorization: c.req.header('Authorization'),
      params,
      ip: c.get('clientIp'),
    });
    const answer = await authorizeDevice(
      c.get('db'),
      c.get('config'),
      c.get('oauth').issuer,
      client,
      { scope: params.scope, resource: params.resource },
      Date.now(),
    );
    return c.json(answer, 200);
  })
  .route(enterUserCodeRoute, async (c) => {
    const interaction = await enterUserCode(
      c.get('db'),
      c.get('config'),
      { userCode: c.req.valid('json').user_code, ip: c.get('clientIp'), browserSecret: keepBrowserSecret(c) },
      Date.now(),
    );
    return c.json({ interaction }, 200);
  });
