/**
 * The DPoP proof of a request that begins or continues a session: login, the two-factor step,
 * refresh, passkey sign-in and sign-up, and the OAuth token endpoint, whose grants are
 * sessions too. Each passes the result to its service, which spends the proof in D1 in the
 * batch it sends anyway and binds the session (or the OAuth access token) to the key.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../../platform/env';
import { currentNonce } from '../../dpop/nonce';
import { verifyDpopProof } from '../../dpop/proof';
import { proofClaim, type ProofClaim } from '../../dpop/replay';

/**
 * The request's verified proof, ready to be claimed, or undefined when it carries none. A
 * proof that fails a check throws DpopProofError: 400 `invalid_dpop_proof`, or
 * `use_dpop_nonce` with `DPoP-Nonce` when DPOP_NONCE is on.
 */
export async function sessionProof(c: Context<AppEnv>): Promise<ProofClaim | undefined> {
  const config = c.get('config');
  const proof = await verifyDpopProof(config, { method: c.req.method, url: c.req.url, headers: c.req.raw.headers });
  if (!proof) return undefined;
  // RFC 9449 §8: the next nonce rides on the answer, so the client's next proof has it.
  if (config.dpop.nonce) c.header('DPoP-Nonce', await currentNonce(config));
  return proofClaim(proof);
}
