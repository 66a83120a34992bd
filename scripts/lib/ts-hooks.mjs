// Lets a Node script import the service's own TypeScript (src/*.ts), so a rule such as the
// username check exists once: `import './lib/ts-hooks.mjs'` first, then `await import(...)`.
//
// The service is written for a bundler: relative imports name no extension, and a few
// files use TypeScript-only syntax (parameter properties) that Node's built-in type
// stripping refuses. So: an extensionless relative import resolves to its `.ts` file, and
// `.ts` files get Node's own `stripTypeScriptTypes` in transform mode. Node >= 22.15.
import { registerHooks, stripTypeScriptTypes } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Node flags both as experimental; the warnings are noise in a command's output.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name !== 'ExperimentalWarning') console.warn(warning);
});

registerHooks({
  resolve(specifier, context, nextResolve) {
    const fromTs = context.parentURL?.endsWith('.ts');
    if (fromTs && /^\.\.?\//.test(specifier) && !/\.[cm]?[jt]s$|\.json$/.test(specifier)) {
      return nextResolve(`${specifier}.ts`, context);
    }
    return nextResolve(specifier, context);
  },
  load(url, context, nextLoad) {
    if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
    const source = stripTypeScriptTypes(readFileSync(fileURLToPath(url), 'utf8'), { mode: 'transform' });
    return { format: 'module', source, shortCircuit: true };
  },
});
