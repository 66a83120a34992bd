#!/usr/bin/env node
// `npm run bench`: edge-auth under plain `workerd serve` (no Node.js in the request path,
// fresh local D1 with the real migrations) beside the bare floor worker of bench/floor/,
// loaded by autocannon in interleaved rounds. See docs/performance.md.
//
//   npm run bench                          compare with the floor, strict/cached/nearest, D1 round trips, bundle + startup
//   npm run bench -- --d1-latency=0,20,80  p50 of protected per D1_READS mode with MS added to every far D1 call
//   npm run bench -- --sizes=1000,1000000  protected and login with that many users seeded
//   npm run bench -- --all                 all of the above
//   npm run bench -- --only=compare,modes,trips,latency,sizes,startup
//   npm run bench -- --only=smoke          no load: each compared scenario's requests sent a few times, statuses checked
//
// Environment: BENCH_SECONDS per measured run (10), BENCH_ROUNDS (3), BENCH_WARMUP seconds before
// each first-round run (2), BENCH_LATENCY_CONNECTIONS (1), BENCH_USERS seeded by default (1000),
// BENCH_KEEP=1 keeps the scratch directory (workerd logs, configs, D1 files).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { benchPasswordHash, seedPasskey, seedUsers } from '../bench/lib/d1.mjs';
import { measure } from '../bench/lib/load.mjs';
import { providerVars } from '../bench/lib/oauth.mjs';
import { BENCH_PASSKEY, ORIGIN as PASSKEY_ORIGIN, RP_ID as PASSKEY_RP_ID } from '../bench/lib/passkey.mjs';
import { run } from '../bench/lib/proc.mjs';
import { fmt, pairedRatio, summarise, table } from '../bench/lib/report.mjs';
import {
  BENCH_ADMIN,
  BENCH_USER,
  BENCH_USER_ID,
  COMPARE,
  TRIP_ROUTES,
  TRIP_SETUP,
  edge,
  floor,
  sendOnce,
  setupEdge,
  setupFloor,
} from '../bench/lib/scenarios.mjs';
import { prepareWorker, startWorker } from '../bench/lib/workerd.mjs';

const { values: flags } = parseArgs({
  options: {
    'd1-latency': { type: 'string' },
    sizes: { type: 'string' },
    only: { type: 'string' },
    all: { type: 'boolean' },
  },
});
const list = (s) => s.split(',').map((v) => Number(v.trim()));
const latencies = list(flags['d1-latency'] ?? '0,20,80');
const sizes = list(flags.sizes ?? '1000,1000000');
const sections = new Set(
  flags.only?.split(',') ??
    (flags.all
      ? ['compare', 'modes', 'trips', 'latency', 'sizes', 'startup']
      : flags['d1-latency'] || flags.sizes
        ? [...(flags['d1-latency'] ? ['latency'] : []), ...(flags.sizes ? ['sizes'] : [])]
        : ['compare', 'modes', 'trips', 'startup']),
);

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
// One connection: p50 is then the request's own latency, not time queued behind others.
const LATENCY_CONNECTIONS = Number(process.env.BENCH_LATENCY_CONNECTIONS ?? 1);
const USERS = Number(process.env.BENCH_USERS ?? 1000);

// Bench-only secret. Registration and login limits lifted so those scenarios measure the work,
// not the throttle (which still counts every attempt: its writes are in the numbers).
const JWT_SECRET = 'bench-only-secret-0123456789abcdefghijklmnopqrstuvwxyz';
const EDGE_VARS = {
  JWT_SECRET,
  REGISTER_IP_MAX: '1000000000',
  REGISTER_WINDOW: '1000000000',
  LOGIN_MAX_FAILURES: '1000',
  LOGIN_IP_MAX_FAILURES: '100000',
  LOGIN_USER_MAX_FAILURES: '1000000',
  // Passkeys for a named RP (the bench reaches the Worker at 127.0.0.1, which cannot be one).
  WEBAUTHN_RP_ID: PASSKEY_RP_ID,
  WEBAUTHN_ORIGINS: PASSKEY_ORIGIN,
  PASSKEY_OPTIONS_IP_MAX: '1000000000',
};
const MODES = {
  strict: { ACCESS_CHECK_CACHE_TTL: '0', D1_READS: 'primary' },
  cached: { ACCESS_CHECK_CACHE_TTL: '5', D1_READS: 'primary' },
  nearest: { ACCESS_CHECK_CACHE_TTL: '0', D1_READS: 'nearest' },
};
/**
 * An instance serving the OAuth provider has an RS256 key, which then signs the service's own
 * tokens too (src/credentials/keys.ts); the other scenarios keep running on HS256 instances,
 * so their numbers stay comparable with earlier runs and with the floor.
 */
const PROVIDER_VARS = providerVars();
/** The latency model's names for the same three modes. */
const LATENCY_MODES = { primary: MODES.strict, nearest: MODES.nearest, cached: MODES.cached };

const scratch = mkdtempSync(join(tmpdir(), 'edge-auth-bench-'));
const running = new Set();
const hash = benchPasswordHash();
const seed = (count, passkey) => async (d1Dir) => {
  await seedUsers(d1Dir, { count, hash, named: [{ username: BENCH_USER }, { username: BENCH_ADMIN, role: 'admin' }] });
  // The floor has no passkeys.
  if (passkey) await seedPasskey(d1Dir, BENCH_USER_ID, BENCH_PASSKEY);
};
const log = (...parts) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...parts);

async function stopAll() {
  await Promise.all([...running].map((i) => i.stop()));
  running.clear();
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => stopAll().finally(() => process.exit(130)));
}

const prepared = new Map();
/** Builds each Worker at most once per run. */
function worker(kind) {
  if (!prepared.has(kind)) {
    const spec = {
      edge: { name: 'edge-auth', configPath: 'wrangler.toml' },
      latency: { name: 'edge-auth', configPath: 'wrangler.toml', main: 'bench/latency-entry.ts' },
      floor: { name: 'edge-auth-bench-floor', configPath: 'bench/floor/wrangler.toml' },
    }[kind];
    log(`building ${kind} (deploy bundle, migrated D1, captured workerd config)`);
    prepared.set(kind, prepareWorker({ ...spec, dir: join(scratch, kind) }));
  }
  return prepared.get(kind);
}

let instanceCount = 0;
async function start(kind, { vars = {}, users = USERS } = {}) {
  const base = kind === 'floor' ? { JWT_SECRET } : EDGE_VARS;
  const dir = join(scratch, `instance-${++instanceCount}-${kind}`);
  const instance = await startWorker(await worker(kind), {
    dir,
    vars: { ...base, ...vars },
    seed: seed(users, kind !== 'floor'),
  });
  running.add(instance);
  return instance;
}
async function stop(...instances) {
  await Promise.all(instances.map((i) => (running.delete(i), i.stop())));
}

/**
 * Runs `plan` (an ordered list of { key, instance, connections, request }) `ROUNDS` times,
 * in that order every round: A B A B. Returns each key's samples, one per round.
 */
async function interleave(plan) {
  const samples = new Map(plan.map((p) => [p.key, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const step of plan) {
      if (round === 1 && WARMUP > 0) {
        await measure(step.instance, { connections: step.connections, seconds: WARMUP, request: step.request() });
      }
      const sample = await measure(step.instance, {
        connections: step.connections,
        seconds: SECONDS,
        request: step.request(),
      });
      samples.get(step.key).push(sample);
      const bad = sample.non2xx + sample.errors ? `  !! ${sample.non2xx} non-2xx, ${sample.errors} errors` : '';
      log(`round ${round}/${ROUNDS} ${step.key}: ${fmt.rps(sample.rps)} rps, p50 ${fmt.ms(sample.p50)}${bad}`);
    }
  }
  return samples;
}

const warnings = (s) => (s.non2xx + s.errors ? ` ⚠ ${s.non2xx} non-2xx, ${s.errors} errors` : '');

// BENCH_SCENARIOS=protected-16,protected-64 runs only those comparisons (a quick A/B).
const compared = process.env.BENCH_SCENARIOS
  ? COMPARE.filter((s) => process.env.BENCH_SCENARIOS.split(',').includes(s.id))
  : COMPARE;

/** The edge-auth instances the compared scenarios run on, set up; an OAuth provider only if one is compared. */
async function startCompared(refreshPool) {
  const a = await start('edge', { vars: MODES.strict });
  const b = await start('floor');
  const o = compared.some((s) => s.provider)
    ? await start('edge', { vars: { ...MODES.strict, ...PROVIDER_VARS } })
    : null;
  const sa = await setupEdge(a, { refreshPool, users: USERS });
  const sb = await setupFloor(b, { users: USERS });
  const so = o && (await setupEdge(o, { users: USERS, oauth: { refreshPool } }));
  const on = (s) => (s.provider ? { instance: o, state: so } : { instance: a, state: sa });
  return { a, b, o, sb, on };
}

async function compareSection() {
  // Every round (and warm-up) ends with up to 16 refreshes in flight whose successors never
  // come back to the pool, so the pool starts with enough tokens for all of them.
  const { a, b, o, sb, on } = await startCompared(16 * (ROUNDS + 2) + 8);
  const plan = [];
  for (const s of compared) {
    const { instance, state } = on(s);
    plan.push({ key: `edge:${s.id}`, instance, connections: s.connections, request: () => edge[s.edge](state) });
    if (s.floor) {
      plan.push({ key: `floor:${s.id}`, instance: b, connections: s.connections, request: () => floor[s.floor](sb) });
    }
  }
  const samples = await interleave(plan);
  await stop(a, b, ...(o ? [o] : []));
  const rows = compared.map((s) => {
    const mine = samples.get(`edge:${s.id}`);
    const theirs = samples.get(`floor:${s.floor ? s.id : s.against}`);
    const [m, t] = [summarise(mine), summarise(theirs)];
    const floorName = s.floor ? '' : ` (floor: ${compared.find((c) => c.id === s.against)?.floor ?? s.against})`;
    return [
      s.title + floorName,
      fmt.rps(t.rps),
      fmt.rps(m.rps) + warnings(m),
      fmt.ratio(pairedRatio(mine, theirs)),
      `${fmt.ms(m.p50)} / ${fmt.ms(m.p99)}`,
      `${fmt.ms(t.p50)} / ${fmt.ms(t.p99)}`,
      `${fmt.cpu(m.cpu)} / ${fmt.cpu(t.cpu)}`,
    ];
  });
  return [
    `### edge-auth (strict) against the floor, ${ROUNDS} interleaved rounds of ${SECONDS} s, medians`,
    '',
    table(
      [
        'scenario',
        'floor rps',
        'edge-auth rps',
        'ratio',
        'edge-auth p50 / p99',
        'floor p50 / p99',
        'workerd CPU per request (edge-auth / floor)',
      ],
      rows,
    ),
  ].join('\n');
}

async function modesSection() {
  const instances = {};
  for (const [mode, vars] of Object.entries(MODES)) instances[mode] = await start('edge', { vars });
  const f = await start('floor');
  const plan = [];
  for (const [mode, instance] of Object.entries(instances)) {
    const state = await setupEdge(instance, { users: USERS });
    plan.push({ key: mode, instance, connections: 16, request: () => edge.protected(state) });
  }
  const sf = await setupFloor(f, { users: USERS });
  plan.push({ key: 'floor', instance: f, connections: 16, request: () => floor.protected(sf) });
  const samples = await interleave(plan);
  await stop(...Object.values(instances), f);
  const rows = Object.keys(MODES).map((mode) => {
    const s = summarise(samples.get(mode));
    return [
      mode,
      fmt.rps(s.rps) + warnings(s),
      fmt.ratio(pairedRatio(samples.get(mode), samples.get('floor'))),
      fmt.ms(s.p50),
      fmt.ms(s.p99),
      fmt.cpu(s.cpu),
    ];
  });
  const f0 = summarise(samples.get('floor'));
  rows.push(['floor (strict)', fmt.rps(f0.rps), '1.00×', fmt.ms(f0.p50), fmt.ms(f0.p99), fmt.cpu(f0.cpu)]);
  return [
    `### GET /auth/protected by mode, 16 connections, ${ROUNDS} interleaved rounds of ${SECONDS} s`,
    '',
    'strict = `ACCESS_CHECK_CACHE_TTL=0 D1_READS=primary`; cached = `ACCESS_CHECK_CACHE_TTL=5`; nearest = `D1_READS=nearest`.',
    '',
    table(['mode', 'rps', '× floor', 'p50', 'p99', 'workerd CPU per request'], rows),
  ].join('\n');
}

async function tripsSection() {
  const columns = Object.keys(LATENCY_MODES);
  const cells = new Map(TRIP_ROUTES.map((r) => [r.title, []]));
  for (const mode of columns) {
    // A provider (TRIP_ROUTES has OAuth routes); its RS256 key changes no round trip.
    const vars = { ...LATENCY_MODES[mode], ...PROVIDER_VARS, BENCH_D1_LATENCY_MS: '0' };
    const instance = await start('latency', { vars });
    const state = await setupEdge(instance, { ...TRIP_SETUP, users: USERS });
    for (const route of TRIP_ROUTES) {
      const res = await sendOnce(instance.url, route.request(state), { 'x-bench-count-d1': '1' });
      const [, far = '?', near = '?'] = /primary=(\d+) replica=(\d+)/.exec(res.headers.get('x-bench-d1') ?? '') ?? [];
      const count = near === '0' ? far : far === '0' ? `${near} replica` : `${far} primary + ${near} replica`;
      cells.get(route.title).push(res.ok ? count : `${count} (HTTP ${res.status})`);
    }
    await stop(instance);
  }
  return [
    '### D1 round trips per request (a batch is one round trip)',
    '',
    table(
      ['request', ...columns],
      TRIP_ROUTES.map((r) => [r.title, ...cells.get(r.title)]),
    ),
  ].join('\n');
}

async function latencySection() {
  const rows = [];
  const sessionRows = [];
  for (const ms of latencies) {
    const plan = [];
    const instances = [];
    for (const [mode, vars] of Object.entries(LATENCY_MODES)) {
      const instance = await start('latency', { vars: { ...vars, BENCH_D1_LATENCY_MS: String(ms) } });
      instances.push(instance);
      // Refresh writes, so it goes to the primary in every mode: measured once, on the strict instance.
      const state = await setupEdge(instance, { users: USERS, refreshPool: mode === 'primary' ? 4 : 0 });
      plan.push({ key: mode, instance, connections: LATENCY_CONNECTIONS, request: () => edge.protected(state) });
      plan.push({
        key: `${mode}:sessions`,
        instance,
        connections: LATENCY_CONNECTIONS,
        request: () => edge.sessions(state),
      });
      if (mode === 'primary') {
        plan.push({ key: 'refresh', instance, connections: LATENCY_CONNECTIONS, request: () => edge.refresh(state) });
      }
    }
    const samples = await interleave(plan);
    await stop(...instances);
    const s = Object.keys(LATENCY_MODES).map((mode) => summarise(samples.get(mode)));
    rows.push([`${ms} ms`, ...s.map((x) => fmt.ms(x.p50) + warnings(x)), ...s.map((x) => fmt.rps(x.rps))]);
    const refresh = summarise(samples.get('refresh'));
    const lists = Object.keys(LATENCY_MODES).map((mode) => summarise(samples.get(`${mode}:sessions`)));
    sessionRows.push([
      `${ms} ms`,
      fmt.ms(refresh.p50) + warnings(refresh),
      ...lists.map((x) => fmt.ms(x.p50) + warnings(x)),
    ]);
  }
  const modes = Object.keys(LATENCY_MODES);
  return [
    `### GET /auth/protected with a far D1 primary, ${LATENCY_CONNECTIONS} connection(s), ${ROUNDS} rounds of ${SECONDS} s`,
    '',
    'Every D1 call to the primary waits the added latency first; reads in a `first-unconstrained` session wait ~1 ms (a replica nearby).',
    '',
    table(['added D1 latency', ...modes.map((m) => `${m} p50`), ...modes.map((m) => `${m} rps`)], rows),
    '',
    `### POST /auth/refresh and GET /auth/sessions with a far D1 primary, same runs`,
    '',
    'A refresh writes, so it always goes to the primary: its p50 is one round trip when it is one batch.',
    '',
    table(['added D1 latency', 'refresh p50', ...modes.map((m) => `sessions list ${m} p50`)], sessionRows),
  ].join('\n');
}

async function sizesSection() {
  const plan = [];
  const instances = [];
  for (const users of sizes) {
    log(`seeding ${users.toLocaleString('en')} users`);
    const instance = await start('edge', { vars: MODES.strict, users });
    instances.push(instance);
    const state = await setupEdge(instance, { users });
    plan.push({ key: `${users}:protected`, instance, connections: 16, request: () => edge.protected(state) });
    plan.push({ key: `${users}:login`, instance, connections: 8, request: () => edge.login(state) });
  }
  const samples = await interleave(plan);
  await stop(...instances);
  const rows = sizes.map((users) => {
    const [p, l] = ['protected', 'login'].map((k) => summarise(samples.get(`${users}:${k}`)));
    return [
      users.toLocaleString('en'),
      fmt.rps(p.rps) + warnings(p),
      fmt.ms(p.p50),
      fmt.rps(l.rps) + warnings(l),
      fmt.ms(l.p50),
    ];
  });
  if (sizes.length > 1) {
    const ratio = (k) => pairedRatio(samples.get(`${sizes.at(-1)}:${k}`), samples.get(`${sizes[0]}:${k}`));
    rows.push([
      `ratio ${sizes.at(-1).toLocaleString('en')} / ${sizes[0].toLocaleString('en')}`,
      fmt.ratio(ratio('protected')),
      '',
      fmt.ratio(ratio('login')),
      '',
    ]);
  }
  return [
    `### Flat with size: strict mode, ${ROUNDS} interleaved rounds of ${SECONDS} s`,
    '',
    table(['users', 'protected rps (16 conn.)', 'protected p50', 'login rps (8 conn.)', 'login p50'], rows),
  ].join('\n');
}

async function startupSection() {
  const { bundle } = await worker('edge');
  const gzip = gzipSync(readFileSync(bundle)).length;
  const raw = readFileSync(bundle).length;
  const out = await run('wrangler', ['check', 'startup', '--outfile', join(scratch, 'worker-startup.cpuprofile')]);
  const active = /Active: ([\d.]+) ms \(including ([\d.]+) ms garbage collection\)/.exec(out);
  const reported = /Bundle: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(out);
  return [
    '### Deploy bundle and startup',
    '',
    table(
      ['measure', 'value'],
      [
        ['deploy bundle (`wrangler deploy --dry-run`), minified', fmt.kib(raw)],
        ['deploy bundle, gzip', fmt.kib(gzip)],
        [
          '`wrangler check startup` bundle / gzip',
          reported ? `${reported[1]} KiB / ${reported[2]} KiB` : 'not reported',
        ],
        [
          '`wrangler check startup` startup CPU (active)',
          active ? `${active[1]} ms (${active[2]} ms GC)` : 'not reported',
        ],
      ],
    ),
  ].join('\n');
}

let smokeFailed = false;
/**
 * No load: each compared scenario's requests (edge-auth's and the floor's) sent a few times one
 * after another with sendOnce, on instances set up as for `compare`, and their statuses
 * checked; a sequence passes when its last answer is 2xx and none is an error. For checking
 * new scenarios on a busy machine; exits non-zero if one fails. Writes no results file.
 */
async function smokeSection() {
  const TIMES = 3;
  const { a, b, o, sb, on } = await startCompared(TIMES + 1);
  const rows = [];
  const check = async (label, instance, request) => {
    const seen = [];
    let ok = true;
    for (let i = 0; i < TIMES; i++) {
      const res = await sendOnce(instance.url, request);
      seen.push(res.statuses.join(' -> '));
      ok &&= res.ok && res.statuses.every((status) => status < 400);
    }
    smokeFailed ||= !ok;
    rows.push([label, seen.join(', '), ok ? 'ok' : 'FAILED']);
  };
  for (const s of compared) {
    const { instance, state } = on(s);
    await check(`edge: ${s.title}`, instance, edge[s.edge](state));
    if (s.floor) await check(`floor: ${s.title}`, b, floor[s.floor](sb));
  }
  await stop(a, b, ...(o ? [o] : []));
  return [
    `### Smoke: each compared scenario sent ${TIMES} times, no load`,
    '',
    table(['scenario', 'statuses', ''], rows),
  ].join('\n');
}

const SECTIONS = {
  compare: compareSection,
  modes: modesSection,
  trips: tripsSection,
  latency: latencySection,
  sizes: sizesSection,
  startup: startupSection,
  smoke: smokeSection,
};

const report = [
  `## edge-auth bench, ${new Date().toISOString()}`,
  '',
  `workerd ${JSON.parse(readFileSync('node_modules/workerd/package.json', 'utf8')).version}, ` +
    `${USERS.toLocaleString('en')} users seeded unless stated, autocannon in one Node process on the same machine.`,
];
const unknown = [...sections].filter((s) => !SECTIONS[s]);
if (unknown.length) {
  rmSync(scratch, { recursive: true, force: true });
  console.error(`unknown section(s) ${unknown.join(', ')}; known: ${Object.keys(SECTIONS).join(', ')}`);
  process.exit(2);
}

/** The Workers each section runs; all are built at the start, side by side (builds mostly wait on tools). */
const NEEDS = {
  compare: ['edge', 'floor'],
  modes: ['edge', 'floor'],
  trips: ['latency'],
  latency: ['latency'],
  sizes: ['edge'],
  startup: ['edge'],
  smoke: ['edge', 'floor'],
};
try {
  await Promise.all([...new Set([...sections].flatMap((s) => NEEDS[s] ?? []))].map(worker));
  for (const name of Object.keys(SECTIONS).filter((s) => sections.has(s))) {
    log(`section ${name}`);
    report.push('', await SECTIONS[name]());
  }
} finally {
  await stopAll();
  if (!process.env.BENCH_KEEP) rmSync(scratch, { recursive: true, force: true });
  else log(`scratch kept in ${scratch}`);
}
const text = report.join('\n') + '\n';
console.log(text);
if (sections.size === 1 && sections.has('smoke')) {
  if (smokeFailed) process.exitCode = 1;
} else {
  const results = resolve('bench/results');
  mkdirSync(results, { recursive: true });
  writeFileSync(join(results, 'latest.md'), text);
  log('written to bench/results/latest.md');
}
