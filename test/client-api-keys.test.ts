/**
 * edge-auth/client's API-key calls against the real Worker: create (the secret once), list,
 * revoke; and the key in a script's hands, at the token endpoint.
 */
import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createEdgeAuthClient, EdgeAuthError } from '../client/src/index';
import { PASSWORD, register, uniqueName } from './helpers';
import { clientCredentials, provider } from './oauth-helpers';

const p = await provider();

describe('auth.apiKeys', () => {
  it('creates a key whose secret gets tokens, lists it without the secret, and revokes it', async () => {
    const user = await register(uniqueName('client_keys'));
    const auth = createEdgeAuthClient({
      baseUrl: 'https://auth.example.test',
      refreshTokenDelivery: 'body',
      fetch: (request) => exports.default.fetch(request),
    });
    await auth.login({ username: user.username, password: PASSWORD });

    const refused = await auth.apiKeys.create({ name: 'CI', scope: 'api' }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(EdgeAuthError);
    expect((refused as EdgeAuthError).status).toBe(400);

    const key = await auth.apiKeys.create({ name: 'CI', scope: 'api', expiresIn: 86_400, currentPassword: PASSWORD });
    expect(key).toMatchObject({ name: 'CI', scope: 'api', client_id: key.id, client_secret: expect.any(String) });
    // A script's view of the key: an OAuth client with a secret.
    const client = { client_id: key.client_id, client_secret: key.client_secret, redirect_uris: [] };
    const asScript = () => clientCredentials(p, { ...client, token_endpoint_auth_method: 'client_secret_basic' });
    expect((await asScript()).status).toBe(200);

    expect(await auth.apiKeys.list()).toEqual([
      {
        id: key.id,
        name: 'CI',
        scope: 'api',
        created_at: key.created_at,
        last_used_at: expect.any(String),
        expires_at: key.expires_at,
      },
    ]);
    await auth.apiKeys.revoke(key.id);
    expect(await auth.apiKeys.list()).toEqual([]);
    expect((await asScript()).status).toBe(401);
  });
});
