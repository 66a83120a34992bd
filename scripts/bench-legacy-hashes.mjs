#!/usr/bin/env node
// `npm run bench:legacy-hashes`: what the first login of an imported user costs, per kind
// of legacy hash, in workerd (the runtime of deployed Workers).
//
// Starts `wrangler dev` on bench/legacy-hashes (the verifiers of src/credentials/legacy-hashes.ts and
// nothing else) and measures from outside, since a Worker's clock does not advance while it
// computes: the CPU time the workerd process spent (Linux /proc, all its threads) over
// BENCH_ROUNDS sequential verifications, less that of as many empty requests. CPU time, not
// wall time, so other load on the machine barely changes it. A benchmark, not a test.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
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

/** utime + stime of every workerd that wrangler started (its process group), in ms. */
function cpuMs() {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (stat.includes('(workerd)') && Number(fields[2]) === child.pid)
        ticks += Number(fields[11]) + Number(fields[12]);
    } catch {}
  }
  // Clock ticks of 10 ms (USER_HZ is 100 on Linux).
  return ticks * 10;
}

/** CPU ms per request, over ROUNDS sequential requests after one to warm up. */
async function cpuPerRequest(body) {
  const request = async () => {
    const res = await fetch(base, body ? { method: 'POST', body: JSON.stringify(body) } : {});
    const text = await res.text();
    if (body && text !== 'true') throw new Error(`${body.hash}: ${res.status} ${text}`);
  };
  await request();
  const start = cpuMs();
  for (let i = 0; i < ROUNDS; i++) await request();
  return (cpuMs() - start) / ROUNDS;
}

const empty = await cpuPerRequest(null);
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
console.log(
  `CPU time per verification in workerd (mean of ${ROUNDS}, less an empty request's ${empty.toFixed(1)} ms):`,
);
for (const prefix of kinds) {
  const v = vectors.find((x) => x.hash.startsWith(prefix));
  const ms = (await cpuPerRequest({ hash: v.hash, password: v.password })) - empty;
  console.log(`  ${prefix.replace(/\$$/, '').padEnd(24)} ${ms.toFixed(0).padStart(6)} ms`);
}
stop();
process.exit(0);
