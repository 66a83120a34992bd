/**
 * Writes the OpenAPI document (what GET /openapi.json serves) to a file, for tools that read
 * files: `npm run openapi:lint` and client generators of other languages.
 */
import { writeFile } from 'node:fs/promises';
import { buildOpenApiDocument } from './lib/openapi-document.mjs';

const out = process.argv[2];
if (!out) {
  console.error('usage: tsx scripts/openapi.ts <file>');
  process.exit(2);
}
await writeFile(out, `${JSON.stringify(await buildOpenApiDocument(), null, 2)}\n`);
