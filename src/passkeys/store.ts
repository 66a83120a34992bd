/**
 * The credential store: a user's passkeys in D1 (schema.ts `passkeys`). Plain queries over a
 * Drizzle `db`; the rules that span several rows (at most ten per user, never the last one of
 * an account without a password) are written into the statements, so concurrent requests
 * cannot race past them.
 */
import { and, asc, count, eq, sql } from 'drizzle-orm';
import { NO_PASSWORD } from '../credentials/password';
import type { Database } from '../platform/db/client';
import { passkeys, users, type Passkey } from '../platform/db/schema';
import { ApiError } from '../platform/errors';
import type { StoredKey } from './public-key';
import type { NewPasskey, StoredPasskey } from './verification';

export const MAX_PASSKEYS_PER_USER = 10;

/** What clients see of a passkey: never the key (it is public, but of no use to them). */
export type PublicPasskey = {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
  backed_up: boolean;
  device_type: 'multi_device' | 'single_device';
  transports: string[];
};

export function toPublicPasskey(passkey: Passkey): PublicPasskey {
  return {
    id: passkey.id,
    name: passkey.name,
    created_at: new Date(passkey.createdAt).toISOString(),
    last_used_at: passkey.lastUsedAt === null ? null : new Date(passkey.lastUsedAt).toISOString(),
    backed_up: passkey.backedUp,
    // A backup-eligible credential is synced (iCloud Keychain, Google Password Manager): it
    // lives on every device of that account, not on one security key.
    device_type: passkey.backupEligible ? 'multi_device' : 'single_device',
    transports: JSON.parse(passkey.transports) as string[],
  };
}

export function listPasskeysQuery(db: Database, userId: string) {
  return db.select().from(passkeys).where(eq(passkeys.userId, userId)).orderBy(asc(passkeys.createdAt));
}

/** The ids and transports of a user's passkeys, for the options' credential lists. */
export function descriptorsQuery(db: Database, userId: string) {
  return db
    .select({ id: passkeys.id, transports: passkeys.transports })
    .from(passkeys)
    .where(eq(passkeys.userId, userId));
}

/** The same, for the user with this username key (none: no rows). */
export function descriptorsByUsernameQuery(db: Database, key: string) {
  return db
    .select({ id: passkeys.id, transports: passkeys.transports })
    .from(passkeys)
    .innerJoin(users, eq(users.id, passkeys.userId))
    .where(eq(users.usernameKey, key));
}

export function countPasskeysQuery(db: Database, userId: string) {
  return db.select({ n: count() }).from(passkeys).where(eq(passkeys.userId, userId));
}

/**
 * A passkey by credential id, and its user, for a sign-in: two statements for one batch (a
 * join would hand both tables' `id`, `name` and `created_at` to one result row).
 */
export function findForSignInQueries(db: Database, id: string) {
  return [
    db.select().from(passkeys).where(eq(passkeys.id, id)).limit(1),
    db
      .select()
      .from(users)
      .where(eq(users.id, sql`(SELECT ${passkeys.userId} FROM ${passkeys} WHERE ${passkeys.id} = ${id})`))
      .limit(1),
  ] as const;
}

export const storedPasskey = (row: Passkey): StoredPasskey => ({
  id: row.id,
  userId: row.userId,
  key: { jwk: JSON.parse(row.publicKey) as JsonWebKey, algorithm: row.algorithm } satisfies StoredKey,
  signCount: row.signCount,
});

/**
 * Stores a verified new passkey for `userId`: only while the user exists and holds fewer than
 * MAX_PASSKEYS_PER_USER (INSERT ... SELECT), so parallel registrations cannot pass the cap.
 * A credential id registered before (to anyone) fails on the primary key: see isDuplicatePasskey.
 */
export function insertPasskeyQuery(db: Database, userId: string, passkey: NewPasskey, name: string, now: number) {
  return db
    .insert(passkeys)
    .select(
      db
        .select({
          id: sql<string>`${passkey.id}`.as('id'),
          userId: users.id,
          publicKey: sql<string>`${JSON.stringify(passkey.key.jwk)}`.as('public_key'),
          algorithm: sql<number>`${passkey.key.algorithm}`.as('algorithm'),
          signCount: sql<number>`${passkey.signCount}`.as('sign_count'),
          transports: sql<string>`${JSON.stringify(passkey.transports)}`.as('transports'),
          backupEligible: sql<boolean>`${passkey.backupEligible ? 1 : 0}`.as('backup_eligible'),
          backedUp: sql<boolean>`${passkey.backedUp ? 1 : 0}`.as('backed_up'),
          name: sql<string>`${name}`.as('name'),
          createdAt: sql<number>`${now}`.as('created_at'),
          lastUsedAt: sql<null>`NULL`.as('last_used_at'),
        })
        .from(users)
        .where(
          and(
            eq(users.id, userId),
            sql`(SELECT count(*) FROM ${passkeys} WHERE ${passkeys.userId} = ${userId}) < ${MAX_PASSKEYS_PER_USER}`,
          ),
        ),
    )
    .returning();
}

/** Whether a failed write hit the primary key of passkeys: that credential is registered already. */
export function isDuplicatePasskey(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (/UNIQUE constraint failed: passkeys\.id/i.test(e.message)) return true;
  }
  return false;
}

export const passkeyLimitReached = () =>
  new ApiError(
    409,
    'passkey_limit_reached',
    `An account holds at most ${MAX_PASSKEYS_PER_USER} passkeys; remove one first.`,
  );

/** After a sign-in: the counter only ever moves forward, even if two sign-ins race. */
export function passkeyUsedQuery(
  db: Database,
  id: string,
  result: { signCount: number; backedUp: boolean },
  now: number,
) {
  return db
    .update(passkeys)
    .set({
      signCount: sql`max(${passkeys.signCount}, ${result.signCount})`,
      backedUp: result.backedUp,
      lastUsedAt: now,
    })
    .where(eq(passkeys.id, id));
}

export async function renamePasskey(db: Database, userId: string, id: string, name: string): Promise<Passkey> {
  const [row] = await db
    .update(passkeys)
    .set({ name })
    .where(and(eq(passkeys.id, id), eq(passkeys.userId, userId)))
    .returning();
  if (!row) throw notFound();
  return row;
}

const notFound = () => new ApiError(404, 'not_found', 'You have no passkey with that id.');

/**
 * Removes one of the user's passkeys, unless it is the last way into an account without a
 * password (decided in the statement: a parallel removal of the other one cannot slip by).
 */
export async function removePasskey(db: Database, userId: string, id: string): Promise<void> {
  const [removed] = await db
    .delete(passkeys)
    .where(
      and(
        eq(passkeys.id, id),
        eq(passkeys.userId, userId),
        sql`(EXISTS (SELECT 1 FROM ${users} WHERE ${users.id} = ${userId} AND ${users.passwordHash} != ${NO_PASSWORD})
          OR EXISTS (SELECT 1 FROM ${passkeys} AS other WHERE other.user_id = ${userId} AND other.id != ${id}))`,
      ),
    )
    .returning({ id: passkeys.id });
  if (removed) return;
  const [still] = await db
    .select({ id: passkeys.id })
    .from(passkeys)
    .where(and(eq(passkeys.id, id), eq(passkeys.userId, userId)));
  if (!still) throw notFound();
  throw new ApiError(
    409,
    'last_passkey',
    'This is the only way into your account, which has no password: add a password or another passkey first.',
  );
}
