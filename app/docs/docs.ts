/**
 * The API reference at /docs: Swagger UI, rendered from this service's /openapi.json. Everything
 * it loads comes from this Worker, so it works offline and under a 'self' CSP without
 * 'unsafe-eval' (see app/_headers).
 */

/** The global that /docs/swagger-ui-bundle.js defines; only what is used here. */
declare global {
  interface Window {
    SwaggerUIBundle: ((configuration: Record<string, unknown>) => unknown) & { presets: { apis: unknown } };
  }
}

window.SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  // The operations only: the standalone layout's top bar is a box to load other documents.
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  // Otherwise a badge asks validator.swagger.io to check the document: a request to another host.
  validatorUrl: null,
  // Links to an operation (#/auth/login) survive a reload.
  deepLinking: true,
  // A small API: every tag open, the request duration shown after "Try it out".
  docExpansion: 'list',
  displayRequestDuration: true,
});

export {};
