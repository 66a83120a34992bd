/**
 * src/platform/db/schema.ts is the source of truth and migrations/ is generated from it: a schema edit
 * without `npm run db:generate` would pass every test (they apply migrations/) and then fail
 * in production. drizzle-kit runs in a throw-away copy so a drift never writes into the repo.
 */
import { cp, readdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { childEnv, ROOT, run, useScratchDir } from './support';

const scratch = useScratchDir('migrations');

describe('migrations/', () => {
  it('matches src/platform/db/schema.ts (drizzle-kit has nothing left to generate)', async () => {
    const copy = scratch();
    for (const entry of ['src/platform/db', 'migrations', 'drizzle.config.ts', 'package.json']) {
      await cp(path.join(ROOT, entry), path.join(copy, entry), { recursive: true });
    }
    await symlink(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'), 'dir');
    const before = await readdir(path.join(copy, 'migrations'));

    const result = await run('drizzle-kit', ['generate'], { cwd: copy, env: childEnv(copy), timeoutMs: 60_000 });
    expect(result.code, result.output).toBe(0);
    expect(await readdir(path.join(copy, 'migrations'))).toEqual(before);
    expect(result.output).toMatch(/No schema changes/);
  });
});
