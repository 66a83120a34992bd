/**
 * The scopes this provider grants, what each means in plain words (the consent page shows
 * them), and the one parser every endpoint uses for a `scope` parameter.
 */
import { OAuthError } from './errors';

/** Each supported scope with the words a consent page shows for it. */
export const SCOPES = {
  openid: 'Sign you in with your account',
  profile: 'See your username and when your profile last changed',
  email: 'See your email address and whether it is verified',
  roles: 'See your role in this service (user or admin)',
  offline_access: 'Keep access while you are not using it',
} as const;

export type Scope = keyof typeof SCOPES;
export const SUPPORTED_SCOPES = Object.keys(SCOPES) as Scope[];

/** The claims each scope releases (OIDC Core §5.4), in ID tokens and at userinfo. */
export const SCOPE_CLAIMS: Record<Scope, readonly string[]> = {
  openid: ['sub'],
  profile: ['preferred_username', 'updated_at'],
  email: ['email', 'email_verified'],
  roles: ['role'],
  offline_access: [],
};

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by single spaces. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const MAX_SCOPES = 32;

export const isScope = (s: string): s is Scope => Object.hasOwn(SCOPES, s);

/** The tokens of a `scope` parameter, once each; a malformed one is `invalid_scope`. */
function scopeTokens(value: string | undefined): string[] {
  if (value === undefined || value === '') return [];
  const tokens = value.split(' ');
  if (tokens.length > MAX_SCOPES || tokens.some((t) => !SCOPE_TOKEN.test(t))) {
    throw new OAuthError('invalid_scope', 'The scope parameter is malformed: scopes are separated by single spaces.');
  }
  return [...new Set(tokens)];
}

function refuseUnknown(tokens: string[], known: (s: string) => boolean): void {
  const unknown = tokens.filter((t) => !known(t));
  if (unknown.length > 0) {
    throw new OAuthError('invalid_scope', `Unknown scope: ${unknown.slice(0, 3).join(' ')}.`);
  }
}

/**
 * Parses a `scope` parameter into its scopes, in the order given, once each. A malformed or
 * unknown scope is `invalid_scope` alike (RFC 6749 §5.2: "invalid, unknown, or malformed").
 */
export function parseScope(value: string | undefined): Scope[] {
  const tokens = scopeTokens(value);
  refuseUnknown(tokens, isScope);
  return tokens as Scope[];
}

/** `admin`: the caller acts as an administrator at the APIs behind the service. */
export const ADMIN_SCOPE = 'admin';

/**
 * The scopes of machine access (client credentials, API keys): the operator's API scopes
 * (OAUTH_API_SCOPES) and `admin`. They name what a caller may do at the APIs behind the
 * service; the authorization endpoint grants none of them (it has no consent words for them).
 */
export const machineScopes = (apiScopes: readonly string[]): string[] => [...apiScopes, ADMIN_SCOPE];

/** Like parseScope, also knowing `machine` (registered client metadata, API keys, client credentials). */
export function parseScopeWith(value: string | undefined, machine: readonly string[]): string[] {
  const tokens = scopeTokens(value);
  refuseUnknown(tokens, (t) => isScope(t) || machine.includes(t));
  return tokens;
}

/**
 * Scopes as the `scope` parameter and claim write them: space-separated, in a stable order
 * (the provider's own first, then machine scopes as given).
 */
export function formatScope(scopes: Iterable<string>): string {
  const set = new Set(scopes);
  return [...SUPPORTED_SCOPES.filter((s) => set.has(s)), ...[...set].filter((s) => !isScope(s))].join(' ');
}

/**
 * The scopes a client may ask for: its registered `scope`, or every supported scope when it
 * registered none. A request outside them is `invalid_scope` (RFC 6749 §3.3 lets a server
 * narrow instead; refusing tells the client's developer at once).
 */
export function assertScopesAllowed(scopes: readonly Scope[], allowed: readonly string[] | null): void {
  if (!allowed) return;
  const outside = scopes.filter((s) => !allowed.includes(s));
  if (outside.length > 0) {
    throw new OAuthError('invalid_scope', `This client may not ask for: ${outside.join(' ')}.`);
  }
}

/** Plain-words lines for a consent page, one per scope that means something to a person. */
export function describeScopes(scopes: readonly Scope[]): { scope: Scope; description: string }[] {
  return scopes.map((scope) => ({ scope, description: SCOPES[scope] }));
}
