/**
 * The authorization endpoint and the hosted sign-in page's JSON endpoints: request validation
 * (where errors may go), sign-in as /auth/login does it, consent and its memory, prompt and
 * max_age, the browser binding and CSRF protection of the page's calls.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import { cleanup } from '../src/index';
import { sha256Base64Url } from '../src/platform/crypto';
import { totp } from './totp';
import { api, appWith, enrolTotp, expectProblem, login, ORIGIN, PASSWORD, register, uniqueName } from './helpers';
import {
  authorizeParams,
  Browser,
  BROWSER_COOKIE,
  CALLBACK,
  callbackParams,
  CHALLENGE,
  newClient,
  providerApi,
  REFRESH_COOKIE,
} from './oauth-browser';

const ISSUER = ORIGIN;

/** The error redirect of an authorization request that fails after the client and URI passed. */
async function errorRedirect(params: URLSearchParams) {
  const res = await new Browser().navigate(`/oauth/authorize?${params}`);
  expect(res.status).toBe(303);
  const location = new URL(res.headers.get('Location')!);
  expect(`${location.origin}${location.pathname}`).toBe(CALLBACK);
  return location.searchParams;
}

/** An authorization request refused with our error page: 400 HTML, no Location. */
async function expectErrorPage(res: Response, text: RegExp) {
  expect(res.status).toBe(400);
  expect(res.headers.get('Location')).toBeNull();
  expect(res.headers.get('Content-Type')).toMatch(/^text\/html/);
  expect(res.headers.get('Content-Security-Policy')).toContain("frame-ancestors 'none'");
  expect(await res.text()).toMatch(text);
}

/** A signed-up user whose browser went through sign-in and Allow for `clientId`: the code's query. */
async function fullFlow(browser: Browser, clientId: string, username: string, overrides = {}) {
  const interaction = await browser.authorize(authorizeParams(clientId, overrides));
  expect((await browser.next(interaction)).step).toBe('sign_in');
  expect((await browser.signIn(interaction, username)).step).toBe('consent');
  return callbackParams(await browser.consent(interaction, 'allow'));
}

describe('the authorization endpoint', () => {
  describe('refuses with a page, never a redirect', () => {
    it('an unknown client', async () => {
      const res = await new Browser().navigate(`/oauth/authorize?${authorizeParams('no-such-client')}`);
      await expectErrorPage(res, /not registered/);
    });

    it('a request without client_id, or with two', async () => {
      const { clientId } = await newClient();
      const none = authorizeParams(clientId);
      none.delete('client_id');
      await expectErrorPage(await new Browser().navigate(`/oauth/authorize?${none}`), /client_id/);
      const two = authorizeParams(clientId);
      two.append('client_id', clientId);
      await expectErrorPage(await new Browser().navigate(`/oauth/authorize?${two}`), /client_id/);
    });

    it.each([
      ['another host', 'https://evil.example.test/callback'],
      ['another path', 'https://client.example.test/callback/../evil'],
      ['a longer path', 'https://client.example.test/callback/more'],
      ['an added query', 'https://client.example.test/callback?next=https://evil.example.test'],
      ['a fragment', 'https://client.example.test/callback#x'],
      ['http instead of https', 'http://client.example.test/callback'],
      ['another port', 'https://client.example.test:8443/callback'],
      ['user information', 'https://client.example.test@evil.example.test/callback'],
      ['a different case', 'https://client.example.test/Callback'],
    ])('a redirect URI that is not registered: %s', async (_, uri) => {
      const { clientId } = await newClient();
      const res = await new Browser().navigate(`/oauth/authorize?${authorizeParams(clientId, { redirect_uri: uri })}`);
      await expectErrorPage(res, /not registered/);
    });

    it('a missing or repeated redirect_uri, even when the rest is invalid too', async () => {
      const { clientId } = await newClient();
      const missing = authorizeParams(clientId, { redirect_uri: undefined, code_challenge: undefined });
      await expectErrorPage(await new Browser().navigate(`/oauth/authorize?${missing}`), /redirect_uri/);
      const twice = authorizeParams(clientId);
      twice.append('redirect_uri', 'https://evil.example.test/');
      await expectErrorPage(await new Browser().navigate(`/oauth/authorize?${twice}`), /redirect_uri/);
    });

    it('a redirect URI registered for another client', async () => {
      await newClient({ redirect_uris: ['https://other.example.test/cb'] });
      const { clientId } = await newClient();
      const params = authorizeParams(clientId, { redirect_uri: 'https://other.example.test/cb' });
      await expectErrorPage(await new Browser().navigate(`/oauth/authorize?${params}`), /not registered/);
    });
  });

  it('matches a loopback redirect URI on any port (RFC 8252 §7.3), but not another path', async () => {
    const { clientId } = await newClient({ redirect_uris: ['http://127.0.0.1/callback'] }, {});
    const browser = new Browser();
    const ok = authorizeParams(clientId, { redirect_uri: 'http://127.0.0.1:53211/callback' });
    expect(await browser.authorize(ok)).toBeTruthy();
    const wrong = authorizeParams(clientId, { redirect_uri: 'http://127.0.0.1:53211/other' });
    await expectErrorPage(await browser.navigate(`/oauth/authorize?${wrong}`), /not registered/);
  });

  describe('sends other errors back with error, error_description, state and iss', () => {
    it.each([
      ['no code_challenge', { code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
      ['code_challenge_method=plain', { code_challenge_method: 'plain' }, 'invalid_request'],
      ['a code_challenge without its method (plain)', { code_challenge_method: undefined }, 'invalid_request'],
      ['a malformed code_challenge', { code_challenge: 'short' }, 'invalid_request'],
      ['an unknown scope', { scope: 'openid payroll' }, 'invalid_scope'],
      ['a malformed scope', { scope: 'openid  profile' }, 'invalid_scope'],
      ['response_type=token', { response_type: 'token' }, 'unsupported_response_type'],
      ['no response_type', { response_type: undefined }, 'invalid_request'],
      ['response_mode=fragment', { response_mode: 'fragment' }, 'invalid_request'],
      ['prompt=none with login', { prompt: 'none login' }, 'invalid_request'],
      ['an unknown prompt', { prompt: 'create' }, 'invalid_request'],
      ['a negative max_age', { max_age: '-1' }, 'invalid_request'],
      ['a max_age that is no number', { max_age: '1e3' }, 'invalid_request'],
      ['a relative resource', { resource: '/api' }, 'invalid_target'],
      ['a resource with a fragment', { resource: 'https://api.example.test/#x' }, 'invalid_target'],
      ['a request object', { request: 'eyJ…' }, 'request_not_supported'],
      ['a request_uri', { request_uri: 'https://client.example.test/r' }, 'request_uri_not_supported'],
      ['an oversized nonce', { nonce: 'n'.repeat(2049) }, 'invalid_request'],
    ])('%s', async (_, overrides, error) => {
      const { clientId } = await newClient();
      const query = await errorRedirect(authorizeParams(clientId, overrides as Record<string, string | undefined>));
      expect(query.get('error')).toBe(error);
      expect(query.get('error_description')).toMatch(/\w/);
      expect(query.get('state')).toBe('state-123');
      expect(query.get('iss')).toBe(ISSUER);
      expect(query.has('code')).toBe(false);
    });

    it('a parameter sent twice, and without a state when the state is the one sent twice', async () => {
      const { clientId } = await newClient();
      const params = authorizeParams(clientId);
      params.append('state', 'other');
      const query = await errorRedirect(params);
      expect(query.get('error')).toBe('invalid_request');
      expect(query.has('state')).toBe(false);
      const scopes = authorizeParams(clientId);
      scopes.append('scope', 'email');
      expect((await errorRedirect(scopes)).get('error')).toBe('invalid_request');
    });

    it('a scope the client may not ask for', async () => {
      const { clientId } = await newClient({ scope: 'openid profile' });
      const query = await errorRedirect(authorizeParams(clientId, { scope: 'openid email' }));
      expect(query.get('error')).toBe('invalid_scope');
    });
  });

  it('keeps the registered redirect URI’s own query and adds the response to it', async () => {
    const uri = 'https://client.example.test/cb?tenant=7';
    const { clientId } = await newClient({ redirect_uris: [uri] });
    const res = await new Browser().navigate(
      `/oauth/authorize?${authorizeParams(clientId, { redirect_uri: uri, response_type: 'token' })}`,
    );
    const location = new URL(res.headers.get('Location')!);
    expect(location.searchParams.get('tenant')).toBe('7');
    expect(location.searchParams.get('error')).toBe('unsupported_response_type');
  });

  it('sends a valid request to the sign-in page, with a browser cookie and nothing for the client yet', async () => {
    const { clientId } = await newClient();
    const res = await new Browser().navigate(`/oauth/authorize?${authorizeParams(clientId)}`);
    expect(res.status).toBe(303);
    expect(res.headers.get('Location')).toMatch(/^\/oauth\/sign-in\?interaction=[\w-]{43}$/);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith(`${BROWSER_COOKIE}=`))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/Secure/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).toMatch(/Path=\//i);
    expect(res.headers.get('Cache-Control')).toBe('no-store');
  });

  it('takes the parameters as a form post too (OpenID Connect Core §3.1.2.1)', async () => {
    const { clientId } = await newClient();
    const browser = new Browser();
    const res = await browser.navigate('/oauth/authorize', {
      method: 'POST',
      body: authorizeParams(clientId).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('Location')).toMatch(/^\/oauth\/sign-in\?interaction=/);
  });
});

describe('the hosted sign-in page', () => {
  it('signs in, asks consent naming the client and each scope in plain words, and sends the code back', async () => {
    const user = await register();
    const { clientId } = await newClient({ client_name: 'Photo Printer' });
    const browser = new Browser();
    const interaction = await browser.authorize(authorizeParams(clientId, { scope: 'openid profile email' }));
    const first = await browser.next(interaction);
    expect(first).toMatchObject({ step: 'sign_in', client: { name: 'Photo Printer' } });
    const consent = await browser.signIn(interaction, user.username);
    expect(consent).toMatchObject({
      step: 'consent',
      client: { name: 'Photo Printer' },
      user: { username: user.username },
    });
    if (consent.step !== 'consent') throw new Error();
    expect(consent.scopes.map((s) => s.scope)).toEqual(['openid', 'profile', 'email']);
    for (const s of consent.scopes) expect(s.description).toMatch(/^[A-Z][a-z ,()]+$/);
    expect(browser.cookies.has(REFRESH_COOKIE)).toBe(true);

    const query = callbackParams(await browser.consent(interaction, 'allow'));
    expect(query.get('code')).toMatch(/\S{20,}/);
    expect(query.get('state')).toBe('state-123');
    expect(query.get('iss')).toBe(ISSUER);
  });

  it('binds the code to the client, redirect URI, challenge, nonce, resource, user and session', async () => {
    const user = await register();
    const { clientId } = await newClient();
    const browser = new Browser();
    await fullFlow(browser, clientId, user.username, { resource: 'https://api.example.test/' });
    const row = await env.DB.prepare('SELECT * FROM oauth_codes WHERE client_id = ?')
      .bind(clientId)
      .first<Record<string, unknown>>();
    expect(row).toMatchObject({
      client_id: clientId,
      user_id: user.id,
      redirect_uri: CALLBACK,
      code_challenge: CHALLENGE,
      nonce: 'nonce-456',
      resource: 'https://api.example.test/',
      amr: 'pwd',
    });
    const session = await env.DB.prepare('SELECT id FROM sessions WHERE user_id = ? AND client_id IS NULL')
      .bind(user.id)
      .first<{ id: string }>();
    expect(row!.browser_session_id).toBe(session!.id);
  });

  it('Deny sends access_denied back, and the request is spent', async () => {
    const user = await register();
    const { clientId } = await newClient();
    const browser = new Browser();
    const interaction = await browser.authorize(authorizeParams(clientId));
    await browser.signIn(interaction, user.username);
    const query = callbackParams(await browser.consent(interaction, 'deny'));
    expect(query.get('error')).toBe('access_denied');
    expect(query.get('state')).toBe('state-123');
    expect(query.get('iss')).toBe(ISSUER);
    expect(query.has('code')).toBe(false);
    await expectProblem(
      await browser.page('/oauth/interaction/consent', { interaction, decision: 'allow' }),
      400,
      'interaction_expired',
    );
  });

  it('of two Allow clicks racing, one gets a code and the other a refusal', async () => {
    const user = await register();
    const { clientId } = await newClient();
    const browser = new Browser();
    const interaction = await browser.authorize(authorizeParams(clientId));
    await browser.signIn(interaction, user.username);
    const answers = await Promise.all([
      browser.page('/oauth/interaction/consent', { interaction, decision: 'allow' }),
      browser.page('/oauth/interaction/consent', { interaction, decision: 'allow' }),
    ]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 400]);
    const codes = await env.DB.prepare('SELECT count(*) AS n FROM oauth_codes WHERE client_id = ?')
      .bind(clientId)
      .first<{ n: number }>();
    expect(codes!.n).toBe(1);
  });

  it('remembers consent per user, client and scope set', async () => {
    const user = await register();
    const { clientId } = await newClient();
    const browser = new Browser();
    await fullFlow(browser, clientId, user.username);

    // Same scopes: straight back with a code, no password, no consent.
    const again = await browser.authorize(authorizeParams(clientId));
    expect(callbackParams(await browser.next(again)).get('code')).toBeTruthy();
    // Fewer scopes: covered too.
    const fewer = await browser.authorize(authorizeParams(clientId, { scope: 'openid' }));
    expect((await browser.next(fewer)).step).toBe('redirect');
    // More scopes: asked again.
    const more = await browser.authorize(authorizeParams(clientId, { scope: 'openid profile email' }));
    expect((await browser.next(more)).step).toBe('consent');
    // Another client: asked.
    const other = await newClient();
    const elsewhere = await browser.authorize(authorizeParams(other.clientId));
    expect((await browser.next(elsewhere)).step).toBe('consent');
    // Another user of the same client: asked.
    const second = await register();
    const otherBrowser = new Browser();
    const theirs = await otherBrowser.authorize(authorizeParams(clientId));
    expect((await otherBrowser.signIn(theirs, second.username)).step).toBe('consent');
    // prompt=consent asks even when remembered.
    const forced = await browser.authorize(authorizeParams(clientId, { prompt: 'consent' }));
    expect((await browser.next(forced)).step).toBe('consent');
  });

  it('says on the consent page when a client registered itself', async () => {
    const user = await register();
    const own = await newClient({ client_name: 'Ours' });
    const open = await newClient(
      { client_name: 'Claude', token_endpoint_auth_method: 'none' },
      { registeredBy: 'open' },
    );
    for (const [clientId, expected] of [
      [own.clientId, undefined],
      [open.clientId, true],
    ] as const) {
      const browser = new Browser();
      const interaction = await browser.authorize(authorizeParams(clientId));
      const step = await browser.signIn(interaction, user.username);
      expect(step).toMatchObject({ step: 'consent' });
      expect((step as { client: { self_registered?: true } }).client.self_registered).toBe(expected);
    }
  });

  it('does not ask consent for a skip_consent client', async () => {
    const user = await register();
    const { clientId } = await newClient({}, { skipConsent: true });
    const browser = new Browser();
    const interaction = await browser.authorize(authorizeParams(clientId));
    expect(callbackParams(await browser.signIn(interaction, user.username)).get('code')).toBeTruthy();
  });

  it('does not ask a browser signed in to the service for its password', async () => {
    const user = await register();
    const { clientId } = await newClient();
    const browser = new Browser();
    await browser.login(user.username);
    const interaction = await browser.authorize(authorizeParams(clientId));
    expect(await browser.next(interaction)).toMatchObject({ step: 'consent', user: { username: user.username } });
  });

  it('asks again with prompt=login, and the new sign-in is enough', async () => {
    const user = await register();
    const { clientId } = await newClient({}, { skipConsent: true });
    const browser = new Browser();
    await browser.login(user.username);
    const interaction = await browser.authorize(authorizeParams(clientId, { prompt: 'login' }));
    expect((await browser.next(interaction)).step).toBe('sign_in');
    expect(callbackParams(await browser.signIn(interaction, user.username)).get('code')).toBeTruthy();
  });

  it('asks again when max_age has passed since the sign-in, not before', async () => {
    const user = await register();
    const { clientId } = await newClient({}, { skipConsent: true });
    const browser = new Browser();
    await browser.login(user.username);
    const recent = await browser.authorize(authorizeParams(clientId, { max_age: '600' }));
    expect((await browser.next(recent)).step).toBe('redirect');
    await env.DB.prepare('UPDATE sessions SET created_at = created_at - 601000 WHERE user_id = ?').bind(user.id).run();
    const stale = await browser.authorize(authorizeParams(clientId, { max_age: '600' }));
    expect((await browser.next(stale)).step).toBe('sign_in');
    const zero = await browser.authorize(authorizeParams(clientId, { max_age: '0' }));
    expect((await browser.next(zero)).step).toBe('sign_in');
  });

  describe('prompt=none', () => {
    it('without a session: login_required, at once', async () => {
      const { clientId } = await newClient();
      const browser = new Browser();
      const interaction = await browser.authorize(authorizeParams(clientId, { prompt: 'none' }));
      const query = callbackParams(await browser.next(interaction));
      expect(query.get('error')).toBe('login_required');
      expect(query.get('state')).toBe('state-123');
      expect(query.get('iss')).toBe(ISSUER);
    });

    it('with a session but no consent: consent_required; with both: a code', async () => {
      const user = await register();
      const { clientId } = await newClient();
      const browser = new Browser();
      await browser.login(user.username);
      const first = await browser.authorize(authorizeParams(clientId, { prompt: 'none' }));
      expect(callbackParams(await browser.next(first)).get('error')).toBe('consent_required');
      await fullFlow(new Browser(), clientId, user.username);
      const second = await browser.authorize(authorizeParams(clientId, { prompt: 'none' }));
      expect(callbackParams(await browser.next(second)).get('code')).toBeTruthy();
    });

    it('with max_age passed: login_required', async () => {
      const user = await register();
      const { clientId } = await newClient({}, { skipConsent: true });
      const browser = new Browser();
      await browser.login(user.username);
      await env.DB.prepare('UPDATE sessions SET created_at = created_at - 120000 WHERE user_id = ?')
        .bind(user.id)
        .run();
      const interaction = await browser.authorize(authorizeParams(clientId, { prompt: 'none', max_age: '60' }));
      expect(callbackParams(await browser.next(interaction)).get('error')).toBe('login_required');
    });
  });

  it('treats a revoked or spent refresh cookie as no session', async () => {
    const user = await register();
    const { clientId } = await newClient({}, { skipConsent: true });
    const browser = new Browser();
    await browser.login(user.username);
    await api('/auth/logout', {
      method: 'POST',
      headers: { Cookie: `${REFRESH_COOKIE}=${browser.cookies.get(REFRESH_COOKIE)}`, Origin: ORIGIN },
    });
    const interaction = await browser.authorize(authorizeParams(clientId));
    expect((await browser.next(interaction)).step).toBe('sign_in');
  });

  describe('signs in exactly as /auth/login does', () => {
    it('a wrong password or unknown user: 401 invalid_credentials', async () => {
      const user = await register();
      const { clientId } = await newClient();
      const browser = new Browser();
      const interaction = await browser.authorize(authorizeParams(clientId));
      for (const [username, password] of [
        [user.username, 'not-the-password'],
        [uniqueName('nobody'), PASSWORD],
      ]) {
        const res = await browser.page('/oauth/interaction/sign-in', { interaction, username, password });
        await expectProblem(res, 401, 'invalid_credentials');
      }
      expect(browser.cookies.has(REFRESH_COOKIE)).toBe(false);
    });

    it('field errors name the field', async () => {
      const { clientId } = await newClient();
      const browser = new Browser();
      const interaction = await browser.authorize(authorizeParams(clientId));
      const res = await browser.page('/oauth/interaction/sign-in', { interaction, username: 'a', password: '' });
      const problem = await expectProblem(res, 400, 'validation_failed');
      expect((problem.errors as { field: string }[]).map((e) => e.field).sort()).toEqual(['password', 'username']);
    });

    it('shares the lockout with /auth/login: failures there lock the hosted page too', async () => {
      const user = await register();
      const { clientId } = await newClient();
      for (let i = 0; i < 5; i++) {
        const res = await api('/auth/login', { json: { username: user.username, password: 'wrong-password' } });
        expect(res.status).toBe(401);
      }
      const browser = new Browser();
      const interaction = await browser.authorize(authorizeParams(clientId));
      const res = await browser.page('/oauth/interaction/sign-in', {
        interaction,
        username: user.username,
        password: PASSWORD,
      });
      await expectProblem(res, 429, 'too_many_attempts');
      expect(Number(res.headers.get('Retry-After'))).toBeGreaterThan(0);
    });

    it('two-factor: 403 mfa_required, then the Code (TOTP or recovery code) through verify', async () => {
      const user = await register();
      const { secret, recoveryCodes } = await enrolTotp((await login(user.username)).access_token);
      const { clientId } = await newClient();
      const browser = new Browser();
      const interaction = await browser.authorize(authorizeParams(clientId));
      const res = await browser.page('/oauth/interaction/sign-in', {
        interaction,
        username: user.username,
        password: PASSWORD,
      });
      const problem = await expectProblem(res, 403, 'mfa_required');
      expect(browser.cookies.has(REFRESH_COOKIE)).toBe(false);

      const wrong = await browser.page('/oauth/interaction/verify', {
        interaction,
        mfa_token: problem.mfa_token,
        code: '000000',
      });
      await expectProblem(wrong, 401, 'invalid_mfa_code');
      const step = await browser.step('/oauth/interaction/verify', {
        interaction,
        mfa_token: problem.mfa_token,
        code: await totp(secret, Date.now() + 30_000),
      });
      expect(step.step).toBe('consent');
      callbackParams(await browser.consent(interaction, 'allow'));
      const row = await env.DB.prepare('SELECT amr FROM oauth_codes WHERE client_id = ?')
        .bind(clientId)
        .first<{ amr: string }>();
      expect(row!.amr).toBe('pwd otp');

      // A recovery code works in the same field.
      const again = new Browser();
      const second = await again.authorize(authorizeParams(clientId, { prompt: 'login' }));
      const challenge = await expectProblem(
        await again.page('/oauth/interaction/sign-in', {
          interaction: second,
          username: user.username,
          password: PASSWORD,
        }),
        403,
        'mfa_required',
      );
      const next = await again.step('/oauth/interaction/verify', {
        interaction: second,
        mfa_token: challenge.mfa_token,
        code: recoveryCodes[0]!,
      });
      expect(next.step).toBe('redirect');
    });
  });

  describe('binds the request to the browser that started it', () => {
    it('another browser, or none, cannot use its id', async () => {
      const user = await register();
      const { clientId } = await newClient();
      const interaction = await new Browser().authorize(authorizeParams(clientId));
      const stranger = new Browser();
      await stranger.authorize(authorizeParams(clientId)); // has a browser cookie of its own
      for (const browser of [stranger, new Browser()]) {
        await expectProblem(await browser.page('/oauth/interaction/next', { interaction }), 400, 'interaction_expired');
        const res = await browser.page('/oauth/interaction/sign-in', {
          interaction,
          username: user.username,
          password: PASSWORD,
        });
        await expectProblem(res, 400, 'interaction_expired');
      }
    });

    it('keeps two pending requests of one browser apart (two tabs)', async () => {
      const user = await register();
      const a = await newClient({ client_name: 'A' });
      const b = await newClient({ client_name: 'B' });
      const browser = new Browser();
      const first = await browser.authorize(authorizeParams(a.clientId));
      const second = await browser.authorize(authorizeParams(b.clientId));
      expect(await browser.next(first)).toMatchObject({ client: { name: 'A' } });
      expect(await browser.next(second)).toMatchObject({ client: { name: 'B' } });
      await browser.signIn(first, user.username);
      expect(await browser.next(second)).toMatchObject({ step: 'consent', client: { name: 'B' } });
    });

    it('an expired request is refused', async () => {
      const { clientId } = await newClient();
      const browser = new Browser();
      const interaction = await browser.authorize(authorizeParams(clientId));
      await env.DB.prepare('UPDATE oauth_interactions SET expires_at = ?')
        .bind(Date.now() - 1)
        .run();
      await expectProblem(await browser.page('/oauth/interaction/next', { interaction }), 400, 'interaction_expired');
    });

    it('a request whose client was deleted meanwhile is refused', async () => {
      const { clientId } = await newClient();
      const browser = new Browser();
      const interaction = await browser.authorize(authorizeParams(clientId));
      await env.DB.prepare('DELETE FROM oauth_clients WHERE id = ?').bind(clientId).run();
      await expectProblem(await browser.page('/oauth/interaction/next', { interaction }), 400, 'interaction_expired');
    });
  });

  describe('answers only its own pages (CSRF)', () => {
    const attempts: [string, Record<string, string>][] = [
      ['no Origin', { Origin: '' }],
      ['another site’s Origin', { Origin: 'https://evil.example.test' }],
      ['a cross-site fetch (Fetch Metadata)', { 'Sec-Fetch-Site': 'cross-site' }],
      ['a same-site but other-origin fetch', { 'Sec-Fetch-Site': 'same-site' }],
    ];
    it.each(attempts)('%s: 403 csrf_rejected, before anything is done', async (_, headers) => {
      const user = await register();
      const { clientId } = await newClient({}, { skipConsent: true });
      const browser = new Browser();
      await browser.login(user.username);
      const interaction = await browser.authorize(authorizeParams(clientId));
      const init = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== ''));
      if (headers.Origin === '') {
        const res = await api('/oauth/interaction/next', {
          json: { interaction },
          headers: { Cookie: [...browser.cookies].map(([n, v]) => `${n}=${v}`).join('; ') },
        });
        await expectProblem(res, 403, 'csrf_rejected');
      } else {
        await expectProblem(await browser.page('/oauth/interaction/next', { interaction }, init), 403, 'csrf_rejected');
      }
      // The request is still pending and unanswered.
      expect((await browser.next(interaction)).step).toBe('redirect');
    });

    it('an origin listed in CORS_ORIGINS is refused too', async () => {
      const spa = 'https://spa.example.test';
      const call = providerApi({ CORS_ORIGINS: spa });
      const { clientId } = await newClient();
      const browser = new Browser(call);
      const interaction = await browser.authorize(authorizeParams(clientId));
      const res = await browser.page(
        '/oauth/interaction/next',
        { interaction },
        { Origin: spa, 'Sec-Fetch-Site': 'same-site' },
      );
      await expectProblem(res, 403, 'csrf_rejected');
    });

    it('a form post (no JSON) is refused', async () => {
      const { clientId } = await newClient();
      const browser = new Browser();
      const interaction = await browser.authorize(authorizeParams(clientId));
      const res = await api('/oauth/interaction/consent', {
        body: new URLSearchParams({ interaction, decision: 'allow' }).toString(),
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Origin: ORIGIN,
          Cookie: [...browser.cookies].map(([n, v]) => `${n}=${v}`).join('; '),
        },
      });
      await expectProblem(res, 415, 'unsupported_media_type');
    });
  });
});

describe('the daily cleanup', () => {
  it('deletes sign-in requests past their lifetime, and only those', async () => {
    const { clientId } = await newClient();
    const browser = new Browser();
    const old = await browser.authorize(authorizeParams(clientId));
    const fresh = await browser.authorize(authorizeParams(clientId));
    await env.DB.prepare('UPDATE oauth_interactions SET expires_at = 1 WHERE id_hash = ?')
      .bind(await sha256Base64Url(old))
      .run();
    await cleanup(env, Date.now());
    const left = await env.DB.prepare('SELECT id_hash FROM oauth_interactions WHERE id_hash IN (?, ?)')
      .bind(await sha256Base64Url(old), await sha256Base64Url(fresh))
      .all<{ id_hash: string }>();
    expect(left.results.map((r) => r.id_hash)).toEqual([await sha256Base64Url(fresh)]);
  });
});

describe('a deployment that is not an OAuth provider yet', () => {
  it('answers 500 misconfigured before anyone signs in: no RS256 key', async () => {
    const { clientId } = await newClient();
    // The tests' default Worker has only the HS256 secret.
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await api(`/oauth/authorize?${authorizeParams(clientId)}`);
    const lines = logged.mock.calls.map((args) => String(args[0])).join('\n');
    logged.mockRestore();
    await expectProblem(res, 500, 'misconfigured');
    // Not on loopback: the caller is told only that the service is misconfigured; the log names the key.
    expect(lines).toMatch(/RS256/);
  });
});
