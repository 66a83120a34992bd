/**
 * A one-time credential turned into a grant, as the code exchange and the device code grant
 * both do: the credential is claimed and the grant (a session of the user with the client)
 * created in one D1 batch. Of two racing requests one claims it, and the grant row lands only
 * if this request's claim did. A DPoP proof is spent first in the same batch, and the claim
 * holds only if that was this request's: a replayed proof leaves the credential unspent.
 */
import type { SQL } from 'drizzle-orm';
import type { BatchItem } from 'drizzle-orm/batch';
import { assertClaimed, claimedSql, claimProofQuery } from '../../dpop/replay';
import { newSessionQueries, type GrantFields } from '../../sessions/sessions';
import type { GrantContext } from './context';

/** An UPDATE … RETURNING of the credential's row: a row back means this request claimed it. */
type ClaimQuery = BatchItem<'sqlite'> & PromiseLike<unknown[]>;

export async function redeemIntoGrant(
  ctx: GrantContext,
  input: {
    userId: string;
    tokenVersion: number;
    grant: GrantFields;
    /** Offline access was granted and the client may refresh: the grant gets refresh tokens. */
    refreshable: boolean;
    /** True in SQL while the credential's row names `grantId` (claimed earlier in the batch). */
    claimedFor: (grantId: string) => SQL;
    /** Claims the credential for `grantId` if unclaimed and `proofIsOurs` (when given) holds. */
    claim: (grantId: string, proofIsOurs: SQL | undefined) => ClaimQuery;
  },
) {
  const { issued, queries } = await newSessionQueries(
    ctx.db,
    ctx.config,
    {
      userId: input.userId,
      verified: { tokenVersion: input.tokenVersion },
      grant: input.grant,
      onlyIf: input.claimedFor,
      lifetime: input.refreshable ? undefined : ctx.config.accessTokenTtl,
      // RFC 9449 §5: a public client's refresh token is bound to the proof's key; a
      // confidential client's is bound to its credentials, and each access token to its own proof.
      dpopJkt: ctx.client.tokenEndpointAuthMethod === 'none' ? ctx.dpop?.jkt : undefined,
    },
    ctx.now,
  );
  const proof = ctx.dpop;
  const writes = [
    input.claim(issued.sessionId, proof ? claimedSql(proof) : undefined),
    queries[0],
    ...(input.refreshable ? [queries[1]] : []),
  ] as const;
  const [spent, claimed, created] = proof
    ? await ctx.db.batch([claimProofQuery(ctx.db, proof), ...writes])
    : [null, ...(await ctx.db.batch(writes))];
  if (spent) assertClaimed(spent);
  return { issued, claimed: (claimed as unknown[]).length > 0, created: (created as unknown[]).length > 0 };
}
