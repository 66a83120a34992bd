/**
 * Passkeys in real Chromium, with the DevTools Protocol's virtual authenticator standing in for
 * a phone or a laptop's platform authenticator, against a real `wrangler dev` at
 * http://localhost (WebAuthn refuses IP addresses as RP IDs, so not 127.0.0.1; with no
 * WEBAUTHN_RP_ID the RP ID is `localhost`). The demo app is driven as a user would, by role and
 * accessible name, and so is the OAuth provider's hosted sign-in page. One wrangler dev and one
 * browser; each device is a context of its own.
 *
 * Run: npx vitest run test/e2e/passkeys.test.ts
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { launchChromium, newContext } from './browser';
import { api, rs256Key, startWranglerDev, uniqueName, useScratchDir, type Server } from './support';

const PASSWORD = 'a-long-and-unusual-passphrase';
const scratch = useScratchDir('passkeys');
let server: Server | undefined;
let browser: Browser | undefined;
const contexts: BrowserContext[] = [];
/** The service as the browser reaches it: by name, so that it can be the RP ID. */
const site = () => server!.baseUrl.replace('127.0.0.1', 'localhost');

beforeAll(async () => {
  [server, browser] = await Promise.all([
    startWranglerDev(scratch(), {
      JWT_SECRET: `e2e-${crypto.randomUUID()}-${crypto.randomUUID()}`,
      DATA_ENCRYPTION_KEY: `e2e-${crypto.randomUUID()}-${crypto.randomUUID()}`,
      REGISTER_IP_MAX: '1000',
      PBKDF2_ITERATIONS: '10000',
      // The OAuth provider, for its hosted sign-in page: an RS256 key, and public clients that
      // register themselves (the issuer is the request's origin on loopback).
      JWT_PRIVATE_KEY: rs256Key(),
      OAUTH_OPEN_REGISTRATION: 'true',
    }),
    launchChromium(),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => console.error(`--- wrangler dev output ---\n${server?.output ?? ''}`));
});

afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close();
});

type Authenticator = { cdp: CDPSession; authenticatorId: string };

/**
 * A device: a browser context with a virtual CTAP2 platform authenticator that keeps
 * discoverable credentials and, unless told otherwise, verifies its user (a fingerprint that
 * always matches), touched automatically; and the app open on it.
 */
async function device(
  options: { userVerification?: boolean; autofill?: boolean } = {},
): Promise<{ page: Page } & Authenticator> {
  const context = await newContext(browser!);
  context.setDefaultTimeout(15_000);
  contexts.push(context);
  // A browser without passkey autofill: Chromium's virtual authenticator answers an autofill
  // request at once, which would race every click on "Sign in with a passkey".
  if (options.autofill === false) {
    await context.addInitScript(() => {
      PublicKeyCredential.isConditionalMediationAvailable = async () => false;
    });
  }
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const verifies = options.userVerification ?? true;
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: verifies,
      isUserVerified: verifies,
      automaticPresenceSimulation: true,
    },
  });
  await page.goto(site());
  await formOf(page, 'Log in').waitFor();
  return { page, cdp, authenticatorId };
}

const formOf = (page: Page, name: 'Log in' | 'Create an account') => page.getByRole('form', { name });
const signedInAs = (page: Page, username: string) => page.getByText(`Signed in as ${username}`);
const passkeys = (page: Page) => page.getByRole('region', { name: 'Passkeys' });
const credentialsOf = async ({ cdp, authenticatorId }: Authenticator) =>
  (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;

async function registerWithPassword(page: Page, username: string) {
  const form = formOf(page, 'Create an account');
  await form.getByLabel('Username').fill(username);
  await form.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await form.getByRole('button', { name: 'Register', exact: true }).click();
  await signedInAs(page, username).waitFor();
}

async function logOut(page: Page) {
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await formOf(page, 'Log in').waitFor();
}

describe('passkeys in Chromium', () => {
  it('adds a passkey, logs out, and is signed in by the Username field’s autofill, nothing typed; once removed, it signs in no more', async () => {
    const laptop = await device();
    const { page } = laptop;
    const username = uniqueName('pk');
    const login = formOf(page, 'Log in');
    expect(await login.getByLabel('Username').getAttribute('autocomplete')).toBe('username webauthn');
    await registerWithPassword(page, username);

    const section = passkeys(page);
    await section.getByText('No passkeys yet.').waitFor();
    await section.getByLabel('Current password').fill(PASSWORD);
    await section.getByRole('button', { name: 'Add a passkey' }).click();
    await section.getByRole('status').filter({ hasText: 'Passkey added' }).waitFor();
    const [held, ...more] = await credentialsOf(laptop);
    expect(more).toEqual([]);
    expect(held).toMatchObject({ isResidentCredential: true, rpId: 'localhost' });

    // Logged out, the log-in form asks the browser for a passkey in the Username field's
    // autofill (mediation: 'conditional'); the virtual authenticator picks the one it holds.
    // The account view stays until the service has ended the session, so the sign-in is
    // awaited by what only it says.
    await page.getByRole('button', { name: 'Log out', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Signed in with a passkey.' }).waitFor();
    await signedInAs(page, username).waitFor();
    const [used] = await credentialsOf(laptop);
    expect(used!.signCount).toBeGreaterThan(held!.signCount);

    // Rename, then remove (the sign-in a moment ago is the proof), after confirming.
    await section.getByRole('button', { name: 'Rename Passkey' }).click();
    await section.getByRole('textbox', { name: 'Name' }).fill('Laptop');
    await section.getByRole('button', { name: 'Save' }).click();
    await section.getByText('Laptop').waitFor();
    await section.getByRole('button', { name: 'Remove Laptop' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
    await section.getByRole('status').filter({ hasText: 'Passkey removed.' }).waitFor();
    await section.getByText('No passkeys yet.').waitFor();

    // The device still holds the key, but the service no longer knows it: the autofill's
    // answer is refused, and so is the button's.
    await page.getByRole('button', { name: 'Log out', exact: true }).click();
    const alert = login.getByRole('alert');
    await alert.filter({ hasText: 'not registered here' }).waitFor();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await alert.filter({ hasText: 'not registered here' }).waitFor();
    expect(await signedInAs(page, username).count()).toBe(0);
  });

  it('creates an account with a username and a passkey only, which no password opens, and signs in with the button', async () => {
    const phone = await device({ autofill: false });
    const { page } = phone;
    const username = uniqueName('pkonly');
    const form = formOf(page, 'Create an account');
    await form.getByLabel('Username').fill(username);
    await form.getByRole('button', { name: 'Create account with a passkey' }).click();
    await signedInAs(page, username).waitFor();
    const section = passkeys(page);
    await section.getByRole('form', { name: 'Add a password' }).waitFor();
    expect(await section.getByRole('listitem').count()).toBe(1);
    expect(await credentialsOf(phone)).toHaveLength(1);

    const refused = await api(server!.baseUrl, '/auth/login', { json: { username, password: PASSWORD } });
    expect(refused).toMatchObject({ status: 401, body: { code: 'invalid_credentials' } });

    await logOut(page);
    expect(await formOf(page, 'Log in').getByLabel('Username').inputValue()).toBe('');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await signedInAs(page, username).waitFor();
  });

  it('refuses an authenticator that does not verify its user, in the app and at the service', async () => {
    const careless = await device({ userVerification: false, autofill: false });
    const { page } = careless;
    const username = uniqueName('nouv');
    const form = formOf(page, 'Create an account');
    await form.getByLabel('Username').fill(username);
    await form.getByRole('button', { name: 'Create account with a passkey' }).click();
    // Chromium itself will not make a passkey without the verification the options require.
    await form.getByRole('alert').filter({ hasText: 'No passkey was made' }).waitFor();
    expect(await credentialsOf(careless)).toEqual([]);
    // No account was made: the name is still free.
    const free = await page.evaluate(
      async (name) =>
        (
          await fetch('/auth/passkeys/sign-up/options', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ username: name }),
          })
        ).status,
      username,
    );
    expect(free).toBe(200);

    // Asked without requiring verification, Chromium signs with this authenticator: the
    // service refuses the assertion, whose UV flag is not set.
    const owner = await device({ autofill: false });
    const ownerName = uniqueName('owner');
    await owner.page.getByRole('form', { name: 'Create an account' }).getByLabel('Username').fill(ownerName);
    await owner.page.getByRole('button', { name: 'Create account with a passkey' }).click();
    await signedInAs(owner.page, ownerName).waitFor();
    const [credential] = await credentialsOf(owner);
    await careless.cdp.send('WebAuthn.addCredential', {
      authenticatorId: careless.authenticatorId,
      credential: credential!,
    });
    // In front: browsers run WebAuthn for the focused page only. With the username, the options
    // name the credential, which Chromium protects (credProtect) from being found unverified
    // by a sign-in that names none.
    await page.bringToFront();
    const answer = await page.evaluate(async (username) => {
      const post = (path: string, body: unknown) =>
        fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      const options = await (await post('/auth/passkeys/sign-in/options', { username })).json();
      const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON({
        ...options,
        userVerification: 'discouraged',
      });
      const assertion = (await navigator.credentials.get({ publicKey })) as PublicKeyCredential;
      const res = await post('/auth/passkeys/sign-in/verify', { credential: assertion.toJSON() });
      return { status: res.status, body: await res.json() };
    }, ownerName);
    expect(answer).toMatchObject({ status: 401, body: { code: 'passkey_user_not_verified' } });
  });
  it('signs in on the OAuth provider’s hosted page with the button, and the ID token says how: hwk user', async () => {
    const phone = await device({ autofill: false });
    const { page } = phone;
    const username = uniqueName('pkoauth');
    const form = formOf(page, 'Create an account');
    await form.getByLabel('Username').fill(username);
    await form.getByRole('button', { name: 'Create account with a passkey' }).click();
    await signedInAs(page, username).waitFor();
    await logOut(page);

    // A public client registers itself, and sends the browser to the authorization endpoint.
    const callback = 'http://127.0.0.1:9/callback';
    const registered = await fetch(`${site()}/oauth/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        client_name: 'Passkey app',
        redirect_uris: [callback],
        token_endpoint_auth_method: 'none',
      }),
    });
    expect(registered.status).toBe(201);
    const { client_id } = (await registered.json()) as { client_id: string };
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const query = new URLSearchParams({
      response_type: 'code',
      client_id,
      redirect_uri: callback,
      scope: 'openid profile',
      state: 'pk-state',
      nonce: 'pk-nonce',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    let landed = '';
    await page.route(`${callback}**`, async (route) => {
      landed = route.request().url();
      await route.fulfill({ status: 200, contentType: 'text/plain', body: 'back at the client' });
    });
    await page.goto(`${site()}/oauth/authorize?${query}`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.getByLabel('Username').getAttribute('autocomplete')).toBe('username webauthn');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('heading', { name: 'Allow Passkey app access?' }).waitFor();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.getByText('back at the client').waitFor();
    const code = new URL(landed).searchParams.get('code')!;

    const token = await fetch(`${site()}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: callback,
        code_verifier: verifier,
        client_id,
      }),
    });
    const tokens = (await token.json()) as { id_token: string };
    expect(token.status, JSON.stringify(tokens)).toBe(200);
    const claims = JSON.parse(Buffer.from(tokens.id_token.split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ preferred_username: username, amr: ['hwk', 'user'], nonce: 'pk-nonce' });
  });
});
