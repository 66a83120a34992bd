import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './env';
import { ApiError } from './errors';

/**
 * Every router validates through this hook, so a zod failure leaves by the same error path
 * as everything else: a 400 `validation_failed` naming each bad field.
 */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const errors = result.error.issues.map((issue) => ({
          field: issue.path.length ? issue.path.join('.') : result.target,
          message: issue.message,
        }));
        throw new ApiError(400, 'validation_failed', 'The request is invalid.', { errors });
      }
    },
  });
}
