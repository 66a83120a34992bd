/**
 * Whether route declarations carry their documentation (routing.ts, RouteDocs). A build-time
 * constant, never a runtime setting: `false` in the Worker's bundle (wrangler.toml [define] and
 * the test pool in vitest.config.ts), so the texts are not in what a cold start loads; `true`
 * only where the OpenAPI document is built (scripts/lib/openapi-document.mjs).
 */
declare const API_DOCS: boolean;
