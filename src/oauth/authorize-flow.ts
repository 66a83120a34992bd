/**
 * What happens to a validated authorization request on the hosted page: who signs in, whether
 * consent is asked, and the redirect that ends it. Every call answers with the page's next
 * step; the page only renders it.
 *
 *   no live session, prompt=login, or max_age passed  -> sign_in (or login_required with prompt=none)
 *   consent not yet given for these scopes            -> consent (or consent_required with prompt=none)
 *   otherwise                                         -> redirect, with a code, state and iss
 *
 * The browser's session is its refresh cookie, the same one the demo app and any cookie-mode
 * SPA of this service use: signing in here signs in there, and the reverse.
 */
import { eq } from 'drizzle-orm';
import type { Config } from '../platform/config';
import type { Database } from '../platform/db/client';
import { mfaTotp, type Session, type User } from '../platform/db/schema';
import { audit, type RequestLog } from '../platform/audit';
import type { AuthorizeErrorCode } from './authorize-request';
import { getClient, type OAuthClient } from './clients';
import { createAuthorizationCode } from './codes';
import { hasConsent, rememberConsent } from './consents';
import { finishInteraction, interactionExpired, type AuthorizeParams, type Interaction } from './interactions';
import { describeScopes, parseScope } from './scopes';

export type BrowserSession = { session: Session; user: User };

/**
 * What the page shows of the client: its name, its logo only over https, and whether it
 * registered itself (open registration), whose name is then only its own claim.
 */
export type ClientView = { name: string; logo_uri?: string | undefined; self_registered?: true };

export type Step =
  | { step: 'sign_in'; client: ClientView; login_hint?: string | undefined }
  | {
      step: 'consent';
      client: ClientView;
      user: { username: string };
      scopes: { scope: string; description: string }[];
    }
  | { step: 'redirect'; redirect_to: string }
  /** The device page's end (device-flow.ts): the device may go on, or was refused. */
  | { step: 'device_done'; approved: boolean };

export function clientView(client: OAuthClient): ClientView {
  const logo = client.logoUri?.startsWith('https://') ? client.logoUri : undefined;
  return {
    name: client.name ?? client.clientId,
    ...(logo ? { logo_uri: logo } : {}),
    ...(client.registeredBy === 'open' ? { self_registered: true as const } : {}),
  };
}

/**
 * The redirect back to the client (RFC 6749 §4.1.2, §4.1.2.1): the fields as query parameters
 * added to the registered URI's own, `state` as the client sent it and `iss` (RFC 9207), so a
 * client talking to several servers can tell which one answered.
 */
export function authorizationResponse(
  redirectUri: string,
  issuer: string,
  state: string | undefined,
  fields: Record<string, string>,
): string {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(fields)) url.searchParams.set(name, value);
  if (state !== undefined) url.searchParams.set('state', state);
  url.searchParams.set('iss', issuer);
  return url.href;
}

export const errorResponse = (
  params: Pick<AuthorizeParams, 'redirect_uri' | 'state'>,
  issuer: string,
  error: AuthorizeErrorCode,
  description: string,
) => authorizationResponse(params.redirect_uri, issuer, params.state, { error, error_description: description });

/**
 * The authentication methods behind a session (RFC 8176): as the session recorded them when it
 * began (`pwd`, `pwd otp`, `hwk user` for a passkey). A session older than that record: `pwd`,
 * plus `otp` when it began after the user's TOTP was confirmed, since from then on every login
 * of that user has passed the second factor (the login's gate creates no session without it).
 */
export async function sessionAmr(db: Database, browser: BrowserSession): Promise<string[]> {
  if (browser.session.amr) return browser.session.amr.split(' ');
  if (!browser.user.mfaEnabled) return ['pwd'];
  const totp = await db.query.mfaTotp.findFirst({ where: eq(mfaTotp.userId, browser.user.id) });
  return totp?.confirmedAt != null && totp.confirmedAt <= browser.session.createdAt ? ['pwd', 'otp'] : ['pwd'];
}

type Context = {
  db: Database;
  config: Config;
  issuer: string;
  interaction: Interaction<'authorize'>;
  browser: BrowserSession | null;
  log: RequestLog;
  now: number;
};

/** The client of an interaction, as registered now (it may have been deleted meanwhile). */
async function interactionClient(ctx: Context): Promise<OAuthClient> {
  const client = ctx.interaction.clientId ? await getClient(ctx.db, ctx.interaction.clientId) : null;
  if (!client) throw interactionExpired();
  return client;
}

/** Ends the interaction with a redirect to the client; 400 if another request ended it first. */
async function finish(ctx: Context, redirectTo: string): Promise<Step> {
  if (!(await finishInteraction(ctx.db, ctx.interaction.idHash, ctx.now))) throw interactionExpired();
  return { step: 'redirect', redirect_to: redirectTo };
}

/** Whether the browser's session may stand for this request without a new sign-in. */
function sessionSuffices(ctx: Context, browser: BrowserSession): boolean {
  // A sign-in made on this very interaction meets prompt=login and any max_age.
  if (ctx.interaction.signedInSessionId === browser.session.id) return true;
  const { prompt, max_age } = ctx.interaction.params;
  if (prompt.includes('login')) return false;
  return max_age === undefined || ctx.now - browser.session.createdAt <= max_age * 1000;
}

/** The page's next step for the interaction, given the browser's session now. */
export async function nextStep(ctx: Context): Promise<Step> {
  const params = ctx.interaction.params;
  const client = await interactionClient(ctx);
  const browser = ctx.browser;
  if (!browser || !sessionSuffices(ctx, browser)) {
    if (params.prompt.includes('none')) {
      return finish(ctx, errorResponse(params, ctx.issuer, 'login_required', 'The user is not signed in.'));
    }
    return { step: 'sign_in', client: clientView(client), login_hint: params.login_hint };
  }
  const scopes = parseScope(params.scope);
  const asked =
    !client.skipConsent &&
    (params.prompt.includes('consent') || !(await hasConsent(ctx.db, browser.user.id, client.clientId, scopes)));
  if (asked) {
    if (params.prompt.includes('none')) {
      return finish(ctx, errorResponse(params, ctx.issuer, 'consent_required', 'The user has not given consent.'));
    }
    return {
      step: 'consent',
      client: clientView(client),
      user: { username: browser.user.username },
      scopes: describeScopes(scopes),
    };
  }
  return issueCode(ctx, client, browser);
}

async function issueCode(ctx: Context, client: OAuthClient, browser: BrowserSession): Promise<Step> {
  const params = ctx.interaction.params;
  // Spent first: of two racing requests (a double click) only one gets a code.
  if (!(await finishInteraction(ctx.db, ctx.interaction.idHash, ctx.now))) throw interactionExpired();
  const code = await createAuthorizationCode(ctx.db, ctx.config, {
    clientId: client.clientId,
    redirectUri: params.redirect_uri,
    codeChallenge: params.code_challenge,
    nonce: params.nonce,
    userId: browser.user.id,
    sessionId: browser.session.id,
    scope: params.scope,
    resource: params.resource,
    authTime: browser.session.createdAt,
    amr: await sessionAmr(ctx.db, browser),
    dpopJkt: params.dpop_jkt,
  });
  return {
    step: 'redirect',
    redirect_to: authorizationResponse(params.redirect_uri, ctx.issuer, params.state, { code }),
  };
}

/**
 * The user's answer on the consent page. Allow remembers the consent (for this user, client
 * and scope set) and issues the code; Deny sends `access_denied` back. Either needs the
 * session the consent page was shown for to still be the browser's: otherwise the page starts
 * over with the sign-in.
 */
export async function decide(ctx: Context, allow: boolean): Promise<Step> {
  const client = await interactionClient(ctx);
  const browser = ctx.browser;
  if (!browser || !sessionSuffices(ctx, browser)) return nextStep(ctx);
  const params = ctx.interaction.params;
  const fields = { ...ctx.log, userId: browser.user.id, sessionId: browser.session.id, clientId: client.clientId };
  if (!allow) {
    const step = await finish(ctx, errorResponse(params, ctx.issuer, 'access_denied', 'The user denied the request.'));
    audit('oauth_consent_denied', fields);
    return step;
  }
  await rememberConsent(ctx.db, browser.user.id, client.clientId, parseScope(params.scope), ctx.now);
  audit('oauth_consent_given', fields);
  return issueCode(ctx, client, browser);
}
