#!/usr/bin/env node
// `npm run bench`: measures what each kind of request costs, as ratios against a baseline
// measured in the same run (absolute times on a shared machine mean little).
//
// Starts a real `wrangler dev` on a free loopback port with a throw-away D1, then times
// sequential requests (bounded by count and by time):
//   baseline   GET /health          one trivial D1 query
//   protected  GET /auth/protected  JWT verify + one D1 primary-key read
//   refresh    POST /auth/refresh   rotation: one read + one batched write
//   login      POST /auth/login     one PBKDF2 run (100,000 iterations) + D1
// and the size of the bundle `wrangler deploy --dry-run` would upload.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 200);
const MAX_MS_PER_CASE = Number(process.env.BENCH_MAX_MS ?? 20_000);
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' };
const state = mkdtempSync(join(tmpdir(), 'edge-auth-bench-'));

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

function bundleSize() {
  const out = join(state, 'bundle');
  const result = spawnSync('wrangler', ['deploy', '--dry-run', '--outdir', out], { env, encoding: 'utf8' });
  if (result.status !== 0) return null;
  const files = readdirSync(out).filter((f) => f.endsWith('.js'));
  const bytes = files.reduce((n, f) => n + statSync(join(out, f)).size, 0);
  const gzip = files.reduce((n, f) => n + gzipSync(readFileSync(join(out, f))).length, 0);
  return { bytes, gzip };
}

async function time(name, fn) {
  const samples = [];
  const deadline = Date.now() + MAX_MS_PER_CASE;
  for (let i = 0; i < 5; i++) await fn(); // warm-up
  for (let i = 0; i < ROUNDS && Date.now() < deadline; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return {
    name,
    n: samples.length,
    median: samples[Math.floor(samples.length / 2)],
    p90: samples[Math.floor(samples.length * 0.9)],
  };
}

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
spawnSync('wrangler', ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', state], { env, stdio: 'ignore' });
const dev = spawn(
  'wrangler',
  [
    'dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--persist-to',
    state,
    '--var',
    `JWT_SECRET:${'b'.repeat(48)}`,
    '--var',
    'LOGIN_MAX_FAILURES:1000',
  ],
  { env, detached: true, stdio: 'ignore' },
);

try {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/health`)).ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error('wrangler dev did not come up');
    await new Promise((r) => setTimeout(r, 250));
  }
  const post = (path, body) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  const creds = { username: 'bench_user', password: 'a-long-and-unusual-passphrase' };
  await post('/auth/register', creds);
  let tokens = await (await post('/auth/login', creds)).json();

  const results = [
    await time('baseline  GET /health', async () => (await fetch(`${base}/health`)).arrayBuffer()),
    await time('protected GET /auth/protected', async () =>
      (
        await fetch(`${base}/auth/protected`, { headers: { Authorization: `Bearer ${tokens.access_token}` } })
      ).arrayBuffer(),
    ),
    await time('refresh   POST /auth/refresh', async () => {
      tokens = await (await post('/auth/refresh', { refresh_token: tokens.refresh_token })).json();
    }),
    await time('login     POST /auth/login', async () => (await post('/auth/login', creds)).arrayBuffer()),
  ];
  const baseline = results[0].median;
  console.log(`rounds per case: up to ${ROUNDS} (sequential, loopback, local workerd)\n`);
  console.log('case                            median ms    p90 ms   x baseline');
  for (const r of results) {
    console.log(
      `${r.name.padEnd(32)}${r.median.toFixed(2).padStart(9)}${r.p90.toFixed(2).padStart(10)}${(r.median / baseline).toFixed(2).padStart(12)}   (n=${r.n})`,
    );
  }
  const size = bundleSize();
  if (size)
    console.log(`\nworker bundle: ${(size.bytes / 1024).toFixed(1)} KiB, ${(size.gzip / 1024).toFixed(1)} KiB gzipped`);
} finally {
  try {
    process.kill(-dev.pid, 'SIGTERM');
  } catch {}
  rmSync(state, { recursive: true, force: true });
}
