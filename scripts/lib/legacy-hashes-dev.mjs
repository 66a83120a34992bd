// `wrangler dev` with the companion Worker of workers/legacy-hashes beside edge-auth, in one
// process, as the e2e import test runs it (scripts/lib/dev-config.mjs says how; `npm run
// dev:legacy-hashes` adds local email to it).
import { devConfigs } from './dev-config.mjs';

export { COMPANION_CONFIG } from './dev-config.mjs';

/** The `-c` arguments for `wrangler dev` (run in the repository root). */
export function legacyHashesDevConfigs() {
  return devConfigs({ legacyHashes: true, email: false });
}
