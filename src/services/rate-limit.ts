/**
 * Fixed-window counters in D1 for the recovery and two-factor limits. Each attempt is counted
 * first and decided on the count the write returns (`INSERT … ON CONFLICT DO UPDATE …
 * RETURNING`), so N parallel requests cannot all read "under the limit" before any of them
 * writes: at most `limit` of them ever get past.
 */
import { eq, sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { rateLimits } from '../db/schema';
import { ApiError } from '../errors';

export type Limit = { key: string; max: number; windowSeconds: number };

/** Counts one attempt on `limit.key`, opening a new window when the old one has passed. */
export function countQuery(db: Database, limit: Limit, now: number) {
  const expired = sql`${rateLimits.windowStart} <= ${now - limit.windowSeconds * 1000}`;
  return db
    .insert(rateLimits)
    .values({ key: limit.key, windowStart: now, count: 1 })
    .onConflictDoUpdate({
      target: rateLimits.key,
      set: {
        count: sql`CASE WHEN ${expired} THEN 1 ELSE ${rateLimits.count} + 1 END`,
        windowStart: sql`CASE WHEN ${expired} THEN ${now} ELSE ${rateLimits.windowStart} END`,
      },
    })
    .returning({ count: rateLimits.count, windowStart: rateLimits.windowStart });
}

/** The 429 for an attempt past the limit, with Retry-After. */
export function tooMany(limit: Limit, row: { windowStart: number }, now: number): ApiError {
  const seconds = Math.max(1, Math.ceil((row.windowStart + limit.windowSeconds * 1000 - now) / 1000));
  return new ApiError(429, 'too_many_attempts', `Too many attempts; try again in ${seconds} seconds.`, {
    headers: { 'Retry-After': String(seconds) },
  });
}

/** Counts one attempt; throws 429 when it is past the limit. */
export async function consume(db: Database, limit: Limit, now: number): Promise<void> {
  const [row] = await countQuery(db, limit, now);
  if (row && row.count > limit.max) throw tooMany(limit, row, now);
}

/** Counts one attempt; false (and nothing thrown) when it is past the limit. */
export async function tryConsume(db: Database, limit: Limit, now: number): Promise<boolean> {
  const [row] = await countQuery(db, limit, now);
  return !row || row.count <= limit.max;
}

export function clearQuery(db: Database, key: string) {
  return db.delete(rateLimits).where(eq(rateLimits.key, key));
}

/** Counters whose window began more than a day ago (the longest window used) are stale. */
export function deleteStaleLimitsQuery(db: Database, now: number) {
  return db.delete(rateLimits).where(sql`${rateLimits.windowStart} <= ${now - 86_400_000}`);
}
