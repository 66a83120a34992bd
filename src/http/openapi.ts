/** The OpenAPI 3.1 document, generated from the route declarations and their zod schemas. */
import * as z from 'zod/mini';
import { REFRESH_COOKIE } from '../sessions/refresh-cookie';
import type { ResponseSpec, RouteDocs, RouteSpec } from './routing';
import { MAX_BODY_BYTES, problem, problemSchema } from './schemas';
import { TAGS } from './tags';
import { OAUTH_ERRORS, type OAuthErrorCode } from '../oauth/errors';

type JsonSchema = Record<string, unknown> & { properties?: Record<string, unknown>; required?: string[] };

/** OpenAPI 3.1 schemas are JSON Schema 2020-12, zod's own target. */
function jsonSchema(schema: z.ZodMiniType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

function parameters(schema: z.ZodMiniType | undefined, where: 'path' | 'query') {
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
const OAUTH_ERROR_REF = { $ref: '#/components/schemas/OAuthError' };

/** RFC 6749 §5.2's error body, which the OAuth endpoints answer instead of problem documents. */
const oauthErrorSchema = z.object({
  error: z.enum(Object.keys(OAUTH_ERRORS) as [OAuthErrorCode]),
  error_description: z.string(),
});

export const REFRESH_COOKIE_SCHEME = 'refreshCookie';
export const CLIENT_BASIC_SCHEME = 'clientSecretBasic';

/**
 * What the wiring in routing.ts implies, documented whether or not the declaration says it:
 * a route with a body runs jsonBody (415, 400 `malformed_json`) and validation (400), and the
 * body limit (413) applies to it. A declared 400 that is not a problem document (the Flask
 * routes') gains the problem media type beside its own.
 */
function impliedResponses(spec: RouteSpec, docs: RouteDocs): Record<number, ResponseSpec> {
  const { body, query, params } = spec.request ?? {};
  const implied: Record<number, ResponseSpec> = {};
  const error = (description: string, oauthDescription: string): ResponseSpec =>
    docs.oauthErrors ? { description: oauthDescription, oauthError: true } : problem(description);
  if (body || query || params) {
    implied[400] = error('Invalid request (`validation_failed`, `malformed_json`)', 'Invalid request');
  }
  if (body) {
    implied[413] = error(
      `Body larger than ${MAX_BODY_BYTES} bytes (\`payload_too_large\`)`,
      `Body larger than ${MAX_BODY_BYTES} bytes (\`invalid_request\`)`,
    );
    implied[415] = error('Body is not JSON (`unsupported_media_type`)', 'Body is not JSON (`invalid_request`)');
  }
  const responses = { ...implied, ...docs.responses };
  for (const status of Object.keys(implied).map(Number)) {
    const kind = docs.oauthErrors ? { oauthError: true as const } : { problem: true as const };
    if (!responses[status]!.problem && !responses[status]!.oauthError) {
      responses[status] = { ...responses[status]!, ...kind };
    }
  }
  return responses;
}

function content(response: ResponseSpec) {
  const media: Record<string, { schema: unknown }> = {};
  if (response.schema) media['application/json'] = { schema: jsonSchema(response.schema, 'output') };
  if (response.problem) media['application/problem+json'] = { schema: PROBLEM_REF };
  if (response.html) media['text/html'] = { schema: { type: 'string' } };
  if (response.oauthError) media['application/json'] = { schema: OAUTH_ERROR_REF };
  const headers = response.headers
    ? {
        headers: Object.fromEntries(
          Object.entries(response.headers).map(([name, description]) => [
            name,
            { description, schema: { type: 'string' } },
          ]),
        ),
      }
    : {};
  return { ...(Object.keys(media).length ? { content: media } : {}), ...headers };
}

function security(docs: RouteDocs) {
  // The refresh token comes in the body or in the cookie: `{}` makes the cookie optional.
  if (docs.security) return docs.security;
  if (docs.refreshCookie) return [{}, { [REFRESH_COOKIE_SCHEME]: [] }];
  if (docs.bearer) return [{ bearerAuth: [] }];
  // Public, said outright: tools and client generators need not guess whether a credential is missing.
  return [];
}

function operation(spec: RouteSpec) {
  const docs = spec.docs;
  if (!docs) throw new Error(`${spec.method.toUpperCase()} ${spec.path} has no docs: build with API_DOCS = true.`);
  const params = [...parameters(spec.request?.params, 'path'), ...parameters(spec.request?.query, 'query')];
  const body = spec.request?.body;
  const form = spec.request?.form;
  const example = docs.example;
  return {
    operationId: docs.operationId,
    tags: docs.tags,
    // Plain text: tools render only descriptions as CommonMark, so `code` would show its backticks.
    summary: docs.summary.replaceAll('`', ''),
    description: docs.description,
    security: security(docs),
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
    ...(form
      ? {
          requestBody: {
            required: true,
            content: {
              'application/x-www-form-urlencoded': {
                schema: jsonSchema(form, 'input'),
                ...(example ? { example } : {}),
              },
            },
          },
        }
      : {}),
    responses: Object.fromEntries(
      Object.entries(impliedResponses(spec, docs))
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
            'The access token from login or refresh: `Authorization: Bearer <access_token>` (or `DPoP <access_token>` with a proof).',
        },
        [CLIENT_BASIC_SCHEME]: {
          type: 'http',
          scheme: 'basic',
          description:
            'OAuth client authentication `client_secret_basic`: client_id and client_secret, each form-encoded, as Basic credentials. `client_secret_post` sends them as form parameters instead; a public client (`none`) sends only client_id.',
        },
        [REFRESH_COOKIE_SCHEME]: {
          type: 'apiKey',
          in: 'cookie',
          name: REFRESH_COOKIE,
          description:
            'The refresh token as an HttpOnly cookie, set by login with `refresh_token_delivery: "cookie"`. Requests that use it must carry an allowed `Origin`.',
        },
      },
      schemas: { Problem: jsonSchema(problemSchema, 'output'), OAuthError: jsonSchema(oauthErrorSchema, 'output') },
    },
  };
}
