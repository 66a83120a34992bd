/**
 * The common-password check (ASVS 5.0 V6.2.4) against the `common_passwords` table. The list
 * is data in D1, not code in the Worker: in the bundle it was ~13 KiB of gzip evaluated at
 * every cold start for the few flows that set a password, and in D1 operators can add their
 * own words with SQL (README). No round trip of its own: a flow sends the lookup in the batch
 * it already makes before hashing, and writes that batch's throttle counters only for a
 * password that is not common (`notCommonPassword`), so a refused common password counts
 * against no limit, as when the list was checked before any query.
 */
import { eq, sql, type SQL } from 'drizzle-orm';
import type { Database } from '../platform/db/client';
import { commonPasswords } from '../platform/db/schema';
import { ApiError } from '../platform/errors';

/**
 * The form the list is stored in and looked up by: NFKC (as passwords are hashed), then
 * lower-cased, so `Password1` and full-width `ｐａｓｓｗｏｒｄ` are the entries they look like.
 * scripts/build-common-passwords.mjs writes the seed in this form.
 */
export function commonPasswordKey(password: string): string {
  return password.normalize('NFKC').toLowerCase();
}

/** At most one row, if `password` is on the list: for the batch a flow sends before hashing. */
export function commonPasswordQuery(db: Database, password: string) {
  return db
    .select({ listed: sql<number>`1` })
    .from(commonPasswords)
    .where(eq(commonPasswords.password, commonPasswordKey(password)))
    .limit(1);
}

/** Holds when `password` is not on the list: the condition under which a batch counts an attempt. */
export function notCommonPassword(password: string): SQL {
  return sql`NOT EXISTS (SELECT 1 FROM ${commonPasswords} WHERE ${commonPasswords.password} = ${commonPasswordKey(password)})`;
}

/** 400 `password_too_common` if the lookup found the password. */
export function assertNotCommonPassword(listed: readonly unknown[]): void {
  if (listed.length > 0) {
    throw new ApiError(
      400,
      'password_too_common',
      'This password is among the most commonly used ones; choose another.',
    );
  }
}
