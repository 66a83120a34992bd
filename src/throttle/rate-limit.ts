/**
 * Fixed-window counters in D1, the one mechanism behind every throttle. D1 is one database
 * for every edge location, so attempts spread over many locations are still counted
 * together (Cloudflare's Rate Limiting binding counts per location).
 *
 * Counting is atomic: an attempt first increments its counters (INSERT ... ON CONFLICT DO
 * UPDATE ... RETURNING) and is then judged on the counts that write returned. Of N parallel
 * attempts D1 serialises the increments, so each sees a distinct count and at most `limit`
 * of them pass. Reading the counters, doing the work, and only then writing a failure would
 * let every request that read before the first write through.
 */
import { inArray, lte, sql, type SQL } from 'drizzle-orm';
import type { Database } from '../platform/db/client';
import { rateCounters } from '../platform/db/schema';
import { ApiError, type ErrorCode } from '../platform/errors';

export type Counter = { key: string; windowSeconds: number };
export type Count = { key: string; count: number; expiresAt: number };

/**
 * One statement that counts one attempt on every counter and returns their counts. A counter
 * whose window has ended starts a new one at 1. With `onlyIf`, nothing is counted and nothing
 * returned unless that SQL condition holds, so a batch can count an attempt only if another
 * check in it (a common password, say) lets the attempt through.
 */
export function countAttemptQuery(db: Database, counters: readonly [Counter, ...Counter[]], now: number, onlyIf?: SQL) {
  const rows = counters.map((c) => ({
    key: c.key,
    windowStart: now,
    expiresAt: now + c.windowSeconds * 1000,
    count: 1,
  }));
  // Only INSERT ... SELECT can carry a WHERE (which SQLite's upsert on a SELECT needs anyway);
  // the VALUES are in the table's column order, the order drizzle names the columns in.
  const insert = onlyIf
    ? db.insert(rateCounters).select(
        sql`SELECT * FROM (VALUES ${sql.join(
          rows.map((r) => sql`(${r.key}, ${r.windowStart}, ${r.expiresAt}, ${r.count})`),
          sql`, `,
        )}) WHERE ${onlyIf}`,
      )
    : db.insert(rateCounters).values(rows);
  const expired = sql`${rateCounters.expiresAt} <= excluded.window_start`;
  return insert
    .onConflictDoUpdate({
      target: rateCounters.key,
      set: {
        count: sql`CASE WHEN ${expired} THEN 1 ELSE ${rateCounters.count} + 1 END`,
        windowStart: sql`CASE WHEN ${expired} THEN excluded.window_start ELSE ${rateCounters.windowStart} END`,
        expiresAt: sql`CASE WHEN ${expired} THEN excluded.expires_at ELSE ${rateCounters.expiresAt} END`,
      },
    })
    .returning({ key: rateCounters.key, count: rateCounters.count, expiresAt: rateCounters.expiresAt });
}

/** Takes one attempt back from each counter: it turned out to be no failure (a right code). */
export function takeBackQuery(db: Database, keys: [string, ...string[]]) {
  return db
    .update(rateCounters)
    .set({ count: sql`max(${rateCounters.count} - 1, 0)` })
    .where(inArray(rateCounters.key, keys));
}

export function clearCounterQuery(db: Database, key: string) {
  return db.delete(rateCounters).where(sql`${rateCounters.key} = ${key}`);
}

export function deleteExpiredCountersQuery(db: Database, now: number) {
  return db.delete(rateCounters).where(lte(rateCounters.expiresAt, now));
}

/** 429 with Retry-After until the latest of the given windows ends. */
export function tooMany(code: ErrorCode, what: string, until: number, now: number): ApiError {
  const seconds = Math.max(1, Math.ceil((until - now) / 1000));
  return new ApiError(429, code, `${what}; try again in ${seconds} seconds.`, {
    headers: { 'Retry-After': String(seconds) },
  });
}

/** A counter with a ceiling: at most `max` attempts per window. */
export type Limit = Counter & { max: number };

/**
 * SQL: `limit` is within its ceiling, as counted by a countAttemptQuery earlier in the same
 * batch; a write that must not happen past the limit carries it as its condition.
 */
export function withinLimitSql(limit: Limit): SQL {
  return sql`coalesce((SELECT ${rateCounters.count} FROM ${rateCounters} WHERE ${rateCounters.key} = ${limit.key}), 0) <= ${limit.max}`;
}

/** The count of one attempt on `limit`, to batch with other queries; judge it with `assertWithinLimit`. */
export const countLimitQuery = (db: Database, limit: Limit, now: number) => countAttemptQuery(db, [limit], now);

const judge = (rows: Count[], limit: Limit, now: number) => {
  const [row] = rows;
  return { ok: !row || row.count <= limit.max, until: row?.expiresAt ?? now };
};

/** 429 `too_many_attempts` with Retry-After when the count `countLimitQuery` returned is past the ceiling. */
export function assertWithinLimit(rows: Count[], limit: Limit, now: number, what = 'Too many attempts'): void {
  const { ok, until } = judge(rows, limit, now);
  if (!ok) throw tooMany('too_many_attempts', what, until, now);
}

/** Counts one attempt on `limit`; whether it is within the ceiling, and when the window ends. */
export async function countAgainst(db: Database, limit: Limit, now: number): Promise<{ ok: boolean; until: number }> {
  return judge(await countLimitQuery(db, limit, now), limit, now);
}

/** Counts one attempt on `limit`; 429 `too_many_attempts` with Retry-After past the ceiling. */
export async function consumeAttempt(db: Database, limit: Limit, now: number, what = 'Too many attempts') {
  assertWithinLimit(await countLimitQuery(db, limit, now), limit, now, what);
}
