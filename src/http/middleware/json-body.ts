/**
 * Strict JSON bodies, read, parsed and validated in this one middleware. Hono's json
 * validator decides on its own from Content-Type whether to read the body (another media type
 * becomes `{}`) and cannot tell an empty body from malformed JSON; with two places deciding,
 * they disagreed on some Content-Types and an optional body sent as `Content-Type:
 * application/json` with no bytes was refused. Here one decision covers all of it. JSON.parse
 * also silently keeps the last of duplicate keys: an auth API must not guess, so those are
 * refused too.
 */
import { createMiddleware } from 'hono/factory';
import type * as z from 'zod/mini';
import type { AppEnv } from '../../platform/env';
import type { Config } from '../../platform/config';
import { ApiError, type FieldError } from '../../platform/errors';
import { mergeFieldErrors, validationFailed, zodFieldErrors } from '../validation';

/** The media types read as JSON: `application/json` and `application/*+json`, any parameters. */
const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;
const mediaType = (contentType: string) => contentType.split(';')[0]!.trim().toLowerCase();
export const isJsonContentType = (contentType: string | undefined): boolean =>
  contentType !== undefined && JSON_TYPE.test(mediaType(contentType));

/** No bytes, or only JSON's own whitespace (RFC 8259), counts as no body at all. */
const EMPTY = /^[ \t\r\n]*$/;

/**
 * Returns the first key that appears twice in one object of `text` (already valid JSON),
 * or null. A scan, not a parser: it only tracks strings, objects and arrays.
 */
export function findDuplicateKey(text: string): string | null {
  const stack: (Set<string> | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '{') stack.push(new Set());
    else if (ch === '[') stack.push(null);
    else if (ch === '}' || ch === ']') stack.pop();
    else if (ch === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j]!)) j++;
      const keys = stack[stack.length - 1];
      if (text[j] === ':' && keys) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (keys.has(key)) return key;
        keys.add(key);
      }
    }
  }
  return null;
}

function malformed(detail: string): ApiError {
  return new ApiError(400, 'malformed_json', detail);
}

/** Parses `text` as one JSON object, refusing anything an auth API should not guess about. */
function parseObject(contentType: string | undefined, text: string): object {
  if (!isJsonContentType(contentType)) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      'The request body must be JSON (Content-Type: application/json).',
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text, (_key, v: unknown) => {
      if (typeof v === 'string' && !v.isWellFormed()) throw new TypeError('lone surrogate');
      return v;
    });
  } catch {
    throw malformed('The request body is not valid JSON (or contains unpaired UTF-16 surrogates).');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed('The request body must be a JSON object.');
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate !== null) throw malformed('The request body repeats a key; each key may appear once.');
  // Keys are checked too (a reviver sees only values).
  if (Object.keys(value).some((k) => !k.isWellFormed()))
    throw malformed('The request body contains unpaired UTF-16 surrogates.');
  return value;
}

/**
 * Validates the JSON body against `schema` and hands the result to `c.req.valid('json')`.
 * An empty body is "no body", whatever its Content-Type: `optional` routes then validate `{}`
 * (clients that put `Content-Type: application/json` on every request must still work), and
 * the others answer 400 `validation_failed` naming the body, like any missing field.
 */
export type BodyCheck = (body: Record<string, unknown>, config: Config) => FieldError[];

export const jsonBody = (schema: z.ZodMiniType, options: { optional?: boolean; check?: BodyCheck } = {}) =>
  createMiddleware<AppEnv>(async (c, next) => {
    // Bytes, not .text(): workerd warns when .text() meets a Content-Type that is not text.
    const text = new TextDecoder().decode(await c.req.arrayBuffer());
    let value: object = {};
    if (!EMPTY.test(text)) value = parseObject(c.req.header('Content-Type'), text);
    else if (!options.optional) throw validationFailed([{ field: 'body', message: 'A JSON object is required.' }]);
    // Synchronous: under safeParseAsync zod/mini settles every transform (the username's NFKC
    // step) as a promise, after the other fields, which reorders the data and the field errors.
    // No body schema has an async check (safeParse would throw on one).
    const result = schema.safeParse(value);
    // The route's own check runs whether or not the schema passed, so every bad field is named at once.
    const checked = options.check?.(value as Record<string, unknown>, c.get('config')) ?? [];
    if (!result.success)
      throw validationFailed(mergeFieldErrors(zodFieldErrors(result.error.issues, 'body', value), checked));
    if (checked.length) throw validationFailed(checked);
    c.req.addValidatedData('json', result.data as object);
    await next();
  });
