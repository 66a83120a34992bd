/**
 * The device authorization grant (RFC 8628): the device authorization endpoint, the hosted
 * device page's calls (the code, then the sign-in page's own sign-in, two-factor and consent),
 * and the token endpoint's polling answers: authorization_pending, slow_down, access_denied,
 * expired_token, a spent code, and the tokens. Bad input gets RFC 6749 errors, never a 500.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { cleanup } from '../src/index';
import { deviceCodeHash, normalizeUserCode } from '../src/oauth/device-codes';
import { captureAudit, enrolTotp, expectProblem, login, PASSWORD, register, uniqueName } from './helpers';
import { totp } from './totp';
import { dpopKey, type DpopKey } from './dpop';
import { Browser, REFRESH_COOKIE } from './oauth-browser';
import {
  adminOf,
  basic,
  form,
  ISSUER,
  jwtPart,
  provider,
  registerClient,
  type Provider,
  type RegisteredClient,
  type TokenAnswer,
} from './oauth-helpers';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;

const p: Provider = await provider();
const admin = await adminOf(p);
/** A CLI: a public client of the device flow only, no redirect URI. */
const cli: RegisteredClient = await registerClient(
  p,
  {
    client_name: 'Example CLI',
    redirect_uris: undefined,
    grant_types: [DEVICE_GRANT, 'refresh_token'],
    token_endpoint_auth_method: 'none',
    scope: 'openid profile email offline_access',
  },
  admin.token,
);
/** A TV app's backend: confidential, both flows. */
const tv: RegisteredClient = await registerClient(
  p,
  { client_name: 'Living room TV', grant_types: ['authorization_code', DEVICE_GRANT] },
  admin.token,
);

type DeviceAnswer = {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
};

/** The client's credentials as the form or the header carries them. */
function credentials(client: RegisteredClient): { params: Record<string, string>; headers: Record<string, string> } {
  return client.client_secret
    ? { params: {}, headers: { Authorization: basic(client.client_id, client.client_secret) } }
    : { params: { client_id: client.client_id }, headers: {} };
}

function deviceAuthorization(client: RegisteredClient, params: Record<string, string> = {}) {
  const auth = credentials(client);
  return p.api('/oauth/device_authorization', form({ ...auth.params, ...params }, auth.headers));
}

async function start(client: RegisteredClient = cli, params: Record<string, string> = {}): Promise<DeviceAnswer> {
  const res = await deviceAuthorization(client, params);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as DeviceAnswer;
}

function poll(
  client: RegisteredClient,
  deviceCode: string,
  extra: Record<string, string> = {},
  headers: Record<string, string> = {},
) {
  const auth = credentials(client);
  return p.api(
    '/oauth/token',
    form(
      { grant_type: DEVICE_GRANT, device_code: deviceCode, ...auth.params, ...extra },
      { ...auth.headers, ...headers },
    ),
  );
}

async function expectOAuthError(res: Response, status: number, error: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
  expect(res.headers.get('Cache-Control')).toBe('no-store');
  const body = (await res.json()) as { error: string; error_description: string };
  expect(body.error, body.error_description).toBe(error);
  return body;
}

/** Runs `sql` on the device authorization of `deviceCode` (`?` is its hash): time passing, for one. */
async function onDevice(deviceCode: string, sql: string) {
  await env.DB.prepare(`UPDATE oauth_device_codes SET ${sql} WHERE device_code_hash = ?`)
    .bind(await deviceCodeHash(deviceCode))
    .run();
}
/** As if the device had waited its interval since its last poll. */
const waited = (deviceCode: string) => onDevice(deviceCode, 'polled_at = polled_at - poll_interval * 1000');

/** The page's call with the code the user typed; from `ip` when given. */
function enterCode(browser: Browser, userCode: string, ip?: string) {
  return browser.page('/oauth/interaction/device', { user_code: userCode }, ip ? { 'CF-Connecting-IP': ip } : {});
}

async function interactionFor(browser: Browser, userCode: string): Promise<string> {
  const res = await enterCode(browser, userCode);
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { interaction: string }).interaction;
}

/** A user who types the code, signs in with a password and answers. */
async function answer(userCode: string, decision: 'allow' | 'deny', username?: string) {
  const name = username ?? (await register(uniqueName('viewer'))).username;
  const browser = new Browser(p.api);
  const interaction = await interactionFor(browser, userCode);
  expect((await browser.next(interaction)).step).toBe('sign_in');
  const consent = await browser.signIn(interaction, name);
  expect(consent.step).toBe('consent');
  const done = await browser.consent(interaction, decision);
  expect(done).toEqual({ step: 'device_done', approved: decision === 'allow' });
  return { browser, username: name, consent };
}

/** A device allowed by a fresh user, and its first poll's tokens. */
async function allowedDevice(client: RegisteredClient = cli, params: Record<string, string> = {}) {
  const device = await start(client, params);
  const user = await answer(device.user_code, 'allow');
  await waited(device.device_code);
  const res = await poll(client, device.device_code);
  expect(res.status, await res.clone().text()).toBe(200);
  return { device, user, tokens: (await res.json()) as TokenAnswer };
}

describe('discovery', () => {
  it('advertises the device authorization endpoint and the grant type', async () => {
    const metadata = (await (await p.api('/.well-known/openid-configuration')).json()) as Record<string, unknown>;
    expect(metadata.device_authorization_endpoint).toBe(`${ISSUER}/oauth/device_authorization`);
    expect(metadata.grant_types_supported).toContain(DEVICE_GRANT);
  });
});

describe('registration', () => {
  it('takes a device-only client without redirect URIs, and still asks them of code-flow clients', async () => {
    const listed = await p.api(`/admin/oauth/clients?limit=100`, { token: admin.token });
    const mine = ((await listed.json()) as { clients: Record<string, unknown>[] }).clients.find(
      (c) => c.client_id === cli.client_id,
    );
    expect(mine).toMatchObject({ redirect_uris: [], response_types: [], grant_types: [DEVICE_GRANT, 'refresh_token'] });

    const refused = await p.api('/oauth/register', {
      token: admin.token,
      json: { grant_types: ['authorization_code', DEVICE_GRANT] },
    });
    await expectOAuthError(refused, 400, 'invalid_client_metadata');
    // Nor may a change take them from one.
    const patched = await p.api(`/admin/oauth/clients/${tv.client_id}`, {
      method: 'PATCH',
      token: admin.token,
      json: { redirect_uris: [] },
    });
    expect(patched.status).toBe(400);
  });
});

describe('the device authorization endpoint', () => {
  it('answers a device code, a user code as XXXX-XXXX, the page, its lifetime and the interval', async () => {
    const res = await deviceAuthorization(cli, { scope: 'openid profile' });
    expect(res.status).toBe(200);
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    const device = (await res.json()) as DeviceAnswer;
    expect(device.user_code).toMatch(USER_CODE);
    expect(device.device_code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(device).toMatchObject({
      verification_uri: `${ISSUER}/oauth/device`,
      verification_uri_complete: `${ISSUER}/oauth/device?user_code=${device.user_code}`,
      expires_in: 600,
      interval: 5,
    });
  });

  it('stores neither code, only their hashes', async () => {
    const device = await start();
    const row = await env.DB.prepare('SELECT * FROM oauth_device_codes WHERE device_code_hash = ?')
      .bind(await deviceCodeHash(device.device_code))
      .first<Record<string, unknown>>();
    expect(row).not.toBeNull();
    const stored = JSON.stringify(row);
    for (const secret of [device.device_code, device.user_code, normalizeUserCode(device.user_code)!]) {
      expect(stored).not.toContain(secret);
    }
  });

  it('draws user codes evenly from the 20 letters, without repeats', async () => {
    const codes = await Promise.all(Array.from({ length: 40 }, () => start().then((d) => d.user_code)));
    expect(new Set(codes).size).toBe(codes.length);
    const letters = new Set(codes.join('').replaceAll('-', ''));
    expect(letters.size).toBeGreaterThan(15);
  });

  it('authenticates a confidential client as the token endpoint does', async () => {
    expect((await deviceAuthorization(tv)).status).toBe(200);
    const noSecret = await p.api('/oauth/device_authorization', form({ client_id: tv.client_id }));
    const body = await expectOAuthError(noSecret, 401, 'invalid_client');
    expect(body.error_description).toMatch(/client_secret_basic/);
    const wrong = await p.api(
      '/oauth/device_authorization',
      form({}, { Authorization: basic(tv.client_id, 'not-the-secret') }),
    );
    await expectOAuthError(wrong, 401, 'invalid_client');
    expect(wrong.headers.get('WWW-Authenticate')).toBe('Basic realm="edge-auth"');
    await expectOAuthError(
      await p.api('/oauth/device_authorization', form({ client_id: 'no-such-client' })),
      401,
      'invalid_client',
    );
  });

  it('refuses a client not registered for the device flow (unauthorized_client)', async () => {
    const web = await registerClient(p, { token_endpoint_auth_method: 'none' }, admin.token);
    await expectOAuthError(await deviceAuthorization(web), 400, 'unauthorized_client');
  });

  it('takes the registered scope by default, and refuses others (invalid_scope, invalid_target)', async () => {
    const device = await start(cli);
    const row = await env.DB.prepare('SELECT scope FROM oauth_device_codes WHERE device_code_hash = ?')
      .bind(await deviceCodeHash(device.device_code))
      .first<{ scope: string }>();
    expect(row!.scope).toBe('openid profile email offline_access');
    await expectOAuthError(await deviceAuthorization(cli, { scope: 'openid roles' }), 400, 'invalid_scope');
    await expectOAuthError(await deviceAuthorization(cli, { scope: 'openid nonsense' }), 400, 'invalid_scope');
    await expectOAuthError(await deviceAuthorization(cli, { resource: 'not a uri' }), 400, 'invalid_target');
    await expectOAuthError(
      await deviceAuthorization(cli, { resource: 'https://api.example.test/#x' }),
      400,
      'invalid_target',
    );
  });

  it('answers bad input with RFC 6749 errors, never a 500', async () => {
    const cases: RequestInit[] = [
      {
        method: 'POST',
        body: JSON.stringify({ client_id: cli.client_id }),
        headers: { 'Content-Type': 'application/json' },
      },
      {
        method: 'POST',
        body: `client_id=${cli.client_id}&client_id=${cli.client_id}`,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      },
      {
        method: 'POST',
        body: `client_id=${cli.client_id}&scope=${'x'.repeat(5000)}`,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      },
      { method: 'POST', body: '%ZZ=%', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } },
      {
        method: 'POST',
        body: `client_id=${cli.client_id}&scope=openid%00`,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      },
      { method: 'POST', body: 'a'.repeat(20_000), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } },
    ];
    for (const init of cases) {
      const res = await p.fetch(`${ISSUER}/oauth/device_authorization`, init);
      expect(res.status, String(init.body).slice(0, 60)).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(((await res.json()) as { error: string }).error).toMatch(/^invalid_(request|client|scope)$/);
    }
  });
});

describe('polling the token endpoint', () => {
  it('answers authorization_pending while the user has not answered', async () => {
    const device = await start();
    await waited(device.device_code);
    await expectOAuthError(await poll(cli, device.device_code), 400, 'authorization_pending');
    await waited(device.device_code);
    await expectOAuthError(await poll(cli, device.device_code), 400, 'authorization_pending');
  });

  it('answers slow_down to a poll sooner than the interval, which then grows by 5 s for good', async () => {
    const device = await start();
    // The first poll is due an interval after the codes were issued.
    await expectOAuthError(await poll(cli, device.device_code), 400, 'slow_down');
    // Now 10 s: 5 s later is still too soon (and it grows again, to 15 s).
    await onDevice(device.device_code, 'polled_at = polled_at - 5000');
    await expectOAuthError(await poll(cli, device.device_code), 400, 'slow_down');
    await onDevice(device.device_code, 'polled_at = polled_at - 14000');
    await expectOAuthError(await poll(cli, device.device_code), 400, 'slow_down');
    await onDevice(device.device_code, 'polled_at = polled_at - 20000');
    await expectOAuthError(await poll(cli, device.device_code), 400, 'authorization_pending');
  });

  it('of two polls sent at once, answers the second slow_down', async () => {
    const device = await start();
    await waited(device.device_code);
    const answers = await Promise.all([poll(cli, device.device_code), poll(cli, device.device_code)]);
    const errors = await Promise.all(answers.map(async (r) => ((await r.json()) as { error: string }).error));
    expect(errors.sort()).toEqual(['authorization_pending', 'slow_down']);
  });

  it('gives the tokens of the code flow once allowed: access, ID (openid) and refresh (offline_access) tokens', async () => {
    const { tokens, user } = await allowedDevice(cli, { scope: 'openid profile offline_access' });
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'openid profile offline_access' });
    expect(tokens.refresh_token).toEqual(expect.any(String));
    const access = jwtPart(tokens.access_token, 1);
    expect(jwtPart(tokens.access_token, 0)).toMatchObject({ typ: 'at+jwt', alg: 'RS256' });
    expect(access).toMatchObject({ iss: ISSUER, aud: ISSUER, client_id: cli.client_id, scope: tokens.scope });
    const id = jwtPart(tokens.id_token!, 1);
    expect(id).toMatchObject({ iss: ISSUER, aud: cli.client_id, sub: access.sub, amr: ['pwd'], sid: access.sid });
    expect(id).not.toHaveProperty('nonce');

    const info = await p.api('/oauth/userinfo', { token: tokens.access_token });
    expect(info.status).toBe(200);
    expect(await info.json()).toMatchObject({ sub: access.sub, preferred_username: user.username });

    // The refresh token works like any grant's, for this client.
    const refreshed = await p.api(
      '/oauth/token',
      form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: cli.client_id }),
    );
    expect(refreshed.status).toBe(200);
  });

  it('gives no ID token without openid, and no refresh token without offline_access', async () => {
    const { tokens } = await allowedDevice(cli, { scope: 'profile' });
    expect(tokens.scope).toBe('profile');
    expect(tokens).not.toHaveProperty('id_token');
    expect(tokens).not.toHaveProperty('refresh_token');
  });

  it('binds the tokens to the resource asked for at device authorization', async () => {
    const resource = 'https://api.example.test/';
    const { tokens, device } = await allowedDevice(tv, { scope: 'openid', resource });
    expect(jwtPart(tokens.access_token, 1).aud).toBe(resource);
    expect(device.device_code).toBeTruthy();
    const other = await start(tv, { scope: 'openid' });
    await answer(other.user_code, 'allow');
    await waited(other.device_code);
    await expectOAuthError(
      await poll(tv, other.device_code, { resource: 'https://other.example.test/' }),
      400,
      'invalid_target',
    );
  });

  it('makes the grant a session of the user, listed in GET /auth/sessions with the client', async () => {
    const { tokens, user } = await allowedDevice();
    const own = await login(user.username);
    const res = await p.api('/auth/sessions', { token: own.access_token });
    const { sessions } = (await res.json()) as {
      sessions: { id: string; client: { client_id: string; client_name: string; scope: string } | null }[];
    };
    const grant = sessions.find((s) => s.client !== null)!;
    expect(grant.client).toEqual({ client_id: cli.client_id, client_name: 'Example CLI', scope: tokens.scope });
    expect(grant.id).toBe(jwtPart(tokens.access_token, 1).sid);
    // And ends there like any session.
    expect((await p.api(`/auth/sessions/${grant.id}`, { method: 'DELETE', token: own.access_token })).status).toBe(204);
    expect((await p.api('/oauth/userinfo', { token: tokens.access_token })).status).toBe(401);
  });

  it('answers a used device code invalid_grant and ends the grant it made', async () => {
    const { device, tokens } = await allowedDevice();
    await waited(device.device_code);
    const { lines } = await captureAudit(async () => {
      await expectOAuthError(await poll(cli, device.device_code), 400, 'invalid_grant');
    });
    expect(lines).toContainEqual(
      expect.objectContaining({ event: 'oauth_device_code_replayed', client_id: cli.client_id }),
    );
    expect((await p.api('/oauth/userinfo', { token: tokens.access_token })).status).toBe(401);
    const refreshed = await p.api(
      '/oauth/token',
      form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: cli.client_id }),
    );
    await expectOAuthError(refreshed, 400, 'invalid_grant');
  });

  it('of two polls racing for the tokens, gives them once', async () => {
    const device = await start();
    await answer(device.user_code, 'allow');
    await waited(device.device_code);
    const answers = await Promise.all([poll(cli, device.device_code), poll(cli, device.device_code)]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 400]);
  });

  it('answers access_denied once the user denied, then invalid_grant', async () => {
    const device = await start();
    await answer(device.user_code, 'deny');
    await waited(device.device_code);
    await expectOAuthError(await poll(cli, device.device_code), 400, 'access_denied');
    await waited(device.device_code);
    await expectOAuthError(await poll(cli, device.device_code), 400, 'invalid_grant');
  });

  it('answers expired_token past expires_in, answered or not', async () => {
    const pending = await start();
    const allowed = await start();
    await answer(allowed.user_code, 'allow');
    for (const device of [pending, allowed]) {
      await onDevice(device.device_code, 'expires_at = created_at, polled_at = polled_at - 5000');
      await expectOAuthError(await poll(cli, device.device_code), 400, 'expired_token');
    }
    // And the page no longer takes its code.
    await expectProblem(await enterCode(new Browser(p.api), pending.user_code), 400, 'invalid_user_code');
  });

  it('answers another client’s, an unknown or a missing device code as the RFC says', async () => {
    const device = await start(cli);
    await waited(device.device_code);
    // Another client of the device flow: as if the code did not exist.
    await expectOAuthError(await poll(tv, device.device_code), 400, 'invalid_grant');
    // A client not registered for the grant at all.
    const web = await registerClient(p, { token_endpoint_auth_method: 'none' }, admin.token);
    await expectOAuthError(await poll(web, device.device_code), 400, 'unauthorized_client');
    await expectOAuthError(await poll(cli, 'not-a-device-code'), 400, 'invalid_grant');
    await expectOAuthError(
      await p.api('/oauth/token', form({ grant_type: DEVICE_GRANT, client_id: cli.client_id })),
      400,
      'invalid_request',
    );
    // Left alone for its own client.
    await expectOAuthError(await poll(cli, device.device_code), 400, 'authorization_pending');
  });

  it('answers bad polls with RFC 6749 errors, never a 500', async () => {
    const device = await start();
    const form = (body: string) =>
      p.fetch(`${ISSUER}/oauth/token`, {
        method: 'POST',
        body,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
    const grant = `grant_type=${encodeURIComponent(DEVICE_GRANT)}&client_id=${cli.client_id}`;
    const cases: [string, string][] = [
      [`${grant}&device_code=${device.device_code}&device_code=${device.device_code}`, 'invalid_request'],
      [`${grant}&device_code=${'x'.repeat(5000)}`, 'invalid_request'],
      [`${grant}&device_code=%E2%9C%93%00%F0%9F%92%A9`, 'invalid_grant'],
      [`${grant}&device_code=`, 'invalid_request'],
      [`${grant}&device_code=%FF`, 'invalid_grant'],
    ];
    for (const [body, error] of cases) await expectOAuthError(await form(body), 400, error);
  });

  it('refuses an approval whose browser session ended, or whose user signed out everywhere', async () => {
    const loggedOut = await start();
    const { browser } = await answer(loggedOut.user_code, 'allow');
    const cookie = browser.cookies.get(REFRESH_COOKIE)!;
    expect((await p.api('/auth/logout', { json: { refresh_token: cookie } })).status).toBe(204);
    await waited(loggedOut.device_code);
    await expectOAuthError(await poll(cli, loggedOut.device_code), 400, 'invalid_grant');

    const everywhere = await start();
    const { username } = await answer(everywhere.user_code, 'allow');
    const token = (await login(username)).access_token;
    expect((await p.api('/auth/logout-all', { method: 'POST', token })).status).toBe(204);
    await waited(everywhere.device_code);
    await expectOAuthError(await poll(cli, everywhere.device_code), 400, 'invalid_grant');
  });
});

describe('DPoP at the device_code grant (RFC 9449)', () => {
  const proof = async (key: DpopKey) => ({ DPoP: await key.proof('POST', '/oauth/token') });
  /** A device allowed by a fresh user, not yet redeemed. */
  async function allowed(client: RegisteredClient) {
    const device = await start(client, { scope: 'openid offline_access' });
    await answer(device.user_code, 'allow');
    await waited(device.device_code);
    return device;
  }

  it('for a client registered with dpop_bound_access_tokens: no tokens without a proof, and the device code stays', async () => {
    const bound = await registerClient(
      p,
      {
        redirect_uris: undefined,
        grant_types: [DEVICE_GRANT, 'refresh_token'],
        token_endpoint_auth_method: 'none',
        scope: 'openid offline_access',
        dpop_bound_access_tokens: true,
      },
      admin.token,
    );
    const device = await allowed(bound);
    const refused = await expectOAuthError(await poll(bound, device.device_code), 400, 'invalid_grant');
    expect(refused.error_description).toMatch(/must send a DPoP proof/);
    const key = await dpopKey();
    const res = await poll(bound, device.device_code, {}, await proof(key));
    expect(res.status, await res.clone().text()).toBe(200);
    const tokens = (await res.json()) as TokenAnswer;
    expect(tokens.token_type).toBe('DPoP');
    expect(jwtPart(tokens.access_token, 1).cnf).toEqual({ jkt: key.jkt });
  });

  it('spends the proof with the device code: a replayed proof gets nothing, and the device code stays', async () => {
    const key = await dpopKey();
    const used = await proof(key);
    const first = await allowed(cli);
    expect((await poll(cli, first.device_code, {}, used)).status).toBe(200);
    const second = await allowed(cli);
    const replayed = await expectOAuthError(await poll(cli, second.device_code, {}, used), 400, 'invalid_dpop_proof');
    expect(replayed.error_description).toMatch(/already used/);
    expect((await poll(cli, second.device_code, {}, await proof(key))).status).toBe(200);
  });

  it('binds a public client’s refresh token to the key, as the code exchange does', async () => {
    const key = await dpopKey();
    const device = await allowed(cli);
    const tokens = (await (await poll(cli, device.device_code, {}, await proof(key))).json()) as TokenAnswer;
    const refresh = (headers: Record<string, string>) =>
      p.api(
        '/oauth/token',
        form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: cli.client_id }, headers),
      );
    await expectOAuthError(await refresh({}), 400, 'invalid_grant');
    await expectOAuthError(await refresh(await proof(await dpopKey())), 400, 'invalid_grant');
    expect((await refresh(await proof(key))).status).toBe(200);
  });
});

describe('the device page', () => {
  it('takes the code in any case, with or without the dash', async () => {
    for (const typed of [(c: string) => c.toLowerCase(), (c: string) => c.replace('-', ''), (c: string) => ` ${c} `]) {
      const device = await start();
      expect((await enterCode(new Browser(p.api), typed(device.user_code))).status).toBe(200);
    }
  });

  it('refuses a wrong or malformed code beside the Code field (invalid_user_code)', async () => {
    for (const code of ['BCDF-GHJK', 'AEIO-UY01', 'short', 'BCDF-GHJK-LMNP']) {
      const problem = await expectProblem(await enterCode(new Browser(p.api), code), 400, 'invalid_user_code');
      expect(problem.errors).toEqual([{ field: 'user_code', message: expect.any(String) }]);
    }
    await expectProblem(await new Browser(p.api).page('/oauth/interaction/device', {}), 400, 'validation_failed');
  });

  it('answers only the service’s own page (csrf_rejected)', async () => {
    const device = await start();
    const res = await new Browser(p.api).page(
      '/oauth/interaction/device',
      { user_code: device.user_code },
      { Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site' },
    );
    await expectProblem(res, 403, 'csrf_rejected');
  });

  it('shows the client and the scopes in plain words, asking even when consent was given before', async () => {
    const first = await start(cli, { scope: 'openid email' });
    const { username, consent } = await answer(first.user_code, 'allow');
    expect(consent).toMatchObject({
      client: { name: 'Example CLI' },
      user: { username },
      scopes: [
        { scope: 'openid', description: 'Sign you in with your account' },
        { scope: 'email', description: 'See your email address and whether it is verified' },
      ],
    });
    // Signed in already, and consent remembered: the page still asks.
    const again = await start(cli, { scope: 'openid email' });
    const browser = new Browser(p.api);
    await browser.login(username);
    const interaction = await interactionFor(browser, again.user_code);
    expect((await browser.next(interaction)).step).toBe('consent');
  });

  it('asks for the second factor as the sign-in page does', async () => {
    const user = await register(uniqueName('tv_mfa'));
    const { secret } = await enrolTotp((await login(user.username)).access_token);
    const device = await start();
    const browser = new Browser(p.api);
    const interaction = await interactionFor(browser, device.user_code);
    const res = await browser.page('/oauth/interaction/sign-in', {
      interaction,
      username: user.username,
      password: PASSWORD,
    });
    const challenge = await expectProblem(res, 403, 'mfa_required');
    const step = await browser.step('/oauth/interaction/verify', {
      interaction,
      mfa_token: challenge.mfa_token,
      code: await totp(secret, Date.now() + 30_000),
    });
    expect(step.step).toBe('consent');
    await browser.consent(interaction, 'allow');
    await waited(device.device_code);
    const tokens = (await (await poll(cli, device.device_code)).json()) as TokenAnswer;
    expect(jwtPart(tokens.id_token!, 1).amr).toEqual(['pwd', 'otp']);
  });

  it('counts the first answer only: a second browser with the same code gets interaction_expired', async () => {
    const device = await start();
    const late = new Browser(p.api);
    const lateInteraction = await interactionFor(late, device.user_code);
    await late.login((await register()).username);
    await answer(device.user_code, 'deny');
    const res = await late.page('/oauth/interaction/consent', { interaction: lateInteraction, decision: 'allow' });
    await expectProblem(res, 400, 'interaction_expired');
    // The answered code is spent for the page too.
    await expectProblem(await enterCode(new Browser(p.api), device.user_code), 400, 'invalid_user_code');
  });

  it('is bound to the browser that entered the code', async () => {
    const device = await start();
    const interaction = await interactionFor(new Browser(p.api), device.user_code);
    const stranger = new Browser(p.api);
    await stranger.login((await register()).username);
    await expectProblem(
      await stranger.page('/oauth/interaction/consent', { interaction, decision: 'allow' }),
      400,
      'interaction_expired',
    );
  });

  it('audits the approval, the denial and the token issue, without either code', async () => {
    const allowed = await start();
    const denied = await start();
    const { lines, raw } = await captureAudit(async () => {
      await answer(allowed.user_code, 'allow');
      await answer(denied.user_code, 'deny');
      await waited(allowed.device_code);
      expect((await poll(cli, allowed.device_code)).status).toBe(200);
    });
    const events = lines.map((l) => l.event);
    expect(events).toEqual(
      expect.arrayContaining(['oauth_device_approved', 'oauth_device_denied', 'oauth_device_token_issued']),
    );
    for (const line of lines.filter((l) => String(l.event).startsWith('oauth_device'))) {
      expect(line).toMatchObject({ client_id: cli.client_id, user_id: expect.any(String) });
    }
    for (const secret of [allowed.device_code, allowed.user_code, normalizeUserCode(allowed.user_code)!]) {
      expect(raw).not.toContain(secret);
    }
  });
});

const limited = await provider({ OAUTH_USER_CODE_IP_MAX: '3', OAUTH_USER_CODE_FAILURES_MAX: '1000' });

describe('guessing user codes', () => {
  const enterFrom = (ip: string, code: string) =>
    new Browser(limited.api).page('/oauth/interaction/device', { user_code: code }, { 'CF-Connecting-IP': ip });

  it('limits wrong codes per address, then refuses even a right one, with Retry-After', async () => {
    const device = await start();
    for (let i = 0; i < 3; i++)
      await expectProblem(await enterFrom('203.0.113.7', 'BCDF-GHJK'), 400, 'invalid_user_code');
    const refused = await enterFrom('203.0.113.7', device.user_code);
    await expectProblem(refused, 429, 'too_many_attempts');
    expect(Number(refused.headers.get('Retry-After'))).toBeGreaterThan(3000);
    // Another address is not held to it.
    expect((await enterFrom('203.0.113.8', device.user_code)).status).toBe(200);
  });

  it('gives a right code its count back: a user connecting many devices is never limited', async () => {
    for (let i = 0; i < 5; i++) {
      const device = await start();
      expect((await enterFrom('203.0.113.9', device.user_code)).status).toBe(200);
    }
  });

  it('caps wrong codes over every address together', async () => {
    const capped = await provider({ OAUTH_USER_CODE_IP_MAX: '1000', OAUTH_USER_CODE_FAILURES_MAX: '3' });
    await env.DB.prepare("DELETE FROM rate_counters WHERE key = 'oauth-user-code:all'").run();
    const from = (ip: string, code: string) =>
      new Browser(capped.api).page('/oauth/interaction/device', { user_code: code }, { 'CF-Connecting-IP': ip });
    for (let i = 0; i < 3; i++)
      await expectProblem(await from(`198.51.100.${20 + i}`, 'BCDF-GHJK'), 400, 'invalid_user_code');
    const device = await start();
    await expectProblem(await from('198.51.100.30', device.user_code), 429, 'too_many_attempts');
    await env.DB.prepare("DELETE FROM rate_counters WHERE key = 'oauth-user-code:all'").run();
  });
});

describe('cleanup', () => {
  it('deletes device authorizations expired longer than SESSION_RETENTION', async () => {
    const device = await start();
    const day = 86_400_000;
    await cleanup(env, Date.now() + day);
    const hash = await deviceCodeHash(device.device_code);
    const count = () =>
      env.DB.prepare('SELECT count(*) AS n FROM oauth_device_codes WHERE device_code_hash = ?')
        .bind(hash)
        .first<{ n: number }>();
    expect((await count())!.n).toBe(1);
    const summary = await cleanup(env, Date.now() + 8 * day);
    expect(summary.oauthDeviceCodes).toBeGreaterThan(0);
    expect((await count())!.n).toBe(0);
  });
});
