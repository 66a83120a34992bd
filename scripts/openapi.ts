/**
 * Writes the Worker's OpenAPI document (what GET /openapi.json serves) to a file, for tools
 * that read files: `npm run openapi:lint` and client generators of other languages.
 */
import { writeFile } from 'node:fs/promises';
import { apiDocument } from '../src/http/app';

const out = process.argv[2];
if (!out) {
  console.error('usage: tsx scripts/openapi.ts <file>');
  process.exit(2);
}
await writeFile(out, `${JSON.stringify(apiDocument(), null, 2)}\n`);
