/**
 * Every call the app makes, through the typed client. Cookie mode: the refresh token lives in
 * the service's HttpOnly cookie, out of this script's reach, and the access token only in the
 * client's memory; neither is ever written to localStorage, sessionStorage or document.cookie.
 * The client attaches the access token, refreshes it before it expires, and refreshes and
 * retries once when a call meets `401 invalid_token`.
 */
import { createEdgeAuthClient, EdgeAuthError, type ProblemDocument } from 'edge-auth/client';

/**
 * The service this app talks to: its own origin when the Worker serves it (the demo). An app
 * served from elsewhere names the service in `<meta name="edge-auth-url">`; its origin must then
 * be listed in the service's CORS_ORIGINS (see the README, "Use it from a browser SPA").
 */
const baseUrl = document.querySelector<HTMLMetaElement>('meta[name="edge-auth-url"]')?.content || location.origin;

export const auth = createEdgeAuthClient({ baseUrl, refreshTokenDelivery: 'cookie' });

export type { User } from 'edge-auth/client';

/** The data of an `auth.api` call, or its problem document thrown as an EdgeAuthError. */
async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok) return data as T;
  if (error && typeof error === 'object' && 'code' in error) throw new EdgeAuthError(error as ProblemDocument);
  throw new EdgeAuthError({
    type: 'about:blank',
    title: response.statusText,
    status: response.status,
    detail: `The service answered ${response.status}.`,
    code: 'unexpected_response',
  });
}

export const callProtected = () => ok(auth.api.GET('/auth/protected'));

export const listSessions = () => ok(auth.api.GET('/auth/sessions')).then((body) => body.sessions);

export const revokeSession = (id: string) => ok(auth.api.DELETE('/auth/sessions/{id}', { params: { path: { id } } }));

export const changePassword = (current_password: string, new_password: string) =>
  ok(auth.api.POST('/auth/password', { body: { current_password, new_password } }));

export const USERS_PAGE_SIZE = 10;

export const listUsers = (cursor: string | undefined) =>
  ok(auth.api.GET('/admin/users', { params: { query: { limit: USERS_PAGE_SIZE, cursor } } }));

export const setRole = (id: string, role: 'user' | 'admin') =>
  ok(auth.api.PATCH('/admin/users/{id}', { params: { path: { id } }, body: { role } }));

export const deleteUser = (id: string) => ok(auth.api.DELETE('/admin/users/{id}', { params: { path: { id } } }));

export const startTotp = () => ok(auth.api.POST('/auth/mfa/totp'));

export const confirmTotp = (code: string) =>
  ok(auth.api.POST('/auth/mfa/totp/confirm', { body: { code } })).then((body) => body.recovery_codes);

export const disableTotp = (code: string) => ok(auth.api.DELETE('/auth/mfa/totp', { body: { code } }));

export const newRecoveryCodes = (code: string) =>
  ok(auth.api.POST('/auth/mfa/recovery-codes', { body: { code } })).then((body) => body.recovery_codes);

export const listOAuthClients = (cursor: string | undefined) =>
  ok(auth.api.GET('/admin/oauth/clients', { params: { query: { limit: 20, cursor } } }));

/** An OAuth client as the admin routes show it. */
export type OAuthClient = Awaited<ReturnType<typeof listOAuthClients>>['clients'][number];

export const setSkipConsent = (client_id: string, skip_consent: boolean) =>
  ok(
    auth.api.PATCH('/admin/oauth/clients/{client_id}', { params: { path: { client_id } }, body: { skip_consent } }),
  ).then((body) => body.client);

export const deleteOAuthClient = (client_id: string) =>
  ok(auth.api.DELETE('/admin/oauth/clients/{client_id}', { params: { path: { client_id } } }));

/**
 * Registers a client (RFC 7591) with the admin's access token as the initial access token. Its
 * errors are OAuth's (`error_description`), shown like a problem's detail.
 */
export async function registerOAuthClient(metadata: {
  client_name: string;
  redirect_uris: string[];
  token_endpoint_auth_method: 'none' | 'client_secret_basic';
  grant_types: ('authorization_code' | 'refresh_token')[];
}) {
  const { data, error, response } = await auth.api.POST('/oauth/register', { body: metadata });
  if (response.ok && data) return data;
  const oauth = error as { error?: string; error_description?: string } | undefined;
  throw new EdgeAuthError({
    type: 'about:blank',
    title: oauth?.error ?? response.statusText,
    status: response.status,
    detail: oauth?.error_description ?? `The service answered ${response.status}.`,
    code: 'unexpected_response',
  });
}
