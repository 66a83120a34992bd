/**
 * The authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1, RFC 7636, RFC 8707),
 * validated before anything else happens, in the order that decides where an error may go:
 *
 * 1. the client and the redirect URI. Until both are known good nothing may be sent to the
 *    redirect URI (RFC 6749 §4.1.2.1: "MUST NOT automatically redirect"), or the endpoint
 *    would be an open redirector: those errors are a page of ours (`kind: 'page'`);
 * 2. everything else, whose errors go back to the client's redirect URI with `error`,
 *    `error_description`, `state` and `iss` (`kind: 'redirect'`).
 */
import type { Database } from '../platform/db/client';
import { getClient, matchRedirectUri, type OAuthClient } from './clients';
import { OAuthError } from './errors';
import type { AuthorizeParams, Prompt } from './interactions';
import { assertScopesAllowed, formatScope, isScope, parseScope } from './scopes';

/** The errors of RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6 and RFC 8707 §2 this endpoint sends. */
export type AuthorizeErrorCode =
  | 'invalid_request'
  | 'unauthorized_client'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'access_denied'
  | 'login_required'
  | 'consent_required'
  | 'request_not_supported'
  | 'request_uri_not_supported'
  | 'registration_not_supported';

export type AuthorizeFailure =
  | { kind: 'page'; description: string }
  | {
      kind: 'redirect';
      redirectUri: string;
      state: string | undefined;
      error: AuthorizeErrorCode;
      description: string;
    };

export type ValidRequest = { kind: 'valid'; client: OAuthClient; params: AuthorizeParams };

/** Longest value kept of state, nonce and login_hint: far above what clients send, far below URL limits. */
export const MAX_PARAM_LENGTH = 2048;
/** RFC 7636 §4.2: S256 gives 43 characters; the grammar allows 43 to 128 of unreserved ones. */
const CODE_CHALLENGE = /^[A-Za-z0-9._~-]{43,128}$/;
const PROMPTS: Record<string, Prompt> = {
  none: 'none',
  login: 'login',
  consent: 'consent',
  // The sign-in page is where an account is chosen: the user signs in with the one they want.
  select_account: 'login',
};

class Refusal {
  constructor(
    readonly error: AuthorizeErrorCode,
    readonly description: string,
  ) {}
}

/** A single value; a parameter sent twice is refused (RFC 6749 §3.1: "MUST NOT be included more than once"). */
function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) throw new Refusal('invalid_request', `The ${name} parameter was sent more than once.`);
  const value = values[0];
  // RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted".
  return value === '' ? undefined : value;
}

function bounded(params: URLSearchParams, name: string): string | undefined {
  const value = single(params, name);
  if (value !== undefined && value.length > MAX_PARAM_LENGTH) {
    throw new Refusal('invalid_request', `The ${name} parameter is longer than ${MAX_PARAM_LENGTH} characters.`);
  }
  return value;
}

/**
 * Validates an authorization request. `params` are the query (GET) or the form body (POST);
 * the caller has already refused a request that sends both.
 */
export async function validateAuthorizeRequest(
  db: Database,
  params: URLSearchParams,
): Promise<ValidRequest | AuthorizeFailure> {
  // Step 1: the client and its redirect URI; any failure here is a page, never a redirect.
  const clientIds = params.getAll('client_id');
  const redirectUris = params.getAll('redirect_uri');
  if (clientIds.length !== 1 || !clientIds[0]) {
    return { kind: 'page', description: 'The request does not name the application (client_id) exactly once.' };
  }
  const client = await getClient(db, clientIds[0]);
  if (!client) {
    return { kind: 'page', description: 'The application that sent you here is not registered with this service.' };
  }
  // OpenID Connect requires redirect_uri in every request; taking the only registered one when
  // it is missing (as OAuth 2.1 would allow) would make a request's meaning depend on the
  // registration, which can change between the request and the redirect.
  if (redirectUris.length !== 1 || !redirectUris[0]) {
    return {
      kind: 'page',
      description: 'The request does not name where to send you back (redirect_uri) exactly once.',
    };
  }
  const redirectUri = redirectUris[0];
  if (!matchRedirectUri(client.redirectUris, redirectUri)) {
    return {
      kind: 'page',
      description: 'The address the application asked to send you back to is not registered for it.',
    };
  }

  // Step 2: from here on, errors go back to the client, with the state it sent (if readable).
  const states = params.getAll('state');
  const state = states.length === 1 && states[0] !== '' ? states[0] : undefined;
  try {
    return { kind: 'valid', client, params: checkRest(params, client, redirectUri) };
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    return { kind: 'redirect', redirectUri, state, error: err.error, description: err.description };
  }
}

function checkRest(params: URLSearchParams, client: OAuthClient, redirectUri: string): AuthorizeParams {
  // OpenID Connect Core §6: request objects are not supported, and must be refused, not ignored.
  if (params.has('request')) throw new Refusal('request_not_supported', 'Request objects are not supported.');
  if (params.has('request_uri')) throw new Refusal('request_uri_not_supported', 'request_uri is not supported.');
  if (params.has('registration')) {
    throw new Refusal('registration_not_supported', 'The registration parameter is not supported.');
  }
  const state = bounded(params, 'state');

  const responseType = single(params, 'response_type');
  if (responseType === undefined) throw new Refusal('invalid_request', 'The response_type parameter is missing.');
  if (responseType !== 'code') {
    throw new Refusal(
      'unsupported_response_type',
      'Only the authorization code flow (response_type=code) is supported.',
    );
  }
  if (!client.grantTypes.includes('authorization_code')) {
    throw new Refusal('unauthorized_client', 'This application is not registered for the authorization code flow.');
  }
  const responseMode = single(params, 'response_mode');
  if (responseMode !== undefined && responseMode !== 'query') {
    throw new Refusal('invalid_request', 'Only response_mode=query is supported.');
  }

  // PKCE is required of every client (OAuth 2.1), and only S256: `plain` sends the verifier
  // itself through the browser, where PKCE is meant to protect it.
  const challenge = single(params, 'code_challenge');
  const method = single(params, 'code_challenge_method');
  if (challenge === undefined) {
    throw new Refusal('invalid_request', 'PKCE is required: send code_challenge with code_challenge_method=S256.');
  }
  // RFC 7636 §4.3: without a method the challenge is `plain`.
  if (method !== 'S256') {
    throw new Refusal('invalid_request', 'code_challenge_method must be S256 (plain is not accepted).');
  }
  if (!CODE_CHALLENGE.test(challenge)) {
    throw new Refusal('invalid_request', 'code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~.');
  }

  const scope = checkScope(single(params, 'scope'), client);
  const prompt = checkPrompt(single(params, 'prompt'));
  let maxAge = checkMaxAge(single(params, 'max_age'));
  // OpenID Connect Core §3.1.2.1: max_age=0 is prompt=login.
  if (maxAge === 0) {
    if (!prompt.includes('login')) prompt.push('login');
    maxAge = undefined;
  }
  const resource = checkResource(params);
  // RFC 9449 §10: a JWK SHA-256 thumbprint is 43 base64url characters.
  const dpopJkt = single(params, 'dpop_jkt');
  if (dpopJkt !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(dpopJkt)) {
    throw new Refusal('invalid_request', 'dpop_jkt must be a JWK SHA-256 thumbprint (43 base64url characters).');
  }

  return {
    client_id: client.clientId,
    redirect_uri: redirectUri,
    scope,
    code_challenge: challenge,
    prompt,
    state,
    nonce: bounded(params, 'nonce'),
    max_age: maxAge,
    resource,
    login_hint: bounded(params, 'login_hint'),
    dpop_jkt: dpopJkt,
  };
}

function checkScope(value: string | undefined, client: OAuthClient): string {
  // RFC 6749 §3.3: without a scope, the client's registered scope is the default (its scopes
  // of the APIs are for client credentials).
  const requested = value ?? client.scope?.filter(isScope).join(' ');
  if (!requested) throw new Refusal('invalid_scope', 'The scope parameter is missing.');
  try {
    const scopes = parseScope(requested);
    assertScopesAllowed(scopes, client.scope);
    return formatScope(scopes);
  } catch (err) {
    if (err instanceof OAuthError) throw new Refusal('invalid_scope', err.description);
    throw err;
  }
}

function checkPrompt(value: string | undefined): Prompt[] {
  if (value === undefined) return [];
  const prompts = new Set<Prompt>();
  for (const word of value.split(' ').filter(Boolean)) {
    const prompt = PROMPTS[word];
    if (!prompt) throw new Refusal('invalid_request', `prompt=${word.slice(0, 32)} is not supported.`);
    prompts.add(prompt);
  }
  if (prompts.has('none') && prompts.size > 1) {
    throw new Refusal('invalid_request', 'prompt=none cannot be combined with other prompt values.');
  }
  return [...prompts];
}

function checkMaxAge(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(seconds)) {
    throw new Refusal('invalid_request', 'max_age must be a whole number of seconds.');
  }
  return seconds;
}

/** RFC 8707 §2: an absolute URI without a fragment. One per request: its tokens have one audience. */
function checkResource(params: URLSearchParams): string | undefined {
  const values = params.getAll('resource');
  if (values.length === 0) return undefined;
  if (values.length > 1) throw new Refusal('invalid_target', 'Ask for one resource per request.');
  const value = values[0]!;
  if (!isResourceUri(value)) throw new Refusal('invalid_target', RESOURCE_RULE);
  return value;
}

export const RESOURCE_RULE = 'resource must be an absolute URI without a fragment.';

/** RFC 8707 §2: a `resource` is an absolute URI without a fragment (and, here, of a sane length). */
export function isResourceUri(value: string): boolean {
  if (value.includes('#') || value.length > MAX_PARAM_LENGTH) return false;
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}
