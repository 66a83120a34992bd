/**
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the client sends the browser to
 * the end_session_endpoint with `id_token_hint`, `post_logout_redirect_uri` and `state`; the
 * user confirms on the hosted page (so a link on another site cannot sign anyone out); the
 * browser's session ends, and the browser goes back to that URI with the `state`.
 *
 * Every refusal is a page of ours, never a redirect: the redirect URI is trusted only once it
 * is known to be registered for a client the request proved (by its ID token, or its
 * client_id), or this endpoint would be an open redirector.
 */
import { compactVerify, decodeProtectedHeader } from 'jose';
import type { Config } from '../platform/config';
import { fromBase64Url } from '../platform/crypto';
import type { Database } from '../platform/db/client';
import { ApiError } from '../platform/errors';
import { audit, type RequestLog } from '../platform/audit';
import { getKeyRing } from '../credentials/keys';
import { revokeOwnSession, revokeSession } from '../sessions/sessions';
import type { BrowserSession, ClientView } from './authorize-flow';
import { clientView } from './authorize-flow';
import { getClient, matchRedirectUri } from './clients';
import { MAX_PARAM_LENGTH } from './authorize-request';
import { finishInteraction, interactionExpired, type Interaction, type LogoutParams } from './interactions';

export type LogoutValidation =
  { kind: 'valid'; clientId: string | null; params: LogoutParams } | { kind: 'page'; description: string };

type Hint = { sub: string; aud: string[]; sid?: string | undefined };

/**
 * The claims of an ID token this service issued, or null. Its signature and issuer are checked,
 * not its expiry: the spec asks providers to accept a hint whose `exp` has passed (a user
 * often logs out long after signing in).
 */
async function readIdTokenHint(config: Config, issuer: string, token: string): Promise<Hint | null> {
  const parts = token.split('.');
  if (parts.length !== 3 || token.length > 8192) return null;
  let header: unknown;
  let payload: unknown;
  try {
    header = decodeProtectedHeader(token);
    payload = JSON.parse(new TextDecoder().decode(fromBase64Url(parts[1]!) ?? new Uint8Array()));
  } catch {
    return null;
  }
  const { kid, alg } = (typeof header === 'object' && header !== null ? header : {}) as {
    kid?: unknown;
    alg?: unknown;
  };
  const key = typeof kid === 'string' ? (await getKeyRing(config)).verify.get(kid) : undefined;
  // ID tokens are signed with asymmetric keys only; the header's alg must be the key's.
  if (!key || key.alg === 'HS256' || alg !== key.alg) return null;
  if (!(await compactVerify(token, key.key, { algorithms: [key.alg] }).catch(() => null))) return null;
  const { iss, sub, aud, sid } = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<
    string,
    unknown
  >;
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  if (iss !== issuer || typeof sub !== 'string' || !audiences.every((a) => typeof a === 'string')) return null;
  if (audiences.length === 0) return null;
  return { sub, aud: audiences as string[], sid: typeof sid === 'string' ? sid : undefined };
}

function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) throw new Error(`The ${name} parameter was sent more than once.`);
  return values[0] === '' ? undefined : values[0];
}

export async function validateLogoutRequest(
  db: Database,
  config: Config,
  issuer: string,
  params: URLSearchParams,
): Promise<LogoutValidation> {
  let hintToken, clientIdParam, redirectUri, state;
  try {
    hintToken = single(params, 'id_token_hint');
    clientIdParam = single(params, 'client_id');
    redirectUri = single(params, 'post_logout_redirect_uri');
    state = single(params, 'state');
  } catch (err) {
    return { kind: 'page', description: (err as Error).message };
  }
  if (state !== undefined && state.length > MAX_PARAM_LENGTH) {
    return { kind: 'page', description: `The state parameter is longer than ${MAX_PARAM_LENGTH} characters.` };
  }
  const hint = hintToken ? await readIdTokenHint(config, issuer, hintToken) : null;
  if (hintToken && !hint) {
    return { kind: 'page', description: 'The logout request carries an ID token this service did not issue.' };
  }
  if (hint && clientIdParam && !hint.aud.includes(clientIdParam)) {
    return { kind: 'page', description: 'The logout request’s client_id is not the one its ID token was issued to.' };
  }
  const clientId = clientIdParam ?? (hint?.aud.length === 1 ? hint.aud[0]! : undefined);
  const client = clientId ? await getClient(db, clientId) : undefined;
  if (clientId && !client) {
    return { kind: 'page', description: 'The application that sent you here is not registered with this service.' };
  }
  if (redirectUri !== undefined) {
    if (!client) {
      return {
        kind: 'page',
        description: 'The logout request names an address to return to, but not the application it belongs to.',
      };
    }
    if (!matchRedirectUri(client.postLogoutRedirectUris, redirectUri)) {
      return {
        kind: 'page',
        description: 'The address the application asked to send you back to after logout is not registered for it.',
      };
    }
  }
  return {
    kind: 'valid',
    clientId: client?.clientId ?? null,
    params: {
      post_logout_redirect_uri: redirectUri,
      // Without a place to return to, the state has nowhere to go.
      state: redirectUri !== undefined ? state : undefined,
      user_id: hint?.sub,
      session_id: hint?.sid,
    },
  };
}

type Context = {
  db: Database;
  interaction: Interaction<'logout'>;
  browser: BrowserSession | null;
  log: RequestLog;
  now: number;
};

/** What the confirmation page shows: the client that asks, and who is signed in. */
export async function logoutInfo(ctx: Context): Promise<{ client?: ClientView; username?: string }> {
  const client = ctx.interaction.clientId ? await getClient(ctx.db, ctx.interaction.clientId) : undefined;
  return {
    ...(client ? { client: clientView(client) } : {}),
    ...(ctx.browser ? { username: ctx.browser.user.username } : {}),
  };
}

/**
 * The user's answer. `logout` ends the browser's session and the session the ID token was
 * issued for (when it is that user's); `stay` ends nothing. Either way the browser goes back
 * to the registered URI with the state, when the request named one.
 */
export async function confirmLogout(ctx: Context, logout: boolean): Promise<{ redirect_to?: string }> {
  if (!(await finishInteraction(ctx.db, ctx.interaction.idHash, ctx.now))) throw interactionExpired();
  const { post_logout_redirect_uri, state, user_id, session_id } = ctx.interaction.params;
  if (logout) {
    if (ctx.browser) {
      await revokeSession(ctx.db, ctx.browser.session.id, 'logout', ctx.now);
      audit('logout', { ...ctx.log, userId: ctx.browser.user.id, sessionId: ctx.browser.session.id });
    }
    if (user_id && session_id && session_id !== ctx.browser?.session.id) {
      try {
        await revokeOwnSession(ctx.db, user_id, session_id, ctx.now);
        audit('logout', { ...ctx.log, userId: user_id, sessionId: session_id });
      } catch (err) {
        // Ended already: nothing to do.
        if (!(err instanceof ApiError)) throw err;
      }
    }
  }
  if (!post_logout_redirect_uri) return {};
  const url = new URL(post_logout_redirect_uri);
  if (state !== undefined) url.searchParams.set('state', state);
  return { redirect_to: url.href };
}
