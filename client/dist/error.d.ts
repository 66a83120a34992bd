/** The one error type the client throws for answers of the service it did not expect. */
import type { components } from './schema.js';
/** The service's closed set of problem codes (src/errors.ts), as generated from its document. */
export type ErrorCode = components['schemas']['Problem']['code'];
type ProblemSchema = components['schemas']['Problem'];
/**
 * Members a problem of that code always carries, beyond the common ones. `mfa_required` from
 * `POST /auth/login` carries the token for `POST /auth/mfa/verify` (the Flask-compatible
 * `POST /auth`, which cannot complete a two-factor login, is the one route that sends none).
 */
type MembersOf = {
    mfa_required: {
        mfa_token: string;
        mfa_token_expires_in: number;
    };
};
type Common = Omit<ProblemSchema, 'code' | keyof MembersOf[keyof MembersOf]> & {
    /** Extension members this client does not type (a newer service may add some). */
    [member: string]: unknown;
};
/**
 * An RFC 9457 problem document as the service sends it, extension members included, as a
 * union discriminated by `code`: after `if (err.problem.code === 'mfa_required')`,
 * `err.problem.mfa_token` is a `string`. `unexpected_response` marks an answer that was not a
 * problem document at all, such as a proxy's HTML error page.
 */
export type ProblemDocument = {
    [C in ErrorCode | 'unexpected_response']: Common & {
        code: C;
    } & (C extends keyof MembersOf ? MembersOf[C] : {});
}[ErrorCode | 'unexpected_response'];
export declare class EdgeAuthError extends Error {
    readonly problem: ProblemDocument;
    readonly name = "EdgeAuthError";
    readonly status: number;
    readonly code: ProblemDocument['code'];
    constructor(problem: ProblemDocument);
}
/** The error of a failed openapi-fetch call: its parsed body when that is a problem document. */
export declare function toEdgeAuthError(response: Response, body: unknown): EdgeAuthError;
/** What every `auth.api` call resolves to (openapi-fetch's `FetchResponse`, loosely). */
export type ApiResult<T> = {
    data?: T;
    error?: unknown;
    response: Response;
};
/**
 * The data of an `auth.api` call, or its problem document thrown as an EdgeAuthError:
 *
 *     const { sessions } = await unwrap(auth.api.GET('/auth/sessions'));
 *
 * Success is decided by the HTTP status, so a `204` resolves to `undefined`. An error answer
 * that is not a problem document throws code `unexpected_response`; a network failure stays
 * fetch's own `TypeError`.
 */
export declare function unwrap<T>(call: ApiResult<T> | PromiseLike<ApiResult<T>>): Promise<T>;
export {};
