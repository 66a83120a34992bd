/**
 * Chromium for the browser tests, through playwright-core. One browser per test file; each
 * device or user in a test is a context of its own (separate cookies and storage).
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { inject } from 'vitest';
import { ASSETS_DIR } from '../../scripts/build-assets.mjs';

/**
 * Our own flags, not @sparticuz/chromium's `args`: those are for AWS Lambda and include
 * --disable-web-security (no CORS, no same-origin policy: the very things under test) and
 * --single-process (closing one context kills the browser). --no-sandbox because test
 * machines and CI containers run as root; the pages loaded are our own.
 */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: inject('chromiumPath'), args: CHROMIUM_FLAGS, headless: true });
}

export type Violation = { directive: string; blockedURI: string };

/**
 * A context whose pages record every Content Security Policy violation (`window.__violations`).
 * Init scripts are injected by the browser itself, so the page's CSP does not block them.
 */
export async function newContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    const violations: { directive: string; blockedURI: string }[] = [];
    (window as unknown as { __violations: typeof violations }).__violations = violations;
    document.addEventListener('securitypolicyviolation', (e) =>
      violations.push({ directive: e.effectiveDirective, blockedURI: e.blockedURI }),
    );
  });
  return context;
}

export const violations = (page: Page): Promise<Violation[]> =>
  page.evaluate(() => (window as unknown as { __violations: Violation[] }).__violations);

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
};

/**
 * Serves the built app (dist/assets) on another origin than the service's (127.0.0.1, a port
 * the OS picks), pointed at the service by the `edge-auth-url` meta tag, with the CSP the README
 * gives for this layout: 'self', plus the service for connect-src. Returns the origin.
 */
export async function serveAppElsewhere(serviceUrl: () => string): Promise<{ origin: string; server: HttpServer }> {
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
        ? stored.toString('utf8').replace('<head>', `<head>\n<meta name="edge-auth-url" content="${serviceUrl()}" />`)
        : stored;
    res.writeHead(200, {
      'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'Content-Security-Policy': `default-src 'self'; connect-src 'self' ${serviceUrl()}; base-uri 'none'; frame-ancestors 'none'`,
    });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, server };
}

export type Answer = {
  method: string;
  requestHeaders: Record<string, string>;
  status: number;
  responseHeaders: Record<string, string>;
  body: any;
};

/**
 * Every answer to requests of this page for `url`, as Chromium itself received it,
 * including those CORS then keeps from page script (which playwright's `response` event never
 * reports): Chrome DevTools' Fetch domain pauses each one at the response stage.
 */
export async function serviceAnswers(page: Page, url: string): Promise<Answer[]> {
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
    patterns: [{ urlPattern: url, requestStage: 'Response' }],
  });
  return answers;
}
