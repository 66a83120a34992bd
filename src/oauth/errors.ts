/**
 * OAuth errors: a closed set of the RFCs' codes, thrown as OAuthError and rendered by the
 * app's one error handler (src/http/app.ts) as the RFC's JSON, `{"error", "error_description"}`
 * (RFC 6749 §5.2), instead of problem+json. The authorization endpoint sends the same codes back
 * in a redirect (§4.1.2.1); the status here is what the JSON endpoints answer.
 */

/** Every code an OAuth endpoint may answer, with the status of its JSON answer. */
export const OAUTH_ERRORS = {
  // RFC 6749 §5.2 (token endpoint), also used by revocation and introspection.
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  // RFC 6749 §4.1.2.1 (authorization endpoint, sent in the redirect).
  access_denied: 403,
  unsupported_response_type: 400,
  server_error: 500,
  // Also answered, with Retry-After, when a rate limit is reached: RFC 6749 has no code of its
  // own for that, and this one says "try again later" to every client library.
  temporarily_unavailable: 429,
  // OpenID Connect Core §3.1.2.6 (authorization endpoint).
  login_required: 400,
  consent_required: 400,
  interaction_required: 400,
  account_selection_required: 400,
  // RFC 6750 §3.1 (userinfo, registration's initial access token).
  invalid_token: 401,
  insufficient_scope: 403,
  // RFC 8628 §3.5 (device_code grant): keep polling, poll slower, or the codes expired.
  authorization_pending: 400,
  slow_down: 400,
  expired_token: 400,
  // RFC 8707 §2: a resource the grant does not cover.
  invalid_target: 400,
  // RFC 7009 §2.2.1.
  unsupported_token_type: 400,
  // RFC 7591 §3.2.2.
  invalid_redirect_uri: 400,
  invalid_client_metadata: 400,
  // RFC 9449 §5, §8 (token endpoint; a resource answers them with 401 and a DPoP challenge).
  invalid_dpop_proof: 400,
  use_dpop_nonce: 400,
} as const;

export type OAuthErrorCode = keyof typeof OAUTH_ERRORS;

export class OAuthError extends Error {
  override name = 'OAuthError';
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(
    readonly code: OAuthErrorCode,
    readonly description: string,
    options: { status?: number; headers?: Record<string, string> } = {},
  ) {
    super(description);
    this.status = options.status ?? OAUTH_ERRORS[code];
    this.headers = options.headers ?? {};
  }
}

/**
 * A failed client authentication: 401 with a Basic challenge (RFC 6749 §5.2), whichever way the
 * client tried to authenticate.
 */
export const invalidClient = (description: string) =>
  new OAuthError('invalid_client', description, { headers: { 'WWW-Authenticate': 'Basic realm="edge-auth"' } });

/** RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. */
const safeDescription = (text: string) => text.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, "'");

/** The JSON body of an OAuth error. */
export function oauthErrorBody(err: OAuthError): { error: OAuthErrorCode; error_description: string } {
  return { error: err.code, error_description: safeDescription(err.description) };
}

/**
 * A Bearer challenge for a resource request (RFC 6750 §3): with no error when the request
 * carried no token at all, else naming the error.
 */
export function bearerChallenge(realm: string, err?: { code: OAuthErrorCode; description: string }): string {
  if (!err) return `Bearer realm="${realm}"`;
  return `Bearer realm="${realm}", error="${err.code}", error_description="${safeDescription(err.description)}"`;
}

export function oauthErrorResponse(err: OAuthError, headers: Record<string, string> = {}): Response {
  const res = new Response(JSON.stringify(oauthErrorBody(err)), {
    status: err.status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers },
  });
  for (const [name, value] of Object.entries(err.headers)) res.headers.set(name, value);
  return res;
}
