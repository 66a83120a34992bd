/** The OpenAPI 3.1 document, generated from the route declarations and their zod schemas. */
import * as z from 'zod';
import { REFRESH_COOKIE } from '../sessions/refresh-cookie';
import type { ResponseSpec, RouteSpec } from './routing';
import { MAX_BODY_BYTES, problem, problemSchema } from './schemas';
import { TAGS } from './tags';

type JsonSchema = Record<string, unknown> & { properties?: Record<string, unknown>; required?: string[] };

/** OpenAPI 3.1 schemas are JSON Schema 2020-12, zod's own target. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const object = jsonSchema(schema, 'input');
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (object.required ?? []).includes(name),
    schema: property,
  }));
}

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };

export const REFRESH_COOKIE_SCHEME = 'refreshCookie';

/**
 * What the wiring in routing.ts implies, documented whether or not the declaration says it:
 * a route with a body runs jsonBody (415, 400 `malformed_json`) and validation (400), and the
 * body limit (413) applies to it. A declared 400 that is not a problem document (the Flask
 * routes') gains the problem media type beside its own.
 */
function impliedResponses(spec: RouteSpec): Record<number, ResponseSpec> {
  const { body, query, params } = spec.request ?? {};
  const implied: Record<number, ResponseSpec> = {};
  if (body || query || params) implied[400] = problem('Invalid request (`validation_failed`, `malformed_json`)');
  if (body) {
    implied[413] = problem(`Body larger than ${MAX_BODY_BYTES} bytes (\`payload_too_large\`)`);
    implied[415] = problem('Body is not JSON (`unsupported_media_type`)');
  }
  const responses = { ...implied, ...spec.responses };
  for (const status of Object.keys(implied).map(Number)) {
    if (!responses[status]!.problem) responses[status] = { ...responses[status]!, problem: true };
  }
  return responses;
}

function content(response: ResponseSpec) {
  const media: Record<string, { schema: unknown }> = {};
  if (response.schema) media['application/json'] = { schema: jsonSchema(response.schema, 'output') };
  if (response.problem) media['application/problem+json'] = { schema: PROBLEM_REF };
  return Object.keys(media).length ? { content: media } : {};
}

function security(spec: RouteSpec) {
  // The refresh token comes in the body or in the cookie: `{}` makes the cookie optional.
  if (spec.refreshCookie) return [{}, { [REFRESH_COOKIE_SCHEME]: [] }];
  if (spec.bearer) return [{ bearerAuth: [] }];
  // Public, said outright: tools and client generators need not guess whether a credential is missing.
  return [];
}

function operation(spec: RouteSpec) {
  const params = [...parameters(spec.request?.params, 'path'), ...parameters(spec.request?.query, 'query')];
  const body = spec.request?.body;
  const example = spec.request?.example;
  return {
    operationId: spec.operationId,
    tags: spec.tags,
    // Plain text: tools render only descriptions as CommonMark, so `code` would show its backticks.
    summary: spec.summary.replaceAll('`', ''),
    description: spec.description,
    security: security(spec),
    ...(params.length ? { parameters: params } : {}),
    ...(body
      ? {
          requestBody: {
            required: !spec.request?.bodyOptional,
            content: {
              'application/json': { schema: jsonSchema(body, 'input'), ...(example ? { example } : {}) },
            },
          },
        }
      : {}),
    responses: Object.fromEntries(
      Object.entries(impliedResponses(spec))
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([status, response]) => [status, { description: response.description, ...content(response) }]),
    ),
  };
}

export function openApiDocument(specs: RouteSpec[]) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of specs) (paths[spec.path] ??= {})[spec.method] = operation(spec);
  return {
    openapi: '3.1.0',
    info: {
      title: 'edge-auth',
      version: '1.0.0',
      description:
        'Authentication and authorization at the edge. Every error is application/problem+json (RFC 9457) with a stable `code`. A typed TypeScript client is `edge-auth/client`.',
      contact: { name: 'edge-auth', url: 'https://edge-auth.dev' },
    },
    // Relative: the service that serves this document.
    servers: [{ url: '/', description: 'This service' }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'The access token from login or refresh: `Authorization: Bearer <access_token>`; for a DPoP-bound session (`token_type: "DPoP"`), `Authorization: DPoP <access_token>` with a `DPoP` proof header (RFC 9449).',
        },
        [REFRESH_COOKIE_SCHEME]: {
          type: 'apiKey',
          in: 'cookie',
          name: REFRESH_COOKIE,
          description:
            'The refresh token as an HttpOnly cookie, set by login with `refresh_token_delivery: "cookie"`. Requests that use it must carry an allowed `Origin`.',
        },
      },
      schemas: { Problem: jsonSchema(problemSchema, 'output') },
    },
  };
}
