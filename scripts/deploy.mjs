#!/usr/bin/env node
// `npm run deploy [-- <wrangler deploy options>]`: the checks a first deploy needs, then the
// remote migrations and `wrangler deploy` (docs/deploying.md).
//
// 1. Offline, before anything reaches Cloudflare: wrangler.toml's D1 database must not be the
//    placeholder id. A Worker deployed against it could never open its database, and the
//    migrations would fail against a database that does not exist.
// 2. `wrangler secret list`: a signing key (JWT_SECRET or JWT_PRIVATE_KEY) and
//    DATA_ENCRYPTION_KEY must be set. Without a signing key every request answers
//    500 misconfigured; without DATA_ENCRYPTION_KEY two-factor setup does. Secrets live only
//    in Cloudflare, so this is the one place a missing one can be caught before users do.
// 3. `wrangler d1 migrations apply DB --remote`, then `wrangler deploy` with the extra options.
//
// Reads ./wrangler.toml (npm runs scripts in the project root). Exit status: 0 deployed;
// 1 refused, or a wrangler command failed (its own status).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const PLACEHOLDER_ID = '00000000-0000-0000-0000-000000000000';
const RUNBOOK = 'docs/deploying.md';

/** @param {string[]} lines @returns {never} */
function refuse(lines) {
  console.error(['deploy: refused.', ...lines].join('\n'));
  process.exit(1);
}

/**
 * The `[[d1_databases]]` entries of a wrangler.toml, as far as this check needs them: each
 * table's `key = "value"` lines. Not a TOML parser (that would be a dependency); wrangler
 * itself reads the file properly a moment later.
 * @param {string} toml
 */
function d1Databases(toml) {
  /** @type {Record<string, string>[]} */
  const tables = [];
  /** @type {Record<string, string> | null} */
  let current = null;
  for (const raw of toml.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) {
      current = line === '[[d1_databases]]' ? {} : null;
      if (current) tables.push(current);
      continue;
    }
    const setting = /^([A-Za-z_]+)\s*=\s*"([^"]*)"/.exec(line);
    if (current && setting) current[setting[1]] = setting[2];
  }
  return tables;
}

if (!existsSync('wrangler.toml')) refuse(['There is no wrangler.toml here: run it from the project root.']);
const db = d1Databases(readFileSync('wrangler.toml', 'utf8')).find((table) => table.binding === 'DB');
if (!db?.database_id || db.database_id === PLACEHOLDER_ID) {
  refuse([
    'wrangler.toml does not name your D1 database yet (database_id is the placeholder).',
    'Create it and put its id in wrangler.toml:',
    '  npx wrangler d1 create edge-auth',
    `  then replace ${PLACEHOLDER_ID} in the [[d1_databases]] block with the database_id it prints.`,
    `Nothing was sent to Cloudflare. The steps: ${RUNBOOK}.`,
  ]);
}

/** Runs wrangler with the terminal attached; stops with its status if it fails. */
function wrangler(args) {
  const result = spawnSync('wrangler', args, { stdio: 'inherit' });
  if (result.error) refuse([`could not run wrangler: ${result.error.message}`]);
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const SECRETS = [
  {
    names: ['JWT_SECRET', 'JWT_PRIVATE_KEY'],
    what: 'a signing key, JWT_SECRET or JWT_PRIVATE_KEY (without one every request answers 500 misconfigured)',
    how: [
      'JWT_SECRET=$(openssl rand -base64 48)',
      'echo "$JWT_SECRET" | npx wrangler secret put JWT_SECRET',
      '(or JWT_PRIVATE_KEY, a key pair other services can verify: docs/keys.md)',
    ],
  },
  {
    names: ['DATA_ENCRYPTION_KEY'],
    what: 'DATA_ENCRYPTION_KEY (it seals two-factor secrets; without it two-factor setup answers 500 misconfigured)',
    how: [
      'DATA_ENCRYPTION_KEY=$(openssl rand -base64 48)',
      'echo "$DATA_ENCRYPTION_KEY" | npx wrangler secret put DATA_ENCRYPTION_KEY',
    ],
  },
];

const listed = spawnSync('wrangler', ['secret', 'list', '--format', 'json'], { encoding: 'utf8' });
if (listed.error) refuse([`could not run wrangler: ${listed.error.message}`]);
/** @type {string[]} */
let names = [];
let workerMissing = false;
if (listed.status !== 0) {
  const output = `${listed.stdout}${listed.stderr}`;
  // A Worker that was never deployed has no secrets yet; `wrangler secret put` creates it.
  workerMissing = /not found/i.test(output) && /Worker/.test(output);
  if (!workerMissing) {
    process.stderr.write(output);
    refuse([
      `\`wrangler secret list\` failed (exit ${listed.status}), so the secrets cannot be checked.`,
      'Log in with `npx wrangler login`, or in CI set CLOUDFLARE_API_TOKEN (and CLOUDFLARE_ACCOUNT_ID).',
    ]);
  }
} else {
  try {
    const text = listed.stdout;
    const answer = JSON.parse(text.slice(text.indexOf('['), text.lastIndexOf(']') + 1));
    names = answer.map((/** @type {{ name: string }} */ secret) => secret.name);
  } catch {
    process.stderr.write(listed.stdout);
    refuse(['could not read the answer of `wrangler secret list --format json` (above).']);
  }
}

const missing = SECRETS.filter((secret) => !secret.names.some((name) => names.includes(name)));
if (missing.length > 0) {
  refuse([
    workerMissing
      ? 'The Worker does not exist on Cloudflare yet, so none of its secrets are set.'
      : `The Worker lacks ${missing.length === 1 ? 'a required secret' : 'required secrets'}.`,
    ...missing.flatMap((secret) => [
      `Missing: ${secret.what}.`,
      '  Make it, keep it in your secret manager (Cloudflare never shows a secret again), then set it:',
      ...secret.how.map((line) => `    ${line}`),
    ]),
    '`wrangler secret put` creates the Worker if it does not exist yet. Then run npm run deploy again.',
    `The steps: ${RUNBOOK}, section 3.`,
  ]);
}

wrangler(['d1', 'migrations', 'apply', 'DB', '--remote']);
wrangler(['deploy', ...process.argv.slice(2)]);
