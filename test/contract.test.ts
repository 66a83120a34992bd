/**
 * The contract: real answers of every operation in /openapi.json, for every status it
 * documents, success and error, validated against the document's own schemas.
 *
 * - An operation without a case for each documented status fails the test, and so does a
 *   case for an undocumented status: adding a route (or a response) means adding its cases.
 * - A route the app serves that the document does not list fails too.
 *
 * Validation runs here in workerd, next to the real Worker and D1 (cheap, and configuration
 * overrides are one appWith() away), with @cfworker/json-schema: workerd forbids eval and
 * `new Function`, which ajv needs to compile schemas, while @cfworker/json-schema interprets
 * them (JSON Schema 2020-12, OpenAPI 3.1's dialect).
 */
import { Validator, type Schema } from '@cfworker/json-schema';
import { env } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/http/app';
import { MAX_BODY_BYTES } from '../src/http/schemas';
import {
  ORIGIN,
  PASSWORD,
  api,
  apiDocument,
  appWith,
  enrolTotp,
  login,
  loginForChallenge,
  promote,
  register,
  sessionIdOf,
  signedIn,
  signedInAdmin,
  insertImportedUser,
  uniqueName,
  withoutLegacyHashes,
} from './helpers';
import { b64url } from './jwt';
import { addPasskey, ageSignIn, registerOptions, RP_ID, signInResponse, signUp } from './passkey-support';
import { attestation, newCredential } from './webauthn';
import { totp } from './totp';
import { authorizeParams, Browser, newClient, providerApi } from './oauth-browser';
import { adminOf, basic, form, grant, provider, registerClient } from './oauth-helpers';
import fixture from './fixtures/legacy-hash-vectors.json';

type Json = Record<string, any>;
type Operation = {
  operationId: string;
  requestBody?: unknown;
  security?: Record<string, unknown>[];
  responses: Record<string, { content?: Record<string, { schema: Json }> }>;
};

const document = apiDocument();
/** The Worker's operations: /openapi.json is the document itself, a static asset (test/e2e/demo-app.test.ts). */
const operations = Object.entries(document.paths as Record<string, Record<string, Operation>>)
  .filter(([path]) => path !== '/openapi.json')
  .flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, ...op })));

/** Each case sends one request and must get the status it is listed under. */
type Send = () => Promise<Response>;
const NO_SUCH_ID = 'no-such-id-0000';

/** Repeats a failing attempt until the throttle answers 429 (a strict limit keeps it short). */
async function until429(send: Send): Promise<Response> {
  let res = await send();
  for (let i = 0; i < 10 && res.status !== 429; i++) res = await send();
  return res;
}
const strict = () => appWith({ LOGIN_MAX_FAILURES: '1', LOGIN_WINDOW: '60' });

/** Registrations from one address (one per route, no other case uses it) until the limit answers. */
function registerUntil429(path: '/auth/register' | '/signup'): Promise<Response> {
  const app = appWith({ REGISTER_IP_MAX: '1', REGISTER_WINDOW: '60' });
  const ip = path === '/signup' ? '198.51.100.2' : '198.51.100.1';
  return until429(() =>
    app(path, { json: { username: uniqueName(), password: PASSWORD }, headers: { 'CF-Connecting-IP': ip } }),
  );
}

/** A refresh cookie from a cookie-mode login, for the CSRF cases. */
async function refreshCookie(): Promise<string> {
  const user = await register();
  const res = await api('/auth/login', {
    json: { username: user.username, password: PASSWORD, refresh_token_delivery: 'cookie' },
  });
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('__Host-'));
  expect(cookie).toBeDefined();
  return cookie!.split(';')[0]!;
}
const foreignOrigin = async (path: string) =>
  api(path, { method: 'POST', headers: { Cookie: await refreshCookie(), Origin: 'https://evil.example' } });

/** A browser with a pending authorization request (and, with `signedIn`, a session). */
async function pendingAuthorization(options: { user?: string; skipConsent?: boolean; call?: typeof api } = {}) {
  const browser = new Browser(options.call);
  const { clientId } = await newClient({}, { skipConsent: options.skipConsent });
  if (options.user) await browser.login(options.user);
  return { browser, interaction: await browser.authorize(authorizeParams(clientId)) };
}
/** The same call from another site: the CSRF check refuses it. */
const crossSite = (browser: Browser, path: string, json: Record<string, unknown>) =>
  browser.page(path, json, { Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site' });
/** A browser at the logout confirmation page. */
async function pendingLogout() {
  const browser = new Browser();
  const res = await browser.navigate('/oauth/logout');
  return { browser, interaction: new URL(res.headers.get('Location')!, ORIGIN).searchParams.get('interaction')! };
}
/** A two-factor user's sign-in on the hosted page, stopped at the code step. */
async function codeStep(call?: typeof api) {
  const user = await twoFactorUser();
  const { browser, interaction } = await pendingAuthorization({ call });
  const res = await browser.page('/oauth/interaction/sign-in', {
    interaction,
    username: user.user.username,
    password: PASSWORD,
  });
  const { mfa_token } = (await res.json()) as { mfa_token: string };
  return { user, browser, interaction, mfa_token };
}

const codeStepResponse = async () => {
  const user = await twoFactorUser();
  const { browser, interaction } = await pendingAuthorization();
  return browser.page('/oauth/interaction/sign-in', { interaction, username: user.user.username, password: PASSWORD });
};

/** A D1 that is down: every query fails. */
const unreachableDb = new Proxy({} as D1Database, {
  get: () => () => {
    throw new Error('D1 unreachable');
  },
});

/** Makes `userId` the only admin, as on a fresh deployment. */
async function onlyAdmin(userId: string) {
  await env.DB.prepare("UPDATE users SET role = 'user' WHERE role = 'admin'").run();
  await promote(userId);
}

/** A user with TOTP on; the confirming code's step is spent, so cases use recovery codes. */
async function twoFactorUser() {
  const s = await signedIn();
  return { ...s, ...(await enrolTotp(s.token)) };
}
/** Two-factor routes without DATA_ENCRYPTION_KEY (their 500 is logged: keep the run quiet). */
function withoutDataKey(): typeof api {
  const app = appWith({ DATA_ENCRYPTION_KEY: '' });
  return (path, init) => {
    vi.spyOn(console, 'error').mockImplementationOnce(() => {});
    return app(path, init);
  };
}
const mfaStrict = () => appWith({ MFA_MAX_FAILURES: '1' });
const WRONG_PASSWORD = 'not-the-password';
/**
 * A signed-in user whose stored hash is a Flask one only the companion Worker checks (a login
 * replaces it, so it is put back by hand), for the 503 of a route that proves the password.
 */
async function withFlaskHash(twoFactor = false) {
  const s = twoFactor ? await twoFactorUser() : { ...(await signedIn()), recoveryCodes: [] as string[] };
  await env.DB.prepare('UPDATE users SET password_hash = ? WHERE id = ?').bind(bcrypt.hash, s.user.id).run();
  return s;
}
/** One wrong code in a row locks TOTP codes (the window's limit kept out of the way). */
const mfaLockedApp = () => appWith({ MFA_MAX_CONSECUTIVE_FAILURES: '1', MFA_MAX_FAILURES: '1000' });
/** A Flask-Bcrypt hash: only the companion Worker can check it (legacy-hashes-companion.ts). */
const bcrypt = fixture.vectors.find((v) => v.hash.startsWith('$2b$04$'))!;
/** Sends without the companion; its operator log line is asserted in legacy-hashes.test.ts. */
async function withoutCompanion(path: string, init: Parameters<typeof api>[1]): Promise<Response> {
  const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
  try {
    return await withoutLegacyHashes()(path, init);
  } finally {
    quiet.mockRestore();
  }
}
const importedLogin = async (path: '/auth/login' | '/auth') =>
  withoutCompanion(path, {
    json: { username: (await insertImportedUser(bcrypt.hash)).username, password: bcrypt.password },
  });
/** The app with a fake send_email binding that keeps what it sends. */
function mailing(overrides: Partial<Cloudflare.Env> = {}) {
  const sent: { text: string }[] = [];
  const EMAIL = {
    send: async (m: { text: string }) => (sent.push(m), { messageId: '<contract@example.test>' }),
  } as unknown as SendEmail;
  return { sent, call: appWith({ EMAIL, EMAIL_FROM: 'auth@example.test', ...overrides }) };
}
const codeIn = (mail: { text: string } | undefined) => /^(\d{6})$/m.exec(mail?.text ?? '')?.[1];
let recoveryAddress = 0;
const freshAddress = () => `198.51.100.${100 + (recoveryAddress++ % 100)}`;

/** The OAuth provider (an RS256 key, an issuer); the default test app has neither. */
const oauth = await provider();
const apiKeyBody = { name: 'Contract', scope: 'api', current_password: PASSWORD };
const oauthClient = await registerClient(oauth);
const oauthAuth = { Authorization: basic(oauthClient.client_id, oauthClient.client_secret!) };
/** A client of the device flow (RFC 8628), and a user code of a pending device authorization. */
const deviceClient = await registerClient(oauth, {
  grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
});
const deviceAuth = { Authorization: basic(deviceClient.client_id, deviceClient.client_secret!) };
const userCode = async () =>
  ((await (await oauth.api('/oauth/device_authorization', form({}, deviceAuth))).json()) as { user_code: string })
    .user_code;
/** The default test app is HS256-only: its OAuth routes answer 500 misconfigured (and log it). */
async function unconfigured(path: string, init: Parameters<typeof api>[1] = {}): Promise<Response> {
  const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
  try {
    return await api(path, init);
  } finally {
    quiet.mockRestore();
  }
}
/** A provider whose client-authenticated endpoints allow one request per client and minute. */
async function oauthUntil429(path: string, params: Record<string, string>): Promise<Response> {
  const limited = await provider({ OAUTH_TOKEN_CLIENT_MAX: '1' });
  const client = await registerClient(limited);
  const auth = { Authorization: basic(client.client_id, client.client_secret!) };
  return until429(() => limited.api(path, form(params, auth)));
}
const userinfoCases = (method: 'GET' | 'POST'): Record<number, Send[]> => ({
  200: [
    async () => oauth.api('/oauth/userinfo', { method, token: (await grant(oauth, oauthClient)).tokens.access_token }),
  ],
  401: [() => oauth.api('/oauth/userinfo', { method }), () => oauth.api('/oauth/userinfo', { method, token: 'a.b.c' })],
  403: [
    async () =>
      oauth.api('/oauth/userinfo', {
        method,
        token: (await grant(oauth, oauthClient, { scope: 'profile' })).tokens.access_token,
      }),
  ],
  500: [() => unconfigured('/oauth/userinfo', { method })],
});
const discoveryCases = (path: string): Record<number, Send[]> => ({
  200: [() => oauth.api(path)],
  500: [() => unconfigured(path)],
});
const tokenParams = (token: string) => ({ token });

/** The passkey routes of a deployment without WEBAUTHN_RP_ID (their 500 is logged: keep the run quiet). */
function withoutRpId(): typeof api {
  const app = appWith({ WEBAUTHN_RP_ID: '' });
  return (path, init) => {
    vi.spyOn(console, 'error').mockImplementationOnce(() => {});
    return app(path, init);
  };
}
/** A registration response to fresh options of the holder of `token`, from a new credential. */
async function passkeyRegistration(token: string, body: Json = { current_password: PASSWORD }) {
  const options = await registerOptions(api, token, body);
  return attestation(await newCredential(), { challenge: options.challenge, rpId: RP_ID, origin: ORIGIN });
}
/** A registration response whose challenge the service never made. */
const strayRegistration = async () =>
  attestation(await newCredential(), { challenge: 'c3RyYXk', rpId: RP_ID, origin: ORIGIN });
/** A sign-in response whose passkey is registered nowhere. */
async function strayAssertion() {
  const held = { ...(await newCredential()), userHandle: 'dXNlcg', counter: 0 };
  return signInResponse(api, held);
}
/** A user holding one passkey. */
async function passkeyUser() {
  const s = await signedIn();
  return { ...s, held: await addPasskey(api, s.token) };
}
/** Ten passkey rows for a user, written directly: the cap without ten ceremonies. */
async function fillPasskeys(userId: string) {
  for (let i = 0; i < 10; i++) {
    await env.DB.prepare(
      "INSERT INTO passkeys (id, user_id, public_key, algorithm, name, created_at) VALUES (?, ?, '{}', -7, 'x', 0)",
    )
      .bind(crypto.randomUUID(), userId)
      .run();
  }
}
const passkeysStrict = () =>
  appWith({ LOGIN_IP_MAX_FAILURES: '1', PASSKEY_OPTIONS_IP_MAX: '1', LOGIN_MAX_FAILURES: '1' });

const CASES: Record<string, Record<number, Send[]>> = {
  getOpenIdConfiguration: discoveryCases('/.well-known/openid-configuration'),
  getAuthorizationServerMetadata: discoveryCases('/.well-known/oauth-authorization-server'),
  oauthToken: {
    200: [
      async () => {
        const machine = await registerClient(oauth, {
          redirect_uris: undefined,
          grant_types: ['client_credentials'],
          scope: 'api',
        });
        const auth = { Authorization: basic(machine.client_id, machine.client_secret!) };
        return oauth.api('/oauth/token', form({ grant_type: 'client_credentials' }, auth));
      },
      async () => {
        const { tokens } = await grant(oauth, oauthClient);
        return oauth.api(
          '/oauth/token',
          form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, oauthAuth),
        );
      },
    ],
    400: [
      () => oauth.api('/oauth/token', form({ grant_type: 'refresh_token', refresh_token: 'unknown' }, oauthAuth)),
      () => oauth.api('/oauth/token', form({ grant_type: 'password' }, oauthAuth)),
      () => oauth.api('/oauth/token', { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } }),
    ],
    401: [
      () => oauth.api('/oauth/token', form({ grant_type: 'refresh_token', refresh_token: 'x', client_id: 'nobody' })),
    ],
    429: [() => oauthUntil429('/oauth/token', { grant_type: 'refresh_token', refresh_token: 'x' })],
    500: [() => unconfigured('/oauth/token', form({ grant_type: 'refresh_token', refresh_token: 'x' }))],
  },
  oauthUserinfo: userinfoCases('GET'),
  oauthUserinfoPost: userinfoCases('POST'),
  oauthRevoke: {
    200: [
      async () =>
        oauth.api(
          '/oauth/revoke',
          form(tokenParams((await grant(oauth, oauthClient)).tokens.refresh_token!), oauthAuth),
        ),
    ],
    400: [() => oauth.api('/oauth/revoke', form({}, oauthAuth))],
    401: [() => oauth.api('/oauth/revoke', form({ token: 'x' }))],
    429: [() => oauthUntil429('/oauth/revoke', { token: 'x' })],
    500: [() => unconfigured('/oauth/revoke', form({ token: 'x' }))],
  },
  oauthIntrospect: {
    200: [
      async () =>
        oauth.api(
          '/oauth/introspect',
          form(tokenParams((await grant(oauth, oauthClient)).tokens.access_token), oauthAuth),
        ),
      () => oauth.api('/oauth/introspect', form({ token: 'unknown' }, oauthAuth)),
    ],
    400: [() => oauth.api('/oauth/introspect', form({}, oauthAuth))],
    401: [
      () =>
        oauth.api('/oauth/introspect', form({ token: 'x' }, { Authorization: basic(oauthClient.client_id, 'wrong') })),
    ],
    429: [() => oauthUntil429('/oauth/introspect', { token: 'x' })],
    500: [() => unconfigured('/oauth/introspect', form({ token: 'x' }))],
  },
  oauthDeviceAuthorization: {
    200: [() => oauth.api('/oauth/device_authorization', form({}, deviceAuth))],
    400: [
      () => oauth.api('/oauth/device_authorization', form({}, oauthAuth)),
      () => oauth.api('/oauth/device_authorization', form({ scope: 'nonsense' }, deviceAuth)),
    ],
    401: [() => oauth.api('/oauth/device_authorization', form({ client_id: 'nobody' }))],
    429: [() => oauthUntil429('/oauth/device_authorization', {})],
    500: [() => unconfigured('/oauth/device_authorization', form({ client_id: 'x' }))],
  },
  oauthEnterUserCode: {
    200: [async () => new Browser(oauth.api).page('/oauth/interaction/device', { user_code: await userCode() })],
    400: [
      () => new Browser(oauth.api).page('/oauth/interaction/device', { user_code: 'BCDF-GHJK' }),
      () => new Browser(oauth.api).page('/oauth/interaction/device', { user_code: 'not a code' }),
    ],
    403: [async () => crossSite(new Browser(oauth.api), '/oauth/interaction/device', { user_code: await userCode() })],
    429: [
      async () => {
        const browser = new Browser(providerApi({ OAUTH_USER_CODE_IP_MAX: '1' }));
        const wrong = () =>
          browser.page('/oauth/interaction/device', { user_code: 'BCDF-GHJK' }, { 'CF-Connecting-IP': '192.0.2.77' });
        return until429(wrong);
      },
    ],
    500: [
      async () => {
        const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
        try {
          return await new Browser(providerApi({ DATA_ENCRYPTION_KEY: '' })).page('/oauth/interaction/device', {
            user_code: 'BCDF-GHJK',
          });
        } finally {
          quiet.mockRestore();
        }
      },
    ],
  },
  oauthRegister: {
    201: [
      async () =>
        oauth.api('/oauth/register', {
          json: { redirect_uris: ['https://rp.example.test/cb'], client_name: 'Contract' },
          token: (await adminOf(oauth)).token,
        }),
    ],
    400: [
      async () =>
        oauth.api('/oauth/register', {
          json: { redirect_uris: ['http://rp.example.test/cb'] },
          token: (await adminOf(oauth)).token,
        }),
      async () => oauth.api('/oauth/register', { json: {}, token: (await adminOf(oauth)).token }),
    ],
    401: [() => oauth.api('/oauth/register', { json: { redirect_uris: ['https://rp.example.test/cb'] } })],
    403: [
      async () =>
        oauth.api('/oauth/register', {
          json: { redirect_uris: ['https://rp.example.test/cb'] },
          token: (await signedIn()).token,
        }),
    ],
    429: [
      async () => {
        const open = await provider({ OAUTH_OPEN_REGISTRATION: 'true', REGISTER_IP_MAX: '1' });
        return until429(() =>
          open.api('/oauth/register', {
            json: { redirect_uris: ['https://rp.example.test/cb'], token_endpoint_auth_method: 'none' },
            headers: { 'CF-Connecting-IP': '198.51.100.250' },
          }),
        );
      },
    ],
    500: [() => unconfigured('/oauth/register', { json: { redirect_uris: ['https://rp.example.test/cb'] } })],
  },
  listOAuthClients: {
    200: [async () => api('/admin/oauth/clients', { token: (await signedInAdmin()).token })],
    400: [async () => api('/admin/oauth/clients?limit=0', { token: (await signedInAdmin()).token })],
    401: [() => api('/admin/oauth/clients')],
    403: [async () => api('/admin/oauth/clients', { token: (await signedIn()).token })],
  },
  updateOAuthClient: {
    200: [
      async () =>
        api(`/admin/oauth/clients/${oauthClient.client_id}`, {
          method: 'PATCH',
          json: { client_name: 'Renamed', logo_uri: 'https://rp.example.test/logo.png' },
          token: (await signedInAdmin()).token,
        }),
    ],
    400: [
      async () =>
        api(`/admin/oauth/clients/${oauthClient.client_id}`, {
          method: 'PATCH',
          json: { redirect_uris: ['ftp://x'] },
          token: (await signedInAdmin()).token,
        }),
    ],
    401: [() => api(`/admin/oauth/clients/${NO_SUCH_ID}`, { method: 'PATCH', json: {} })],
    403: [
      async () =>
        api(`/admin/oauth/clients/${NO_SUCH_ID}`, { method: 'PATCH', json: {}, token: (await signedIn()).token }),
    ],
    404: [
      async () =>
        api(`/admin/oauth/clients/${NO_SUCH_ID}`, { method: 'PATCH', json: {}, token: (await signedInAdmin()).token }),
    ],
  },
  deleteOAuthClient: {
    204: [
      async () => {
        const doomed = await registerClient(oauth);
        return api(`/admin/oauth/clients/${doomed.client_id}`, {
          method: 'DELETE',
          token: (await signedInAdmin()).token,
        });
      },
    ],
    400: [
      async () =>
        api(`/admin/oauth/clients/${'x'.repeat(65)}`, { method: 'DELETE', token: (await signedInAdmin()).token }),
    ],
    401: [() => api(`/admin/oauth/clients/${NO_SUCH_ID}`, { method: 'DELETE' })],
    403: [async () => api(`/admin/oauth/clients/${NO_SUCH_ID}`, { method: 'DELETE', token: (await signedIn()).token })],
    404: [
      async () => api(`/admin/oauth/clients/${NO_SUCH_ID}`, { method: 'DELETE', token: (await signedInAdmin()).token }),
    ],
  },
  getHealth: {
    200: [() => api('/health')],
    503: [
      async () => {
        // The operator's log line is asserted in meta.test.ts; here it would only be noise.
        const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
        try {
          return await appWith({ DB: unreachableDb })('/health');
        } finally {
          quiet.mockRestore();
        }
      },
    ],
  },
  getJwks: { 200: [() => api('/.well-known/jwks.json')] },
  register: {
    201: [() => api('/auth/register', { json: { username: uniqueName(), password: PASSWORD } })],
    400: [
      () => api('/auth/register', { json: { username: 'x', password: PASSWORD } }),
      () => api('/auth/register', { json: { username: uniqueName(), password: 'password' } }),
    ],
    409: [async () => api('/auth/register', { json: { username: (await register()).username, password: PASSWORD } })],
    429: [() => registerUntil429('/auth/register')],
  },
  login: {
    200: [
      async () => api('/auth/login', { json: { username: (await register()).username, password: PASSWORD } }),
      async () =>
        api('/auth/login', {
          json: { username: (await register()).username, password: PASSWORD, refresh_token_delivery: 'cookie' },
        }),
    ],
    400: [() => api('/auth/login', { json: { username: 'alice' } })],
    401: [async () => api('/auth/login', { json: { username: (await register()).username, password: 'wrong-one' } })],
    403: [
      async () => api('/auth/login', { json: { username: (await twoFactorUser()).user.username, password: PASSWORD } }),
    ],
    429: [
      async () => {
        const { username } = await register();
        const app = strict();
        return until429(() => app('/auth/login', { json: { username, password: 'wrong-one' } }));
      },
    ],
    503: [() => importedLogin('/auth/login')],
  },
  refreshToken: {
    200: [async () => api('/auth/refresh', { json: { refresh_token: (await signedIn()).tokens.refresh_token } })],
    401: [
      () => api('/auth/refresh', { json: { refresh_token: 'not-a-refresh-token' } }),
      () => api('/auth/refresh', { method: 'POST' }),
    ],
    403: [() => foreignOrigin('/auth/refresh')],
  },
  logout: {
    204: [
      async () => api('/auth/logout', { json: { refresh_token: (await signedIn()).tokens.refresh_token } }),
      () => api('/auth/logout', { method: 'POST' }),
    ],
    403: [() => foreignOrigin('/auth/logout')],
  },
  logoutAll: {
    204: [async () => api('/auth/logout-all', { method: 'POST', token: (await signedIn()).token })],
    401: [() => api('/auth/logout-all', { method: 'POST' })],
  },
  changePassword: {
    204: [
      async () =>
        api('/auth/password', {
          token: (await signedIn()).token,
          json: { current_password: PASSWORD, new_password: `${PASSWORD}-2` },
        }),
    ],
    400: [
      async () =>
        api('/auth/password', {
          token: (await signedIn()).token,
          json: { current_password: PASSWORD, new_password: 'x' },
        }),
    ],
    401: [
      async () =>
        api('/auth/password', {
          token: (await signedIn()).token,
          json: { current_password: 'wrong-one', new_password: `${PASSWORD}-2` },
        }),
      () => api('/auth/password', { json: { current_password: PASSWORD, new_password: `${PASSWORD}-2` } }),
    ],
    429: [
      async () => {
        const { token } = await signedIn();
        const app = strict();
        return until429(() =>
          app('/auth/password', { token, json: { current_password: 'wrong-one', new_password: `${PASSWORD}-2` } }),
        );
      },
    ],
    503: [
      async () => {
        // Only reachable with a Flask hash still in place while signed in (a login replaces it),
        // so it is put back by hand here.
        const { user, token } = await signedIn();
        await env.DB.prepare('UPDATE users SET password_hash = ? WHERE id = ?').bind(bcrypt.hash, user.id).run();
        return withoutCompanion('/auth/password', {
          token,
          json: { current_password: bcrypt.password, new_password: `${PASSWORD}-2` },
        });
      },
    ],
  },
  getProtected: {
    200: [async () => api('/auth/protected', { token: (await signedIn()).token })],
    401: [() => api('/auth/protected'), () => api('/auth/protected', { token: 'not.a.token' })],
  },
  getMe: {
    200: [async () => api('/auth/me', { token: (await signedIn()).token })],
    401: [() => api('/auth/me')],
  },
  listSessions: {
    200: [async () => api('/auth/sessions', { token: (await signedIn()).token })],
    401: [() => api('/auth/sessions')],
  },
  revokeSession: {
    204: [
      async () => {
        const { user, token } = await signedIn();
        const other = await login(user.username);
        const { sessions } = (await (await api('/auth/sessions', { token: other.access_token })).json()) as Json;
        const current = (sessions as Json[]).find((s) => s.current)!;
        return api(`/auth/sessions/${current.id}`, { method: 'DELETE', token });
      },
    ],
    400: [async () => api(`/auth/sessions/${'x'.repeat(65)}`, { method: 'DELETE', token: (await signedIn()).token })],
    401: [() => api(`/auth/sessions/${NO_SUCH_ID}`, { method: 'DELETE' })],
    404: [async () => api(`/auth/sessions/${NO_SUCH_ID}`, { method: 'DELETE', token: (await signedIn()).token })],
  },
  createApiKey: {
    201: [async () => api('/auth/api-keys', { token: (await signedIn()).token, json: apiKeyBody })],
    400: [
      async () =>
        api('/auth/api-keys', { token: (await signedIn()).token, json: { ...apiKeyBody, scope: 'no-such-scope' } }),
    ],
    401: [
      async () =>
        api('/auth/api-keys', {
          token: (await signedIn()).token,
          json: { ...apiKeyBody, current_password: 'wrong-one' },
        }),
      () => api('/auth/api-keys', { json: apiKeyBody }),
    ],
    403: [
      async () => api('/auth/api-keys', { token: (await signedIn()).token, json: { ...apiKeyBody, scope: 'admin' } }),
    ],
    409: [
      async () => {
        const { user, token } = await signedIn();
        for (let i = 0; i < 20; i++) {
          const id = `contract-${crypto.randomUUID()}`;
          await env.DB.batch([
            env.DB.prepare(
              "INSERT INTO oauth_clients (id, secret_hash, redirect_uris, grant_types, response_types, token_endpoint_auth_method, scope, registered_by, created_at, updated_at, owner_id) VALUES (?, 'h', '[]', '[]', '[]', 'client_secret_basic', 'api', 'admin', 0, 0, ?)",
            ).bind(id, user.id),
            env.DB.prepare(
              'INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, client_id, scope) VALUES (?, ?, 0, 0, ?, ?, ?)',
            ).bind(id, user.id, Date.now() + 86_400_000, id, 'api'),
          ]);
        }
        return api('/auth/api-keys', { token, json: apiKeyBody });
      },
    ],
    429: [
      async () => {
        const { token } = await signedIn();
        const app = strict();
        return until429(() => app('/auth/api-keys', { token, json: { ...apiKeyBody, current_password: 'wrong-one' } }));
      },
    ],
  },
  listApiKeys: {
    200: [
      async () => {
        const { token } = await signedIn();
        expect((await api('/auth/api-keys', { token, json: apiKeyBody })).status).toBe(201);
        return api('/auth/api-keys', { token });
      },
    ],
    401: [() => api('/auth/api-keys')],
  },
  revokeApiKey: {
    204: [
      async () => {
        const { token } = await signedIn();
        const key = (await (await api('/auth/api-keys', { token, json: apiKeyBody })).json()) as Json;
        return api(`/auth/api-keys/${key.id}`, { method: 'DELETE', token });
      },
    ],
    400: [async () => api(`/auth/api-keys/${'x'.repeat(65)}`, { method: 'DELETE', token: (await signedIn()).token })],
    401: [() => api(`/auth/api-keys/${NO_SUCH_ID}`, { method: 'DELETE' })],
    404: [async () => api(`/auth/api-keys/${NO_SUCH_ID}`, { method: 'DELETE', token: (await signedIn()).token })],
  },
  listUsers: {
    200: [
      async () => {
        const { token } = await signedInAdmin();
        const first = (await (await api('/admin/users?limit=1', { token })).json()) as Json;
        return api(`/admin/users?limit=1&cursor=${first.next_cursor}`, { token });
      },
    ],
    400: [async () => api('/admin/users?limit=0', { token: (await signedInAdmin()).token })],
    401: [() => api('/admin/users')],
    403: [async () => api('/admin/users', { token: (await signedIn()).token })],
  },
  getUser: {
    200: [async () => api(`/admin/users/${(await register()).id}`, { token: (await signedInAdmin()).token })],
    400: [async () => api(`/admin/users/${'x'.repeat(65)}`, { token: (await signedInAdmin()).token })],
    401: [() => api(`/admin/users/${NO_SUCH_ID}`)],
    403: [async () => api(`/admin/users/${NO_SUCH_ID}`, { token: (await signedIn()).token })],
    404: [async () => api(`/admin/users/${NO_SUCH_ID}`, { token: (await signedInAdmin()).token })],
  },
  setUserRole: {
    200: [
      async () =>
        api(`/admin/users/${(await register()).id}`, {
          method: 'PATCH',
          token: (await signedInAdmin()).token,
          json: { role: 'admin' },
        }),
    ],
    400: [
      async () =>
        api(`/admin/users/${(await register()).id}`, {
          method: 'PATCH',
          token: (await signedInAdmin()).token,
          json: { role: 'root' },
        }),
    ],
    401: [() => api(`/admin/users/${NO_SUCH_ID}`, { method: 'PATCH', json: { role: 'admin' } })],
    403: [
      async () =>
        api(`/admin/users/${NO_SUCH_ID}`, {
          method: 'PATCH',
          token: (await signedIn()).token,
          json: { role: 'admin' },
        }),
    ],
    404: [
      async () =>
        api(`/admin/users/${NO_SUCH_ID}`, {
          method: 'PATCH',
          token: (await signedInAdmin()).token,
          json: { role: 'admin' },
        }),
    ],
    409: [
      async () => {
        const { user, token } = await signedInAdmin();
        await onlyAdmin(user.id);
        return api(`/admin/users/${user.id}`, { method: 'PATCH', token, json: { role: 'user' } });
      },
    ],
  },
  deleteUser: {
    204: [
      async () =>
        api(`/admin/users/${(await register()).id}`, { method: 'DELETE', token: (await signedInAdmin()).token }),
    ],
    400: [
      async () => api(`/admin/users/${'x'.repeat(65)}`, { method: 'DELETE', token: (await signedInAdmin()).token }),
    ],
    401: [() => api(`/admin/users/${NO_SUCH_ID}`, { method: 'DELETE' })],
    403: [async () => api(`/admin/users/${NO_SUCH_ID}`, { method: 'DELETE', token: (await signedIn()).token })],
    404: [async () => api(`/admin/users/${NO_SUCH_ID}`, { method: 'DELETE', token: (await signedInAdmin()).token })],
    409: [
      async () => {
        const { user, token } = await signedInAdmin();
        await onlyAdmin(user.id);
        return api(`/admin/users/${user.id}`, { method: 'DELETE', token });
      },
    ],
  },
  enrolTotp: {
    200: [async () => api('/auth/mfa/totp', { token: (await signedIn()).token, json: { current_password: PASSWORD } })],
    400: [async () => api('/auth/mfa/totp', { token: (await signedIn()).token, json: {} })],
    401: [
      () => api('/auth/mfa/totp', { json: { current_password: PASSWORD } }),
      async () =>
        api('/auth/mfa/totp', { token: (await signedIn()).token, json: { current_password: WRONG_PASSWORD } }),
    ],
    409: [
      async () => api('/auth/mfa/totp', { token: (await twoFactorUser()).token, json: { current_password: PASSWORD } }),
    ],
    429: [
      async () => {
        const { token } = await signedIn();
        const app = strict();
        return until429(() => app('/auth/mfa/totp', { token, json: { current_password: WRONG_PASSWORD } }));
      },
    ],
    500: [
      async () =>
        withoutDataKey()('/auth/mfa/totp', { token: (await signedIn()).token, json: { current_password: PASSWORD } }),
    ],
    503: [
      async () =>
        withoutCompanion('/auth/mfa/totp', {
          token: (await withFlaskHash()).token,
          json: { current_password: bcrypt.password },
        }),
    ],
  },
  confirmTotp: {
    200: [
      async () => {
        const { token } = await signedIn();
        const { secret } = (await (
          await api('/auth/mfa/totp', { json: { current_password: PASSWORD }, token })
        ).json()) as Json;
        return api('/auth/mfa/totp/confirm', { token, json: { code: await totp(secret) } });
      },
    ],
    400: [
      async () => {
        const { token } = await signedIn();
        const { secret } = (await (
          await api('/auth/mfa/totp', { json: { current_password: PASSWORD }, token })
        ).json()) as Json;
        const wrong = String((Number(await totp(secret)) + 500_000) % 1_000_000).padStart(6, '0');
        return api('/auth/mfa/totp/confirm', { token, json: { code: wrong } });
      },
    ],
    401: [() => api('/auth/mfa/totp/confirm', { json: { code: '123456' } })],
    409: [async () => api('/auth/mfa/totp/confirm', { token: (await signedIn()).token, json: { code: '123456' } })],
    429: [
      async () => {
        const { token } = await signedIn();
        const app = mfaStrict();
        await app('/auth/mfa/totp', { json: { current_password: PASSWORD }, token });
        return until429(() => app('/auth/mfa/totp/confirm', { token, json: { code: '000000' } }));
      },
    ],
    500: [
      async () => withoutDataKey()('/auth/mfa/totp/confirm', { token: (await signedIn()).token, json: { code: '1' } }),
    ],
  },
  disableTotp: {
    204: [
      async () => {
        const { token, recoveryCodes } = await twoFactorUser();
        return api('/auth/mfa/totp', {
          method: 'DELETE',
          token,
          json: { code: recoveryCodes[0], current_password: PASSWORD },
        });
      },
    ],
    400: [
      async () =>
        api('/auth/mfa/totp', { method: 'DELETE', token: (await twoFactorUser()).token, json: { code: '123456' } }),
    ],
    401: [
      () => api('/auth/mfa/totp', { method: 'DELETE', json: { code: '123456', current_password: PASSWORD } }),
      async () => {
        const { token, recoveryCodes } = await twoFactorUser();
        const json = { code: recoveryCodes[0], current_password: WRONG_PASSWORD };
        return api('/auth/mfa/totp', { method: 'DELETE', token, json });
      },
      async () => {
        const { token } = await twoFactorUser();
        const json = { code: 'ZZZZ-ZZZZ-ZZZZ', current_password: PASSWORD };
        return api('/auth/mfa/totp', { method: 'DELETE', token, json });
      },
    ],
    409: [
      async () =>
        api('/auth/mfa/totp', {
          method: 'DELETE',
          token: (await signedIn()).token,
          json: { code: '1', current_password: PASSWORD },
        }),
    ],
    403: [
      async () => {
        const { token } = await twoFactorUser();
        const app = mfaLockedApp();
        const json = (code: string) => ({ code, current_password: PASSWORD });
        await app('/auth/mfa/totp', { method: 'DELETE', token, json: json('ZZZZ-ZZZZ-ZZZZ') });
        return app('/auth/mfa/totp', { method: 'DELETE', token, json: json('123456') });
      },
    ],
    429: [
      async () => {
        const { token } = await twoFactorUser();
        const app = mfaStrict();
        const json = { code: 'ZZZZ-ZZZZ-ZZZZ', current_password: PASSWORD };
        return until429(() => app('/auth/mfa/totp', { method: 'DELETE', token, json }));
      },
      async () => {
        const { token } = await twoFactorUser();
        const app = strict();
        const json = { code: 'ZZZZ-ZZZZ-ZZZZ', current_password: WRONG_PASSWORD };
        return until429(() => app('/auth/mfa/totp', { method: 'DELETE', token, json }));
      },
    ],
    500: [
      async () =>
        withoutDataKey()('/auth/mfa/totp', {
          method: 'DELETE',
          token: (await signedIn()).token,
          json: { code: '1', current_password: PASSWORD },
        }),
    ],
    503: [
      async () => {
        const { token, recoveryCodes } = await withFlaskHash(true);
        const json = { code: recoveryCodes[0], current_password: bcrypt.password };
        return withoutCompanion('/auth/mfa/totp', { method: 'DELETE', token, json });
      },
    ],
  },
  regenerateRecoveryCodes: {
    200: [
      async () => {
        const { token, recoveryCodes } = await twoFactorUser();
        return api('/auth/mfa/recovery-codes', { token, json: { code: recoveryCodes[0], current_password: PASSWORD } });
      },
    ],
    400: [
      async () => api('/auth/mfa/recovery-codes', { token: (await twoFactorUser()).token, json: { code: 'nope' } }),
    ],
    401: [
      () => api('/auth/mfa/recovery-codes', { json: { code: '123456', current_password: PASSWORD } }),
      async () => {
        const { token, recoveryCodes } = await twoFactorUser();
        const json = { code: recoveryCodes[0], current_password: WRONG_PASSWORD };
        return api('/auth/mfa/recovery-codes', { token, json });
      },
      async () => {
        const { token } = await twoFactorUser();
        return api('/auth/mfa/recovery-codes', { token, json: { code: 'nope', current_password: PASSWORD } });
      },
    ],
    409: [
      async () =>
        api('/auth/mfa/recovery-codes', {
          token: (await signedIn()).token,
          json: { code: '123456', current_password: PASSWORD },
        }),
    ],
    403: [
      async () => {
        const { token } = await twoFactorUser();
        const app = mfaLockedApp();
        const json = (code: string) => ({ code, current_password: PASSWORD });
        await app('/auth/mfa/recovery-codes', { token, json: json('ZZZZ-ZZZZ-ZZZZ') });
        return app('/auth/mfa/recovery-codes', { token, json: json('123456') });
      },
    ],
    429: [
      async () => {
        const { token } = await twoFactorUser();
        const app = mfaStrict();
        return until429(() =>
          app('/auth/mfa/recovery-codes', { token, json: { code: 'ZZZZ-ZZZZ-ZZZZ', current_password: PASSWORD } }),
        );
      },
    ],
    500: [
      async () =>
        withoutDataKey()('/auth/mfa/recovery-codes', {
          token: (await signedIn()).token,
          json: { code: '1', current_password: PASSWORD },
        }),
    ],
    503: [
      async () => {
        const { token, recoveryCodes } = await withFlaskHash(true);
        const json = { code: recoveryCodes[0], current_password: bcrypt.password };
        return withoutCompanion('/auth/mfa/recovery-codes', { token, json });
      },
    ],
  },
  verifyMfa: {
    200: [
      async () => {
        const { user, recoveryCodes } = await twoFactorUser();
        const { mfa_token } = await loginForChallenge(user.username);
        return api('/auth/mfa/verify', { json: { mfa_token, recovery_code: recoveryCodes[0] } });
      },
      async () => {
        const { user, recoveryCodes } = await twoFactorUser();
        const { mfa_token } = await loginForChallenge(user.username, { refresh_token_delivery: 'cookie' });
        return api('/auth/mfa/verify', { json: { mfa_token, recovery_code: recoveryCodes[0] } });
      },
    ],
    400: [() => api('/auth/mfa/verify', { json: { mfa_token: 'x' } })],
    401: [
      () => api('/auth/mfa/verify', { json: { mfa_token: 'not-a-token', code: '123456' } }),
      async () => {
        const { user } = await twoFactorUser();
        const { mfa_token } = await loginForChallenge(user.username);
        return api('/auth/mfa/verify', { json: { mfa_token, recovery_code: 'ZZZZ-ZZZZ-ZZZZ' } });
      },
    ],
    403: [
      async () => {
        const { user } = await twoFactorUser();
        const app = mfaLockedApp();
        const { mfa_token } = await loginForChallenge(user.username, {}, app);
        await app('/auth/mfa/verify', { json: { mfa_token, recovery_code: 'ZZZZ-ZZZZ-ZZZZ' } });
        return app('/auth/mfa/verify', { json: { mfa_token, code: '123456' } });
      },
    ],
    429: [
      async () => {
        const { user } = await twoFactorUser();
        const app = mfaStrict();
        const { mfa_token } = await loginForChallenge(user.username, {}, app);
        return until429(() => app('/auth/mfa/verify', { json: { mfa_token, recovery_code: 'ZZZZ-ZZZZ-ZZZZ' } }));
      },
    ],
    500: [
      async () => {
        const { user } = await twoFactorUser();
        const { mfa_token } = await loginForChallenge(user.username);
        return withoutDataKey()('/auth/mfa/verify', { json: { mfa_token, code: '123456' } });
      },
    ],
  },
  issuePasswordReset: {
    201: [
      async () =>
        api(`/admin/users/${(await register()).id}/password-reset`, {
          method: 'POST',
          token: (await signedInAdmin()).token,
        }),
    ],
    400: [
      async () =>
        api(`/admin/users/${'x'.repeat(65)}/password-reset`, { method: 'POST', token: (await signedInAdmin()).token }),
    ],
    401: [() => api(`/admin/users/${NO_SUCH_ID}/password-reset`, { method: 'POST' })],
    403: [
      async () => api(`/admin/users/${NO_SUCH_ID}/password-reset`, { method: 'POST', token: (await signedIn()).token }),
    ],
    404: [
      async () =>
        api(`/admin/users/${NO_SUCH_ID}/password-reset`, { method: 'POST', token: (await signedInAdmin()).token }),
    ],
  },
  resetUserMfa: {
    204: [
      async () =>
        api(`/admin/users/${(await twoFactorUser()).user.id}/mfa`, {
          method: 'DELETE',
          token: (await signedInAdmin()).token,
        }),
    ],
    400: [
      async () => api(`/admin/users/${'x'.repeat(65)}/mfa`, { method: 'DELETE', token: (await signedInAdmin()).token }),
    ],
    401: [() => api(`/admin/users/${NO_SUCH_ID}/mfa`, { method: 'DELETE' })],
    403: [async () => api(`/admin/users/${NO_SUCH_ID}/mfa`, { method: 'DELETE', token: (await signedIn()).token })],
    404: [
      async () => api(`/admin/users/${NO_SUCH_ID}/mfa`, { method: 'DELETE', token: (await signedInAdmin()).token }),
    ],
  },
  resetPassword: {
    204: [
      async () => {
        const issued = await api(`/admin/users/${(await register()).id}/password-reset`, {
          method: 'POST',
          token: (await signedInAdmin()).token,
        });
        const { reset_token } = (await issued.json()) as Json;
        return api('/auth/password/reset', { json: { reset_token, new_password: `${PASSWORD}-reset` } });
      },
    ],
    400: [
      () => api('/auth/password/reset', { json: { reset_token: 'not-a-token', new_password: `${PASSWORD}-reset` } }),
    ],
    429: [
      () => {
        const app = appWith({ RECOVERY_IP_MAX: '1' });
        const headers = { 'CF-Connecting-IP': freshAddress() };
        return until429(() =>
          app('/auth/password/reset', { json: { reset_token: 'guess', new_password: `${PASSWORD}-reset` }, headers }),
        );
      },
    ],
  },
  forgotPassword: {
    202: [
      () => mailing().call('/auth/password/forgot', { json: { username: uniqueName() } }),
      () => mailing().call('/auth/password/forgot', { json: { email: 'nobody@example.test' } }),
    ],
    400: [() => mailing().call('/auth/password/forgot', { json: {} })],
    404: [() => api('/auth/password/forgot', { json: { username: 'alice' } })],
    429: [
      () => {
        const { call } = mailing({ RECOVERY_IP_MAX: '1' });
        const headers = { 'CF-Connecting-IP': freshAddress() };
        return until429(() => call('/auth/password/forgot', { json: { username: 'alice' }, headers }));
      },
    ],
  },
  addEmail: {
    202: [
      async () =>
        mailing().call('/auth/email', {
          token: (await signedIn()).token,
          json: { email: 'a@example.test', current_password: PASSWORD },
        }),
      async () => {
        const { token, recoveryCodes } = await twoFactorUser();
        const json = { email: 'a@example.test', current_password: PASSWORD, code: recoveryCodes[0] };
        return mailing().call('/auth/email', { token, json });
      },
    ],
    400: [
      async () =>
        mailing().call('/auth/email', {
          token: (await signedIn()).token,
          json: { email: 'not-an-address', current_password: PASSWORD },
        }),
      async () => mailing().call('/auth/email', { token: (await signedIn()).token, json: { email: 'a@example.test' } }),
      async () =>
        mailing().call('/auth/email', {
          token: (await twoFactorUser()).token,
          json: { email: 'a@example.test', current_password: PASSWORD },
        }),
    ],
    401: [
      () => mailing().call('/auth/email', { json: { email: 'a@example.test', current_password: PASSWORD } }),
      async () =>
        mailing().call('/auth/email', {
          token: (await signedIn()).token,
          json: { email: 'a@example.test', current_password: WRONG_PASSWORD },
        }),
      async () =>
        mailing().call('/auth/email', {
          token: (await twoFactorUser()).token,
          json: { email: 'a@example.test', current_password: PASSWORD, code: 'ZZZZ-ZZZZ-ZZZZ' },
        }),
    ],
    403: [
      async () => {
        const { token } = await twoFactorUser();
        const { call } = mailing({ MFA_MAX_CONSECUTIVE_FAILURES: '1', MFA_MAX_FAILURES: '1000' });
        const json = { email: 'a@example.test', current_password: PASSWORD, code: 'ZZZZ-ZZZZ-ZZZZ' };
        await call('/auth/email', { token, json });
        return call('/auth/email', { token, json: { ...json, code: '123456' } });
      },
    ],
    404: [
      async () =>
        api('/auth/email', {
          token: (await signedIn()).token,
          json: { email: 'a@example.test', current_password: PASSWORD },
        }),
    ],
    429: [
      async () => {
        const { token } = await signedIn();
        const { call } = mailing({ EMAIL_USER_MAX: '1' });
        return until429(() =>
          call('/auth/email', { token, json: { email: 'a@example.test', current_password: PASSWORD } }),
        );
      },
      async () => {
        const { token } = await signedIn();
        const { call } = mailing({ LOGIN_MAX_FAILURES: '1', LOGIN_WINDOW: '60' });
        const json = { email: 'a@example.test', current_password: WRONG_PASSWORD };
        return until429(() => call('/auth/email', { token, json }));
      },
    ],
    500: [
      async () => {
        vi.spyOn(console, 'error').mockImplementationOnce(() => {});
        const { call } = mailing({ DATA_ENCRYPTION_KEY: '' });
        const json = { email: 'a@example.test', current_password: PASSWORD };
        return call('/auth/email', { token: (await signedIn()).token, json });
      },
    ],
    503: [
      async () => {
        const json = { email: 'a@example.test', current_password: bcrypt.password };
        const token = (await withFlaskHash()).token;
        const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
        try {
          return await mailing({ LEGACY_HASHES: undefined }).call('/auth/email', { token, json });
        } finally {
          quiet.mockRestore();
        }
      },
    ],
  },
  verifyEmail: {
    200: [
      async () => {
        const { token } = await signedIn();
        const { call, sent } = mailing();
        await call('/auth/email', {
          token,
          json: { email: `${uniqueName()}@example.test`, current_password: PASSWORD },
        });
        return call('/auth/email/verify', { token, json: { code: codeIn(sent[0]) } });
      },
    ],
    400: [async () => api('/auth/email/verify', { token: (await signedIn()).token, json: { code: '123456' } })],
    401: [() => api('/auth/email/verify', { json: { code: '123456' } })],
    409: [
      async () => {
        const email = `${uniqueName()}@example.test`;
        const { call, sent } = mailing();
        for (const { token } of [await signedIn(), await signedIn()]) {
          await call('/auth/email', { token, json: { email, current_password: PASSWORD } });
          const res = await call('/auth/email/verify', { token, json: { code: codeIn(sent.at(-1)) } });
          if (res.status !== 200) return res;
        }
        throw new Error('the second verification of one address was accepted');
      },
    ],
    500: [
      async () => {
        vi.spyOn(console, 'error').mockImplementationOnce(() => {});
        const { call } = mailing({ DATA_ENCRYPTION_KEY: '' });
        return call('/auth/email/verify', { token: (await signedIn()).token, json: { code: '123456' } });
      },
    ],
  },
  flaskSignup: {
    200: [() => api('/signup', { json: { username: uniqueName(), password: PASSWORD } })],
    400: [
      async () => api('/signup', { json: { username: (await register()).username, password: PASSWORD } }),
      () => api('/signup', { json: { username: 'x', password: PASSWORD } }),
    ],
    429: [() => registerUntil429('/signup')],
  },
  flaskLogin: {
    200: [async () => api('/auth', { json: { username: (await register()).username, password: PASSWORD } })],
    400: [() => api('/auth', { json: { username: 'alice' } })],
    401: [async () => api('/auth', { json: { username: (await register()).username, password: 'wrong-one' } })],
    403: [async () => api('/auth', { json: { username: (await twoFactorUser()).user.username, password: PASSWORD } })],
    429: [
      async () => {
        const { username } = await register();
        const app = strict();
        return until429(() => app('/auth', { json: { username, password: 'wrong-one' } }));
      },
    ],
    503: [() => importedLogin('/auth')],
  },
  authorize: {
    303: [async () => new Browser().navigate(`/oauth/authorize?${authorizeParams((await newClient()).clientId)}`)],
    400: [() => new Browser().navigate(`/oauth/authorize?${authorizeParams(NO_SUCH_ID)}`)],
  },
  authorizeWithForm: {
    303: [
      async () =>
        new Browser().navigate('/oauth/authorize', {
          method: 'POST',
          body: authorizeParams((await newClient()).clientId).toString(),
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        }),
    ],
    400: [
      () =>
        new Browser().navigate('/oauth/authorize', {
          method: 'POST',
          body: authorizeParams(NO_SUCH_ID).toString(),
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        }),
    ],
  },
  endSession: {
    303: [() => new Browser().navigate('/oauth/logout')],
    400: [() => new Browser().navigate('/oauth/logout?post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F')],
  },
  endSessionWithForm: {
    303: [
      () =>
        new Browser().navigate('/oauth/logout', {
          method: 'POST',
          body: '',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        }),
    ],
    400: [
      () =>
        new Browser().navigate('/oauth/logout', {
          method: 'POST',
          body: `client_id=${NO_SUCH_ID}`,
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        }),
    ],
  },
  oauthNextStep: {
    200: [
      async () => {
        const { browser, interaction } = await pendingAuthorization();
        return browser.page('/oauth/interaction/next', { interaction });
      },
    ],
    400: [() => new Browser().page('/oauth/interaction/next', { interaction: NO_SUCH_ID })],
    403: [
      async () => {
        const { browser, interaction } = await pendingAuthorization();
        return crossSite(browser, '/oauth/interaction/next', { interaction });
      },
    ],
  },
  oauthSignIn: {
    200: [
      async () => {
        const { browser, interaction } = await pendingAuthorization();
        return browser.page('/oauth/interaction/sign-in', {
          interaction,
          username: (await register()).username,
          password: PASSWORD,
        });
      },
    ],
    400: [
      () =>
        new Browser().page('/oauth/interaction/sign-in', {
          interaction: NO_SUCH_ID,
          username: 'alice',
          password: PASSWORD,
        }),
    ],
    401: [
      async () => {
        const { browser, interaction } = await pendingAuthorization();
        return browser.page('/oauth/interaction/sign-in', {
          interaction,
          username: (await register()).username,
          password: 'wrong-one',
        });
      },
    ],
    403: [
      async () => await codeStepResponse(),
      async () => {
        const { browser, interaction } = await pendingAuthorization();
        return crossSite(browser, '/oauth/interaction/sign-in', { interaction, username: 'alice', password: PASSWORD });
      },
    ],
    429: [
      async () => {
        const { username } = await register();
        const call = providerApi({ LOGIN_MAX_FAILURES: '1', LOGIN_WINDOW: '60' });
        const { browser, interaction } = await pendingAuthorization({ call });
        return until429(() =>
          browser.page('/oauth/interaction/sign-in', { interaction, username, password: 'wrong-one' }),
        );
      },
    ],
    503: [
      async () => {
        const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
        try {
          const { username } = await insertImportedUser(bcrypt.hash);
          const { browser, interaction } = await pendingAuthorization({
            call: providerApi({ LEGACY_HASHES: undefined }),
          });
          return await browser.page('/oauth/interaction/sign-in', { interaction, username, password: bcrypt.password });
        } finally {
          quiet.mockRestore();
        }
      },
    ],
  },
  oauthVerify: {
    200: [
      async () => {
        const { user, browser, interaction, mfa_token } = await codeStep();
        return browser.page('/oauth/interaction/verify', { interaction, mfa_token, code: user.recoveryCodes[0] });
      },
    ],
    400: [
      () =>
        new Browser().page('/oauth/interaction/verify', { interaction: NO_SUCH_ID, mfa_token: 'x', code: '123456' }),
    ],
    401: [
      async () => {
        const { browser, interaction, mfa_token } = await codeStep();
        return browser.page('/oauth/interaction/verify', { interaction, mfa_token, code: '000000' });
      },
    ],
    403: [
      async () => {
        const { browser, interaction, mfa_token } = await codeStep();
        return crossSite(browser, '/oauth/interaction/verify', { interaction, mfa_token, code: '000000' });
      },
    ],
    429: [
      async () => {
        const { browser, interaction, mfa_token } = await codeStep(providerApi({ MFA_MAX_FAILURES: '1' }));
        return until429(() => browser.page('/oauth/interaction/verify', { interaction, mfa_token, code: '000000' }));
      },
    ],
  },
  oauthConsent: {
    200: [
      async () => {
        const { browser, interaction } = await pendingAuthorization({ user: (await register()).username });
        return browser.page('/oauth/interaction/consent', { interaction, decision: 'deny' });
      },
    ],
    400: [() => new Browser().page('/oauth/interaction/consent', { interaction: NO_SUCH_ID, decision: 'allow' })],
    403: [
      async () => {
        const { browser, interaction } = await pendingAuthorization();
        return crossSite(browser, '/oauth/interaction/consent', { interaction, decision: 'allow' });
      },
    ],
  },
  oauthLogoutInfo: {
    200: [
      async () => {
        const { browser, interaction } = await pendingLogout();
        return browser.page('/oauth/interaction/logout/next', { interaction });
      },
    ],
    400: [() => new Browser().page('/oauth/interaction/logout/next', { interaction: NO_SUCH_ID })],
    403: [
      async () => {
        const { browser, interaction } = await pendingLogout();
        return crossSite(browser, '/oauth/interaction/logout/next', { interaction });
      },
    ],
  },
  oauthLogout: {
    200: [
      async () => {
        const { browser, interaction } = await pendingLogout();
        return browser.page('/oauth/interaction/logout', { interaction, decision: 'logout' });
      },
    ],
    400: [() => new Browser().page('/oauth/interaction/logout', { interaction: NO_SUCH_ID, decision: 'logout' })],
    403: [
      async () => {
        const { browser, interaction } = await pendingLogout();
        return crossSite(browser, '/oauth/interaction/logout', { interaction, decision: 'logout' });
      },
    ],
  },
  passkeyRegisterOptions: {
    200: [
      async () =>
        api('/auth/passkeys/register/options', {
          json: { current_password: PASSWORD },
          token: (await signedIn()).token,
        }),
    ],
    400: [async () => api('/auth/passkeys/register/options', { method: 'POST', token: (await signedIn()).token })],
    401: [
      () => api('/auth/passkeys/register/options', { method: 'POST' }),
      async () =>
        api('/auth/passkeys/register/options', {
          json: { current_password: 'wrong-one' },
          token: (await signedIn()).token,
        }),
    ],
    403: [
      async () => {
        const { tokens } = await signUp(api, uniqueName());
        await ageSignIn(sessionIdOf(tokens.access_token), 6);
        return api('/auth/passkeys/register/options', { method: 'POST', token: tokens.access_token });
      },
    ],
    409: [
      async () => {
        const { user, token } = await signedIn();
        await fillPasskeys(user.id);
        return api('/auth/passkeys/register/options', { json: { current_password: PASSWORD }, token });
      },
    ],
    429: [
      async () => {
        const { token } = await signedIn();
        const app = strict();
        return until429(() =>
          app('/auth/passkeys/register/options', { json: { current_password: 'wrong-one' }, token }),
        );
      },
    ],
    500: [
      async () =>
        withoutRpId()('/auth/passkeys/register/options', {
          json: { current_password: PASSWORD },
          token: (await signedIn()).token,
        }),
    ],
  },
  passkeyRegisterVerify: {
    201: [
      async () => {
        const { token } = await signedIn();
        return api('/auth/passkeys/register/verify', { json: { credential: await passkeyRegistration(token) }, token });
      },
    ],
    400: [
      async () =>
        api('/auth/passkeys/register/verify', {
          json: { credential: await strayRegistration() },
          token: (await signedIn()).token,
        }),
    ],
    401: [async () => api('/auth/passkeys/register/verify', { json: { credential: await strayRegistration() } })],
    409: [
      async () => {
        const { token, held } = await passkeyUser();
        const options = await registerOptions(api, token);
        const again = await attestation(held, { challenge: options.challenge, rpId: RP_ID, origin: ORIGIN });
        return api('/auth/passkeys/register/verify', { json: { credential: again }, token });
      },
    ],
    500: [
      async () =>
        withoutRpId()('/auth/passkeys/register/verify', {
          json: { credential: await strayRegistration() },
          token: (await signedIn()).token,
        }),
    ],
  },
  passkeySignInOptions: {
    200: [
      () => api('/auth/passkeys/sign-in/options', { method: 'POST' }),
      async () => api('/auth/passkeys/sign-in/options', { json: { username: (await passkeyUser()).user.username } }),
    ],
    429: [
      () => {
        const app = passkeysStrict();
        const headers = { 'CF-Connecting-IP': '198.51.100.31' };
        return until429(() => app('/auth/passkeys/sign-in/options', { method: 'POST', headers }));
      },
    ],
    500: [() => withoutRpId()('/auth/passkeys/sign-in/options', { method: 'POST' })],
  },
  passkeySignInVerify: {
    200: [
      async () => {
        const { held } = await passkeyUser();
        return api('/auth/passkeys/sign-in/verify', { json: { credential: await signInResponse(api, held) } });
      },
      async () => {
        const { held } = await passkeyUser();
        return api('/auth/passkeys/sign-in/verify', {
          json: { credential: await signInResponse(api, held), refresh_token_delivery: 'cookie' },
        });
      },
    ],
    401: [async () => api('/auth/passkeys/sign-in/verify', { json: { credential: await strayAssertion() } })],
    429: [
      async () => {
        const app = passkeysStrict();
        const headers = { 'CF-Connecting-IP': '198.51.100.32' };
        return until429(async () =>
          app('/auth/passkeys/sign-in/verify', { json: { credential: await strayAssertion() }, headers }),
        );
      },
    ],
    500: [async () => withoutRpId()('/auth/passkeys/sign-in/verify', { json: { credential: await strayAssertion() } })],
  },
  passkeySignUpOptions: {
    200: [() => api('/auth/passkeys/sign-up/options', { json: { username: uniqueName() } })],
    409: [async () => api('/auth/passkeys/sign-up/options', { json: { username: (await register()).username } })],
    429: [
      () => {
        const app = appWith({ REGISTER_IP_MAX: '1', REGISTER_WINDOW: '60' });
        const headers = { 'CF-Connecting-IP': '198.51.100.33' };
        return until429(() => app('/auth/passkeys/sign-up/options', { json: { username: uniqueName() }, headers }));
      },
    ],
    500: [() => withoutRpId()('/auth/passkeys/sign-up/options', { json: { username: uniqueName() } })],
  },
  passkeySignUpVerify: {
    201: [
      async () => {
        const options = (await (
          await api('/auth/passkeys/sign-up/options', { json: { username: uniqueName() } })
        ).json()) as Json;
        const credential = await attestation(await newCredential(), {
          challenge: options.challenge,
          rpId: RP_ID,
          origin: ORIGIN,
        });
        return api('/auth/passkeys/sign-up/verify', { json: { credential } });
      },
    ],
    400: [async () => api('/auth/passkeys/sign-up/verify', { json: { credential: await strayRegistration() } })],
    409: [
      async () => {
        const username = uniqueName();
        const options = (await (await api('/auth/passkeys/sign-up/options', { json: { username } })).json()) as Json;
        await register(username);
        const credential = await attestation(await newCredential(), {
          challenge: options.challenge,
          rpId: RP_ID,
          origin: ORIGIN,
        });
        return api('/auth/passkeys/sign-up/verify', { json: { credential } });
      },
    ],
    500: [
      async () => withoutRpId()('/auth/passkeys/sign-up/verify', { json: { credential: await strayRegistration() } }),
    ],
  },
  listPasskeys: {
    200: [async () => api('/auth/passkeys', { token: (await passkeyUser()).token })],
    401: [() => api('/auth/passkeys')],
  },
  renamePasskey: {
    200: [
      async () => {
        const { token, held } = await passkeyUser();
        return api(`/auth/passkeys/${b64url(held.id)}`, { method: 'PATCH', json: { name: 'Phone' }, token });
      },
    ],
    401: [() => api(`/auth/passkeys/${NO_SUCH_ID}`, { method: 'PATCH', json: { name: 'Phone' } })],
    404: [
      async () =>
        api(`/auth/passkeys/${NO_SUCH_ID}`, {
          method: 'PATCH',
          json: { name: 'Phone' },
          token: (await signedIn()).token,
        }),
    ],
  },
  removePasskey: {
    204: [
      async () => {
        const { token, held } = await passkeyUser();
        return api(`/auth/passkeys/${b64url(held.id)}`, { method: 'DELETE', token });
      },
    ],
    401: [() => api(`/auth/passkeys/${NO_SUCH_ID}`, { method: 'DELETE' })],
    403: [
      async () => {
        const { token, tokens, held } = await passkeyUser();
        await ageSignIn(sessionIdOf(tokens.access_token), 6);
        return api(`/auth/passkeys/${b64url(held.id)}`, { method: 'DELETE', token });
      },
    ],
    404: [async () => api(`/auth/passkeys/${NO_SUCH_ID}`, { method: 'DELETE', token: (await signedIn()).token })],
    409: [
      async () => {
        const { held, tokens } = await signUp(api, uniqueName());
        return api(`/auth/passkeys/${b64url(held.id)}`, { method: 'DELETE', token: tokens.access_token });
      },
    ],
    429: [
      async () => {
        const { token, tokens, held } = await passkeyUser();
        await ageSignIn(sessionIdOf(tokens.access_token), 6);
        const app = strict();
        return until429(() =>
          app(`/auth/passkeys/${b64url(held.id)}`, {
            method: 'DELETE',
            json: { current_password: 'wrong-one' },
            token,
          }),
        );
      },
    ],
  },
  addPassword: {
    204: [
      async () =>
        api('/auth/password/add', {
          json: { new_password: 'a-new-and-unusual-passphrase' },
          token: (await signUp(api, uniqueName())).tokens.access_token,
        }),
    ],
    400: [
      async () =>
        api('/auth/password/add', {
          json: { new_password: 'short' },
          token: (await signUp(api, uniqueName())).tokens.access_token,
        }),
    ],
    401: [() => api('/auth/password/add', { json: { new_password: 'a-new-and-unusual-passphrase' } })],
    403: [
      async () => {
        const { tokens } = await signUp(api, uniqueName());
        await ageSignIn(sessionIdOf(tokens.access_token), 6);
        return api('/auth/password/add', {
          json: { new_password: 'a-new-and-unusual-passphrase' },
          token: tokens.access_token,
        });
      },
    ],
    409: [
      async () =>
        api('/auth/password/add', {
          json: { new_password: 'a-new-and-unusual-passphrase' },
          token: (await signedIn()).token,
        }),
    ],
  },
  oauthPasskeySignIn: {
    200: [
      async () => {
        const { held } = await passkeyUser();
        const { browser, interaction } = await pendingAuthorization();
        return browser.page('/oauth/interaction/passkey', { interaction, credential: await signInResponse(api, held) });
      },
    ],
    400: [
      async () =>
        new Browser().page('/oauth/interaction/passkey', {
          interaction: NO_SUCH_ID,
          credential: await strayAssertion(),
        }),
    ],
    401: [
      async () => {
        const { browser, interaction } = await pendingAuthorization();
        return browser.page('/oauth/interaction/passkey', { interaction, credential: await strayAssertion() });
      },
    ],
    403: [
      async () => {
        const { browser, interaction } = await pendingAuthorization();
        return crossSite(browser, '/oauth/interaction/passkey', { interaction, credential: await strayAssertion() });
      },
    ],
    429: [
      async () => {
        const { browser, interaction } = await pendingAuthorization({
          call: providerApi({ LOGIN_IP_MAX_FAILURES: '1' }),
        });
        const headers = { 'CF-Connecting-IP': '198.51.100.34' };
        return until429(async () =>
          browser.page('/oauth/interaction/passkey', { interaction, credential: await strayAssertion() }, headers),
        );
      },
    ],
    500: [
      async () => {
        const { browser, interaction } = await pendingAuthorization({ call: providerApi({ WEBAUTHN_RP_ID: '' }) });
        vi.spyOn(console, 'error').mockImplementationOnce(() => {});
        return browser.page('/oauth/interaction/passkey', { interaction, credential: await strayAssertion() });
      },
    ],
  },
  flaskHello: {
    200: [async () => api('/hello', { headers: { Authorization: `JWT ${(await signedIn()).token}` } })],
    401: [() => api('/hello')],
  },
};

/**
 * Cases every operation with a request body gets, since routing.ts wires the same checks
 * into each: malformed JSON (400), a body over the limit (413), a body that is not JSON (415).
 */
function bodyCases(path: string, method: string, op: Operation): Record<number, Send[]> {
  const content = (op.requestBody as { content?: Record<string, unknown> } | undefined)?.content ?? {};
  // Form bodies (the OAuth endpoints) are read by their own reader, with their own cases above.
  if (!('application/json' in content)) return {};
  const url = path.replace(/\{\w+\}/g, NO_SUCH_ID);
  const bearer = op.security?.some((s) => 'bearerAuth' in s) ?? false;
  // OAuth endpoints need the provider's configuration to get as far as reading the body.
  const call = path.startsWith('/oauth/') ? oauth.api : api;
  const send = (body: string, contentType: string) => async () =>
    call(url, {
      method: method.toUpperCase(),
      body,
      token: bearer ? (await signedInAdmin()).token : undefined,
      // Same-origin, as the hosted pages' calls are (their CSRF check comes first).
      headers: { 'Content-Type': contentType, Origin: ORIGIN, 'Sec-Fetch-Site': 'same-origin' },
    });
  return {
    400: [send('{"unterminated": ', 'application/json')],
    413: [send(JSON.stringify({ padding: 'x'.repeat(MAX_BODY_BYTES) }), 'application/json')],
    415: [send('username=alice', 'application/x-www-form-urlencoded')],
  };
}

function casesOf(path: string, method: string, op: Operation): Record<number, Send[]> {
  const cases: Record<number, Send[]> = {};
  for (const source of [CASES[op.operationId] ?? {}, bodyCases(path, method, op)]) {
    for (const [status, sends] of Object.entries(source)) (cases[Number(status)] ??= []).push(...sends);
  }
  return cases;
}

/** The document's schema with its `#/components/schemas/...` references inlined. */
function resolve(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(resolve);
  if (typeof schema !== 'object' || schema === null) return schema;
  const ref = (schema as Json).$ref as string | undefined;
  if (ref?.startsWith('#/components/schemas/')) return resolve(document.components.schemas[ref.split('/').pop()!]);
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, resolve(v)]));
}

async function expectConforms(op: Operation, status: number, res: Response) {
  expect(res.status, await res.clone().text()).toBe(status);
  const documented = op.responses[String(status)]!;
  const text = await res.text();
  if (!documented.content) {
    expect(text).toBe('');
    return;
  }
  const mediaType = res.headers.get('Content-Type')?.split(';')[0]?.trim() ?? '';
  expect(Object.keys(documented.content)).toContain(mediaType);
  const schema = resolve(documented.content[mediaType]!.schema) as Schema;
  if (mediaType === 'text/html') {
    expect(schema).toEqual({ type: 'string' });
    expect(text).toMatch(/^<!doctype html>/);
    return;
  }
  const result = new Validator(schema, '2020-12', false).validate(JSON.parse(text));
  expect(result.errors, text).toEqual([]);
  expect(result.valid).toBe(true);
}

describe('the OpenAPI contract', () => {
  it('lists every route the app serves', () => {
    const served = createApp()
      .routes.filter((r) => r.method !== 'ALL')
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    const documented = operations.map((op) => `${op.method.toUpperCase()} ${op.path}`);
    expect([...new Set(served)].sort()).toEqual(documented.sort());
  });

  it('has cases for exactly the documented statuses of every operation, and none for unknown operations', () => {
    for (const { path, method, ...op } of operations) {
      const documented = Object.keys(op.responses).map(Number).sort();
      const tested = Object.keys(casesOf(path, method, op))
        .map(Number)
        .sort();
      expect(tested, `${op.operationId} (${method.toUpperCase()} ${path})`).toEqual(documented);
    }
    const known = new Set(operations.map((op) => op.operationId));
    expect(Object.keys(CASES).filter((id) => !known.has(id))).toEqual([]);
  });

  it('would catch an answer that breaks the document', async () => {
    const login = operations.find((op) => op.operationId === 'login')!;
    const ok = (await (await CASES.login![200]![0]!()).json()) as Json;
    const body = (b: unknown) => new Response(JSON.stringify(b), { headers: { 'Content-Type': 'application/json' } });
    const broken = [
      { ...ok, user: { ...ok.user, role: 'root' } },
      { ...ok, user: { ...ok.user, created_at: 'yesterday' } },
      { ...ok, unexpected: true },
      { ...ok, access_token: undefined },
    ];
    for (const b of broken) await expect(expectConforms(login, 200, body(b))).rejects.toThrow();
    const problem = new Response(JSON.stringify({ title: 'x', status: 401, detail: 'x', code: 'made_up' }), {
      status: 401,
      headers: { 'Content-Type': 'application/problem+json' },
    });
    await expect(expectConforms(login, 401, problem)).rejects.toThrow();
    await expect(expectConforms(login, 200, body(ok))).resolves.toBeUndefined();
  });

  describe.each(operations)('$operationId ($method $path)', ({ path, method, ...op }) => {
    const cases = Object.entries(casesOf(path, method, op)).flatMap(([status, sends]) =>
      sends.map((send, i) => ({
        status: Number(status),
        send,
        name: `${status}${sends.length > 1 ? ` #${i + 1}` : ''}`,
      })),
    );
    it.each(cases)('answers $name as documented', async ({ status, send }) => {
      await expectConforms(op, status, await send());
    });
  });
});
