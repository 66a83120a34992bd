#!/usr/bin/env node
// `npm run bench:legacy-hashes`: what the first login of an imported user costs, per kind
// of legacy hash, in workerd (the runtime of deployed Workers).
//
// Starts `wrangler dev` on bench/legacy-hashes (the verifiers of src/legacy-hashes.ts and
// nothing else) and times sequential requests from outside, since a Worker's clock does not
// advance while it computes. One verification is a request's time minus an empty request's
// (the median of each); on an otherwise idle core that is its CPU time. Run it on an idle
// machine: this is a benchmark, not a test.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const { vectors } = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/legacy-hash-vectors.json'), 'utf8'));
const state = mkdtempSync(join(tmpdir(), 'edge-auth-bench-legacy-'));
const env = {
  ...process.env,
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_REGISTRY_PATH: join(state, 'registry'),
};

const port = await new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
});
const child = spawn(
  'wrangler',
  [
    'dev',
    '-c',
    'bench/legacy-hashes/wrangler.toml',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--persist-to',
    state,
    '--show-interactive-dev-session=false',
  ],
  { cwd: ROOT, env, stdio: 'ignore', detached: true },
);
const stop = () => {
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {}
  rmSync(state, { recursive: true, force: true });
};
process.on('exit', stop);

const base = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(base)).ok) break;
  } catch {}
  if (i > 300) throw new Error('wrangler dev did not start');
  await new Promise((r) => setTimeout(r, 200));
}

async function median(body) {
  const samples = [];
  for (let i = 0; i < ROUNDS + 1; i++) {
    const start = performance.now();
    const res = await fetch(base, body ? { method: 'POST', body: JSON.stringify(body) } : {});
    const text = await res.text();
    if (body && text !== 'true') throw new Error(`${body.hash}: ${res.status} ${text}`);
    if (i > 0) samples.push(performance.now() - start); // the first one warms up
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

const empty = await median(null);
const kinds = [
  'pbkdf2:sha256:50000$',
  'pbkdf2:sha256:260000$',
  'pbkdf2:sha256:600000$',
  'pbkdf2:sha256:1000000$',
  'pbkdf2:sha512:210000$',
  'scrypt:32768:8:1$',
  '$2b$10$',
  '$2b$12$',
];
console.log(`empty request: ${empty.toFixed(1)} ms (median of ${ROUNDS}); per verification, that subtracted:`);
for (const prefix of kinds) {
  const v = vectors.find((x) => x.hash.startsWith(prefix));
  const ms = (await median({ hash: v.hash, password: v.password })) - empty;
  console.log(`  ${prefix.replace(/\$$/, '').padEnd(24)} ${ms.toFixed(0).padStart(6)} ms`);
}
stop();
process.exit(0);
