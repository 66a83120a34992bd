#!/usr/bin/env node
// `npm run openapi:lint`: lints an OpenAPI document file (scripts/openapi.ts writes the served one)
// so that client generators of any language name things properly. Exits 1 on any error or
// warning.
//
// Redocly's linter (@redocly/openapi-core), which openapi-typescript already installs to read the
// document for the client's types: one OpenAPI toolchain instead of two. Spectral's CLI, used
// before, added 62 MB and 200 packages to node_modules. The rules are Redocly's `recommended`
// set, adjusted to cover what Spectral's `spectral:oas` checked.
//
//   node scripts/openapi-lint.mjs <file>
import path from 'node:path';
import { createConfig, formatProblems, getTotals, lint } from '@redocly/openapi-core';

const RULES = {
  // As spectral:oas: every operation has a description, tags that the document defines, and
  // examples that match their schemas; the document names a contact.
  'operation-description': 'error',
  'operation-tag-defined': 'error',
  'rule/operation-tags': {
    subject: { type: 'Operation', property: 'tags' },
    assertions: { defined: true, minLength: 1 },
    message: 'Every operation has at least one tag.',
    severity: 'error',
  },
  'no-invalid-schema-examples': 'error',
  'no-invalid-parameter-examples': 'error',
  'info-contact': 'error',
  // Not in spectral:oas. The service is not published under a licence, and three public GETs
  // (health, keys, this document) have no client error to document.
  'info-license': 'off',
  'info-license-strict': 'off',
  'operation-4xx-response': 'off',
  // Not in spectral:oas either. The OAuth authorization and end-session endpoints answer with a
  // redirect (302/303) by design (RFC 6749 §4.1.2, OIDC RP-Initiated Logout), never a 2xx.
  'operation-2xx-response': 'off',
};

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/openapi-lint.mjs <file>');
  process.exit(2);
}
const config = await createConfig({ extends: ['recommended'], rules: RULES });
const problems = await lint({ ref: file, config });
const name = path.relative(process.cwd(), file);
if (problems.length > 0) {
  formatProblems(problems, { format: 'stylish', totals: getTotals(problems), version: '', maxProblems: 200 });
  console.error(`openapi:lint: ${problems.length} problem(s) in ${name}`);
  process.exit(1);
}
console.log(`openapi:lint: no errors and no warnings in ${name}`);
