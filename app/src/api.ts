/**
 * Every call the app makes, through the typed client. Cookie mode: the refresh token lives in
 * the service's HttpOnly cookie, out of this script's reach, and the access token only in the
 * client's memory; neither is ever written to localStorage, sessionStorage or document.cookie.
 * The client attaches the access token, refreshes it before it expires, and refreshes and
 * retries once when a call meets `401 invalid_token`; `unwrap` turns each answer into its data
 * or a thrown EdgeAuthError, which the views show (dom.ts `act`).
 */
import { createEdgeAuthClient, EdgeAuthError, unwrap, type paths, type User } from 'edge-auth/client';

export type { User };

/**
 * The service this app talks to: its own origin when the Worker serves it (the demo). An app
 * served from elsewhere names the service in `<meta name="edge-auth-url">`; its origin must then
 * be listed in the service's CORS_ORIGINS (see the README, "Use it from a browser SPA").
 */
const baseUrl = document.querySelector<HTMLMetaElement>('meta[name="edge-auth-url"]')?.content || location.origin;

/**
 * `dpop`: the session is bound to a key this browser made (non-extractable, in IndexedDB), so an
 * access token lifted from this page by a script or an extension works nowhere else.
 */
export const auth = createEdgeAuthClient({ baseUrl, refreshTokenDelivery: 'cookie', dpop: true });

/** Set while a sign-out the user asked for is under way, to tell it from one the service made. */
let leaving = false;

/** Log out (this session) or Log out everywhere (every session of the user). */
export async function logOut(everywhere: boolean): Promise<void> {
  leaving = true;
  try {
    await (everywhere ? auth.logoutAll() : auth.logout());
  } finally {
    if (auth.user) leaving = false; // Still signed in: the request failed.
  }
}

/**
 * Whether the sign-out just published was the user's own (true once), rather than the service
 * ending this session: revoked or logged out everywhere from another device, or its password
 * changed there.
 */
export function signedOutByUser(): boolean {
  const was = leaving;
  leaving = false;
  return was;
}

export const callProtected = () => unwrap(auth.api.GET('/auth/protected'));

export const listSessions = () => unwrap(auth.api.GET('/auth/sessions')).then((body) => body.sessions);

export const revokeSession = (id: string) =>
  unwrap(auth.api.DELETE('/auth/sessions/{id}', { params: { path: { id } } }));

export const changePassword = (current_password: string, new_password: string) =>
  unwrap(auth.api.POST('/auth/password', { body: { current_password, new_password } }));

/** The API's largest page. */
const USERS_PER_REQUEST = 100;

/**
 * Every user. The API lists them by id only, with no search: the users view sorts and searches
 * here, over all of them, which suits the demo's few hundred users (a deployment with many
 * thousands wants sorting and search in the API).
 */
export async function listAllUsers(): Promise<User[]> {
  const users: User[] = [];
  let cursor: string | undefined;
  do {
    const page = await unwrap(
      auth.api.GET('/admin/users', { params: { query: { limit: USERS_PER_REQUEST, cursor } } }),
    );
    users.push(...page.users);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return users;
}

export const setRole = (id: string, role: 'user' | 'admin') =>
  unwrap(auth.api.PATCH('/admin/users/{id}', { params: { path: { id } }, body: { role } }));

export const deleteUser = (id: string) => unwrap(auth.api.DELETE('/admin/users/{id}', { params: { path: { id } } }));

export const startTotp = (current_password: string) =>
  unwrap(auth.api.POST('/auth/mfa/totp', { body: { current_password } }));

export const confirmTotp = (code: string) =>
  unwrap(auth.api.POST('/auth/mfa/totp/confirm', { body: { code } })).then((body) => body.recovery_codes);

export const disableTotp = (code: string, current_password: string) =>
  unwrap(auth.api.DELETE('/auth/mfa/totp', { body: { code, current_password } }));

export const newRecoveryCodes = (code: string, current_password: string) =>
  unwrap(auth.api.POST('/auth/mfa/recovery-codes', { body: { code, current_password } })).then(
    (body) => body.recovery_codes,
  );

export const listOAuthClients = (cursor: string | undefined) =>
  unwrap(auth.api.GET('/admin/oauth/clients', { params: { query: { limit: 20, cursor } } }));

/** An OAuth client as the admin routes show it. */
export type OAuthClient = Awaited<ReturnType<typeof listOAuthClients>>['clients'][number];

export const setSkipConsent = (client_id: string, skip_consent: boolean) =>
  unwrap(
    auth.api.PATCH('/admin/oauth/clients/{client_id}', { params: { path: { client_id } }, body: { skip_consent } }),
  ).then((body) => body.client);

export const deleteOAuthClient = (client_id: string) =>
  unwrap(auth.api.DELETE('/admin/oauth/clients/{client_id}', { params: { path: { client_id } } }));

/** RFC 8628's grant type: a device or a CLI whose user signs in on another screen. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** What the registration endpoint takes (RFC 7591 client metadata). */
export type ClientRegistration = paths['/oauth/register']['post']['requestBody']['content']['application/json'];

/**
 * Registers a client (RFC 7591) with the admin's access token as the initial access token. Its
 * errors are OAuth's (`error_description`), shown like a problem's detail.
 */
export async function registerOAuthClient(metadata: ClientRegistration) {
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

/** The scopes users grant to apps at sign-in (the service's src/oauth/scopes.ts SCOPES). */
const USER_SCOPES = ['openid', 'profile', 'email', 'roles', 'offline_access'];

/**
 * The scopes a machine client may hold, from discovery's `scopes_supported`: every one but the
 * users' own, that is the service's API scopes (OAUTH_API_SCOPES) and `admin`, in its order.
 */
export async function machineScopes(): Promise<string[]> {
  const metadata = await unwrap(auth.api.GET('/.well-known/openid-configuration'));
  const supported = Array.isArray(metadata.scopes_supported) ? metadata.scopes_supported : [];
  return supported.filter((s): s is string => typeof s === 'string' && !USER_SCOPES.includes(s));
}
