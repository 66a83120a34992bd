#!/usr/bin/env node
// `npm run bench:profile [-- --route=/auth/protected --seconds=10 --worker=edge|floor]`: where a
// request's CPU goes, in edge-auth or in the floor it is compared with (route /protected there).
// Starts the deploy bundle under plain workerd with its inspector on, loads one route with
// autocannon (16 connections), records a V8 CPU profile of the Worker over that load through
// the inspector (Chrome DevTools protocol), and prints the functions with the most self time.
// The raw profile is written to bench/results/<route>.cpuprofile for Chrome DevTools.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { BENCH_ADMIN, BENCH_USER, setupEdge, setupFloor } from './lib/scenarios.mjs';
import { benchPasswordHash, seedUsers } from './lib/d1.mjs';
import { freePort, prepareWorker, startWorker } from './lib/workerd.mjs';

const arg = (name, fallback) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const floor = arg('worker', 'edge') === 'floor';
const route = arg('route', floor ? '/protected' : '/auth/protected');
const seconds = Number(arg('seconds', 10));
const vars = {
  JWT_SECRET: 'bench-only-secret-0123456789abcdefghijklmnopqrstuvwxyz',
  LOGIN_MAX_FAILURES: '1000',
  ACCESS_CHECK_CACHE_TTL: arg('cache', '0'),
};

const scratch = mkdtempSync(join(tmpdir(), 'edge-auth-profile-'));
// Unminified, so the profile names our functions (minified code runs the same JIT paths).
const worker = await prepareWorker({
  name: floor ? 'edge-auth-bench-floor' : 'edge-auth',
  configPath: floor ? 'bench/floor/wrangler.toml' : 'wrangler.toml',
  dir: join(scratch, floor ? 'floor' : 'edge'),
  minify: false,
});
const inspectorPort = await freePort();
const hash = benchPasswordHash();
const instance = await startWorker(worker, {
  dir: join(scratch, 'instance'),
  vars,
  inspectorPort,
  seed: (d1Dir) =>
    seedUsers(d1Dir, { count: 100, hash, named: [{ username: BENCH_USER }, { username: BENCH_ADMIN, role: 'admin' }] }),
});

try {
  const state = floor ? await setupFloor(instance, { users: 100 }) : await setupEdge(instance, { users: 100 });
  const headers = { authorization: `Bearer ${route.startsWith('/admin') ? state.adminToken : state.userToken}` };
  const load = (duration) => autocannon({ url: instance.url + route, connections: 16, duration, headers });

  const [target] = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve);
    ws.addEventListener('error', reject);
  });
  let id = 0;
  const pending = new Map();
  ws.addEventListener('message', (e) => {
    const message = JSON.parse(e.data);
    pending.get(message.id)?.(message.result);
    pending.delete(message.id);
  });
  const call = (method, params = {}) =>
    new Promise((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });

  await load(2); // warm-up: JIT and caches as in a long-lived isolate
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 100 });
  await call('Profiler.start');
  const result = await load(seconds);
  const { profile } = await call('Profiler.stop');
  ws.close();

  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/${floor ? 'floor_' : ''}${route.replaceAll('/', '_').replace(/^_/, '')}.cpuprofile`;
  writeFileSync(file, JSON.stringify(profile));

  // Self time per function, over the samples that were not idle.
  const self = new Map();
  const weight = new Map();
  profile.samples.forEach((node, i) => weight.set(node, (weight.get(node) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.split('/').pop()}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + (weight.get(node.id) ?? 0));
  }
  const busy = [...self].filter(([key]) => key !== '(idle)');
  const total = busy.reduce((sum, [, us]) => sum + us, 0);
  console.log(`${route}: ${(result.requests.total / result.duration).toFixed(0)} rps, profile in ${file}`);
  console.log(
    `busy CPU per request: ${(total / 1000 / result.requests.total).toFixed(3)} ms (JS and native, in the Worker's thread)`,
  );
  for (const [key, us] of busy.sort((a, b) => b[1] - a[1]).slice(0, Number(arg('top', 30)))) {
    console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${key}`);
  }
} finally {
  await instance.stop();
}
