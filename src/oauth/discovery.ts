/**
 * Authorization server metadata: OpenID Connect Discovery 1.0 and RFC 8414 serve the same
 * document. It lists only what is implemented, so a client library never tries a feature that
 * is not there.
 */
import type { KeyRing } from '../credentials/keys';
import { CLIENT_KEY_ALGS, ID_TOKEN_ALGS } from './clients';
import { OAUTH_PATHS } from './endpoints';
import { GRANT_TYPES } from './grants';
import { machineScopes, SCOPE_CLAIMS, SUPPORTED_SCOPES } from './scopes';
import { CLIENT_AUTH_METHODS } from '../platform/db/schema';
import { DPOP_ALGS } from '../dpop/errors';

export function serverMetadata(issuer: string, ring: KeyRing, apiScopes: readonly string[]) {
  const url = (path: string) => `${issuer}${path}`;
  // ID tokens can be signed with each algorithm a key is configured for (RS256 always is).
  const idTokenAlgs = ID_TOKEN_ALGS.filter((alg) => ring.bySigningAlg[alg]);
  return {
    issuer,
    authorization_endpoint: url(OAUTH_PATHS.authorization),
    device_authorization_endpoint: url(OAUTH_PATHS.deviceAuthorization),
    token_endpoint: url(OAUTH_PATHS.token),
    userinfo_endpoint: url(OAUTH_PATHS.userinfo),
    revocation_endpoint: url(OAUTH_PATHS.revocation),
    introspection_endpoint: url(OAUTH_PATHS.introspection),
    registration_endpoint: url(OAUTH_PATHS.registration),
    end_session_endpoint: url(OAUTH_PATHS.endSession),
    jwks_uri: url(OAUTH_PATHS.jwks),
    // The scopes of the APIs too: client credentials and API keys ask for them.
    scopes_supported: [...SUPPORTED_SCOPES, ...machineScopes(apiScopes)],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: GRANT_TYPES,
    subject_types_supported: ['public'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
    revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
    introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
    // What private_key_jwt assertions may be signed with (RFC 8414 §2); the revocation and
    // introspection endpoints take the same (their own members default to these).
    token_endpoint_auth_signing_alg_values_supported: CLIENT_KEY_ALGS,
    id_token_signing_alg_values_supported: idTokenAlgs,
    claims_supported: [
      'iss',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'nonce',
      'amr',
      'sid',
      ...new Set(Object.values(SCOPE_CLAIMS).flat()),
    ],
    claims_parameter_supported: false,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    authorization_response_iss_parameter_supported: true,
    dpop_signing_alg_values_supported: DPOP_ALGS,
    prompt_values_supported: ['none', 'login', 'consent'],
  };
}

export type ServerMetadata = ReturnType<typeof serverMetadata>;
