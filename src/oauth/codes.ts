/**
 * Authorization codes (RFC 6749 §4.1.2). The authorization endpoint calls
 * createAuthorizationCode once the user is signed in and has consented; the authorization_code
 * grant (grants/authorization-code.ts) redeems it. A code lives at most 60 seconds
 * (RFC 6749 §4.1.2 recommends 10 minutes at most), works once, and only its SHA-256 is stored.
 */
import { lt, sql } from 'drizzle-orm';
import type { Config } from '../platform/config';
import { randomToken, sha256Base64Url } from '../platform/crypto';
import type { Database } from '../platform/db/client';
import { oauthCodes, users } from '../platform/db/schema';
import { OAuthError } from './errors';
import { formatScope } from './scopes';

export const CODE_TTL_SECONDS = 60;

/** An S256 challenge is the base64url SHA-256 of the verifier: always 43 characters (RFC 7636 §4.2). */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

export type AuthorizationCodeInput = {
  clientId: string;
  /** Exactly as the authorization request gave it; the token request must repeat it. */
  redirectUri: string;
  /** PKCE S256 challenge. `plain` is refused before this is called. */
  codeChallenge: string;
  nonce?: string | undefined;
  userId: string;
  /** The browser's session with the service: the code is void once that session has ended. */
  sessionId?: string | undefined;
  /** Granted scopes (already checked against the client and consented to), as a list or space-separated. */
  scope: readonly string[] | string;
  /** RFC 8707 resource the request asked for, bound to the grant. */
  resource?: string | undefined;
  /** When the user authenticated (ms since the epoch). */
  authTime: number;
  /** RFC 8176 methods: `pwd`, plus `otp` after a second factor. */
  amr: readonly string[];
  /** RFC 9449 §10: the exchange must prove this DPoP key. */
  dpopJkt?: string | undefined;
};

export const codeHash = (code: string) => sha256Base64Url(`edge-auth authorization code\u0000${code}`);

/**
 * Stores a code and returns its value. The user's token version is recorded with it (INSERT
 * ... SELECT), so a logout-all or password change between consent and exchange voids it.
 */
export async function createAuthorizationCode(
  db: Database,
  _config: Config,
  input: AuthorizationCodeInput,
  now = Date.now(),
): Promise<string> {
  if (!S256_CHALLENGE.test(input.codeChallenge)) {
    throw new OAuthError('invalid_request', 'code_challenge must be an S256 challenge (43 base64url characters).');
  }
  const code = randomToken(32);
  const inserted = await db
    .insert(oauthCodes)
    .select(
      db
        .select({
          codeHash: sql<string>`${await codeHash(code)}`.as('code_hash'),
          clientId: sql<string>`${input.clientId}`.as('client_id'),
          userId: users.id,
          tokenVersion: users.tokenVersion,
          browserSessionId: sql<string | null>`${input.sessionId ?? null}`.as('browser_session_id'),
          redirectUri: sql<string>`${input.redirectUri}`.as('redirect_uri'),
          codeChallenge: sql<string>`${input.codeChallenge}`.as('code_challenge'),
          nonce: sql<string | null>`${input.nonce ?? null}`.as('nonce'),
          scope: sql<string>`${formatScope(typeof input.scope === 'string' ? input.scope.split(' ') : input.scope)}`.as(
            'scope',
          ),
          resource: sql<string | null>`${input.resource ?? null}`.as('resource'),
          authTime: sql<number>`${input.authTime}`.as('auth_time'),
          amr: sql<string>`${input.amr.join(' ')}`.as('amr'),
          createdAt: sql<number>`${now}`.as('created_at'),
          expiresAt: sql<number>`${now + CODE_TTL_SECONDS * 1000}`.as('expires_at'),
          usedAt: sql<null>`NULL`.as('used_at'),
          grantId: sql<null>`NULL`.as('grant_id'),
          dpopJkt: sql<string | null>`${input.dpopJkt ?? null}`.as('dpop_jkt'),
        })
        .from(users)
        .where(sql`${users.id} = ${input.userId}`),
    )
    .returning({ codeHash: oauthCodes.codeHash });
  if (inserted.length === 0) throw new OAuthError('access_denied', 'The user no longer exists.');
  return code;
}

/**
 * Codes past their lifetime by more than SESSION_RETENTION. A used code is kept that long after
 * it expired so that a late replay is still recognised and still ends the grant it made.
 */
export function deleteExpiredCodesQuery(db: Database, config: Config, now: number) {
  return db.delete(oauthCodes).where(lt(oauthCodes.expiresAt, now - config.sessionRetention * 1000));
}
