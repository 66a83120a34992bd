#!/usr/bin/env node
// Builds the Worker's static assets into dist/assets: the demo app (served at /) and the API
// reference (served at /docs). wrangler runs it as the `[build]` command before `wrangler dev`
// and `wrangler deploy`; vitest.config.ts runs it before the tests. Nothing built is committed.
//
//   app/index.html, app.css, favicon.svg, _headers   copied as they are
//   app/src/main.ts        -> app.js        (esbuild: the app and edge-auth/client in one file)
//   app/docs/index.html    -> docs/index.html
//   app/docs/docs.ts       -> docs/docs.js
//   swagger-ui-dist        -> docs/swagger-ui-bundle.js, docs/swagger-ui.css (prebuilt: no CDN at run time)
//   app/oauth/*.html, oauth.css  the OAuth provider's hosted pages (sign-in and consent, logout, device)
//   app/oauth/sign-in.ts   -> oauth/sign-in.js, app/oauth/confirm-logout.ts -> oauth/confirm-logout.js,
//   app/oauth/device.ts    -> oauth/device.js
//   src/http/document.ts   -> openapi.json (the routes' docs, which the Worker's bundle leaves out)
//
// Several builds may run at once (every `wrangler dev` of the e2e tests starts one), so a file
// is only written when its content changed, and then atomically (a temporary file renamed over
// it): a server never reads a half-written asset.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { buildOpenApiDocument } from './lib/openapi-document.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const APP = path.join(ROOT, 'app');
export const ASSETS_DIR = path.join(ROOT, 'dist', 'assets');

const COPIED = {
  'index.html': 'index.html',
  'app.css': 'app.css',
  'favicon.svg': 'favicon.svg',
  _headers: '_headers',
  'docs/index.html': 'docs/index.html',
  'oauth/sign-in.html': 'oauth/sign-in.html',
  'oauth/confirm-logout.html': 'oauth/confirm-logout.html',
  'oauth/device.html': 'oauth/device.html',
  'oauth/oauth.css': 'oauth/oauth.css',
};

async function writeIfChanged(file, contents) {
  const previous = await readFile(file).catch(() => undefined);
  if (previous && Buffer.compare(previous, contents) === 0) return;
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, contents);
  await rename(temporary, file);
}

async function listFiles(dir) {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/** Builds everything into ASSETS_DIR; returns the paths written there, relative to it. */
export async function buildAssets() {
  const outputs = new Map(); // path relative to ASSETS_DIR -> contents

  for (const [from, to] of Object.entries(COPIED)) outputs.set(to, await readFile(path.join(APP, from)));

  const require = createRequire(import.meta.url);
  const swaggerUi = path.dirname(require.resolve('swagger-ui-dist/package.json'));
  for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css']) {
    outputs.set(`docs/${file}`, await readFile(path.join(swaggerUi, file)));
  }

  const built = await esbuild.build({
    entryPoints: {
      app: path.join(APP, 'src/main.ts'),
      'docs/docs': path.join(APP, 'docs/docs.ts'),
      'oauth/sign-in': path.join(APP, 'oauth/sign-in.ts'),
      'oauth/confirm-logout': path.join(APP, 'oauth/confirm-logout.ts'),
      'oauth/device': path.join(APP, 'oauth/device.ts'),
    },
    outdir: ASSETS_DIR,
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: 'linked',
    // Resolves `edge-auth/client` to client/src through app/tsconfig.json's `paths`.
    tsconfig: path.join(APP, 'tsconfig.json'),
    write: false,
    logLevel: 'warning',
  });
  for (const file of built.outputFiles) outputs.set(path.relative(ASSETS_DIR, file.path), Buffer.from(file.contents));
  outputs.set('openapi.json', Buffer.from(`${JSON.stringify(await buildOpenApiDocument(), null, 2)}\n`));

  for (const [relative, contents] of outputs) await writeIfChanged(path.join(ASSETS_DIR, relative), contents);
  // Leftovers of an earlier layout would be served too.
  for (const file of await listFiles(ASSETS_DIR)) {
    const relative = path.relative(ASSETS_DIR, file);
    if (!outputs.has(relative) && !relative.endsWith('.tmp')) await rm(file, { force: true });
  }
  return [...outputs.keys()];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const written = await buildAssets();
  console.log(`build-assets: ${written.length} files in ${path.relative(process.cwd(), ASSETS_DIR) || '.'}`);
}
