/**
 * Login throttling with fixed-window failure counters in D1. D1 is one database for every
 * edge location, so a guesser cannot spread attempts across colos to dodge the count
 * (Cloudflare's Rate Limiting binding counts per location). Two keys are counted: the
 * username (stops guessing one account) and the client IP (stops spraying many accounts).
 */
import { eq, inArray, sql } from 'drizzle-orm';
import type { Config } from '../config';
import type { Database } from '../db/client';
import { loginFailures } from '../db/schema';
import { ApiError } from '../errors';

export type ThrottleKeys = { user: string; ip?: string | undefined };

const keyList = (keys: ThrottleKeys) => [`user:${keys.user}`, ...(keys.ip ? [`ip:${keys.ip}`] : [])];

export function selectFailures(db: Database, keys: ThrottleKeys) {
  return db
    .select()
    .from(loginFailures)
    .where(inArray(loginFailures.key, keyList(keys)));
}

type Row = typeof loginFailures.$inferSelect;

/** Throws 429 with Retry-After if either key has used up its failures in the current window. */
export function assertNotLocked(rows: Row[], config: Config, now: number): void {
  const windowMs = config.loginWindow * 1000;
  let retryAt = 0;
  for (const row of rows) {
    const limit = row.key.startsWith('ip:') ? config.loginIpMaxFailures : config.loginMaxFailures;
    if (row.windowStart + windowMs > now && row.failures >= limit)
      retryAt = Math.max(retryAt, row.windowStart + windowMs);
  }
  if (retryAt) {
    const seconds = Math.max(1, Math.ceil((retryAt - now) / 1000));
    throw new ApiError(429, 'too_many_attempts', `Too many failed attempts; try again in ${seconds} seconds.`, {
      headers: { 'Retry-After': String(seconds) },
    });
  }
}

/** Counts one failure on each key, opening a new window when the old one has passed. */
export function recordFailureQueries(db: Database, keys: ThrottleKeys, now: number, config: Config) {
  const windowStartBefore = now - config.loginWindow * 1000;
  const [first, ...rest] = keyList(keys).map((key) =>
    db
      .insert(loginFailures)
      .values({ key, windowStart: now, failures: 1 })
      .onConflictDoUpdate({
        target: loginFailures.key,
        set: {
          failures: sql`CASE WHEN ${loginFailures.windowStart} <= ${windowStartBefore} THEN 1 ELSE ${loginFailures.failures} + 1 END`,
          windowStart: sql`CASE WHEN ${loginFailures.windowStart} <= ${windowStartBefore} THEN ${now} ELSE ${loginFailures.windowStart} END`,
        },
      }),
  );
  // A non-empty tuple, as db.batch() wants.
  return [first!, ...rest] as const;
}

/** A successful login forgives the username's failures (not the IP's: a sprayer may own one account). */
export function clearUserFailuresQuery(db: Database, keys: ThrottleKeys) {
  return db.delete(loginFailures).where(eq(loginFailures.key, `user:${keys.user}`));
}

export function deleteStaleFailuresQuery(db: Database, config: Config, now: number) {
  return db.delete(loginFailures).where(sql`${loginFailures.windowStart} <= ${now - config.loginWindow * 1000}`);
}
