/**
 * The two errors of RFC 9449 (§7.1, §8, §9): `invalid_dpop_proof` and `use_dpop_nonce`. A
 * DpopProofError is an ApiError, so where nothing catches it (login, refresh) it leaves as
 * problem+json with that code and status 400, and with a fresh `DPoP-Nonce` when the service
 * wants one. A protected route turns it into the resource server's form (`forResource`): 401
 * with `WWW-Authenticate: DPoP error=…`. The OAuth endpoints can render `code` and `detail` as
 * RFC 6749 JSON the same way.
 */
import { ApiError } from '../platform/errors';

/**
 * The proof algorithms accepted (RFC 9449 §4.3 step 5: asymmetric only; no `none`, no HS*).
 * `Ed25519` is EdDSA's fully-specified name (RFC 9864), which oauth4webapi and openid-client
 * sign Ed25519 proofs with.
 */
export const DPOP_ALGS = ['ES256', 'EdDSA', 'Ed25519'] as const;
export type DpopAlg = (typeof DPOP_ALGS)[number];

export type DpopErrorCode = 'invalid_dpop_proof' | 'use_dpop_nonce';

export class DpopProofError extends ApiError {
  constructor(
    readonly dpopCode: DpopErrorCode,
    detail: string,
    /** The nonce the client must use next, sent as `DPoP-Nonce`. */
    readonly nonce?: string,
  ) {
    super(400, dpopCode, detail, nonce ? { headers: { 'DPoP-Nonce': nonce } } : {});
    this.name = 'DpopProofError';
  }
}

export const invalidProof = (detail: string) => new DpopProofError('invalid_dpop_proof', detail);

/**
 * The DPoP challenge of a protected route (RFC 9449 §7.1), with the algorithms it accepts so a
 * client knows what to sign with. `error` is absent when the request carried no credentials.
 */
export function dpopChallenge(error?: { code: string; detail: string }): string {
  const algs = `algs="${DPOP_ALGS.join(' ')}"`;
  if (!error) return `DPoP ${algs}`;
  return `DPoP error="${error.code}", error_description="${error.detail.replaceAll('"', "'")}", ${algs}`;
}

/** A proof error as a protected route answers it: 401, with the DPoP challenge. */
export function forResource(err: DpopProofError): ApiError {
  return new ApiError(401, err.dpopCode, err.detail, {
    headers: {
      'WWW-Authenticate': dpopChallenge({ code: err.dpopCode, detail: err.detail }),
      ...(err.nonce ? { 'DPoP-Nonce': err.nonce } : {}),
    },
  });
}
