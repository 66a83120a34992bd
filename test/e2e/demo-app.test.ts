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
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { qrModules } from '../../app/src/qr';
import { totp } from '../totp';
import { launchChromium, newContext, serveAppElsewhere, serviceAnswers, violations } from './browser';
import { ROOT, api, childEnv, run, startWranglerDev, uniqueName, useScratchDir, type Server } from './support';

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

/** Fills the signed-out form and presses `button`. */
async function submitCredentials(page: Page, button: 'Register' | 'Log in', username: string, password = PASSWORD) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: button, exact: true }).click();
}

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

    // /docs allows inline styles (Scalar sets them at run time), and nothing else beyond 'self'.
    const docs = await fetch(`${base()}/docs`);
    expect(docs.status).toBe(200);
    const docsCsp = docs.headers.get('Content-Security-Policy') ?? '';
    expect(docsCsp).toContain("style-src 'self' 'unsafe-inline'");
    expect(docsCsp.replace("style-src 'self' 'unsafe-inline'", '')).not.toMatch(/unsafe-|https?:/);
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
    const tokenResponses: { url: string; setCookie: string[]; refreshInBody: boolean }[] = [];
    page.on('response', async (response) => {
      if (!/\/auth\/(login|refresh)$/.test(response.url()) || response.status() !== 200) return;
      const body = await response.json();
      accessTokens.push(body.access_token);
      tokenResponses.push({
        url: response.url(),
        setCookie: await response.headerValues('set-cookie'),
        refreshInBody: 'refresh_token' in body,
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

    // Too short: the service's `errors` entry for `password` appears next to the Password field.
    await submitCredentials(page, 'Register', uniqueName('short'), 'short');
    await alert.filter({ hasText: 'The request is invalid.' }).waitFor();
    const password = page.getByLabel('Password', { exact: true });
    expect(await password.getAttribute('aria-invalid')).toBe('true');
    const describedBy = await password.getAttribute('aria-describedby');
    expect(await page.locator(`#${describedBy}`).textContent()).toMatch(/must be \d+ to \d+ characters/);
    expect(await page.getByLabel('Username').getAttribute('aria-invalid')).toBeNull();
  });

  it('lists the sessions of two devices, revokes the other one, which is signed out on reload', async () => {
    const username = uniqueName('devices');
    const laptop = await device();
    await signIn(laptop, 'Register', username);
    const phone = await device();
    await signIn(phone, 'Log in', username);

    await reload(laptop, { signedInAs: username });
    const sessions = laptop.getByRole('list', { name: 'Sessions' }).getByRole('listitem');
    await sessions.nth(1).waitFor();
    expect(await sessions.count()).toBe(2);
    const current = sessions.filter({ hasText: 'This device (current session)' });
    expect(await current.count()).toBe(1);
    expect(await current.getByRole('button', { name: 'Revoke' }).count()).toBe(0);

    await laptop.getByRole('button', { name: 'Revoke', exact: true }).click();
    await statusSays(laptop, 'Session revoked');
    await laptop.getByRole('button', { name: 'Revoke', exact: true }).waitFor({ state: 'detached' });
    expect(await sessions.count()).toBe(1);

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
    await statusSays(page, 'Password changed');
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
    await reload(other, 'signed out');
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
    const uri = (await page.getByText(/^otpauth:\/\/totp\//).textContent()) ?? '';
    expect(uri.startsWith(`otpauth://totp/edge-auth:${username}?`), uri).toBe(true);
    const secret = new URLSearchParams(uri.slice(uri.indexOf('?'))).get('secret') ?? '';
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(await page.getByText(`Secret: ${secret}`).count()).toBe(1);
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

  it('lets an admin page through the users, change a role, and delete a user', async () => {
    const adminName = uniqueName('admin');
    const page = await device();
    await signIn(page, 'Register', adminName);
    expect(await page.getByRole('heading', { name: 'Users' }).count()).toBe(0);

    const promoted = await run(
      'node',
      [path.join(ROOT, 'scripts/make-admin.mjs'), adminName, '--local', '--persist-to', scratch()],
      {
        cwd: ROOT,
        env: childEnv(scratch()),
      },
    );
    expect(promoted.code, promoted.output).toBe(0);
    // The next refresh (here: a reload) carries the new role; the view follows it.
    await reload(page, { signedInAs: adminName });
    await page.getByText('Role: admin').waitFor();
    await page.getByRole('table', { name: 'Users' }).getByRole('row').nth(1).waitFor();
    await page.getByRole('button', { name: 'Call the protected route' }).click();
    await statusSays(page, `Hello, ${adminName}!`);
    if (process.env.DEMO_SCREENSHOT) {
      await page.setViewportSize({ width: 1000, height: 800 });
      await page.screenshot({ path: path.resolve(ROOT, process.env.DEMO_SCREENSHOT), fullPage: true });
    }

    const target = uniqueName('target');
    const doomed = uniqueName('doomed');
    // Enough users for more than one page of 10, whatever the other tests left.
    const extra = Array.from({ length: 10 }, (_, i) => uniqueName(`filler${i}`));
    const registered = await Promise.all(
      [target, doomed, ...extra].map((username) =>
        api(base(), '/auth/register', { json: { username, password: PASSWORD } }),
      ),
    );
    expect(registered.map((r) => r.status)).toEqual(registered.map(() => 201));
    await reload(page, { signedInAs: adminName });
    const table = page.getByRole('table', { name: 'Users' });
    const rows = table.getByRole('row');
    const next = page.getByRole('button', { name: 'Next page' });
    const previous = page.getByRole('button', { name: 'Previous page' });
    const shown = async () => (await rows.allTextContents()).slice(1); // Without the header row.

    await rows.nth(10).waitFor();
    const first = await shown();
    expect(first).toHaveLength(10);
    expect(await previous.isDisabled()).toBe(true);
    await next.click();
    await rows.nth(1).filter({ hasNotText: first[0]! }).waitFor();
    const second = await shown();
    expect(second.length).toBeGreaterThan(0);
    expect(second.filter((row) => first.includes(row))).toEqual([]);
    await previous.click();
    await rows.nth(1).filter({ hasText: first[0]! }).waitFor();
    expect(await shown()).toEqual(first);

    /** Pages forward from the first page until `username` is in the table. */
    async function showUser(username: string) {
      await reload(page, { signedInAs: adminName });
      await rows.nth(1).waitFor();
      while ((await table.getByRole('cell', { name: username, exact: true }).count()) === 0) {
        expect(await next.isEnabled(), `${username} is on no page`).toBe(true);
        const before = (await rows.nth(1).textContent())!;
        await next.click();
        await rows.nth(1).filter({ hasNotText: before }).waitFor();
      }
    }

    await showUser(target);
    await page.getByLabel(`Role of ${target}`).selectOption('admin');
    await statusSays(page, `${target} is now admin.`);
    const targetLogin = await api(base(), '/auth/login', { json: { username: target, password: PASSWORD } });
    expect(targetLogin.body.user.role).toBe('admin');

    await showUser(doomed);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: `Delete ${doomed}` }).click();
    await statusSays(page, `${doomed} was deleted.`);
    const doomedLogin = await api(base(), '/auth/login', { json: { username: doomed, password: PASSWORD } });
    expect(doomedLogin.status).toBe(401);
  });

  it('serves the API reference at /docs, rendered from /openapi.json, without a request to any other host', async () => {
    const context = await newContext(browser!);
    contexts.push(context);
    const requested: string[] = [];
    context.on('request', (request) => requested.push(request.url()));
    const page = await context.newPage();
    await page.goto(`${base()}/docs`);

    const document = (await api(base(), '/openapi.json')).body;
    const summaries = Object.values(document.paths as Record<string, Record<string, { summary: string }>>).flatMap(
      (operations) => Object.values(operations).map((operation) => operation.summary),
    );
    expect(summaries.length).toBeGreaterThan(10);
    for (const summary of summaries) await page.getByText(summary, { exact: true }).first().waitFor();

    expect(requested.length).toBeGreaterThan(0);
    expect(requested.filter((url) => new URL(url).origin !== base())).toEqual([]);
    expect(requested).toContain(`${base()}/openapi.json`);
    // Nothing was even attempted elsewhere (the CSP would have blocked it, and said so). The one
    // violation allowed is Scalar's bundled zod probing whether it may compile with `new
    // Function`; it catches the refusal and validates without.
    expect((await violations(page)).filter((v) => v.blockedURI !== 'eval')).toEqual([]);
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
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Register', exact: true }).click();
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
    // Same profile, so the same cookie: it is sent (same site), and the Origin check refuses it.
    const page = await context.newPage();
    const refreshes = await serviceAnswers(page, `${base()}/auth/refresh`);
    await page.goto(unlisted);
    await page.getByRole('alert').filter({ hasText: 'Your session could not be restored' }).waitFor();
    expect(await signedIn(page).count()).toBe(0);
    expect(refreshes).toHaveLength(1);
    expect(refreshes[0]!.requestHeaders).toMatchObject({
      Origin: unlisted,
      Cookie: expect.stringMatching(/^__Host-edge-auth-refresh=/),
    });
    expect(refreshes[0]!.status).toBe(403);
    expect(refreshes[0]!.body.code).toBe('csrf_rejected');
    expect(refreshes[0]!.responseHeaders['access-control-allow-origin']).toBeUndefined();

    // Page script there cannot read any answer of the service...
    const outcome = await page.evaluate(async (url) => {
      try {
        await fetch(`${url}/auth/refresh`, { method: 'POST', credentials: 'include' });
        return 'read the response';
      } catch (err) {
        return (err as Error).name;
      }
    }, base());
    expect(outcome).toBe('TypeError');

    // ...and a login never leaves the browser: its CORS preflight gets no approval.
    const logins = await serviceAnswers(page, `${base()}/auth/login`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'The service could not be reached' }).waitFor();
    expect(logins.filter((answer) => answer.method === 'POST')).toEqual([]);

    // Refused, not rotated: the session of the listed origin goes on.
    const listedPage = await context.newPage();
    await listedPage.goto(listed);
    await signedIn(listedPage).waitFor();
    await context.close();
  });
});
