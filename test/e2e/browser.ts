/**
 * Chromium for the browser tests, through playwright-core. One browser per test file; each
 * device or user in a test is a context of its own (separate cookies and storage).
 */
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { inject } from 'vitest';

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
