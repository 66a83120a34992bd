/**
 * Who the service is to WebAuthn: the relying party ID passkeys are bound to, its display name,
 * and the origins a ceremony may come from. Taken from configuration (WEBAUTHN_RP_ID,
 * WEBAUTHN_ORIGINS); without it, from the request, on loopback only.
 */
import { originWithin, type Config } from '../platform/config';
import { ConfigError } from '../platform/errors';
import { isLoopbackHost } from '../platform/loopback';

export type RelyingParty = { id: string; name: string; origins: readonly string[] };

/**
 * The relying party for a request to `url`. Deployed, WEBAUTHN_RP_ID must be set: a default
 * taken from the request would bind every passkey to whatever host name reached the Worker
 * first (a workers.dev name, say), and they would all stop working when the real domain
 * arrives. On loopback the RP ID is `localhost`; 127.0.0.1 cannot have passkeys at all, since
 * browsers refuse IP addresses as RP IDs.
 */
export function relyingParty(config: Config, url: string): RelyingParty {
  const { rpId, rpName, origins } = config.webauthn;
  const own = new URL(url);
  if (rpId) {
    // By default the service's own origin and its CORS_ORIGINS: a SPA on a sibling host of
    // the same registrable domain signs in with the same passkeys.
    const allowed = origins ?? [own.origin, ...config.corsOrigins].filter((origin) => originWithin(origin, rpId));
    return { id: rpId, name: rpName, origins: allowed };
  }
  if (!isLoopbackHost(own.hostname)) {
    throw new ConfigError(
      'WEBAUTHN_RP_ID is not set: passkeys need it outside local development (the domain passkeys are bound to, e.g. the service’s own)',
    );
  }
  if (own.hostname !== 'localhost') {
    throw new ConfigError(
      `passkeys cannot work at ${own.hostname}: browsers refuse IP addresses as the relying party ID; open http://localhost:${own.port || '80'} instead`,
    );
  }
  const local = [own.origin, ...config.corsOrigins].filter((origin) => new URL(origin).hostname === 'localhost');
  return { id: 'localhost', name: rpName, origins: [...new Set(local)] };
}
