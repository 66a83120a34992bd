/**
 * Sessions and rotating refresh tokens.
 *
 * A session is one login; every refresh token it ever had belongs to it (its "family").
 * Only SHA-256 hashes of refresh tokens are stored: a leaked database holds no usable
 * token, and a 256-bit random token needs no salt or slow hash.
 *
 * Rotation is a compare-and-swap in one D1 batch (D1 has no interactive transactions): the
 * presented token's row is marked rotated only if it was not already, and the successor's
 * row is inserted only if that mark names it. Of two racing refreshes exactly one wins.
 * The loser, if it comes within REFRESH_REUSE_GRACE seconds, is handed the same successor
 * (parallel tabs are not theft); after that, presenting a rotated token revokes the family.
 */
import { and, desc, eq, gt, isNotNull, isNull, lt, lte, ne, or, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import { alias } from 'drizzle-orm/sqlite-core';
import type { Config } from '../platform/config';
import {
  fromBase64Url,
  randomBytes,
  randomToken,
  sha256,
  sha256Base64Url,
  toBase64Url,
  utf8,
} from '../platform/crypto';
import type { Database } from '../platform/db/client';
import {
  oauthClients,
  refreshTokens,
  sessions,
  users,
  type AccessUser,
  type Session,
  type User,
} from '../platform/db/schema';
import { forgetUser } from './access-cache';
import { ApiError } from '../platform/errors';
import { accessUserColumns, bumpTokenVersionQuery } from '../accounts/users';
import { endResetTokensQuery } from '../recovery/reset-tokens';
import { claimedSql, claimProofQuery, type ProofClaim } from '../dpop/replay';

export type IssuedRefresh = {
  sessionId: string;
  refreshToken: string;
  expiresIn: number;
  /** The DPoP key the session is bound to (its access tokens carry it as `cnf.jkt`), or null. */
  dpopJkt: string | null;
};

const invalidRefresh = () =>
  new ApiError(401, 'invalid_refresh_token', 'The refresh token is invalid, expired or revoked.');

/**
 * What a login verified about the user; the session is created only if it still holds. With
 * `mfaEnabled`, a login that found two-factor off makes no session once it is on (a confirm
 * that committed while the login was hashing), and the reverse.
 */
export type VerifiedUser = { passwordHash: string; tokenVersion: number; mfaEnabled: boolean };

/**
 * How a session's user authenticated, as RFC 8176 `amr` values: a password (`pwd`), plus a
 * one-time code (`otp`), or a passkey with user verification (`hwk`, a proof of possession of
 * a hardware-backed key, and `user`, the verification on the device).
 */
export type AuthMethods = readonly ('pwd' | 'otp' | 'hwk' | 'user')[];

/** What makes a session an OAuth grant (see the sessions table): null for the service's own. */
export type GrantFields = {
  clientId: string;
  scope: string;
  resource: string | null;
  authTime: number;
  amr: string;
  browserSessionId: string | null;
};

/** When a session used (or created) at `now` expires: idle timeout, capped by the absolute lifetime. */
const sessionExpiry = (config: Config, createdAt: number, now: number) =>
  Math.min(now + config.refreshTokenTtl * 1000, createdAt + config.sessionMaxLifetime * 1000);

/**
 * Queries that start a new session for `userId`; the caller batches them with its other
 * writes, first. The session row is inserted only if the user still has the verified hash,
 * token version and two-factor flag (INSERT ... SELECT), so a password change, logout-all,
 * deletion or two-factor enrolment that committed after the check wins; the first query
 * returns no row then. The refresh token
 * row is inserted only if the session row was.
 *
 * `dpopJkt` binds the session to a DPoP key: every sign-in flow (password, two-factor,
 * passkeys) passes the thumbprint of the proof it verified and spent in D1
 * (src/dpop/replay.ts), and tokenResponse then issues DPoP-bound tokens.
 */
export async function newSessionQueries(
  db: Database,
  config: Config,
  input: {
    userId: string;
    userAgent?: string | undefined;
    /**
     * An OAuth grant verified no password at its exchange (the user signed in earlier): it
     * names only the token version its code recorded.
     */
    verified: VerifiedUser | { passwordHash?: undefined; tokenVersion: number; mfaEnabled?: undefined };
    grant?: GrantFields | undefined;
    /** How the user signed in, for a session of the service itself (default: a password). */
    amr?: AuthMethods | undefined;
    /**
     * Only if this holds too, given the new session's id (an OAuth code exchange: the code was
     * claimed for this very session earlier in the batch).
     */
    onlyIf?: ((sessionId: string) => SQL) | undefined;
    /** Lifetime of a session without refresh tokens (an OAuth grant without offline access), seconds. */
    lifetime?: number | undefined;
    dpopJkt?: string | null | undefined;
  },
  now: number,
) {
  const dpopJkt = input.dpopJkt ?? null;
  const sessionId = randomToken(16);
  const refreshToken = randomToken(32);
  const expiresAt = input.lifetime ? now + input.lifetime * 1000 : sessionExpiry(config, now, now);
  const grant = input.grant;
  const tokenHash = await sha256Base64Url(refreshToken);
  const queries = [
    db
      .insert(sessions)
      .select(
        db
          .select({
            id: sql<string>`${sessionId}`.as('id'),
            userId: users.id,
            userAgent: sql<string | null>`${input.userAgent?.slice(0, 256) ?? null}`.as('user_agent'),
            createdAt: sql<number>`${now}`.as('created_at'),
            lastUsedAt: sql<number>`${now}`.as('last_used_at'),
            expiresAt: sql<number>`${expiresAt}`.as('expires_at'),
            tokenVersion: users.tokenVersion,
            revokedAt: sql<null>`NULL`.as('revoked_at'),
            revokedReason: sql<null>`NULL`.as('revoked_reason'),
            clientId: sql<string | null>`${grant?.clientId ?? null}`.as('client_id'),
            scope: sql<string | null>`${grant?.scope ?? null}`.as('scope'),
            resource: sql<string | null>`${grant?.resource ?? null}`.as('resource'),
            authTime: sql<number>`${grant?.authTime ?? now}`.as('auth_time'),
            amr: sql<string>`${grant?.amr ?? (input.amr ?? ['pwd']).join(' ')}`.as('amr'),
            browserSessionId: sql<string | null>`${grant?.browserSessionId ?? null}`.as('browser_session_id'),
            dpopJkt: sql<string | null>`${dpopJkt}`.as('dpop_jkt'),
          })
          .from(users)
          .where(
            and(
              eq(users.id, input.userId),
              input.verified.passwordHash === undefined
                ? undefined
                : eq(users.passwordHash, input.verified.passwordHash),
              eq(users.tokenVersion, input.verified.tokenVersion),
              input.verified.mfaEnabled === undefined ? undefined : eq(users.mfaEnabled, input.verified.mfaEnabled),
              input.onlyIf?.(sessionId),
            ),
          ),
      )
      .returning({ id: sessions.id }),
    db.insert(refreshTokens).select(
      db
        .select({
          tokenHash: sql<string>`${tokenHash}`.as('token_hash'),
          sessionId: sessions.id,
          createdAt: sql<number>`${now}`.as('created_at'),
          expiresAt: sql<number>`${expiresAt}`.as('expires_at'),
          rotatedAt: sql<null>`NULL`.as('rotated_at'),
          successorHash: sql<null>`NULL`.as('successor_hash'),
          successorSealed: sql<null>`NULL`.as('successor_sealed'),
        })
        .from(sessions)
        .where(eq(sessions.id, sessionId)),
    ),
  ] as const;
  const expiresIn = Math.floor((expiresAt - now) / 1000);
  return { issued: { sessionId, refreshToken, expiresIn, dpopJkt } satisfies IssuedRefresh, queries };
}

/** AES-GCM key derived from a refresh token's value: only its holder can open what it seals. */
async function sealKey(token: string): Promise<CryptoKey> {
  const material = await sha256(`edge-auth successor seal\u0000${token}`);
  return crypto.subtle.importKey('raw', material, 'AES-GCM', false, ['encrypt', 'decrypt']);
}

async function sealSuccessor(presented: string, successor: string): Promise<string> {
  const iv = randomBytes(12);
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, await sealKey(presented), utf8(successor));
  return `${toBase64Url(iv)}.${toBase64Url(sealed)}`;
}

async function openSuccessor(presented: string, sealed: string): Promise<string | null> {
  const [iv, data] = sealed.split('.').map((p) => fromBase64Url(p));
  if (!iv || !data) return null;
  try {
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, await sealKey(presented), data);
    return new TextDecoder().decode(plain);
  } catch {
    return null;
  }
}

/**
 * The presented token, its session and user, and the head its successor names: the refresh
 * batch's last read. Every column has its own name: inside a D1 batch, rows come back as
 * objects keyed by column name, so two tables' `id` or `expires_at` would overwrite each other.
 */
const successorHead = alias(refreshTokens, 'successor_head');
const col = <T>(column: SQLWrapper, name: string) => sql<T>`${column}`.as(name);
function readRotation(db: Database, tokenHash: string, dpop: ProofClaim | null) {
  return db
    .select({
      tokenExpiresAt: col<number>(refreshTokens.expiresAt, 'r_token_expires_at'),
      rotatedAt: col<number | null>(refreshTokens.rotatedAt, 'r_rotated_at'),
      successorHash: col<string | null>(refreshTokens.successorHash, 'r_successor_hash'),
      successorSealed: col<string | null>(refreshTokens.successorSealed, 'r_successor_sealed'),
      sessionId: col<string>(sessions.id, 'r_session_id'),
      sessionCreatedAt: col<number>(sessions.createdAt, 'r_session_created_at'),
      sessionExpiresAt: col<number>(sessions.expiresAt, 'r_session_expires_at'),
      sessionRevokedAt: col<number | null>(sessions.revokedAt, 'r_session_revoked_at'),
      sessionTokenVersion: col<number>(sessions.tokenVersion, 'r_session_token_version'),
      sessionClientId: col<string | null>(sessions.clientId, 'r_session_client_id'),
      sessionScope: col<string | null>(sessions.scope, 'r_session_scope'),
      sessionResource: col<string | null>(sessions.resource, 'r_session_resource'),
      sessionAuthTime: col<number | null>(sessions.authTime, 'r_session_auth_time'),
      sessionAmr: col<string | null>(sessions.amr, 'r_session_amr'),
      sessionDpopJkt: col<string | null>(sessions.dpopJkt, 'r_session_dpop_jkt'),
      // Whether the proof's row in D1 is this request's own: 0 when an earlier request spent it.
      proofClaimed: col<number>(dpop ? claimedSql(dpop) : sql`1`, 'r_proof_claimed'),
      headRotatedAt: col<number | null>(successorHead.rotatedAt, 'r_head_rotated_at'),
      headExpiresAt: col<number | null>(successorHead.expiresAt, 'r_head_expires_at'),
      userId: col<string>(users.id, 'r_user_id'),
      username: col<string>(users.username, 'r_username'),
      role: col<AccessUser['role']>(users.role, 'r_role'),
      tokenVersion: col<number>(users.tokenVersion, 'r_token_version'),
      createdAt: col<number>(users.createdAt, 'r_created_at'),
      mfaEnabled: col<number>(users.mfaEnabled, 'r_mfa_enabled'),
      email: col<string | null>(users.email, 'r_email'),
      emailVerifiedAt: col<number | null>(users.emailVerifiedAt, 'r_email_verified_at'),
      updatedAt: col<number>(users.updatedAt, 'r_updated_at'),
    })
    .from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .innerJoin(users, eq(users.id, sessions.userId))
    .leftJoin(successorHead, eq(successorHead.tokenHash, refreshTokens.successorHash))
    .where(eq(refreshTokens.tokenHash, tokenHash));
}

function findToken(db: Database, tokenHash: string) {
  return db
    .select({ token: refreshTokens, session: sessions, user: users })
    .from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(eq(refreshTokens.tokenHash, tokenHash))
    .get();
}

/**
 * Who a refresh token signs in, without rotating it: the OAuth provider's hosted pages ask
 * whether the browser's refresh cookie is a live session before asking for a password. Only
 * the current token of a live session counts; a spent one is no session (it is not treated as
 * reuse here: only a refresh acts on reuse).
 */
export async function findLiveSession(
  db: Database,
  presented: string,
  now: number,
): Promise<{ session: Session; user: User } | null> {
  const row = await findToken(db, await sha256Base64Url(presented));
  if (
    !row ||
    row.token.rotatedAt !== null ||
    row.token.expiresAt <= now ||
    row.session.revokedAt !== null ||
    row.session.expiresAt <= now ||
    row.session.tokenVersion !== row.user.tokenVersion ||
    // An OAuth grant's token is a client's, never a browser's session with the service.
    row.session.clientId !== null
  ) {
    return null;
  }
  return { session: row.session, user: row.user };
}

/** What a refresh tells of its user and session: enough for an OAuth grant's tokens and claims. */
export type RotatedUser = AccessUser & Pick<User, 'updatedAt'>;
export type RotatedSession = Pick<Session, 'id' | 'createdAt' | 'clientId' | 'scope' | 'resource' | 'authTime' | 'amr'>;

export type RotateOutcome =
  | { kind: 'rotated'; user: RotatedUser; session: RotatedSession; issued: IssuedRefresh }
  | { kind: 'reused'; userId: string; sessionId: string }
  /**
   * The session is DPoP-bound and the request did not prove its key: no proof, a proof made
   * with another key, or a proof already spent. The token was not spent.
   */
  | { kind: 'refused'; reason: 'no_proof' | 'other_key' | 'replayed_proof'; userId: string; sessionId: string };

export type RotateOptions = {
  /**
   * The OAuth client presenting the token (null, the default: the service's own refresh). A
   * token of another client's grant, or of a login, is unknown to it, and is refused without
   * touching its session.
   */
  clientId?: string | null;
  /**
   * Checks the live session before anything rotates; what it throws leaves the token unspent.
   * It costs a read before the rotation's batch (two round trips), so only the OAuth grant,
   * which must refuse a wider scope or another resource without spending the token, uses it.
   */
  check?: (session: Session) => void;
  /**
   * The request's verified DPoP proof (src/dpop/): claimed in the batch, and required to be
   * made with the session's key when the session is bound.
   */
  dpop?: ProofClaim | null | undefined;
};

/**
 * Exchanges a refresh token for its successor. Returns `reused` (after revoking the family)
 * when a token that was already rotated comes back after the grace window.
 *
 * One round trip in every common case. The successor is made before anything is read, and the
 * batch (1) spends the presented token only if it is unrotated and its session is live (not
 * revoked, not past its lifetime, not lagging the user's token version), (2) inserts the
 * successor only if that swap names it, (3) extends the session, (4) erases sealed
 * successors past the grace window, and (5) reads the outcome: the row names our successor if
 * we won; otherwise it holds the earlier rotation, whose sealed successor and live head decide
 * between a grace-window repeat and reuse. Only a detected reuse sends a second round trip.
 *
 * A DPoP-bound session is continued only with a proof of its key (`dpop`, verified by the
 * caller): the same batch first claims the proof in D1, and the swap also requires that the
 * session's key is the proof's (or that it has none) and that the claim is this request's. The
 * outcome read returns the session's key and the claim, so a refusal costs no extra trip.
 */
export async function rotateRefreshToken(
  db: Database,
  config: Config,
  presented: string,
  now: number,
  { clientId = null, check, dpop = null }: RotateOptions = {},
): Promise<RotateOutcome> {
  const tokenHash = await sha256Base64Url(presented);
  if (check) {
    const current = await findToken(db, tokenHash);
    if (current && current.session.clientId === clientId) check(current.session);
  }
  const graceMs = config.refreshReuseGrace * 1000;
  const successor = randomToken(32);
  const successorHash = await sha256Base64Url(successor);
  const sealed = graceMs > 0 ? await sealSuccessor(presented, successor) : null;
  // The session's new expiry, as sessionExpiry() computes it, in SQL: the batch reads nothing first.
  const newExpiry = sql<number>`MIN(${now + config.refreshTokenTtl * 1000}, ${sessions.createdAt} + ${config.sessionMaxLifetime * 1000})`;
  // A bound session needs the proof's key; a Bearer session takes a proof or none (it stays Bearer).
  const keyProven = dpop
    ? sql`(${sessions.dpopJkt} IS NULL OR ${sessions.dpopJkt} = ${dpop.jkt})`
    : sql`${sessions.dpopJkt} IS NULL`;
  const live = sql`EXISTS (SELECT 1 FROM ${sessions} JOIN ${users} ON ${users.id} = ${sessions.userId}
    WHERE ${sessions.id} = ${refreshTokens.sessionId} AND ${sessions.revokedAt} IS NULL
      AND ${sessions.expiresAt} > ${now} AND ${sessions.tokenVersion} = ${users.tokenVersion}
      AND ${sessions.clientId} IS ${clientId} AND ${keyProven})`;
  const sessionOfSuccessor = sql`(SELECT ${refreshTokens.sessionId} FROM ${refreshTokens} WHERE ${refreshTokens.tokenHash} = ${successorHash})`;

  const queries = [
    db
      .update(refreshTokens)
      .set({ rotatedAt: now, successorHash, successorSealed: sealed })
      .where(
        and(
          eq(refreshTokens.tokenHash, tokenHash),
          isNull(refreshTokens.rotatedAt),
          gt(refreshTokens.expiresAt, now),
          live,
          // A proof spent before (a replayed request) spends no token.
          dpop ? claimedSql(dpop) : undefined,
        ),
      ),
    // INSERT ... SELECT: the successor lands only if the swap above named it.
    db.insert(refreshTokens).select(
      db
        .select({
          tokenHash: sql<string>`${successorHash}`.as('token_hash'),
          sessionId: refreshTokens.sessionId,
          createdAt: sql<number>`${now}`.as('created_at'),
          expiresAt: sql<number>`${newExpiry}`.as('expires_at'),
          rotatedAt: sql<null>`NULL`.as('rotated_at'),
          successorHash: sql<null>`NULL`.as('successor_hash'),
          successorSealed: sql<null>`NULL`.as('successor_sealed'),
        })
        .from(refreshTokens)
        .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
        .where(and(eq(refreshTokens.tokenHash, tokenHash), eq(refreshTokens.successorHash, successorHash))),
    ),
    db.update(sessions).set({ lastUsedAt: now, expiresAt: newExpiry }).where(eq(sessions.id, sessionOfSuccessor)),
    eraseSealedSuccessorsQuery(
      db,
      now - graceMs,
      sql`(SELECT ${refreshTokens.sessionId} FROM ${refreshTokens} WHERE ${refreshTokens.tokenHash} = ${tokenHash})`,
    ),
    readRotation(db, tokenHash, dpop),
  ] as const;
  const rows = dpop ? (await db.batch([claimProofQuery(db, dpop), ...queries]))[5] : (await db.batch(queries))[4];
  const row = rows[0];
  if (
    !row ||
    row.sessionClientId !== clientId ||
    row.sessionRevokedAt !== null ||
    row.sessionExpiresAt <= now ||
    row.tokenExpiresAt <= now ||
    // A session that lags the user's token version began before a logout-all or password
    // change it should not have survived.
    row.sessionTokenVersion !== row.tokenVersion
  ) {
    throw invalidRefresh();
  }
  const { sessionId, sessionDpopJkt: dpopJkt } = row;
  if (dpopJkt !== null && dpopJkt !== dpop?.jkt) {
    return { kind: 'refused', reason: dpop ? 'other_key' : 'no_proof', userId: row.userId, sessionId };
  }
  if (row.proofClaimed !== 1) return { kind: 'refused', reason: 'replayed_proof', userId: row.userId, sessionId };
  const user: RotatedUser = {
    id: row.userId,
    username: row.username,
    role: row.role,
    tokenVersion: row.tokenVersion,
    createdAt: row.createdAt,
    mfaEnabled: row.mfaEnabled === 1,
    email: row.email,
    emailVerifiedAt: row.emailVerifiedAt,
    updatedAt: row.updatedAt,
  };
  const session: RotatedSession = {
    id: sessionId,
    createdAt: row.sessionCreatedAt,
    clientId: row.sessionClientId,
    scope: row.sessionScope,
    resource: row.sessionResource,
    authTime: row.sessionAuthTime,
    amr: row.sessionAmr,
  };
  if (row.successorHash === successorHash) {
    const expiresIn = Math.floor((sessionExpiry(config, row.sessionCreatedAt, now) - now) / 1000);
    return { kind: 'rotated', user, session, issued: { sessionId, refreshToken: successor, expiresIn, dpopJkt } };
  }

  // Rotated before this request, by an earlier refresh or one racing this one.
  const rotatedAt = row.rotatedAt ?? now;
  if (now - rotatedAt <= graceMs && row.successorSealed && row.headExpiresAt !== null) {
    const earlier = await openSuccessor(presented, row.successorSealed);
    // Parallel tabs present the same token at the same moment, so a loser's token is the
    // immediate predecessor of the live head. A token whose successor has itself been rotated
    // is two or more rotations stale: that is reuse, grace window or not.
    if (earlier && (await sha256Base64Url(earlier)) === row.successorHash && row.headRotatedAt === null) {
      const expiresIn = Math.floor((row.headExpiresAt - now) / 1000);
      return { kind: 'rotated', user, session, issued: { sessionId, refreshToken: earlier, expiresIn, dpopJkt } };
    }
  }
  await revokeSession(db, sessionId, 'refresh_token_reused', now);
  return { kind: 'reused', userId: row.userId, sessionId };
}

/**
 * True in SQL while the session `id` names exists, is not revoked and has not expired: an OAuth
 * code or device code is redeemed only while the browser session that allowed it lives.
 */
export const sessionLiveSql = (id: SQLWrapper, now: number) => {
  // Its own name for the table: the outer query may read sessions too.
  const s = sql.raw('live_session');
  return sql<number>`EXISTS (SELECT 1 FROM ${sessions} AS ${s} WHERE ${s}.id = ${id} AND ${s}.revoked_at IS NULL AND ${s}.expires_at > ${now})`;
};

/**
 * Built once per Database (once per isolate on the primary): this runs on every protected
 * request. Read as raw rows (`values()`), since mapping them through Drizzle's row mapper was
 * the largest share of the protected path's own CPU in the profile; the columns come back in
 * the order selected here, and SubjectRow names them in that order.
 */
const subjectColumns = (now: number | SQLWrapper) =>
  ({
    ...accessUserColumns,
    // 1 when the token's session exists, is not revoked and has not expired; else 0 or NULL.
    sessionLive: sql<0 | 1 | null>`${sessions.revokedAt} IS NULL AND ${sessions.expiresAt} > ${now}`,
  }) satisfies Record<keyof AccessUser | 'sessionLive', unknown>;

const prepareSubjectQuery = (db: Database) =>
  db
    .select(subjectColumns(sql.placeholder('now')))
    .from(users)
    .leftJoin(sessions, and(eq(sessions.id, sql.placeholder('sessionId')), eq(sessions.userId, users.id)))
    .where(eq(users.id, sql.placeholder('userId')))
    .prepare();
const subjectQueries = new WeakMap<Database, ReturnType<typeof prepareSubjectQuery>>();

type SubjectRow = [
  id: string,
  username: string,
  role: AccessUser['role'],
  tokenVersion: number,
  createdAt: number,
  mfaEnabled: 0 | 1,
  email: string | null,
  emailVerifiedAt: number | null,
  sessionLive: 0 | 1 | null,
];

/**
 * The user behind an access token, and whether the token's session is still live, in one
 * query (two primary-key lookups): ending a session ends its access tokens at once too.
 */
export async function findTokenSubject(
  db: Database,
  userId: string,
  sessionId: string,
  now: number,
): Promise<{ user: AccessUser; sessionLive: boolean } | undefined> {
  let query = subjectQueries.get(db);
  if (!query) subjectQueries.set(db, (query = prepareSubjectQuery(db)));
  const [row] = (await query.values({ userId, sessionId, now })) as SubjectRow[];
  if (!row) return undefined;
  const [id, username, role, tokenVersion, createdAt, mfaEnabled, email, emailVerifiedAt, sessionLive] = row;
  return {
    user: { id, username, role, tokenVersion, createdAt, mfaEnabled: mfaEnabled === 1, email, emailVerifiedAt },
    sessionLive: sessionLive === 1,
  };
}

/**
 * findTokenSubject's query as a statement, for a route that runs its own statement in the same
 * batch (http/middleware/auth.ts, withAccessCheck): the access check costs no round trip of its own.
 */
export const tokenSubjectStatement = (db: Database, userId: string, sessionId: string, now: number) =>
  db
    .select(subjectColumns(now))
    .from(users)
    .leftJoin(sessions, and(eq(sessions.id, sessionId), eq(sessions.userId, users.id)))
    .where(eq(users.id, userId));

/** A row of tokenSubjectStatement, read as findTokenSubject answers. */
export function tokenSubject(
  row: Awaited<ReturnType<typeof tokenSubjectStatement>>[number] | undefined,
): { user: AccessUser; sessionLive: boolean } | undefined {
  if (!row) return undefined;
  const { sessionLive, mfaEnabled, ...user } = row;
  return { user: { ...user, mfaEnabled: Boolean(mfaEnabled) }, sessionLive: sessionLive === 1 };
}

/**
 * True while an access token still holds: its user exists at the token's version and its
 * session is live. Written into a write that must not happen for a revoked token, when the
 * write runs in the same batch as the check (withAccessCheck) rather than after it.
 */
export const accessStillValid = (claims: { sub: string; ver: number; sid: string }, now: number) =>
  sql`EXISTS (SELECT 1 FROM ${users} JOIN ${sessions} ON ${sessions.userId} = ${users.id} WHERE ${users.id} = ${claims.sub} AND ${users.tokenVersion} = ${claims.ver} AND ${sessions.id} = ${claims.sid} AND ${sessions.revokedAt} IS NULL AND ${sessions.expiresAt} > ${now})`;

export async function revokeSession(db: Database, sessionId: string, reason: string, now: number): Promise<void> {
  const [revoked] = await db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)))
    .returning({ userId: sessions.userId });
  if (revoked) forgetUser(revoked.userId);
}

/**
 * Revokes the session a refresh token belongs to; unknown tokens are fine (logout is
 * idempotent). One round trip: the revocation finds the session through the token itself,
 * and the same batch reads whose session it was, for the audit line.
 */
export async function revokeByRefreshToken(
  db: Database,
  presented: string,
  now: number,
): Promise<{ sessionId: string; userId: string } | null> {
  const tokenHash = await sha256Base64Url(presented);
  const [, [row]] = await db.batch([
    db
      .update(sessions)
      .set({ revokedAt: now, revokedReason: 'logout' })
      .where(
        and(
          eq(
            sessions.id,
            sql`(SELECT ${refreshTokens.sessionId} FROM ${refreshTokens} WHERE ${refreshTokens.tokenHash} = ${tokenHash})`,
          ),
          isNull(sessions.revokedAt),
        ),
      ),
    db
      .select({ sessionId: sessions.id, userId: sessions.userId })
      .from(refreshTokens)
      .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
      .where(eq(refreshTokens.tokenHash, tokenHash)),
  ]);
  if (!row) return null;
  forgetUser(row.userId);
  return row;
}

/**
 * Revokes every active session of a user, except `keep` when given; with `onlyIf`, only when
 * that SQL holds (evaluated in the same batch as the change it depends on).
 */
export function revokeUserSessionsQuery(
  db: Database,
  userId: string,
  reason: string,
  now: number,
  keep?: string,
  onlyIf?: SQL,
) {
  return db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(
      and(eq(sessions.userId, userId), isNull(sessions.revokedAt), keep ? ne(sessions.id, keep) : undefined, onlyIf),
    );
}

/**
 * Revokes every session and, through the token version, every access token of the user; an
 * outstanding reset token ends too (a logout-all is what an owner does after a suspected leak).
 */
export async function logoutEverywhere(db: Database, userId: string, now: number): Promise<void> {
  await db.batch([
    bumpTokenVersionQuery(db, userId),
    revokeUserSessionsQuery(db, userId, 'logout_all', now),
    endResetTokensQuery(db, userId),
  ]);
  forgetUser(userId);
}

/** The user's live sessions (API keys aside: they have their own list), most recently used first (a statement: the route batches it with its access check). */
export function activeSessionsQuery(db: Database, userId: string, now: number) {
  return db
    .select({
      id: sessions.id,
      createdAt: sessions.createdAt,
      lastUsedAt: sessions.lastUsedAt,
      expiresAt: sessions.expiresAt,
      userAgent: sessions.userAgent,
      clientId: sessions.clientId,
      clientName: oauthClients.name,
      scope: sessions.scope,
    })
    .from(sessions)
    .leftJoin(oauthClients, eq(oauthClients.id, sessions.clientId))
    .where(
      and(
        eq(sessions.userId, userId),
        isNull(sessions.revokedAt),
        gt(sessions.expiresAt, now),
        // API keys have their own list (GET /auth/api-keys).
        isNull(oauthClients.ownerId),
      ),
    )
    .orderBy(desc(sessions.lastUsedAt));
}

/**
 * Revokes one of the user's own sessions; someone else's id matches nothing, like an unknown
 * one. `guard` (accessStillValid) keeps it from happening for a caller whose token no longer
 * holds, when it runs in the batch of the caller's access check.
 */
export function revokeOwnSessionStatement(db: Database, userId: string, sessionId: string, now: number, guard?: SQL) {
  return db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: 'revoked_by_user' })
    .where(
      and(
        eq(sessions.id, sessionId),
        eq(sessions.userId, userId),
        isNull(sessions.revokedAt),
        gt(sessions.expiresAt, now),
        guard,
      ),
    )
    .returning({ id: sessions.id });
}

/** The outcome of revokeOwnSessionStatement: 404 for no such live session of the user. */
export function revokedOwnSession(rows: { id: string }[], userId: string): void {
  if (rows.length === 0) throw new ApiError(404, 'not_found', 'No active session with that id.');
  forgetUser(userId);
}

/** Revokes one of the user's own sessions (its own round trip). */
export async function revokeOwnSession(db: Database, userId: string, sessionId: string, now: number): Promise<void> {
  revokedOwnSession(await revokeOwnSessionStatement(db, userId, sessionId, now), userId);
}

/** Deletes sessions (and, by cascade, their tokens) that ended more than the retention period ago. */
export function deleteEndedSessionsQuery(db: Database, config: Config, now: number) {
  const before = now - config.sessionRetention * 1000;
  return db.delete(sessions).where(or(lt(sessions.expiresAt, before), lt(sessions.revokedAt, before)));
}

/**
 * Erases sealed successors whose grace window has passed (of one session, or of all): after
 * it, a spent token must open nothing, so a database dump plus an old token yields no live one.
 */
export function eraseSealedSuccessorsQuery(db: Database, rotatedBefore: number, sessionId?: string | SQL) {
  return db
    .update(refreshTokens)
    .set({ successorSealed: null })
    .where(
      and(
        sessionId === undefined ? undefined : eq(refreshTokens.sessionId, sessionId),
        isNotNull(refreshTokens.successorSealed),
        lte(refreshTokens.rotatedAt, rotatedBefore),
      ),
    );
}

/** Spent tokens past their own lifetime: reuse of them is answered as expired anyway. */
export function deleteSpentExpiredTokensQuery(db: Database, now: number) {
  return db.delete(refreshTokens).where(and(isNotNull(refreshTokens.rotatedAt), lte(refreshTokens.expiresAt, now)));
}
