/**
 * The database schema, and the source of truth for `migrations/` (`npm run db:generate`).
 * Times are Unix epoch milliseconds in INTEGER columns, so conditional updates can compare
 * them in SQL without conversions.
 */
import { sql } from 'drizzle-orm';
import { check, index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

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
    passwordHash: text('password_hash').notNull(),
    role: text('role', { enum: ROLES }).notNull().default('user'),
    /** Carried in access tokens as `ver`; bumping it kills every access token issued before. */
    tokenVersion: integer('token_version').notNull().default(0),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('users_username_key_unique').on(t.usernameKey),
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
    revokedAt: integer('revoked_at'),
    revokedReason: text('revoked_reason'),
  },
  (t) => [index('sessions_user_id_idx').on(t.userId), index('sessions_expires_at_idx').on(t.expiresAt)],
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

/** Fixed-window failure counters for login throttling, keyed `user:<name>` or `ip:<addr>`. */
export const loginFailures = sqliteTable('login_failures', {
  key: text('key').primaryKey(),
  windowStart: integer('window_start').notNull(),
  failures: integer('failures').notNull(),
});

export type User = typeof users.$inferSelect;
export type Session = typeof sessions.$inferSelect;
