/**
 * Login throttling: the lockout model for password checks (login, Flask-JWT /auth, the
 * current password of a password change), built on the counters of rate-limit.ts.
 *
 * Three counters per attempt, all counted before the password is checked:
 * - (username, address): LOGIN_MAX_FAILURES. Locks that address out of that account, even
 *   with the right password: the guesser's own address is what gets locked.
 * - address: LOGIN_IP_MAX_FAILURES. Stops one address spraying many accounts.
 * - username: LOGIN_USER_MAX_FAILURES, far higher. Stops guessing spread over many
 *   addresses, but never applies at a *known address* (one the account logged in from
 *   successfully in the last KNOWN_ADDRESS_DAYS), so strangers failing cannot keep the owner
 *   out of their usual places.
 * An address is an IPv4 address or an IPv6 /64 (address.ts). A success takes back its own
 * count, clears the (username, address) counter and remembers the address as known.
 *
 * A login (loginAttempt) also tells attempts still being checked from failures: counted
 * before the check, twelve parallel logins with the right password would otherwise look like
 * twelve failures. An attempt let through gets a row in attempts_in_flight until its verdict;
 * the (username, address) counter holds failures and those in flight. So a refusal can say
 * which it is (in flight: Retry-After 1), and at a known address up to
 * LOGIN_KNOWN_ADDRESS_PARALLEL may be in flight, while failures still lock after
 * LOGIN_MAX_FAILURES. At an unknown address failures and attempts in flight together stay
 * within LOGIN_MAX_FAILURES, as before.
 */
import { eq, sql, type SQL } from 'drizzle-orm';
import type { Config } from '../platform/config';
import type { Database } from '../platform/db/client';
import { attemptsInFlight, knownAddresses, rateCounters, users } from '../platform/db/schema';
import { ApiError } from '../platform/errors';
import { countAttemptQuery, tooMany, type Count, type Counter, type Limit } from './rate-limit';

export const KNOWN_ADDRESS_DAYS = 30;
const KNOWN_ADDRESS_MS = KNOWN_ADDRESS_DAYS * 86_400_000;

/** Whose password is being tried, and from where (`address` is an addressKey(), if known). */
export type AttemptKeys = { user: string; address?: string | undefined };

const userAtAddressKey = (k: AttemptKeys) => `login:user-address:${k.user}|${k.address ?? '-'}`;
const addressKey = (address: string) => `login:address:${address}`;
const userKey = (k: AttemptKeys) => `login:user:${k.user}`;

function counters(config: Config, keys: AttemptKeys): [Counter, ...Counter[]] {
  const windowSeconds = config.loginWindow;
  return [
    { key: userAtAddressKey(keys), windowSeconds },
    { key: userKey(keys), windowSeconds },
    ...(keys.address ? [{ key: addressKey(keys.address), windowSeconds }] : []),
  ];
}

/**
 * Counts one password attempt; batch it with the read that the check needs. With `onlyIf`,
 * only when that holds (rate-limit.ts).
 */
export function countPasswordAttemptQuery(db: Database, config: Config, keys: AttemptKeys, now: number, onlyIf?: SQL) {
  return countAttemptQuery(db, counters(config, keys), now, onlyIf);
}

/** Throws 429 (Retry-After) when the counts just returned put this attempt over a limit. */
export function assertAttemptAllowed(
  counts: Count[],
  config: Config,
  keys: AttemptKeys,
  knownAddress: boolean,
  now: number,
): void {
  const limits = new Map<string, number>([
    [userAtAddressKey(keys), config.loginMaxFailures],
    ...(keys.address ? [[addressKey(keys.address), config.loginIpMaxFailures] as const] : []),
    ...(knownAddress ? [] : [[userKey(keys), config.loginUserMaxFailures] as const]),
  ]);
  let until = 0;
  for (const { key, count, expiresAt } of counts) {
    const limit = limits.get(key);
    if (limit !== undefined && count > limit) until = Math.max(until, expiresAt);
  }
  if (until) throw tooMany('too_many_attempts', 'Too many failed attempts', until, now);
}

/**
 * A limit a login must also be within, counted only when `onlyIf` holds (the stored hash is
 * an imported one, say): refused past `max`, before the password is checked.
 */
export type ExtraLimit = Limit & { onlyIf: SQL };

/**
 * How long an attempt counts as in flight if its verdict never cleared it (its Worker died):
 * far longer than any check takes, imported hashes included.
 */
export const IN_FLIGHT_LAPSE_SECONDS = 60;

/**
 * One login attempt, judged in the round trip that reads the user. `queries` go into that
 * batch, after the user read; `admit` judges their results (429 when refused). An attempt
 * let through is counted and marked in flight by the statements that judge it, so of
 * parallel attempts each sees the ones before it. Its verdict then goes in `succeeded`
 * (beside passwordAttemptSucceededQueries) or `failed` (a write the answer need not wait
 * for: the failure is already counted, the row only says it is no longer in flight).
 */
export function loginAttempt(db: Database, config: Config, keys: AttemptKeys, now: number, extra?: ExtraLimit) {
  const id = crypto.randomUUID();
  const pair = userAtAddressKey(keys);
  const count = (key: string) =>
    sql`coalesce((SELECT count FROM rate_counters WHERE key = ${key} AND expires_at > ${now}), 0)`;
  // What the judgement reads, as one row `s` (read after this attempt's per-username and
  // per-address counts, before it is let in). `pair` holds failures and those in flight.
  const state = sql`(SELECT ${count(pair)} AS pair,
    (SELECT expires_at FROM rate_counters WHERE key = ${pair}) AS pair_until,
    (SELECT count(*) FROM attempts_in_flight WHERE key = ${pair} AND started_at > ${now - IN_FLIGHT_LAPSE_SECONDS * 1000}) AS in_flight,
    EXISTS (SELECT 1 FROM users JOIN known_addresses ON ${knownAddressJoin(users.id, keys.address, now)} WHERE users.username_key = ${keys.user}) AS known,
    ${keys.address ? count(addressKey(keys.address)) : sql`0`} AS address,
    ${count(userKey(keys))} AS user,
    ${extra ? sql`coalesce((SELECT count FROM rate_counters WHERE key = ${extra.key} AND expires_at > ${now} AND ${extra.onlyIf}), 0)` : sql`0`} AS extra) AS s`;
  const failures = sql`max(s.pair - s.in_flight, 0)`;
  // The judgement; `admit` below only explains a refusal, from the same row.
  const admitted = sql`(CASE WHEN s.known
      THEN ${failures} < ${config.loginMaxFailures} AND s.in_flight < ${config.loginKnownAddressParallel}
      ELSE ${failures} + s.in_flight < ${config.loginMaxFailures} END)
    AND s.address <= ${config.loginIpMaxFailures}
    AND (s.known OR s.user <= ${config.loginUserMaxFailures})
    AND s.extra <= ${extra?.max ?? 0}`;
  const windowSeconds = config.loginWindow;
  const queries = [
    // Every attempt counts per username and per address, let through or not.
    countAttemptQuery(
      db,
      [
        { key: userKey(keys), windowSeconds },
        ...(keys.address ? [{ key: addressKey(keys.address), windowSeconds }] : []),
      ],
      now,
    ),
    ...(extra ? [countAttemptQuery(db, [extra], now, extra.onlyIf)] : []),
    db
      .select({
        pair: sql<number>`s.pair`,
        pairUntil: sql<number | null>`s.pair_until`,
        inFlight: sql<number>`s.in_flight`,
        known: sql<number>`s.known`,
      })
      .from(state),
    db
      .insert(attemptsInFlight)
      .select(sql`SELECT ${id}, ${pair}, ${now} FROM ${state} WHERE ${admitted}`)
      .returning({ id: attemptsInFlight.id }),
    countAttemptQuery(
      db,
      [{ key: pair, windowSeconds }],
      now,
      sql`EXISTS (SELECT 1 FROM attempts_in_flight WHERE id = ${id})`,
    ),
  ] as const;

  /** Throws 429 unless the attempt was let through, saying why and how long to wait. */
  function admit(results: readonly unknown[]): void {
    const [counts, ...rest] = results as [Count[], ...unknown[]];
    const extraCounts = extra ? (rest.shift() as Count[]) : [];
    const [s] = rest.shift() as Snapshot[];
    if ((rest.shift() as { id: string }[]).length === 1) return;
    const known = Boolean(s!.known);
    // Each limit that failures (not attempts in flight) went past, and when its window ends.
    const limits = new Map<string, number>([
      ...(keys.address ? [[addressKey(keys.address), config.loginIpMaxFailures] as const] : []),
      ...(known ? [] : [[userKey(keys), config.loginUserMaxFailures] as const]),
      ...(extra ? [[extra.key, extra.max] as const] : []),
    ]);
    let until = 0;
    for (const { key, count, expiresAt } of [...counts, ...extraCounts]) {
      const limit = limits.get(key);
      if (limit !== undefined && count > limit) until = Math.max(until, expiresAt);
    }
    if (s!.pair - s!.inFlight >= config.loginMaxFailures && s!.pairUntil) until = Math.max(until, s!.pairUntil);
    if (until) throw tooMany('too_many_attempts', 'Too many failed attempts', until, now);
    throw new ApiError(
      429,
      'too_many_attempts',
      'Too many attempts for this account from this address are still being checked, and none has failed; try again in a second.',
      { headers: { 'Retry-After': '1' } },
    );
  }

  const done = db.delete(attemptsInFlight).where(eq(attemptsInFlight.id, id));
  return { queries, admit, succeeded: done, failed: done };
}

type Snapshot = { pair: number; pairUntil: number | null; inFlight: number; known: number };

export function deleteLapsedAttemptsQuery(db: Database, now: number) {
  return db
    .delete(attemptsInFlight)
    .where(sql`${attemptsInFlight.startedAt} <= ${now - IN_FLIGHT_LAPSE_SECONDS * 1000}`);
}

/**
 * After a right password: this attempt was no failure (take its count back), the address
 * has proven itself for this account (reset its counter, remember it as known). One
 * statement for the counters; the known address is rewritten at most daily (`knownSince`
 * is when it was last recorded, as read beside the user), since "known" means 30 days.
 */
export function passwordAttemptSucceededQueries(
  db: Database,
  keys: AttemptKeys,
  userId: string,
  now: number,
  knownSince: number | null | undefined,
) {
  const reset = userAtAddressKey(keys);
  const counted = [reset, userKey(keys), ...(keys.address ? [addressKey(keys.address)] : [])];
  const remember = keys.address && (knownSince == null || knownSince < now - 86_400_000);
  return [
    db
      .update(rateCounters)
      .set({
        count: sql`CASE WHEN ${rateCounters.key} = ${reset} THEN 0 ELSE max(${rateCounters.count} - 1, 0) END`,
      })
      .where(sql`${rateCounters.key} IN ${counted} AND ${rateCounters.expiresAt} > ${now}`),
    ...(remember ? [rememberAddressQuery(db, userId, keys.address!, now)] : []),
  ] as const;
}

/**
 * A passkey sign-in, counted on the address alone, under the login's LOGIN_IP_MAX_FAILURES: a
 * passkey cannot be guessed, so there is no per-account lockout to keep, and before the
 * passkey is found there is no username to count under. What is bounded is one address trying
 * responses (a stolen one, a replay) without end.
 */
export function countAddressAttemptQuery(db: Database, config: Config, address: string, now: number) {
  return countAttemptQuery(db, [{ key: addressKey(address), windowSeconds: config.loginWindow }], now);
}

/** Throws 429 (Retry-After) when the count just returned puts the address over LOGIN_IP_MAX_FAILURES. */
export function assertAddressAttemptAllowed(counts: Count[], config: Config, now: number): void {
  const [counted] = counts;
  if (counted && counted.count > config.loginIpMaxFailures) {
    throw tooMany('too_many_attempts', 'Too many failed attempts', counted.expiresAt, now);
  }
}

/**
 * After a passkey sign-in: the attempt was no failure (its count, and those of `alsoCounted`,
 * go back), and the address is known for the account, as after a password login.
 */
export function addressAttemptSucceededQueries(
  db: Database,
  address: string,
  userId: string,
  now: number,
  alsoCounted: string[] = [],
) {
  return [
    db
      .update(rateCounters)
      .set({ count: sql`max(${rateCounters.count} - 1, 0)` })
      .where(
        sql`${rateCounters.key} IN ${[addressKey(address), ...alsoCounted]} AND ${rateCounters.expiresAt} > ${now}`,
      ),
    rememberAddressQuery(db, userId, address, now),
  ] as const;
}

function rememberAddressQuery(db: Database, userId: string, address: string, now: number) {
  return db
    .insert(knownAddresses)
    .values({ userId, address, lastSeenAt: now })
    .onConflictDoUpdate({ target: [knownAddresses.userId, knownAddresses.address], set: { lastSeenAt: now } });
}

/** SQL for "this address is known for the user" (for a LEFT JOIN beside the user read). */
export function knownAddressJoin(userIdColumn: unknown, address: string | undefined, now: number) {
  return sql`${knownAddresses.userId} = ${userIdColumn} AND ${knownAddresses.address} = ${address ?? ''} AND ${knownAddresses.lastSeenAt} > ${now - KNOWN_ADDRESS_MS}`;
}

export function deleteForgottenAddressesQuery(db: Database, now: number) {
  return db.delete(knownAddresses).where(sql`${knownAddresses.lastSeenAt} <= ${now - KNOWN_ADDRESS_MS}`);
}

/**
 * Registration per address (REGISTER_IP_MAX per REGISTER_WINDOW), counted before any
 * hashing, so bulk sign-ups and username probing from one address cost their author alone.
 * Without an address (off Cloudflare) there is nothing to count by. Batch the count with the
 * reads registration makes before hashing; with `onlyIf`, it counts only when that holds.
 */
export function countRegistrationQuery(db: Database, config: Config, address: string, now: number, onlyIf?: SQL) {
  return countAttemptQuery(
    db,
    [{ key: `register:address:${address}`, windowSeconds: config.registerWindow }],
    now,
    onlyIf,
  );
}

/** Throws 429 (Retry-After) when the count just returned puts this registration over the limit. */
export function assertRegistrationAllowed(counts: Count[], config: Config, now: number): void {
  const [counted] = counts;
  if (counted && counted.count > config.registerIpMax) {
    throw tooMany('too_many_registrations', 'Too many registrations from this address', counted.expiresAt, now);
  }
}
