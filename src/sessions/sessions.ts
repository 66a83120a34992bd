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
import { and, desc, eq, gt, isNotNull, isNull, lt, lte, ne, or, sql } from 'drizzle-orm';
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
import { refreshTokens, sessions, users, type AccessUser, type User } from '../platform/db/schema';
import { forgetUser } from './access-cache';
import { ApiError } from '../platform/errors';
import { bumpTokenVersionQuery } from '../accounts/users';

export type IssuedRefresh = { sessionId: string; refreshToken: string; expiresIn: number };

const invalidRefresh = () =>
  new ApiError(401, 'invalid_refresh_token', 'The refresh token is invalid, expired or revoked.');

/** What a login verified about the user; the session is created only if it still holds. */
export type VerifiedUser = { passwordHash: string; tokenVersion: number };

/**
 * How a session's user authenticated, as RFC 8176 `amr` values: a password (`pwd`), plus a
 * one-time code (`otp`), or a passkey with user verification (`hwk`, a proof of possession of
 * a hardware-backed key, and `user`, the verification on the device).
 */
export type AuthMethods = readonly ('pwd' | 'otp' | 'hwk' | 'user')[];

/** When a session used (or created) at `now` expires: idle timeout, capped by the absolute lifetime. */
const sessionExpiry = (config: Config, createdAt: number, now: number) =>
  Math.min(now + config.refreshTokenTtl * 1000, createdAt + config.sessionMaxLifetime * 1000);

/**
 * Queries that start a new session for `userId`; the caller batches them with its other
 * writes, first. The session row is inserted only if the user still has the verified hash
 * and token version (INSERT ... SELECT), so a password change, logout-all or deletion that
 * committed after the check wins; the first query returns no row then. The refresh token
 * row is inserted only if the session row was.
 */
export async function newSessionQueries(
  db: Database,
  config: Config,
  input: { userId: string; userAgent?: string | undefined; verified: VerifiedUser; amr?: AuthMethods },
  now: number,
) {
  const sessionId = randomToken(16);
  const amr = (input.amr ?? ['pwd']).join(' ');
  const refreshToken = randomToken(32);
  const expiresAt = sessionExpiry(config, now, now);
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
            authTime: sql<number>`${now}`.as('auth_time'),
            amr: sql<string>`${amr}`.as('amr'),
          })
          .from(users)
          .where(
            and(
              eq(users.id, input.userId),
              eq(users.passwordHash, input.verified.passwordHash),
              eq(users.tokenVersion, input.verified.tokenVersion),
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
  return { issued: { sessionId, refreshToken, expiresIn } satisfies IssuedRefresh, queries };
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

function findToken(db: Database, tokenHash: string) {
  return db
    .select({ token: refreshTokens, session: sessions, user: users })
    .from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(eq(refreshTokens.tokenHash, tokenHash))
    .get();
}

export type RotateOutcome =
  { kind: 'rotated'; user: User; issued: IssuedRefresh } | { kind: 'reused'; userId: string; sessionId: string };

/**
 * Exchanges a refresh token for its successor. Returns `reused` (after revoking the family)
 * when a token that was already rotated comes back after the grace window.
 */
export async function rotateRefreshToken(
  db: Database,
  config: Config,
  presented: string,
  now: number,
): Promise<RotateOutcome> {
  const tokenHash = await sha256Base64Url(presented);
  let row = await findToken(db, tokenHash);
  if (
    !row ||
    row.session.revokedAt !== null ||
    row.session.expiresAt <= now ||
    row.token.expiresAt <= now ||
    // A session that lags the user's token version began before a logout-all or password
    // change it should not have survived.
    row.session.tokenVersion !== row.user.tokenVersion
  ) {
    throw invalidRefresh();
  }
  const sessionId = row.session.id;
  const graceMs = config.refreshReuseGrace * 1000;

  if (row.token.rotatedAt === null) {
    const successor = randomToken(32);
    const successorHash = await sha256Base64Url(successor);
    const expiresAt = sessionExpiry(config, row.session.createdAt, now);
    const sealed = graceMs > 0 ? await sealSuccessor(presented, successor) : null;
    const [won] = await db.batch([
      db
        .update(refreshTokens)
        .set({ rotatedAt: now, successorHash, successorSealed: sealed })
        .where(and(eq(refreshTokens.tokenHash, tokenHash), isNull(refreshTokens.rotatedAt)))
        .returning({ tokenHash: refreshTokens.tokenHash }),
      // INSERT ... SELECT: the successor lands only if the swap above named it.
      db.insert(refreshTokens).select(
        db
          .select({
            tokenHash: sql<string>`${successorHash}`.as('token_hash'),
            sessionId: refreshTokens.sessionId,
            createdAt: sql<number>`${now}`.as('created_at'),
            expiresAt: sql<number>`${expiresAt}`.as('expires_at'),
            rotatedAt: sql<null>`NULL`.as('rotated_at'),
            successorHash: sql<null>`NULL`.as('successor_hash'),
            successorSealed: sql<null>`NULL`.as('successor_sealed'),
          })
          .from(refreshTokens)
          .where(and(eq(refreshTokens.tokenHash, tokenHash), eq(refreshTokens.successorHash, successorHash))),
      ),
      db
        .update(sessions)
        .set({ lastUsedAt: now, expiresAt })
        .where(
          and(
            eq(sessions.id, sessionId),
            sql`EXISTS (SELECT 1 FROM ${refreshTokens} WHERE token_hash = ${successorHash})`,
          ),
        ),
      eraseSealedSuccessorsQuery(db, now - graceMs, sessionId),
    ]);
    if (won.length === 1) {
      const expiresIn = Math.floor((expiresAt - now) / 1000);
      return { kind: 'rotated', user: row.user, issued: { sessionId, refreshToken: successor, expiresIn } };
    }
    // Another request rotated it between our read and our write: answer as that loser.
    row = await findToken(db, tokenHash);
    if (!row) throw invalidRefresh();
  }

  const rotatedAt = row.token.rotatedAt ?? now;
  if (now - rotatedAt <= graceMs && row.token.successorSealed) {
    const successor = await openSuccessor(presented, row.token.successorSealed);
    const head =
      successor &&
      (await db.query.refreshTokens.findFirst({
        where: eq(refreshTokens.tokenHash, await sha256Base64Url(successor)),
      }));
    // Parallel tabs present the same token at the same moment, so a loser's token is the
    // immediate predecessor of the live head. A token whose successor has itself been rotated
    // is two or more rotations stale: that is reuse, grace window or not.
    if (successor && head && head.rotatedAt === null) {
      const expiresIn = Math.floor((head.expiresAt - now) / 1000);
      return { kind: 'rotated', user: row.user, issued: { sessionId, refreshToken: successor, expiresIn } };
    }
  }
  await revokeSession(db, sessionId, 'refresh_token_reused', now);
  return { kind: 'reused', userId: row.user.id, sessionId };
}

/**
 * Built once per Database (once per isolate on the primary): this runs on every protected
 * request. Read as raw rows (`values()`), since mapping them through Drizzle's row mapper was
 * the largest share of the protected path's own CPU in the profile; the columns come back in
 * the order selected here, and SubjectRow names them in that order.
 */
const prepareSubjectQuery = (db: Database) =>
  db
    .select({
      id: users.id,
      username: users.username,
      role: users.role,
      tokenVersion: users.tokenVersion,
      createdAt: users.createdAt,
      mfaEnabled: users.mfaEnabled,
      email: users.email,
      emailVerifiedAt: users.emailVerifiedAt,
      // 1 when the token's session exists, is not revoked and has not expired; else 0 or NULL.
      sessionLive: sql`${sessions.revokedAt} IS NULL AND ${sessions.expiresAt} > ${sql.placeholder('now')}`,
    } satisfies Record<keyof AccessUser | 'sessionLive', unknown>)
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

export async function revokeSession(db: Database, sessionId: string, reason: string, now: number): Promise<void> {
  const [revoked] = await db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)))
    .returning({ userId: sessions.userId });
  if (revoked) forgetUser(revoked.userId);
}

/** Revokes the session a refresh token belongs to; unknown tokens are fine (logout is idempotent). */
export async function revokeByRefreshToken(
  db: Database,
  presented: string,
  now: number,
): Promise<{ sessionId: string; userId: string } | null> {
  const row = await findToken(db, await sha256Base64Url(presented));
  if (!row) return null;
  await revokeSession(db, row.session.id, 'logout', now);
  return { sessionId: row.session.id, userId: row.user.id };
}

/** Revokes every active session of a user, except `keep` when given. */
export function revokeUserSessionsQuery(db: Database, userId: string, reason: string, now: number, keep?: string) {
  return db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), keep ? ne(sessions.id, keep) : undefined));
}

/** Revokes every session and, through the token version, every access token of the user. */
export async function logoutEverywhere(db: Database, userId: string, now: number): Promise<void> {
  await db.batch([bumpTokenVersionQuery(db, userId), revokeUserSessionsQuery(db, userId, 'logout_all', now)]);
  forgetUser(userId);
}

export async function listActiveSessions(db: Database, userId: string, now: number) {
  return db
    .select()
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
    .orderBy(desc(sessions.lastUsedAt));
}

/** Revokes one of the user's own sessions; someone else's id is answered like an unknown one. */
export async function revokeOwnSession(db: Database, userId: string, sessionId: string, now: number): Promise<void> {
  const [row] = await db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: 'revoked_by_user' })
    .where(
      and(
        eq(sessions.id, sessionId),
        eq(sessions.userId, userId),
        isNull(sessions.revokedAt),
        gt(sessions.expiresAt, now),
      ),
    )
    .returning({ id: sessions.id });
  if (!row) throw new ApiError(404, 'not_found', 'No active session with that id.');
  forgetUser(userId);
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
export function eraseSealedSuccessorsQuery(db: Database, rotatedBefore: number, sessionId?: string) {
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
