/** Where each OAuth endpoint answers, relative to the issuer (discovery advertises these). */
export const OAUTH_PATHS = {
  authorization: '/oauth/authorize',
  token: '/oauth/token',
  userinfo: '/oauth/userinfo',
  revocation: '/oauth/revoke',
  introspection: '/oauth/introspect',
  registration: '/oauth/register',
  endSession: '/oauth/logout',
  jwks: '/.well-known/jwks.json',
} as const;
