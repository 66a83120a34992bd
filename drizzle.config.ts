import { defineConfig } from 'drizzle-kit';

// `drizzle-kit generate` turns src/platform/db/schema.ts into SQL in migrations/, the folder
// wrangler applies (`wrangler d1 migrations apply`) and the tests read.
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/platform/db/schema.ts',
  out: './migrations',
});
