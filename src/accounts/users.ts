/** Users in D1. Plain functions over a Drizzle `db`; no HTTP in here except typed errors. */
import { and, asc, eq, gt, isNull, ne, sql } from 'drizzle-orm';
import { ADMIN_SCOPE } from '../oauth/scopes';
import type { Database } from '../platform/db/client';
import { sessions, users, type AccessUser, type Role, type User } from '../platform/db/schema';
import { forgetUser } from '../sessions/access-cache';
import { ApiError } from '../platform/errors';

/** What clients see of a user; never the hash or the token version. */
export type PublicUser = {
  id: string;
  username: string;
  role: Role;
  created_at: string;
  mfa_enabled: boolean;
  email: string | null;
  email_verified: boolean;
};

export function toPublicUser(user: AccessUser): PublicUser {
  return {
    id: user.id,
    username: user.username,
    role: user.role,
    created_at: new Date(user.createdAt).toISOString(),
    mfa_enabled: user.mfaEnabled,
    email: user.email,
    email_verified: user.emailVerifiedAt !== null,
  };
}

/** Addresses are compared case-insensitively (a verified one belongs to one user). */
export function emailKey(email: string): string {
  return email.normalize('NFKC').toLowerCase();
}

/** Usernames are compared case-insensitively; the unique index is on this key. */
export function usernameKey(username: string): string {
  return username.normalize('NFKC').toLowerCase();
}

export function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (/UNIQUE constraint failed/i.test(e.message)) return true;
  }
  return false;
}

/**
 * Inserts a user, always with role `user`. The database's unique index decides races: of
 * two simultaneous registrations of one name exactly one row lands, the other gets a 409.
 */
export async function createUser(db: Database, input: { username: string; passwordHash: string }): Promise<User> {
  const now = Date.now();
  try {
    const [user] = await db
      .insert(users)
      .values({
        id: crypto.randomUUID(),
        username: input.username,
        usernameKey: usernameKey(input.username),
        passwordHash: input.passwordHash,
        role: 'user',
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    return user!;
  } catch (err) {
    if (isUniqueViolation(err)) throw new ApiError(409, 'username_taken', 'That username is already registered.');
    throw err;
  }
}

/** The insert createUser makes, for a caller that batches it (a sign-up with a passkey). */
export function insertUserQuery(
  db: Database,
  input: { id: string; username: string; passwordHash: string },
  now: number,
) {
  return db
    .insert(users)
    .values({
      id: input.id,
      username: input.username,
      usernameKey: usernameKey(input.username),
      passwordHash: input.passwordHash,
      role: 'user',
      createdAt: now,
      updatedAt: now,
    })
    .returning();
}

export async function findUserByUsername(db: Database, username: string): Promise<User | undefined> {
  return db.query.users.findFirst({ where: eq(users.usernameKey, usernameKey(username)) });
}

export async function findUserById(db: Database, id: string): Promise<User | undefined> {
  return db.query.users.findFirst({ where: eq(users.id, id) });
}

/** Ends every access token of the user issued so far (they carry the old version). */
export function bumpTokenVersionQuery(db: Database, id: string) {
  return db
    .update(users)
    .set({ tokenVersion: sql`${users.tokenVersion} + 1`, updatedAt: Date.now() })
    .where(eq(users.id, id));
}

/**
 * What the admin routes and the access check read of a user: everything toPublicUser shows,
 * never the password hash (in this order: sessions.ts reads the access check as raw rows).
 */
export const accessUserColumns = {
  id: users.id,
  username: users.username,
  role: users.role,
  tokenVersion: users.tokenVersion,
  createdAt: users.createdAt,
  mfaEnabled: users.mfaEnabled,
  email: users.email,
  emailVerifiedAt: users.emailVerifiedAt,
} satisfies Record<keyof AccessUser, unknown>;

/**
 * A page of users, oldest id first, one more than `limit` to tell whether another follows
 * (usersPage). A statement: the route batches it with the caller's access check.
 */
export const usersPageQuery = (db: Database, opts: { limit: number; cursor?: string | undefined }) =>
  db
    .select(accessUserColumns)
    .from(users)
    .where(opts.cursor ? gt(users.id, opts.cursor) : undefined)
    .orderBy(asc(users.id))
    .limit(opts.limit + 1);

export function usersPage(rows: AccessUser[], limit: number): { users: AccessUser[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  return { users: page, nextCursor: rows.length > limit ? page[page.length - 1]!.id : null };
}

/** One user by id (a statement, batched like usersPageQuery). */
export const userByIdQuery = (db: Database, id: string) =>
  db.select(accessUserColumns).from(users).where(eq(users.id, id)).limit(1);

/** Another admin must remain: written into the statement so concurrent changes cannot race past it. */
const anotherAdminRemains = (id: string) =>
  sql`(SELECT count(*) FROM ${users} WHERE ${users.role} = 'admin' AND ${users.id} != ${id}) > 0`;

async function explainNoChange(db: Database, id: string): Promise<never> {
  const user = await findUserById(db, id);
  if (!user) throw new ApiError(404, 'not_found', 'No user with that id.');
  throw new ApiError(409, 'last_admin', 'This is the last admin; make another admin first.');
}

/**
 * Ends the user's API keys that carry `admin` (only keys hold it: the authorization endpoint
 * never grants it), if the user is no admin once the batch it is in has run.
 */
const endAdminKeysQuery = (db: Database, id: string, now: number) =>
  db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: 'demoted' })
    .where(
      and(
        eq(sessions.userId, id),
        isNull(sessions.revokedAt),
        sql`instr(' ' || ${sessions.scope} || ' ', ${` ${ADMIN_SCOPE} `}) > 0`,
        sql`(SELECT ${users.role} FROM ${users} WHERE ${users.id} = ${id}) != 'admin'`,
      ),
    );

/** Changes the role; a demotion ends the user's admin API keys in the same batch. */
export async function setRole(db: Database, id: string, role: Role): Promise<User> {
  const now = Date.now();
  const [[user]] = await db.batch([
    db
      .update(users)
      .set({ role, updatedAt: now })
      .where(
        and(
          eq(users.id, id),
          role === 'admin' ? undefined : sql`(${ne(users.role, 'admin')} OR ${anotherAdminRemains(id)})`,
        ),
      )
      .returning(),
    endAdminKeysQuery(db, id, now),
  ]);
  if (!user) return explainNoChange(db, id);
  forgetUser(id);
  return user;
}

export async function deleteUser(db: Database, id: string): Promise<void> {
  const [deleted] = await db
    .delete(users)
    .where(and(eq(users.id, id), sql`(${ne(users.role, 'admin')} OR ${anotherAdminRemains(id)})`))
    .returning({ id: users.id });
  if (!deleted) await explainNoChange(db, id);
  forgetUser(id);
}
