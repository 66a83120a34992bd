import { describe, expect, it } from 'vitest';
import { exchange, codeFor, browserUser, grant, jwtPart, provider, registerClient, ISSUER } from './oauth-helpers';

describe('smoke', () => {
  it('exchanges a code', async () => {
    const p = await provider();
    const client = await registerClient(p);
    const { tokens, user } = await grant(p, client, { nonce: 'n-1' });
    expect(tokens.refresh_token).toBeDefined();
    expect(jwtPart(tokens.access_token, 0)).toMatchObject({ typ: 'at+jwt', alg: 'RS256' });
    expect(jwtPart(tokens.id_token!, 1)).toMatchObject({ iss: ISSUER, sub: user.id, aud: client.client_id, nonce: 'n-1' });
    const info = await p.api('/oauth/userinfo', { token: tokens.access_token });
    expect(info.status, await info.clone().text()).toBe(200);
    console.error(await info.json());
  });
});
