/**
 * What every OAuth request needs before it does anything: the issuer, and asymmetric signing
 * keys. Both are configuration, so a deployment missing either fails loudly (500
 * `misconfigured`, the log naming the variable) on its first OAuth request, never silently.
 */
import type { AsymmetricAlg, Config } from '../platform/config';
import { ConfigError } from '../platform/errors';
import { isLoopbackHost } from '../platform/loopback';
import { getKeyRing, type KeyRing, type SigningKey } from '../credentials/keys';

/**
 * OAUTH_ISSUER, or, where it is not set, the request's origin on loopback only (local dev):
 * elsewhere the Host header would choose the issuer, and tokens would name whatever host an
 * attacker's request came in on.
 */
export function resolveIssuer(config: Config, requestUrl: string): string {
  if (config.oauth.issuer) return config.oauth.issuer;
  const url = new URL(requestUrl);
  if (isLoopbackHost(url.hostname)) return url.origin;
  throw new ConfigError(
    'OAUTH_ISSUER is not set: set it to the https origin this service answers on (e.g. https://auth.example.com) to use the OAuth endpoints',
  );
}

export type OAuthKeys = { ring: KeyRing; signer: (alg: AsymmetricAlg) => SigningKey & { alg: AsymmetricAlg } };

/**
 * The key ring, provided it has an RS256 key: OpenID Connect requires RS256 of every provider
 * (OIDC Core §15.1), ID tokens default to it, and a shared HS256 secret must never sign tokens
 * that third parties verify.
 */
export async function oauthKeys(config: Config): Promise<OAuthKeys> {
  const ring = await getKeyRing(config);
  if (!ring.bySigningAlg.RS256) {
    throw new ConfigError(
      'JWT_PRIVATE_KEY has no RS256 key: the OAuth endpoints sign with an asymmetric key, and OpenID Connect requires RS256 (npm run keys:generate -- --alg RS256)',
    );
  }
  return {
    ring,
    signer(alg) {
      const key = ring.bySigningAlg[alg];
      if (!key) throw new ConfigError(`JWT_PRIVATE_KEY has no ${alg} key, which a client registered for its ID tokens`);
      return key;
    },
  };
}
