/**
 * Browser mode: the refresh token in an HttpOnly cookie, the Origin check that keeps other
 * sites from riding on it, and CORS for the origins listed in CORS_ORIGINS.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, appWith, expectProblem, ORIGIN, PASSWORD, register, uniqueName, type Tokens } from './helpers';

const COOKIE = '__Host-edge-auth-refresh';
const LEGACY_COOKIE = '__Secure-edge-auth-refresh';
const SPA = 'https://app.example.test';
const T0 = Date.UTC(2030, 0, 15, 12, 0, 0);

afterEach(() => {
  vi.useRealTimers();
});

type SetCookie = { name: string; value: string; attributes: Map<string, string> };

function parseSetCookie(header: string): SetCookie {
  const [pair = '', ...attributes] = header.split(';').map((part) => part.trim());
  const eq = pair.indexOf('=');
  return {
    name: pair.slice(0, eq),
    value: pair.slice(eq + 1),
    attributes: new Map(
      attributes.map((a) => {
        const i = a.indexOf('=');
        return i < 0 ? [a.toLowerCase(), ''] : [a.slice(0, i).toLowerCase(), a.slice(i + 1)];
      }),
    ),
  };
}

/** The refresh cookie a response sets; fails the test if there is not exactly one. */
function refreshCookie(res: Response): SetCookie {
  const cookies = res.headers
    .getSetCookie()
    .map(parseSetCookie)
    .filter((c) => c.name === COOKIE);
  expect(cookies).toHaveLength(1);
  return cookies[0]!;
}

function isCleared(cookie: SetCookie): boolean {
  const expires = cookie.attributes.get('expires');
  return cookie.attributes.get('max-age') === '0' || (expires !== undefined && Date.parse(expires) <= Date.now());
}

async function cookieLogin(): Promise<{ cookie: string; body: Record<string, unknown> }> {
  const user = await register(uniqueName('browser'));
  const res = await api('/auth/login', {
    json: { username: user.username, password: PASSWORD, refresh_token_delivery: 'cookie' },
  });
  expect(res.status).toBe(200);
  return { cookie: refreshCookie(res).value, body: (await res.json()) as Record<string, unknown> };
}

const withCookie = (cookie: string, origin?: string): Record<string, string> => ({
  Cookie: `${COOKIE}=${cookie}`,
  ...(origin === undefined ? {} : { Origin: origin }),
});

const cookieRefresh = (cookie: string, origin?: string) =>
  api('/auth/refresh', { method: 'POST', headers: withCookie(cookie, origin) });

describe('refresh tokens delivered as a cookie', () => {
  describe('login with refresh_token_delivery: "cookie"', () => {
    it('sets a __Host- cookie: HttpOnly, Secure, SameSite=Strict, Path=/, no Domain, nothing else', async () => {
      const user = await register(uniqueName('browser'));
      const res = await api('/auth/login', {
        json: { username: user.username, password: PASSWORD, refresh_token_delivery: 'cookie' },
      });
      expect(res.status).toBe(200);
      const cookie = refreshCookie(res);
      expect(cookie.value).toMatch(/^[A-Za-z0-9_-]{43,}$/);
      // The complete attribute set: a Domain (or a Path other than /) would void the __Host- prefix.
      expect(Object.fromEntries(cookie.attributes)).toEqual({
        httponly: '',
        secure: '',
        samesite: 'Strict',
        path: '/',
        'max-age': '2592000',
      });
    });

    it('clears the old __Secure- cookie (Path=/auth) that earlier versions set', async () => {
      const user = await register(uniqueName('browser'));
      const res = await api('/auth/login', {
        json: { username: user.username, password: PASSWORD, refresh_token_delivery: 'cookie' },
      });
      const legacy = res.headers
        .getSetCookie()
        .map(parseSetCookie)
        .filter((c) => c.name === LEGACY_COOKIE);
      expect(legacy).toHaveLength(1);
      expect(isCleared(legacy[0]!)).toBe(true);
      expect(legacy[0]!.attributes.get('path')).toBe('/auth');
      expect(legacy[0]!.attributes.has('secure')).toBe(true);
    });

    it('does not honour a refresh token in the old __Secure- cookie (a sibling subdomain could have tossed it)', async () => {
      const { cookie } = await cookieLogin();
      const res = await api('/auth/refresh', {
        method: 'POST',
        headers: { Cookie: `${LEGACY_COOKIE}=${cookie}`, Origin: ORIGIN },
      });
      await expectProblem(res, 401, 'invalid_refresh_token');
    });

    it('leaves the refresh token out of the body, which still has the access token', async () => {
      const { body } = await cookieLogin();
      expect(body).not.toHaveProperty('refresh_token');
      expect(body).toMatchObject({
        token_type: 'Bearer',
        access_token: expect.any(String),
        refresh_expires_in: 2592000,
      });
      expect((await api('/auth/me', { token: body.access_token as string })).status).toBe(200);
    });

    it('is not the default: a plain login sets no cookie', async () => {
      const user = await register(uniqueName('browser'));
      const res = await api('/auth/login', { json: { username: user.username, password: PASSWORD } });
      expect(res.status).toBe(200);
      expect(res.headers.getSetCookie().filter((c) => c.startsWith(`${COOKIE}=`))).toEqual([]);
    });
  });

  describe('POST /auth/refresh with only the cookie', () => {
    describe("from the service's own Origin", () => {
      it('answers 200 with a new cookie and a working access token, and no refresh token in the body', async () => {
        const { cookie } = await cookieLogin();
        const res = await cookieRefresh(cookie, ORIGIN);
        expect(res.status).toBe(200);
        const next = refreshCookie(res);
        expect(next.value).toMatch(/^[A-Za-z0-9_-]{43,}$/);
        expect(next.value).not.toBe(cookie);
        expect(next.attributes.has('httponly')).toBe(true);
        expect(next.attributes.get('path')).toBe('/');
        const body = (await res.json()) as Tokens;
        expect(body).not.toHaveProperty('refresh_token');
        expect((await api('/auth/me', { token: body.access_token })).status).toBe(200);
        // The new cookie carries on the chain.
        expect((await cookieRefresh(next.value, ORIGIN)).status).toBe(200);
      });

      it('works with an empty JSON body too', async () => {
        const { cookie } = await cookieLogin();
        const res = await api('/auth/refresh', { json: {}, headers: withCookie(cookie, ORIGIN) });
        expect(res.status).toBe(200);
        expect(refreshCookie(res).value).not.toBe(cookie);
      });
    });

    describe.each([
      ['no Origin', undefined],
      ['a foreign Origin', 'https://evil.example'],
      ['Origin "null" (sandboxed or privacy-sensitive contexts)', 'null'],
      ['the own host over http', 'http://auth.example.test'],
      ['a look-alike host with the own host as a prefix', 'https://auth.example.test.evil.example'],
    ])('from %s', (_label, origin) => {
      it('is refused with 403 csrf_rejected, and the cookie still works from an allowed Origin', async () => {
        const { cookie } = await cookieLogin();
        await expectProblem(await cookieRefresh(cookie, origin), 403, 'csrf_rejected');
        expect((await cookieRefresh(cookie, ORIGIN)).status).toBe(200);
      });
    });

    describe('from an origin listed in CORS_ORIGINS', () => {
      it('answers 200 with a new cookie and the CORS headers for that origin', async () => {
        const app = appWith({ CORS_ORIGINS: `${SPA} https://admin.example.test` });
        const { cookie } = await cookieLogin();
        const res = await app('/auth/refresh', { method: 'POST', headers: withCookie(cookie, SPA) });
        expect(res.status).toBe(200);
        expect(refreshCookie(res).value).not.toBe(cookie);
        expect(res.headers.get('Access-Control-Allow-Origin')).toBe(SPA);
        expect(res.headers.get('Access-Control-Allow-Credentials')).toBe('true');
      });

      it('is refused with 403 csrf_rejected from an origin that is not listed', async () => {
        const app = appWith({ CORS_ORIGINS: SPA });
        const { cookie } = await cookieLogin();
        const res = await app('/auth/refresh', { method: 'POST', headers: withCookie(cookie, 'https://evil.example') });
        await expectProblem(res, 403, 'csrf_rejected');
      });
    });

    describe('when a rotated cookie comes back after the grace window', () => {
      it('answers 401 refresh_token_reused, clears the cookie, and the newer cookie stops working', async () => {
        vi.useFakeTimers({ toFake: ['Date'] });
        vi.setSystemTime(T0);
        const { cookie } = await cookieLogin();
        const rotated = await cookieRefresh(cookie, ORIGIN);
        expect(rotated.status).toBe(200);
        const newer = refreshCookie(rotated).value;

        vi.setSystemTime(T0 + 11_000);
        const reused = await cookieRefresh(cookie, ORIGIN);
        await expectProblem(reused, 401, 'refresh_token_reused');
        expect(isCleared(refreshCookie(reused))).toBe(true);
        await expectProblem(await cookieRefresh(newer, ORIGIN), 401, 'invalid_refresh_token');
      });
    });
  });

  describe('POST /auth/logout with the cookie', () => {
    it("answers 204, clears the cookie, and neither the token nor the session's access token works any more", async () => {
      const { cookie, body } = await cookieLogin();
      const res = await api('/auth/logout', { method: 'POST', headers: withCookie(cookie, ORIGIN) });
      expect(res.status).toBe(204);
      const cleared = refreshCookie(res);
      expect(isCleared(cleared)).toBe(true);
      expect(cleared.value).toBe('');
      // A browser only replaces the cookie if name, path and the Secure prefix rules match.
      expect(cleared.attributes.get('path')).toBe('/');
      expect(cleared.attributes.has('secure')).toBe(true);
      expect(cleared.attributes.has('domain')).toBe(false);
      await expectProblem(await cookieRefresh(cookie, ORIGIN), 401, 'invalid_refresh_token');
      await expectProblem(await api('/auth/me', { token: body.access_token as string }), 401, 'invalid_token');
    });

    it('is refused with 403 csrf_rejected from a foreign Origin, and the session survives', async () => {
      const { cookie } = await cookieLogin();
      const res = await api('/auth/logout', { method: 'POST', headers: withCookie(cookie, 'https://evil.example') });
      await expectProblem(res, 403, 'csrf_rejected');
      expect((await cookieRefresh(cookie, ORIGIN)).status).toBe(200);
    });
  });
});

describe('POST /auth/logout-all in a browser', () => {
  it('clears the refresh cookie too', async () => {
    const { cookie, body } = await cookieLogin();
    const res = await api('/auth/logout-all', {
      method: 'POST',
      headers: { ...withCookie(cookie, ORIGIN), Authorization: `Bearer ${body.access_token as string}` },
    });
    expect(res.status).toBe(204);
    expect(isCleared(refreshCookie(res))).toBe(true);
    await expectProblem(await cookieRefresh(cookie, ORIGIN), 401, 'invalid_refresh_token');
  });
});

describe('CORS', () => {
  const preflight = (origin: string, path = '/auth/refresh') => ({
    method: 'OPTIONS',
    headers: {
      Origin: origin,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'content-type',
    },
    path,
  });

  describe('with no CORS_ORIGINS (the default)', () => {
    it('gives a preflight from another origin no Access-Control-Allow-Origin', async () => {
      const { path, ...init } = preflight('https://evil.example');
      const res = await api(path, init);
      expect(res.headers.get('Access-Control-Allow-Origin')).toBeNull();
    });

    it('gives a request from another origin no Access-Control-Allow-Origin', async () => {
      const res = await api('/health', { headers: { Origin: 'https://evil.example' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('Access-Control-Allow-Origin')).toBeNull();
    });
  });

  describe('with CORS_ORIGINS set', () => {
    const app = appWith({ CORS_ORIGINS: `${SPA}, https://admin.example.test` });

    it('answers a preflight from a listed origin with exactly that origin and credentials', async () => {
      const { path, ...init } = preflight(SPA);
      const res = await app(path, init);
      expect(res.status).toBeGreaterThanOrEqual(200);
      expect(res.status).toBeLessThan(300);
      expect(res.headers.get('Access-Control-Allow-Origin')).toBe(SPA);
      expect(res.headers.get('Access-Control-Allow-Credentials')).toBe('true');
      expect(res.headers.get('Access-Control-Allow-Methods')?.split(',').sort()).toEqual([
        'DELETE',
        'GET',
        'PATCH',
        'POST',
      ]);
      // DPoP: the proof header goes out with DPoP-bound calls (RFC 9449).
      expect(res.headers.get('Access-Control-Allow-Headers')?.toLowerCase().split(',').sort()).toEqual([
        'authorization',
        'content-type',
        'dpop',
      ]);
      expect(res.headers.get('Access-Control-Max-Age')).toBe('600');
      // Caches must not serve one origin's answer to another.
      expect(res.headers.get('Vary')).toMatch(/\bOrigin\b/);
    });

    it('answers requests from each listed origin with exactly that origin', async () => {
      for (const origin of [SPA, 'https://admin.example.test']) {
        const res = await app('/health', { headers: { Origin: origin } });
        expect(res.status).toBe(200);
        expect(res.headers.get('Access-Control-Allow-Origin')).toBe(origin);
        expect(res.headers.get('Access-Control-Allow-Credentials')).toBe('true');
        expect(res.headers.get('Vary')).toMatch(/\bOrigin\b/);
      }
    });

    it('keeps the CORS headers on error responses, so the listed origin can read the problem', async () => {
      const res = await app('/auth/refresh', { json: { refresh_token: 'not-a-token' }, headers: { Origin: SPA } });
      await expectProblem(res, 401, 'invalid_refresh_token');
      expect(res.headers.get('Access-Control-Allow-Origin')).toBe(SPA);
    });

    it.each([
      'https://evil.example',
      'http://app.example.test',
      'https://app.example.test.evil.example',
      'https://evil-app.example.test',
      'null',
    ])('gives %s no Access-Control-Allow-Origin, on preflights and requests', async (origin) => {
      const { path, ...init } = preflight(origin);
      const responses = [await app(path, init), await app('/health', { headers: { Origin: origin } })];
      for (const res of responses) {
        expect(res.headers.get('Access-Control-Allow-Origin')).toBeNull();
      }
    });
  });
});
