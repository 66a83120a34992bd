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
import { type Client } from 'openapi-fetch';
import type { paths } from './schema.js';
import { conditionalMediationAvailable, type CredentialsContainerLike } from './webauthn.js';
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
type Json<T> = T extends {
    content: {
        'application/json': infer B;
    };
} ? B : never;
type TokenResponse = Json<paths['/auth/login']['post']['responses'][200]>;
export type User = TokenResponse['user'];
export type Passkey = Json<paths['/auth/passkeys']['get']['responses'][200]>['passkeys'][number];
export type ApiKey = Json<paths['/auth/api-keys']['get']['responses'][200]>['api_keys'][number];
/** A key as created: with its `client_id` and its `client_secret`, which is shown this once. */
export type NewApiKey = Json<paths['/auth/api-keys']['post']['responses'][201]>;
export type Credentials = {
    username: string;
    password: string;
};
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
export declare function createEdgeAuthClient(options: EdgeAuthClientOptions): {
    passkeys: {
        /** Whether this browser offers passkeys in a username field's autofill (see `signIn`). */
        conditionalMediationAvailable: typeof conditionalMediationAvailable;
        /**
         * Signs in with a passkey and keeps the tokens, like `login`. Without a username the
         * browser offers every passkey of the service on this device. With `mediation:
         * 'conditional'`, nothing is shown until the user picks a passkey from the autofill of a
         * field with `autocomplete="username webauthn"`: start it when the form appears, and abort
         * it (`signal`) before any other ceremony. A user with two-factor on gets no second step:
         * a passkey verifies the user itself.
         */
        signIn(options?: {
            username?: string;
            mediation?: "conditional" | "optional" | "required";
            signal?: AbortSignal;
        }): Promise<{
            user: User;
        }>;
        /** Creates an account with a username and a passkey, no password, and signs in. */
        signUp(options: {
            username: string;
            name?: string;
            signal?: AbortSignal;
        }): Promise<{
            user: User;
        }>;
        /**
         * Adds a passkey to the signed-in account. Needs `currentPassword` (and `code` when
         * two-factor is on); an account without a password needs a passkey sign-in in the last
         * five minutes instead (403 `reauthentication_required` otherwise).
         */
        register(options?: {
            currentPassword?: string;
            code?: string;
            name?: string;
            signal?: AbortSignal;
        }): Promise<Passkey>;
        /** The account's passkeys, and whether it has a password. */
        list: () => Promise<{
            passkeys: Passkey[];
            password: boolean;
        }>;
        rename(id: string, name: string): Promise<Passkey>;
        /** Removes a passkey: after a sign-in in the last five minutes, or with `currentPassword`. */
        remove(id: string, options?: {
            currentPassword?: string;
        }): Promise<void>;
        /** Gives an account made with a passkey its first password (after a recent passkey sign-in). */
        addPassword(newPassword: string): Promise<void>;
    };
    apiKeys: {
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
        }) => Promise<NewApiKey>;
        /** The keys that still work, newest first (never their secrets). */
        list: () => Promise<ApiKey[]>;
        /** Revokes a key: it gets no more tokens, and those it got stop working at the service. */
        revoke(id: string): Promise<void>;
    };
    /**
     * Every route of the service, typed by path: `auth.api.GET('/auth/me')`. Answers are
     * openapi-fetch's `{ data, error, response }` (no throwing; `unwrap()` turns one into its
     * data or a thrown EdgeAuthError); the access token is attached and, on
     * `401 invalid_token`, refreshed once and the call retried once.
     */
    api: Client<paths, `${string}/${string}`>;
    /** Creates a user (role `user`). It does not sign in: call `login` next. */
    register(credentials: Credentials): Promise<{
        user: User;
    }>;
    /**
     * Signs in and keeps the tokens. Throws EdgeAuthError: 401 `invalid_credentials`,
     * 429 `too_many_attempts` (see `Retry-After`), 403 `mfa_required` with `mfa_token` in
     * `.problem` when the user has two-factor sign-in.
     */
    login(credentials: Credentials): Promise<{
        user: User;
    }>;
    /**
     * The second step of a two-factor login: the `mfa_token` from login's 403 `mfa_required`
     * EdgeAuthError (`err.problem.mfa_token`) with a TOTP `code` or a `recovery_code`. Keeps
     * the tokens as login does. Throws EdgeAuthError: 401 `invalid_mfa_code` (ask again),
     * 401 `invalid_mfa_token` (expired, used or five wrong codes: log in again), 429
     * `too_many_attempts`.
     */
    verifyMfa(step: {
        mfa_token: string;
        code: string;
    } | {
        mfa_token: string;
        recovery_code: string;
    }): Promise<{
        user: User;
    }>;
    refresh: () => Promise<User | null>;
    /**
     * Ends this session at the service (idempotent) and forgets the tokens. The local state
     * is cleared even when the request fails; the error is thrown afterwards.
     */
    logout(): Promise<void>;
    /** Ends every session of the user, on every device, and every access token issued so far. */
    logoutAll(): Promise<void>;
    /** The signed-in user as of the last login or refresh, or null. */
    readonly user: User | null;
    /**
     * The current access token, for calling your own services that verify it (see the README,
     * "Verifying tokens in other services"). Keep it in memory only. With `dpop`, it is bound to
     * this client's key (`cnf.jkt`): a service must then check a DPoP proof with it.
     */
    readonly accessToken: string | null;
    /**
     * Calls `listener` with the user whenever the signed-in state changes (login, a refresh
     * that finds a changed user, logout, a session the service ended). Returns an unsubscribe.
     */
    onChange(listener: (user: User | null) => void): () => void;
};
export type EdgeAuthClient = ReturnType<typeof createEdgeAuthClient>;
