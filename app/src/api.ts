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

export const startTotp = (current_password: string) =>
  ok(auth.api.POST('/auth/mfa/totp', { body: { current_password } }));

export const confirmTotp = (code: string) =>
  ok(auth.api.POST('/auth/mfa/totp/confirm', { body: { code } })).then((body) => body.recovery_codes);

export const disableTotp = (code: string, current_password: string) =>
  ok(auth.api.DELETE('/auth/mfa/totp', { body: { code, current_password } }));

export const newRecoveryCodes = (code: string, current_password: string) =>
  ok(auth.api.POST('/auth/mfa/recovery-codes', { body: { code, current_password } })).then(
    (body) => body.recovery_codes,
  );
