/**
 * DPoP proof verification, RFC 9449 §4.3, in one function for every caller: the session
 * endpoints and protected routes now, the OAuth token endpoint, userinfo and introspection
 * later. It checks the proof against the request (method, URL, headers and, on a protected
 * call, the access token) and returns what binds a token to the key; replay is the caller's
 * choice of guard (./replay.ts), since an endpoint that writes to D1 anyway can guard strictly.
 */
import { jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '../platform/config';
import { sha256Base64Url } from '../platform/crypto';
import { DPOP_ALGS, DpopProofError, invalidProof, type DpopAlg } from './errors';
import { proofKey } from './keys';
import { currentNonce, isCurrentNonce } from './nonce';

export const DPOP_TYP = 'dpop+jwt';
/**
 * An ES256 or EdDSA proof with its key, a 43-character `ath` and `nonce` and a URL of a few
 * hundred characters is well under 1 KiB; anything past this is refused before it is parsed.
 */
export const MAX_PROOF_BYTES = 2048;
/** How far a proof's `iat` may lie in the future, and how far past DPOP_PROOF_MAX_AGE: clocks drift. */
export const PROOF_CLOCK_SKEW = 10;
const MAX_JTI_LENGTH = 256;

/** What a proof is checked against: the request it came with. */
export type DpopRequest = {
  method: string;
  url: string;
  headers: Headers;
  /** The access token the request presents, if any: the proof must then carry its hash (`ath`). */
  accessToken?: string | undefined;
};

export type VerifiedProof = {
  /** The key's JWK SHA-256 thumbprint (RFC 7638), what `cnf.jkt` and a session are bound to. */
  jkt: string;
  jti: string;
  iat: number;
  /** Epoch ms after which the proof is too old to be accepted anywhere: how long to remember its jti. */
  expiresAt: number;
};

/**
 * The request's proof, or null when it has no `DPoP` header. Headers joined by fetch (two
 * `DPoP` fields arrive as one value with a comma, which no JWS contains) are refused.
 */
function proofHeader(headers: Headers): string | null {
  const value = headers.get('DPoP');
  if (value === null) return null;
  if (value.length > MAX_PROOF_BYTES) throw invalidProof(`DPoP proof: longer than ${MAX_PROOF_BYTES} bytes.`);
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(value)) {
    throw invalidProof('DPoP header: one proof, a signed JWT, expected.');
  }
  return value;
}

/** RFC 9449 §4.3 step 9: the URI without query and fragment, compared after URL normalisation. */
function sameTarget(htu: unknown, url: string): boolean {
  if (typeof htu !== 'string' || htu.length > MAX_PROOF_BYTES) return false;
  let claimed: URL;
  try {
    claimed = new URL(htu);
  } catch {
    return false;
  }
  const actual = new URL(url);
  return claimed.protocol === actual.protocol && claimed.host === actual.host && claimed.pathname === actual.pathname;
}

/**
 * jose's verification errors name what failed ('"iat" claim timestamp check failed (too far in
 * the past)', 'unexpected "typ" JWT header value'); they are passed on as they are.
 */
function explain(err: unknown): DpopProofError {
  if (err instanceof DpopProofError) return err;
  const { code, message } = (err ?? {}) as { code?: unknown; message?: string };
  const jose = typeof code === 'string' && code.startsWith('ERR_');
  return invalidProof(`DPoP proof: ${jose ? message : 'not a well-formed signed JWT'}.`);
}

/**
 * Verifies the request's DPoP proof and returns its key's thumbprint and its `jti`; null when
 * the request carries no proof. Throws DpopProofError (`invalid_dpop_proof`, or
 * `use_dpop_nonce` with the nonce to use when DPOP_NONCE is on). Does not guard replay: call
 * spendInIsolate or claim the proof in D1 (./replay.ts) after it.
 */
export async function verifyDpopProof(config: Config, request: DpopRequest): Promise<VerifiedProof | null> {
  const proof = proofHeader(request.headers);
  if (proof === null) return null;
  const maxAge = config.dpop.proofMaxAge;
  let jkt = '';
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(
      proof,
      async (header) => {
        const key = await proofKey(header.jwk, header.alg as DpopAlg);
        jkt = key.jkt;
        return key.key;
      },
      {
        algorithms: [...DPOP_ALGS],
        typ: DPOP_TYP,
        maxTokenAge: maxAge,
        clockTolerance: PROOF_CLOCK_SKEW,
      },
    ));
  } catch (err) {
    throw explain(err);
  }
  const { jti, htm, htu, ath, nonce } = payload as JWTPayload & Record<'htm' | 'htu' | 'ath' | 'nonce', unknown>;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
    throw invalidProof(`DPoP proof: jti must be 1 to ${MAX_JTI_LENGTH} characters.`);
  }
  if (htm !== request.method) throw invalidProof(`DPoP proof: htm must be ${request.method}.`);
  if (!sameTarget(htu, request.url)) {
    throw invalidProof('DPoP proof: htu must be this URL (without query and fragment).');
  }
  if (request.accessToken !== undefined && ath !== (await sha256Base64Url(request.accessToken))) {
    throw invalidProof('DPoP proof: ath must be the SHA-256 of the access token.');
  }
  if (config.dpop.nonce && (typeof nonce !== 'string' || !(await isCurrentNonce(config, nonce)))) {
    const detail = `DPoP proof: ${nonce === undefined ? 'a nonce is required' : 'the nonce has expired'}; use DPoP-Nonce.`;
    throw new DpopProofError('use_dpop_nonce', detail, await currentNonce(config));
  }
  const iat = payload.iat!;
  return { jkt, jti, iat, expiresAt: Math.ceil((iat + maxAge + PROOF_CLOCK_SKEW) * 1000) };
}
