/**
 * edge-auth/client as a team gets it, from either install path the README names:
 * - `npm pack`, the tarball installed into a fresh project, and used from Node in body mode
 *   against a real `wrangler dev`:
 *   - the tarball holds the built client only, and needs nothing at run time but openapi-fetch;
 *   - a TypeScript project type-checks against its declarations (paths are really typed);
 *   - the client signs in, refreshes once for parallel calls after every access token died,
 *     and lets Node exit although a refresh is scheduled;
 *   - examples/node-client.mjs works as its header says (sign in, restore, log out);
 * - `npm install git+file://…#<commit>` of a clone of the current commit: the committed
 *   client/dist arrives whole, without npm installing this repo's devDependencies to build it,
 *   and type-checks under every `moduleResolution` a team may use; and client/dist is what
 *   client/src builds to now.
 *
 * Run: npx vitest run test/e2e/client-package.test.ts
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  BIN,
  ROOT,
  childEnv,
  run,
  startWranglerDev,
  uniqueName,
  useScratchDir,
  type Result,
  type Server,
} from './support';

const JWT_SECRET = `e2e-${crypto.randomUUID()}-${crypto.randomUUID()}`;
const PASSWORD = 'a-long-and-unusual-passphrase';
const INSTALL_TIMEOUT_MS = 120_000;

const scratch = useScratchDir('client-package');
let consumer = '';
let tarball = '';
let wrangler: Server | undefined;

/**
 * The machine's own `node` rather than the repo's Node 22 devDependency (first on PATH under
 * npm): the client promises Node >= 20.
 */
function systemNode(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir.includes('node_modules')) continue;
    if (existsSync(path.join(dir, 'node'))) return path.join(dir, 'node');
  }
  return 'node';
}

const inConsumer = (command: string, args: string[], env: Record<string, string> = {}) =>
  run(command, args, { cwd: consumer, env: { ...childEnv(scratch()), ...env }, timeoutMs: INSTALL_TIMEOUT_MS });

async function packAndInstall() {
  const packed = await run('npm', ['pack', '--pack-destination', scratch()], {
    cwd: ROOT,
    env: childEnv(scratch()),
    timeoutMs: INSTALL_TIMEOUT_MS,
  });
  expect(packed.code, packed.output).toBe(0);
  const name = (await readdir(scratch())).find((f) => f.endsWith('.tgz'));
  expect(name, packed.output).toBeDefined();
  tarball = path.join(scratch(), name!);

  consumer = path.join(scratch(), 'consumer');
  await mkdir(consumer);
  await writeFile(
    path.join(consumer, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  const installed = await inConsumer('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund']);
  expect(installed.code, installed.output).toBe(0);
}

let gitConsumer = '';
let gitInstall: Result;

/**
 * A clone of the current commit (not the working tree: uncommitted changes are not in it),
 * installed as a team installs from the repository, `npm install git+https://…#<commit>`.
 */
async function installFromGit() {
  const env = childEnv(scratch());
  const repo = path.join(scratch(), 'repo');
  const git = (args: string[], cwd = ROOT) => run('git', args, { cwd, env, timeoutMs: INSTALL_TIMEOUT_MS });
  const sha = (await git(['rev-parse', 'HEAD'])).output.trim();
  expect(sha).toMatch(/^[0-9a-f]{40}$/);
  const cloned = await git(['clone', '--quiet', '--no-checkout', ROOT, repo]);
  expect(cloned.code, cloned.output).toBe(0);
  // HEAD may be detached (CI): give its commit a branch, so npm's own clone of `repo` has it.
  const fetched = await git(['fetch', '--quiet', ROOT, '+HEAD:refs/heads/under-test'], repo);
  expect(fetched.code, fetched.output).toBe(0);

  gitConsumer = path.join(scratch(), 'git-consumer');
  await mkdir(gitConsumer);
  await writeFile(
    path.join(gitConsumer, 'package.json'),
    JSON.stringify({ name: 'git-consumer', private: true, type: 'module' }),
  );
  gitInstall = await run(
    'npm',
    ['install', `git+file://${repo}#${sha}`, '--prefer-offline', '--no-audit', '--no-fund'],
    { cwd: gitConsumer, env, timeoutMs: INSTALL_TIMEOUT_MS },
  );
}

beforeAll(async () => {
  const state = path.join(scratch(), 'state');
  await mkdir(state);
  // wrangler's start beside npm's pack and installs (one npm at a time: they share the cache and the CPU).
  const [server] = await Promise.all([startWranglerDev(state, { JWT_SECRET }), packAndInstall().then(installFromGit)]);
  wrangler = server;
}, 2 * INSTALL_TIMEOUT_MS);

afterAll(async () => {
  await wrangler?.stop();
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => console.error(`--- wrangler dev output ---\n${wrangler?.output ?? ''}`));
});

describe('edge-auth/client from its npm tarball', () => {
  it('holds only the built client, and depends at run time on openapi-fetch alone', async () => {
    const listed = await run('tar', ['-tzf', tarball], { cwd: scratch(), env: childEnv(scratch()) });
    const files = listed.output.trim().split('\n').sort();
    expect(files).toContain('package/client/dist/index.js');
    expect(files).toContain('package/client/dist/index.d.ts');
    expect(files).toContain('package/client/dist/schema.d.ts');
    expect(files.filter((f) => !f.startsWith('package/client/dist/'))).toEqual([
      'package/README.md',
      'package/package.json',
    ]);
    const manifest = JSON.parse(
      (await run('tar', ['-xzOf', tarball, 'package/package.json'], { cwd: scratch(), env: childEnv(scratch()) }))
        .output,
    );
    expect(Object.keys(manifest.dependencies)).toEqual(['openapi-fetch']);
    expect(manifest.exports['./client']).toMatchObject({ types: './client/dist/index.d.ts' });
  });

  it('type-checks a TypeScript project against it, with every path typed', async () => {
    await writeFile(
      path.join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2022', 'DOM'],
          types: [],
          strict: true,
          noEmit: true,
        },
        files: ['check.ts'],
      }),
    );
    await writeFile(
      path.join(consumer, 'check.ts'),
      `import { createEdgeAuthClient, EdgeAuthError, type User } from 'edge-auth/client';
const auth = createEdgeAuthClient({ baseUrl: 'http://127.0.0.1:8787' });
const { data } = await auth.api.GET('/auth/me');
export const name: string | undefined = data?.user.username;
export const user: User | null = auth.user;
// @ts-expect-error: not a route of the service
await auth.api.GET('/auth/no-such-route');
// @ts-expect-error: roles are 'user' and 'admin'
export const role: 'root' | undefined = data?.user.role;
export const code = (e: EdgeAuthError): string => e.problem.code;
`,
    );
    const checked = await inConsumer(path.join(BIN, 'tsc'), ['-p', '.']);
    expect(checked.code, checked.output).toBe(0);
  });

  it('signs in from Node, shares one refresh among parallel calls, and lets Node exit', async () => {
    await writeFile(
      path.join(consumer, 'use.mjs'),
      `import { createEdgeAuthClient, EdgeAuthError } from 'edge-auth/client';
const [baseUrl, username, password] = process.argv.slice(2);
const calls = [];
const auth = createEdgeAuthClient({
  baseUrl,
  fetch: (request) => (calls.push(request.method + ' ' + new URL(request.url).pathname), fetch(request)),
});
const out = { node: process.version };
out.registered = (await auth.register({ username, password })).user.username;
out.taken = await auth.register({ username, password }).catch((e) => e instanceof EdgeAuthError && e.name + ' ' + e.status + ' ' + e.code);
await auth.login({ username, password });
out.greeting = (await auth.api.GET('/auth/protected')).data?.message;
// Every access token dies, the session lives on: the next calls refresh once and retry.
out.changed = (await auth.api.POST('/auth/password', { body: { current_password: password, new_password: password + '-2' } })).response.status;
const results = await Promise.all([1, 2, 3].map(() => auth.api.GET('/auth/me')));
out.parallel = results.map((r) => r.response.status);
out.refreshes = calls.filter((c) => c === 'POST /auth/refresh').length;
console.log(JSON.stringify(out));
// No logout: the refresh scheduled for 14 minutes from now must not keep Node running.
`,
    );
    const username = uniqueName('node');
    const used = await inConsumer(systemNode(), ['use.mjs', wrangler!.baseUrl, username, PASSWORD]);
    expect(used.code, used.output).toBe(0);
    const out = JSON.parse(used.output.trim().split('\n').pop()!);
    expect(out).toMatchObject({
      registered: username,
      taken: 'EdgeAuthError 409 username_taken',
      greeting: `Hello, ${username}!`,
      changed: 204,
      parallel: [200, 200, 200],
      refreshes: 1,
    });
  });

  it('runs examples/node-client.mjs: sign in, restore from the stored refresh token, log out', async () => {
    await copyFile(path.join(ROOT, 'examples', 'node-client.mjs'), path.join(consumer, 'node-client.mjs'));
    const sessionFile = path.join(scratch(), 'session');
    const username = uniqueName('example');
    const example = (args: string[], env: Record<string, string> = {}) =>
      inConsumer(systemNode(), ['node-client.mjs', username, ...args], {
        EDGE_AUTH_URL: wrangler!.baseUrl,
        EDGE_AUTH_SESSION_FILE: sessionFile,
        ...env,
      });

    const first = await example([], { EDGE_AUTH_PASSWORD: PASSWORD });
    expect(first.code, first.output).toBe(0);
    expect(first.output).toContain(`Signed in as ${username} (user) with password`);
    expect(existsSync(sessionFile)).toBe(true);

    const second = await example(['--logout']);
    expect(second.code, second.output).toBe(0);
    expect(second.output).toContain(`Signed in as ${username} (user) with restored session`);
    expect(second.output).toContain('Active sessions: 1');
    expect(second.output).toContain('Logged out');
    expect(existsSync(sessionFile)).toBe(false);

    const third = await example([]);
    expect(third.code).toBe(1);
    expect(third.output).toContain('No stored session');
  });
});

describe('edge-auth/client from the git repository', () => {
  it('installs the committed build, without running a script or installing the devDependencies', async () => {
    expect(gitInstall.code, gitInstall.output).toBe(0);
    // npm's allowScripts policy would flag a `prepare` of a git dependency (and refuse it under
    // strict-allow-scripts); there is none to flag.
    expect(gitInstall.output).not.toMatch(/install-scripts|prepare/);
    const installed = path.join(gitConsumer, 'node_modules', 'edge-auth');
    expect((await readdir(path.join(installed, 'client', 'dist'))).sort()).toEqual(
      (await readdir(path.join(ROOT, 'client', 'dist'))).sort(),
    );
    // Any of these in the manifest makes npm run `npm install` (every devDependency: minutes,
    // most of a gigabyte) in its clone of a git dependency before packing it.
    const manifest = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8'));
    for (const script of ['preinstall', 'install', 'postinstall', 'prepare', 'prepack', 'build']) {
      expect(manifest.scripts, script).not.toHaveProperty(script);
    }

    const imported = await run(
      systemNode(),
      [
        '--input-type=module',
        '-e',
        "const m = await import('edge-auth/client'); console.log(Object.keys(m).sort().join(' '))",
      ],
      { cwd: gitConsumer, env: childEnv(scratch()) },
    );
    expect(imported.code, imported.output).toBe(0);
    expect(imported.output.trim()).toBe('EdgeAuthError createEdgeAuthClient unwrap webauthn');
  });

  it('type-checks with moduleResolution nodenext, bundler and node10', async () => {
    // No top-level await: the node10 project compiles to CommonJS.
    await writeFile(
      path.join(gitConsumer, 'check.ts'),
      `import { createEdgeAuthClient, EdgeAuthError, unwrap, type User } from 'edge-auth/client';
export async function main(): Promise<string | null> {
  const auth = createEdgeAuthClient({ baseUrl: 'http://127.0.0.1:8787' });
  const me: { user: User } = await unwrap(auth.api.GET('/auth/me'));
  // @ts-expect-error: not a route of the service
  await auth.api.GET('/auth/no-such-route');
  try {
    await auth.login({ username: me.user.username, password: 'a-long-and-unusual-passphrase' });
  } catch (err) {
    if (err instanceof EdgeAuthError && err.problem.code === 'mfa_required') {
      const token: string = err.problem.mfa_token;
      return token;
    }
  }
  return null;
}
`,
    );
    const settings = {
      nodenext: { module: 'NodeNext', moduleResolution: 'NodeNext' },
      bundler: { module: 'ESNext', moduleResolution: 'Bundler' },
      node10: { module: 'CommonJS', moduleResolution: 'Node10' },
    };
    const results = await Promise.all(
      Object.entries(settings).map(async ([name, options]) => {
        await writeFile(
          path.join(gitConsumer, `tsconfig.${name}.json`),
          JSON.stringify({
            compilerOptions: {
              target: 'ES2022',
              lib: ['ES2022', 'DOM'],
              types: [],
              strict: true,
              noEmit: true,
              ...options,
            },
            files: ['check.ts'],
          }),
        );
        const checked = await run(path.join(BIN, 'tsc'), ['-p', `tsconfig.${name}.json`], {
          cwd: gitConsumer,
          env: childEnv(scratch()),
          timeoutMs: INSTALL_TIMEOUT_MS,
        });
        return { name, code: checked.code, output: checked.output };
      }),
    );
    expect(results).toEqual(Object.keys(settings).map((name) => ({ name, code: 0, output: '' })));
  });

  it('ships in client/dist exactly what client/src builds to now (npm run client:build)', async () => {
    const outDir = path.join(scratch(), 'client-dist');
    const built = await run(path.join(BIN, 'tsc'), ['-p', 'client', '--outDir', outDir], {
      cwd: ROOT,
      env: childEnv(scratch()),
      timeoutMs: INSTALL_TIMEOUT_MS,
    });
    expect(built.code, built.output).toBe(0);
    const files = (await readdir(outDir)).sort();
    expect((await readdir(path.join(ROOT, 'client', 'dist'))).sort(), 'run `npm run client:build`').toEqual(files);
    for (const file of files) {
      const committed = await readFile(path.join(ROOT, 'client', 'dist', file), 'utf8');
      expect(committed, `client/dist/${file} is stale: run \`npm run client:build\``).toBe(
        await readFile(path.join(outDir, file), 'utf8'),
      );
    }
  });
});
