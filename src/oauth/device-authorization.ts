/**
 * The device authorization endpoint (RFC 8628 §3.1, §3.2): an authenticated client (or a public
 * one registered for the device flow) asks for codes; the user goes to `verification_uri` and
 * types the user code, while the device polls the token endpoint with the device code.
 */
import type { Config } from '../platform/config';
import type { Database } from '../platform/db/client';
import { isResourceUri, RESOURCE_RULE } from './authorize-request';
import { DEVICE_CODE_GRANT, type OAuthClient } from './clients';
import { createDeviceCode, DEVICE_CODE_TTL_SECONDS, formatUserCode, POLL_INTERVAL_SECONDS } from './device-codes';
import { OAUTH_PATHS } from './endpoints';
import { OAuthError } from './errors';
import { assertScopesAllowed, formatScope, isScope, parseScope } from './scopes';

export type DeviceAuthorizationResponse = {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
};

export async function authorizeDevice(
  db: Database,
  config: Config,
  issuer: string,
  client: OAuthClient,
  params: { scope?: string | undefined; resource?: string | undefined },
  now: number,
): Promise<DeviceAuthorizationResponse> {
  if (!client.grantTypes.includes(DEVICE_CODE_GRANT)) {
    throw new OAuthError('unauthorized_client', `This client is not registered for ${DEVICE_CODE_GRANT}.`);
  }
  // RFC 6749 §3.3: without a scope, the client's registered scope is the default (its scopes
  // of the APIs are for client credentials).
  const requested = params.scope ?? client.scope?.filter(isScope).join(' ');
  if (!requested) throw new OAuthError('invalid_scope', 'The scope parameter is missing.');
  const scopes = parseScope(requested);
  assertScopesAllowed(scopes, client.scope);
  if (params.resource !== undefined && !isResourceUri(params.resource)) {
    throw new OAuthError('invalid_target', RESOURCE_RULE);
  }
  const { deviceCode, userCode } = await createDeviceCode(
    db,
    config,
    { clientId: client.clientId, scope: formatScope(scopes), resource: params.resource },
    now,
  );
  const shown = formatUserCode(userCode);
  const verification = `${issuer}${OAUTH_PATHS.deviceVerification}`;
  return {
    device_code: deviceCode,
    user_code: shown,
    verification_uri: verification,
    // RFC 8628 §3.3.1: the page fills the code in, and the user still confirms it with Continue.
    verification_uri_complete: `${verification}?user_code=${shown}`,
    expires_in: DEVICE_CODE_TTL_SECONDS,
    interval: POLL_INTERVAL_SECONDS,
  };
}
