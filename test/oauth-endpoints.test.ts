/**
 * Discovery, userinfo, introspection and revocation, and what a deployment must configure
 * before any of them answers (an issuer, an RS256 key).
 */
import { SignJWT } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { oauthKeys } from '../src/oauth/issuer';
import { issueOAuthAccessToken } from '../src/oauth/tokens';
import { getConfig } from '../src/platform/config';
import { captureAudit } from './helpers';
import {
  basic,
  form,
  generateKey,
  grant,
  ISSUER,
  jwtPart,
  provider,
  registerClient,
  testKeys,
  type Provider,
  type RegisteredClient,
} from './oauth-helpers';

const p: Provider = await provider();
const client: RegisteredClient = await registerClient(p);
const other: RegisteredClient = await registerClient(p);

const authOf = (c: RegisteredClient) => ({ Authorization: basic(c.client_id, c.client_secret!) });
const introspect = async (c: RegisteredClient, token: string, extra: Record<string, string> = {}) => {
  const res = await p.api('/oauth/introspect', form({ token, ...extra }, authOf(c)));
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
};
const revoke = (c: RegisteredClient, token: string, extra: Record<string, string> = {}) =>
  p.api('/oauth/revoke', form({ token, ...extra }, authOf(c)));

describe('discovery', () => {
  it('serves the same metadata at both well-known addresses, listing only what is implemented', async () => {
    const oidc = await p.api('/.well-known/openid-configuration');
    const rfc8414 = await p.api('/.well-known/oauth-authorization-server');
    expect(oidc.status).toBe(200);
    const metadata = (await oidc.json()) as Record<string, unknown>;
    expect(await rfc8414.json()).toEqual(metadata);
    expect(metadata).toMatchObject({
      issuer: ISSUER,
      authorization_endpoint: `${ISSUER}/oauth/authorize`,
      device_authorization_endpoint: `${ISSUER}/oauth/device_authorization`,
      token_endpoint: `${ISSUER}/oauth/token`,
      userinfo_endpoint: `${ISSUER}/oauth/userinfo`,
      revocation_endpoint: `${ISSUER}/oauth/revoke`,
      introspection_endpoint: `${ISSUER}/oauth/introspect`,
      registration_endpoint: `${ISSUER}/oauth/register`,
      end_session_endpoint: `${ISSUER}/oauth/logout`,
      jwks_uri: `${ISSUER}/.well-known/jwks.json`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      grant_types_supported: [
        'authorization_code',
        'refresh_token',
        'urn:ietf:params:oauth:grant-type:device_code',
        'client_credentials',
      ],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
      token_endpoint_auth_signing_alg_values_supported: ['RS256', 'ES256', 'EdDSA'],
      authorization_response_iss_parameter_supported: true,
      // The OpenID scopes, then those of the APIs (OAUTH_API_SCOPES, default `api`) and `admin`.
      scopes_supported: ['openid', 'profile', 'email', 'roles', 'offline_access', 'api', 'admin'],
    });
    // RS256 always (OIDC Core §15.1), and each other algorithm a key is configured for.
    expect(metadata.id_token_signing_alg_values_supported).toEqual(['RS256', 'ES256']);
    expect(metadata.claims_supported).toEqual(expect.arrayContaining(['sub', 'email', 'role', 'amr', 'sid']));
  });

  it('publishes the RS256 key in the JWKS', async () => {
    const { keys } = (await (await p.api('/.well-known/jwks.json')).json()) as { keys: Record<string, unknown>[] };
    const rsa = keys.find((k) => k.kid === 'rs-test')!;
    expect(rsa).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' });
    expect(rsa).not.toHaveProperty('d');
    expect(rsa).not.toHaveProperty('p');
  });
});

describe('configuration the OAuth endpoints need', () => {
  const misconfigured = async (provided: Provider, path: string, init = {}) => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const res = await provided.api(path, init);
      expect(res.status).toBe(500);
      expect(((await res.json()) as { code: string }).code).toBe('misconfigured');
      return errors.mock.calls.map((args) => args.join(' ')).join('\n');
    } finally {
      errors.mockRestore();
    }
  };

  it('answers 500 misconfigured, naming the missing asymmetric key in the log, when only HS256 is set', async () => {
    const hsOnly = await provider({ JWT_PRIVATE_KEY: '' });
    for (const path of ['/.well-known/openid-configuration', '/oauth/userinfo']) {
      const log = await misconfigured(hsOnly, path);
      expect(log).toMatch(/JWT_PRIVATE_KEY has no RS256 key/);
    }
    const log = await misconfigured(hsOnly, '/oauth/token', form({ grant_type: 'refresh_token', refresh_token: 'x' }));
    expect(log).toMatch(/RS256/);
    // The service's own routes keep working on HS256.
    expect((await hsOnly.api('/health')).status).toBe(200);
  });

  it('needs RS256 even with another asymmetric key', async () => {
    const { es256 } = await testKeys();
    const esOnly = await provider({ JWT_PRIVATE_KEY: JSON.stringify(es256) });
    expect(await misconfigured(esOnly, '/.well-known/openid-configuration')).toMatch(/RS256/);
  });

  it('fails loudly without OAUTH_ISSUER outside loopback, and uses the origin on loopback', async () => {
    const unset = await provider({ OAUTH_ISSUER: '' });
    expect(await misconfigured(unset, '/.well-known/openid-configuration')).toMatch(/OAUTH_ISSUER is not set/);
    const local = await unset.api('http://127.0.0.1:8787/.well-known/openid-configuration');
    expect(((await local.json()) as { issuer: string }).issuer).toBe('http://127.0.0.1:8787');
  });

  it('refuses an OAUTH_ISSUER with a path or over plain http', async () => {
    for (const issuer of ['https://auth.example.test/tenant', 'http://auth.example.test']) {
      const bad = await provider({ OAUTH_ISSUER: issuer });
      expect(await misconfigured(bad, '/.well-known/openid-configuration')).toMatch(/OAUTH_ISSUER/);
    }
  });
});

describe('userinfo', () => {
  it('answers GET and POST with the claims of the granted scopes', async () => {
    const { tokens, user } = await grant(p, client, { scope: 'openid profile roles' });
    for (const method of ['GET', 'POST']) {
      const res = await p.api('/oauth/userinfo', { method, token: tokens.access_token });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        sub: user.id,
        preferred_username: user.username,
        updated_at: expect.any(Number),
        role: 'user',
      });
    }
  });

  it('answers no token with bare Bearer and DPoP challenges, and a bad one with invalid_token', async () => {
    const bare = await p.api('/oauth/userinfo');
    expect(bare.status).toBe(401);
    expect(bare.headers.get('WWW-Authenticate')).toBe('Bearer realm="edge-auth", DPoP algs="ES256 EdDSA Ed25519"');
    const bad = await p.api('/oauth/userinfo', { token: 'not.a.token' });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm="edge-auth", error="invalid_token"/);
  });

  it('refuses forged, expired, HS256-signed and wrong-audience tokens', async () => {
    const { tokens } = await grant(p, client, { scope: 'openid' });
    const claims = jwtPart(tokens.access_token, 1);
    const attacker = await generateKey('RS256', 'rs-test');
    const attackerKey = await crypto.subtle.importKey(
      'jwk',
      attacker,
      { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'rs-test' })
      .sign(attackerKey);
    const secret = new TextEncoder().encode(p.env.JWT_SECRET!);
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: 'rs-test' })
      .sign(secret);
    const unsigned = `${btoa(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: 'rs-test' }))}.${tokens.access_token.split('.')[1]}.`;

    const keys = await oauthKeys(getConfig(p.env));
    const subject = {
      userId: claims.sub as string,
      clientId: client.client_id,
      grantId: claims.sid as string,
      scope: 'openid',
      resource: null,
      authTime: Date.now(),
      role: 'user',
    };
    const expired = (await issueOAuthAccessToken(keys, ISSUER, subject, 60, Date.now() - 120_000)).token;
    const otherAudience = (
      await issueOAuthAccessToken(keys, ISSUER, { ...subject, resource: 'https://api.example.test/' }, 60)
    ).token;
    const otherIssuer = (await issueOAuthAccessToken(keys, 'https://evil.example.test', subject, 60)).token;

    for (const token of [forged, hs, unsigned, expired, otherAudience, otherIssuer]) {
      const res = await p.api('/oauth/userinfo', { token });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_token');
    }
    expect((await p.api('/oauth/userinfo', { token: tokens.access_token })).status).toBe(200);
  });

  it('needs the openid scope (403 insufficient_scope)', async () => {
    const { tokens } = await grant(p, client, { scope: 'profile' });
    const res = await p.api('/oauth/userinfo', { token: tokens.access_token });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe('insufficient_scope');
  });
});

describe('introspection', () => {
  it('describes an active access token and refresh token to the client they were issued to', async () => {
    const { tokens, user } = await grant(p, client, { scope: 'openid profile offline_access' });
    expect(await introspect(client, tokens.access_token)).toMatchObject({
      active: true,
      client_id: client.client_id,
      sub: user.id,
      scope: 'openid profile offline_access',
      token_type: 'Bearer',
      iss: ISSUER,
      username: user.username,
    });
    expect(await introspect(client, tokens.refresh_token!, { token_type_hint: 'refresh_token' })).toMatchObject({
      active: true,
      client_id: client.client_id,
      sub: user.id,
    });
    // A wrong hint only orders the search.
    expect(await introspect(client, tokens.refresh_token!, { token_type_hint: 'access_token' })).toMatchObject({
      active: true,
    });
  });

  it('shows another client nothing but {"active": false}', async () => {
    const { tokens } = await grant(p, client);
    expect(await introspect(other, tokens.access_token)).toEqual({ active: false });
    expect(await introspect(other, tokens.refresh_token!)).toEqual({ active: false });
  });

  it('shows a token to the client its audience names', async () => {
    const { tokens } = await grant(p, client, { resource: other.client_id });
    expect(await introspect(other, tokens.access_token)).toMatchObject({ active: true, aud: other.client_id });
  });

  it('answers unknown, spent and revoked tokens as inactive', async () => {
    const { tokens } = await grant(p, client);
    expect(await introspect(client, 'unknown-token')).toEqual({ active: false });
    const refreshed = await p.api(
      '/oauth/token',
      form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, authOf(client)),
    );
    expect(refreshed.status).toBe(200);
    expect(await introspect(client, tokens.refresh_token!)).toEqual({ active: false });
    const next = (await refreshed.json()) as { refresh_token: string; access_token: string };
    expect((await revoke(client, next.refresh_token)).status).toBe(200);
    expect(await introspect(client, next.access_token)).toEqual({ active: false });
    expect(await introspect(client, tokens.access_token)).toEqual({ active: false });
  });

  it('needs client authentication', async () => {
    const { tokens } = await grant(p, client);
    const res = await p.api('/oauth/introspect', form({ token: tokens.access_token }));
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_client');
    const wrong = await p.api(
      '/oauth/introspect',
      form({ token: tokens.access_token }, { Authorization: basic(client.client_id, 'wrong') }),
    );
    expect(wrong.status).toBe(401);
    const missing = await p.api('/oauth/introspect', form({}, authOf(client)));
    expect(missing.status).toBe(400);
  });
});

describe('revocation', () => {
  it('ends the grant of a revoked refresh token, and audits it', async () => {
    const { tokens } = await grant(p, client);
    const { lines } = await captureAudit(async () => {
      const res = await revoke(client, tokens.refresh_token!);
      expect(res.status).toBe(200);
    });
    expect(lines).toContainEqual(
      expect.objectContaining({ event: 'oauth_token_revoked', client_id: client.client_id }),
    );
    expect((await p.api('/oauth/userinfo', { token: tokens.access_token })).status).toBe(401);
    expect(await introspect(client, tokens.access_token)).toEqual({ active: false });
  });

  it('ends the grant of a revoked access token too', async () => {
    const { tokens } = await grant(p, client);
    expect((await revoke(client, tokens.access_token, { token_type_hint: 'access_token' })).status).toBe(200);
    expect(await introspect(client, tokens.refresh_token!)).toEqual({ active: false });
  });

  it('answers 200 for unknown tokens and another client’s, revoking nothing', async () => {
    const { tokens } = await grant(p, client);
    expect((await revoke(client, 'never-issued')).status).toBe(200);
    expect((await revoke(other, tokens.refresh_token!)).status).toBe(200);
    expect((await revoke(other, tokens.access_token)).status).toBe(200);
    expect((await p.api('/oauth/userinfo', { token: tokens.access_token })).status).toBe(200);
  });

  it('needs client authentication and a token', async () => {
    const { tokens } = await grant(p, client);
    expect((await p.api('/oauth/revoke', form({ token: tokens.refresh_token! }))).status).toBe(401);
    expect((await p.api('/oauth/revoke', form({}, authOf(client)))).status).toBe(400);
    expect((await p.api('/oauth/userinfo', { token: tokens.access_token })).status).toBe(200);
  });
});

describe('CORS', () => {
  it('lets a browser client on any origin call the OAuth endpoints, without credentials', async () => {
    const preflight = await p.api('/oauth/token', {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://spa.example.test',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('Access-Control-Allow-Origin')).toBe('*');
    expect(preflight.headers.get('Access-Control-Allow-Credentials')).toBeNull();
    const discovery = await p.api('/.well-known/openid-configuration', {
      headers: { Origin: 'https://spa.example.test' },
    });
    expect(discovery.headers.get('Access-Control-Allow-Origin')).toBe('*');
  });

  it('still answers the service’s own routes only to CORS_ORIGINS', async () => {
    const res = await p.api('/auth/me', { headers: { Origin: 'https://spa.example.test' } });
    expect(res.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });
});
