/**
 * The bounded-staleness cache of the per-request access check (ACCESS_CHECK_CACHE_TTL,
 * off by default). A positive check of (user, session, token version) read from D1 may be
 * reused by this isolate for at most the TTL; the role comes with it. So a revocation made
 * elsewhere (another isolate, another location) takes effect everywhere within TTL seconds,
 * and one this isolate handles takes effect here at once: every service function that
 * revokes, demotes, deletes or changes a password calls `forgetUser` after its write.
 *
 * Only routes that read and need no admin role use it (requireAuth's `cache` option); routes
 * that change state or need the admin role always check D1.
 *
 * With D1_READS=nearest the check may come from a replica that has not yet seen a revocation
 * this isolate just made. Cached, that stale row would outlive the revocation by the TTL; so
 * after `forgetUser`, a check of that user read from a replica is not cached for the TTL plus
 * D1_REPLICA_LAG_BOUND (the replica has caught up by then).
 */
import { MAX_ACCESS_CHECK_CACHE_TTL, MAX_D1_REPLICA_LAG_BOUND } from '../platform/config';
import type { AccessUser } from '../platform/db/schema';

type Entry = { user: AccessUser; checkedAt: number };

/** userId -> `${sessionId}:${tokenVersion}` -> entry, so one user's entries go together. */
const byUser = new Map<string, Map<string, Entry>>();
let entries = 0;
/** An isolate has 128 MB; past this many entries the cache starts over rather than grow. */
const MAX_ENTRIES = 10_000;

const entryKey = (sessionId: string, tokenVersion: number) => `${sessionId}:${tokenVersion}`;

export function cachedCheck(
  userId: string,
  sessionId: string,
  tokenVersion: number,
  ttlSeconds: number,
  now: number,
): AccessUser | undefined {
  const entry = byUser.get(userId)?.get(entryKey(sessionId, tokenVersion));
  if (!entry) return undefined;
  return now - entry.checkedAt < ttlSeconds * 1000 ? entry.user : undefined;
}

/** userId -> when this isolate last revoked or changed them (forgetUser). */
const forgottenAt = new Map<string, number>();
/** No hold is longer than this (the largest TTL plus the largest lag bound). */
const MAX_HOLD_MS = (MAX_ACCESS_CHECK_CACHE_TTL + MAX_D1_REPLICA_LAG_BOUND) * 1000;
/** Set when forgottenAt overflowed: until then, nothing read from a replica is cached. */
let holdAllUntil = 0;

/**
 * Caches a positive check. `replicaHoldMs`: the check may have been read from a replica, which
 * is not cached for that long after this isolate forgot the user (0: read from the primary).
 */
export function rememberCheck(user: AccessUser, sessionId: string, now: number, replicaHoldMs = 0): void {
  if (replicaHoldMs > 0) {
    if (now < holdAllUntil) return;
    const forgotten = forgottenAt.get(user.id);
    if (forgotten !== undefined && now - forgotten < replicaHoldMs) return;
  }
  if (entries >= MAX_ENTRIES) forgetAll();
  let forUser = byUser.get(user.id);
  if (!forUser) byUser.set(user.id, (forUser = new Map()));
  const key = entryKey(sessionId, user.tokenVersion);
  if (!forUser.has(key)) entries += 1;
  forUser.set(key, { user, checkedAt: now });
}

/** Drops every cached check of the user: call after any write that revokes or changes them. */
export function forgetUser(userId: string, now = Date.now()): void {
  holdBack(userId, now);
  const forUser = byUser.get(userId);
  if (!forUser) return;
  entries -= forUser.size;
  byUser.delete(userId);
}

export function forgetAll(): void {
  byUser.clear();
  entries = 0;
}

/** Remembers when the user was forgotten, for rememberCheck's hold; bounded like the cache. */
function holdBack(userId: string, now: number): void {
  if (forgottenAt.size >= MAX_ENTRIES) {
    for (const [id, at] of forgottenAt) if (now - at >= MAX_HOLD_MS) forgottenAt.delete(id);
    if (forgottenAt.size >= MAX_ENTRIES) {
      // More revocations within the longest hold than we keep: hold every replica read instead.
      forgottenAt.clear();
      holdAllUntil = now + MAX_HOLD_MS;
    }
  }
  forgottenAt.delete(userId); // re-inserted last, so the map stays in time order
  forgottenAt.set(userId, now);
}
