/**
 * edge-auth-legacy-hashes: verifies imported Flask password hashes in pure JavaScript for the
 * edge-auth Worker, which calls `verify` over its LEGACY_HASHES service binding (RPC). Kept out
 * of edge-auth's bundle because it runs once per imported user (their first login replaces the
 * hash), while that bundle is loaded on the cold start of every request.
 *
 * It trusts nothing it is sent: the stored hash is parsed and bounded again here, with the
 * very parser edge-auth and the import use (src/legacy-hashes.ts). It never logs.
 */
import { WorkerEntrypoint } from 'cloudflare:workers';
import { parseLegacyHash } from '../../../src/legacy-hashes';
import { verifyLegacyHashInJs } from './verify';

// Far above the longest password login accepts (src/schemas.ts); bounds the work per call.
// (Not exported: every export of a Worker's entry module must be a handler.)
const MAX_PASSWORD_CHARS = 4096;

export class LegacyHashes extends WorkerEntrypoint {
  /**
   * Whether `password` matches `stored`, a werkzeug or bcrypt hash. Rejects (never answers
   * false) when the arguments are not strings or the hash is malformed or outside the bounds,
   * so a caller that disagrees about what is valid learns it instead of failing a login.
   */
  async verify(password: string, stored: string): Promise<boolean> {
    if (typeof password !== 'string' || typeof stored !== 'string') {
      throw new TypeError('verify(password, stored) takes two strings');
    }
    if (password.length > MAX_PASSWORD_CHARS) throw new RangeError('the password is too long');
    const legacy = parseLegacyHash(stored);
    if (!legacy) throw new RangeError('the stored hash is malformed or outside the bounds');
    return verifyLegacyHashInJs(password, legacy);
  }

  /** No HTTP surface: `workers_dev = false` gives it no URL, and a request reaching it anyway gets nothing. */
  override async fetch(): Promise<Response> {
    return new Response(null, { status: 404 });
  }
}

export default LegacyHashes;
