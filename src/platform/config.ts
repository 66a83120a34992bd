/**
 * Configuration, parsed and validated once per isolate from `env` (wrangler.toml `[vars]`
 * plus secrets). Nothing else in the service reads `env.SOME_VAR`; a bad setting fails
 * loudly here, naming the variable and never echoing its value (it may be a secret).
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { ConfigError } from './errors';
import { isLoopbackHost } from './loopback';

// zod/mini sets no locale: without English, every message zod words itself is "Invalid input".
// Configuration errors quote it (docs/configuration.md), and so does an OAuth error_description
// (formBody): 1.1 KiB gzipped, for the whole Worker, since the setting is global.
z.config(en());

/** Deployed Workers refuse PBKDF2 above this (workerd's DEFAULT_MAX_PBKDF2_ITERATIONS). */
export const MAX_PBKDF2_ITERATIONS = 100_000;
/** ASVS 5.0 2.1.1 floor; NIST SP 800-63B-4 asks 15 for single-factor passwords. */
export const MIN_PASSWORD_LENGTH_FLOOR = 8;
export const MAX_PASSWORD_LENGTH = 128;
const MIN_SECRET_BYTES = 32;
export const MAX_ACCESS_CHECK_CACHE_TTL = 60;
export const MAX_D1_REPLICA_LAG_BOUND = 300;

const bytes = (s: string) => new TextEncoder().encode(s).length;
const int = (min: number, max: number, fallback: number) =>
  z._default(z.coerce.number().check(z.int(), z.minimum(min), z.maximum(max)), fallback);
const secret = (name: string) =>
  z.string().check(z.refine((s) => bytes(s) >= MIN_SECRET_BYTES, `${name} must be at least ${MIN_SECRET_BYTES} bytes`));
const list = z.pipe(
  z._default(z.string(), ''),
  z.transform((s) =>
    s
      .split(/[\s,]+/)
      .map((v) => v.trim())
      .filter(Boolean),
  ),
);

/** RS256 is what OpenID Connect requires every provider to support (OIDC Core §15.1). */
export const ASYMMETRIC_ALGS = ['EdDSA', 'ES256', 'RS256'] as const;
export type AsymmetricAlg = (typeof ASYMMETRIC_ALGS)[number];
const KEY_TYPES: Record<AsymmetricAlg, string> = { EdDSA: 'OKP', ES256: 'EC', RS256: 'RSA' };
const keyTypeMatches = (jwk: { alg: AsymmetricAlg; kty: string }) => KEY_TYPES[jwk.alg] === jwk.kty;
const KEY_TYPE_RULE = 'kty must match alg (EdDSA: OKP, ES256: EC, RS256: RSA)';

const privateJwk = z.pipe(
  z
    .looseObject({
      kid: z.string().check(z.minLength(1), z.maxLength(64)),
      alg: z.enum(ASYMMETRIC_ALGS),
      kty: z.enum(['OKP', 'EC', 'RSA']),
      d: z.string().check(z.minLength(1)),
    })
    .check(z.refine(keyTypeMatches, KEY_TYPE_RULE)),
  z.transform((jwk) => jwk as JsonWebKey & { kid: string; alg: AsymmetricAlg }),
);
const publicJwk = z.pipe(
  z
    .looseObject({
      kid: z.string().check(z.minLength(1), z.maxLength(64)),
      alg: z.enum(ASYMMETRIC_ALGS),
      kty: z.enum(['OKP', 'EC', 'RSA']),
    })
    .check(
      z.refine((jwk) => !('d' in jwk), 'must be a public key (no "d")'),
      z.refine(keyTypeMatches, KEY_TYPE_RULE),
    ),
  z.transform((jwk) => jwk as JsonWebKey & { kid: string; alg: AsymmetricAlg }),
);
/**
 * One private JWK, or an array of them with at most one per algorithm: the first signs the
 * service's own access tokens; each signs the OAuth tokens (ID tokens, OAuth access tokens)
 * of its algorithm, so an RS256 key can sit beside a faster EdDSA one.
 */
const privateJwks = z
  .union([
    z.pipe(
      privateJwk,
      z.transform((jwk) => [jwk]),
    ),
    z.array(privateJwk).check(z.minLength(1), z.maxLength(3)),
  ])
  .check(
    z.refine((keys) => new Set(keys.map((k) => k.alg)).size === keys.length, 'at most one key per alg'),
    z.refine((keys) => new Set(keys.map((k) => k.kid)).size === keys.length, 'each key needs its own kid'),
  );

const json = <T extends z.ZodMiniType>(schema: T) =>
  z.pipe(
    z.pipe(
      z.string(),
      z.transform((s, payload) => {
        try {
          return JSON.parse(s) as unknown;
        } catch {
          payload.issues.push({ code: 'custom', message: 'must be valid JSON', input: s });
          return z.NEVER;
        }
      }),
    ),
    schema,
  );

/** An optional setting; set to the empty string it counts as not set (`PASSWORD_PEPPER=`). */
const unset = <T extends z.ZodMiniType>(schema: T) =>
  z.pipe(
    z.transform((v) => (v === '' ? undefined : v)),
    z.optional(schema),
  );

/**
 * A URL that is https, or plain http on loopback only (a local dev server): a page served over
 * http elsewhere can be rewritten by anyone on the network path.
 */
const secureUrl = z
  .pipe(
    z.url({ protocol: /^https?$/ }),
    z.transform((u) => new URL(u)),
  )
  .check(
    z.refine(
      (u) => u.protocol === 'https:' || isLoopbackHost(u.hostname),
      'must be https:// (http:// only on loopback)',
    ),
  );

/**
 * A browser origin allowed to call with credentials, over secureUrl: an origin served over
 * plain http could be rewritten to read tokens and ride the refresh cookie as that origin.
 */
const corsOrigin = z.pipe(
  secureUrl,
  z.transform((u) => u.origin),
);

/**
 * A WebAuthn relying party ID: a host name, the service's own or a parent of it that the
 * apps share (`example.com` for `auth.example.com` and `app.example.com`). Never an IP address:
 * browsers refuse those as RP IDs.
 */
const rpId = z.string().check(
  z.toLowerCase(),
  z.regex(
    /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/,
    'must be a host name (no scheme, port or path)',
  ),
  z.refine((id) => !/^\d+(\.\d+){3}$/.test(id), 'must be a domain name: browsers refuse IP addresses as RP IDs'),
);

/** Whether `origin` may ask for credentials of `rpId`: its host is the RP ID or below it. */
export const originWithin = (origin: string, id: string): boolean => {
  const host = new URL(origin).hostname;
  return host === id || host.endsWith(`.${id}`);
};

/**
 * The OAuth issuer: an origin (no path, query or fragment), https outside loopback. Endpoints
 * are advertised on it, so it must be where this Worker answers; a path would need the
 * path-inserted well-known URLs of RFC 8414 §3, which a Worker on its own hostname never needs.
 */
const oauthIssuer = z.pipe(
  secureUrl.check(
    z.refine((u) => u.pathname === '/' && !u.search && !u.hash, 'must be an origin, without path, query or fragment'),
  ),
  z.transform((u) => u.origin),
);

/**
 * Scopes of the APIs behind the service, for machine clients and API keys (src/oauth/scopes.ts):
 * RFC 6749 §3.3 scope tokens, none of them one of the OpenID Connect scopes or `admin`, which
 * the provider defines itself.
 */
const apiScopes = z.pipe(
  z.pipe(
    z._default(z.string(), 'api'),
    z.transform((s) => s.split(/[\s,]+/).filter(Boolean)),
  ),
  z
    .array(
      z.string().check(
        z.maxLength(64),
        z.regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be scope tokens (RFC 6749 §3.3)'),
        z.refine(
          (s) => !['openid', 'profile', 'email', 'roles', 'offline_access', 'admin'].includes(s),
          'must not redefine a scope of the provider',
        ),
      ),
    )
    .check(z.maxLength(32)),
);

const envSchema = z.object({
  ISSUER: z._default(z.string().check(z.minLength(1)), 'edge-auth'),
  AUDIENCE: z._default(z.string().check(z.minLength(1)), 'edge-auth'),
  ACCESS_TOKEN_TTL: int(30, 86_400, 900),
  REFRESH_TOKEN_TTL: int(60, 400 * 86_400, 30 * 86_400),
  REFRESH_REUSE_GRACE: int(0, 120, 10),
  PBKDF2_ITERATIONS: int(10_000, MAX_PBKDF2_ITERATIONS, MAX_PBKDF2_ITERATIONS),
  PASSWORD_MIN_LENGTH: int(MIN_PASSWORD_LENGTH_FLOOR, 64, MIN_PASSWORD_LENGTH_FLOOR),
  LOGIN_MAX_FAILURES: int(1, 1000, 5),
  LOGIN_IP_MAX_FAILURES: int(1, 100_000, 50),
  // Per username across every address: far above the per-address limit, against guessing
  // spread over many addresses; it never locks the owner out of a known address.
  LOGIN_USER_MAX_FAILURES: int(1, 1_000_000, 100),
  LOGIN_WINDOW: int(1, 86_400, 900),
  // Logins in flight at once per (username, address) at a known address of the user: a fleet
  // behind one NAT sharing one account. Failures still lock after LOGIN_MAX_FAILURES.
  LOGIN_KNOWN_ADDRESS_PARALLEL: int(1, 1000, 20),
  // Failed logins per hour, over all addresses, of an account whose stored hash is still an
  // imported one: each check of such a hash may cost seconds of CPU.
  LEGACY_VERIFY_MAX_FAILURES: int(1, 1000, 10),
  // Benchmarks and bulk tests lift the registration limit with very large values.
  REGISTER_IP_MAX: int(1, 1_000_000_000, 20),
  REGISTER_WINDOW: int(1, 1_000_000_000, 3_600),
  SESSION_RETENTION: int(0, 400 * 86_400, 7 * 86_400),
  // ASVS 7.3.2: a session ends this long after login however active it is.
  SESSION_MAX_LIFETIME: int(60, 400 * 86_400, 90 * 86_400),
  // Seconds a positive access check may be reused by an isolate (0 = every request asks D1).
  ACCESS_CHECK_CACHE_TTL: int(0, MAX_ACCESS_CHECK_CACHE_TTL, 0),
  // `nearest`: reads through D1 read replication (the Sessions API); see db/client.ts.
  D1_READS: z._default(z.enum(['primary', 'nearest']), 'primary'),
  // Seconds a replica may lag the primary: after this isolate revokes a user, checks of that
  // user read from a replica are not cached for ACCESS_CHECK_CACHE_TTL plus this.
  D1_REPLICA_LAG_BOUND: int(0, MAX_D1_REPLICA_LAG_BOUND, 10),
  CORS_ORIGINS: z.pipe(list, z.array(corsOrigin)),
  JWT_SECRET: unset(secret('JWT_SECRET')),
  JWT_PREVIOUS_SECRETS: z.pipe(list, z.array(secret('JWT_PREVIOUS_SECRETS entries'))),
  JWT_PRIVATE_KEY: unset(json(privateJwks)),
  JWT_PREVIOUS_PUBLIC_KEYS: unset(
    json(
      z.union([
        z.array(publicJwk),
        z.pipe(
          z.object({ keys: z.array(publicJwk) }),
          z.transform((s) => s.keys),
        ),
      ]),
    ),
  ),
  PASSWORD_PEPPER: unset(secret('PASSWORD_PEPPER')),
  DATA_ENCRYPTION_KEY: unset(secret('DATA_ENCRYPTION_KEY')),
  MFA_MAX_FAILURES: int(1, 1000, 10),
  MFA_WINDOW: int(60, 86_400, 900),
  // NIST SP 800-63B 5.2.2 (at most 100): wrong codes in a row, over every window, before TOTP
  // codes are refused for the account (a recovery code or an admin reset still works).
  MFA_MAX_CONSECUTIVE_FAILURES: int(1, 100, 100),
  PASSWORD_RESET_TTL: int(300, 7 * 86_400, 3600),
  RECOVERY_IP_MAX: int(1, 1_000_000, 20),
  EMAIL_USER_MAX: int(1, 100, 3),
  EMAIL_RESET_USER_MAX: int(1, 1000, 10),
  EMAIL_FROM: unset(z.email()),
  WEBAUTHN_RP_ID: unset(rpId),
  WEBAUTHN_RP_NAME: z._default(z.string().check(z.minLength(1), z.maxLength(64)), 'edge-auth'),
  WEBAUTHN_ORIGINS: z.pipe(list, z.array(corsOrigin)),
  // Passkey sign-in options per address per LOGIN_WINDOW (each stores a challenge; a completed
  // sign-in gives its one back). Generous: the demo's autofill asks for one on every page load.
  PASSKEY_OPTIONS_IP_MAX: int(1, 1_000_000_000, 300),
  OAUTH_ISSUER: unset(oauthIssuer),
  OAUTH_OPEN_REGISTRATION: z._default(z.enum(['true', 'false']), 'false'),
  // Per minute; a confidential client's backend asks on behalf of all its users from few addresses.
  OAUTH_TOKEN_CLIENT_MAX: int(1, 1_000_000, 600),
  OAUTH_TOKEN_IP_MAX: int(1, 1_000_000, 600),
  // Per hour, against guessing the device flow's user codes (8 letters: 2.6e10 of them): wrong
  // codes per address, and wrong codes over every address together.
  OAUTH_USER_CODE_IP_MAX: int(1, 10_000, 20),
  OAUTH_USER_CODE_FAILURES_MAX: int(1, 1_000_000, 1000),
  // RFC 9449: how old a DPoP proof's `iat` may be; also how long a spent proof's jti is kept.
  DPOP_PROOF_MAX_AGE: int(10, 300, 60),
  DPOP_NONCE: z._default(z.enum(['true', 'false']), 'false'),
  OAUTH_API_SCOPES: apiScopes,
});

export type Config = ReturnType<typeof toConfig>;

function toConfig(env: z.output<typeof envSchema>) {
  if (!env.JWT_SECRET && !env.JWT_PRIVATE_KEY) {
    throw new ConfigError(
      'JWT_SECRET is not set: set it (at least 32 random bytes) with `wrangler secret put JWT_SECRET`, or configure JWT_PRIVATE_KEY',
    );
  }
  const origins = env.WEBAUTHN_ORIGINS;
  if (origins.length > 0 && !env.WEBAUTHN_RP_ID) {
    throw new ConfigError('invalid configuration: WEBAUTHN_ORIGINS is set without WEBAUTHN_RP_ID: set both');
  }
  const outside = origins.filter((origin) => !originWithin(origin, env.WEBAUTHN_RP_ID!));
  if (outside.length > 0) {
    throw new ConfigError(
      'invalid configuration: WEBAUTHN_ORIGINS: every origin must be on WEBAUTHN_RP_ID or a subdomain of it (browsers refuse the others)',
    );
  }
  return {
    issuer: env.ISSUER,
    audience: env.AUDIENCE,
    accessTokenTtl: env.ACCESS_TOKEN_TTL,
    refreshTokenTtl: env.REFRESH_TOKEN_TTL,
    refreshReuseGrace: env.REFRESH_REUSE_GRACE,
    pbkdf2Iterations: env.PBKDF2_ITERATIONS,
    passwordMinLength: env.PASSWORD_MIN_LENGTH,
    loginMaxFailures: env.LOGIN_MAX_FAILURES,
    loginIpMaxFailures: env.LOGIN_IP_MAX_FAILURES,
    loginUserMaxFailures: env.LOGIN_USER_MAX_FAILURES,
    loginWindow: env.LOGIN_WINDOW,
    loginKnownAddressParallel: env.LOGIN_KNOWN_ADDRESS_PARALLEL,
    legacyVerifyMaxFailures: env.LEGACY_VERIFY_MAX_FAILURES,
    registerIpMax: env.REGISTER_IP_MAX,
    registerWindow: env.REGISTER_WINDOW,
    sessionRetention: env.SESSION_RETENTION,
    sessionMaxLifetime: env.SESSION_MAX_LIFETIME,
    accessCheckCacheTtl: env.ACCESS_CHECK_CACHE_TTL,
    d1Reads: env.D1_READS,
    d1ReplicaLagBound: env.D1_REPLICA_LAG_BOUND,
    corsOrigins: env.CORS_ORIGINS,
    pepper: env.PASSWORD_PEPPER,
    /** Seals TOTP secrets and keys recovery-code hashes (src/two-factor/data-key.ts); unset = MFA off. */
    dataEncryptionKey: env.DATA_ENCRYPTION_KEY,
    mfaMaxFailures: env.MFA_MAX_FAILURES,
    mfaWindow: env.MFA_WINDOW,
    mfaMaxConsecutiveFailures: env.MFA_MAX_CONSECUTIVE_FAILURES,
    passwordResetTtl: env.PASSWORD_RESET_TTL,
    /** Per address and hour: password resets tried and forgot-password requests. */
    recoveryIpMax: env.RECOVERY_IP_MAX,
    /** Per hour: verification mails an account sends; reset mails per (user, requesting address). */
    emailUserMax: env.EMAIL_USER_MAX,
    /** Per user and day: reset mails asked from addresses the user is not known at, together. */
    emailResetUserMax: env.EMAIL_RESET_USER_MAX,
    emailFrom: env.EMAIL_FROM,
    dpop: {
      /** Seconds a proof's `iat` may lie in the past; also the server nonce's window (src/dpop/nonce.ts). */
      proofMaxAge: env.DPOP_PROOF_MAX_AGE,
      /** Every proof must carry a current server nonce (`DPoP-Nonce`, RFC 9449 §8 and §9). */
      nonce: env.DPOP_NONCE === 'true',
    },
    /**
     * Passkeys (src/passkeys/relying-party.ts). Without an RP ID, passkeys work on loopback only
     * (the RP ID is then `localhost`); elsewhere their routes answer 500 `misconfigured`.
     * Without origins: the service's own origin plus those of CORS_ORIGINS on the RP ID.
     */
    webauthn: {
      rpId: env.WEBAUTHN_RP_ID,
      rpName: env.WEBAUTHN_RP_NAME,
      origins: origins.length > 0 ? origins : undefined,
      optionsIpMax: env.PASSKEY_OPTIONS_IP_MAX,
    },
    jwt: {
      secret: env.JWT_SECRET,
      previousSecrets: env.JWT_PREVIOUS_SECRETS,
      /** The first signs the service's own access tokens; each signs OAuth tokens of its alg. */
      privateKeys: env.JWT_PRIVATE_KEY ?? [],
      previousPublicKeys: env.JWT_PREVIOUS_PUBLIC_KEYS ?? [],
    },
    oauth: {
      /** Unset: the request's origin on loopback (local dev); elsewhere OAuth answers 500 misconfigured. */
      issuer: env.OAUTH_ISSUER,
      /** Registration without an initial access token, for public clients only (MCP clients). */
      openRegistration: env.OAUTH_OPEN_REGISTRATION === 'true',
      tokenClientMax: env.OAUTH_TOKEN_CLIENT_MAX,
      tokenIpMax: env.OAUTH_TOKEN_IP_MAX,
      /** Per hour: wrong user codes on the device page per address, and over all addresses. */
      userCodeIpMax: env.OAUTH_USER_CODE_IP_MAX,
      userCodeFailuresMax: env.OAUTH_USER_CODE_FAILURES_MAX,
      /** What machine clients and API keys may be granted, besides `admin` (scopes.ts). */
      apiScopes: env.OAUTH_API_SCOPES,
    },
  };
}

/** Parses `env` into a Config; throws ConfigError naming every bad variable (never values). */
export function parseConfig(env: Record<string, unknown>): Config {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return toConfig(result.data);
}

const byEnv = new WeakMap<object, Config>();
const byValues = new Map<string, Config>();
const VARIABLES = Object.keys(envSchema.shape) as (keyof typeof envSchema.shape)[];

/**
 * The isolate's parsed configuration. `env` is normally one object for the isolate's life,
 * but nothing promises that, so a miss falls back to the variables' values: either way the
 * parse, and the CryptoKey imports keyed on the Config (keys.ts), happen once per isolate.
 */
export function getConfig(env: object): Config {
  let config = byEnv.get(env);
  if (config) return config;
  const vars = env as Record<string, unknown>;
  const fingerprint = JSON.stringify(VARIABLES.map((name) => vars[name] ?? null));
  config = byValues.get(fingerprint);
  if (!config) {
    config = parseConfig(vars);
    byValues.set(fingerprint, config);
  }
  byEnv.set(env, config);
  return config;
}
