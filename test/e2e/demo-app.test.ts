/**
 * The demo app (/) and the API reference (/docs) in real Chromium, against a real `wrangler dev`
 * (static assets, _headers, the Worker, a local D1). The tests act as a user would: they find
 * controls by role and accessible name, the contract screen readers rely on too. Each device is
 * a browser context of its own (its own cookie jar). The last part serves the same app from two
 * other origins, one listed in CORS_ORIGINS and one not.
 *
 * `npm run screenshot` runs this file with DEMO_SCREENSHOT set, which saves docs/demo.png.
 *
 * Run: npx vitest run test/e2e/demo-app.test.ts
 */
import type { Server as HttpServer } from 'node:http';
import path from 'node:path';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Locator, Page, Response } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { groupsOfFour } from '../../app/src/format';
import { qrModules } from '../../app/src/qr';
import { totp } from '../totp';
import { launchChromium, newContext, serveAppElsewhere, serviceAnswers, violations } from './browser';
import {
  ROOT,
  api,
  childEnv,
  rs256Key,
  run,
  startWranglerDev,
  uniqueName,
  useScratchDir,
  type Server,
} from './support';

const PASSWORD = 'a-long-and-unusual-passphrase';
const JWT_SECRET = `e2e-${crypto.randomUUID()}-${crypto.randomUUID()}`;
const COOKIE = '__Host-edge-auth-refresh';

const scratch = useScratchDir('demo');
let server: Server | undefined;
let browser: Browser | undefined;
const contexts: BrowserContext[] = [];
const base = () => server!.baseUrl;
/** The app served from two other origins (see the last describe): one in CORS_ORIGINS, one not. */
let listed = '';
let unlisted = '';
const elsewhere: HttpServer[] = [];

/** A new device: its own context (cookies, storage) and one page on the app. */
async function device(): Promise<Page> {
  const context = await newContext(browser!);
  context.setDefaultTimeout(15_000);
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(base());
  return page;
}

const signedInAs = (page: Page, username: string) => page.getByText(`Signed in as ${username}`);
const loginButton = (page: Page) => page.getByRole('button', { name: 'Log in', exact: true });

/** The signed-out view's two forms: Log in (button "Log in"), Create an account (button "Register"). */
const formOf = (page: Page, button: 'Register' | 'Log in') =>
  page.getByRole('form', { name: button === 'Register' ? 'Create an account' : 'Log in' });

/** Fills the form of `button` and presses it. */
async function submitCredentials(page: Page, button: 'Register' | 'Log in', username: string, password = PASSWORD) {
  const form = formOf(page, button);
  await form.getByLabel('Username').fill(username);
  await form.getByLabel('Password', { exact: true }).fill(password);
  await form.getByRole('button', { name: button, exact: true }).click();
}

/** Whether `locator`'s element has the keyboard focus. */
const focused = (locator: Locator) => locator.evaluate((element) => element === document.activeElement);

/** The vertical distance in CSS pixels between two elements' boxes (0 when they overlap). */
async function gap(a: Locator, b: Locator): Promise<number> {
  const [boxA, boxB] = [(await a.boundingBox())!, (await b.boundingBox())!];
  return Math.max(0, boxB.y - (boxA.y + boxA.height), boxA.y - (boxB.y + boxB.height));
}

/** What a page does when its window gets the focus back (the user returns to the tab). */
const refocus = (page: Page) => page.evaluate(() => window.dispatchEvent(new Event('focus')));

/** submitCredentials, then waits until the account is shown. */
async function signIn(page: Page, button: 'Register' | 'Log in', username: string, password = PASSWORD) {
  await submitCredentials(page, button, username, password);
  await signedInAs(page, username).waitFor();
}

/** Reloads, and waits until the silent restore has decided: signed in as `username`, or out. */
async function reload(page: Page, outcome: { signedInAs: string } | 'signed out') {
  await page.reload();
  if (outcome === 'signed out') await loginButton(page).waitFor();
  else await signedInAs(page, outcome.signedInAs).waitFor();
}

const status = (page: Page) => page.getByRole('status');

/** The response of the next `POST /auth/refresh` at the service. */
const nextRefresh = (page: Page): Promise<Response> =>
  page.waitForResponse((r) => r.url() === `${base()}/auth/refresh` && r.request().method() === 'POST');

/** Waits until the status region says something containing `text`. */
const statusSays = (page: Page, text: string) => status(page).filter({ hasText: text }).waitFor();

/** Makes `username` an admin, as an operator does (scripts/make-admin.mjs on the local D1). */
async function makeAdmin(username: string): Promise<void> {
  const promoted = await run(
    'node',
    [path.join(ROOT, 'scripts/make-admin.mjs'), username, '--local', '--persist-to', scratch()],
    { cwd: ROOT, env: childEnv(scratch()) },
  );
  expect(promoted.code, promoted.output).toBe(0);
}

// One `wrangler dev` and one browser for the whole file: starting them is most of its time.
beforeAll(async () => {
  // The CORS_ORIGINS the service starts with names the listed origin: serve the app first.
  const [listedApp, unlistedApp] = await Promise.all([
    serveAppElsewhere(() => server!.baseUrl),
    serveAppElsewhere(() => server!.baseUrl),
  ]);
  elsewhere.push(listedApp.server, unlistedApp.server);
  listed = listedApp.origin;
  unlisted = unlistedApp.origin;
  [server, browser] = await Promise.all([
    startWranglerDev(scratch(), {
      JWT_SECRET,
      // The OAuth endpoints sign with an RS256 key (the OAuth clients test uses them).
      JWT_PRIVATE_KEY: rs256Key(),
      DATA_ENCRYPTION_KEY: `e2e-${crypto.randomUUID()}-${crypto.randomUUID()}`,
      CORS_ORIGINS: listed,
      // Every registration here comes from 127.0.0.1: lift the per-address limit (20 an hour).
      REGISTER_IP_MAX: '1000',
      // The lowest cost the service accepts: these tests are about the browser, not hashing.
      PBKDF2_ITERATIONS: '10000',
    }),
    launchChromium(),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  for (const http of elsewhere) http.close();
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => console.error(`--- wrangler dev output ---\n${server?.output ?? ''}`));
});

afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close();
});

describe('the demo app in Chromium', () => {
  it('is served at / with its own CSP, while the API keeps its strict one and unknown paths stay 404 problem+json', async () => {
    const app = await fetch(`${base()}/`);
    expect(app.status).toBe(200);
    expect(app.headers.get('Content-Type')).toMatch(/^text\/html/);
    const appCsp = app.headers.get('Content-Security-Policy') ?? '';
    expect(appCsp).toContain("default-src 'self'");
    expect(appCsp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    expect(app.headers.get('X-Content-Type-Options')).toBe('nosniff');
    // No inline script: every <script> has a src.
    expect(await app.text()).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);

    // /docs allows data: images (Swagger UI's icons), and nothing else beyond 'self': no 'unsafe-'.
    const docs = await fetch(`${base()}/docs`);
    expect(docs.status).toBe(200);
    const docsCsp = docs.headers.get('Content-Security-Policy') ?? '';
    expect(docsCsp).toContain("default-src 'self'");
    expect(docsCsp).toContain("img-src 'self' data:");
    expect(docsCsp).not.toMatch(/unsafe-|https?:/);
    expect(await docs.text()).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);

    const document = await fetch(`${base()}/openapi.json`);
    expect(document.headers.get('Content-Security-Policy')).toBe("default-src 'none'; frame-ancestors 'none'");

    // `_headers` configures the assets; it is not one of them.
    for (const pathname of ['/nope', '/auth/nope', '/index.htm', '/docs/nope', '/_headers']) {
      const res = await fetch(`${base()}${pathname}`, { headers: { Accept: 'text/html' } });
      expect(res.status, pathname).toBe(404);
      expect(res.headers.get('Content-Type'), pathname).toBe('application/problem+json');
      expect((await res.json()).code, pathname).toBe('not_found');
    }
    // A browser navigating to a deep link gets the 404 too, not the app's index.html.
    const page = await device();
    const navigated = await page.goto(`${base()}/some/deep/link`);
    expect(navigated?.status()).toBe(404);
    expect(await navigated?.headerValue('content-type')).toBe('application/problem+json');
  });

  it('registers, stays signed in across a reload, calls the protected route, and keeps every token from page script', async () => {
    const page = await device();
    const accessTokens: string[] = [];
    const tokenResponses: { url: string; setCookie: string[]; refreshInBody: boolean; tokenType: string }[] = [];
    page.on('response', async (response) => {
      if (!/\/auth\/(login|refresh)$/.test(response.url()) || response.status() !== 200) return;
      const body = await response.json();
      accessTokens.push(body.access_token);
      tokenResponses.push({
        url: response.url(),
        setCookie: await response.headerValues('set-cookie'),
        refreshInBody: 'refresh_token' in body,
        tokenType: body.token_type,
      });
    });

    const username = uniqueName('demo');
    await signIn(page, 'Register', username);
    await page.getByText('Role: user').waitFor();

    await reload(page, { signedInAs: username });
    await page.getByRole('button', { name: 'Call the protected route' }).click();
    await statusSays(page, `Hello, ${username}!`);

    // A login and at least one refresh (the reload's silent restore), each with a fresh access
    // token, and the refresh token only ever in the cookie.
    expect(tokenResponses.map((r) => new URL(r.url).pathname)).toEqual(
      expect.arrayContaining(['/auth/login', '/auth/refresh']),
    );
    for (const response of tokenResponses) {
      expect(response.refreshInBody).toBe(false);
      // DPoP-bound, the reload's refresh too: the key survived it in IndexedDB.
      expect(response.tokenType).toBe('DPoP');
      const cookie = response.setCookie.find((line) => line.startsWith(`${COOKIE}=`));
      expect(cookie, response.setCookie.join('\n')).toBeDefined();
      expect(cookie).toMatch(/;\s*HttpOnly/i);
      expect(cookie).toMatch(/;\s*Secure/i);
      expect(cookie).toMatch(/;\s*SameSite=Strict/i);
      expect(cookie).toMatch(/;\s*Path=\/(;|$)/i);
      expect(cookie).not.toMatch(/;\s*Domain=/i);
    }
    const [cookie, ...others] = await page.context().cookies(base());
    expect(others).toEqual([]);
    expect(cookie).toMatchObject({
      name: COOKIE,
      domain: '127.0.0.1',
      path: '/',
      httpOnly: true,
      secure: true,
      sameSite: 'Strict',
    });

    // What page script can see: no cookie, nothing stored, no token anywhere.
    const visible = await page.evaluate(() => ({
      cookie: document.cookie,
      local: JSON.stringify({ ...localStorage }),
      session: JSON.stringify({ ...sessionStorage }),
    }));
    expect(visible).toEqual({ cookie: '', local: '{}', session: '{}' });
    expect(accessTokens.length).toBeGreaterThanOrEqual(2);
    for (const token of [...accessTokens, cookie!.value]) {
      expect(JSON.stringify(visible)).not.toContain(token);
    }
    // And a token that did leak would be useless without the browser's key.
    expect((await api(base(), '/auth/me', { token: accessTokens.at(-1)! })).status).toBe(401);
    expect(await violations(page)).toEqual([]);
  });

  it('shows the problem detail in an alert for a wrong password, and field errors next to their field', async () => {
    const page = await device();
    const username = uniqueName('wrong');
    const created = await api(base(), '/auth/register', { json: { username, password: PASSWORD } });
    expect(created.status).toBe(201);

    await submitCredentials(page, 'Log in', username, 'not-the-password');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toBe('The username or password is incorrect.');
    expect(await signedInAs(page, username).count()).toBe(0);

    // Register is a form of its own: a password manager offers a new password there.
    const login = formOf(page, 'Log in');
    const register = formOf(page, 'Register');
    expect(await login.getByLabel('Password', { exact: true }).getAttribute('autocomplete')).toBe('current-password');
    const password = register.getByLabel('Password', { exact: true });
    const name = register.getByLabel('Username');
    expect(await password.getAttribute('autocomplete')).toBe('new-password');

    // Every field's error at once, in the service's words, each next to its field (described
    // by it, marked invalid), and focus on the first.
    await name.fill('a b');
    await password.fill('x');
    await register.getByRole('button', { name: 'Register', exact: true }).click();
    await register.getByRole('alert').filter({ hasText: 'The request is invalid.' }).waitFor();
    const errors: string[] = [];
    for (const input of [name, password]) {
      expect(await input.getAttribute('aria-invalid')).toBe('true');
      const error = page.locator(`#${await input.getAttribute('aria-describedby')}`);
      errors.push((await error.textContent()) ?? '');
      expect(await gap(input, error)).toBeLessThan(20);
    }
    expect(errors).toEqual([
      "Username must be 3 to 32 characters: letters, digits, '_', '.' or '-'.",
      expect.stringMatching(/^Password must be \d+ to \d+ characters\.$/),
    ]);
    expect(await focused(name)).toBe(true);

    // Too short: only the password's error, next to it, and focus there. Enter registers.
    await name.fill(uniqueName('short'));
    await password.fill('short');
    await password.press('Enter');
    await register.getByRole('alert').filter({ hasText: 'The request is invalid.' }).waitFor();
    expect(await password.getAttribute('aria-invalid')).toBe('true');
    const describedBy = await password.getAttribute('aria-describedby');
    expect(await page.locator(`#${describedBy}`).textContent()).toMatch(/\d+ to \d+ characters/);
    expect(await name.getAttribute('aria-invalid')).toBeNull();
    expect(await focused(password)).toBe(true);
    await password.fill(PASSWORD);
    await password.press('Enter');
    await page.getByText('Account created; you are signed in.').waitFor();
    await page.getByText('Role: user').waitFor();
  });

  it('lists the sessions by device, refreshes them when the page regains focus, and signs out a revoked device', async () => {
    const username = uniqueName('devices');
    const laptop = await device();
    await signIn(laptop, 'Register', username);
    const sessionsRegion = laptop.getByRole('region', { name: 'Sessions' });
    const sessions = laptop.getByRole('list', { name: 'Sessions' }).getByRole('listitem');
    await sessions.first().waitFor();
    expect(await sessions.count()).toBe(1);

    const phone = await device();
    await signIn(phone, 'Log in', username);
    // Back on the laptop, without a reload: the list is read again when the page regains focus.
    await refocus(laptop);
    await sessions.nth(1).waitFor();
    expect(await sessions.count()).toBe(2);
    // A readable name for each device (both are headless Chromium on Linux here), not its User-Agent.
    const texts = (await sessions.allTextContents()).sort();
    expect(texts).toEqual([
      expect.stringMatching(/^Chrome on Linux \(this device\)Signed in /),
      expect.stringMatching(/^Chrome on LinuxSigned in .*Revoke$/),
    ]);
    const current = sessions.filter({ hasText: '(this device)' });
    expect(await current.getByRole('button').count()).toBe(0);

    await laptop.getByRole('button', { name: 'Revoke Chrome on Linux', exact: true }).click();
    // The outcome shows in the Sessions section, where the button was, and takes the focus.
    const revoked = sessionsRegion
      .getByRole('status')
      .filter({ hasText: 'Session revoked: Chrome on Linux is signed out.' });
    await revoked.waitFor();
    expect(await focused(revoked)).toBe(true);
    expect(await sessions.count()).toBe(1);

    // The phone learns when its user comes back to it: told so, and back at the sign-in form.
    await refocus(phone);
    await statusSays(phone, 'This device was signed out.');
    const phoneName = formOf(phone, 'Log in').getByLabel('Username');
    expect(await focused(phoneName)).toBe(true);
    expect(await phone.getByText('The access token has been revoked').count()).toBe(0);
    await reload(phone, 'signed out');
    await reload(laptop, { signedInAs: username });
  });

  it('changes the password: the old one stops working, the new one works', async () => {
    const username = uniqueName('password');
    const page = await device();
    await signIn(page, 'Register', username);

    const newPassword = 'an-even-longer-and-newer-passphrase';
    // The two-factor form asks for the current password too: this is the password form's field.
    await page.getByRole('form', { name: 'Password' }).getByLabel('Current password').fill(PASSWORD);
    await page.getByLabel('New password').fill(newPassword);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page
      .getByRole('form', { name: 'Password' })
      .getByRole('status')
      .filter({ hasText: 'Password changed' })
      .waitFor();
    // Every access token was revoked: the next call refreshes (the client's retry) and works.
    await page.getByRole('button', { name: 'Call the protected route' }).click();
    await statusSays(page, `Hello, ${username}!`);

    await page.getByRole('button', { name: 'Log out', exact: true }).click();
    await loginButton(page).waitFor();
    await submitCredentials(page, 'Log in', username, PASSWORD);
    await page.getByRole('alert').filter({ hasText: 'The username or password is incorrect.' }).waitFor();
    await signIn(page, 'Log in', username, newPassword);
  });

  it('logs out and stays logged out after a reload; "Log out everywhere" signs out the other device too', async () => {
    const username = uniqueName('logout');
    const page = await device();
    await signIn(page, 'Register', username);
    await page.getByRole('button', { name: 'Log out', exact: true }).click();
    await loginButton(page).waitFor();
    await statusSays(page, 'You are signed out.');
    await reload(page, 'signed out');
    expect(await page.context().cookies(base())).toEqual([]);

    await signIn(page, 'Log in', username);
    const other = await device();
    await signIn(other, 'Log in', username);
    await page.getByRole('button', { name: 'Log out everywhere' }).click();
    await loginButton(page).waitFor();
    // The other device learns at its next call: its access token is void and cannot be renewed.
    await other.getByRole('button', { name: 'Call the protected route' }).click();
    await loginButton(other).waitFor();
    await statusSays(other, 'This device was signed out.');
    await reload(other, 'signed out');
  });

  it('makes an API key with the current password, shows its secret once, lists it and revokes it', async () => {
    const username = uniqueName('keys');
    const page = await device();
    await signIn(page, 'Register', username);
    const section = page.getByRole('region', { name: 'API keys' });
    const keys = section.getByRole('list', { name: 'API keys' }).getByRole('listitem');
    await keys.filter({ hasText: 'No API keys yet.' }).waitFor();

    const form = section.getByRole('form', { name: 'Create an API key' });
    await form.getByLabel('Name').fill('Nightly export');
    expect(await form.getByLabel('Scope').inputValue()).toBe('api');
    await form.getByLabel('Expires').selectOption({ label: 'Never' });
    await form.getByLabel('Current password').fill('not-the-password');
    await form.getByRole('button', { name: 'Create API key' }).click();
    await form.getByRole('alert').filter({ hasText: 'The current password is incorrect.' }).waitFor();
    await form.getByLabel('Current password').fill(PASSWORD);
    await form.getByRole('button', { name: 'Create API key' }).click();

    // The secret, once, beside the client ID; the list shows the key without it.
    const note = section.getByRole('note', { name: 'The new API key Nightly export' });
    await note.waitFor();
    const [clientId, secret] = await note.locator('code').allTextContents();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await keys.filter({ hasText: 'Nightly export (api)' }).waitFor();
    expect(await keys.allTextContents()).toEqual([expect.stringMatching(/not used yet, does not expire.*Revoke$/)]);
    expect(await violations(page)).toEqual([]);

    // Never shown again: after a reload only the key's name and details are there.
    await reload(page, { signedInAs: username });
    await keys.filter({ hasText: 'Nightly export (api)' }).waitFor();
    expect(await page.getByText(secret!).count()).toBe(0);
    expect(await page.getByText(clientId!).count()).toBe(0);

    // Revoke, confirmed first.
    await section.getByRole('button', { name: 'Revoke Nightly export' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await section.getByRole('status').filter({ hasText: 'API key “Nightly export” revoked.' }).waitFor();
    await keys.filter({ hasText: 'No API keys yet.' }).waitFor();
  });

  it('sets up two-factor sign-in from the QR code, signs out, and signs in again with a code', async () => {
    const page = await device();
    const username = uniqueName('demo_2fa');
    await signIn(page, 'Register', username);

    // Setting up a second factor needs the current password, not only the signed-in session.
    const twoFactor = page.getByRole('region', { name: 'Two-factor authentication' });
    await twoFactor.getByLabel('Current password').fill('not-the-password');
    await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
    await twoFactor.getByRole('alert').filter({ hasText: 'The current password is incorrect.' }).waitFor();
    await twoFactor.getByLabel('Current password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
    const qr = page.getByRole('img', { name: 'QR code for your authenticator app' });
    await qr.waitFor();
    // The next thing to do is to type the app's code: focus is there.
    expect(await focused(page.getByLabel('Code', { exact: true }))).toBe(true);
    const uri = (await page.getByText(/^otpauth:\/\/totp\//).textContent()) ?? '';
    expect(uri.startsWith(`otpauth://totp/edge-auth:${username}?`), uri).toBe(true);
    const secret = new URLSearchParams(uri.slice(uri.indexOf('?'))).get('secret') ?? '';
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    // In groups of four, to be typed into an app by hand.
    expect(await page.getByText(`Secret: ${groupsOfFour(secret)}`).count()).toBe(1);
    expect(groupsOfFour(secret)).toMatch(/^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$/);
    // The QR code shown is that URI's: the modules qrcode-generator makes for it.
    expect(await qr.locator('path').getAttribute('d')).toBe(qrModules(uri).d);

    await page.getByLabel('Code', { exact: true }).fill(await totp(secret));
    await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
    await statusSays(page, 'Two-factor authentication is on');
    const recoveryCodes = page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem');
    expect(await recoveryCodes.count()).toBe(10);
    const recoveryCode = (await recoveryCodes.first().textContent()) ?? '';

    await page.getByRole('button', { name: 'Log out', exact: true }).click();
    await loginButton(page).waitFor();
    await submitCredentials(page, 'Log in', username);
    const code = page.getByLabel('Code', { exact: true });
    await code.waitFor();
    // The second step takes the focus from the password step it replaced.
    expect(await focused(code)).toBe(true);
    // The right password alone signed nobody in: no refresh cookie yet.
    expect((await page.context().cookies()).some((c) => c.name === COOKIE)).toBe(false);

    const wrong = String((Number(await totp(secret)) + 500_000) % 1_000_000).padStart(6, '0');
    await code.fill(wrong);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'two-factor code is wrong' }).waitFor();
    // The confirming code's step is spent; the next step's code is inside the drift window.
    await code.fill(await totp(secret, Date.now(), 1));
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await signedInAs(page, username).waitFor();
    expect((await page.context().cookies()).some((c) => c.name === COOKIE)).toBe(true);
    await reload(page, { signedInAs: username });

    // Turning it off takes a code and the current password.
    await page.getByLabel('Code or recovery code').fill(recoveryCode);
    await twoFactor.getByLabel('Current password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Turn off two-factor authentication' }).click();
    await statusSays(page, 'Two-factor authentication is off');
    await page.getByRole('button', { name: 'Set up two-factor authentication' }).waitFor();
  });

  it('lets an admin sort, search and page through the users, change a role and delete a user, each confirmed first, on a 375 px screen', async () => {
    const adminName = uniqueName('admin');
    const page = await device();
    await signIn(page, 'Register', adminName);
    expect(await page.getByRole('heading', { name: 'Users' }).count()).toBe(0);

    await makeAdmin(adminName);
    // The next refresh (here: a reload) carries the new role; the view follows it.
    await reload(page, { signedInAs: adminName });
    await page.getByText('Role: admin').waitFor();
    await page.getByRole('table', { name: 'Users' }).getByRole('row').nth(1).waitFor();
    await page.getByRole('button', { name: 'Call the protected route' }).click();
    // The answer appears in the account section, beside the button.
    const account = page.getByRole('region', { name: 'Your account' });
    await account
      .getByRole('status')
      .filter({ hasText: `Hello, ${adminName}!` })
      .waitFor();
    if (process.env.DEMO_SCREENSHOT) {
      await page.setViewportSize({ width: 1000, height: 800 });
      await page.screenshot({ path: path.resolve(ROOT, process.env.DEMO_SCREENSHOT), fullPage: true });
    }

    const target = uniqueName('target');
    const doomed = uniqueName('doomed');
    // The longest name there can be, without a place to break it.
    const long = uniqueName('long').padEnd(32, 'x');
    // Enough users for more than one page of 10, whatever the other tests left.
    const extra = Array.from({ length: 10 }, (_, i) => uniqueName(`filler${i}`));
    for (const username of [target, doomed, long, ...extra]) {
      const registered = await api(base(), '/auth/register', { json: { username, password: PASSWORD } });
      expect(registered.status, username).toBe(201);
    }
    const adminToken = (await api(base(), '/auth/login', { json: { username: adminName, password: PASSWORD } })).body
      .access_token;
    const everyone: { username: string; created_at: string }[] = (
      await api(base(), '/admin/users?limit=100', { token: adminToken })
    ).body.users;
    expect(everyone.length).toBeLessThan(100);

    await page.setViewportSize({ width: 375, height: 800 });
    await reload(page, { signedInAs: adminName });
    const table = page.getByRole('table', { name: 'Users' });
    const rows = table.getByRole('row');
    const usernames = () => table.locator('td.user .username').allTextContents();
    const next = page.getByRole('button', { name: 'Next page' });
    const previous = page.getByRole('button', { name: 'Previous page' });
    const search = page.getByRole('searchbox', { name: 'Search users' });
    const sort = page.getByLabel('Sort by');
    await rows.nth(10).waitFor();

    // Nothing wider than the screen, the table included.
    const widths = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      table: document.querySelector('table')!.getBoundingClientRect().right,
      viewport: window.innerWidth,
    }));
    expect(widths.page).toBeLessThanOrEqual(widths.viewport);
    expect(widths.table).toBeLessThanOrEqual(widths.viewport);

    // Newest first, then oldest first, then by username; ten to a page.
    const byCreated = [...everyone].sort((a, b) => b.created_at.localeCompare(a.created_at));
    expect(await usernames()).toEqual(byCreated.slice(0, 10).map((u) => u.username));
    await sort.selectOption({ label: 'Oldest first' });
    expect(await usernames()).toEqual(
      [...everyone]
        .sort((a, b) => a.created_at.localeCompare(b.created_at))
        .slice(0, 10)
        .map((u) => u.username),
    );
    await sort.selectOption({ label: 'Username (A to Z)' });
    const byName = everyone
      .map((u) => u.username)
      .sort((a, b) => a.localeCompare(b, 'en', { sensitivity: 'base', numeric: true }));
    expect(await usernames()).toEqual(byName.slice(0, 10));
    expect(await previous.isDisabled()).toBe(true);
    await next.click();
    expect(await usernames()).toEqual(byName.slice(10, 20));
    await previous.click();
    expect(await usernames()).toEqual(byName.slice(0, 10));

    // The search box: the users whose name contains what is typed.
    await search.fill(long.slice(0, 12).toUpperCase());
    expect(await usernames()).toEqual([long]);
    expect(await page.getByText(`1 user of ${everyone.length} match`).count()).toBe(1);
    // Still fits, with the longest name shown.
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);

    // A role change asks first: Cancel changes nothing...
    await search.fill(target);
    expect(await usernames()).toEqual([target]);
    const role = page.getByLabel(`Role of ${target}`);
    await role.selectOption('admin');
    const dialog = page.getByRole('dialog', {
      name: `Make ${target} an admin? Admins can change roles and delete users.`,
    });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect(await role.inputValue()).toBe('user');
    expect(await focused(role)).toBe(true);
    const before = await api(base(), '/auth/login', { json: { username: target, password: PASSWORD } });
    expect(before.body.user.role).toBe('user');
    // ...and confirming applies it, with the outcome in the user's row, beside the control.
    await role.selectOption('admin');
    await dialog.getByRole('button', { name: 'Make admin' }).click();
    const row = rows.filter({ hasText: target });
    const done = row.getByRole('status').filter({ hasText: `${target} is now admin.` });
    await done.waitFor();
    expect(await gap(role, done)).toBeLessThan(100);
    expect(await role.inputValue()).toBe('admin');
    const after = await api(base(), '/auth/login', { json: { username: target, password: PASSWORD } });
    expect(after.body.user.role).toBe('admin');

    // Deleting asks first too, starting on Cancel.
    await search.fill(doomed);
    await page.getByRole('button', { name: `Delete ${doomed}` }).click();
    const deleting = page.getByRole('dialog', { name: `Delete ${doomed}? Their sessions end at once.` });
    expect(await focused(deleting.getByRole('button', { name: 'Cancel' }))).toBe(true);
    await deleting.getByRole('button', { name: 'Delete', exact: true }).click();
    const deleted = rows
      .filter({ hasText: doomed })
      .getByRole('status')
      .filter({ hasText: `${doomed} was deleted.` });
    await deleted.waitFor();
    expect(await focused(deleted)).toBe(true);
    const doomedLogin = await api(base(), '/auth/login', { json: { username: doomed, password: PASSWORD } });
    expect(doomedLogin.status).toBe(401);
    expect(await violations(page)).toEqual([]);
  });

  it('registers a machine and a device client, the form’s fields following the kind; a third party then uses each', async () => {
    const adminName = uniqueName('clients');
    expect((await api(base(), '/auth/register', { json: { username: adminName, password: PASSWORD } })).status).toBe(
      201,
    );
    await makeAdmin(adminName);
    const page = await device();
    await page.setViewportSize({ width: 375, height: 800 });
    await signIn(page, 'Log in', adminName);
    const section = page.getByRole('region', { name: 'OAuth clients' });
    const form = section.getByRole('form', { name: 'Register a client' });
    const kind = form.getByLabel('Kind');
    const redirectUris = form.getByLabel('Redirect URIs (one per line)');
    const clientType = form.getByLabel('Client type');
    const scope = form.getByLabel('Scope');
    const register = form.getByRole('button', { name: 'Register client' });
    const alert = form.getByRole('alert');
    const note = section.getByRole('note');
    const clients = section.getByRole('listitem');
    expect(await redirectUris.isVisible()).toBe(true);

    // A machine: no redirect URIs, no client type (always confidential), the scopes of the APIs,
    // the ones the service accepts read from its discovery document.
    await kind.selectOption({ label: 'Machine: a service acting as itself (client credentials)' });
    await form.getByText('This service accepts: api, admin.').waitFor();
    expect(await redirectUris.isVisible()).toBe(false);
    expect(await clientType.isVisible()).toBe(false);
    expect(await scope.inputValue()).toBe('api');
    await form.getByLabel('Client name').fill('Nightly job');
    // The service's refusals, in its words: no scope of an API, then an unknown scope.
    await scope.fill('');
    await register.click();
    await alert.filter({ hasText: 'client_credentials needs one of the scopes api admin.' }).waitFor();
    await scope.fill('api payroll');
    await register.click();
    await alert.filter({ hasText: 'Unknown scope: payroll.' }).waitFor();
    await scope.fill('api');
    await register.click();
    await note.filter({ hasText: 'Registered Nightly job.' }).waitFor();
    const [machineId, secret] = await note.locator('code').allTextContents();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await alert.isVisible()).toBe(false);
    await clients.filter({ hasText: 'Nightly job (machine, confidential)' }).waitFor();

    // A device or CLI, public: no redirect URIs, no scope, no secret.
    await kind.selectOption({ label: 'Device or CLI: users sign in on another screen (device code)' });
    expect(await redirectUris.isVisible()).toBe(false);
    expect(await scope.isVisible()).toBe(false);
    await form.getByLabel('Client name').fill('TV app');
    await clientType.selectOption({ label: 'Public (an SPA, a native app or a CLI: no secret)' });
    await register.click();
    await note.filter({ hasText: 'Registered TV app.' }).waitFor();
    const codes = await note.locator('code').allTextContents();
    expect(codes).toHaveLength(1);
    const deviceId = codes[0]!;
    await clients.filter({ hasText: 'TV app (device or CLI, public)' }).waitFor();
    // The machine's secret was shown once: it is gone from the page.
    expect(await page.getByText(secret!).count()).toBe(0);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    expect(await violations(page)).toEqual([]);

    // A third party (openid-client) uses each: the machine gets a token acting as itself...
    const insecure = { execute: [oidc.allowInsecureRequests] };
    const machine = await oidc.discovery(new URL(base()), machineId!, secret, oidc.ClientSecretBasic(secret), insecure);
    const tokens = await oidc.clientCredentialsGrant(machine, { scope: 'api' });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ sub: machineId, client_id: machineId, scope: 'api' });
    // ...and the device starts a device authorization and gets a code for its user to type.
    const tv = await oidc.discovery(new URL(base()), deviceId, undefined, oidc.None(), insecure);
    const started = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid profile' });
    expect(started.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
  });

  it('serves the API reference at /docs from /openapi.json: no console error, no other host, plain summaries, working requests', async () => {
    const context = await newContext(browser!);
    contexts.push(context);
    const requested: string[] = [];
    context.on('request', (request) => requested.push(request.url()));
    const page = await context.newPage();
    // Errors and warnings of the page, CSP refusals included (Chromium logs those as errors).
    const logged: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') logged.push(message.text());
    });
    page.on('pageerror', (error) => logged.push(error.message));
    await page.goto(`${base()}/docs`);

    const document = (await api(base(), '/openapi.json')).body;
    const summaries = Object.values(document.paths as Record<string, Record<string, { summary: string }>>).flatMap(
      (operations) => Object.values(operations).map((operation) => operation.summary),
    );
    expect(summaries.length).toBeGreaterThan(10);
    for (const summary of summaries) await page.getByText(summary, { exact: true }).first().waitFor();
    // Summaries are plain text (OpenAPI renders only descriptions as markdown): no literal `code`.
    const shown = await page.locator('.opblock-summary-description').allInnerTexts();
    expect(shown).toHaveLength(summaries.length);
    expect(shown.filter((text) => text.includes('`'))).toEqual([]);

    // "Try it out" sends the request to this service, at the path the document names.
    const health = page.locator('#operations-meta-getHealth');
    await health.getByRole('button', { name: /^GET\s*\/health/ }).click();
    await health.getByRole('button', { name: 'Try it out' }).click();
    await health.getByRole('button', { name: 'Execute' }).click();
    await expect.poll(() => health.locator('.request-url pre').innerText()).toBe(`${base()}/health`);
    await expect.poll(() => health.locator('.live-responses-table tbody .response-col_status').innerText()).toBe('200');

    expect(requested.length).toBeGreaterThan(0);
    expect(requested.filter((url) => new URL(url).origin !== base())).toEqual([]);
    expect(requested).toContain(`${base()}/openapi.json`);
    expect(requested).toContain(`${base()}/health`);
    // Nothing was refused by the CSP (no eval, no inline code, nothing elsewhere), and nothing logged.
    expect(await violations(page)).toEqual([]);
    expect(logged).toEqual([]);
  });
});

/**
 * The same app served from other origins than the service, as an SPA on app.example.com calling
 * auth.example.com would be: http://127.0.0.1:B (listed in CORS_ORIGINS) and :C (not) call the
 * Worker on http://127.0.0.1:A. Different origins but the same site, so Chromium sends the
 * SameSite=Strict cookie along, and CORS_ORIGINS and the service's Origin check decide.
 */
describe('the demo app on another origin than the service', () => {
  /** One browser profile: the listed origin's session, then the unlisted origin's attempts on it. */
  let context: BrowserContext;
  const username = uniqueName('xorigin');
  const signedIn = (page: Page) => page.getByText(`Signed in as ${username}`);

  it('signs in from a listed origin, and refreshes through the cookie with credentials: include', async () => {
    context = await newContext(browser!);
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    await page.goto(listed);
    await submitCredentials(page, 'Register', username);
    await signedIn(page).waitFor();
    // The cookie belongs to the service's host, though the page is on another origin.
    expect((await context.cookies(base())).map((c) => c.name)).toEqual(['__Host-edge-auth-refresh']);

    const refreshed = nextRefresh(page);
    await page.reload();
    const refresh = await refreshed;
    expect(refresh.status()).toBe(200);
    expect(await refresh.request().headerValue('origin')).toBe(listed);
    expect(await refresh.headerValue('access-control-allow-origin')).toBe(listed);
    expect(await refresh.headerValue('access-control-allow-credentials')).toBe('true');
    await signedIn(page).waitFor();

    await page.getByRole('button', { name: 'Call the protected route' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Hello, ${username}!` })
      .waitFor();
  });

  it('from an unlisted origin: the browser blocks every call, and the cookie refresh is 403 csrf_rejected', async () => {
    expect(context, 'the listed-origin test did not run').toBeDefined();
    const page = await context.newPage();
    const refreshes = await serviceAnswers(page, `${base()}/auth/refresh`);
    await page.goto(unlisted);
    await page.getByRole('alert').filter({ hasText: 'Your session could not be restored' }).waitFor();
    expect(await signedIn(page).count()).toBe(0);
    // The app's refresh carries a DPoP proof, a header that needs a CORS preflight: unapproved,
    // the browser never sends the refresh itself.
    expect(refreshes.map((answer) => answer.method)).toEqual(['OPTIONS']);
    expect(refreshes[0]!.responseHeaders['access-control-allow-origin']).toBeUndefined();

    // A plain request needs no preflight. Same profile, so the same cookie: it is sent (same
    // site), and the Origin check refuses it; page script there cannot read the answer.
    const outcome = await page.evaluate(async (url) => {
      try {
        await fetch(`${url}/auth/refresh`, { method: 'POST', credentials: 'include' });
        return 'read the response';
      } catch (err) {
        return (err as Error).name;
      }
    }, base());
    expect(outcome).toBe('TypeError');
    const plain = refreshes.find((answer) => answer.method === 'POST');
    expect(plain?.requestHeaders).toMatchObject({
      Origin: unlisted,
      Cookie: expect.stringMatching(/^__Host-edge-auth-refresh=/),
    });
    expect(plain?.status).toBe(403);
    expect(plain?.body.code).toBe('csrf_rejected');
    expect(plain?.responseHeaders['access-control-allow-origin']).toBeUndefined();

    // ...and a login never leaves the browser: its CORS preflight gets no approval.
    const logins = await serviceAnswers(page, `${base()}/auth/login`);
    await submitCredentials(page, 'Log in', username);
    await page.getByRole('alert').filter({ hasText: 'The service could not be reached' }).waitFor();
    expect(logins.filter((answer) => answer.method === 'POST')).toEqual([]);

    // Refused, not rotated: the session of the listed origin goes on.
    const listedPage = await context.newPage();
    await listedPage.goto(listed);
    await signedIn(listedPage).waitFor();
    await context.close();
  });
});
