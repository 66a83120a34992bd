/**
 * Every failure leaves the service as an RFC 9457 problem document with a stable `code`.
 * Code throws `ApiError`; `onError` in app.ts renders it (and everything else) with
 * `problemResponse`, so there is exactly one error path.
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** The closed set of error codes clients may rely on, with their human titles. */
export const ERROR_CODES = {
  validation_failed: 'Request validation failed',
  malformed_json: 'Malformed JSON body',
  unsupported_media_type: 'Unsupported media type',
  payload_too_large: 'Payload too large',
  username_taken: 'Username already taken',
  password_too_common: 'Password too common',
  invalid_credentials: 'Invalid credentials',
  too_many_attempts: 'Too many attempts',
  too_many_registrations: 'Too many registrations',
  unauthorized: 'Authentication required',
  invalid_token: 'Invalid access token',
  invalid_refresh_token: 'Invalid refresh token',
  refresh_token_reused: 'Refresh token reused',
  invalid_dpop_proof: 'Invalid DPoP proof',
  use_dpop_nonce: 'DPoP nonce required',
  forbidden: 'Forbidden',
  csrf_rejected: 'Cross-site request rejected',
  https_required: 'HTTPS required',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  last_admin: 'Cannot remove the last admin',
  mfa_required: 'Second factor required',
  mfa_already_enabled: 'Two-factor authentication already enabled',
  mfa_not_enabled: 'Two-factor authentication not enabled',
  invalid_mfa_code: 'Invalid two-factor code',
  invalid_mfa_token: 'Invalid two-factor token',
  mfa_locked: 'Two-factor codes locked',
  invalid_reset_token: 'Invalid password reset token',
  invalid_email_code: 'Invalid email verification code',
  email_taken: 'Email address already in use',
  email_disabled: 'Email not enabled',
  reauthentication_required: 'Recent sign-in required',
  invalid_passkey_challenge: 'Invalid passkey challenge',
  invalid_passkey: 'Invalid passkey response',
  unknown_passkey: 'Unknown passkey',
  passkey_origin_mismatch: 'Passkey used from another origin',
  passkey_rp_id_mismatch: 'Passkey of another relying party',
  passkey_user_not_verified: 'Passkey without user verification',
  passkey_counter_regressed: 'Passkey signature counter went backwards',
  passkey_already_registered: 'Passkey already registered',
  passkey_limit_reached: 'Too many passkeys',
  last_passkey: 'Cannot remove the last passkey',
  password_already_set: 'Password already set',
  api_key_limit_reached: 'Too many API keys',
  service_unavailable: 'Service unavailable',
  interaction_expired: 'Sign-in or logout request expired',
  invalid_user_code: 'Wrong or expired device code',
  legacy_hash_unavailable: 'Imported password cannot be checked now',
  misconfigured: 'Service misconfigured',
  internal_error: 'Internal server error',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export type FieldError = { field: string; message: string };

/** RFC 9457 extension members a problem may carry (e.g. `mfa_token` on `mfa_required`). */
export type ProblemMembers = { mfa_token?: string; mfa_token_expires_in?: number };

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    readonly detail: string,
    readonly extra: { headers?: Record<string, string>; errors?: FieldError[]; members?: ProblemMembers } = {},
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}

/** Configuration is wrong: the operator must act, the client cannot. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  instance?: string;
  request_id?: string;
  errors?: FieldError[];
} & ProblemMembers;

export function problemBody(
  status: number,
  code: ErrorCode,
  detail: string,
  extra: { errors?: FieldError[]; instance?: string; requestId?: string; members?: ProblemMembers } = {},
): Problem {
  return {
    ...extra.members,
    type: `https://edge-auth.dev/problems/${code.replaceAll('_', '-')}`,
    title: ERROR_CODES[code],
    status,
    detail,
    code,
    ...(extra.instance ? { instance: extra.instance } : {}),
    ...(extra.requestId ? { request_id: extra.requestId } : {}),
    ...(extra.errors ? { errors: extra.errors } : {}),
  };
}

export function problemResponse(problem: Problem, headers: HeadersInit = {}): Response {
  const res = new Response(JSON.stringify(problem), { status: problem.status, headers });
  res.headers.set('Content-Type', 'application/problem+json');
  return res;
}
