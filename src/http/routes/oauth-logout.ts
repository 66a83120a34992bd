/**
 * RP-initiated logout (src/oauth/end-session.ts):
 *
 *   GET|POST /oauth/logout                    validates, stores the request as an interaction,
 *                                             303 to /oauth/confirm-logout?interaction=…
 *   /oauth/confirm-logout                     a static page (app/oauth/) with a Log out button
 *   POST /oauth/interaction/logout/next       who is signed in, which client asks
 *   POST /oauth/interaction/logout            Log out (or stay), then where to go
 */
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import * as z from 'zod/mini';
import type { AppEnv } from '../../platform/env';
import { clearRefreshCookie } from '../../sessions/refresh-cookie';
import { confirmLogout, logoutInfo, validateLogoutRequest } from '../../oauth/end-session';
import { createInteraction, type Interaction } from '../../oauth/interactions';
import { oauthKeys, resolveIssuer } from '../../oauth/issuer';
import { requestLog } from '../middleware/context';
import { sameOriginOnly } from '../middleware/same-origin';
import { pageFormParams } from '../middleware/oauth';
import { errorPage } from '../error-page';
import { createRouter, defineRoute } from '../routing';
import { json, MAX_BODY_BYTES, problem } from '../schemas';
import type { Tag } from '../tags';
import { browserSession, keepBrowserSecret, loadFor } from './oauth-authorize';

const tags: Tag[] = ['oauth'];

const refusedPage = (description: string) =>
  errorPage(
    400,
    'This logout request cannot be completed',
    description,
    'You have not been logged out or sent anywhere. Go back to the application and try again, or tell its developers.',
  );

async function endSession(c: Context<AppEnv>, params: URLSearchParams): Promise<Response> {
  const issuer = resolveIssuer(c.get('config'), c.req.url);
  await oauthKeys(c.get('config'));
  const result = await validateLogoutRequest(c.get('db'), c.get('config'), issuer, params);
  if (result.kind === 'page') return refusedPage(result.description);
  const id = await createInteraction(
    c.get('db'),
    { kind: 'logout', browserSecret: keepBrowserSecret(c), clientId: result.clientId, params: result.params },
    Date.now(),
  );
  return c.redirect(`/oauth/confirm-logout?interaction=${id}`, 303);
}

const endSessionDescription =
  'OpenID Connect RP-Initiated Logout 1.0: the client sends the browser here with `id_token_hint` (an ID token this service issued; an expired one is accepted), `post_logout_redirect_uri` (registered for the client) and `state`, and optionally `client_id`. The user confirms on a hosted page; the browser’s session with the service ends and the browser returns to `post_logout_redirect_uri` with `state`. An invalid request gets an HTML error page, never a redirect.';
const endSessionResponses = {
  303: { description: 'To the hosted logout confirmation page' },
  400: {
    description: 'HTML error page: an ID token not issued here, an unknown client or an unregistered URI',
    html: true as const,
  },
};

export const endSessionRoute = defineRoute({
  method: 'get',
  path: '/oauth/logout',
  docs: API_DOCS && {
    operationId: 'endSession',
    tags,
    summary: 'End-session endpoint (browser redirect; parameters in the query)',
    description: endSessionDescription,
    responses: endSessionResponses,
  },
});

export const endSessionPostRoute = defineRoute({
  method: 'post',
  path: '/oauth/logout',
  middleware: [
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => refusedPage(`The request is larger than ${MAX_BODY_BYTES} bytes.`),
    }),
  ],
  docs: API_DOCS && {
    operationId: 'endSessionWithForm',
    tags,
    summary: 'End-session endpoint (parameters as an HTML form post)',
    description: `As GET /oauth/logout, with the parameters as \`application/x-www-form-urlencoded\`. ${endSessionDescription}`,
    responses: endSessionResponses,
  },
});

const interactionBody = z.object({ interaction: z.string().check(z.minLength(1), z.maxLength(128)) });
const pageOnly = 'Called by the hosted logout page only (same-origin, else `403 csrf_rejected`).';
const expired = problem('The interaction is unknown, expired, completed or another browser’s (`interaction_expired`)');
const csrf = problem('Not called by the service’s own page (`csrf_rejected`)');

export const logoutInfoRoute = defineRoute({
  method: 'post',
  path: '/oauth/interaction/logout/next',
  middleware: [sameOriginOnly()],
  request: { body: interactionBody },
  docs: API_DOCS && {
    operationId: 'oauthLogoutInfo',
    tags,
    summary: 'What the logout page shows: the client that asks, and who is signed in',
    description: pageOnly,
    example: { interaction: 'pR0x…' },
    responses: {
      200: json(
        z.object({
          client: z.optional(
            z.object({
              name: z.string(),
              logo_uri: z.optional(z.string()),
              self_registered: z.optional(z.literal(true)),
            }),
          ),
          username: z.optional(z.string()).check(z.meta({ description: 'Absent when the browser is not signed in' })),
        }),
        'The page’s content',
      ),
      400: expired,
      403: csrf,
    },
  },
});

export const logoutConfirmRoute = defineRoute({
  method: 'post',
  path: '/oauth/interaction/logout',
  middleware: [sameOriginOnly()],
  request: {
    body: z.extend(interactionBody, { decision: z.enum(['logout', 'stay']) }),
  },
  docs: API_DOCS && {
    operationId: 'oauthLogout',
    tags,
    summary: 'The answer on the logout page: log out, or stay signed in',
    description: `\`logout\` ends the browser’s session (and the one the ID token named) and clears the refresh cookie; \`stay\` ends nothing. \`redirect_to\` is the client’s registered URI with its state, when the request named one. ${pageOnly}`,
    example: { interaction: 'pR0x…', decision: 'logout' },
    responses: {
      200: json(z.object({ redirect_to: z.optional(z.string()) }), 'Done; where to go, if anywhere'),
      400: expired,
      403: csrf,
    },
  },
});

async function logoutContext(c: Context<AppEnv>, id: string) {
  const now = Date.now();
  const interaction: Interaction<'logout'> = await loadFor(c, ['logout'], id, now);
  return { db: c.get('db'), interaction, browser: await browserSession(c, now, true), log: requestLog(c), now };
}

export const oauthLogoutRouter = createRouter()
  .route(endSessionRoute, (c) => endSession(c, new URL(c.req.url).searchParams))
  .route(endSessionPostRoute, async (c) => {
    return endSession(c, await pageFormParams(c.req.raw));
  })
  .route(logoutInfoRoute, async (c) =>
    c.json(await logoutInfo(await logoutContext(c, c.req.valid('json').interaction)), 200),
  )
  .route(logoutConfirmRoute, async (c) => {
    const { interaction, decision } = c.req.valid('json');
    const outcome = await confirmLogout(await logoutContext(c, interaction), decision === 'logout');
    if (decision === 'logout') clearRefreshCookie(c);
    return c.json(outcome, 200);
  });
