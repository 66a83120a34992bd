/**
 * RP-initiated logout: the end-session endpoint's validation (never an open redirect), the
 * confirmation step, and what Log out ends.
 */
import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { toBase64Url, utf8 } from '../src/platform/crypto';
import { appWith, expectProblem, ORIGIN, register, type Api } from './helpers';
import { Browser, newClient, REFRESH_COOKIE } from './oauth-browser';

const SIGNED_OUT = 'https://client.example.test/signed-out';
let call: Api;
let privateKey: CryptoKey;
const KID = 'test-rs256';

beforeAll(async () => {
  const pair = (await crypto.subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    true,
    ['sign', 'verify'],
  )) as CryptoKeyPair;
  privateKey = pair.privateKey;
  const jwk = { ...(await crypto.subtle.exportKey('jwk', pair.privateKey)), kid: KID, alg: 'RS256' };
  call = appWith({ JWT_PRIVATE_KEY: JSON.stringify(jwk) });
});

const part = (value: object) => toBase64Url(utf8(JSON.stringify(value)));

/** An ID token as the service signs one (RS256, its kid), with `claims` over the defaults. */
async function idToken(claims: Record<string, unknown>, key = privateKey, kid = KID) {
  const unsigned = `${part({ alg: 'RS256', typ: 'JWT', kid })}.${part({ iss: ORIGIN, iat: 1, exp: 2, ...claims })}`;
  const signature = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', key, utf8(unsigned));
  return `${unsigned}.${toBase64Url(signature)}`;
}

async function endSession(browser: Browser, params: Record<string, string>) {
  return browser.navigate(`/oauth/logout?${new URLSearchParams(params)}`);
}

/** Follows a valid logout request to its confirmation page; returns the interaction id. */
async function confirmPage(browser: Browser, params: Record<string, string>) {
  const res = await endSession(browser, params);
  expect(res.status, await res.clone().text()).toBe(303);
  const location = new URL(res.headers.get('Location')!, ORIGIN);
  expect(location.pathname).toBe('/oauth/confirm-logout');
  return location.searchParams.get('interaction')!;
}

async function expectErrorPage(res: Response, text: RegExp) {
  expect(res.status).toBe(400);
  expect(res.headers.get('Location')).toBeNull();
  expect(res.headers.get('Content-Type')).toMatch(/^text\/html/);
  expect(await res.text()).toMatch(text);
}

const sessionRevoked = async (userId: string) =>
  (await env.DB.prepare('SELECT revoked_at FROM sessions WHERE user_id = ? AND client_id IS NULL').bind(userId).first<{
    revoked_at: number | null;
  }>())!.revoked_at !== null;

describe('the end-session endpoint', () => {
  it('asks first, then ends the browser’s session and returns to the registered URI with the state', async () => {
    const user = await register();
    const { clientId } = await newClient({ client_name: 'Photo Printer' });
    const browser = new Browser(call);
    await browser.login(user.username);
    const hint = await idToken({ sub: user.id, aud: clientId });
    const interaction = await confirmPage(browser, {
      id_token_hint: hint,
      post_logout_redirect_uri: SIGNED_OUT,
      state: 's-1',
    });
    expect(await sessionRevoked(user.id)).toBe(false);

    const info = await browser.page('/oauth/interaction/logout/next', { interaction });
    expect(await info.json()).toEqual({ client: { name: 'Photo Printer' }, username: user.username });
    const res = await browser.page('/oauth/interaction/logout', { interaction, decision: 'logout' });
    expect(await res.json()).toEqual({ redirect_to: `${SIGNED_OUT}?state=s-1` });
    expect(await sessionRevoked(user.id)).toBe(true);
    expect(browser.cookies.has(REFRESH_COOKIE)).toBe(false);
    // Spent: a second click does nothing more.
    await expectProblem(
      await browser.page('/oauth/interaction/logout', { interaction, decision: 'logout' }),
      400,
      'interaction_expired',
    );
  });

  it('Stay signed in ends nothing and still returns with the state', async () => {
    const user = await register();
    const { clientId } = await newClient();
    const browser = new Browser(call);
    await browser.login(user.username);
    const interaction = await confirmPage(browser, {
      client_id: clientId,
      post_logout_redirect_uri: SIGNED_OUT,
      state: 's-2',
    });
    const res = await browser.page('/oauth/interaction/logout', { interaction, decision: 'stay' });
    expect(await res.json()).toEqual({ redirect_to: `${SIGNED_OUT}?state=s-2` });
    expect(await sessionRevoked(user.id)).toBe(false);
  });

  it('accepts an expired ID token as the hint (the spec asks it to)', async () => {
    const user = await register();
    const { clientId } = await newClient();
    const hint = await idToken({ sub: user.id, aud: clientId, exp: 1 });
    expect(
      await confirmPage(new Browser(call), { id_token_hint: hint, post_logout_redirect_uri: SIGNED_OUT }),
    ).toBeTruthy();
  });

  it('without a redirect URI, ends with the page', async () => {
    const user = await register();
    const browser = new Browser(call);
    await browser.login(user.username);
    const interaction = await confirmPage(browser, {});
    const res = await browser.page('/oauth/interaction/logout', { interaction, decision: 'logout' });
    expect(await res.json()).toEqual({});
    expect(await sessionRevoked(user.id)).toBe(true);
  });

  it('ends the session the ID token names as well, when it is that user’s', async () => {
    const user = await register();
    const other = await register();
    const { clientId } = await newClient();
    const elsewhere = new Browser(call);
    await elsewhere.login(user.username);
    const sid = (await env.DB.prepare('SELECT id FROM sessions WHERE user_id = ?')
      .bind(user.id)
      .first<{ id: string }>())!.id;
    const otherBrowser = new Browser(call);
    await otherBrowser.login(other.username);
    const otherSid = (await env.DB.prepare('SELECT id FROM sessions WHERE user_id = ?')
      .bind(other.id)
      .first<{ id: string }>())!.id;

    // A hint naming someone else's session ends nothing of theirs.
    const forged = await idToken({ sub: user.id, aud: clientId, sid: otherSid });
    const third = new Browser(call);
    const first = await confirmPage(third, { id_token_hint: forged });
    const done = await third.page('/oauth/interaction/logout', { interaction: first, decision: 'logout' });
    expect(done.status).toBe(200);
    expect(await sessionRevoked(other.id)).toBe(false);
    const browser = new Browser(call);
    const interaction = await confirmPage(browser, {
      id_token_hint: await idToken({ sub: user.id, aud: clientId, sid }),
    });
    await browser.page('/oauth/interaction/logout', { interaction, decision: 'logout' });
    expect(await sessionRevoked(user.id)).toBe(true);
    expect(await sessionRevoked(other.id)).toBe(false);
  });

  describe('refuses with a page, never a redirect', () => {
    it('a post_logout_redirect_uri that is not registered for the client', async () => {
      const { clientId } = await newClient();
      for (const uri of ['https://evil.example.test/', 'https://client.example.test/callback', `${SIGNED_OUT}/x`]) {
        const res = await endSession(new Browser(call), {
          client_id: clientId,
          post_logout_redirect_uri: uri,
          state: 's',
        });
        await expectErrorPage(res, /not registered/);
      }
    });

    it('a post_logout_redirect_uri without a client to check it against', async () => {
      await expectErrorPage(
        await endSession(new Browser(call), { post_logout_redirect_uri: SIGNED_OUT }),
        /application/,
      );
    });

    it('an ID token this service did not sign, or signed for another issuer', async () => {
      const { clientId } = await newClient();
      const stranger = (await crypto.subtle.generateKey(
        { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
        false,
        ['sign', 'verify'],
      )) as CryptoKeyPair;
      for (const hint of [
        await idToken({ sub: 'u', aud: clientId }, stranger.privateKey),
        await idToken({ sub: 'u', aud: clientId, iss: 'https://other.example.test' }),
        'not.a.token',
      ]) {
        const res = await endSession(new Browser(call), { id_token_hint: hint, post_logout_redirect_uri: SIGNED_OUT });
        await expectErrorPage(res, /did not issue/);
      }
    });

    it('a client_id that is not the one the ID token was issued to', async () => {
      const { clientId } = await newClient();
      const other = await newClient();
      const hint = await idToken({ sub: 'u', aud: clientId });
      const res = await endSession(new Browser(call), {
        id_token_hint: hint,
        client_id: other.clientId,
        post_logout_redirect_uri: SIGNED_OUT,
      });
      await expectErrorPage(res, /client_id/);
    });
  });

  it('the confirmation answers only its own page, in the browser that started it', async () => {
    const user = await register();
    const browser = new Browser(call);
    await browser.login(user.username);
    const interaction = await confirmPage(browser, {});
    const evil = await browser.page(
      '/oauth/interaction/logout',
      { interaction, decision: 'logout' },
      { Origin: 'https://evil.example.test' },
    );
    await expectProblem(evil, 403, 'csrf_rejected');
    const stranger = new Browser(call);
    await expectProblem(
      await stranger.page('/oauth/interaction/logout', { interaction, decision: 'logout' }),
      400,
      'interaction_expired',
    );
    expect(await sessionRevoked(user.id)).toBe(false);
  });
});
