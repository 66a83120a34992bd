/**
 * The demo app served from another origin than the service, as an SPA on app.example.com
 * calling auth.example.com would be: http://127.0.0.1:B and :C (a small static server here)
 * call the Worker on http://127.0.0.1:A. Different origins, same site, so Chromium sends the
 * SameSite=Strict refresh cookie along, and it is CORS_ORIGINS and the service's Origin check
 * that decide. B is listed in CORS_ORIGINS; C is not.
 *
 * Run: npx vitest run test/e2e/cross-origin.test.ts
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server as HttpServer } from 'node:http';
import path from 'node:path';
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ASSETS_DIR } from '../../scripts/build-assets.mjs';
import { launchChromium, newContext } from './browser';
import { freePort, startWranglerDev, uniqueName, useScratchDir, type Server } from './support';

const PASSWORD = 'a-long-and-unusual-passphrase';
const JWT_SECRET = `e2e-${crypto.randomUUID()}-${crypto.randomUUID()}`;

const scratch = useScratchDir('cross-origin');
let service: Server | undefined;
let browser: Browser | undefined;
const statics: HttpServer[] = [];
let listed = '';
let unlisted = '';

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
};

/**
 * Serves the built app on `port`, pointed at the service by the `edge-auth-url` meta tag, with
 * the CSP the README gives for this layout: 'self', plus the service for connect-src.
 */
async function serveApp(port: number, serviceUrl: string): Promise<string> {
  const server = createServer(async (req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://x').pathname;
    const file = pathname === '/' ? 'index.html' : pathname.slice(1);
    const stored = file.includes('..') ? null : await readFile(path.join(ASSETS_DIR, file)).catch(() => null);
    if (!stored) {
      res.writeHead(404).end();
      return;
    }
    const body =
      file === 'index.html'
        ? stored.toString('utf8').replace('<head>', `<head>\n<meta name="edge-auth-url" content="${serviceUrl}" />`)
        : stored;
    res.writeHead(200, {
      'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'Content-Security-Policy': `default-src 'self'; connect-src 'self' ${serviceUrl}; base-uri 'none'; frame-ancestors 'none'`,
    });
    res.end(body);
  });
  statics.push(server);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return `http://127.0.0.1:${port}`;
}

/** The response of the next `POST /auth/refresh` at the service. */
const nextRefresh = (page: Page): Promise<Response> =>
  page.waitForResponse((r) => r.url() === `${service!.baseUrl}/auth/refresh` && r.request().method() === 'POST');

type Answer = {
  method: string;
  requestHeaders: Record<string, string>;
  status: number;
  responseHeaders: Record<string, string>;
  body: any;
};

/**
 * Every answer of the service to `pathname` for this page, as Chromium itself received it,
 * including those CORS then keeps from page script (which playwright's `response` event never
 * reports): Chrome DevTools' Fetch domain pauses each one at the response stage.
 */
async function serviceAnswers(page: Page, pathname: string): Promise<Answer[]> {
  const answers: Answer[] = [];
  const cdp = await page.context().newCDPSession(page);
  cdp.on('Fetch.requestPaused', async (event) => {
    try {
      const { body, base64Encoded } = await cdp.send('Fetch.getResponseBody', { requestId: event.requestId });
      const text = Buffer.from(body, base64Encoded ? 'base64' : 'utf8').toString('utf8');
      answers.push({
        method: event.request.method,
        requestHeaders: event.request.headers,
        status: event.responseStatusCode ?? 0,
        responseHeaders: Object.fromEntries((event.responseHeaders ?? []).map((h) => [h.name.toLowerCase(), h.value])),
        body: text ? JSON.parse(text) : null, // A CORS preflight's answer has none.
      });
    } finally {
      await cdp.send('Fetch.continueRequest', { requestId: event.requestId });
    }
  });
  await cdp.send('Fetch.enable', {
    patterns: [{ urlPattern: `${service!.baseUrl}${pathname}`, requestStage: 'Response' }],
  });
  return answers;
}

describe('the demo app on another origin than the service', () => {
  beforeAll(async () => {
    // Asked for at once, so the OS hands out three different ports.
    const [appPort, otherPort, servicePort] = await Promise.all([freePort(), freePort(), freePort()]);
    listed = `http://127.0.0.1:${appPort}`;
    [service, browser] = await Promise.all([
      startWranglerDev({ stateDir: scratch(), port: servicePort, vars: { JWT_SECRET, CORS_ORIGINS: listed } }),
      launchChromium(),
    ]);
    await serveApp(appPort, service.baseUrl);
    unlisted = await serveApp(otherPort, service.baseUrl);
  });

  afterAll(async () => {
    await browser?.close();
    await service?.stop();
    for (const server of statics) server.close();
  });

  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => console.error(`--- wrangler dev output ---\n${service?.output ?? ''}`));
  });

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
    expect((await context.cookies(service!.baseUrl)).map((c) => c.name)).toEqual(['__Host-edge-auth-refresh']);

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
    const refreshes = await serviceAnswers(page, '/auth/refresh');
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
    }, service!.baseUrl);
    expect(outcome).toBe('TypeError');

    // ...and a login never leaves the browser: its CORS preflight gets no approval.
    const logins = await serviceAnswers(page, '/auth/login');
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
