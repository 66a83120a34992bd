/**
 * Every validation failure leaves as one 400 `validation_failed` naming each bad field, in
 * the service's own sentences: a form shows them next to its fields, so zod's developer
 * wording ("Too small: expected string to have >=1 characters") never reaches a user.
 */
import { ApiError, type FieldError } from '../platform/errors';

/** The parts of a zod issue the sentences are made from (zod 4's issue shapes). */
type Issue = {
  code?: string;
  path: readonly PropertyKey[];
  message: string;
  expected?: string;
  origin?: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
  format?: string;
  values?: readonly unknown[];
  keys?: readonly string[];
};

/** Rules worth one sentence of their own, rather than a sentence per failed check. */
const FIELD_RULES: Record<string, string> = {
  username: "Username must be 3 to 32 characters: letters, digits, '_', '.' or '-'.",
};

/** `current_password` -> `Current password`: the words a form's label would use. */
export const fieldLabel = (field: string) => {
  const words = (field.split('.').pop() ?? field).replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
};

const characters = (n: number | bigint) => `${n} character${n === 1 ? '' : 's'}`;

function sentence(issue: Issue, field: string, present: boolean): string {
  const label = fieldLabel(field);
  if (issue.code === 'invalid_type' && !present) return `${label} is required.`;
  if (FIELD_RULES[field]) return FIELD_RULES[field];
  const text = issue.origin === 'string';
  switch (issue.code) {
    case 'invalid_type':
      return `${label} must be ${issue.expected === 'object' ? 'an object' : `a ${issue.expected ?? 'value of the right type'}`}.`;
    case 'too_small':
      if (text && Number(issue.minimum) === 1) return `${label} must not be empty.`;
      return text
        ? `${label} must be at least ${characters(issue.minimum!)}.`
        : `${label} must be at least ${issue.minimum}.`;
    case 'too_big':
      return text
        ? `${label} must be at most ${characters(issue.maximum!)}.`
        : `${label} must be at most ${issue.maximum}.`;
    case 'invalid_format':
      return issue.format === 'email'
        ? `${label} must be an email address.`
        : `${label} is not in the expected format.`;
    case 'invalid_value':
      return `${label} must be one of: ${(issue.values ?? []).map(String).join(', ')}.`;
    case 'unrecognized_keys':
      return `Unknown field${issue.keys?.length === 1 ? '' : 's'}: ${(issue.keys ?? []).join(', ')}.`;
    case 'custom':
      return issue.message;
    default:
      return `${label} is invalid.`;
  }
}

/** Whether the input has a value at `path` (a missing field reads "is required", not "must be a string"). */
function present(input: unknown, path: readonly PropertyKey[]): boolean {
  let value = input;
  for (const key of path) {
    if (typeof value !== 'object' || value === null || !(key in value)) return false;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value !== undefined;
}

/**
 * Zod issues as field errors, one per field (the first check a field fails says enough); an
 * issue about the whole input names `target` (`body`, `query`).
 */
export function zodFieldErrors(issues: readonly Issue[], target: string, input?: unknown): FieldError[] {
  const errors = new Map<string, string>();
  for (const issue of issues) {
    const field = issue.path.length ? issue.path.map(String).join('.') : target;
    if (!errors.has(field)) errors.set(field, sentence(issue, field, !issue.path.length || present(input, issue.path)));
  }
  return [...errors].map(([field, message]) => ({ field, message }));
}

/** Adds `extra` errors for fields that have none yet (one error per field, the schema's first). */
export function mergeFieldErrors(errors: FieldError[], extra: FieldError[]): FieldError[] {
  const seen = new Set(errors.map((e) => e.field));
  return [...errors, ...extra.filter((e) => !seen.has(e.field))];
}

export const validationFailed = (errors: FieldError[]) =>
  new ApiError(400, 'validation_failed', 'The request is invalid.', { errors });
