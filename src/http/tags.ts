/**
 * The OpenAPI tags. Apart from openapi.ts so that route declarations (routing.ts) can name
 * them without importing the document generator, which imports the declarations' types.
 */
/** The groups of operations, in the order documentation tools list them. */
export const TAGS = {
  auth: 'Registration, login, tokens, logout, password change and the caller’s own user.',
  sessions: 'The caller’s active sessions (one per login), and revoking them one by one.',
  admin: 'User management for admins: list users, change roles, delete users.',
  meta: 'Health, the public signing keys (JWKS) and this document.',
  passkeys:
    'Passkeys (WebAuthn): sign in with or without a username, sign up without a password, and manage the caller’s passkeys. Each ceremony is two calls: options from the service, then the browser’s response.',
  oauth:
    'The OAuth 2.1 and OpenID Connect provider: discovery, the authorization endpoint (through the hosted sign-in and consent pages, whose JSON endpoints are here too), the token endpoint, userinfo, revocation, introspection, dynamic client registration and RP-initiated logout. Errors of the token, userinfo, revocation, introspection and registration endpoints are RFC 6749 JSON (`error`, `error_description`), not problem documents.',
  'two-factor': 'TOTP second factor: enrolment, the second step of a login (`mfa_required` -> verify), recovery codes.',
  recovery:
    'Account recovery: password reset with a single-use token (admin-issued or mailed), forgot-password, the email address it is mailed to.',
  'flask-jwt compatibility':
    'The routes of the Flask-JWT tutorial, answering as it did, so its clients move over unchanged.',
} as const;
export type Tag = keyof typeof TAGS;
