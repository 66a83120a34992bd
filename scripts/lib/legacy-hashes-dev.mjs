// `wrangler dev` with the companion Worker of workers/legacy-hashes beside edge-auth, in one
// process (`wrangler dev -c main -c companion`: the first config is the Worker served, the
// others are reachable through its service bindings). Used by `npm run dev:legacy-hashes` and
// the e2e import test.
//
// The LEGACY_HASHES binding is commented out in wrangler.toml, since `wrangler deploy` refuses
// a binding to a Worker that is not deployed. Unless it has been enabled there, the main config
// is a copy of wrangler.toml with the binding added, written beside it (so every relative path
// in it still holds) as .wrangler-dev-legacy-hashes.toml, which git ignores.
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const COMPANION_CONFIG = 'workers/legacy-hashes/wrangler.toml';
const GENERATED = '.wrangler-dev-legacy-hashes.toml';

/** The `-c` arguments for `wrangler dev` (run in the repository root). */
export function legacyHashesDevConfigs() {
  const main = readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
  if (/^\s*binding\s*=\s*"LEGACY_HASHES"/m.test(main)) return ['-c', 'wrangler.toml', '-c', COMPANION_CONFIG];
  const companion = /^name = "([^"]+)"$/m.exec(readFileSync(path.join(ROOT, COMPANION_CONFIG), 'utf8'))[1];
  const binding = `\n# Added by scripts/lib/legacy-hashes-dev.mjs.\n[[services]]\nbinding = "LEGACY_HASHES"\nservice = "${companion}"\n`;
  // Several servers may start at once (the e2e tests): written whole, then renamed into place.
  const temporary = path.join(ROOT, `${GENERATED}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  writeFileSync(temporary, `# Generated from wrangler.toml; do not edit.\n${main}${binding}`);
  renameSync(temporary, path.join(ROOT, GENERATED));
  return ['-c', GENERATED, '-c', COMPANION_CONFIG];
}
