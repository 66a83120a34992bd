export class EdgeAuthError extends Error {
    problem;
    name = 'EdgeAuthError';
    status;
    code;
    constructor(problem) {
        super(problem.detail);
        this.problem = problem;
        this.status = problem.status;
        this.code = problem.code;
    }
}
const isProblem = (body) => typeof body === 'object' &&
    body !== null &&
    typeof body.code === 'string' &&
    typeof body.status === 'number';
/** The error of a failed openapi-fetch call: its parsed body when that is a problem document. */
export function toEdgeAuthError(response, body) {
    if (isProblem(body))
        return new EdgeAuthError(body);
    return new EdgeAuthError({
        type: 'about:blank',
        title: response.statusText || 'Unexpected response',
        status: response.status,
        detail: `The service answered ${response.status} without a problem document.`,
        code: 'unexpected_response',
    });
}
/**
 * The data of an `auth.api` call, or its problem document thrown as an EdgeAuthError:
 *
 *     const { sessions } = await unwrap(auth.api.GET('/auth/sessions'));
 *
 * Success is decided by the HTTP status, so a `204` resolves to `undefined`. An error answer
 * that is not a problem document throws code `unexpected_response`; a network failure stays
 * fetch's own `TypeError`.
 */
export async function unwrap(call) {
    const { data, error, response } = await call;
    if (!response.ok)
        throw toEdgeAuthError(response, error);
    return data;
}
