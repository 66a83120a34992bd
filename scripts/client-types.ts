/**
 * Generates client/src/schema.ts, the client's types, from the Worker's OpenAPI document with
 * openapi-typescript. `npm run client:types` writes it; `--check` only compares and fails
 * when the committed file has drifted from the document (test/e2e/client-types.test.ts).
 *
 * A `.ts` file of types only, not a `.d.ts`: tsc copies no `.d.ts` into client/dist, and
 * this way the built package carries the types beside the code.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';
import { buildOpenApiDocument } from './lib/openapi-document.mjs';

export const CLIENT_TYPES_PATH = fileURLToPath(new URL('../client/src/schema.ts', import.meta.url));

export async function clientTypes(): Promise<string> {
  const ast = await openapiTS((await buildOpenApiDocument()) as unknown as Parameters<typeof openapiTS>[0]);
  return `${COMMENT_HEADER.replace(' */', ' * Regenerate with `npm run client:types`.\n */')}${astToString(ast)}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const fresh = await clientTypes();
  if (process.argv.includes('--check')) {
    const committed = await readFile(CLIENT_TYPES_PATH, 'utf8').catch(() => '');
    if (committed !== fresh) {
      console.error(`${CLIENT_TYPES_PATH} is out of date: run \`npm run client:types\`.`);
      process.exit(1);
    }
  } else {
    await writeFile(CLIENT_TYPES_PATH, fresh);
    console.log(`wrote ${CLIENT_TYPES_PATH}`);
  }
}
