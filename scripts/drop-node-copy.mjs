#!/usr/bin/env node
// npm runs this after every install that changed node_modules (package.json's `dependencies`
// script, which npm runs for this project only, never where edge-auth is itself a dependency).
//
// The `node` devDependency (Node 22 for the tools, whatever Node runs npm) installs itself with a
// nested `npm install --no-save node-<platform>-<arch>` in node_modules/node, and hard-links that
// package's binary into node_modules/node/bin. npm prunes the nested copy as extraneous on the
// next install anyway; removing it now spares the first install its 65 MB of C headers (for
// compiling native addons, which nothing here does). The linked binary stays.
import { existsSync, rmSync } from 'node:fs';

const node = new URL('../node_modules/node/', import.meta.url);
// Only once the binary is in place: never leave the tools without Node.
if (existsSync(new URL('bin/node', node)) || existsSync(new URL('bin/node.exe', node))) {
  rmSync(new URL('node_modules', node), { recursive: true, force: true });
}
