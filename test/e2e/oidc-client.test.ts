/**
 * The OpenID Connect provider as third parties meet it: `openid-client` (the certified
 * relying-party library) against a real `wrangler dev`, the hosted pages driven in real
 * Chromium as a user would (fields and buttons found by their accessible names).
 *
 * 1. examples/oidc-client, a small web app, signs a user in (sign-in page, consent, back with
 *    the ID token's claims shown) and out (RP-initiated logout with its confirmation page).
 * 2. openid-client in this process, as a third party: discovery, registration, the code flow
 *    through the browser, userinfo, refresh, introspection, revocation and logout.
 * 3. openid-client as a device (RFC 8628): the device authorization, the hosted device page in
 *    Chromium (code, sign-in, Allow or Deny), the polling, userinfo.
 * 4. DPoP (RFC 9449): oauth4webapi's DPoP helpers for a public client's code flow with
 *    `dpop_jkt` and its bound refresh; openid-client's for a confidential client's code flow and
 *    userinfo.
 * 5. Machines through openid-client: client credentials with client_secret_basic and with
 *    private_key_jwt (its assertion refused when replayed), and a user's API key.
 *
 * Playwright's page.route does not see the targets of redirects, so each callback lands on a
 * real loopback listener: the example app's own, or one this file starts (port from the OS:
 * Chrome refuses a few "unsafe" ports, which the OS never hands out as ephemeral ones).
 *
 * Run: npx vitest run test/e2e/oidc-client.test.ts
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { calculateJwkThumbprint, createRemoteJWKSet, exportJWK, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { totp } from '../totp';
import { launchChromium, newContext, violations } from './browser';
import {
  ROOT,
  api,
  childEnv,
  freePort,
  rs256Key,
  run,
  startServer,
  startWranglerDev,
  uniqueName,
  useScratchDir,
  type Server,
} from './support';

const PASSWORD = 'a-long-and-unusual-passphrase';
const scratch = useScratchDir('oidc');
let server: Server | undefined;
let exampleApp: Server | undefined;
let browser: Browser | undefined;
const contexts: BrowserContext[] = [];
const base = () => server!.baseUrl;
let adminToken = '';
let username = '';
let adminName = '';

async function newPage(): Promise<Page> {
  const context = await newContext(browser!);
  context.setDefaultTimeout(15_000);
  contexts.push(context);
  return context.newPage();
}

/** Registers a client at the registration endpoint with the admin's token (RFC 7591). */
async function registerClient(metadata: Record<string, unknown>) {
  const res = await fetch(`${base()}/oauth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${adminToken}` },
    body: JSON.stringify(metadata),
  });
  const body = (await res.json()) as { client_id: string; client_secret?: string };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body;
}

/** On the hosted sign-in page: Username, Password, Log in, then Allow on the consent page. */
async function signInAndAllow(page: Page, clientName: string) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: `Allow ${clientName} access?` }).waitFor();
  await page.getByRole('button', { name: 'Allow' }).click();
}

beforeAll(async () => {
  [server, browser] = await Promise.all([
    startWranglerDev(scratch(), {
      JWT_SECRET: `e2e-${crypto.randomUUID()}-${crypto.randomUUID()}`,
      JWT_PRIVATE_KEY: rs256Key(),
      DATA_ENCRYPTION_KEY: `e2e-${crypto.randomUUID()}-${crypto.randomUUID()}`,
      PBKDF2_ITERATIONS: '10000',
    }),
    launchChromium(),
  ]);
  // A user, and an admin whose access token is the initial access token of registrations.
  username = uniqueName('alice');
  const admin = (adminName = uniqueName('admin'));
  for (const name of [username, admin]) {
    expect((await api(base(), '/auth/register', { json: { username: name, password: PASSWORD } })).status).toBe(201);
  }
  const promoted = await run(
    'node',
    [path.join(ROOT, 'scripts/make-admin.mjs'), admin, '--local', '--persist-to', scratch()],
    { cwd: ROOT, env: childEnv(scratch()) },
  );
  expect(promoted.code, promoted.output).toBe(0);
  adminToken = (await api(base(), '/auth/login', { json: { username: admin, password: PASSWORD } })).body.access_token;
});

afterAll(async () => {
  await browser?.close();
  await exampleApp?.stop();
  await server?.stop();
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(() =>
    console.error(`--- wrangler dev ---\n${server?.output ?? ''}\n--- example app ---\n${exampleApp?.output ?? ''}`),
  );
});

describe('examples/oidc-client', () => {
  it('signs in through the hosted pages, shows the ID token’s claims, and logs out', async () => {
    const port = await freePort();
    const app = `http://127.0.0.1:${port}`;
    const client = await registerClient({
      client_name: 'Example app',
      redirect_uris: [`${app}/callback`],
      post_logout_redirect_uris: [`${app}/`],
      grant_types: ['authorization_code', 'refresh_token'],
    });
    exampleApp = await startServer({
      name: 'examples/oidc-client',
      command: 'node',
      args: [path.join(ROOT, 'examples/oidc-client/server.mjs')],
      cwd: ROOT,
      env: {
        ...childEnv(scratch()),
        ISSUER: base(),
        CLIENT_ID: client.client_id,
        CLIENT_SECRET: client.client_secret,
        PORT: String(port),
      },
      port,
    });

    const page = await newPage();
    // The narrowest phone the pages are made for.
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(app);
    await page.getByRole('link', { name: 'Sign in with edge-auth' }).click();

    // The hosted sign-in page: a static asset, never framed, with the client named.
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/oauth/sign-in');
    await page.getByText('to continue to Example app.').waitFor();
    const headers = (await fetch(page.url())).headers;
    expect(headers.get('Content-Security-Policy')).toContain("frame-ancestors 'none'");
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);

    // A wrong password: the error in plain words, the field kept; then the right one, by keyboard.
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByLabel('Password').press('Enter');
    await page.getByRole('alert').filter({ hasText: 'The username or password is incorrect.' }).waitFor();
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByLabel('Password').press('Enter');

    // Consent: the client and each scope in plain words.
    await page.getByRole('heading', { name: 'Allow Example app access?' }).waitFor();
    const scopes = await page.getByRole('listitem').allTextContents();
    expect(scopes).toEqual([
      'Sign you in with your account',
      'See your username and when your profile last changed',
      'See your email address and whether it is verified',
      'Keep access while you are not using it',
    ]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await page.getByRole('button', { name: 'Allow' }).click();

    // Back in the example app, with the ID token's claims.
    await page.waitForURL((url) => url.origin === app);
    await page.getByText(`Signed in as ${username}.`).waitFor();
    const claims = Object.fromEntries(
      await page
        .locator('tr')
        .evaluateAll((rows) =>
          rows.map((r) => [r.querySelector('th')!.textContent, JSON.parse(r.querySelector('td')!.textContent!)]),
        ),
    );
    expect(claims).toMatchObject({
      iss: base(),
      aud: client.client_id,
      preferred_username: username,
      amr: ['pwd'],
    });
    expect(typeof claims.sub).toBe('string');
    expect(typeof claims.auth_time).toBe('number');
    expect(await violations(page)).toEqual([]);

    // RP-initiated logout: the confirmation page, then back to the app, signed out.
    await page.getByRole('link', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Log out?' }).waitFor();
    await page.getByText('Example app asks to log you out of this service.').waitFor();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByText('You are not signed in.').waitFor();
    expect(new URL(page.url()).origin).toBe(app);

    // The service's own session ended too: the next sign-in asks for the password again.
    await page.getByRole('link', { name: 'Sign in with edge-auth' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  });
});

/**
 * A loopback listener for the redirects back to a client, for the describe block it is called
 * in: `url()` is its origin, `expect()` arms it and resolves with the next URL it is sent to.
 */
function useCallbackListener() {
  let callbacks: HttpServer;
  let origin = '';
  let resolveCaught: (url: URL) => void = () => {};
  beforeAll(async () => {
    callbacks = createServer((req, res) => {
      resolveCaught(new URL(req.url ?? '/', origin));
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('done');
    });
    await new Promise<void>((resolve) => callbacks.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(callbacks.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => callbacks.close(() => resolve())));
  return {
    url: () => origin,
    expect: () => new Promise<URL>((resolve) => (resolveCaught = resolve)),
  };
}

describe('openid-client as a third party', () => {
  const listener = useCallbackListener();
  let callbackUrl = '';
  /** The last request the loopback listener caught. */
  let caught: Promise<URL>;
  const expectCallback = () => (caught = listener.expect());
  beforeAll(() => {
    callbackUrl = listener.url();
  });

  it('discovers, registers, signs in through Chromium, and uses userinfo, refresh, introspection, revocation and logout', async () => {
    const insecure = { execute: [oidc.allowInsecureRequests] };
    // Registration (RFC 7591) through the library, with the admin's initial access token.
    const config = await oidc.dynamicClientRegistration(
      new URL(base()),
      {
        client_name: 'Third party',
        redirect_uris: [`${callbackUrl}/cb`],
        post_logout_redirect_uris: [`${callbackUrl}/bye`],
        grant_types: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      // The method it registered with (the library's default would be client_secret_post).
      oidc.ClientSecretBasic(),
      { ...insecure, initialAccessToken: adminToken },
    );
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(base());
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.authorization_response_iss_parameter_supported).toBe(true);

    // The code flow, in the browser.
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const to = oidc.buildAuthorizationUrl(config, {
      redirect_uri: `${callbackUrl}/cb`,
      scope: 'openid profile offline_access',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const page = await newPage();
    expectCallback();
    await page.goto(to.href);
    await signInAndAllow(page, 'Third party');
    const callback = await caught;
    expect(callback.searchParams.get('iss')).toBe(base());

    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims()!;
    expect(claims.preferred_username).toBe(username);
    expect(tokens.refresh_token).toBeTruthy();

    // Userinfo with the access token; refresh rotates; introspection sees the live token.
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(info.preferred_username).toBe(username);
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    const live = await oidc.tokenIntrospection(config, refreshed.access_token);
    expect(live).toMatchObject({ active: true, client_id: config.clientMetadata().client_id, sub: claims.sub });

    // Revoking the refresh token ends the grant: its access token is dead everywhere.
    await oidc.tokenRevocation(config, refreshed.refresh_token!);
    expect((await oidc.tokenIntrospection(config, refreshed.access_token)).active).toBe(false);
    await expect(oidc.fetchUserInfo(config, refreshed.access_token, claims.sub)).rejects.toThrow();

    // RP-initiated logout, confirmed on the hosted page, back with the state.
    expectCallback();
    await page.goto(
      oidc.buildEndSessionUrl(config, {
        id_token_hint: tokens.id_token!,
        post_logout_redirect_uri: `${callbackUrl}/bye`,
        state: 'bye-state',
      }).href,
    );
    await page.getByRole('button', { name: 'Log out' }).click();
    const bye = await caught;
    expect(bye.pathname).toBe('/bye');
    expect(bye.searchParams.get('state')).toBe('bye-state');
  });
});

describe('machine clients through openid-client', () => {
  const insecure = { execute: [oidc.allowInsecureRequests] };
  /** Verifies an access token as a resource server does: offline, with the JWKS only. */
  const verifyOffline = async (token: string) =>
    (
      await jwtVerify(token, createRemoteJWKSet(new URL(`${base()}/.well-known/jwks.json`)), {
        issuer: base(),
        audience: base(),
        typ: 'at+jwt',
      })
    ).payload;

  it('gets a client credentials token with client_secret_basic, verified offline and introspected', async () => {
    const config = await oidc.dynamicClientRegistration(
      new URL(base()),
      { client_name: 'Nightly job', grant_types: ['client_credentials'], scope: 'api' },
      oidc.ClientSecretBasic(),
      { ...insecure, initialAccessToken: adminToken },
    );
    const clientId = config.clientMetadata().client_id;
    expect(config.serverMetadata().grant_types_supported).toContain('client_credentials');
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'api' });
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'api' });
    expect(tokens.refresh_token).toBeUndefined();
    expect(tokens.id_token).toBeUndefined();
    expect(await verifyOffline(tokens.access_token)).toMatchObject({
      sub: clientId,
      client_id: clientId,
      scope: 'api',
    });
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: true, sub: clientId });
  });

  it('authenticates with private_key_jwt (PrivateKeyJwt), and the service refuses a replayed assertion', async () => {
    const { privateKey, publicKey } = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', publicKey);
    const jwk = { kty: kty!, crv: crv!, x: x!, y: y!, kid: 'job-key-1', alg: 'ES256' };
    const sent: string[] = [];
    const recording = {
      // The library's requests, recorded on their way, so one can be sent again.
      [oidc.customFetch]: (url: string, options: oidc.CustomFetchOptions) => {
        if (options.body) sent.push(String(options.body));
        return fetch(url, options as RequestInit);
      },
    };
    const config = await oidc.dynamicClientRegistration(
      new URL(base()),
      {
        client_name: 'Keyed job',
        grant_types: ['client_credentials'],
        scope: 'api',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [jwk] },
      },
      oidc.PrivateKeyJwt({ key: privateKey, kid: 'job-key-1' }),
      { ...insecure, initialAccessToken: adminToken },
    );
    Object.assign(config, recording);
    const clientId = config.clientMetadata().client_id;
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'api' });
    expect(await verifyOffline(tokens.access_token)).toMatchObject({ sub: clientId });
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);

    const body = sent.find((b) => b.includes('grant_type=client_credentials'))!;
    expect(new URLSearchParams(body).get('client_assertion_type')).toBe(
      'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    );
    const replay = await fetch(`${base()}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body,
    });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('trades a user’s API key for tokens that act as the user', async () => {
    const user = (await api(base(), '/auth/login', { json: { username, password: PASSWORD } })).body;
    const key = await api(base(), '/auth/api-keys', {
      token: user.access_token,
      json: { name: 'Script', scope: 'api', current_password: PASSWORD },
    });
    expect(key.status).toBe(201);
    const config = await oidc.discovery(
      new URL(base()),
      key.body.client_id,
      key.body.client_secret,
      oidc.ClientSecretBasic(key.body.client_secret),
      insecure,
    );
    const tokens = await oidc.clientCredentialsGrant(config);
    expect(await verifyOffline(tokens.access_token)).toMatchObject({
      sub: user.user.id,
      client_id: key.body.client_id,
      scope: 'api',
    });
  });
});

describe('the device flow (RFC 8628), openid-client as the device', () => {
  const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
  let config: oidc.Configuration;
  let page: Page;

  beforeAll(async () => {
    // A CLI: a public client of the device flow, without redirect URIs.
    const registered = await registerClient({
      client_name: 'Example CLI',
      grant_types: [DEVICE_GRANT, 'refresh_token'],
      token_endpoint_auth_method: 'none',
      scope: 'openid profile offline_access',
    });
    config = await oidc.discovery(new URL(base()), registered.client_id, undefined, oidc.None(), {
      execute: [oidc.allowInsecureRequests],
    });
    page = await newPage();
    await page.setViewportSize({ width: 375, height: 740 });
  });

  it('shows a code; the user types it on the hosted page, signs in and allows; the device gets tokens and calls userinfo', async () => {
    expect(config.serverMetadata().device_authorization_endpoint).toBe(`${base()}/oauth/device_authorization`);
    const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access' });
    expect(device.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(device.verification_uri).toBe(`${base()}/oauth/device`);
    // The device polls (every `interval` seconds) while the user answers.
    const polling = oidc.pollDeviceAuthorizationGrant(config, device);
    polling.catch(() => {});

    await page.goto(device.verification_uri);
    await page.getByRole('heading', { name: 'Connect a device' }).waitFor();
    const headers = (await fetch(page.url())).headers;
    expect(headers.get('Content-Security-Policy')).toContain("frame-ancestors 'none'");
    // A wrong code is refused beside the field; the right one is taken in lower case, without the dash.
    await page.getByLabel('Code').fill('BCDF-GHJK');
    await page.getByLabel('Code').press('Enter');
    await page.getByText('That code is wrong or has expired.').first().waitFor();
    await page.getByLabel('Code').fill(device.user_code.replace('-', '').toLowerCase());
    await page.getByRole('button', { name: 'Continue' }).click();

    // The code flow's sign-in, then the client, the scopes and the code, with Allow and Deny.
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByText('to continue to Example CLI.').waitFor();
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Allow Example CLI access?' }).waitFor();
    expect(await page.getByRole('listitem').allTextContents()).toEqual([
      'Sign you in with your account',
      'See your username and when your profile last changed',
      'Keep access while you are not using it',
    ]);
    await page.getByText(device.user_code, { exact: true }).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.getByRole('heading', { name: 'Device allowed' }).waitFor();
    expect(await violations(page)).toEqual([]);

    const tokens = await polling;
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ iss: base(), aud: config.clientMetadata().client_id, preferred_username: username });
    expect(tokens.refresh_token).toBeTruthy();
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(info.preferred_username).toBe(username);
  });

  it('fills the code in from verification_uri_complete, still asks, and Deny ends the polling with access_denied', async () => {
    const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
    const outcome = oidc.pollDeviceAuthorizationGrant(config, device).then(
      () => 'tokens',
      (err: { error?: string }) => err.error,
    );
    // The same browser, still signed in: no password, but Continue and the question stay.
    await page.goto(device.verification_uri_complete!);
    await page.getByRole('heading', { name: 'Connect a device' }).waitFor();
    expect(await page.getByLabel('Code').inputValue()).toBe(device.user_code);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Allow Example CLI access?' }).waitFor();
    await page.getByRole('button', { name: 'Deny' }).click();
    await page.getByRole('heading', { name: 'Device denied' }).waitFor();
    expect(await outcome).toBe('access_denied');
  });

  it('asks a user with two-factor on for a Code on the hosted sign-in page; a wrong one is refused there', async () => {
    const name = uniqueName('totp');
    expect((await api(base(), '/auth/register', { json: { username: name, password: PASSWORD } })).status).toBe(201);
    const token = (await api(base(), '/auth/login', { json: { username: name, password: PASSWORD } })).body
      .access_token;
    const started = await api(base(), '/auth/mfa/totp', { json: { current_password: PASSWORD }, token });
    const secret = started.body.secret as string;
    const confirmed = await api(base(), '/auth/mfa/totp/confirm', { json: { code: await totp(secret) }, token });
    expect(confirmed.status).toBe(200);

    const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
    const outcome = oidc.pollDeviceAuthorizationGrant(config, device).then(
      () => 'tokens',
      (err: { error?: string }) => err.error,
    );
    const fresh = await newPage();
    await fresh.goto(device.verification_uri_complete!);
    await fresh.getByRole('button', { name: 'Continue' }).click();
    await fresh.getByLabel('Username').fill(name);
    await fresh.getByLabel('Password').fill(PASSWORD);
    await fresh.getByRole('button', { name: 'Log in' }).click();
    const step = fresh.getByRole('form', { name: 'Two-factor authentication' });
    await step.getByLabel('Code').fill(await totp(secret, Date.now(), 5));
    await step.getByRole('button', { name: 'Verify' }).click();
    await step.getByRole('alert').filter({ hasText: /\S/ }).waitFor();
    // The next step's code: the current one was spent confirming the enrolment, and a step
    // is accepted once.
    await step.getByLabel('Code').fill(await totp(secret, Date.now(), 1));
    await step.getByRole('button', { name: 'Verify' }).click();
    await fresh.getByRole('heading', { name: 'Allow Example CLI access?' }).waitFor();
    await fresh.getByRole('button', { name: 'Deny' }).click();
    await fresh.getByRole('heading', { name: 'Device denied' }).waitFor();
    expect(await outcome).toBe('access_denied');
  });
});

describe('DPoP (RFC 9449) with third-party clients', () => {
  const listener = useCallbackListener();
  const insecure = { [oauth.allowInsecureRequests]: true } as const;

  /** Sends a new browser through the hosted pages to `authorize`; returns where it came back to. */
  async function authorizeInBrowser(authorize: URL, clientName: string): Promise<URL> {
    const page = await newPage();
    const back = listener.expect();
    await page.goto(authorize.href);
    await signInAndAllow(page, clientName);
    return back;
  }

  it('oauth4webapi: a public client’s code flow with dpop_jkt, userinfo, and a refresh bound to its key', async () => {
    const issuer = new URL(base());
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
    expect(as.dpop_signing_alg_values_supported).toEqual(['ES256', 'EdDSA', 'Ed25519']);
    const redirectUri = `${listener.url()}/dpop`;
    const registered = await registerClient({
      client_name: 'DPoP app',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'none',
    });
    const client: oauth.Client = { client_id: registered.client_id, token_endpoint_auth_method: 'none' };
    const keyPair = await oauth.generateKeyPair('ES256');
    const DPoP = oauth.DPoP(client, keyPair);

    // The code is bound to the key from the start (dpop_jkt, RFC 9449 §10).
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const authorize = new URL(as.authorization_endpoint!);
    for (const [name, value] of Object.entries({
      client_id: client.client_id,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'openid profile offline_access',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      dpop_jkt: await calculateJwkThumbprint(await exportJWK(keyPair.publicKey)),
    })) {
      authorize.searchParams.set(name, value);
    }
    const params = oauth.validateAuthResponse(as, client, await authorizeInBrowser(authorize, 'DPoP app'), state);
    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri, verifier, {
        DPoP,
        ...insecure,
      }),
      { requireIdToken: true },
    );
    expect(tokens.token_type).toBe('dpop');
    const sub = oauth.getValidatedIdTokenClaims(tokens)!.sub;
    const info = await oauth.processUserInfoResponse(
      as,
      client,
      sub,
      await oauth.userInfoRequest(as, client, tokens.access_token, { DPoP, ...insecure }),
    );
    expect(info.preferred_username).toBe(username);

    // The refresh token is bound: another key, or none, is refused (and leaves it unspent).
    const refresh = (handle?: oauth.DPoPHandle) =>
      oauth
        .refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token!, {
          ...(handle ? { DPoP: handle } : {}),
          ...insecure,
        })
        .then((res) => oauth.processRefreshTokenResponse(as, client, res));
    const thief = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    await expect(refresh(thief)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(refresh()).rejects.toMatchObject({ error: 'invalid_grant' });
    const refreshed = await refresh(DPoP);
    expect(refreshed.token_type).toBe('dpop');
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
  });

  it('openid-client: a confidential client’s code flow with an EdDSA key, and userinfo that refuses the token as Bearer', async () => {
    const redirectUri = `${listener.url()}/dpop-rp`;
    const config = await oidc.dynamicClientRegistration(
      new URL(base()),
      {
        client_name: 'DPoP RP',
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      oidc.ClientSecretBasic(),
      { execute: [oidc.allowInsecureRequests], initialAccessToken: adminToken },
    );
    const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('EdDSA'));
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const authorize = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const tokens = await oidc.authorizationCodeGrant(
      config,
      await authorizeInBrowser(authorize, 'DPoP RP'),
      { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true },
      undefined,
      { DPoP },
    );
    expect(tokens.token_type).toBe('dpop');
    const sub = tokens.claims()!.sub;
    expect((await oidc.fetchUserInfo(config, tokens.access_token, sub, { DPoP })).preferred_username).toBe(username);

    // Introspection names the key; the token alone, as Bearer, is refused with the DPoP challenge.
    const introspected = await oidc.tokenIntrospection(config, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: expect.any(String) } });
    const stolen = await fetch(config.serverMetadata().userinfo_endpoint!, {
      headers: { Authorization: `Bearer ${tokens.access_token}` },
    });
    expect(stolen.status).toBe(401);
    expect(stolen.headers.get('WWW-Authenticate')).toMatch(/^DPoP error="invalid_token"/);
  });
});

describe('the demo app’s OAuth clients section', () => {
  it('lists the clients, registers one (its secret shown once) and lets a first-party client skip consent', async () => {
    const page = await newPage();
    await page.goto(base());
    // The demo app's sign-in form (a separate form creates accounts, with its own Username).
    const signIn = page.getByRole('form', { name: 'Log in' });
    await signIn.getByLabel('Username').fill(adminName);
    await signIn.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await signIn.getByRole('button', { name: 'Log in', exact: true }).click();
    const section = page.getByRole('region', { name: 'OAuth clients' });
    await section.getByText('Example app').waitFor();

    await section.getByLabel('Client name').fill('Dashboard');
    await section.getByLabel('Redirect URIs (one per line)').fill('https://dashboard.example.test/callback');
    await section.getByRole('button', { name: 'Register client' }).click();
    await section.getByText(/Its client secret, shown this once/).waitFor();
    const row = section.getByRole('listitem').filter({ hasText: 'Dashboard' });
    await row.getByLabel('First-party: skip consent').check();
    await page.getByRole('status').filter({ hasText: 'Dashboard no longer asks for consent.' }).waitFor();

    const listed = await api(base(), '/admin/oauth/clients?limit=100', { token: adminToken });
    const dashboard = listed.body.clients.find((c: { client_name?: string }) => c.client_name === 'Dashboard');
    expect(dashboard).toMatchObject({ skip_consent: true, redirect_uris: ['https://dashboard.example.test/callback'] });
  });
});
