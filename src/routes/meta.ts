/** Service metadata: health, the public signing keys, and (in app.ts) the OpenAPI document. */
import { sql } from 'drizzle-orm';
import * as z from 'zod';
import { ApiError } from '../errors';
import { getKeyRing } from '../keys';
import { createRouter, defineRoute } from '../routing';
import { json, problem } from '../schemas';

const tags = ['meta'];

export const healthRoute = defineRoute({
  method: 'get',
  path: '/health',
  tags,
  summary: 'Liveness, including a trivial D1 query',
  responses: {
    200: json(z.object({ status: z.literal('ok') }), 'Up'),
    503: problem('D1 unreachable (`service_unavailable`)'),
  },
});

export const jwksRoute = defineRoute({
  method: 'get',
  path: '/.well-known/jwks.json',
  tags,
  summary: 'Public keys that verify access tokens (empty while only HS256 secrets are configured)',
  responses: {
    200: json(
      z.object({ keys: z.array(z.looseObject({ kid: z.string(), alg: z.string(), kty: z.string() })) }),
      'JWKS',
    ),
  },
});

export const metaRouter = createRouter()
  .route(healthRoute, async (c) => {
    try {
      await c.var.db.run(sql`SELECT 1`);
    } catch {
      // The driver's message is not logged: query errors can carry bound parameters.
      console.error(
        JSON.stringify({ type: 'error', message: 'health check: D1 query failed', request_id: c.var.requestId }),
      );
      throw new ApiError(503, 'service_unavailable', 'The database is unreachable.');
    }
    return c.json({ status: 'ok' as const }, 200);
  })
  .route(jwksRoute, async (c) => {
    const ring = await getKeyRing(c.var.config);
    // Caches may keep it a while: a new key is published before it signs (see README rotation).
    c.header('Cache-Control', 'public, max-age=300, stale-while-revalidate=60');
    return c.json(ring.jwks, 200);
  });
