import { readFile } from 'node:fs/promises';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import * as esbuild from 'esbuild';
import { defineConfig } from 'vitest/config';
import { buildAssets } from './scripts/build-assets.mjs';
import InterleavingSequencer from './test/sequencer.ts';

/** A fixed, test-only secret: tests must not depend on a developer's .dev.vars. */
export const TEST_JWT_SECRET = 'test-only-secret-0123456789abcdefghijklmnopqrstuvwxyz';
export const TEST_DATA_ENCRYPTION_KEY = 'test-only-data-key-0123456789abcdefghijklmnopqrstuvwxyz';

const LEGACY_HASHES_CONFIG = './workers/legacy-hashes/wrangler.toml';
const LEGACY_HASHES_SCRIPT = './.wrangler/test/legacy-hashes.js';

/**
 * The companion Worker (workers/legacy-hashes) as the tests run it: an auxiliary Worker of the
 * pool, which takes built JavaScript only, so it is bundled here as wrangler would bundle it.
 * Returns its name and compatibility date, read from its own wrangler.toml.
 */
async function buildLegacyHashes() {
  const toml = await readFile(LEGACY_HASHES_CONFIG, 'utf8');
  const setting = (key: string) => new RegExp(`^${key} = "([^"]+)"$`, 'm').exec(toml)![1]!;
  await esbuild.build({
    entryPoints: ['./workers/legacy-hashes/src/index.ts'],
    outfile: LEGACY_HASHES_SCRIPT,
    bundle: true,
    format: 'esm',
    // As wrangler bundles: the browser platform honours bcryptjs's `"browser": { "crypto": false }`.
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    external: ['cloudflare:*'],
    logLevel: 'warning',
  });
  return { name: setting('name'), compatibilityDate: setting('compatibility_date') };
}

/**
 * The plugin reads wrangler.toml once per test file, in this process, and wrangler then announces
 * a developer's .dev.vars each time ("Using secrets defined in .dev.vars": 46 identical lines in a
 * full run). The bindings below override every secret in it, so the line says nothing; only that
 * line is dropped, and everything else wrangler prints (its warnings and errors) still shows.
 */
function dropDevVarsNotice() {
  const log = console.log;
  console.log = (...args: unknown[]) => {
    if (args.length === 1 && /^Using secrets defined in \S*\.dev\.vars$/.test(String(args[0]))) return;
    log(...args);
  };
}

export default defineConfig(async () => {
  dropDevVarsNotice();
  // wrangler.toml serves dist/assets: built from app/ here, so tests always see the current app.
  await buildAssets();
  const openApiDocument = JSON.parse(await readFile('./dist/assets/openapi.json', 'utf8'));
  // The real migrations, applied to each test file's isolated D1 by test/apply-migrations.ts.
  const migrations = await readD1Migrations('./migrations');
  const legacyHashes = await buildLegacyHashes();
  return {
    test: {
      // Vitest's default on 2 cores is one file at a time; the e2e files mostly wait on child
      // processes (wrangler dev, npm, Chromium), so three at a time keeps both cores busy.
      maxWorkers: 3,
      // Past this, the reporter lists a passing test with its suites. At the default (300 ms) a
      // loaded machine listed hundreds, and suites of the same name under different parents
      // (describe.each) printed the same line again and again. A minute marks a test worth a look.
      slowTestThreshold: 60_000,
      sequence: { sequencer: InterleavingSequencer },
      // Audit lines are asserted by test/audit.test.ts; elsewhere they only bury the report.
      onConsoleLog: (log: string) => !log.includes('"type":"audit"'),
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: './wrangler.toml' },
              miniflare: {
                // Vitest's runner asks `node:inspector` whether a debugger is attached; without
                // workerd's stub module (url() is undefined) every test file printed a warning.
                // Tests only: the Worker itself imports no node: module (deploy-bundle test).
                compatibilityFlags: ['enable_nodejs_inspector_module'],
                // Secrets pinned here (empty = not set), so a developer's .dev.vars, which the
                // plugin also reads, cannot change what the tests see.
                bindings: {
                  TEST_MIGRATIONS: migrations,
                  TEST_OPENAPI_DOCUMENT: openApiDocument,
                  JWT_SECRET: TEST_JWT_SECRET,
                  JWT_PREVIOUS_SECRETS: '',
                  JWT_PRIVATE_KEY: '',
                  JWT_PREVIOUS_PUBLIC_KEYS: '',
                  PASSWORD_PEPPER: '',
                  // The lowest work factor config accepts, not wrangler.toml's 100,000: hashing was
                  // a fifth of the suite's CPU. The tests of the work factor itself (upgrades, the
                  // cost of a wrong password, the deployed cap) set 100,000 with appWith().
                  PBKDF2_ITERATIONS: '10000',
                  DATA_ENCRYPTION_KEY: TEST_DATA_ENCRYPTION_KEY,
                  // Mail is off unless a test brings a fake EMAIL binding (test/helpers.ts appWith).
                  EMAIL_FROM: '',
                  // Passkeys for ORIGIN (https://auth.example.test): its parent domain, as an RP ID
                  // shared with a sibling app would be. Tests of a deployment without it unset it.
                  WEBAUTHN_RP_ID: 'example.test',
                  // The OAuth issuer of the tests' ORIGIN (test/helpers.ts).
                  OAUTH_ISSUER: 'https://auth.example.test',
                },
                // Off by default in wrangler.toml; on here, so the legacy-hash tests run the real
                // companion. Tests of a deployment without it drop it with appWith().
                serviceBindings: { LEGACY_HASHES: legacyHashes.name },
                workers: [{ ...legacyHashes, modules: true, scriptPath: LEGACY_HASHES_SCRIPT }],
              },
            }),
          ],
          test: {
            name: 'workers',
            include: ['test/**/*.test.ts'],
            exclude: ['test/e2e/**'],
            setupFiles: ['./test/apply-migrations.ts'],
            // Many cases run PBKDF2 several times (a re-authentication adds one), some at 100,000
            // iterations; on 2 busy cores that passes 5 s while nothing is wrong.
            testTimeout: 30_000,
          },
        },
        {
          test: {
            name: 'e2e',
            include: ['test/e2e/**/*.test.ts'],
            environment: 'node',
            globalSetup: ['./test/e2e/chromium-setup.ts', './test/e2e/d1-setup.ts'],
            // Starting a server waits for the migrated D1 (d1-setup.ts) and then for /health: on
            // 2 busy cores that alone can take minutes.
            testTimeout: 240_000,
            hookTimeout: 300_000,
          },
        },
      ],
    },
  };
});
