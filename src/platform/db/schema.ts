/**
 * The database schema, and the source of truth for `migrations/` (`npm run db:generate`).
 * Times are Unix epoch milliseconds in INTEGER columns, so conditional updates can compare
 * them in SQL without conversions.
 */
import { sql } from 'drizzle-orm';
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

export const ROLES = ['user', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const users = sqliteTable(
  'users',
  {
    id: text('id').primaryKey(),
    /** As the user typed it (after NFKC), shown back to them. */
    username: text('username').notNull(),
    /** Lower-cased form; the unique index on it makes `Joe` and `joe` one user. */
    usernameKey: text('username_key').notNull(),
    /**
     * NO_PASSWORD (credentials/password.ts) for an account made with a passkey: a value no
     * password matches, not NULL. Making the column nullable would rebuild the table, and on D1
     * that rebuild's DROP TABLE cascades into every table that references users (checked: it
     * deleted every session); the equality checks on this column (session inserts, password
     * changes) also keep working with a value where NULL would never compare equal.
     */
    passwordHash: text('password_hash').notNull(),
    role: text('role', { enum: ROLES }).notNull().default('user'),
    /** Carried in access tokens as `ver`; bumping it kills every access token issued before. */
    tokenVersion: integer('token_version').notNull().default(0),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
    /** Whether sign-in asks for a second factor (a confirmed row in mfa_totp). */
    mfaEnabled: integer('mfa_enabled', { mode: 'boolean' }).notNull().default(false),
    /** A verified address only (pending ones wait in email_verifications); lower-cased in email_key. */
    email: text('email'),
    emailKey: text('email_key'),
    emailVerifiedAt: integer('email_verified_at'),
  },
  (t) => [
    uniqueIndex('users_username_key_unique').on(t.usernameKey),
    // A verified address belongs to one user only (NULLs do not collide in SQLite).
    uniqueIndex('users_email_key_unique').on(t.emailKey),
    check('users_role_check', sql`${t.role} IN ('user', 'admin')`),
  ],
);

/** One row per login: the "family" every rotated refresh token of that login belongs to. */
export const sessions = sqliteTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    userAgent: text('user_agent'),
    createdAt: integer('created_at').notNull(),
    lastUsedAt: integer('last_used_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    /**
     * The user's token version when the session began (kept in step by a password change for
     * the session it keeps). A refresh whose session lags the user's version is refused, so a
     * session created by a login racing a logout-all or a password change cannot live on.
     */
    tokenVersion: integer('token_version').notNull().default(0),
    revokedAt: integer('revoked_at'),
    revokedReason: text('revoked_reason'),
    /**
     * Set when the session is an OAuth grant: the client it was granted to. Such a session's
     * refresh tokens work only at the token endpoint, for that client, and deleting the
     * client ends it. NULL: a session of the service itself (login).
     */
    clientId: text('client_id').references(() => oauthClients.id, { onDelete: 'cascade' }),
    /** The grant's scope, space-separated (RFC 6749 §3.3). */
    scope: text('scope'),
    /** The RFC 8707 resource bound to the grant; access tokens name it as `aud`. */
    resource: text('resource'),
    /**
     * When the user authenticated (ms): for an OAuth grant, the ID token's `auth_time`; for a
     * session of the service itself, its login (NULL for sessions older than passkeys).
     */
    authTime: integer('auth_time'),
    /**
     * RFC 8176 methods of that authentication, space-separated: `pwd`, `pwd otp`, or `hwk user`
     * for a passkey with user verification. The ID token's `amr`; and how an account without a
     * password proves a recent passkey sign-in before a credential change.
     */
    amr: text('amr'),
    /** The browser's session with the service the grant was given from, if any. */
    browserSessionId: text('browser_session_id'),
    /**
     * The JWK SHA-256 thumbprint (RFC 7638) of the DPoP key the session was begun with, or NULL
     * for a Bearer session. Its access tokens carry it as `cnf.jkt`, and a refresh must prove
     * possession of that key (src/dpop/). An OAuth grant is bound only for a public client
     * (RFC 9449 §5): a confidential client's refresh token is bound to its credentials instead.
     */
    dpopJkt: text('dpop_jkt'),
  },
  (t) => [
    index('sessions_user_id_idx').on(t.userId),
    index('sessions_expires_at_idx').on(t.expiresAt),
    index('sessions_client_id_idx').on(t.clientId),
  ],
);

/**
 * Every refresh token ever issued, by SHA-256 of its value (the value itself is never
 * stored). A rotated token keeps its row, so presenting it again is recognised as reuse.
 */
export const refreshTokens = sqliteTable(
  'refresh_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    sessionId: text('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    rotatedAt: integer('rotated_at'),
    /** Hash of the token that replaced this one: the compare-and-swap target. */
    successorHash: text('successor_hash'),
    /**
     * The successor, AES-GCM-sealed under a key derived from *this* token's value, so only
     * a holder of this token can open it. Lets a parallel tab that lost the rotation race get
     * the same successor within the grace window, without the database ever holding a
     * usable token.
     */
    successorSealed: text('successor_sealed'),
  },
  (t) => [index('refresh_tokens_session_id_idx').on(t.sessionId)],
);

/**
 * DPoP proofs spent at the endpoints that begin or continue a session (login, two-factor
 * verify, refresh), by SHA-256 of the key's thumbprint and the proof's `jti`: the primary key
 * makes a second use of one proof fail, on every isolate at once. `claim` is a random value of
 * the request that inserted the row, so the refresh batch can tell its own insert from an
 * earlier one. Kept until the proof is too old to be accepted anyway (daily cleanup).
 */
export const dpopProofs = sqliteTable(
  'dpop_proofs',
  {
    key: text('key').primaryKey(),
    claim: text('claim').notNull(),
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('dpop_proofs_expires_at_idx').on(t.expiresAt)],
);

/**
 * Fixed-window counters for every throttle (login attempts, registrations, ...), keyed by
 * `<purpose>:<subject>`. Each row carries its own window end, so one cleanup query serves
 * every purpose whatever its window length.
 */
export const rateCounters = sqliteTable('rate_counters', {
  key: text('key').primaryKey(),
  windowStart: integer('window_start').notNull(),
  expiresAt: integer('expires_at').notNull(),
  count: integer('count').notNull(),
});

/**
 * Login attempts let through to a password check whose verdict has not come yet, one row each
 * (throttle.ts), keyed like the (username, address) counter. A verdict deletes its row; a row
 * whose Worker died lapses after IN_FLIGHT_LAPSE_SECONDS. They tell attempts still being
 * checked from failures, so parallel logins are not mistaken for guessing.
 */
export const attemptsInFlight = sqliteTable(
  'attempts_in_flight',
  {
    id: text('id').primaryKey(),
    key: text('key').notNull(),
    startedAt: integer('started_at').notNull(),
  },
  (t) => [index('attempts_in_flight_key_started_at_idx').on(t.key, t.startedAt)],
);

/**
 * Addresses (an IPv4 address or an IPv6 /64) a user recently logged in from. Failed logins
 * from elsewhere cannot lock the owner out of a known address.
 */
export const knownAddresses = sqliteTable(
  'known_addresses',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    address: text('address').notNull(),
    lastSeenAt: integer('last_seen_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.address] }), index('known_addresses_last_seen_at_idx').on(t.lastSeenAt)],
);

/**
 * A user's TOTP secret, AES-GCM-sealed under a key derived from DATA_ENCRYPTION_KEY (so a
 * database dump alone yields no second factor). Pending until confirmed with a first code.
 */
export const mfaTotp = sqliteTable('mfa_totp', {
  userId: text('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  secretSealed: text('secret_sealed').notNull(),
  createdAt: integer('created_at').notNull(),
  confirmedAt: integer('confirmed_at'),
  /** The last 30 s step a code was accepted for: a code is accepted once, later steps only. */
  lastStep: integer('last_step'),
  /**
   * Codes checked since the last right one (counted before each check, reset by a right code):
   * past MFA_MAX_CONSECUTIVE_FAILURES, TOTP codes are refused (mfa.ts).
   */
  consecutiveFailures: integer('consecutive_failures').notNull().default(0),
});

/** Recovery codes, as keyed hashes (HMAC under a key derived from DATA_ENCRYPTION_KEY). */
export const mfaRecoveryCodes = sqliteTable(
  'mfa_recovery_codes',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    codeHash: text('code_hash').notNull(),
    createdAt: integer('created_at').notNull(),
    usedAt: integer('used_at'),
  },
  (t) => [primaryKey({ columns: [t.userId, t.codeHash] })],
);

/** The `mfa_token` of a login that passed the password step, by SHA-256 of its value. */
export const mfaChallenges = sqliteTable(
  'mfa_challenges',
  {
    tokenHash: text('token_hash').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The user's token version at the password step: a password change or reset ends the challenge. */
    tokenVersion: integer('token_version').notNull(),
    /** The login's `refresh_token_delivery`, honoured when the challenge is met. */
    delivery: text('delivery', { enum: ['body', 'cookie'] }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    usedAt: integer('used_at'),
  },
  (t) => [index('mfa_challenges_user_id_idx').on(t.userId), index('mfa_challenges_expires_at_idx').on(t.expiresAt)],
);

/** Password reset tokens (admin-issued or mailed), by SHA-256 of their 256-bit value. */
export const passwordResetTokens = sqliteTable(
  'password_reset_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    via: text('via', { enum: ['admin', 'email'] }).notNull(),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    usedAt: integer('used_at'),
  },
  (t) => [index('password_reset_tokens_user_id_idx').on(t.userId)],
);

/** An address waiting for its 6-digit code; one per user, replaced by a newer request. */
export const emailVerifications = sqliteTable('email_verifications', {
  userId: text('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  email: text('email').notNull(),
  codeHash: text('code_hash').notNull(),
  attempts: integer('attempts').notNull().default(0),
  createdAt: integer('created_at').notNull(),
  expiresAt: integer('expires_at').notNull(),
});

/**
 * Passwords refused for new passwords (ASVS 5.0 V6.2.4), in the form the check looks them up:
 * NFKC, then lower-cased (services/common-passwords.ts). A migration seeds the 3,000 most
 * common of length >= 8 (scripts/build-common-passwords.mjs); operators add their own words.
 * In D1 rather than in the bundle: only registration and password changes read it, and the
 * lookup rides in a batch those flows send anyway. The check refuses an entry with an ASCII
 * capital, which no lower-cased candidate could ever match. (A plain rowid table: drizzle-kit
 * cannot emit WITHOUT ROWID, and the lookup reads the primary-key index alone.)
 */
export const commonPasswords = sqliteTable('common_passwords', { password: text('password').primaryKey() }, (t) => [
  check('common_passwords_lower_case_check', sql`${t.password} = lower(${t.password})`),
]);

/**
 * Passkeys (WebAuthn credentials, src/passkeys/). The id is the credential id (base64url) the
 * authenticator chose: WebAuthn makes it unique, and the primary key refuses a second
 * registration of one credential, to this user or another. The public key is stored as the
 * JWK WebCrypto imports at sign-in (converted from the COSE key once, at registration); it is
 * no secret, so a database dump signs in nobody.
 */
export const passkeys = sqliteTable(
  'passkeys',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    publicKey: text('public_key').notNull(),
    /** COSE algorithm: -7 ES256, -8 EdDSA, -257 RS256. */
    algorithm: integer('algorithm').notNull(),
    /** The authenticator's signature counter as last seen; 0 for authenticators that keep none. */
    signCount: integer('sign_count').notNull().default(0),
    /** JSON array of the transports the browser reported (`internal`, `hybrid`, `usb`, ...). */
    transports: text('transports').notNull().default('[]'),
    /** Backup eligible (the BE flag): a synced, multi-device passkey. */
    backupEligible: integer('backup_eligible', { mode: 'boolean' }).notNull().default(false),
    /** Backed up (the BS flag), as of the last sign-in. */
    backedUp: integer('backed_up', { mode: 'boolean' }).notNull().default(false),
    name: text('name').notNull(),
    createdAt: integer('created_at').notNull(),
    lastUsedAt: integer('last_used_at'),
  },
  (t) => [index('passkeys_user_id_idx').on(t.userId)],
);

/**
 * WebAuthn challenges the service made (src/passkeys/challenges.ts), by SHA-256 of their value:
 * each is used once (deleted by the verification that reads it) and lives five minutes. A
 * registration's is bound to the signed-in user, a sign-up's to the username and user id it
 * will create, a sign-in's to the user named (none for a discoverable sign-in). No foreign
 * key: a sign-up's user does not exist yet.
 */
export const passkeyChallenges = sqliteTable(
  'passkey_challenges',
  {
    challengeHash: text('challenge_hash').primaryKey(),
    purpose: text('purpose', { enum: ['register', 'sign_in', 'sign_up'] }).notNull(),
    userId: text('user_id'),
    /** Sign-up only: the username the account will have. */
    username: text('username'),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('passkey_challenges_expires_at_idx').on(t.expiresAt)],
);

/**
 * The token endpoint authentication methods a client may register (RFC 7591 §2): a secret, a
 * JWT signed with one of its keys (`private_key_jwt`, RFC 7523), or none (public clients).
 */
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/**
 * OAuth clients (RFC 7591 metadata). A confidential client's secret is stored as its SHA-256
 * only: it is 256 random bits, so no salt or slow hash is needed, and a leaked database holds
 * no usable secret. List-valued metadata is JSON text.
 *
 * A `private_key_jwt` client has no secret; its `secret_hash` holds NO_CLIENT_SECRET instead of
 * NULL because the check below predates the method, and changing a check rebuilds the table,
 * which on D1 cascades into every grant, code and consent that references it (see users).
 */
export const oauthClients = sqliteTable(
  'oauth_clients',
  {
    /** The client_id: public, random. */
    id: text('id').primaryKey(),
    secretHash: text('secret_hash'),
    name: text('name'),
    /** JSON array of strings. */
    redirectUris: text('redirect_uris').notNull(),
    postLogoutRedirectUris: text('post_logout_redirect_uris').notNull().default('[]'),
    grantTypes: text('grant_types').notNull(),
    responseTypes: text('response_types').notNull(),
    tokenEndpointAuthMethod: text('token_endpoint_auth_method', { enum: CLIENT_AUTH_METHODS }).notNull(),
    /** Space-separated scopes the client may ask for; NULL: any scope the service supports. */
    scope: text('scope'),
    idTokenSignedResponseAlg: text('id_token_signed_response_alg').notNull().default('RS256'),
    logoUri: text('logo_uri'),
    /** First-party clients an admin marked: their users are not asked for consent. */
    skipConsent: integer('skip_consent', { mode: 'boolean' }).notNull().default(false),
    /** How it was registered: by an admin's initial access token, or by open registration. */
    registeredBy: text('registered_by', { enum: ['admin', 'open'] }).notNull(),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
    /** `private_key_jwt`: the client's public keys (a JWK Set, JSON), or where to fetch them. */
    jwks: text('jwks'),
    jwksUri: text('jwks_uri'),
    /** `private_key_jwt`: the one algorithm its assertions may be signed with; NULL: any of CLIENT_KEY_ALGS. */
    tokenEndpointAuthSigningAlg: text('token_endpoint_auth_signing_alg'),
    /** RFC 9449 §5.2: every token request of this client must carry a DPoP proof. */
    dpopBoundAccessTokens: integer('dpop_bound_access_tokens', { mode: 'boolean' }).notNull().default(false),
    /**
     * Set for a personal API key (src/api-keys/): the user it acts as. Deleting the user deletes
     * the key, and the key's grant with it.
     */
    ownerId: text('owner_id').references(() => users.id, { onDelete: 'cascade' }),
  },
  (t) => [check('oauth_clients_auth_check', sql`${t.tokenEndpointAuthMethod} = 'none' OR ${t.secretHash} IS NOT NULL`)],
);

/**
 * Authorization codes, by SHA-256 of their value. Each lives at most 60 seconds, works once,
 * and is bound to everything the token request must repeat or prove. `grant_id` is the
 * session its exchange created, so a replay can end it (RFC 6749 §4.1.2).
 */
export const oauthCodes = sqliteTable(
  'oauth_codes',
  {
    codeHash: text('code_hash').primaryKey(),
    clientId: text('client_id')
      .notNull()
      .references(() => oauthClients.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The user's token version when the code was made: a logout-all or password change since voids it. */
    tokenVersion: integer('token_version').notNull(),
    browserSessionId: text('browser_session_id'),
    redirectUri: text('redirect_uri').notNull(),
    /** PKCE S256 challenge (RFC 7636); `plain` is never accepted. */
    codeChallenge: text('code_challenge').notNull(),
    nonce: text('nonce'),
    scope: text('scope').notNull(),
    resource: text('resource'),
    authTime: integer('auth_time').notNull(),
    amr: text('amr').notNull(),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    usedAt: integer('used_at'),
    grantId: text('grant_id'),
    /** RFC 9449 §10: the `dpop_jkt` of the authorization request; the exchange needs a proof of that key. */
    dpopJkt: text('dpop_jkt'),
  },
  (t) => [index('oauth_codes_expires_at_idx').on(t.expiresAt)],
);

/** Consent a user gave a client: the scope set granted (space-separated), one row per pair. */
export const oauthConsents = sqliteTable(
  'oauth_consents',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    clientId: text('client_id')
      .notNull()
      .references(() => oauthClients.id, { onDelete: 'cascade' }),
    scope: text('scope').notNull(),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.clientId] }), index('oauth_consents_client_id_idx').on(t.clientId)],
);

/**
 * A browser's pending step at the OAuth provider: an authorization request that passed
 * validation and waits for sign-in and consent on the hosted page, a device authorization whose
 * code the user entered on the device page, or a logout waiting for its confirmation
 * (src/oauth/interactions.ts). Short-lived and single-use. The page names it by an
 * unguessable id (stored as SHA-256) and the browser proves it is the one that started it with
 * a cookie (stored as SHA-256 too).
 */
export const oauthInteractions = sqliteTable(
  'oauth_interactions',
  {
    idHash: text('id_hash').primaryKey(),
    kind: text('kind', { enum: ['authorize', 'logout', 'device'] }).notNull(),
    browserHash: text('browser_hash').notNull(),
    /** Null for a logout that names no client (it then ends with a page, not a redirect). */
    clientId: text('client_id').references(() => oauthClients.id, { onDelete: 'cascade' }),
    /** The validated request parameters, as JSON (src/oauth/interactions.ts types them). */
    params: text('params').notNull(),
    /** The session a sign-in on this interaction's page started: it meets prompt=login and max_age. */
    signedInSessionId: text('signed_in_session_id'),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    usedAt: integer('used_at'),
  },
  (t) => [index('oauth_interactions_expires_at_idx').on(t.expiresAt)],
);

/** What a `private_key_jwt` client's secret_hash holds: no SHA-256 in base64url ever equals it. */
export const NO_CLIENT_SECRET = '!';

/**
 * The `jti` of every client assertion accepted (RFC 7523 §3: the server may refuse a JWT seen
 * before; OIDC Core §9 makes `jti` single-use), keyed by SHA-256 of the client and the jti, so
 * an inserted row is the proof of first use. Kept until the assertion expires, then cleaned up.
 */
export const oauthAssertionJtis = sqliteTable(
  'oauth_assertion_jtis',
  {
    key: text('key').primaryKey(),
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('oauth_assertion_jtis_expires_at_idx').on(t.expiresAt)],
);

/**
 * Device authorizations (RFC 8628, src/oauth/device-codes.ts): a device (a CLI, a TV) holds the
 * device code and polls the token endpoint with it; the user types the short user code on the
 * hosted device page and answers Allow or Deny there. Neither code is stored: the device code
 * (256 random bits) as its SHA-256, the user code (8 letters, about 34.5 bits, which a plain
 * hash would give up to a few seconds of offline guessing) as an HMAC under a key derived from
 * DATA_ENCRYPTION_KEY. Once answered, the row records who allowed it, from which session, and
 * how they had signed in, which the token endpoint turns into a grant as a code exchange does.
 */
export const oauthDeviceCodes = sqliteTable(
  'oauth_device_codes',
  {
    deviceCodeHash: text('device_code_hash').primaryKey(),
    userCodeHash: text('user_code_hash').notNull(),
    clientId: text('client_id')
      .notNull()
      .references(() => oauthClients.id, { onDelete: 'cascade' }),
    scope: text('scope').notNull(),
    resource: text('resource'),
    status: text('status', { enum: ['pending', 'approved', 'denied'] }).notNull(),
    /** Set by the answer on the device page: who answered, with their token version then. */
    userId: text('user_id').references(() => users.id, { onDelete: 'cascade' }),
    tokenVersion: integer('token_version'),
    browserSessionId: text('browser_session_id'),
    authTime: integer('auth_time'),
    amr: text('amr'),
    /** Seconds the device must wait between polls; grows by 5 with each slow_down (RFC 8628 §3.5). */
    pollInterval: integer('poll_interval').notNull(),
    /** The last poll, or the issue before the first: the next poll is due pollInterval after it. */
    polledAt: integer('polled_at').notNull(),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    /** When the token endpoint answered it for good: with tokens (grant_id set) or access_denied. */
    usedAt: integer('used_at'),
    grantId: text('grant_id'),
  },
  (t) => [
    uniqueIndex('oauth_device_codes_user_code_hash_unique').on(t.userCodeHash),
    index('oauth_device_codes_expires_at_idx').on(t.expiresAt),
  ],
);

export type OAuthClientRow = typeof oauthClients.$inferSelect;
export type OAuthCodeRow = typeof oauthCodes.$inferSelect;
export type User = typeof users.$inferSelect;
/**
 * The user as every authenticated request sees it (requireAuth reads only these columns):
 * what routes show and decide on, never the password hash, which stays in D1 unless a flow
 * that checks a password reads it itself.
 */
export type AccessUser = Pick<
  User,
  'id' | 'username' | 'role' | 'tokenVersion' | 'createdAt' | 'mfaEnabled' | 'email' | 'emailVerifiedAt'
>;
export type Session = typeof sessions.$inferSelect;
export type Passkey = typeof passkeys.$inferSelect;
