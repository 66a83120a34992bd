/** Every validation failure leaves as one 400 `validation_failed` naming each bad field. */
import { ApiError, type FieldError } from '../platform/errors';

type Issue = { path: readonly PropertyKey[]; message: string };

/** Zod issues as field errors; an issue about the whole input names `target` (`body`, `query`). */
export const zodFieldErrors = (issues: readonly Issue[], target: string): FieldError[] =>
  issues.map((issue) => ({
    field: issue.path.length ? issue.path.map(String).join('.') : target,
    message: issue.message,
  }));

export const validationFailed = (errors: FieldError[]) =>
  new ApiError(400, 'validation_failed', 'The request is invalid.', { errors });
