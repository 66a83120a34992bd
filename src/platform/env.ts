/** The one environment type shared by the app, every router and every middleware. */
import type { Config } from './config';
import type { Database } from './db/client';
import type { AccessUser } from './db/schema';
import type { AccessClaims } from '../credentials/tokens';
import type { OAuthKeys } from '../oauth/issuer';
import type { LegacyHashes } from '../../workers/legacy-hashes/src/index';

/** Bindings from wrangler.toml (`[vars]`, `[[d1_databases]]`) and `wrangler secret put`. */
export type Bindings = {
  DB: D1Database;
  ISSUER?: string;
  AUDIENCE?: string;
  ACCESS_TOKEN_TTL?: string;
  REFRESH_TOKEN_TTL?: string;
  REFRESH_REUSE_GRACE?: string;
  PBKDF2_ITERATIONS?: string;
  PASSWORD_MIN_LENGTH?: string;
  LOGIN_MAX_FAILURES?: string;
  LOGIN_IP_MAX_FAILURES?: string;
  LOGIN_USER_MAX_FAILURES?: string;
  LOGIN_WINDOW?: string;
  LOGIN_KNOWN_ADDRESS_PARALLEL?: string;
  LEGACY_VERIFY_MAX_FAILURES?: string;
  REGISTER_IP_MAX?: string;
  REGISTER_WINDOW?: string;
  SESSION_RETENTION?: string;
  SESSION_MAX_LIFETIME?: string;
  ACCESS_CHECK_CACHE_TTL?: string;
  D1_READS?: string;
  D1_REPLICA_LAG_BOUND?: string;
  CORS_ORIGINS?: string;
  JWT_SECRET?: string;
  JWT_PREVIOUS_SECRETS?: string;
  JWT_PRIVATE_KEY?: string;
  JWT_PREVIOUS_PUBLIC_KEYS?: string;
  PASSWORD_PEPPER?: string;
  DATA_ENCRYPTION_KEY?: string;
  MFA_MAX_FAILURES?: string;
  MFA_WINDOW?: string;
  MFA_MAX_CONSECUTIVE_FAILURES?: string;
  PASSWORD_RESET_TTL?: string;
  RECOVERY_IP_MAX?: string;
  EMAIL_USER_MAX?: string;
  EMAIL_RESET_USER_MAX?: string;
  EMAIL_FROM?: string;
  WEBAUTHN_RP_ID?: string;
  WEBAUTHN_RP_NAME?: string;
  WEBAUTHN_ORIGINS?: string;
  PASSKEY_OPTIONS_IP_MAX?: string;
  OAUTH_ISSUER?: string;
  OAUTH_OPEN_REGISTRATION?: string;
  OAUTH_TOKEN_CLIENT_MAX?: string;
  OAUTH_TOKEN_IP_MAX?: string;
  OAUTH_USER_CODE_IP_MAX?: string;
  OAUTH_USER_CODE_FAILURES_MAX?: string;
  DPOP_PROOF_MAX_AGE?: string;
  DPOP_NONCE?: string;
  OAUTH_API_SCOPES?: string;
  /** Cloudflare Email Sending (`[[send_email]]` in wrangler.toml); optional, see services/email.ts. */
  EMAIL?: SendEmail;
  /**
   * The companion Worker that checks imported Flask hashes WebCrypto cannot (`[[services]]` in
   * wrangler.toml); optional, see legacy-hashes-companion.ts.
   */
  LEGACY_HASHES?: Service<LegacyHashes>;
};

export type AppEnv = {
  Bindings: Bindings;
  /**
   * Read them with `c.get('name')`: Hono's `c.var` builds a new object of every variable on
   * each access, which the protected path would pay several times per request.
   */
  Variables: {
    config: Config;
    db: Database;
    requestId: string;
    /** From CF-Connecting-IP only (X-Forwarded-For is client-controlled); absent off Cloudflare. */
    clientIp: string | undefined;
    /** Set by requireAuth: the user as just read from D1 (role is authoritative there). */
    user: AccessUser;
    claims: AccessClaims;
    /** requireAuth({ deferred: true }): the D1 half of the access check is the handler's (withAccessCheck). */
    accessCheck: 'deferred' | 'done';
    /**
     * Set by the oauthEndpoint middleware: this route answers errors in the RFC's JSON (RFC 6749
     * §5.2), and `validation` is the code its request-validation failures get.
     */
    oauthErrors: { validation: 'invalid_request' | 'invalid_client_metadata' };
    /** Set by the oauthEndpoint middleware: the issuer and the asymmetric keys, both checked. */
    oauth: { issuer: string; keys: OAuthKeys };
  };
};
