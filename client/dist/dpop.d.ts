/**
 * DPoP (RFC 9449) for edge-auth/client: one ES256 key per service, made with WebCrypto as
 * non-extractable (its private half can sign but never be read, not even by this script), and a
 * proof signed for each call. A session begun with a proof is bound to the key, so its tokens,
 * copied anywhere else, are useless.
 *
 * The key lives in IndexedDB in browsers (a CryptoKey is stored as itself, still
 * non-extractable), so a reload can continue the session; elsewhere (Node, Workers) in memory,
 * for the life of the client.
 */
export type DpopProofs = {
    /** A proof for a request (`ath` when it carries `accessToken`), with the latest server nonce. */
    proof(method: string, url: string, accessToken?: string): Promise<string>;
    /** Keeps the `DPoP-Nonce` an answer carries, for the next proofs. */
    observe(response: Response): void;
    /** Whether an answer asks for a proof with the server's nonce (`use_dpop_nonce`): retry once. */
    wantsNonce(response: Response): Promise<boolean>;
};
export declare function createDpopProofs(baseUrl: string): DpopProofs;
