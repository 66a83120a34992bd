/**
 * `npm run deploy` (scripts/deploy.mjs) refuses what would make a broken first deploy, and says
 * what to do: the placeholder database id, before any wrangler command runs (so before anything
 * reaches Cloudflare), and a required secret missing from the `wrangler secret list` answer.
 *
 * A fake `wrangler` first on PATH records every call and answers `secret list` as the real one
 * does (`--format json`), so nothing here touches the network.
 *
 * Run: npx vitest run test/e2e/deploy-script.test.ts
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ROOT, childEnv, run, useScratchDir } from './support';

const DEPLOY = path.join(ROOT, 'scripts', 'deploy.mjs');
const PLACEHOLDER = '00000000-0000-0000-0000-000000000000';
const DATABASE_ID = '4f1c2a7e-0b7d-4d55-9a43-1e2f3a4b5c6d';

const scratch = useScratchDir('deploy-script');
let project = '';
let calls = '';

/** What `wrangler secret list --format json` prints: JSON.stringify(secrets, null, 2). */
const secretList = (...names: string[]) =>
  JSON.stringify(
    names.map((name) => ({ name, type: 'secret_text' })),
    null,
    2,
  );

/**
 * A fake wrangler: appends its arguments to $FAKE_WRANGLER_CALLS, prints $FAKE_SECRET_LIST for
 * `secret list`, and exits with $FAKE_SECRET_LIST_STATUS there (0 elsewhere).
 */
const FAKE_WRANGLER = `#!/usr/bin/env bash
echo "$*" >> "$FAKE_WRANGLER_CALLS"
if [ "$1 $2" = "secret list" ]; then
  printf '%s\\n' "$FAKE_SECRET_LIST"
  exit "\${FAKE_SECRET_LIST_STATUS:-0}"
fi
exit 0
`;

/** `node scripts/deploy.mjs …` in the scratch project, with the fake wrangler first on PATH. */
async function deploy(answer: { list?: string; status?: number } = {}, args: string[] = []) {
  const env = childEnv(scratch());
  const result = await run('node', [DEPLOY, ...args], {
    cwd: project,
    env: {
      ...env,
      PATH: `${path.join(scratch(), 'bin')}${path.delimiter}${env.PATH}`,
      FAKE_WRANGLER_CALLS: calls,
      FAKE_SECRET_LIST: answer.list ?? '[]',
      FAKE_SECRET_LIST_STATUS: String(answer.status ?? 0),
    },
  });
  const recorded = existsSync(calls) ? (await readFile(calls, 'utf8')).trim().split('\n') : [];
  return { ...result, calls: recorded };
}

/** The project's own wrangler.toml, with the database id an operator pasted in. */
async function writeConfig(databaseId: string) {
  const toml = await readFile(path.join(ROOT, 'wrangler.toml'), 'utf8');
  expect(toml, 'wrangler.toml no longer holds the placeholder id').toContain(`database_id = "${PLACEHOLDER}"`);
  await writeFile(path.join(project, 'wrangler.toml'), toml.replace(PLACEHOLDER, databaseId));
}

beforeAll(async () => {
  await mkdir(path.join(scratch(), 'bin'));
  await writeFile(path.join(scratch(), 'bin', 'wrangler'), FAKE_WRANGLER);
  await chmod(path.join(scratch(), 'bin', 'wrangler'), 0o755);
  project = path.join(scratch(), 'project');
  await mkdir(project);
  calls = path.join(scratch(), 'calls');
});

beforeEach(async () => {
  await rm(calls, { force: true });
});

describe('npm run deploy', () => {
  it('is scripts/deploy.mjs', async () => {
    const manifest = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8'));
    expect(manifest.scripts.deploy).toBe('node scripts/deploy.mjs');
  });

  it('refuses the placeholder database id without running wrangler, and says how to create the database', async () => {
    await writeConfig(PLACEHOLDER);
    const result = await deploy({ list: secretList('JWT_SECRET', 'DATA_ENCRYPTION_KEY') });
    expect(result.code, result.output).toBe(1);
    expect(result.calls, 'wrangler ran: something may have reached Cloudflare').toEqual([]);
    expect(result.output).toContain('database_id is the placeholder');
    expect(result.output).toContain('npx wrangler d1 create edge-auth');
    expect(result.output).toContain('Nothing was sent to Cloudflare');
  });

  it('refuses without DATA_ENCRYPTION_KEY, naming it and how to set it, and deploys nothing', async () => {
    await writeConfig(DATABASE_ID);
    const result = await deploy({ list: secretList('JWT_SECRET', 'PASSWORD_PEPPER') });
    expect(result.code, result.output).toBe(1);
    expect(result.calls).toEqual(['secret list --format json']);
    expect(result.output).toContain('Missing: DATA_ENCRYPTION_KEY');
    expect(result.output).toContain('echo "$DATA_ENCRYPTION_KEY" | npx wrangler secret put DATA_ENCRYPTION_KEY');
    expect(result.output).not.toContain('Missing: a signing key');
  });

  it('refuses without a signing key, naming JWT_SECRET and JWT_PRIVATE_KEY', async () => {
    await writeConfig(DATABASE_ID);
    const result = await deploy({ list: secretList('DATA_ENCRYPTION_KEY') });
    expect(result.code, result.output).toBe(1);
    expect(result.calls).toEqual(['secret list --format json']);
    expect(result.output).toContain('Missing: a signing key, JWT_SECRET or JWT_PRIVATE_KEY');
    expect(result.output).toContain('echo "$JWT_SECRET" | npx wrangler secret put JWT_SECRET');
    expect(result.output).not.toContain('Missing: DATA_ENCRYPTION_KEY');
  });

  it('refuses a Worker that does not exist yet, naming every required secret', async () => {
    await writeConfig(DATABASE_ID);
    const result = await deploy({
      list: '✘ [ERROR] Worker "edge-auth" not found.\n\nIf this is a new Worker, run `wrangler deploy` first to create it.',
      status: 1,
    });
    expect(result.code, result.output).toBe(1);
    expect(result.calls).toEqual(['secret list --format json']);
    expect(result.output).toContain('does not exist on Cloudflare yet');
    expect(result.output).toContain('Missing: a signing key');
    expect(result.output).toContain('Missing: DATA_ENCRYPTION_KEY');
  });

  it('stops when wrangler cannot list the secrets (not logged in), without deploying', async () => {
    await writeConfig(DATABASE_ID);
    const result = await deploy({ list: '✘ [ERROR] Authentication error [code: 10000]', status: 1 });
    expect(result.code, result.output).toBe(1);
    expect(result.calls).toEqual(['secret list --format json']);
    expect(result.output).toContain('Authentication error');
    expect(result.output).toContain('CLOUDFLARE_API_TOKEN');
  });

  it('with the database and the secrets in place, applies the migrations and then deploys', async () => {
    await writeConfig(DATABASE_ID);
    const result = await deploy({ list: secretList('JWT_PRIVATE_KEY', 'DATA_ENCRYPTION_KEY') }, ['--dry-run']);
    expect(result.code, result.output).toBe(0);
    expect(result.calls).toEqual(['secret list --format json', 'd1 migrations apply DB --remote', 'deploy --dry-run']);
  });
});
