/**
 * Routes as data. Each route is declared once (method, path, zod schemas, responses), and
 * that one declaration both wires Hono (middleware -> zod validation -> handler) and feeds
 * the OpenAPI document (openapi.ts), so the documentation cannot drift from the code.
 *
 * Why not @hono/zod-openapi: it keeps all of zod's namespace (every locale) plus
 * zod-to-openapi in the bundle: 676 KiB of minified Worker (169 KiB gzipped) against 287 KiB
 * (93 KiB) this way, and Workers load the whole bundle on every cold start.
 */
import { zValidator } from '@hono/zod-validator';
import type { Context, MiddlewareHandler } from 'hono';
import { Hono } from './hono';
import { bodyLimit } from 'hono/body-limit';
import type * as z from 'zod/mini';
import type { AppEnv } from '../platform/env';
import type { Tag } from './tags';
import { ApiError } from '../platform/errors';
import { passwordLengthError } from '../accounts/auth';
import { jsonBody, type BodyCheck } from './middleware/json-body';
import { formBody } from './middleware/oauth';
import { MAX_BODY_BYTES } from './schemas';
import { validationFailed, zodFieldErrors } from './validation';

export type ResponseSpec = {
  description: string;
  schema?: z.ZodMiniType;
  problem?: true;
  /** An HTML page (the OAuth endpoints' error page, for the browser that was sent there). */
  html?: true;
  /** An OAuth error (`{"error", "error_description"}`, RFC 6749 §5.2) instead of a problem document. */
  oauthError?: true;
  /** The response headers it carries (documented). */
  headers?: Record<string, string>;
};

/**
 * What only documents a route: the OpenAPI document is built from it (openapi.ts, at build
 * time), the Worker never reads it. Declared as `docs: API_DOCS && { ... }`: API_DOCS is a
 * build-time constant, false in the Worker's bundle (wrangler.toml [define]), so esbuild drops
 * every text here from what each cold start loads, and true where scripts/build-assets.mjs
 * builds /openapi.json.
 */
export type RouteDocs = {
  /**
   * Stable, camelCase: client generators name their functions after it, so renaming one is
   * a breaking change for every generated client.
   */
  operationId: string;
  tags: readonly Tag[];
  /** One line, shown in lists. */
  summary: string;
  /** What it does and when to use it; the details a caller needs beyond the schemas. */
  description: string;
  /** Requires `Authorization: Bearer` (enforced by the route's `middleware`). */
  bearer?: true;
  /** Accepts the refresh token from the HttpOnly refresh cookie instead of the body. */
  refreshCookie?: true;
  /**
   * Its errors are OAuth errors (RFC 6749 §5.2 JSON; the route runs oauthEndpoint()), so the
   * document describes the implied 400, 413 and 415 as such too.
   */
  oauthErrors?: true;
  /** OpenAPI security requirements, where `bearer` and `refreshCookie` do not say it (OAuth client auth). */
  security?: readonly Record<string, readonly string[]>[];
  /** A valid request body, shown by documentation tools (and checked against `body` by openapi:lint). */
  example?: Record<string, unknown>;
  responses: Record<number, ResponseSpec>;
};

export type RouteSpec = {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** OpenAPI style: `/admin/users/{id}`. */
  path: string;
  /** Runs before validation: authentication first, so bad bodies from strangers cost nothing. */
  middleware?: MiddlewareHandler<AppEnv>[];
  request?: {
    body?: z.ZodMiniType;
    bodyOptional?: true;
    query?: z.ZodMiniType;
    params?: z.ZodMiniType;
    /**
     * Body fields holding a new password. Their length rule is configured (PASSWORD_MIN_LENGTH),
     * so it cannot live in the static schema; it is checked beside it, in the same answer.
     */
    newPasswords?: readonly string[];
    /**
     * An `application/x-www-form-urlencoded` body (the OAuth endpoints), read by formBody:
     * each parameter once, empty values absent, failures as OAuth `invalid_request`.
     */
    form?: z.ZodMiniType;
  };
  docs: false | RouteDocs;
};

/** Keeps the literal types of a route declaration (the handler's `c.req.valid()` relies on them). */
export const defineRoute = <const S extends RouteSpec>(spec: S): S => spec;

type Request<S extends RouteSpec> = NonNullable<S['request']>;
type Validated<S extends RouteSpec> = (Request<S> extends { body: infer B extends z.ZodMiniType }
  ? { json: z.output<B> }
  : {}) &
  (Request<S> extends { query: infer Q extends z.ZodMiniType } ? { query: z.output<Q> } : {}) &
  (Request<S> extends { params: infer P extends z.ZodMiniType } ? { param: z.output<P> } : {}) &
  (Request<S> extends { form: infer F extends z.ZodMiniType } ? { form: z.output<F> } : {});

export type RouteHandler<S extends RouteSpec> = (
  c: Context<AppEnv, string, { out: Validated<S> }>,
) => Response | Promise<Response>;

/** The hook of @hono/zod-validator, so query and path failures leave like body failures. */
type Issues = { issues: readonly { path: readonly PropertyKey[]; message: string }[] };
const failValidation = (result: { success: boolean; error?: Issues; target: string; data?: unknown }) => {
  if (result.success || !result.error) return;
  throw validationFailed(zodFieldErrors(result.error.issues, result.target, result.data));
};

const newPasswordCheck =
  (fields: readonly string[]): BodyCheck =>
  (body, config) =>
    fields.flatMap((field) => {
      const value = body[field];
      return typeof value === 'string' ? (passwordLengthError(value, config, field) ?? []) : [];
    });

/**
 * Bodies are read by jsonBody only, so the limit sits in front of it, on the routes that take
 * one: requests without a body, the protected GETs among them, pay nothing for it.
 */
const limitBody = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: () => {
    throw new ApiError(413, 'payload_too_large', `Request bodies are limited to ${MAX_BODY_BYTES} bytes.`);
  },
});

export type Router = {
  app: Hono<AppEnv>;
  specs: RouteSpec[];
  route<S extends RouteSpec>(spec: S, handler: RouteHandler<S>): Router;
};

export function createRouter(): Router {
  const app = new Hono<AppEnv>();
  const specs: RouteSpec[] = [];
  const router: Router = {
    app,
    specs,
    route(spec, handler) {
      const { body, bodyOptional, query, params, newPasswords, form } = spec.request ?? {};
      const chain: MiddlewareHandler<AppEnv>[] = [...(spec.middleware ?? [])];
      if (body)
        chain.push(
          limitBody,
          jsonBody(body, {
            ...(bodyOptional ? { optional: true } : {}),
            ...(newPasswords ? { check: newPasswordCheck(newPasswords) } : {}),
          }),
        );
      if (form) chain.push(formBody(form));
      if (query) chain.push(zValidator('query', query, failValidation));
      if (params) chain.push(zValidator('param', params, failValidation));
      const path = spec.path.replace(/\{(\w+)\}/g, ':$1');
      // The handler's types come from the declaration (Validated<S>), not from this chain.
      const on = app.on as (method: string, path: string, ...handlers: MiddlewareHandler<AppEnv>[]) => unknown;
      on.call(app, spec.method.toUpperCase(), path, ...chain, handler as unknown as MiddlewareHandler<AppEnv>);
      specs.push(spec);
      return router;
    },
  };
  return router;
}
