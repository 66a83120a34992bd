// The wrangler configuration `npm run dev` serves: wrangler.toml as it is, plus what local
// development wants on that a deploy must not get by default.
//
// - Email: a `[[send_email]]` binding EMAIL. wrangler.toml leaves email off until the operator
//   sets it up (a deploy with it would send real mail); locally Miniflare sends nothing and
//   writes each mail to a file under .wrangler/tmp/email/, printing the file's path in the dev
//   console ("Text: …/email-text/<id>.txt"), so forgot-password, address verification and the
//   security notices work with no setup. EMAIL_FROM comes as a --var (devVarArgs), unless the
//   developer set it in .dev.vars or wrangler.toml.
// - The companion Worker of workers/legacy-hashes (`npm run dev:legacy-hashes`, the e2e import
//   test): `wrangler dev -c main -c companion`, the first config the Worker served, the others
//   reachable through its service bindings. The LEGACY_HASHES binding is commented out in
//   wrangler.toml, since `wrangler deploy` refuses a binding to a Worker that is not deployed.
//
// What wrangler.toml already has is not added again. The result is a copy of wrangler.toml,
// written beside it (so every relative path in it still holds) as .wrangler-dev-<parts>.toml,
// which git ignores.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const COMPANION_CONFIG = 'workers/legacy-hashes/wrangler.toml';
/** The sender of local mail: a reserved name (.localhost) that no real mail can come from. */
export const DEV_EMAIL_FROM = 'noreply@edge-auth.localhost';

const uncommented = (toml, pattern) => new RegExp(`^\\s*${pattern}`, 'm').test(toml);

/** The `-c` arguments for `wrangler dev` (run in the repository root). */
export function devConfigs({ legacyHashes = false, email = true } = {}) {
  const main = readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
  const added = [];
  if (email && !uncommented(main, 'name\\s*=\\s*"EMAIL"')) {
    added.push(['email', '[[send_email]]\nname = "EMAIL"']);
  }
  if (legacyHashes && !uncommented(main, 'binding\\s*=\\s*"LEGACY_HASHES"')) {
    const companion = /^name = "([^"]+)"$/m.exec(readFileSync(path.join(ROOT, COMPANION_CONFIG), 'utf8'))[1];
    added.push(['legacy-hashes', `[[services]]\nbinding = "LEGACY_HASHES"\nservice = "${companion}"`]);
  }
  const companionConfig = legacyHashes ? ['-c', COMPANION_CONFIG] : [];
  if (added.length === 0) return legacyHashes ? ['-c', 'wrangler.toml', ...companionConfig] : [];
  const generated = `.wrangler-dev-${added.map(([part]) => part).join('-')}.toml`;
  const text = added.map(([, toml]) => `\n# Added by scripts/lib/dev-config.mjs.\n${toml}\n`).join('');
  // Several servers may start at once (the e2e tests): written whole, then renamed into place.
  const temporary = path.join(ROOT, `${generated}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  writeFileSync(temporary, `# Generated from wrangler.toml; do not edit.\n${main}${text}`);
  renameSync(temporary, path.join(ROOT, generated));
  return ['-c', generated, ...companionConfig];
}

/**
 * The `--var` arguments for `wrangler dev`: EMAIL_FROM for local mail, unless the developer
 * chose one (a --var would win over theirs in .dev.vars).
 */
export function devVarArgs({ email = true } = {}) {
  if (!email) return [];
  const main = readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
  const devVarsFile = path.join(ROOT, '.dev.vars');
  const local = existsSync(devVarsFile) ? readFileSync(devVarsFile, 'utf8') : '';
  if (uncommented(main, 'EMAIL_FROM\\s*=') || /^EMAIL_FROM=/m.test(local)) return [];
  return ['--var', `EMAIL_FROM:${DEV_EMAIL_FROM}`];
}
