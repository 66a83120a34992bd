/** Where each OAuth endpoint answers, relative to the issuer (discovery advertises these). */
export const OAUTH_PATHS = {
  authorization: '/oauth/authorize',
  deviceAuthorization: '/oauth/device_authorization',
  /** The hosted page where a user enters a device's code (RFC 8628 `verification_uri`). */
  deviceVerification: '/oauth/device',
  token: '/oauth/token',
  userinfo: '/oauth/userinfo',
  revocation: '/oauth/revoke',
  introspection: '/oauth/introspect',
  registration: '/oauth/register',
  endSession: '/oauth/logout',
  jwks: '/.well-known/jwks.json',
} as const;
