/**
 * Runs one legacy verification per request (POST {hash, password}), so the bench can time
 * it from outside: inside a Worker the clock stands still while JavaScript runs.
 */
import { parseLegacyHash, verifyLegacyHash } from '../../src/legacy-hashes';

export default {
  async fetch(request: Request): Promise<Response> {
    if (request.method !== 'POST') return new Response('ok');
    const { hash, password } = (await request.json()) as { hash: string; password: string };
    const legacy = parseLegacyHash(hash);
    if (!legacy) return new Response('unparsed', { status: 400 });
    return new Response(String(await verifyLegacyHash(password, legacy)));
  },
};
