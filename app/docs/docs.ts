/**
 * The API reference at /docs: Scalar, rendered from this service's /openapi.json. Everything it
 * loads comes from this Worker, so it works offline and under a 'self' CSP (see app/_headers).
 */

/** The global that /docs/scalar.js (Scalar's standalone bundle) defines; only what is used here. */
declare global {
  interface Window {
    Scalar: { createApiReference(target: string, configuration: Record<string, unknown>): unknown };
  }
}

window.Scalar.createApiReference('#api-reference-root', {
  url: '/openapi.json',
  // Each of these would otherwise reach a scalar.com host: fonts, usage telemetry, the "Ask AI"
  // agent, and the proxy that "Test request" goes through by default. Requests go straight to
  // this API instead, which the page's CSP (connect-src 'self') allows.
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  proxyUrl: '',
  showDeveloperTools: 'never',
  // A small API: every operation on one page.
  defaultOpenAllTags: true,
  documentDownloadType: 'json',
});

export {};
