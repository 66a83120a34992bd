/**
 * The token endpoint: the authorization_code and refresh_token grants, the tokens they issue,
 * client authentication, and every way a request can be wrong (RFC 6749 §5.2 errors, never a 500).
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { cleanup } from '../src/index';
import { captureAudit, register, uniqueName } from './helpers';
import {
  basic,
  browserUser,
  codeFor,
  exchange,
  form,
  grant,
  ISSUER,
  jwtPart,
  provider,
  registerClient,
  type Provider,
  type RegisteredClient,
} from './oauth-helpers';

const p: Provider = await provider();
const confidential: RegisteredClient = await registerClient(p);

async function expectOAuthError(res: Response, status: number, error: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
  expect(res.headers.get('Cache-Control')).toBe('no-store');
  const body = (await res.json()) as { error: string; error_description: string };
  expect(body.error, body.error_description).toBe(error);
  expect(typeof body.error_description).toBe('string');
  return body;
}

const refresh = (client: RegisteredClient, refreshToken: string, extra: Record<string, string> = {}) =>
  p.api(
    '/oauth/token',
    form(
      { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra },
      { Authorization: basic(client.client_id, client.client_secret!) },
    ),
  );

describe('authorization_code', () => {
  it('issues an RFC 9068 access token, an ID token with the granted claims, and a refresh token', async () => {
    const { tokens, user } = await grant(p, confidential, {
      scope: 'openid profile email roles offline_access',
      nonce: 'the-nonce',
      amr: ['pwd', 'otp'],
    });
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    expect(tokens.scope).toBe('openid profile email roles offline_access');
    expect(tokens.refresh_token).toEqual(expect.any(String));

    expect(jwtPart(tokens.access_token, 0)).toMatchObject({ typ: 'at+jwt', alg: 'RS256', kid: 'rs-test' });
    const access = jwtPart(tokens.access_token, 1);
    expect(access).toMatchObject({
      iss: ISSUER,
      sub: user.id,
      aud: ISSUER,
      client_id: confidential.client_id,
      scope: 'openid profile email roles offline_access',
      jti: expect.any(String),
      roles: ['user'],
    });
    expect((access.exp as number) - (access.iat as number)).toBe(900);
    expect(access).not.toHaveProperty('token_use');
    expect(access).not.toHaveProperty('role');

    expect(jwtPart(tokens.id_token!, 0)).toMatchObject({ alg: 'RS256', kid: 'rs-test' });
    const id = jwtPart(tokens.id_token!, 1);
    expect(id).toMatchObject({
      iss: ISSUER,
      sub: user.id,
      aud: confidential.client_id,
      nonce: 'the-nonce',
      amr: ['pwd', 'otp'],
      sid: access.sid,
      preferred_username: user.username,
      updated_at: expect.any(Number),
      role: 'user',
      auth_time: expect.any(Number),
    });
    // No verified address: no email claims (OIDC Core §5.3.2 leaves out claims without a value).
    expect(id).not.toHaveProperty('email');
  });

  it('releases only the claims of the granted scopes: no role without the roles scope', async () => {
    const { tokens } = await grant(p, confidential, { scope: 'openid' });
    const id = jwtPart(tokens.id_token!, 1);
    expect(id).not.toHaveProperty('role');
    expect(id).not.toHaveProperty('preferred_username');
    expect(jwtPart(tokens.access_token, 1)).not.toHaveProperty('roles');
    // No offline_access: no refresh token; no openid: no ID token.
    expect(tokens.refresh_token).toBeUndefined();
    const noOpenid = await grant(p, confidential, { scope: 'profile' });
    expect(noOpenid.tokens.id_token).toBeUndefined();
  });

  it('gives no refresh token to a client not registered for refresh_token, even with offline_access', async () => {
    const codeOnly = await registerClient(p, { grant_types: ['authorization_code'] });
    const { tokens } = await grant(p, codeOnly, { scope: 'openid offline_access' });
    expect(tokens.refresh_token).toBeUndefined();
  });

  it('names the bound resource (RFC 8707) as the audience, and refuses another one', async () => {
    const resource = 'https://api.example.test/';
    const { tokens } = await grant(p, confidential, { resource });
    expect(jwtPart(tokens.access_token, 1).aud).toBe(resource);

    const user = await browserUser(p);
    const { code, verifier } = await codeFor(p, confidential, user, { resource });
    await expectOAuthError(
      await exchange(p, confidential, code, verifier, { resource: 'https://other.example.test/' }),
      400,
      'invalid_target',
    );
  });

  it('signs the ID token with the client’s registered algorithm', async () => {
    const es = await registerClient(p, { id_token_signed_response_alg: 'ES256' });
    const { tokens } = await grant(p, es);
    expect(jwtPart(tokens.id_token!, 0)).toMatchObject({ alg: 'ES256', kid: 'es-test' });
    // Access tokens stay RS256, which every resource server must accept (RFC 9068 §4).
    expect(jwtPart(tokens.access_token, 0).alg).toBe('RS256');
  });

  describe('refuses the code', () => {
    it('of another client, and leaves it usable by its own', async () => {
      const other = await registerClient(p);
      const user = await browserUser(p);
      const { code, verifier } = await codeFor(p, confidential, user);
      const stolen = await p.api(
        '/oauth/token',
        form(
          {
            grant_type: 'authorization_code',
            code,
            redirect_uri: confidential.redirect_uris[0]!,
            code_verifier: verifier,
          },
          { Authorization: basic(other.client_id, other.client_secret!) },
        ),
      );
      await expectOAuthError(stolen, 400, 'invalid_grant');
      expect((await exchange(p, confidential, code, verifier)).status).toBe(200);
    });

    it('with another redirect_uri, a wrong or missing code_verifier, or an unknown value', async () => {
      const user = await browserUser(p);
      const { code, verifier } = await codeFor(p, confidential, user);
      await expectOAuthError(
        await exchange(p, confidential, code, verifier, { redirect_uri: 'https://rp.example.test/other' }),
        400,
        'invalid_grant',
      );
      const wrong = 'x'.repeat(43);
      await expectOAuthError(await exchange(p, confidential, code, wrong), 400, 'invalid_grant');
      await expectOAuthError(await exchange(p, confidential, code, 'short'), 400, 'invalid_request');
      const missing = await p.api(
        '/oauth/token',
        form(
          { grant_type: 'authorization_code', code, redirect_uri: confidential.redirect_uris[0]! },
          { Authorization: basic(confidential.client_id, confidential.client_secret!) },
        ),
      );
      await expectOAuthError(missing, 400, 'invalid_request');
      await expectOAuthError(await exchange(p, confidential, 'not-a-code', verifier), 400, 'invalid_grant');
      // None of those spent it.
      expect((await exchange(p, confidential, code, verifier)).status).toBe(200);
    });

    it('after its 60 seconds', async () => {
      const user = await browserUser(p);
      const { code, verifier } = await codeFor(p, confidential, user);
      await env.DB.prepare('UPDATE oauth_codes SET expires_at = ? WHERE client_id = ? AND user_id = ?')
        .bind(Date.now() - 1, confidential.client_id, user.id)
        .run();
      await expectOAuthError(await exchange(p, confidential, code, verifier), 400, 'invalid_grant');
    });

    it('when the browser session it came from has ended', async () => {
      const user = await browserUser(p);
      const { code, verifier } = await codeFor(p, confidential, user);
      expect((await p.api('/auth/logout', { json: { refresh_token: user.tokens.refresh_token } })).status).toBe(204);
      await expectOAuthError(await exchange(p, confidential, code, verifier), 400, 'invalid_grant');
    });

    it('after a logout-all or a password change since it was issued', async () => {
      const user = await browserUser(p);
      const { code, verifier } = await codeFor(p, confidential, user, { sessionId: null });
      expect((await p.api('/auth/logout-all', { method: 'POST', token: user.tokens.access_token })).status).toBe(204);
      await expectOAuthError(await exchange(p, confidential, code, verifier), 400, 'invalid_grant');
    });
  });

  it('answers a replayed code with invalid_grant and revokes what its first use issued', async () => {
    const user = await browserUser(p);
    const { code, verifier } = await codeFor(p, confidential, user);
    const first = (await (await exchange(p, confidential, code, verifier)).json()) as {
      access_token: string;
      refresh_token: string;
    };
    expect((await p.api('/oauth/userinfo', { token: first.access_token })).status).toBe(200);

    const { lines } = await captureAudit(async () => {
      await expectOAuthError(await exchange(p, confidential, code, verifier), 400, 'invalid_grant');
    });
    expect(lines).toContainEqual(
      expect.objectContaining({ event: 'oauth_code_replayed', client_id: confidential.client_id }),
    );
    expect((await p.api('/oauth/userinfo', { token: first.access_token })).status).toBe(401);
    await expectOAuthError(await refresh(confidential, first.refresh_token), 400, 'invalid_grant');
  });

  it('lets exactly one of two racing exchanges of one code win, and ends the grant it made', async () => {
    const user = await browserUser(p);
    const { code, verifier } = await codeFor(p, confidential, user);
    const answers = await Promise.all([
      exchange(p, confidential, code, verifier),
      exchange(p, confidential, code, verifier),
    ]);
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 400]);
    const winner = (await answers.find((r) => r.status === 200)!.json()) as { access_token: string };
    // The loser's use was a replay: the winner's grant ended with it.
    expect((await p.api('/oauth/userinfo', { token: winner.access_token })).status).toBe(401);
  });
});

describe('cleanup', () => {
  it('keeps a used code a while after it expired (a late replay still ends its grant), then deletes it', async () => {
    const user = await browserUser(p);
    const { code, verifier } = await codeFor(p, confidential, user);
    const first = (await (await exchange(p, confidential, code, verifier)).json()) as { access_token: string };
    const row = () =>
      env.DB.prepare('SELECT code_hash FROM oauth_codes WHERE user_id = ? AND client_id = ?')
        .bind(user.id, confidential.client_id)
        .first();
    const day = 86_400_000;
    await cleanup(env, Date.now() + day);
    expect(await row()).not.toBeNull();
    await expectOAuthError(await exchange(p, confidential, code, verifier), 400, 'invalid_grant');
    expect((await p.api('/oauth/userinfo', { token: first.access_token })).status).toBe(401);
    const summary = await cleanup(env, Date.now() + 8 * day);
    expect(summary.oauthCodes).toBeGreaterThanOrEqual(1);
    expect(await row()).toBeNull();
  });
});

describe('refresh_token', () => {
  it('rotates: a new refresh token each time, with the grant’s claims', async () => {
    const { tokens, user } = await grant(p, confidential, { nonce: 'only-at-sign-in' });
    const res = await refresh(confidential, tokens.refresh_token!);
    expect(res.status).toBe(200);
    const next = (await res.json()) as { refresh_token: string; id_token: string; access_token: string; scope: string };
    expect(next.refresh_token).not.toBe(tokens.refresh_token);
    expect(next.scope).toBe(tokens.scope);
    const id = jwtPart(next.id_token, 1);
    expect(id).toMatchObject({ sub: user.id, sid: jwtPart(tokens.id_token!, 1).sid });
    expect(id.auth_time).toBe(jwtPart(tokens.id_token!, 1).auth_time);
    // OIDC Core §12.2 (errata): a refresh is no authentication request.
    expect(id).not.toHaveProperty('nonce');
  });

  it('narrows the scope on request, refuses to widen it, and a refused request leaves the token usable', async () => {
    const { tokens } = await grant(p, confidential, { scope: 'openid profile offline_access' });
    await expectOAuthError(
      await refresh(confidential, tokens.refresh_token!, { scope: 'openid email' }),
      400,
      'invalid_scope',
    );
    const narrowed = await refresh(confidential, tokens.refresh_token!, { scope: 'openid' });
    expect(narrowed.status).toBe(200);
    const body = (await narrowed.json()) as { access_token: string; scope: string };
    expect(body.scope).toBe('openid');
    expect(jwtPart(body.access_token, 1).scope).toBe('openid');
  });

  it('ends the grant when a spent refresh token comes back after the grace window', async () => {
    const { tokens } = await grant(p, confidential);
    const next = (await (await refresh(confidential, tokens.refresh_token!)).json()) as {
      refresh_token: string;
      access_token: string;
    };
    await env.DB.prepare('UPDATE refresh_tokens SET rotated_at = ? WHERE rotated_at IS NOT NULL AND created_at > ?')
      .bind(Date.now() - 60_000, Date.now() - 60_000)
      .run();
    const { lines } = await captureAudit(async () => {
      await expectOAuthError(await refresh(confidential, tokens.refresh_token!), 400, 'invalid_grant');
    });
    expect(lines).toContainEqual(expect.objectContaining({ event: 'oauth_refresh_reused' }));
    await expectOAuthError(await refresh(confidential, next.refresh_token), 400, 'invalid_grant');
    expect((await p.api('/oauth/userinfo', { token: next.access_token })).status).toBe(401);
  });

  it('refuses another client’s refresh token without ending that grant', async () => {
    const { tokens } = await grant(p, confidential);
    const other = await registerClient(p);
    await expectOAuthError(await refresh(other, tokens.refresh_token!), 400, 'invalid_grant');
    expect((await refresh(confidential, tokens.refresh_token!)).status).toBe(200);
  });

  it('keeps the service’s own refresh tokens and the grants’ apart', async () => {
    const user = await browserUser(p);
    await expectOAuthError(await refresh(confidential, user.tokens.refresh_token), 400, 'invalid_grant');
    const { tokens } = await grant(p, confidential);
    const own = await p.api('/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
    expect(own.status).toBe(401);
    // Neither refusal spent the token it refused.
    expect((await p.api('/auth/refresh', { json: { refresh_token: user.tokens.refresh_token } })).status).toBe(200);
    expect((await refresh(confidential, tokens.refresh_token!)).status).toBe(200);
  });
});

describe('client authentication', () => {
  const codeRequest = async (client: RegisteredClient) => {
    const user = await browserUser(p);
    const { code, verifier } = await codeFor(p, client, user);
    return { grant_type: 'authorization_code', code, redirect_uri: client.redirect_uris[0]!, code_verifier: verifier };
  };

  it('accepts client_secret_post for a client registered for it', async () => {
    const post = await registerClient(p, { token_endpoint_auth_method: 'client_secret_post' });
    const params = await codeRequest(post);
    const res = await p.api(
      '/oauth/token',
      form({ ...params, client_id: post.client_id, client_secret: post.client_secret! }),
    );
    expect(res.status).toBe(200);
  });

  it('answers a wrong secret, an unknown client or another method with 401 invalid_client and a Basic challenge', async () => {
    const params = await codeRequest(confidential);
    for (const init of [
      form(params, { Authorization: basic(confidential.client_id, 'wrong-secret') }),
      form(params, { Authorization: basic('unknown-client', 'whatever') }),
      form({ ...params, client_id: confidential.client_id, client_secret: confidential.client_secret! }),
      form({ ...params, client_id: confidential.client_id }),
      form(params),
    ]) {
      const res = await p.api('/oauth/token', init);
      await expectOAuthError(res, 401, 'invalid_client');
      expect(res.headers.get('WWW-Authenticate')).toBe('Basic realm="edge-auth"');
    }
  });

  it('refuses credentials sent two ways at once, or a client_id that differs from the header’s', async () => {
    const params = await codeRequest(confidential);
    const auth = { Authorization: basic(confidential.client_id, confidential.client_secret!) };
    await expectOAuthError(
      await p.api('/oauth/token', form({ ...params, client_secret: confidential.client_secret! }, auth)),
      400,
      'invalid_request',
    );
    await expectOAuthError(
      await p.api('/oauth/token', form({ ...params, client_id: 'other' }, auth)),
      400,
      'invalid_request',
    );
  });

  it('refuses a public client that sends a secret, and a confidential one that sends none', async () => {
    const pub = await registerClient(p, { token_endpoint_auth_method: 'none' });
    const params = await codeRequest(pub);
    await expectOAuthError(
      await p.api('/oauth/token', form({ ...params, client_id: pub.client_id, client_secret: 'made-up' })),
      401,
      'invalid_client',
    );
    expect((await p.api('/oauth/token', form({ ...params, client_id: pub.client_id }))).status).toBe(200);
  });
});

describe('bad requests get RFC 6749 errors, never a 500', () => {
  const auth = () => ({ Authorization: basic(confidential.client_id, confidential.client_secret!) });

  it('an unknown or unregistered grant type', async () => {
    await expectOAuthError(
      await p.api('/oauth/token', form({ grant_type: 'password', username: 'a', password: 'b' }, auth())),
      400,
      'unsupported_grant_type',
    );
    const codeOnly = await registerClient(p, { grant_types: ['authorization_code'] });
    await expectOAuthError(
      await p.api(
        '/oauth/token',
        form(
          { grant_type: 'refresh_token', refresh_token: 'x' },
          { Authorization: basic(codeOnly.client_id, codeOnly.client_secret!) },
        ),
      ),
      400,
      'unauthorized_client',
    );
    await expectOAuthError(await p.api('/oauth/token', form({}, auth())), 400, 'invalid_request');
  });

  it('a body that is not a form, repeats a parameter, holds an oversized value or is too large', async () => {
    const cases: { body: BodyInit; type?: string }[] = [
      { body: JSON.stringify({ grant_type: 'refresh_token' }), type: 'application/json' },
      { body: 'grant_type=refresh_token&grant_type=authorization_code' },
      { body: 'grant_type=refresh_token&refresh_token=a&refresh_token=b' },
      { body: `grant_type=refresh_token&refresh_token=${'a'.repeat(5000)}` },
      { body: `grant_type=refresh_token&x=${'a'.repeat(20_000)}` },
      { body: new Uint8Array([0x67, 0x3d, 0xff, 0xfe]) },
      { body: '%%%=%%%' },
      { body: '' },
    ];
    for (const { body, type } of cases) {
      const res = await p.api('/oauth/token', {
        method: 'POST',
        body,
        headers: { 'Content-Type': type ?? 'application/x-www-form-urlencoded', ...auth() },
      });
      await expectOAuthError(res, 400, 'invalid_request');
    }
  });

  it('a malformed Authorization header', async () => {
    for (const header of [
      'Basic',
      'Basic !!!',
      `Basic ${btoa('no-colon')}`,
      `Basic ${btoa('%zz:secret')}`,
      'Bearer x',
    ]) {
      const res = await p.api(
        '/oauth/token',
        form({ grant_type: 'refresh_token', refresh_token: 'x' }, { Authorization: header }),
      );
      expect([400, 401]).toContain(res.status);
      const body = (await res.json()) as { error: string };
      expect(['invalid_request', 'invalid_client']).toContain(body.error);
    }
  });
});

describe('rate limits', () => {
  it('limits token requests per client and per address, with Retry-After', async () => {
    const limited = await provider({ OAUTH_TOKEN_CLIENT_MAX: '2', OAUTH_TOKEN_IP_MAX: '1000' });
    const client = await registerClient(limited);
    const ask = (ip: string) =>
      limited.api(
        '/oauth/token',
        form(
          { grant_type: 'refresh_token', refresh_token: 'x' },
          { Authorization: basic(client.client_id, client.client_secret!), 'CF-Connecting-IP': ip },
        ),
      );
    expect((await ask('203.0.113.1')).status).toBe(400);
    expect((await ask('203.0.113.2')).status).toBe(400);
    const over = await ask('203.0.113.3');
    await expectOAuthError(over, 429, 'temporarily_unavailable');
    expect(Number(over.headers.get('Retry-After'))).toBeGreaterThan(0);

    const perAddress = await provider({ OAUTH_TOKEN_CLIENT_MAX: '1000', OAUTH_TOKEN_IP_MAX: '1' });
    const ip = `198.51.100.${Math.floor(Math.random() * 250)}`;
    const req = (id: string) =>
      perAddress.api(
        '/oauth/token',
        form({ grant_type: 'refresh_token', refresh_token: 'x', client_id: id }, { 'CF-Connecting-IP': ip }),
      );
    expect((await req(uniqueName('a'))).status).toBe(401);
    await expectOAuthError(await req(uniqueName('b')), 429, 'temporarily_unavailable');
  });
});

describe('audit', () => {
  it('logs the code exchange with the client, never a token', async () => {
    const user = await register(uniqueName('audited'));
    const { code, verifier } = await codeFor(p, confidential, { id: user.id }, { sessionId: null });
    const { lines, raw } = await captureAudit(async () => {
      expect((await exchange(p, confidential, code, verifier)).status).toBe(200);
    });
    expect(lines).toContainEqual(
      expect.objectContaining({ event: 'oauth_code_exchanged', client_id: confidential.client_id, user_id: user.id }),
    );
    expect(raw).not.toContain(code);
    expect(raw).not.toContain(confidential.client_secret);
  });
});
