// The OpenAPI document (/openapi.json), built from the route declarations with their docs.
// The Worker is bundled with API_DOCS = false, so its routes carry no docs (src/http/routing.ts,
// RouteDocs); here src/http/document.ts is bundled for Node with API_DOCS = true and run once.
// Used by build-assets.mjs (the static asset), scripts/openapi.ts and scripts/client-types.ts.
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ENTRY = fileURLToPath(new URL('../../src/http/document.ts', import.meta.url));

/** @returns {Promise<Record<string, unknown>>} */
export async function buildOpenApiDocument() {
  const built = await esbuild.build({
    entryPoints: [ENTRY],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2022',
    define: { API_DOCS: 'true' },
    write: false,
    logLevel: 'warning',
  });
  // Self-contained (no imports left), so it runs from a data: URL without touching the disk.
  const code = Buffer.from(built.outputFiles[0].contents).toString('base64');
  const { apiDocument } = await import(`data:text/javascript;base64,${code}`);
  return apiDocument();
}
