/**
 * The client registry: RFC 7591 metadata in, validated once here for every way a client is
 * registered or changed (DCR, the admin routes), and the lookups the endpoints share:
 * getClient, redirect-URI matching, secret checks.
 */
import { and, asc, eq, gt, isNull } from 'drizzle-orm';
import * as z from 'zod/mini';
import { randomToken, sha256, timingSafeEqual, toBase64Url, utf8 } from '../platform/crypto';
import type { Database } from '../platform/db/client';
import {
  CLIENT_AUTH_METHODS,
  NO_CLIENT_SECRET,
  oauthClients,
  type ClientAuthMethod,
  type OAuthClientRow,
} from '../platform/db/schema';
import { isLoopbackHost } from '../platform/loopback';
import { OAuthError } from './errors';
import { formatScope, machineScopes, parseScopeWith } from './scopes';

/** RFC 8628 §3.4: the device flow's grant type. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** Grant types a client may register. Each has its handler in grants/. */
export const CLIENT_GRANT_TYPES = [
  'authorization_code',
  'refresh_token',
  DEVICE_CODE_GRANT,
  'client_credentials',
] as const;
export type ClientGrantType = (typeof CLIENT_GRANT_TYPES)[number];
export const ID_TOKEN_ALGS = ['RS256', 'ES256', 'EdDSA'] as const;
export type IdTokenAlg = (typeof ID_TOKEN_ALGS)[number];
/** What a `private_key_jwt` client may sign its assertions with (the same three as ID tokens). */
export const CLIENT_KEY_ALGS = ID_TOKEN_ALGS;
export type ClientKeyAlg = (typeof CLIENT_KEY_ALGS)[number];
const MAX_URIS = 10;
const MAX_URI_LENGTH = 2000;

/** A client as the endpoints use it. */
export type OAuthClient = {
  clientId: string;
  name: string | null;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  grantTypes: ClientGrantType[];
  responseTypes: string[];
  tokenEndpointAuthMethod: ClientAuthMethod;
  /** The scopes it may ask for; null: every supported scope. */
  scope: string[] | null;
  idTokenSignedResponseAlg: IdTokenAlg;
  logoUri: string | null;
  skipConsent: boolean;
  registeredBy: 'admin' | 'open';
  createdAt: number;
  updatedAt: number;
  /** `private_key_jwt`: the registered JWK Set, or where to fetch it. */
  jwks: JwkSet | null;
  jwksUri: string | null;
  /** `private_key_jwt`: the one algorithm its assertions must be signed with; null: any of CLIENT_KEY_ALGS. */
  tokenEndpointAuthSigningAlg: ClientKeyAlg | null;
  /** RFC 9449 §5.2: its token requests without a DPoP proof are refused. */
  dpopBoundAccessTokens: boolean;
  /** An API key's user (src/api-keys/); null for every other client. */
  ownerId: string | null;
};

const list = (json: string) => JSON.parse(json) as string[];

function toClient(row: OAuthClientRow): OAuthClient {
  return {
    clientId: row.id,
    name: row.name,
    redirectUris: list(row.redirectUris),
    postLogoutRedirectUris: list(row.postLogoutRedirectUris),
    grantTypes: list(row.grantTypes) as ClientGrantType[],
    responseTypes: list(row.responseTypes),
    tokenEndpointAuthMethod: row.tokenEndpointAuthMethod,
    scope: row.scope === null ? null : row.scope.split(' ').filter(Boolean),
    idTokenSignedResponseAlg: row.idTokenSignedResponseAlg as IdTokenAlg,
    logoUri: row.logoUri,
    skipConsent: row.skipConsent,
    registeredBy: row.registeredBy,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    jwks: row.jwks === null ? null : (JSON.parse(row.jwks) as JwkSet),
    jwksUri: row.jwksUri,
    tokenEndpointAuthSigningAlg: row.tokenEndpointAuthSigningAlg as ClientKeyAlg | null,
    dpopBoundAccessTokens: row.dpopBoundAccessTokens,
    ownerId: row.ownerId,
  };
}

/** The client, or undefined for an unknown (or malformed) id. */
export async function getClient(db: Database, clientId: string): Promise<OAuthClient | undefined> {
  if (clientId.length === 0 || clientId.length > 64) return undefined;
  const row = await db.select().from(oauthClients).where(eq(oauthClients.id, clientId)).get();
  return row ? toClient(row) : undefined;
}

export type ClientLookup = { client: OAuthClient; secretHash: string | null } | undefined;

/** The query that reads a client with its secret hash, for client authentication (batchable). */
export const clientWithSecretQuery = (db: Database, clientId: string) =>
  db
    .select()
    .from(oauthClients)
    .where(eq(oauthClients.id, clientId.slice(0, 64)))
    .limit(1);

/** The result of clientWithSecretQuery. */
export const toClientLookup = (rows: OAuthClientRow[]): ClientLookup =>
  rows[0] ? { client: toClient(rows[0]), secretHash: rows[0].secretHash } : undefined;

const hashSecret = async (secret: string) => toBase64Url(await sha256(`edge-auth client secret\u0000${secret}`));

/** Whether `presented` is the client's secret; constant-time over the hashes. */
export async function secretMatches(secretHash: string | null, presented: string): Promise<boolean> {
  if (secretHash === null) return false;
  return timingSafeEqual(utf8(await hashSecret(presented)), utf8(secretHash));
}

function isLoopbackRedirect(url: URL): boolean {
  return url.protocol === 'http:' && isLoopbackHost(url.hostname);
}

/**
 * Whether `presented` is one of the client's registered redirect URIs. Exact string match
 * (RFC 9700 §4.1.3), except that a loopback URI matches on any port (RFC 8252 §7.3): a native
 * app gets a port from the operating system when it starts listening.
 */
export function matchRedirectUri(registered: readonly string[], presented: string): boolean {
  if (registered.includes(presented)) return true;
  let url: URL;
  try {
    url = new URL(presented);
  } catch {
    return false;
  }
  if (!isLoopbackRedirect(url) || url.username || url.password || url.hash) return false;
  return registered.some((uri) => {
    const candidate = new URL(uri);
    return (
      isLoopbackRedirect(candidate) &&
      candidate.hostname === url.hostname &&
      candidate.pathname === url.pathname &&
      candidate.search === url.search
    );
  });
}

/**
 * Where a redirect may go. https; http only to loopback (RFC 8252 §7.3); and, for native apps
 * registered by an admin, a private-use scheme in reverse-domain form (RFC 8252 §7.1). Never
 * a fragment (RFC 6749 §3.1.2).
 */
function redirectUriProblem(uri: string, allowPrivateUse: boolean): string | null {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'is not an absolute URI';
  }
  if (url.hash || uri.includes('#')) return 'must not contain a fragment';
  if (url.username || url.password) return 'must not contain user information';
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:') return isLoopbackHost(url.hostname) ? null : 'must be https (http only on loopback)';
  const scheme = url.protocol.slice(0, -1);
  if (allowPrivateUse && scheme.includes('.') && !['javascript', 'data', 'file', 'vbscript'].includes(scheme)) {
    return null;
  }
  return allowPrivateUse
    ? 'must be https, http on loopback, or a reverse-domain private-use scheme'
    : 'must be https or http on loopback';
}

/** The key type each assertion algorithm signs with. */
export const KEY_TYPES = { ES256: 'EC', EdDSA: 'OKP', RS256: 'RSA' } as const satisfies Record<ClientKeyAlg, string>;

const uri = z.string().check(z.minLength(1), z.maxLength(MAX_URI_LENGTH));
const uris = z.array(uri).check(z.maxLength(MAX_URIS));

/**
 * A public JWK a client signs assertions with (RFC 7517): EC, OKP or RSA, and no private part
 * (`d`), which would mean the client handed its private key to a third party. Whether the key
 * fits its algorithm is checked when it is imported, at the first assertion.
 */
const clientJwk = z
  .looseObject({ kty: z.enum(['EC', 'OKP', 'RSA']) })
  .check(z.refine((k) => !('d' in k), 'must hold public keys only'));
export const jwksSchema = z.object({ keys: z.array(clientJwk).check(z.minLength(1), z.maxLength(10)) });
export type JwkSet = z.output<typeof jwksSchema>;

/**
 * RFC 7591 §2 client metadata as accepted here; unknown members are ignored (RFC 7591 §2).
 * `redirect_uris` is needed for `authorization_code` only (checkConsistency).
 */
export const clientMetadataSchema = z.object({
  // Required of clients of the code flow (checkConsistency); other clients have none.
  redirect_uris: z.optional(uris),
  post_logout_redirect_uris: z.optional(uris),
  client_name: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(100))),
  grant_types: z.optional(
    z.array(z.enum(CLIENT_GRANT_TYPES)).check(z.minLength(1), z.maxLength(CLIENT_GRANT_TYPES.length)),
  ),
  response_types: z.optional(z.array(z.enum(['code'])).check(z.minLength(1), z.maxLength(1))),
  token_endpoint_auth_method: z.optional(z.enum(CLIENT_AUTH_METHODS)),
  scope: z.optional(z.string().check(z.maxLength(1000))),
  id_token_signed_response_alg: z.optional(z.enum(ID_TOKEN_ALGS)),
  logo_uri: z.optional(uri),
  jwks: z.optional(jwksSchema),
  jwks_uri: z.optional(uri),
  // RFC 7591 §2: for private_key_jwt only (checkConsistency); `none` and HMACs are not in the enum.
  token_endpoint_auth_signing_alg: z.optional(z.enum(CLIENT_KEY_ALGS)),
  // RFC 9449 §5.2.
  dpop_bound_access_tokens: z.optional(z.boolean()),
});
export type ClientMetadata = z.output<typeof clientMetadataSchema>;

/** What an admin may change on a registered client. The auth method is fixed at registration. */
export const clientUpdateSchema = z.extend(
  z.partial(z.omit(clientMetadataSchema, { token_endpoint_auth_method: true, response_types: true })),
  {
    // A change never empties them (a device-only client never had any to empty).
    redirect_uris: z.optional(uris.check(z.minLength(1))),
    skip_consent: z.optional(z.boolean()),
    client_name: z.optional(z.nullable(z.string().check(z.trim(), z.minLength(1), z.maxLength(100)))),
    logo_uri: z.optional(z.nullable(uri)),
    scope: z.optional(z.nullable(z.string().check(z.maxLength(1000)))),
    jwks: z.optional(z.nullable(jwksSchema)),
    jwks_uri: z.optional(z.nullable(uri)),
    token_endpoint_auth_signing_alg: z.optional(z.nullable(z.enum(CLIENT_KEY_ALGS))),
  },
);
export type ClientUpdate = z.output<typeof clientUpdateSchema>;

const invalidMetadata = (description: string) => new OAuthError('invalid_client_metadata', description);

/** The checks of single members zod cannot express: URI rules, scope syntax (RFC 7591 §2.1). */
function checkMembers(
  input: {
    redirect_uris?: string[] | undefined;
    post_logout_redirect_uris?: string[] | undefined;
    scope?: string | null | undefined;
    logo_uri?: string | null | undefined;
    jwks_uri?: string | null | undefined;
  },
  allowPrivateUse: boolean,
  apiScopes: readonly string[],
): void {
  for (const [field, values] of [
    ['redirect_uris', input.redirect_uris],
    ['post_logout_redirect_uris', input.post_logout_redirect_uris],
  ] as const) {
    for (const value of values ?? []) {
      const problem = redirectUriProblem(value, allowPrivateUse);
      if (problem) throw new OAuthError('invalid_redirect_uri', `${field}: "${value.slice(0, 100)}" ${problem}.`);
    }
  }
  for (const [field, value] of [
    ['logo_uri', input.logo_uri],
    ['jwks_uri', input.jwks_uri],
  ] as const) {
    if (!value) continue;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw invalidMetadata(`${field} is not an absolute URI.`);
    }
    // The service fetches a jwks_uri itself: https only, and never the machine it runs on.
    if (field === 'jwks_uri' && (url.protocol !== 'https:' || isLoopbackHost(url.hostname))) {
      throw invalidMetadata('jwks_uri must be https, not on loopback.');
    }
  }
  if (input.scope) {
    try {
      parseScopeWith(input.scope, machineScopes(apiScopes));
    } catch (err) {
      throw invalidMetadata(err instanceof OAuthError ? err.description : 'Bad scope.');
    }
  }
}

/** The rules between members (RFC 7591 §2.1), on the client as it will be once stored. */
function checkConsistency(
  client: Pick<
    OAuthClient,
    | 'redirectUris'
    | 'grantTypes'
    | 'tokenEndpointAuthMethod'
    | 'scope'
    | 'jwks'
    | 'jwksUri'
    | 'tokenEndpointAuthSigningAlg'
  >,
  apiScopes: readonly string[],
): void {
  const grants = client.grantTypes;
  if (grants.includes('authorization_code') && client.redirectUris.length === 0) {
    throw invalidMetadata('redirect_uris is required for authorization_code.');
  }
  if (
    grants.includes('refresh_token') &&
    !grants.includes('authorization_code') &&
    !grants.includes(DEVICE_CODE_GRANT)
  ) {
    // Refresh tokens are for grants of a user, signed in in a browser or through a device.
    throw invalidMetadata(`refresh_token needs authorization_code or ${DEVICE_CODE_GRANT}.`);
  }
  if (grants.includes('client_credentials')) {
    // RFC 6749 §4.4: only a confidential client may use client credentials.
    if (client.tokenEndpointAuthMethod === 'none') {
      throw invalidMetadata('client_credentials is for confidential clients only.');
    }
    if (!client.scope?.some((s) => machineScopes(apiScopes).includes(s))) {
      throw invalidMetadata(`client_credentials needs one of the scopes ${machineScopes(apiScopes).join(' ')}.`);
    }
  }
  if (client.tokenEndpointAuthMethod === 'private_key_jwt' && !client.jwks === !client.jwksUri) {
    throw invalidMetadata('private_key_jwt needs jwks or jwks_uri, not both.');
  }
  const alg = client.tokenEndpointAuthSigningAlg;
  if (alg) {
    // A secret or a public client signs nothing: refused rather than dropped, so the client knows.
    if (client.tokenEndpointAuthMethod !== 'private_key_jwt') {
      throw invalidMetadata('token_endpoint_auth_signing_alg is for private_key_jwt only.');
    }
    // Registered keys none of which can sign with it would lock the client out at once.
    if (client.jwks && !client.jwks.keys.some((k) => k.kty === KEY_TYPES[alg] && (k.alg ?? alg) === alg)) {
      throw invalidMetadata(`jwks has no key for ${alg}.`);
    }
  }
}

export type RegisteredClient = { client: OAuthClient; clientSecret?: string | undefined };

const toJson = (values: readonly string[] | undefined) => JSON.stringify([...new Set(values ?? [])]);

/**
 * Registers a client. A client with a secret (`client_secret_basic`, `client_secret_post`)
 * gets one, which is returned here once and only its hash is stored. `ownerId` makes it a
 * user's API key (src/api-keys/), never listed or changed by the admin routes.
 */
export async function registerClient(
  db: Database,
  metadata: ClientMetadata,
  registeredBy: 'admin' | 'open',
  options: { apiScopes?: readonly string[]; ownerId?: string; now?: number } = {},
): Promise<RegisteredClient> {
  const { apiScopes = [], now = Date.now() } = options;
  checkMembers(metadata, registeredBy === 'admin', apiScopes);
  const method = metadata.token_endpoint_auth_method ?? 'client_secret_basic';
  if (registeredBy === 'open' && method !== 'none') {
    throw invalidMetadata(
      'Open registration takes public clients only (token_endpoint_auth_method "none"); confidential clients need an admin access token.',
    );
  }
  const grantTypes = [...new Set<ClientGrantType>(metadata.grant_types ?? ['authorization_code'])];
  const scope = metadata.scope ? formatScope(parseScopeWith(metadata.scope, machineScopes(apiScopes))) : null;
  // Keys are kept for the method that uses them only.
  const keyed = method === 'private_key_jwt';
  const jwks = keyed ? (metadata.jwks ?? null) : null;
  const jwksUri = keyed ? (metadata.jwks_uri ?? null) : null;
  checkConsistency(
    {
      redirectUris: metadata.redirect_uris ?? [],
      grantTypes,
      tokenEndpointAuthMethod: method,
      scope: scope?.split(' ') ?? null,
      jwks,
      jwksUri,
      tokenEndpointAuthSigningAlg: metadata.token_endpoint_auth_signing_alg ?? null,
    },
    apiScopes,
  );
  const clientSecret = method === 'none' || keyed ? undefined : randomToken(32);
  const [row] = await db
    .insert(oauthClients)
    .values({
      id: randomToken(16),
      secretHash: clientSecret ? await hashSecret(clientSecret) : keyed ? NO_CLIENT_SECRET : null,
      name: metadata.client_name ?? null,
      redirectUris: toJson(metadata.redirect_uris),
      postLogoutRedirectUris: toJson(metadata.post_logout_redirect_uris),
      grantTypes: JSON.stringify(grantTypes),
      // RFC 7591 §2.1: `code` goes with authorization_code; the other grants use none.
      responseTypes: JSON.stringify(grantTypes.includes('authorization_code') ? ['code'] : []),
      tokenEndpointAuthMethod: method,
      scope,
      idTokenSignedResponseAlg: metadata.id_token_signed_response_alg ?? 'RS256',
      logoUri: metadata.logo_uri ?? null,
      skipConsent: false,
      registeredBy,
      createdAt: now,
      updatedAt: now,
      jwks: jwks && JSON.stringify(jwks),
      jwksUri,
      tokenEndpointAuthSigningAlg: metadata.token_endpoint_auth_signing_alg ?? null,
      dpopBoundAccessTokens: metadata.dpop_bound_access_tokens ?? false,
      ownerId: options.ownerId ?? null,
    })
    .returning();
  return { client: toClient(row!), clientSecret };
}

/** An admin-managed client (not an API key), by id. */
const managed = (clientId: string) => and(eq(oauthClients.id, clientId), isNull(oauthClients.ownerId));

/**
 * Changes a client's metadata (admin). Undefined members stay; null clears an optional one.
 * The rules between members are checked on the client as changed. API keys are not admins'
 * to change (their scope is what their user may do): they answer as unknown.
 */
export async function updateClient(
  db: Database,
  clientId: string,
  update: ClientUpdate,
  options: { apiScopes?: readonly string[]; now?: number } = {},
): Promise<OAuthClient | undefined> {
  const { apiScopes = [], now = Date.now() } = options;
  checkMembers(update, true, apiScopes);
  const current = await db.select().from(oauthClients).where(managed(clientId)).get();
  if (!current) return undefined;
  const scope =
    update.scope === undefined
      ? current.scope
      : update.scope && formatScope(parseScopeWith(update.scope, machineScopes(apiScopes)));
  const jwks = update.jwks === undefined ? current.jwks : update.jwks && JSON.stringify(update.jwks);
  const jwksUri = update.jwks_uri === undefined ? current.jwksUri : update.jwks_uri;
  const before = toClient(current);
  const signingAlg =
    update.token_endpoint_auth_signing_alg === undefined
      ? before.tokenEndpointAuthSigningAlg
      : update.token_endpoint_auth_signing_alg;
  checkConsistency(
    {
      redirectUris: update.redirect_uris ?? before.redirectUris,
      grantTypes: update.grant_types ?? before.grantTypes,
      tokenEndpointAuthMethod: before.tokenEndpointAuthMethod,
      scope: scope?.split(' ') ?? null,
      jwks: jwks ? (JSON.parse(jwks) as JwkSet) : null,
      jwksUri,
      tokenEndpointAuthSigningAlg: signingAlg,
    },
    apiScopes,
  );
  const grantTypes = update.grant_types && [...new Set(update.grant_types)];
  const [row] = await db
    .update(oauthClients)
    .set({
      updatedAt: now,
      scope,
      jwks,
      jwksUri,
      tokenEndpointAuthSigningAlg: signingAlg,
      ...(update.dpop_bound_access_tokens !== undefined
        ? { dpopBoundAccessTokens: update.dpop_bound_access_tokens }
        : {}),
      ...(update.client_name !== undefined ? { name: update.client_name } : {}),
      ...(update.redirect_uris ? { redirectUris: toJson(update.redirect_uris) } : {}),
      ...(update.post_logout_redirect_uris ? { postLogoutRedirectUris: toJson(update.post_logout_redirect_uris) } : {}),
      ...(grantTypes
        ? {
            grantTypes: JSON.stringify(grantTypes),
            responseTypes: JSON.stringify(grantTypes.includes('authorization_code') ? ['code'] : []),
          }
        : {}),
      ...(update.id_token_signed_response_alg ? { idTokenSignedResponseAlg: update.id_token_signed_response_alg } : {}),
      ...(update.logo_uri !== undefined ? { logoUri: update.logo_uri } : {}),
      ...(update.skip_consent !== undefined ? { skipConsent: update.skip_consent } : {}),
    })
    .where(managed(clientId))
    .returning();
  return row ? toClient(row) : undefined;
}

/** Deletes a client; its codes, consents and grants (sessions) go with it (ON DELETE CASCADE). */
export async function deleteClient(db: Database, clientId: string): Promise<boolean> {
  const deleted = await db.delete(oauthClients).where(managed(clientId)).returning({ id: oauthClients.id });
  return deleted.length > 0;
}

export async function listClients(db: Database, opts: { limit: number; cursor?: string | undefined }) {
  const rows = await db
    .select()
    .from(oauthClients)
    .where(and(isNull(oauthClients.ownerId), opts.cursor ? gt(oauthClients.id, opts.cursor) : undefined))
    .orderBy(asc(oauthClients.id))
    .limit(opts.limit + 1);
  const page = rows.slice(0, opts.limit).map(toClient);
  return { clients: page, nextCursor: rows.length > opts.limit ? page[page.length - 1]!.clientId : null };
}

/** RFC 7591 §3.2.1: the metadata as registered (the secret only where it is shown once). */
export function clientMetadataResponse(client: OAuthClient) {
  return {
    client_id: client.clientId,
    client_id_issued_at: Math.floor(client.createdAt / 1000),
    client_name: client.name ?? undefined,
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.postLogoutRedirectUris,
    grant_types: client.grantTypes,
    response_types: client.responseTypes,
    token_endpoint_auth_method: client.tokenEndpointAuthMethod,
    scope: client.scope?.join(' '),
    id_token_signed_response_alg: client.idTokenSignedResponseAlg,
    logo_uri: client.logoUri ?? undefined,
    jwks: client.jwks ?? undefined,
    jwks_uri: client.jwksUri ?? undefined,
    token_endpoint_auth_signing_alg: client.tokenEndpointAuthSigningAlg ?? undefined,
    dpop_bound_access_tokens: client.dpopBoundAccessTokens,
  };
}
