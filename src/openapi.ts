/** The OpenAPI 3.1 document, generated from the route declarations and their zod schemas. */
import * as z from 'zod';
import type { RouteSpec } from './routing';
import { problemSchema } from './schemas';

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

function operation(spec: RouteSpec) {
  const params = [...parameters(spec.request?.params, 'path'), ...parameters(spec.request?.query, 'query')];
  const body = spec.request?.body;
  return {
    tags: spec.tags,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    ...(spec.bearer ? { security: [{ bearerAuth: [] }] } : {}),
    ...(params.length ? { parameters: params } : {}),
    ...(body
      ? {
          requestBody: {
            required: !spec.request?.bodyOptional,
            content: { 'application/json': { schema: jsonSchema(body, 'input') } },
          },
        }
      : {}),
    responses: Object.fromEntries(
      Object.entries(spec.responses).map(([status, response]) => {
        const content = response.problem
          ? { 'application/problem+json': { schema: PROBLEM_REF } }
          : response.schema
            ? { 'application/json': { schema: jsonSchema(response.schema, 'output') } }
            : undefined;
        return [status, { description: response.description, ...(content ? { content } : {}) }];
      }),
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
      description: 'Authentication and authorization at the edge. Every error is application/problem+json (RFC 9457).',
    },
    paths,
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Problem: jsonSchema(problemSchema, 'output') },
    },
  };
}
