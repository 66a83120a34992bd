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
 */
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

export function rememberCheck(user: AccessUser, sessionId: string, now: number): void {
  if (entries >= MAX_ENTRIES) forgetAll();
  let forUser = byUser.get(user.id);
  if (!forUser) byUser.set(user.id, (forUser = new Map()));
  const key = entryKey(sessionId, user.tokenVersion);
  if (!forUser.has(key)) entries += 1;
  forUser.set(key, { user, checkedAt: now });
}

/** Drops every cached check of the user: call after any write that revokes or changes them. */
export function forgetUser(userId: string): void {
  const forUser = byUser.get(userId);
  if (!forUser) return;
  entries -= forUser.size;
  byUser.delete(userId);
}

export function forgetAll(): void {
  byUser.clear();
  entries = 0;
}
