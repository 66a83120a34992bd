/**
 * Middleware of the OAuth endpoints: errors in the RFC's JSON, and form-encoded bodies read
 * the way RFC 6749 asks (§3.1: no parameter twice; an empty value counts as absent).
 */
import { createMiddleware } from 'hono/factory';
import type * as z from 'zod/mini';
import type { AppEnv } from '../../platform/env';
import { OAuthError } from '../../oauth/errors';
import { oauthKeys, resolveIssuer } from '../../oauth/issuer';
import { MAX_BODY_BYTES } from '../schemas';

/**
 * Every OAuth route's first middleware: its errors become OAuth errors (`validation` is what a
 * bad request is called), and the issuer and asymmetric keys are resolved, or the request
 * fails loudly as `misconfigured` (src/oauth/issuer.ts).
 */
export const oauthEndpoint = (validation: AppEnv['Variables']['oauthErrors']['validation'] = 'invalid_request') =>
  createMiddleware<AppEnv>(async (c, next) => {
    c.set('oauthErrors', { validation });
    const config = c.get('config');
    const issuer = resolveIssuer(config, c.req.url);
    c.set('oauth', { issuer, keys: await oauthKeys(config) });
    await next();
  });

const FORM_TYPE = 'application/x-www-form-urlencoded';
/** No OAuth parameter this service reads needs more; a longer one is refused, not truncated. */
export const MAX_PARAMETER_LENGTH = 4096;

/**
 * The parameters of a form body: `application/x-www-form-urlencoded` only, within the body
 * limit, each parameter at most once (RFC 6749 §3.1), each value within MAX_PARAMETER_LENGTH.
 * Every violation is `invalid_request`, never a 500.
 */
export async function readForm(request: Request): Promise<Record<string, string>> {
  const type = request.headers.get('Content-Type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== FORM_TYPE) throw new OAuthError('invalid_request', `The body must be ${FORM_TYPE}.`);
  const declared = Number(request.headers.get('Content-Length') ?? 0);
  if (declared > MAX_BODY_BYTES) throw new OAuthError('invalid_request', `The body exceeds ${MAX_BODY_BYTES} bytes.`);
  const bytes = await request.arrayBuffer();
  if (bytes.byteLength > MAX_BODY_BYTES) {
    throw new OAuthError('invalid_request', `The body exceeds ${MAX_BODY_BYTES} bytes.`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new OAuthError('invalid_request', 'The body is not valid UTF-8.');
  }
  const params: Record<string, string> = Object.create(null);
  const seen = new Set<string>();
  let decoded: URLSearchParams;
  try {
    decoded = new URLSearchParams(text);
  } catch {
    throw new OAuthError('invalid_request', 'The body is not a valid form.');
  }
  for (const [name, value] of decoded) {
    if (seen.has(name)) throw new OAuthError('invalid_request', `The parameter ${name.slice(0, 40)} is repeated.`);
    seen.add(name);
    if (value.length > MAX_PARAMETER_LENGTH) {
      throw new OAuthError('invalid_request', `The parameter ${name.slice(0, 40)} is too long.`);
    }
    // RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted."
    if (value !== '') params[name] = value;
  }
  return params;
}

/**
 * The parameters of a hosted page's POST (authorization, end session): a form body's, or none
 * for any other body, which names no client and so is answered as a page. Read as bytes, not
 * .text(): workerd warns when .text() meets a Content-Type that is not text.
 */
export async function pageFormParams(request: Request): Promise<URLSearchParams> {
  const type = request.headers.get('Content-Type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== FORM_TYPE) return new URLSearchParams();
  return new URLSearchParams(new TextDecoder().decode(await request.arrayBuffer()));
}

/** Reads the form body and validates it against `schema`; the handler gets it as `c.req.valid('form')`. */
export const formBody = (schema: z.ZodMiniType) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const params = await readForm(c.req.raw);
    const result = schema.safeParse(params);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      const name = issue.path.map(String).join('.') || 'body';
      throw new OAuthError('invalid_request', `Invalid parameter ${name}: ${issue.message}`);
    }
    c.req.addValidatedData('form', result.data as object);
    await next();
  });
