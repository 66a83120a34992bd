/**
 * The OpenAPI document as tools read it: its linter (`npm run openapi:lint`, Redocly's rules in
 * scripts/openapi-lint.mjs) finds no error and no warning, and the client's committed types are
 * exactly what openapi-typescript generates from the document now (so a route change without
 * `npm run client:types` fails here). Both through the same scripts a developer runs; offline.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, childEnv, run, useScratchDir } from './support';

const scratch = useScratchDir('openapi-tools');
const inRoot = (command: string, args: string[]) =>
  run(command, args, { cwd: ROOT, env: childEnv(scratch()), timeoutMs: 60_000 });

let served = '';
beforeAll(async () => {
  // The document as GET /openapi.json serves it (scripts/openapi.ts builds it from the same routes).
  const file = path.join(scratch(), 'served.json');
  const written = await inRoot(path.join(BIN, 'tsx'), ['scripts/openapi.ts', file]);
  expect(written.code, written.output).toBe(0);
  served = await readFile(file, 'utf8');
});

/** Writes the served document, with `change` applied, for the linter to read. */
async function documentFile(name: string, change: (doc: any) => void = () => {}) {
  const file = path.join(scratch(), name);
  const doc = JSON.parse(served);
  change(doc);
  await writeFile(file, JSON.stringify(doc));
  return file;
}

const lint = (file: string) => inRoot(path.join(BIN, 'node'), ['scripts/openapi-lint.mjs', file]);

// Concurrent: each test is a child process of its own, mostly waiting on module loading.
describe.concurrent('the OpenAPI document in tools', () => {
  it('passes the linter with no error and no warning', async () => {
    const result = await lint(await documentFile('openapi.json'));
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('openapi:lint: no errors and no warnings in');
  });

  it('would fail the linter for an operation without an operationId, description or tag, or a wrong example', async () => {
    const file = await documentFile('broken.json', (doc) => {
      delete doc.paths['/auth/login'].post.operationId;
      delete doc.paths['/auth/login'].post.description;
      doc.paths['/health'].get.tags = [];
      doc.paths['/auth/register'].post.requestBody.content['application/json'].example = { username: 'alice' };
    });
    const result = await lint(file);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('operation-operationId');
    expect(result.output).toContain('operation-description');
    expect(result.output).toContain('rule/operation-tags');
    expect(result.output).toContain("must have required property 'password'");
  });

  it('gives the client exactly the types it has committed (npm run client:types)', async () => {
    const result = await inRoot(path.join(BIN, 'tsx'), ['scripts/client-types.ts', '--check']);
    expect(result.code, result.output).toBe(0);
  });
});
