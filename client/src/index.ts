/**
 * edge-auth/client: a typed client for the edge-auth service, for browsers, Node >= 20 and
 * Workers.
 *
 * The model, after supabase auth-js (without its size):
 * - The access token lives only in this closure, never in localStorage or a readable cookie.
 *   The refresh token lives in the service's HttpOnly cookie (`cookie` delivery, browsers) or
 *   here (`body` delivery, everything else; `onRefreshToken` hands it over for storage).
 * - One refresh at a time: every caller that needs one shares the same in-flight promise, so
 *   ten requests meeting a dead access token cause one refresh, and each is retried once.
 * - A refresh is scheduled ahead of the access token's expiry; the timer never keeps a Node
 *   process alive, and logout stops it.
 * - Signed-in state changes are published to `onChange` listeners, for UIs.
 *
 * - With `dpop: true`, the session is bound to a key made on this device (RFC 9449, ./dpop.ts):
 *   every call carries a proof signed with it, so stolen tokens are useless elsewhere.
 *
 * Calls go through openapi-fetch with types generated from the service's OpenAPI document
 * (./schema.ts). The token (and proof) is attached, and the retry after a refresh happens, in one
 * openapi-fetch middleware rather than in a wrapper around every call.
 */
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import { createDpopProofs } from './dpop.js';
import { EdgeAuthError, toEdgeAuthError, unwrap } from './error.js';
import type { components, paths } from './schema.js';
import {
  browserCredentials,
  conditionalMediationAvailable,
  creationOptions,
  credentialJson,
  requestOptions,
  type CredentialsContainerLike,
} from './webauthn.js';

export { EdgeAuthError, unwrap } from './error.js';
export type { ApiResult, ErrorCode, ProblemDocument } from './error.js';
export type { components, paths } from './schema.js';
export type { CredentialsContainerLike } from './webauthn.js';
/**
 * The browser's half of a passkey ceremony, for a page that runs one against endpoints of its
 * own (the OAuth provider's hosted sign-in page): JSON options in (`creationOptions`,
 * `requestOptions`), the credential out as JSON (`credentialJson`).
 */
export * as webauthn from './webauthn.js';

type Json<T> = T extends { content: { 'application/json': infer B } } ? B : never;
type TokenResponse = Json<paths['/auth/login']['post']['responses'][200]>;

export type User = TokenResponse['user'];
export type Passkey = Json<paths['/auth/passkeys']['get']['responses'][200]>['passkeys'][number];
export type ApiKey = Json<paths['/auth/api-keys']['get']['responses'][200]>['api_keys'][number];
/** A key as created: with its `client_id` and its `client_secret`, which is shown this once. */
export type NewApiKey = Json<paths['/auth/api-keys']['post']['responses'][201]>;
export type Credentials = { username: string; password: string };
export type RefreshTokenDelivery = 'cookie' | 'body';
export type EdgeAuthApi = Client<paths>;

export type EdgeAuthClientOptions = {
  /** Where the service answers, e.g. `https://auth.example.com`. */
  baseUrl: string;
  /**
   * `cookie`: the refresh token stays in the service's HttpOnly cookie, out of JavaScript's
   * reach (browser SPAs; the SPA's origin must be in the service's CORS_ORIGINS when it is
   * not the service's own). `body`: this client keeps it (mobile, native, server, CLI).
   * Default: `cookie` where there is a `window` and a `document`, else `body`.
   */
  refreshTokenDelivery?: RefreshTokenDelivery;
  /** The fetch to use (default: the global one, looked up at call time). */
  fetch?: (request: Request) => Promise<Response>;
  /** `body` delivery: a refresh token kept from an earlier run, so `refresh()` can restore the session. */
  refreshToken?: string;
  /**
   * `body` delivery: called with every new refresh token (after login and each rotation) and
   * with `null` when the session ends, so an app can keep it in secure storage (Keychain,
   * Keystore, a file readable only by its user). Each token works once: store the newest.
   */
  onRefreshToken?: (refreshToken: string | null) => void;
  /** Refresh ahead of the access token's expiry (default true). */
  autoRefresh?: boolean;
  /**
   * Bind the session to a key made on this device (DPoP, RFC 9449): a non-extractable ES256
   * key (kept in IndexedDB in browsers, in memory elsewhere) signs a proof for every call, so a
   * token copied from this client works nowhere else. The refresh token is bound too: in
   * `body` delivery, a stored refresh token works only for a client holding the same key, that
   * is, in the same browser profile (default false).
   */
  dpop?: boolean;
  /**
   * What passkey ceremonies run on (default: the browser's `navigator.credentials`, looked up
   * at call time); a webview bridge or a test can bring its own.
   */
  credentials?: CredentialsContainerLike;
};

/** Refresh this long before the access token expires (at most a quarter of its lifetime). */
const REFRESH_LEAD_MS = 60_000;
/** setTimeout's largest delay; longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const BEARER_ERROR = /\berror="invalid_token"/;
/** The calls that begin or continue a session: with `dpop`, they carry a proof and bind it. */
const SESSION_CALLS = new Set([
  '/auth/login',
  '/auth/mfa/verify',
  '/auth/refresh',
  '/auth/passkeys/sign-in/verify',
  '/auth/passkeys/sign-up/verify',
]);

// Through globalThis: the same source is type-checked without the DOM library (Workers, Node).
const isBrowser = () => 'window' in globalThis && 'document' in globalThis;

export function createEdgeAuthClient(options: EdgeAuthClientOptions) {
  const delivery = options.refreshTokenDelivery ?? (isBrowser() ? 'cookie' : 'body');
  const autoRefresh = options.autoRefresh ?? true;
  const clientOptions = {
    baseUrl: options.baseUrl,
    fetch: options.fetch ?? ((request: Request) => globalThis.fetch(request)),
    // The refresh cookie must travel to the service and be stored from its answers even when
    // the SPA is on another origin (`app.example.com` calling `auth.example.com`).
    ...(delivery === 'cookie' ? { credentials: 'include' as const } : {}),
  };
  /** For login, refresh and logout: no bearer token, no retry (a refresh must never recurse). */
  const session = createClient<paths>(clientOptions);
  /** For everything else: bearer token attached, one retry after a refresh (see `bearer`). */
  const api = createClient<paths>(clientOptions);
  const dpop = options.dpop ? createDpopProofs(options.baseUrl) : null;

  let accessToken: string | null = null;
  /** `DPoP` when the service bound the session to this client's key (its answer's token_type). */
  let tokenType: TokenResponse['token_type'] = 'Bearer';
  let expiresAt = 0;
  let refreshToken = delivery === 'body' ? (options.refreshToken ?? null) : null;
  let user: User | null = null;
  let refreshing: Promise<User | null> | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped whenever a session starts or ends, so a refresh that began before cannot revive it. */
  let epoch = 0;
  const listeners = new Set<(user: User | null) => void>();

  function setUser(next: User | null) {
    if (JSON.stringify(next) === JSON.stringify(user)) return;
    user = next;
    for (const listener of listeners) {
      try {
        listener(user);
      } catch (err) {
        // A broken listener must not break sign-in; report it the way an event handler's would be.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  function setRefreshToken(next: string | null) {
    if (delivery !== 'body' || next === refreshToken) return;
    refreshToken = next;
    options.onRefreshToken?.(next);
  }

  function stopTimer() {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  }

  function schedule(expiresInSeconds: number) {
    stopTimer();
    if (!autoRefresh) return;
    const lifetime = expiresInSeconds * 1000;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, lifetime - Math.min(REFRESH_LEAD_MS, lifetime / 4)));
    // A failed scheduled refresh is not fatal: the next call meets the expiry and refreshes.
    timer = setTimeout(() => void refresh().catch(() => {}), delay);
    // Node: a pending refresh must not keep a script or server from exiting.
    (timer as unknown as { unref?: () => void }).unref?.();
  }

  function accept(tokens: TokenResponse) {
    accessToken = tokens.access_token;
    tokenType = tokens.token_type;
    expiresAt = Date.now() + tokens.expires_in * 1000;
    if (tokens.refresh_token) setRefreshToken(tokens.refresh_token);
    schedule(tokens.expires_in);
    setUser(tokens.user);
  }

  function clear() {
    epoch += 1;
    stopTimer();
    accessToken = null;
    expiresAt = 0;
    setRefreshToken(null);
    setUser(null);
  }

  async function rotate(): Promise<User | null> {
    if (delivery === 'body' && !refreshToken) {
      clear();
      return null;
    }
    const started = epoch;
    const { data, error, response } = await session.POST('/auth/refresh', {
      body: delivery === 'body' ? { refresh_token: refreshToken! } : undefined,
    });
    // Logged out (or in as someone else) meanwhile: this answer belongs to a finished session.
    if (started !== epoch) return user;
    if (data) {
      accept(data);
      return data.user;
    }
    // invalid_refresh_token (none, expired, revoked) or refresh_token_reused: no session left.
    if (response.status === 401) {
      clear();
      return null;
    }
    throw toEdgeAuthError(response, error);
  }

  /**
   * New tokens from the refresh token. Resolves to the user, or to `null` when there is no
   * session to continue (no cookie or refresh token, or the service refused it: 401); then
   * the client is signed out. Throws EdgeAuthError on any other answer (403 `csrf_rejected`
   * when the page's origin is not allowed, 5xx), and fetch's TypeError when offline.
   * Concurrent calls share one request.
   */
  function refresh(): Promise<User | null> {
    refreshing ??= rotate().finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  const canRefresh = () => (delivery === 'body' ? refreshToken !== null : user !== null);

  /** The body and token of each authenticated request in flight, by openapi-fetch's request id. */
  const inFlight = new Map<string, { request: Request; body: ArrayBuffer | null; token: string }>();

  /**
   * The request as sent: the token in the scheme the session has, and with DPoP a new proof
   * (each send is a new request to the service, so a retry gets its own `jti`).
   */
  const withToken = async (request: Request, body: ArrayBuffer | null, token: string) => {
    const headers = new Headers(request.headers);
    if (dpop && tokenType === 'DPoP') {
      headers.set('Authorization', `DPoP ${token}`);
      headers.set('DPoP', await dpop.proof(request.method, request.url, token));
    } else {
      headers.set('Authorization', `Bearer ${token}`);
    }
    // A body can be read once, so each send gets its own copy of the bytes (request.clone()
    // would tee a stream that, for a retry, is never read in time on some runtimes).
    return new Request(request, { headers, body });
  };

  /** The SESSION_CALLS with `dpop`: a proof, and one retry with the server's nonce. */
  const pendingProofs = new Map<string, { request: Request; body: ArrayBuffer | null }>();
  const withProof = async (request: Request, body: ArrayBuffer | null) => {
    const headers = new Headers(request.headers);
    headers.set('DPoP', await dpop!.proof(request.method, request.url));
    return new Request(request, { headers, body });
  };
  const proofs: Middleware = {
    async onRequest({ request, schemaPath, id }) {
      if (!SESSION_CALLS.has(schemaPath)) return undefined;
      const body = request.body ? await request.arrayBuffer() : null;
      pendingProofs.set(id, { request, body });
      return withProof(request, body);
    },
    async onResponse({ response, id, options: { fetch } }) {
      const sent = pendingProofs.get(id);
      pendingProofs.delete(id);
      dpop!.observe(response);
      if (!sent || !(await dpop!.wantsNonce(response))) return undefined;
      const retried = await fetch(await withProof(sent.request, sent.body));
      dpop!.observe(retried);
      return retried;
    },
    onError({ id }) {
      pendingProofs.delete(id);
      return undefined;
    },
  };
  if (dpop) session.use(proofs);

  const bearer: Middleware = {
    async onRequest({ request, id }) {
      if (request.headers.has('Authorization')) return undefined; // The caller's own token wins.
      // Known to be dead already (a sleeping laptop, a suspended app): refresh before sending.
      if (accessToken && Date.now() >= expiresAt && canRefresh()) await refresh().catch(() => null);
      const token = accessToken;
      if (!token) return undefined;
      const body = request.body ? await request.arrayBuffer() : null;
      inFlight.set(id, { request, body, token });
      return withToken(request, body, token);
    },
    async onResponse({ response, id, options: { fetch } }) {
      const sent = inFlight.get(id);
      inFlight.delete(id);
      dpop?.observe(response);
      if (sent && dpop && (await dpop.wantsNonce(response))) {
        const retried = await fetch(await withToken(sent.request, sent.body, sent.token));
        dpop.observe(retried);
        return retried;
      }
      if (!sent || response.status !== 401) return undefined;
      if (!BEARER_ERROR.test(response.headers.get('WWW-Authenticate') ?? '')) return undefined;
      // Another request may have refreshed since this one left: then just use its token.
      if (accessToken === sent.token || accessToken === null) {
        const refreshed = await refresh().catch(() => null);
        if (!refreshed) return undefined;
      }
      const token = accessToken;
      if (!token || token === sent.token) return undefined;
      return fetch(await withToken(sent.request, sent.body, token));
    },
    onError({ id }) {
      inFlight.delete(id);
      return undefined;
    },
  };
  api.use(bearer);

  /** A session started by a sign-in of any kind: keep its tokens and tell the listeners. */
  function signedIn(tokens: TokenResponse) {
    epoch += 1;
    accept(tokens);
    return { user: tokens.user };
  }

  const credentials = () => options.credentials ?? browserCredentials();

  /** The browser's part of a ceremony: the service's options in, the credential out, as JSON. */
  async function create(options: unknown, signal?: AbortSignal) {
    const credential = await credentials().create({
      publicKey: creationOptions(options as Record<string, unknown>),
      ...(signal ? { signal } : {}),
    });
    if (!credential) throw new DOMException('No passkey was created.', 'NotAllowedError');
    return credentialJson(credential);
  }

  /**
   * Passkeys (WebAuthn). The ceremonies run in the browser (`navigator.credentials`), with the
   * service's options; a cancelled or refused prompt rejects with the browser's DOMException
   * (`NotAllowedError`), a refusal by the service with an EdgeAuthError (`unknown_passkey`,
   * `passkey_user_not_verified`, ...).
   */
  const passkeys = {
    /** Whether this browser offers passkeys in a username field's autofill (see `signIn`). */
    conditionalMediationAvailable,

    /**
     * Signs in with a passkey and keeps the tokens, like `login`. Without a username the
     * browser offers every passkey of the service on this device. With `mediation:
     * 'conditional'`, nothing is shown until the user picks a passkey from the autofill of a
     * field with `autocomplete="username webauthn"`: start it when the form appears, and abort
     * it (`signal`) before any other ceremony. A user with two-factor on gets no second step:
     * a passkey verifies the user itself.
     */
    async signIn(
      options: { username?: string; mediation?: 'conditional' | 'optional' | 'required'; signal?: AbortSignal } = {},
    ): Promise<{ user: User }> {
      const json = await unwrap(
        session.POST('/auth/passkeys/sign-in/options', {
          body: options.username ? { username: options.username } : {},
        }),
      );
      const credential = await credentials().get({
        publicKey: requestOptions(json as Record<string, unknown>),
        ...(options.mediation ? { mediation: options.mediation } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (!credential) throw new DOMException('No passkey was chosen.', 'NotAllowedError');
      const tokens = await unwrap(
        session.POST('/auth/passkeys/sign-in/verify', {
          body: {
            credential: credentialJson(credential) as never,
            refresh_token_delivery: delivery,
          },
        }),
      );
      return signedIn(tokens);
    },

    /** Creates an account with a username and a passkey, no password, and signs in. */
    async signUp(options: { username: string; name?: string; signal?: AbortSignal }): Promise<{ user: User }> {
      const json = await unwrap(
        session.POST('/auth/passkeys/sign-up/options', { body: { username: options.username } }),
      );
      const credential = await create(json, options.signal);
      const tokens = await unwrap(
        session.POST('/auth/passkeys/sign-up/verify', {
          body: {
            credential: credential as never,
            refresh_token_delivery: delivery,
            ...(options.name ? { name: options.name } : {}),
          },
        }),
      );
      return signedIn(tokens);
    },

    /**
     * Adds a passkey to the signed-in account. Needs `currentPassword` (and `code` when
     * two-factor is on); an account without a password needs a passkey sign-in in the last
     * five minutes instead (403 `reauthentication_required` otherwise).
     */
    async register(
      options: { currentPassword?: string; code?: string; name?: string; signal?: AbortSignal } = {},
    ): Promise<Passkey> {
      const json = await unwrap(
        api.POST('/auth/passkeys/register/options', {
          body: {
            ...(options.currentPassword !== undefined ? { current_password: options.currentPassword } : {}),
            ...(options.code !== undefined ? { code: options.code } : {}),
          },
        }),
      );
      const credential = await create(json, options.signal);
      const { passkey } = await unwrap(
        api.POST('/auth/passkeys/register/verify', {
          body: { credential: credential as never, ...(options.name ? { name: options.name } : {}) },
        }),
      );
      return passkey;
    },

    /** The account's passkeys, and whether it has a password. */
    list: (): Promise<{ passkeys: Passkey[]; password: boolean }> => unwrap(api.GET('/auth/passkeys')),

    async rename(id: string, name: string): Promise<Passkey> {
      const { passkey } = await unwrap(api.PATCH('/auth/passkeys/{id}', { params: { path: { id } }, body: { name } }));
      return passkey;
    },

    /** Removes a passkey: after a sign-in in the last five minutes, or with `currentPassword`. */
    async remove(id: string, options: { currentPassword?: string } = {}): Promise<void> {
      await unwrap(
        api.DELETE('/auth/passkeys/{id}', {
          params: { path: { id } },
          body: options.currentPassword !== undefined ? { current_password: options.currentPassword } : {},
        }),
      );
    },

    /** Gives an account made with a passkey its first password (after a recent passkey sign-in). */
    async addPassword(newPassword: string): Promise<void> {
      await unwrap(api.POST('/auth/password/add', { body: { new_password: newPassword } }));
    },
  };

  /**
   * Personal API keys of the signed-in user, for scripts that act as that user. A script trades
   * a key's `client_id` and `client_secret` at the service's `/oauth/token` (client credentials,
   * HTTP Basic) for short-lived access tokens; any OAuth client library does that.
   */
  const apiKeys = {
    /**
     * Creates a key. `scope`: space-separated scopes of the service's APIs (`admin` for admins
     * only). Needs `currentPassword`, and `code` when two-factor is on (an account without a
     * password: a passkey sign-in in the last five minutes). `expiresIn` in seconds; without
     * it the key does not expire. The secret is in this answer only: show it, then forget it.
     */
    create: (options: {
      name: string;
      scope: string;
      expiresIn?: number;
      currentPassword?: string;
      code?: string;
    }): Promise<NewApiKey> =>
      unwrap(
        api.POST('/auth/api-keys', {
          body: {
            name: options.name,
            scope: options.scope,
            ...(options.expiresIn !== undefined ? { expires_in: options.expiresIn } : {}),
            ...(options.currentPassword !== undefined ? { current_password: options.currentPassword } : {}),
            ...(options.code !== undefined ? { code: options.code } : {}),
          },
        }),
      ),

    /** The keys that still work, newest first (never their secrets). */
    list: (): Promise<ApiKey[]> => unwrap(api.GET('/auth/api-keys')).then((body) => body.api_keys),

    /** Revokes a key: it gets no more tokens, and those it got stop working at the service. */
    async revoke(id: string): Promise<void> {
      await unwrap(api.DELETE('/auth/api-keys/{id}', { params: { path: { id } } }));
    },
  };

  return {
    passkeys,

    apiKeys,

    /**
     * Every route of the service, typed by path: `auth.api.GET('/auth/me')`. Answers are
     * openapi-fetch's `{ data, error, response }` (no throwing; `unwrap()` turns one into its
     * data or a thrown EdgeAuthError); the access token is attached and, on
     * `401 invalid_token`, refreshed once and the call retried once.
     */
    api,

    /** Creates a user (role `user`). It does not sign in: call `login` next. */
    async register(credentials: Credentials): Promise<{ user: User }> {
      const { data, error, response } = await session.POST('/auth/register', { body: credentials });
      if (!data) throw toEdgeAuthError(response, error);
      return data;
    },

    /**
     * Signs in and keeps the tokens. Throws EdgeAuthError: 401 `invalid_credentials`,
     * 429 `too_many_attempts` (see `Retry-After`), 403 `mfa_required` with `mfa_token` in
     * `.problem` when the user has two-factor sign-in.
     */
    async login(credentials: Credentials): Promise<{ user: User }> {
      const { data, error, response } = await session.POST('/auth/login', {
        body: { ...credentials, refresh_token_delivery: delivery },
      });
      if (!data) throw toEdgeAuthError(response, error);
      epoch += 1;
      accept(data);
      return { user: data.user };
    },

    /**
     * The second step of a two-factor login: the `mfa_token` from login's 403 `mfa_required`
     * EdgeAuthError (`err.problem.mfa_token`) with a TOTP `code` or a `recovery_code`. Keeps
     * the tokens as login does. Throws EdgeAuthError: 401 `invalid_mfa_code` (ask again),
     * 401 `invalid_mfa_token` (expired, used or five wrong codes: log in again), 429
     * `too_many_attempts`.
     */
    async verifyMfa(
      step: { mfa_token: string; code: string } | { mfa_token: string; recovery_code: string },
    ): Promise<{ user: User }> {
      const { data, error, response } = await session.POST('/auth/mfa/verify', { body: step });
      if (!data) throw toEdgeAuthError(response, error);
      epoch += 1;
      accept(data);
      return { user: data.user };
    },

    refresh,

    /**
     * Ends this session at the service (idempotent) and forgets the tokens. The local state
     * is cleared even when the request fails; the error is thrown afterwards.
     */
    async logout(): Promise<void> {
      const token = refreshToken;
      // No refresh may start or land meanwhile: the session is ending.
      epoch += 1;
      stopTimer();
      try {
        if (delivery === 'body' && !token) return;
        const { error, response } = await session.POST('/auth/logout', {
          body: token ? { refresh_token: token } : undefined,
        });
        if (!response.ok) throw toEdgeAuthError(response, error);
      } finally {
        // Listeners hear of it only after the service answered: a page that reloads or closes on
        // the signed-out event would otherwise cut off the answer that clears the refresh cookie.
        clear();
      }
    },

    /** Ends every session of the user, on every device, and every access token issued so far. */
    async logoutAll(): Promise<void> {
      const { error, response } = await api.POST('/auth/logout-all');
      if (response.ok || response.status === 401) clear();
      if (!response.ok) throw toEdgeAuthError(response, error);
    },

    /** The signed-in user as of the last login or refresh, or null. */
    get user(): User | null {
      return user;
    },

    /**
     * The current access token, for calling your own services that verify it (see the README,
     * "Verifying tokens in other services"). Keep it in memory only. With `dpop`, it is bound to
     * this client's key (`cnf.jkt`): a service must then check a DPoP proof with it.
     */
    get accessToken(): string | null {
      return accessToken;
    },

    /**
     * Calls `listener` with the user whenever the signed-in state changes (login, a refresh
     * that finds a changed user, logout, a session the service ended). Returns an unsubscribe.
     */
    onChange(listener: (user: User | null) => void): () => void {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}

export type EdgeAuthClient = ReturnType<typeof createEdgeAuthClient>;
