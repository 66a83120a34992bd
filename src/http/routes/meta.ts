/** Service metadata: health, the public signing keys, and the OpenAPI document's declaration. */
import { sql } from 'drizzle-orm';
import * as z from 'zod/mini';
import { ApiError } from '../../platform/errors';
import { getKeyRing } from '../../credentials/keys';
import { createRouter, defineRoute } from '../routing';
import type { Tag } from '../tags';
import { json, problem } from '../schemas';

const tags: Tag[] = ['meta'];

export const healthRoute = defineRoute({
  method: 'get',
  path: '/health',
  docs: API_DOCS && {
    operationId: 'getHealth',
    tags,
    summary: 'Liveness, including a trivial D1 query',
    description: 'For load balancers and uptime checks: 200 when the Worker runs and D1 answers.',
    responses: {
      200: json(z.object({ status: z.literal('ok') }), 'Up'),
      503: problem('D1 unreachable (`service_unavailable`)'),
    },
  },
});

export const jwksRoute = defineRoute({
  method: 'get',
  path: '/.well-known/jwks.json',
  docs: API_DOCS && {
    operationId: 'getJwks',
    tags,
    summary: 'Public keys that verify access tokens (empty while only HS256 secrets are configured)',
    description:
      'Other services verify EdDSA or ES256 access tokens with these keys, picked by the token’s `kid`. Cacheable for a few minutes.',
    responses: {
      200: json(
        z.object({ keys: z.array(z.looseObject({ kid: z.string(), alg: z.string(), kty: z.string() })) }),
        'JWKS',
      ),
    },
  },
});

/** Declared here, built at build time by src/http/document.ts and served as a static asset. */
export const openApiRoute = defineRoute({
  method: 'get',
  path: '/openapi.json',
  docs: API_DOCS && {
    operationId: 'getOpenApiDocument',
    tags,
    summary: 'This OpenAPI 3.1 document',
    description:
      'Generated from the same route declarations that validate requests, so it cannot drift from the code. The TypeScript client’s types are generated from it.',
    responses: {
      200: json(
        z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.looseObject({}) }),
        'The document',
      ),
    },
  },
});

export const metaRouter = createRouter()
  .route(healthRoute, async (c) => {
    try {
      await c.get('db').run(sql`SELECT 1`);
    } catch {
      // The driver's message is not logged: query errors can carry bound parameters.
      console.error(
        JSON.stringify({ type: 'error', message: 'health check: D1 query failed', request_id: c.get('requestId') }),
      );
      throw new ApiError(503, 'service_unavailable', 'The database is unreachable.');
    }
    return c.json({ status: 'ok' as const }, 200);
  })
  .route(jwksRoute, async (c) => {
    const ring = await getKeyRing(c.get('config'));
    // Caches may keep it a while: a new key is published before it signs (see README rotation).
    c.header('Cache-Control', 'public, max-age=300, stale-while-revalidate=60');
    return c.json(ring.jwks, 200);
  });
