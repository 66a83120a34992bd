/**
 * The authorization endpoint and the JSON endpoints of the hosted sign-in page.
 *
 *   GET|POST /oauth/authorize         validates (src/oauth/authorize-request.ts), stores the
 *                                     request as an interaction, 303 to /oauth/sign-in?interaction=…
 *   /oauth/sign-in                    a static page (app/oauth/), which calls:
 *   POST /oauth/interaction/next      the next step: sign in, consent, or the redirect
 *   POST /oauth/interaction/sign-in   username and password, through the login service
 *   POST /oauth/interaction/verify    the second factor, through the two-factor service
 *   POST /oauth/interaction/passkey   a passkey instead, through the passkey sign-in
 *   POST /oauth/interaction/consent   Allow or Deny
 *
 * The device page (/oauth/device, src/oauth/device-flow.ts) uses the same endpoints once the
 * user's code has made it an interaction of kind `device` (routes/oauth-device.ts).
 *
 * Why through the page's script: the browser's session is the refresh cookie, SameSite=Strict,
 * which browsers do not send on the cross-site navigation that brings the user here from the
 * client. The page's own requests are same-origin, so they carry it; the endpoint never needs
 * it. Sign-in and its errors, throttling and lockout are /auth/login's, by calling the same
 * services.
 */
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { getCookie, setCookie } from 'hono/cookie';
import * as z from 'zod/mini';
import type { AppEnv } from '../../platform/env';
import { login } from '../../accounts/auth';
import { factorOf, mfaRequired, verifyLoginChallenge } from '../../two-factor/mfa';
import { findLiveSession, type IssuedRefresh } from '../../sessions/sessions';
import { readRefreshCookie, setRefreshCookie } from '../../sessions/refresh-cookie';
import { validateAuthorizeRequest } from '../../oauth/authorize-request';
import { decide, errorResponse, nextStep, type BrowserSession } from '../../oauth/authorize-flow';
import {
  createInteraction,
  INTERACTION_TTL_SECONDS,
  loadInteraction,
  newBrowserSecret,
  recordSignIn,
  type AnyInteraction,
  type Interaction,
  type InteractionKind,
} from '../../oauth/interactions';
import { decideDevice, deviceStep } from '../../oauth/device-flow';
import { oauthKeys, resolveIssuer } from '../../oauth/issuer';
import { notifier, requestLog } from '../middleware/context';
import { sameOriginOnly } from '../middleware/same-origin';
import { pageFormParams } from '../middleware/oauth';
import { errorPage } from '../error-page';
import { createRouter, defineRoute } from '../routing';
import { credentialsSchema, json, MAX_BODY_BYTES, problem } from '../schemas';
import { finishSignIn } from '../../passkeys/sign-in';
import { relyingParty } from '../../passkeys/relying-party';
import { authenticationResponse } from './passkeys';
import type { Tag } from '../tags';

const tags: Tag[] = ['oauth'];

/**
 * Ties interactions to the browser that started them (src/oauth/interactions.ts). SameSite=Lax,
 * not Strict: the authorization request arrives by a cross-site navigation, and a browser that
 * already has the cookie must keep it, or a second pending request (another tab) would replace
 * the first one's. It authenticates nothing by itself.
 */
export const BROWSER_COOKIE = '__Host-edge-auth-oauth';
const BROWSER_SECRET = /^[A-Za-z0-9_-]{43}$/;

export const browserSecretOf = (c: Context<AppEnv>): string | undefined => {
  const value = getCookie(c, BROWSER_COOKIE);
  return value && BROWSER_SECRET.test(value) ? value : undefined;
};

/** The browser's secret, minted if it has none; its lifetime restarts with each request. */
export function keepBrowserSecret(c: Context<AppEnv>): string {
  const secret = browserSecretOf(c) ?? newBrowserSecret();
  setCookie(c, BROWSER_COOKIE, secret, {
    httpOnly: true,
    secure: true,
    sameSite: 'Lax',
    path: '/',
    maxAge: INTERACTION_TTL_SECONDS,
  });
  return secret;
}

export const loadFor = <K extends InteractionKind>(c: Context<AppEnv>, kinds: readonly K[], id: string, now: number) =>
  loadInteraction(c.get('db'), kinds, id, browserSecretOf(c), now);

/** The interactions the sign-in endpoints serve: an authorization request, or a device's code. */
const PAGE_KINDS = ['authorize', 'device'] as const;
type PageInteraction = AnyInteraction<(typeof PAGE_KINDS)[number]>;

/**
 * The browser's session: its refresh cookie, if that is a live session's current token. A
 * DPoP-bound session (a `dpop: true` SPA in cookie mode) stands for nothing here unless
 * `bound` allows it: the page cannot prove its key, and a bound cookie copied to another
 * browser must not get a grant there. Logout allows it: ending a session gains a thief nothing.
 */
export async function browserSession(c: Context<AppEnv>, now: number, bound = false): Promise<BrowserSession | null> {
  const token = readRefreshCookie(c);
  const found = token ? await findLiveSession(c.get('db'), token, now) : null;
  return found && (bound || !found.session.dpopJkt) ? found : null;
}

const refusedPage = (description: string) =>
  errorPage(
    400,
    'This sign-in request cannot be completed',
    description,
    'You have not been sent back to the application, because where to send you could not be confirmed. Go back to the application and try again, or tell its developers.',
  );

async function authorize(c: Context<AppEnv>, params: URLSearchParams): Promise<Response> {
  const db = c.get('db');
  const issuer = resolveIssuer(c.get('config'), c.req.url);
  // Misconfigured (no OAUTH_ISSUER, no RS256 key) fails here, before the user signs in for a
  // code that could never be exchanged.
  await oauthKeys(c.get('config'));
  const result = await validateAuthorizeRequest(db, params);
  if (result.kind === 'page') return refusedPage(result.description);
  if (result.kind === 'redirect') {
    const to = errorResponse(
      { redirect_uri: result.redirectUri, state: result.state },
      issuer,
      result.error,
      result.description,
    );
    return c.redirect(to, 303);
  }
  const id = await createInteraction(
    db,
    {
      kind: 'authorize',
      browserSecret: keepBrowserSecret(c),
      clientId: result.client.clientId,
      params: result.params,
    },
    Date.now(),
  );
  return c.redirect(`/oauth/sign-in?interaction=${id}`, 303);
}

const authorizeDescription =
  'The OAuth 2.1 / OpenID Connect authorization endpoint (authorization code flow with PKCE, S256 only), for browsers: the client sends the user here with `response_type=code`, `client_id`, `redirect_uri`, `scope`, `state`, `code_challenge`, `code_challenge_method=S256`, and optionally `nonce`, `prompt` (`none`, `login`, `consent`), `max_age`, `resource` (RFC 8707), `login_hint` and `dpop_jkt` (RFC 9449 §10: the code then needs a DPoP proof of that key). An unknown client or a redirect URI that is not registered gets an HTML error page (never a redirect); other errors go back to the redirect URI with `error`, `error_description`, `state` and `iss`. A valid request continues on the hosted sign-in page; the user comes back to the redirect URI with `code`, `state` and `iss` (RFC 9207).';

const authorizeResponses = {
  303: { description: 'To the hosted sign-in page, or (an error) back to the redirect URI' },
  400: { description: 'HTML error page: unknown client or unregistered redirect URI', html: true as const },
};

export const authorizeRoute = defineRoute({
  method: 'get',
  path: '/oauth/authorize',
  docs: API_DOCS && {
    operationId: 'authorize',
    tags,
    summary: 'Authorization endpoint (browser redirect; parameters in the query)',
    description: authorizeDescription,
    responses: authorizeResponses,
  },
});

const limitForm = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: (c) => refusedPage(`The request is larger than ${MAX_BODY_BYTES} bytes.`),
});

export const authorizePostRoute = defineRoute({
  method: 'post',
  path: '/oauth/authorize',
  middleware: [limitForm],
  docs: API_DOCS && {
    operationId: 'authorizeWithForm',
    tags,
    summary: 'Authorization endpoint (parameters as an HTML form post)',
    description: `As GET /oauth/authorize, with the parameters as \`application/x-www-form-urlencoded\` (OpenID Connect Core §3.1.2.1). ${authorizeDescription}`,
    responses: authorizeResponses,
  },
});

const interactionId = z
  .string()
  .check(z.minLength(1), z.maxLength(128), z.meta({ description: 'The `interaction` of the page’s URL' }));

/** The page's steps, for the docs only: built on first use, so the Worker's bundle leaves them out. */
const clientSchema = () =>
  z.object({
    name: z.string().check(z.meta({ description: 'The client’s registered `client_name` (or its id)' })),
    logo_uri: z.optional(z.string()).check(z.meta({ description: 'Its registered logo, only when https' })),
    self_registered: z
      .optional(z.literal(true))
      .check(z.meta({ description: 'It registered itself (open registration): its name is only its own claim' })),
  });

let steps: z.ZodMiniType | undefined;
const stepSchema = () =>
  (steps ??= z.discriminatedUnion('step', [
    z.object({ step: z.literal('sign_in'), client: clientSchema(), login_hint: z.optional(z.string()) }),
    z.object({
      step: z.literal('consent'),
      client: clientSchema(),
      user: z.object({ username: z.string() }),
      scopes: z.array(z.object({ scope: z.string(), description: z.string() })),
    }),
    z.object({
      step: z.literal('redirect'),
      redirect_to: z.string().check(z.meta({ description: 'Where the page sends the browser: back to the client' })),
    }),
    z.object({
      step: z.literal('device_done'),
      approved: z
        .boolean()
        .check(z.meta({ description: 'The device page only: Allow (the device gets its tokens) or Deny' })),
    }),
  ]));

const pageOnly =
  'Called by the hosted sign-in page only: the request must be same-origin (`Origin` is the service’s own, `Sec-Fetch-Site: same-origin`), or it is refused with `403 csrf_rejected`.';
const expired = problem(
  'The interaction is unknown, expired, already completed or another browser’s (`interaction_expired`), or invalid input',
);
const csrf = problem('Not called by the service’s own page (`csrf_rejected`)');

export const nextStepRoute = defineRoute({
  method: 'post',
  path: '/oauth/interaction/next',
  middleware: [sameOriginOnly()],
  request: { body: z.object({ interaction: interactionId }) },
  docs: API_DOCS && {
    operationId: 'oauthNextStep',
    tags,
    summary: 'The sign-in page’s next step for a pending authorization request',
    description: `Decides from the browser’s session (its refresh cookie) whether the user must sign in, give consent, or goes back to the client now. With \`prompt=none\`, what would need the user ends the request with \`login_required\` or \`consent_required\`. ${pageOnly}`,
    example: { interaction: 'pR0x…' },
    responses: { 200: json(stepSchema(), 'The next step'), 400: expired, 403: csrf },
  },
});

export const signInRoute = defineRoute({
  method: 'post',
  path: '/oauth/interaction/sign-in',
  middleware: [sameOriginOnly()],
  request: {
    body: z.extend(credentialsSchema, { interaction: interactionId }),
  },
  docs: API_DOCS && {
    operationId: 'oauthSignIn',
    tags,
    summary: 'Sign in on the hosted page (username and password), then the next step',
    description: `Signs in exactly as \`login\` does (the same errors, throttling and lockout), delivering the session as the refresh cookie; a user with two-factor on gets \`403 mfa_required\` with an \`mfa_token\` for \`oauthVerify\`. ${pageOnly}`,
    example: { interaction: 'pR0x…', username: 'alice', password: 'correct horse battery staple' },
    responses: {
      200: json(stepSchema(), 'Signed in; the next step'),
      400: expired,
      401: problem('Wrong username or password (`invalid_credentials`)'),
      403: problem('Two-factor needed (`mfa_required`, with `mfa_token`), or `csrf_rejected`'),
      429: problem('Too many failed attempts (`too_many_attempts`), see Retry-After'),
      503: problem('An imported password that cannot be checked now (`legacy_hash_unavailable`)'),
    },
  },
});

export const verifyRoute = defineRoute({
  method: 'post',
  path: '/oauth/interaction/verify',
  middleware: [sameOriginOnly()],
  request: {
    body: z.object({
      interaction: interactionId,
      mfa_token: z.string().check(z.minLength(1), z.maxLength(512)),
      code: z.string().check(z.minLength(1), z.maxLength(64)),
    }),
  },
  docs: API_DOCS && {
    operationId: 'oauthVerify',
    tags,
    summary: 'The second factor on the hosted page (a TOTP or recovery code), then the next step',
    description: `Completes a sign-in that answered \`mfa_required\`, as \`verifyMfa\` does: six digits are a TOTP code, anything else a recovery code. ${pageOnly}`,
    example: { interaction: 'pR0x…', mfa_token: 'Qm9vb2…', code: '123456' },
    responses: {
      200: json(stepSchema(), 'Signed in; the next step'),
      400: expired,
      401: problem('Wrong code (`invalid_mfa_code`), or the `mfa_token` is no longer valid (`invalid_mfa_token`)'),
      403: csrf,
      429: problem('Too many wrong codes (`too_many_attempts`), see Retry-After'),
    },
  },
});

export const passkeySignInRoute = defineRoute({
  method: 'post',
  path: '/oauth/interaction/passkey',
  middleware: [sameOriginOnly()],
  request: {
    body: z.object({ interaction: interactionId, credential: authenticationResponse }),
  },
  docs: API_DOCS && {
    operationId: 'oauthPasskeySignIn',
    tags,
    summary: 'Sign in on the hosted page with a passkey, then the next step',
    description: `The browser's answer to options from \`passkeySignInOptions\`, verified as \`passkeySignInVerify\` verifies it (the same refusals and throttling), the session delivered as the refresh cookie. A passkey verifies its user, so no second factor is asked; the ID token's \`amr\` is \`hwk user\`. ${pageOnly}`,
    example: {
      interaction: 'pR0x…',
      credential: {
        id: 'AQIDBA',
        rawId: 'AQIDBA',
        type: 'public-key',
        response: {
          clientDataJSON: 'eyJ0eXBlIjoi',
          authenticatorData: 'SZYN5YgO',
          signature: 'MEUCIQ',
          userHandle: 'dXNlcg',
        },
      },
    },
    responses: {
      200: json(stepSchema(), 'Signed in; the next step'),
      400: expired,
      401: problem(
        'The passkey was refused: `unknown_passkey`, `invalid_passkey_challenge`, `passkey_user_not_verified`, … (as `passkeySignInVerify`)',
      ),
      403: csrf,
      429: problem('Too many attempts from this address (`too_many_attempts`), see Retry-After'),
      500: problem('WEBAUTHN_RP_ID is not set (`misconfigured`)'),
    },
  },
});

export const consentRoute = defineRoute({
  method: 'post',
  path: '/oauth/interaction/consent',
  middleware: [sameOriginOnly()],
  request: {
    body: z.object({ interaction: interactionId, decision: z.enum(['allow', 'deny']) }),
  },
  docs: API_DOCS && {
    operationId: 'oauthConsent',
    tags,
    summary: 'The user’s answer on the consent page: Allow or Deny',
    description: `\`allow\` remembers the consent for this user, client and scope set and sends the user back with a code; \`deny\` sends \`error=access_denied\` back. When the browser’s session changed meanwhile, the answer is the next step instead (usually sign-in). ${pageOnly}`,
    example: { interaction: 'pR0x…', decision: 'allow' },
    responses: { 200: json(stepSchema(), 'The redirect (or the next step)'), 400: expired, 403: csrf },
  },
});

/** After a sign-in on the page: the refresh cookie, the sign-in recorded, the next step. */
async function signedIn(c: Context<AppEnv>, interaction: PageInteraction, issued: IssuedRefresh) {
  const now = Date.now();
  setRefreshCookie(c, issued.refreshToken, issued.expiresIn);
  await recordSignIn(c.get('db'), interaction.idHash, issued.sessionId, now);
  interaction.signedInSessionId = issued.sessionId;
  const browser = await findLiveSession(c.get('db'), issued.refreshToken, now);
  return c.json(await stepOf(c, interaction, browser, now), 200);
}

/** The next step of either flow; with `decision`, the user's answer on its consent step. */
function stepOf(
  c: Context<AppEnv>,
  interaction: PageInteraction,
  browser: BrowserSession | null,
  now: number,
  decision?: 'allow' | 'deny',
) {
  if (interaction.kind === 'device') {
    const ctx = { db: c.get('db'), interaction, browser, log: requestLog(c), now };
    return decision ? decideDevice(ctx, decision === 'allow') : deviceStep(ctx);
  }
  const ctx = flowContext(c, interaction, browser, now);
  return decision ? decide(ctx, decision === 'allow') : nextStep(ctx);
}

const flowContext = (
  c: Context<AppEnv>,
  interaction: Interaction<'authorize'>,
  browser: BrowserSession | null,
  now: number,
) => ({
  db: c.get('db'),
  config: c.get('config'),
  issuer: resolveIssuer(c.get('config'), c.req.url),
  interaction,
  browser,
  log: requestLog(c),
  now,
});

export const oauthAuthorizeRouter = createRouter()
  .route(authorizeRoute, (c) => authorize(c, new URL(c.req.url).searchParams))
  .route(authorizePostRoute, async (c) => {
    return authorize(c, await pageFormParams(c.req.raw));
  })
  .route(nextStepRoute, async (c) => {
    const now = Date.now();
    const interaction = await loadFor(c, PAGE_KINDS, c.req.valid('json').interaction, now);
    return c.json(await stepOf(c, interaction, await browserSession(c, now), now), 200);
  })
  .route(signInRoute, async (c) => {
    const { interaction: id, username, password } = c.req.valid('json');
    // The interaction first: a request that is not pending here costs no password hashing.
    const interaction = await loadFor(c, PAGE_KINDS, id, Date.now());
    const result = await login(c.get('db'), c.get('config'), {
      username,
      password,
      ip: c.get('clientIp'),
      userAgent: c.req.header('User-Agent'),
      requestId: c.get('requestId'),
      delivery: 'cookie',
      legacyHashes: c.env.LEGACY_HASHES,
      defer: (work) => c.executionCtx.waitUntil(work),
    });
    if (result.mfa) throw mfaRequired(result.mfa.challenge);
    return signedIn(c, interaction, result.session);
  })
  .route(verifyRoute, async (c) => {
    const { interaction: id, mfa_token, code } = c.req.valid('json');
    const interaction = await loadFor(c, PAGE_KINDS, id, Date.now());
    const result = await verifyLoginChallenge(
      c.get('db'),
      c.get('config'),
      { mfaToken: mfa_token, factor: factorOf(code), userAgent: c.req.header('User-Agent') },
      requestLog(c),
      notifier(c),
    );
    return signedIn(c, interaction, result.session);
  })
  .route(passkeySignInRoute, async (c) => {
    const { interaction: id, credential } = c.req.valid('json');
    const interaction = await loadFor(c, PAGE_KINDS, id, Date.now());
    const result = await finishSignIn(
      c.get('db'),
      c.get('config'),
      relyingParty(c.get('config'), c.req.url),
      { response: credential, userAgent: c.req.header('User-Agent') },
      requestLog(c),
      Date.now(),
    );
    return signedIn(c, interaction, result.session);
  })
  .route(consentRoute, async (c) => {
    const { interaction: id, decision } = c.req.valid('json');
    const now = Date.now();
    const interaction = await loadFor(c, PAGE_KINDS, id, now);
    return c.json(await stepOf(c, interaction, await browserSession(c, now), now, decision), 200);
  });
