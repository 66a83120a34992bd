/**
 * Strict JSON bodies. Hono's json validator treats a body with another content type as
 * `{}`, and JSON.parse silently keeps the last of duplicate keys: an auth API must not
 * guess, so both are refused here, before validation sees the body.
 */
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';

/** Hono's json validator's own test, on the same media type, so the two never disagree. */
const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;
const mediaType = (contentType: string) => contentType.split(';')[0]!.trim().toLowerCase();

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

/** Requires an `application/json` body that parses cleanly; `optional` also allows no body. */
export const jsonBody = (options: { optional?: boolean } = {}) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const contentType = c.req.header('Content-Type');
    const hasBody = c.req.raw.body !== null && c.req.header('Content-Length') !== '0';
    if (!hasBody && !contentType && options.optional) return next();
    if (!contentType || !JSON_TYPE.test(mediaType(contentType))) {
      throw new ApiError(
        415,
        'unsupported_media_type',
        'The request body must be JSON (Content-Type: application/json).',
      );
    }
    const text = await c.req.text();
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
    await next();
  });
