/**
 * The source tree reads as the system's parts (docs/development.md): the HTTP layer calls into
 * the parts below it, never the other way, and no two modules import each other, even for types
 * (a cycle is where a layer boundary has already gone).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support';

const SRC = path.join(ROOT, 'src');

/** Every module of src/ with the modules of src/ it imports (static and type imports alike). */
async function importGraph(): Promise<Map<string, string[]>> {
  const files = (await readdir(SRC, { recursive: true }))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(SRC, f));
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    const targets = [...text.matchAll(/from\s+'(\.[^']+)'/g)]
      .map((match) => path.resolve(path.dirname(file), match[1]!))
      .flatMap((base) => [base + '.ts', path.join(base, 'index.ts')].filter((candidate) => known.has(candidate)));
    graph.set(file, targets);
  }
  return graph;
}

const name = (file: string) => path.relative(ROOT, file);

describe('src/', () => {
  it('has no import cycle', async () => {
    const graph = await importGraph();
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'open');
      stack.push(file);
      for (const target of graph.get(file) ?? []) {
        if (state.get(target) === 'open')
          cycles.push([...stack.slice(stack.indexOf(target)), target].map(name).join(' -> '));
        else if (!state.has(target)) visit(target);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });

  it('imports the HTTP layer only from the HTTP layer and the entry point', async () => {
    const graph = await importGraph();
    const http = path.join(SRC, 'http') + path.sep;
    const upward = [...graph]
      .filter(([file]) => !file.startsWith(http) && file !== path.join(SRC, 'index.ts'))
      .flatMap(([file, targets]) =>
        targets.filter((t) => t.startsWith(http)).map((t) => `${name(file)} -> ${name(t)}`),
      );
    expect(upward).toEqual([]);
  });

  it('imports zod as zod/mini only: classic zod would put its JSON Schema generator in the Worker', async () => {
    // Classic zod attaches toJSONSchema to every schema it builds, so it is bundled whether or not
    // anything calls it; only the build-time OpenAPI document (openapi.ts) needs it, from zod/mini.
    const allowed = new Set(['zod/mini', 'zod/v4/core', 'zod/v4/locales/en.js']);
    const files = (await readdir(SRC, { recursive: true })).filter((f) => f.endsWith('.ts'));
    const imports: string[] = [];
    for (const file of files) {
      const text = await readFile(path.join(SRC, file), 'utf8');
      for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*)'(zod(?:\/[^']*)?)'/g)) {
        if (!allowed.has(match[1]!)) imports.push(`src/${file}: ${match[1]}`);
      }
    }
    expect(files.length).toBeGreaterThan(0);
    expect(imports).toEqual([]);
  });

  it('keeps no loose module at its top level but the entry point', async () => {
    const entries = await readdir(SRC, { withFileTypes: true });
    expect(entries.filter((entry) => entry.isFile()).map((entry) => entry.name)).toEqual(['index.ts']);
  });
});
