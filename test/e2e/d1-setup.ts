/**
 * Global setup of the e2e project: the real migrations applied once, to a local D1 that each
 * test file's `wrangler dev` starts from (a copy: support.ts `copyMigratedD1`). Applying them
 * starts workerd once per migration, about 10 s of CPU: paid once per run instead of once per
 * server. quick-start.test.ts still applies them as a newcomer's `npm run dev` does.
 *
 * The migrations run in the background, so files that need no D1 do not wait for them; a file
 * that does waits for the READY (or FAILED) marker written here.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { childEnv, ROOT } from './support';

declare module 'vitest' {
  export interface ProvidedContext {
    migratedD1: string;
  }
}

export default async function setup(project: TestProject) {
  const dir = await mkdtemp(path.join(tmpdir(), 'edge-auth-d1-template-'));
  project.provide('migratedD1', dir);
  const persist = path.join(dir, 'state');
  const done = new Promise<void>((resolve) => {
    const child = spawn('wrangler', ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist], {
      cwd: ROOT,
      env: childEnv(dir),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', (err) => (output += String(err)));
    child.on('close', async (code) => {
      await (code === 0
        ? writeFile(path.join(dir, 'READY'), '')
        : writeFile(path.join(dir, 'FAILED'), `migrations failed (exit ${code}):\n${output}`));
      resolve();
    });
  });
  return async () => {
    await done;
    await rm(dir, { recursive: true, force: true });
  };
}
