#!/usr/bin/env node
// Maintainer-only generator of the D1 migration that seeds the `common_passwords` table
// (ASVS 5.0 V6.2.4: "reject at least the top 3,000 most common passwords"). The list lives in
// D1, not in the Worker bundle: only registration and password changes read it. The generated
// migration is committed (migrations/0006_common_passwords_seed.sql); this script only needs to
// be re-run to refresh or change the list.
//
// Source: the "passwords-common" dictionary of @zxcvbn-ts/language-common (MIT), which
// is ordered by frequency (most common first; zxcvbn uses the index as the rank).
// The package is NOT a dependency of this project. Install it anywhere, e.g.
//
//   mkdir -p /tmp/cpw && cd /tmp/cpw && npm init -y && npm install @zxcvbn-ts/language-common@4.1.3
//
// Migrations that have landed are never edited, so a refresh goes into a NEW migration. Make an
// empty one with drizzle-kit, then have the script fill it:
//
//   npx drizzle-kit generate --custom --name=common_passwords_refresh
//   npx node scripts/build-common-passwords.mjs --source /tmp/cpw/node_modules/@zxcvbn-ts/language-common \
//     --out migrations/00NN_common_passwords_refresh.sql
//
// (COMMON_PASSWORDS_SOURCE=<dir> works instead of --source.) The statements are
// INSERT OR IGNORE: entries already there, operators' own included, stay as they are, and
// nothing is removed. To see that a committed migration is what the script makes, write to a
// scratch file and compare: --out /tmp/seed.sql, then diff it with the migration.
//
// Without --source / COMMON_PASSWORDS_SOURCE the package is resolved normally (from this
// script's location, then from the current working directory).
//
// Options:
//   --source <dir>   package directory of @zxcvbn-ts/language-common (or first positional arg)
//   --out <file>     the migration to write: a new file, or the empty one drizzle-kit made
//                    (a file with SQL in it is refused: it may have been applied somewhere)
//
// Requires Node.js 22.15+ (`npx node` runs the project's own), since it imports the service's
// normalization from src/ (lib/ts-hooks.mjs). Output is deterministic (no timestamps), so re-running with the
// same package version produces a byte-identical file.

import './lib/ts-hooks.mjs';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';

// The form the Worker looks a candidate up in, not a copy of it (see lib/ts-hooks.mjs).
const { commonPasswordKey } = await import('../src/credentials/common-passwords.ts');

const PACKAGE_NAME = '@zxcvbn-ts/language-common';
const DICTIONARY_KEY = 'passwords-common';
/** The service's minimum password length can never go below this. */
const MIN_LENGTH = 8;
/** ASVS 5.0 V6.2.4: at least the top 3,000. */
const TARGET_COUNT = 3000;
/** Rows per INSERT: a few statements apply faster than 3,000, and each stays far below D1's 100 KB per statement. */
const ROWS_PER_STATEMENT = 500;
/** What `drizzle-kit generate --custom` puts in the file it makes. */
const DRIZZLE_PLACEHOLDER = '-- Custom SQL migration file, put your code below! --';

function fail(message) {
  console.error(`build-common-passwords: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const opts = { source: undefined, out: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const take = (name) => {
      const eq = arg.indexOf('=');
      if (eq !== -1) return arg.slice(eq + 1);
      const value = argv[++i];
      if (value === undefined) fail(`${name} needs a value`);
      return value;
    };
    if (arg === '--source' || arg.startsWith('--source=')) opts.source = take('--source');
    else if (arg === '--out' || arg.startsWith('--out=')) opts.out = take('--out');
    else if (arg === '-h' || arg === '--help') {
      console.log('usage: node scripts/build-common-passwords.mjs [--source <package dir>] --out <migration.sql>');
      process.exit(0);
    } else if (!arg.startsWith('-') && opts.source === undefined) opts.source = arg;
    else fail(`unknown argument: ${arg}`);
  }
  return opts;
}

/** Returns the absolute path of the source package's package.json. */
function locatePackageJson(source) {
  if (source) {
    let p = path.resolve(source);
    if (path.basename(p) !== 'package.json') p = path.join(p, 'package.json');
    return p;
  }
  const bases = [import.meta.url, path.join(process.cwd(), 'noop.js')];
  for (const base of bases) {
    try {
      return createRequire(base).resolve(`${PACKAGE_NAME}/package.json`);
    } catch {
      // try the next base
    }
  }
  fail(
    `cannot resolve ${PACKAGE_NAME}; install it somewhere (see the header of this script) ` +
      'and pass --source <package dir> or set COMMON_PASSWORDS_SOURCE',
  );
}

const opts = parseArgs(process.argv.slice(2));
const pkgJsonPath = locatePackageJson(opts.source ?? process.env.COMMON_PASSWORDS_SOURCE);
if (!opts.out) fail('--out <migration.sql> is required (see the header of this script)');
const outPath = path.resolve(opts.out);
// A migration that has landed is never edited: only a new file or drizzle-kit's empty one.
if (
  existsSync(outPath) &&
  readFileSync(outPath, 'utf8').trim() !== '' &&
  readFileSync(outPath, 'utf8').trim() !== DRIZZLE_PLACEHOLDER
) {
  fail(`${opts.out} already holds SQL; make a new migration with drizzle-kit generate --custom`);
}

let pkg;
try {
  pkg = JSON.parse(readFileSync(pkgJsonPath, 'utf8'));
} catch (err) {
  fail(`cannot read ${pkgJsonPath}: ${err.message}`);
}
if (pkg.name !== PACKAGE_NAME) {
  fail(`${pkgJsonPath} is ${pkg.name}, expected ${PACKAGE_NAME}`);
}
const pkgDir = path.dirname(pkgJsonPath);
const mod = createRequire(pkgJsonPath)(pkgDir);
const raw = mod?.dictionary?.[DICTIONARY_KEY];
if (!Array.isArray(raw) || raw.length === 0 || !raw.every((e) => typeof e === 'string')) {
  fail(`${PACKAGE_NAME}@${pkg.version} does not export dictionary["${DICTIONARY_KEY}"] as string[]`);
}
// Cheap guard against a future release that is no longer frequency-ordered.
if (!raw.slice(0, 10).includes('password') || !raw.slice(0, 10).includes('123456')) {
  fail(`dictionary["${DICTIONARY_KEY}"] does not look frequency-ordered (top 10: ${raw.slice(0, 10).join(', ')})`);
}

const seen = new Set();
const selected = [];
let skippedShort = 0;
let skippedDuplicate = 0;
let skippedControl = 0;
for (const entry of raw) {
  const normalized = commonPasswordKey(entry);
  // UTF-16 length (String#length) is >= the code-point length, so this keeps every entry
  // that could pass an 8-character minimum however the service counts characters.
  if (normalized.length < MIN_LENGTH) {
    skippedShort++;
    continue;
  }
  if (/[\u0000-\u001f\u007f]/.test(normalized)) {
    // Cannot be typed into a password field, and would only make the SQL harder to read.
    skippedControl++;
    continue;
  }
  if (seen.has(normalized)) {
    skippedDuplicate++;
    continue;
  }
  seen.add(normalized);
  selected.push(normalized);
  if (selected.length === TARGET_COUNT) break;
}

const short = selected.length < TARGET_COUNT;
if (short) {
  console.warn(
    `build-common-passwords: WARNING: source has only ${selected.length} distinct entries of ` +
      `length >= ${MIN_LENGTH} (wanted ${TARGET_COUNT}); keeping all of them`,
  );
}

const source = `${PACKAGE_NAME}@${pkg.version} (${pkg.license ?? 'license unknown'})`;
const countNote = short
  ? [
      `-- NOTE: the source has only ${selected.length} distinct entries of length >= ${MIN_LENGTH},`,
      `-- fewer than the ${TARGET_COUNT} targeted; all of them are included.`,
    ]
  : [];

const literal = (text) => `'${text.replaceAll("'", "''")}'`;
const statements = [];
for (let i = 0; i < selected.length; i += ROWS_PER_STATEMENT) {
  const rows = selected.slice(i, i + ROWS_PER_STATEMENT).map((p) => `(${literal(p)})`);
  statements.push(`INSERT OR IGNORE INTO common_passwords (password) VALUES\n${rows.join(',\n')};`);
}

const output = [
  '-- GENERATED FILE - DO NOT EDIT BY HAND.',
  '-- Generated by scripts/build-common-passwords.mjs from',
  `-- ${source}, dictionary "${DICTIONARY_KEY}"`,
  '-- (ordered by frequency, most common first).',
  '--',
  `-- Seeds common_passwords with the ${selected.length} most common passwords of length >= ${MIN_LENGTH},`,
  '-- NFKC-normalized, lowercased and de-duplicated, in frequency order (ASVS 5.0 V6.2.4: reject',
  '-- at least the top 3,000 most common passwords).',
  `-- Only entries of length >= ${MIN_LENGTH} are kept because the minimum password length of the`,
  `-- service can never be below ${MIN_LENGTH}: shorter passwords are already refused by the length check.`,
  '-- INSERT OR IGNORE leaves entries already present (those operators added too) as they are.',
  ...countNote,
  '--',
  '-- To regenerate: see the header of scripts/build-common-passwords.mjs.',
  statements.join('\n--> statement-breakpoint\n'),
  '',
].join('\n');

mkdirSync(path.dirname(outPath), { recursive: true });
writeFileSync(outPath, output);

console.log(
  `build-common-passwords: wrote ${path.relative(process.cwd(), outPath) || outPath} ` +
    `(${selected.length} entries in ${statements.length} statements, ${Buffer.byteLength(output)} bytes) from ${source}; ` +
    `skipped ${skippedShort} shorter than ${MIN_LENGTH}, ${skippedDuplicate} duplicates, ` +
    `${skippedControl} containing control characters`,
);
