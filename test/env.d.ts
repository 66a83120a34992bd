import type { Bindings } from '../src/platform/env';

declare global {
  namespace Cloudflare {
    interface Env extends Bindings {
      /** Defined in vitest.config.ts; applied by test/apply-migrations.ts. */
      TEST_MIGRATIONS: import('cloudflare:test').D1Migration[];
      /**
       * Defined in vitest.config.ts: dist/assets/openapi.json as the build made it. The Worker does
       * not serve it (the asset layer does), so tests read it here; test/helpers.ts apiDocument().
       */
      TEST_OPENAPI_DOCUMENT: Record<string, any>;
    }
    interface GlobalProps {
      mainModule: typeof import('../src/index');
    }
  }
}
