/**
 * Dynamic Client Registration (RFC 7591). With an admin's access token as the initial access
 * token, any client may be registered. Without one, only when OAUTH_OPEN_REGISTRATION=true,
 * and then only public clients (`token_endpoint_auth_method: none`) redirecting to https or
 * loopback: what MCP clients need, and nothing that would hold a secret or reach a custom
 * scheme registered by a stranger. Registration is limited per address either way.
 */
import { addressKey } from '../platform/address';
import { audit, type RequestLog } from '../platform/audit';
import type { Config } from '../platform/config';
import type { Database } from '../platform/db/client';
import { countAgainst } from '../throttle/rate-limit';
import { clientMetadataResponse, registerClient, type ClientMetadata } from './clients';
import { OAuthError } from './errors';
import { noToken } from './userinfo';

export async function registerDynamicClient(
  db: Database,
  config: Config,
  metadata: ClientMetadata,
  input: { adminId: string | undefined } & RequestLog,
  now = Date.now(),
) {
  if (!input.adminId && !config.oauth.openRegistration) {
    throw noToken('Registration needs an admin access token as the initial access token (open registration is off).');
  }
  const address = addressKey(input.ip);
  if (address) {
    const limit = { key: `oauth-register:address:${address}`, windowSeconds: config.registerWindow };
    const { ok, until } = await countAgainst(db, { ...limit, max: config.registerIpMax }, now);
    if (!ok) {
      const seconds = Math.max(1, Math.ceil((until - now) / 1000));
      throw new OAuthError('temporarily_unavailable', `Too many registrations; try again in ${seconds} seconds.`, {
        status: 429,
        headers: { 'Retry-After': String(seconds) },
      });
    }
  }
  const { client, clientSecret } = await registerClient(db, metadata, input.adminId ? 'admin' : 'open', now);
  audit('oauth_client_registered', {
    requestId: input.requestId,
    ip: input.ip,
    userId: input.adminId,
    clientId: client.clientId,
    method: client.registeredBy,
  });
  return {
    ...clientMetadataResponse(client),
    // RFC 7591 §3.2.1: shown this once; only its hash is kept. 0: it does not expire.
    ...(clientSecret ? { client_secret: clientSecret, client_secret_expires_at: 0 } : {}),
  };
}
