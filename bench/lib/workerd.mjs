// Runs a Worker the way production runs it: its deploy bundle under plain `workerd serve`,
// with no Node.js in the request path.
//
// workerd's config is what Miniflare would give it, captured once per Worker: `wrangler dev`
// is started on the deploy bundle with MINIFLARE_WORKERD_CONFIG_DEBUG=<file>, which makes
// Miniflare write the config it passes to workerd. From it we keep the user worker and the
// services it reaches (D1, the Cache API), drop Miniflare's entry worker, its outbound proxy,
// dev-only tails and compatibility flags, bind a socket straight to the user worker, and
// serialise it with Miniflare's own serializeConfig for `workerd serve --binary`.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { serializeConfig } from 'miniflare';
import { unstable_readConfig } from 'wrangler';
import { run, toolEnv } from './proc.mjs';

const WORKERD = resolve('node_modules/.bin/workerd');
/** Compatibility flags `wrangler dev` adds for its own tooling; production has none of them. */
const DEV_ONLY_FLAGS = new Set(['streaming_tail_worker', 'tail_worker_user_spans']);
/** Nothing listens here: a service that would call back into Node fails loudly instead. */
const NOWHERE = '127.0.0.1:1';

export const freePort = () =>
  new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });

/**
 * Builds a Worker (its deploy bundle), makes its migrated D1 and captures its workerd config.
 * `configPath` is the Worker's wrangler config; `main` optionally replaces its entry module.
 */
export async function prepareWorker({ name, configPath, main, dir, minify }) {
  mkdirSync(dir, { recursive: true });
  const config = unstable_readConfig({ config: configPath });
  const d1 = config.d1_databases.map((db) => ({
    binding: db.binding,
    database_name: db.database_name,
    database_id: db.database_id,
    migrations_dir: resolve(dirname(configPath), db.migrations_dir ?? 'migrations'),
  }));
  const base = {
    name,
    compatibility_date: config.compatibility_date,
    compatibility_flags: config.compatibility_flags,
    d1_databases: d1,
    vars: config.vars,
  };
  const buildConfig = join(dir, 'build.wrangler.json');
  writeFileSync(
    buildConfig,
    // The build settings of the Worker's own config, so the bundle is the one `wrangler deploy` makes.
    JSON.stringify({
      ...base,
      main: resolve(main ?? config.main),
      minify: minify ?? config.minify,
      keep_names: config.keep_names,
      // Build-time constants (API_DOCS): without them the bundle throws on its first line.
      define: config.define,
    }),
  );
  const bundleDir = join(dir, 'bundle');
  await run('wrangler', ['deploy', '--dry-run', '--outdir', bundleDir, '-c', buildConfig]);
  const template = join(dir, 'd1-template');
  for (const db of d1) {
    await run('wrangler', [
      'd1',
      'migrations',
      'apply',
      db.binding,
      '--local',
      '--persist-to',
      template,
      '-c',
      buildConfig,
    ]);
  }
  // The bundle is named after the entry module (index.js, latency-entry.js, ...).
  const [bundleFile] = readdirSync(bundleDir).filter((f) => f.endsWith('.js'));
  const bundle = join(bundleDir, bundleFile);
  const devConfig = join(dir, 'dev.wrangler.json');
  writeFileSync(devConfig, JSON.stringify({ ...base, main: bundle, no_bundle: true }));
  const captured = await captureWorkerdConfig(name, devConfig, template, join(dir, 'captured.json'));
  return { name, dir, bundle, template, captured, flags: config.compatibility_flags };
}

async function captureWorkerdConfig(name, devConfig, persistTo, file) {
  const [port, inspector] = [await freePort(), await freePort()];
  const args = ['dev', '-c', devConfig, '--ip', '127.0.0.1', '--port', String(port)];
  args.push('--inspector-port', String(inspector), '--persist-to', persistTo);
  const log = openSync(`${file}.log`, 'w');
  const dev = spawn('wrangler', args, {
    env: { ...toolEnv, MINIFLARE_WORKERD_CONFIG_DEBUG: file },
    detached: true,
    stdio: ['ignore', log, log],
  });
  try {
    // Miniflare writes the file right before it starts workerd. wrangler dev runs two
    // Miniflares (its proxy worker's first), so wait for the config that holds our worker.
    let last = -1;
    for (let waited = 0; waited < 60_000; waited += 250) {
      await sleep(250);
      const size = existsSync(file) ? statSync(file).size : -1;
      if (size > 0 && size === last) {
        let config;
        try {
          config = JSON.parse(readFileSync(file, 'utf8'));
        } catch {} // caught mid-write: the next poll sees it whole
        if (config?.services.some((s) => s.name === `core:user:${name}`)) return config;
      }
      last = size;
    }
    throw new Error(`wrangler dev did not write ${file} within 60 s; see ${file}.log`);
  } finally {
    try {
      process.kill(-dev.pid, 'SIGTERM');
    } catch {}
  }
}

const serviceNames = (value, names, found = new Set()) => {
  if (typeof value === 'string') {
    if (names.has(value)) found.add(value);
  } else if (Array.isArray(value)) {
    for (const v of value) serviceNames(v, names, found);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) if (k !== 'esModule') serviceNames(v, names, found);
  }
  return found;
};

/** JSON.stringify turned the config's byte arrays into `{"0":..,"1":..}`: turn them back. */
const revive = (value) => {
  if (Array.isArray(value)) return value.map(revive);
  if (!value || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  if (keys.length > 0 && keys.every((k, i) => k === String(i))) return Uint8Array.from(Object.values(value));
  return Object.fromEntries(keys.map((k) => [k, revive(value[k])]));
};

/**
 * The standalone workerd config for one instance of a prepared Worker: its own copy of the
 * migrated D1 under `dir`, `vars` laid over the Worker's own, a socket on `port`.
 */
export function standaloneConfig(worker, { dir, port, vars }) {
  const services = new Map(worker.captured.services.map((s) => [s.name, structuredClone(s)]));
  const user = [...services.values()].find((s) => s.name === `core:user:${worker.name}`);
  if (!user) throw new Error(`no user worker core:user:${worker.name} in ${worker.dir}/captured.json`);
  const w = user.worker;
  w.compatibilityFlags = (w.compatibilityFlags ?? []).filter((f) => !DEV_ONLY_FLAGS.has(f) || worker.flags.includes(f));
  delete w.tails;
  delete w.streamingTails;
  w.globalOutbound = { name: 'internet' };
  for (const [name, text] of Object.entries(vars)) {
    const binding = w.bindings.find((b) => b.name === name);
    if (binding) binding.text = String(text);
    else w.bindings.push({ name, text: String(text) });
  }
  // Keep only what the user worker reaches.
  const names = new Set(services.keys());
  const keep = new Set([user.name]);
  for (let grew = true; grew;) {
    grew = false;
    for (const name of keep) {
      for (const ref of serviceNames(services.get(name), names)) {
        if (!keep.has(ref)) (keep.add(ref), (grew = true));
      }
    }
  }
  const kept = [...keep].map((name) => services.get(name));
  for (const service of kept) {
    if (service.disk) {
      const sub = service.disk.path.split('/v3/')[1];
      service.disk.path = sub ? join(dir, 'v3', sub) : join(dir, service.name.replace(/\W/g, '_'));
      mkdirSync(service.disk.path, { recursive: true });
    }
    if (service.external && service.name === 'loopback') service.external = { address: NOWHERE, http: {} };
  }
  return {
    ...revive({ extensions: worker.captured.extensions ?? [] }),
    services: revive(kept),
    sockets: [{ name: 'http', address: `127.0.0.1:${port}`, http: {}, service: { name: user.name } }],
  };
}

/** Starts one workerd instance of a prepared Worker on a fresh copy of its D1; resolves when /health answers. */
export async function startWorker(worker, { dir, vars = {}, seed, inspectorPort }) {
  mkdirSync(dir, { recursive: true });
  cpSync(worker.template, dir, { recursive: true });
  if (seed) await seed(join(dir, 'v3', 'd1'));
  const port = await freePort();
  const binary = join(dir, 'config.bin');
  const config = standaloneConfig(worker, { dir, port, vars });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2)); // for reading, with BENCH_KEEP=1
  writeFileSync(binary, serializeConfig(config));
  const log = openSync(join(dir, 'workerd.log'), 'a');
  const inspect = inspectorPort ? [`--inspector-addr=127.0.0.1:${inspectorPort}`] : [];
  const child = spawn(WORKERD, ['serve', '--experimental', '--binary', ...inspect, binary], {
    stdio: ['ignore', log, log],
  });
  const url = `http://127.0.0.1:${port}`;
  const instance = { url, port, dir, child, stop: () => stop(child) };
  for (let waited = 0; ; waited += 100) {
    if (child.exitCode !== null) throw new Error(`workerd exited (${child.exitCode}); see ${dir}/workerd.log`);
    try {
      if ((await fetch(`${url}/health`)).ok) return instance;
    } catch {}
    if (waited > 30_000) {
      stop(child);
      throw new Error(`workerd did not answer /health within 30 s; see ${dir}/workerd.log`);
    }
    await sleep(100);
  }
}

function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once('exit', done);
    child.kill('SIGTERM');
  });
}
