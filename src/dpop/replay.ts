/**
 * A proof's `jti` is refused a second time (RFC 9449 §11.1), in one of two ways:
 *
 * - At the endpoints that begin or continue a session (login, two-factor verify, refresh),
 *   strictly: the proof is inserted into D1 under a primary key, in the batch the endpoint
 *   sends anyway, and a second insert of it fails everywhere at once.
 * - On protected routes, within the isolate: a D1 write per protected request would cost what
 *   the access check saves. A proof seen by this isolate is remembered until it is too old to
 *   be accepted anywhere, so a replay is refused by the isolate that saw the proof, and by
 *   every isolate once the proof is older than DPOP_PROOF_MAX_AGE (plus the clock skew).
 */
import { lt, sql } from 'drizzle-orm';
import type { Database } from '../platform/db/client';
import { dpopProofs } from '../platform/db/schema';
import { randomToken, sha256Base64Url } from '../platform/crypto';
import { invalidProof } from './errors';

/** What replay protection needs of a verified proof. */
export type SpendableProof = { jkt: string; jti: string; expiresAt: number };

export const replayedProof = () =>
  invalidProof('DPoP proof: already used; make a new one (a fresh jti) for each request.');

/** jti -> when it may be forgotten, oldest first (proofs arrive in about the order of their iat). */
const seen = new Map<string, number>();
/**
 * An isolate has 128 MB. Past this many live proofs the oldest are forgotten early: a replay
 * of one of those could pass on this isolate (docs/sessions.md says so).
 */
const MAX_REMEMBERED_PROOFS = 20_000;

/** Refuses a proof this isolate has seen before; remembers it otherwise. Call after every other check. */
export function spendInIsolate(proof: SpendableProof, now = Date.now()): void {
  // The key is scoped by the thumbprint: one client cannot spend another's jti.
  const id = `${proof.jkt}.${proof.jti}`;
  const until = seen.get(id);
  if (until !== undefined && until > now) throw replayedProof();
  for (const [old, expires] of seen) {
    if (expires > now && seen.size < MAX_REMEMBERED_PROOFS) break;
    seen.delete(old);
  }
  seen.set(id, proof.expiresAt);
}

/**
 * A verified proof on its way into D1: the key it binds to (`jkt`), its row's key (a hash of
 * thumbprint and jti, so rows have a fixed size whatever the jti) and a random claim naming
 * this request. A flow that begins or continues a session takes one of these: it claims the
 * proof in its batch and binds the session to `jkt`.
 */
export type ProofClaim = { jkt: string; key: string; claim: string; expiresAt: number };

export async function proofClaim(proof: SpendableProof): Promise<ProofClaim> {
  const key = await sha256Base64Url(`${proof.jkt}\u0000${proof.jti}`);
  return { jkt: proof.jkt, key, claim: randomToken(16), expiresAt: proof.expiresAt };
}

/**
 * Inserts the proof's row unless it exists; returns the row only if this request inserted it,
 * so an empty result is a replay. Batched by its callers with the queries they send anyway.
 */
export function claimProofQuery(db: Database, claim: ProofClaim) {
  return db
    .insert(dpopProofs)
    .values({ key: claim.key, claim: claim.claim, expiresAt: claim.expiresAt })
    .onConflictDoNothing()
    .returning({ key: dpopProofs.key });
}

/** True in SQL while the proof's row is this request's own (a later statement of the same batch). */
export const claimedSql = (claim: ProofClaim) =>
  sql<number>`EXISTS (SELECT 1 FROM ${dpopProofs} WHERE ${dpopProofs.key} = ${claim.key} AND ${dpopProofs.claim} = ${claim.claim})`;

/** Throws `invalid_dpop_proof` unless claimProofQuery inserted the row. */
export function assertClaimed(rows: readonly unknown[]): void {
  if (rows.length === 0) throw replayedProof();
}

/** Spends a proof in D1 on its own round trip, for a caller with no batch to put it in. */
export async function spendInD1(db: Database, proof: SpendableProof): Promise<void> {
  assertClaimed(await claimProofQuery(db, await proofClaim(proof)));
}

/** Rows of proofs too old to be accepted anyway (the daily cleanup). */
export function deleteExpiredProofsQuery(db: Database, now: number) {
  return db.delete(dpopProofs).where(lt(dpopProofs.expiresAt, now));
}
