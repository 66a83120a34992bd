import type { Bindings } from '../src/platform/env';

declare global {
  namespace Cloudflare {
    interface Env extends Bindings {
      /** Defined in vitest.config.ts; applied by test/apply-migrations.ts. */
      TEST_MIGRATIONS: import('cloudflare:test').D1Migration[];
    }
    interface GlobalProps {
      mainModule: typeof import('../src/index');
    }
  }
}
