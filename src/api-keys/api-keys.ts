/**
 * Personal API keys: credentials a user makes for scripts that act as that user.
 *
 * A key is a confidential OAuth client owned by the user (oauth_clients.owner_id), registered
 * for client credentials only, plus one grant of it: a row of sessions, as every OAuth grant
 * is. The script trades the key's client_id and secret at the token endpoint for short-lived
 * access tokens (RFC 9068 JWTs whose `sub` is the user and `client_id` the key), which the
 * APIs behind the service verify offline with the JWKS, as any other.
 *
 * Because the grant is a session of the user, everything that ends the user's sessions ends
 * the key and its tokens at userinfo and introspection: revoking the key, logout-all, a
 * password change or reset, turning two-factor on, and deleting the user. A demotion ends the
 * keys that carry `admin`. Keys do not survive a logout-all: that is what an owner does after
 * a suspected compromise, and a key is the most lasting foothold an intruder who had the
 * password could leave (docs/api-keys.md).
 */
import { and, desc, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Notify } from '../accounts/notices';
import type { LegacyHashesCompanion } from '../credentials/legacy-hashes-companion';
import { registerClient } from '../oauth/clients';
import { OAuthError } from '../oauth/errors';
import { ADMIN_SCOPE, formatScope, machineScopes, parseScopeWith } from '../oauth/scopes';
import { proveForNewPasskey } from '../passkeys/proof';
import { audit, type RequestLog } from '../platform/audit';
import type { Config } from '../platform/config';
import type { Database } from '../platform/db/client';
import { oauthClients, sessions, users, type AccessUser } from '../platform/db/schema';
import { ApiError } from '../platform/errors';
import { newSessionQueries } from '../sessions/sessions';

/** Keys a user may hold at once: enough for every script, and a bound on what one account stores. */
export const MAX_API_KEYS = 20;
/** The longest `expires_in`: about thirteen months, as browsers cap cookies. */
export const MAX_API_KEY_LIFETIME = 400 * 86_400;
/** The expiry of a key made without one (9999-12-31): sessions need an expiry, this one never comes. */
const NEVER = 253_402_300_799_000;

export type ApiKey = {
  id: string;
  name: string;
  scope: string;
  createdAt: number;
  lastUsedAt: number | null;
  expiresAt: number | null;
};

const invalidScope = (message: string) =>
  new ApiError(400, 'validation_failed', 'The request is invalid.', { errors: [{ field: 'scope', message }] });

/**
 * What a key may carry: at least one scope of the APIs or `admin` (admins only), and the
 * OpenID scopes that let a script ask userinfo who it acts as. Never `offline_access`: a key
 * gets no refresh token, it asks again.
 */
function keyScope(value: string, config: Config, user: AccessUser): string {
  const machine = machineScopes(config.oauth.apiScopes);
  let scopes: string[];
  try {
    scopes = parseScopeWith(value, machine);
  } catch (err) {
    throw invalidScope((err as OAuthError).description);
  }
  if (!scopes.some((s) => machine.includes(s)) || scopes.includes('offline_access')) {
    throw invalidScope(`Name at least one of ${machine.join(' ')}; offline_access is not for API keys.`);
  }
  if (scopes.includes(ADMIN_SCOPE) && user.role !== 'admin') {
    throw new ApiError(403, 'forbidden', 'Only admins may give a key the admin scope.');
  }
  return formatScope(scopes);
}

/**
 * Creates a key after the proof a new credential needs (the current password, and a code
 * when two-factor is on). Returns it with its secret, which is shown this once: only its
 * SHA-256 is kept, as for every client secret.
 */
export async function createApiKey(
  db: Database,
  config: Config,
  caller: {
    user: AccessUser;
    sessionId: string;
    log: RequestLog;
    notify: Notify;
    legacyHashes?: LegacyHashesCompanion | undefined;
  },
  input: { name: string; scope: string; expiresIn?: number | undefined; currentPassword?: string; code?: string },
  now: number,
): Promise<{ key: ApiKey; clientSecret: string }> {
  const { user } = caller;
  const scope = keyScope(input.scope, config, user);
  if ((await listApiKeys(db, user.id, now)).length >= MAX_API_KEYS) {
    throw new ApiError(409, 'api_key_limit_reached', `An account holds at most ${MAX_API_KEYS} API keys.`);
  }
  await proveForNewPasskey(
    db,
    config,
    caller,
    {
      currentPassword: input.currentPassword,
      code: input.code,
      legacyHashes: caller.legacyHashes,
      notify: caller.notify,
    },
    now,
    'an API key',
  );
  const { client, clientSecret } = await registerClient(
    db,
    { client_name: input.name, grant_types: ['client_credentials'], scope },
    'admin',
    { apiScopes: config.oauth.apiScopes, ownerId: user.id, now },
  );
  const expiresAt = input.expiresIn ? now + input.expiresIn * 1000 : NEVER;
  const { queries } = await newSessionQueries(
    db,
    config,
    {
      userId: user.id,
      // Not if the user signed out everywhere, or was demoted, since this request was authenticated.
      verified: { tokenVersion: user.tokenVersion },
      onlyIf: () => (scope.split(' ').includes(ADMIN_SCOPE) ? eq(users.role, 'admin') : sql`1`),
      grant: { clientId: client.clientId, scope, resource: null, authTime: now, amr: '', browserSessionId: null },
      lifetime: (expiresAt - now) / 1000,
    },
    now,
  );
  const [granted] = await db.batch([queries[0]]);
  if (granted.length === 0) {
    await db.delete(oauthClients).where(eq(oauthClients.id, client.clientId));
    throw new ApiError(
      403,
      'forbidden',
      'The account changed while the key was made (signed out everywhere, or no longer an admin): no key was made.',
    );
  }
  audit('api_key_created', { ...caller.log, userId: user.id, clientId: client.clientId, scope });
  caller.notify('api_key_created', user);
  const key = { id: client.clientId, name: input.name, scope, createdAt: now, lastUsedAt: null, expiresAt };
  return { key: { ...key, expiresAt: expiresAt === NEVER ? null : expiresAt }, clientSecret: clientSecret! };
}

/** The user's keys that still work, newest first. */
export async function listApiKeys(db: Database, userId: string, now: number): Promise<ApiKey[]> {
  const rows = await db
    .select({
      id: oauthClients.id,
      name: oauthClients.name,
      scope: sessions.scope,
      createdAt: sessions.createdAt,
      lastUsedAt: sessions.lastUsedAt,
      expiresAt: sessions.expiresAt,
    })
    .from(oauthClients)
    .innerJoin(sessions, eq(sessions.clientId, oauthClients.id))
    .where(and(eq(oauthClients.ownerId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
    .orderBy(desc(sessions.createdAt));
  return rows.map((row) => ({
    id: row.id,
    name: row.name ?? '',
    scope: row.scope ?? '',
    createdAt: row.createdAt,
    // The grant's last_used_at starts at its creation and moves with each token issued.
    lastUsedAt: row.lastUsedAt === row.createdAt ? null : row.lastUsedAt,
    expiresAt: row.expiresAt === NEVER ? null : row.expiresAt,
  }));
}

/**
 * Revokes one of the user's keys: its grant ends, so its tokens introspect as inactive and
 * are refused by userinfo at once. The client stays until the daily cleanup, so the key can
 * still introspect its tokens and see them inactive; it gets no new ones.
 */
export async function revokeApiKey(db: Database, userId: string, keyId: string, log: RequestLog, now: number) {
  const [revoked] = await db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: 'api_key_revoked' })
    .where(
      and(
        eq(sessions.clientId, keyId),
        eq(sessions.userId, userId),
        isNull(sessions.revokedAt),
        gt(sessions.expiresAt, now),
        sql`EXISTS (SELECT 1 FROM ${oauthClients} WHERE ${oauthClients.id} = ${keyId} AND ${oauthClients.ownerId} = ${userId})`,
      ),
    )
    .returning({ id: sessions.id });
  if (!revoked) throw new ApiError(404, 'not_found', 'No API key with that id.');
  audit('api_key_revoked', { ...log, userId, clientId: keyId, sessionId: revoked.id });
}

/**
 * The grant behind a key at the token endpoint, if it still works, marked used now; with
 * `admin` in `scope`, only while its user is an admin. One round trip.
 */
export async function useApiKey(db: Database, keyId: string, scope: string, now: number) {
  const [grants, owners] = await db.batch([
    db
      .update(sessions)
      .set({ lastUsedAt: now })
      .where(
        and(
          eq(sessions.clientId, keyId),
          isNull(sessions.revokedAt),
          gt(sessions.expiresAt, now),
          sql`${sessions.tokenVersion} = (SELECT ${users.tokenVersion} FROM ${users} WHERE ${users.id} = ${sessions.userId})`,
        ),
      )
      .returning({ id: sessions.id, userId: sessions.userId }),
    db
      .select({ role: users.role })
      .from(users)
      .innerJoin(oauthClients, eq(oauthClients.ownerId, users.id))
      .where(eq(oauthClients.id, keyId)),
  ]);
  const grant = grants[0];
  const owner = owners[0];
  if (!grant || !owner || (scope.split(' ').includes(ADMIN_SCOPE) && owner.role !== 'admin')) return undefined;
  return { grantId: grant.id, userId: grant.userId, role: owner.role };
}

/** For the daily cleanup: keys whose grant has ended and has been deleted with the old sessions. */
export const deleteEndedApiKeysQuery = (db: Database) =>
  db
    .delete(oauthClients)
    .where(
      and(
        sql`${oauthClients.ownerId} IS NOT NULL`,
        sql`NOT EXISTS (SELECT 1 FROM ${sessions} WHERE ${sessions.clientId} = ${oauthClients.id})`,
      ),
    );
