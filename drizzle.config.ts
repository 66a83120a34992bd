import { defineConfig } from 'drizzle-kit';

// `drizzle-kit generate` turns src/db/schema.ts into SQL in migrations/, the folder
// wrangler applies (`wrangler d1 migrations apply`) and the tests read.
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/db/schema.ts',
  out: './migrations',
});
