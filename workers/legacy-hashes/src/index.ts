/**
 * edge-auth-legacy-hashes: verifies imported Flask password hashes in pure JavaScript for the
 * edge-auth Worker, which calls `verify` over its LEGACY_HASHES service binding (RPC). Kept out
 * of edge-auth's bundle because it runs once per imported user (their first login replaces the
 * hash), while that bundle is loaded on the cold start of every request.
 *
 * It trusts nothing it is sent: the stored hash is parsed and bounded again here, with the
 * very parser edge-auth and the import use (src/credentials/legacy-hashes.ts). It never logs.
 */
import { WorkerEntrypoint } from 'cloudflare:workers';
import { parseLegacyHash } from '../../../src/credentials/legacy-hashes';
import type { LegacyVerdict } from '../../../src/credentials/legacy-hashes-companion';
import { verifyLegacyHashInJs } from './verify';

// Far above the longest password login accepts (src/http/schemas.ts); bounds the work per call.
// (Not exported: every export of a Worker's entry module must be a handler.)
const MAX_PASSWORD_CHARS = 4096;

export class LegacyHashes extends WorkerEntrypoint {
  /**
   * Whether `password` matches `stored`, a werkzeug or bcrypt hash; or, with no work done,
   * `refused` when the arguments are not two strings or the hash is malformed or outside the
   * bounds, so a caller that disagrees about what is valid learns it instead of failing a
   * login. The reasons never hold the arguments.
   */
  async verify(password: unknown, stored: unknown): Promise<LegacyVerdict> {
    if (typeof password !== 'string' || typeof stored !== 'string') return { refused: 'arguments are not two strings' };
    if (password.length > MAX_PASSWORD_CHARS) return { refused: 'password too long' };
    const legacy = parseLegacyHash(stored);
    if (!legacy) return { refused: 'stored hash malformed or outside the bounds' };
    return { match: await verifyLegacyHashInJs(password, legacy) };
  }

  /** No HTTP surface: `workers_dev = false` gives it no URL, and a request reaching it anyway gets nothing. */
  override async fetch(): Promise<Response> {
    return new Response(null, { status: 404 });
  }
}

export default LegacyHashes;
