#!/usr/bin/env node
// Maintainer-only generator for src/security/common-passwords.ts (ASVS 5.0 V6.2.4:
// "reject at least the top 3,000 most common passwords"). The generated .ts file is
// committed; this script only needs to be re-run to refresh or change the list.
//
// Source: the "passwords-common" dictionary of @zxcvbn-ts/language-common (MIT), which
// is ordered by frequency (most common first; zxcvbn uses the index as the rank).
// The package is NOT a dependency of this project. Install it anywhere, e.g.
//
//   mkdir -p /tmp/cpw && cd /tmp/cpw && npm init -y && npm install @zxcvbn-ts/language-common@4.1.3
//
// and point the script at the installed package directory:
//
//   node scripts/build-common-passwords.mjs --source /tmp/cpw/node_modules/@zxcvbn-ts/language-common
//   COMMON_PASSWORDS_SOURCE=/tmp/cpw/node_modules/@zxcvbn-ts/language-common node scripts/build-common-passwords.mjs
//
// Without --source / COMMON_PASSWORDS_SOURCE the package is resolved normally (from this
// script's location, then from the current working directory).
//
// Options:
//   --source <dir>   package directory of @zxcvbn-ts/language-common (or first positional arg)
//   --out <file>     output file (default: src/security/common-passwords.ts next to this script)
//
// Requires Node.js 20+. Output is deterministic (no timestamps), so re-running with the
// same package version produces a byte-identical file.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = '@zxcvbn-ts/language-common';
const DICTIONARY_KEY = 'passwords-common';
/** The service's minimum password length can never go below this. */
const MIN_LENGTH = 8;
/** ASVS 5.0 V6.2.4: at least the top 3,000. */
const TARGET_COUNT = 3000;

const scriptDir = path.dirname(fileURLToPath(import.meta.url));
const projectRoot = path.resolve(scriptDir, '..');

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
      console.log('usage: node scripts/build-common-passwords.mjs [--source <package dir>] [--out <file>]');
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
const outPath = path.resolve(opts.out ?? path.join(projectRoot, 'src', 'security', 'common-passwords.ts'));

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
let skippedNewline = 0;
for (const entry of raw) {
  // Same normalization as isCommonPassword() applies to the candidate password.
  const normalized = entry.normalize('NFKC').toLowerCase();
  // UTF-16 length (String#length) is >= the code-point length, so this keeps every entry
  // that could pass an 8-character minimum however the service counts characters.
  if (normalized.length < MIN_LENGTH) {
    skippedShort++;
    continue;
  }
  if (/[\r\n]/.test(normalized)) {
    // Would corrupt the "\n"-joined storage format; cannot be a typed password anyway.
    skippedNewline++;
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
      `// NOTE: the source has only ${selected.length} distinct entries of length >= ${MIN_LENGTH},`,
      `// fewer than the ${TARGET_COUNT} targeted; all of them are included.`,
    ]
  : [];

const output = [
  '// GENERATED FILE - DO NOT EDIT BY HAND.',
  '// Generated by scripts/build-common-passwords.mjs from',
  `// ${source}, dictionary "${DICTIONARY_KEY}"`,
  '// (ordered by frequency, most common first).',
  '//',
  `// Contains the ${selected.length} most common passwords of length >= ${MIN_LENGTH}, NFKC-normalized,`,
  '// lowercased and de-duplicated, in frequency order (ASVS 5.0 V6.2.4: reject at least the',
  '// top 3,000 most common passwords).',
  `// Only entries of length >= ${MIN_LENGTH} are kept because the service's minimum password length`,
  `// can never be below ${MIN_LENGTH}: shorter passwords are already rejected by the length check, so`,
  '// shipping them would only add bundle size.',
  ...countNote,
  '//',
  '// To regenerate: see the header of scripts/build-common-passwords.mjs.',
  '',
  '/** One entry per line, normalized exactly as isCommonPassword normalizes its input. */',
  `const COMMON_PASSWORDS =\n  ${JSON.stringify(selected.join('\n'))};`,
  '',
  `export const COMMON_PASSWORD_COUNT: number = ${selected.length};`,
  '',
  '// Built on first use (once per isolate) so that module evaluation at cold start does no work.',
  'let commonPasswordSet: Set<string> | undefined;',
  '',
  '/**',
  ` * True if \`password\` (after NFKC normalization and lowercasing) is one of the`,
  ` * ${selected.length} most common passwords of length >= ${MIN_LENGTH}. Case-insensitive.`,
  ' */',
  'export function isCommonPassword(password: string): boolean {',
  '  if (commonPasswordSet === undefined) {',
  '    commonPasswordSet = new Set(COMMON_PASSWORDS.split("\\n"));',
  '  }',
  '  return commonPasswordSet.has(password.normalize("NFKC").toLowerCase());',
  '}',
  '',
].join('\n');

mkdirSync(path.dirname(outPath), { recursive: true });
writeFileSync(outPath, output);

console.log(
  `build-common-passwords: wrote ${path.relative(process.cwd(), outPath) || outPath} ` +
    `(${selected.length} entries, ${Buffer.byteLength(output)} bytes) from ${source}; ` +
    `skipped ${skippedShort} shorter than ${MIN_LENGTH}, ${skippedDuplicate} duplicates, ` +
    `${skippedNewline} containing line breaks`,
);
