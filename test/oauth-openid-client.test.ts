/**
 * Third-party clients against the provider, in-process: openid-client v6 (discovery, the code
 * exchange, userinfo, refresh, introspection, revocation) and oauth4webapi, each given a
 * fetch that calls the Worker. What they accept, any standard relying party accepts.
 */
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { browserUser, codeFor, ISSUER, provider, registerClient, type Provider } from './oauth-helpers';

/** openid-client's configuration for a confidential client, every request through the Worker. */
async function discoverAs(p: Provider, registered: { client_id: string; client_secret?: string }) {
  const config = await client.discovery(
    new URL(ISSUER),
    registered.client_id,
    registered.client_secret,
    client.ClientSecretBasic(registered.client_secret!),
    { [client.customFetch]: p.fetch },
  );
  config[client.customFetch] = p.fetch;
  return config;
}

describe('openid-client v6 as the relying party', () => {
  it('discovers, exchanges a code, reads userinfo, refreshes, introspects and revokes', async () => {
    const p = await provider();
    const registered = await registerClient(p);
    const config = await discoverAs(p, registered);
    expect(config.serverMetadata().issuer).toBe(ISSUER);

    const user = await browserUser(p);
    const { code, verifier } = await codeFor(p, registered, user, { nonce: 'nonce-1' });
    const callback = new URL(registered.redirect_uris[0]!);
    callback.search = new URLSearchParams({ code, state: 'state-1', iss: ISSUER }).toString();
    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: 'state-1',
      expectedNonce: 'nonce-1',
      idTokenExpected: true,
    });
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ sub: user.id, preferred_username: user.username, amr: ['pwd'] });
    expect(tokens.refresh_token).toBeDefined();

    const info = await client.fetchUserInfo(config, tokens.access_token, user.id);
    expect(info).toMatchObject({ sub: user.id, preferred_username: user.username });

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(refreshed.claims()).toMatchObject({ sub: user.id });

    const active = await client.tokenIntrospection(config, refreshed.access_token);
    expect(active).toMatchObject({ active: true, sub: user.id, client_id: registered.client_id });

    await client.tokenRevocation(config, refreshed.refresh_token!);
    expect(await client.tokenIntrospection(config, refreshed.access_token)).toEqual({ active: false });
    await expect(client.fetchUserInfo(config, refreshed.access_token, user.id)).rejects.toThrow();
    await expect(client.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('works as a public client with PKCE and no secret', async () => {
    const p = await provider();
    const registered = await registerClient(p, { token_endpoint_auth_method: 'none' });
    expect(registered.client_secret).toBeUndefined();
    const config = await client.discovery(new URL(ISSUER), registered.client_id, undefined, client.None(), {
      [client.customFetch]: p.fetch,
    });
    config[client.customFetch] = p.fetch;
    const user = await browserUser(p);
    const { code, verifier } = await codeFor(p, registered, user, { scope: 'openid' });
    const callback = new URL(`${registered.redirect_uris[0]}?code=${code}&iss=${encodeURIComponent(ISSUER)}`);
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier });
    expect(tokens.claims()!.sub).toBe(user.id);
    // No offline_access: no refresh token.
    expect(tokens.refresh_token).toBeUndefined();
  });
});

describe('openid-client v6 with a client registered with dpop_bound_access_tokens', () => {
  it('is refused tokens without DPoP (invalid_grant), and gets DPoP-bound ones with its DPoP handle', async () => {
    const p = await provider();
    const registered = await registerClient(p, { dpop_bound_access_tokens: true });
    const config = await discoverAs(p, registered);
    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));

    const user = await browserUser(p);
    const { code, verifier } = await codeFor(p, registered, user, { nonce: 'nonce-d' });
    const callback = new URL(`${registered.redirect_uris[0]}?code=${code}&iss=${encodeURIComponent(ISSUER)}`);
    const checks = { pkceCodeVerifier: verifier, expectedNonce: 'nonce-d' };
    await expect(client.authorizationCodeGrant(config, callback, checks)).rejects.toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringMatching(/must send a DPoP proof/),
    });
    // The refusal spent nothing: the same code, with a proof.
    const tokens = await client.authorizationCodeGrant(config, callback, checks, undefined, { DPoP });
    expect(tokens.token_type).toBe('dpop');
    const info = await client.fetchUserInfo(config, tokens.access_token, user.id, { DPoP });
    expect(info).toMatchObject({ sub: user.id });

    await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP });
    expect(refreshed.token_type).toBe('dpop');
  });
});

describe('oauth4webapi as the relying party', () => {
  it('validates the ID token, the access token (RFC 9068) and the JWKS', async () => {
    const p = await provider();
    const registered = await registerClient(p, {
      id_token_signed_response_alg: 'ES256',
      token_endpoint_auth_method: 'client_secret_post',
    });
    const options = { [oauth.customFetch]: p.fetch };
    const as = await oauth
      .discoveryRequest(new URL(ISSUER), { ...options, algorithm: 'oidc' })
      .then((res) => oauth.processDiscoveryResponse(new URL(ISSUER), res));
    const rp: oauth.Client = { client_id: registered.client_id, id_token_signed_response_alg: 'ES256' };
    const auth = oauth.ClientSecretPost(registered.client_secret!);
    const user = await browserUser(p);
    const { code, verifier } = await codeFor(p, registered, user, { nonce: 'n-2', amr: ['pwd', 'otp'] });
    const params = oauth.validateAuthResponse(
      as,
      rp,
      new URL(`${registered.redirect_uris[0]}?code=${code}&iss=${encodeURIComponent(ISSUER)}`),
      oauth.skipStateCheck,
    );
    const res = await oauth.authorizationCodeGrantRequest(
      as,
      rp,
      auth,
      params,
      registered.redirect_uris[0]!,
      verifier,
      options,
    );
    const result = await oauth.processAuthorizationCodeResponse(as, rp, res, { expectedNonce: 'n-2' });
    const idClaims = oauth.getValidatedIdTokenClaims(result)!;
    expect(idClaims).toMatchObject({ sub: user.id, amr: ['pwd', 'otp'], nonce: 'n-2' });
    expect(typeof idClaims.auth_time).toBe('number');

    // The access token as a resource server checks it (RFC 9068), with the JWKS.
    const request = new Request(`${ISSUER}/api`, { headers: { Authorization: `Bearer ${result.access_token}` } });
    const claims = await oauth.validateJwtAccessToken(as, request, ISSUER, options);
    expect(claims).toMatchObject({ sub: user.id, client_id: registered.client_id, iss: ISSUER });
  });
});
