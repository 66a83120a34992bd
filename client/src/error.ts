/** The one error type the client throws for answers of the service it did not expect. */
import type { components } from './schema.js';

/** The service's closed set of problem codes (src/errors.ts), as generated from its document. */
export type ErrorCode = components['schemas']['Problem']['code'];

/**
 * An RFC 9457 problem document as the service sends it, extension members included (for
 * example `mfa_token` beside `code: 'mfa_required'`). `unexpected_response` marks an answer
 * that was not a problem document at all, such as a proxy's HTML error page.
 */
export type ProblemDocument = Omit<components['schemas']['Problem'], 'code'> & {
  code: ErrorCode | 'unexpected_response';
  [member: string]: unknown;
};

export class EdgeAuthError extends Error {
  override readonly name = 'EdgeAuthError';
  readonly status: number;
  readonly code: ProblemDocument['code'];

  constructor(readonly problem: ProblemDocument) {
    super(problem.detail);
    this.status = problem.status;
    this.code = problem.code;
  }
}

const isProblem = (body: unknown): body is ProblemDocument =>
  typeof body === 'object' &&
  body !== null &&
  typeof (body as ProblemDocument).code === 'string' &&
  typeof (body as ProblemDocument).status === 'number';

/** The error of a failed openapi-fetch call: its parsed body when that is a problem document. */
export function toEdgeAuthError(response: Response, body: unknown): EdgeAuthError {
  if (isProblem(body)) return new EdgeAuthError(body);
  return new EdgeAuthError({
    type: 'about:blank',
    title: response.statusText || 'Unexpected response',
    status: response.status,
    detail: `The service answered ${response.status} without a problem document.`,
    code: 'unexpected_response',
  });
}
