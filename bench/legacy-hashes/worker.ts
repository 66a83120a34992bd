/**
 * Runs one legacy verification per request (POST {hash, password}) with the companion
 * Worker's own code (workers/legacy-hashes), so the bench can time it from outside: inside a
 * Worker the clock stands still while JavaScript runs. No service binding in between: the
 * bench measures the verification, not the RPC hop.
 */
import { parseLegacyHash } from '../../src/credentials/legacy-hashes';
import { verifyLegacyHashInJs } from '../../workers/legacy-hashes/src/verify';

export default {
  async fetch(request: Request): Promise<Response> {
    if (request.method !== 'POST') return new Response('ok');
    const { hash, password } = (await request.json()) as { hash: string; password: string };
    const legacy = parseLegacyHash(hash);
    if (!legacy) return new Response('unparsed', { status: 400 });
    return new Response(String(await verifyLegacyHashInJs(password, legacy)));
  },
};
