/**
 * edge-auth/client against the real Worker in workerd: the client's fetch is the Worker's
 * own (exports.default.fetch), so every answer, token and cookie is the service's real one.
 * Each fetch is recorded, which is how the tests count refreshes and retries.
 */
import { exports } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createEdgeAuthClient,
  EdgeAuthError,
  unwrap,
  type EdgeAuthClientOptions,
  type User,
} from '../client/src/index';
import { ORIGIN, PASSWORD, api, enrolTotp, promote, register, signedIn, uniqueName } from './helpers';
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { createApp } from '../src/http/app';
import { dpopKey } from './dpop';
import { decodePart } from './jwt';

/**
 * The part of IndexedDB the client uses, in memory: a CryptoKeyPair is kept as the object it
 * is, as structured cloning keeps a non-extractable key. One call is one browser profile.
 */
function fakeIndexedDb() {
  const stores = new Map<string, Map<string, unknown>>();
  const request = <T>(produce: () => T) => {
    const req: { result?: T; error?: unknown; onsuccess?: () => void; onerror?: () => void } = {};
    queueMicrotask(() => {
      try {
        req.result = produce();
        req.onsuccess?.();
      } catch (err) {
        req.error = err;
        req.onerror?.();
      }
    });
    return req;
  };
  return {
    open(name: string) {
      const req: Record<string, unknown> & { onupgradeneeded?: () => void; onsuccess?: () => void } = {};
      const db = {
        createObjectStore: (store: string) => stores.set(`${name}/${store}`, new Map()),
        transaction: (store: string) => ({
          objectStore: () => {
            const map = stores.get(`${name}/${store}`)!;
            return {
              get: (key: string) => request(() => map.get(key)),
              add: (value: unknown, key: string) =>
                request(() => {
                  if (map.has(key)) throw new Error('ConstraintError');
                  map.set(key, value);
                  return key;
                }),
            };
          },
        }),
        close: () => {},
      };
      queueMicrotask(() => {
        req.result = db;
        if (![...stores.keys()].some((k) => k.startsWith(`${name}/`))) req.onupgradeneeded?.();
        req.onsuccess?.();
      });
      return req;
    },
  };
}

/** The Worker as the client's fetch, recording `METHOD /path` of each request. */
function recordingFetch(prepare: (request: Request) => Request = (r) => r) {
  const calls: string[] = [];
  const fetch = async (request: Request) => {
    calls.push(`${request.method} ${new URL(request.url).pathname}`);
    return exports.default.fetch(prepare(request));
  };
  return { fetch, calls, count: (call: string) => calls.filter((c) => c === call).length };
}

/**
 * What a browser adds in cookie mode: the page's Origin on every request, and a cookie jar
 * that stores Set-Cookie answers and sends them back. Tabs and reloads share one jar.
 */
function browser(jar = new Map<string, string>()) {
  const recording = recordingFetch((request) => {
    const headers = new Headers(request.headers);
    headers.set('Origin', ORIGIN);
    if (jar.size) headers.set('Cookie', [...jar].map(([name, value]) => `${name}=${value}`).join('; '));
    return new Request(request, { headers });
  });
  const fetch = async (request: Request) => {
    const res = await recording.fetch(request);
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      if (value === '' || /max-age=0\b/i.test(line)) jar.delete(name.trim());
      else jar.set(name.trim(), value);
    }
    return res;
  };
  return { ...recording, fetch, jar };
}

const client = (fetch: (request: Request) => Promise<Response>, options: Partial<EdgeAuthClientOptions> = {}) =>
  createEdgeAuthClient({ baseUrl: ORIGIN, refreshTokenDelivery: 'body', fetch, ...options });

/** Kills every access token of the user but keeps the caller's session (and its refresh token). */
async function invalidateAccessTokens(auth: ReturnType<typeof client>) {
  const { response } = await auth.api.POST('/auth/password', {
    body: { current_password: PASSWORD, new_password: `${PASSWORD}-2` },
  });
  expect(response.status).toBe(204);
  const stale = await api('/auth/me', { token: auth.accessToken! });
  expect(stale.status).toBe(401);
}

afterEach(() => {
  vi.useRealTimers();
});

/**
 * The token of a login's `mfa_required`, found the way the README shows. Type-checked by
 * `npm run typecheck`: it compiles only while `problem` narrows on `code` (then `mfa_token` is
 * a string), and the @ts-expect-error fails the build if other codes claim one too.
 */
function mfaTokenOf(err: unknown): string | null {
  if (!(err instanceof EdgeAuthError)) return null;
  if (err.problem.code === 'mfa_required') {
    const token: string = err.problem.mfa_token;
    const expiresIn: number = err.problem.mfa_token_expires_in;
    return expiresIn > 0 ? token : null;
  }
  // @ts-expect-error: only mfa_required carries an mfa_token
  const none: string = err.problem.mfa_token;
  return none ?? null;
}

describe('edge-auth/client', () => {
  describe('register and login', () => {
    it('registers without signing in, then logs in and calls a protected route with the token', async () => {
      const { fetch } = recordingFetch();
      const auth = client(fetch);
      const username = uniqueName('client');

      const registered = await auth.register({ username, password: PASSWORD });
      expect(registered.user).toMatchObject({ username, role: 'user' });
      expect(auth.user).toBeNull();

      const { data: anonymous, response: denied } = await auth.api.GET('/auth/protected');
      expect(anonymous).toBeUndefined();
      expect(denied.status).toBe(401);

      const { user } = await auth.login({ username, password: PASSWORD });
      expect(user).toEqual(registered.user);
      expect(auth.user).toEqual(user);
      const { data, error } = await auth.api.GET('/auth/protected');
      expect(error).toBeUndefined();
      expect(data).toEqual({ message: `Hello, ${username}!`, user });
    });

    it('throws EdgeAuthError carrying the whole problem document', async () => {
      const { fetch } = recordingFetch();
      const auth = client(fetch);
      const { username } = await register();

      const taken = await auth.register({ username, password: PASSWORD }).catch((e: unknown) => e);
      expect(taken).toBeInstanceOf(EdgeAuthError);
      expect(taken).toMatchObject({ name: 'EdgeAuthError', status: 409, code: 'username_taken' });
      expect((taken as EdgeAuthError).problem).toMatchObject({
        status: 409,
        code: 'username_taken',
        title: expect.any(String),
        detail: expect.any(String),
        request_id: expect.any(String),
      });
      expect((taken as EdgeAuthError).message).toBe((taken as EdgeAuthError).problem.detail);

      const wrong = await auth.login({ username, password: 'not-the-password' }).catch((e: unknown) => e);
      expect(wrong).toMatchObject({ name: 'EdgeAuthError', status: 401, code: 'invalid_credentials' });
      expect(auth.user).toBeNull();

      const invalid = await auth.register({ username: 'x', password: PASSWORD }).catch((e: unknown) => e);
      expect((invalid as EdgeAuthError).problem.errors).toEqual([
        expect.objectContaining({ field: 'username', message: expect.any(String) }),
      ]);
    });

    it('completes a two-factor login: mfa_required carries the mfa_token, verifyMfa keeps the tokens', async () => {
      const { user: registered, token } = await signedIn('client2fa');
      const { recoveryCodes } = await enrolTotp(token);
      for (const delivery of ['body', 'cookie'] as const) {
        const jarred = browser();
        const auth = client(jarred.fetch, { refreshTokenDelivery: delivery });
        const required = await auth
          .login({ username: registered.username, password: PASSWORD })
          .catch((e: unknown) => e);
        expect(required).toMatchObject({ name: 'EdgeAuthError', status: 403, code: 'mfa_required' });
        expect(auth.user).toBeNull();
        const mfa_token = mfaTokenOf(required)!;
        expect(mfa_token).toEqual(expect.any(String));
        const wrong = await auth.verifyMfa({ mfa_token, recovery_code: 'ZZZZ-ZZZZ-ZZZZ' }).catch((e: unknown) => e);
        expect(wrong).toMatchObject({ status: 401, code: 'invalid_mfa_code' });
        const recovery_code = delivery === 'body' ? recoveryCodes[0]! : recoveryCodes[1]!;
        const { user } = await auth.verifyMfa({ mfa_token, recovery_code });
        expect(user).toMatchObject({ id: registered.id, mfa_enabled: true });
        expect(auth.user).toEqual(user);
        expect((await auth.api.GET('/auth/me')).response.status).toBe(200);
        expect(await auth.refresh()).toEqual(user);
        expect(jarred.jar.size > 0).toBe(delivery === 'cookie');
      }
    });

    it('turns an answer that is not a problem document into EdgeAuthError `unexpected_response`', async () => {
      const auth = client(async () => new Response('<h1>Bad gateway</h1>', { status: 502, statusText: 'Bad Gateway' }));
      const err = await auth.login({ username: 'alice', password: PASSWORD }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EdgeAuthError);
      expect(err).toMatchObject({ status: 502, code: 'unexpected_response' });
    });
  });

  describe('unwrap()', () => {
    it('resolves to the data of a success, undefined for a 204, and works on a settled result too', async () => {
      const { fetch } = recordingFetch();
      const auth = client(fetch);
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });

      const me: { user: User } = await unwrap(auth.api.GET('/auth/me'));
      expect(me.user.username).toBe(username);
      const { sessions } = await unwrap(await auth.api.GET('/auth/sessions'));
      expect(sessions).toHaveLength(1);
      const changed = await unwrap(
        auth.api.POST('/auth/password', { body: { current_password: PASSWORD, new_password: `${PASSWORD}-2` } }),
      );
      expect(changed).toBeUndefined();
      // @ts-expect-error: the data is typed by the route (a user, not a string)
      const wrong: string = await unwrap(auth.api.GET('/auth/me'));
      expect(typeof wrong).toBe('object');
    });

    it('throws EdgeAuthError with the problem document of an error answer', async () => {
      const { fetch } = recordingFetch();
      const auth = client(fetch);
      const { username } = await register();

      const anonymous = await unwrap(auth.api.GET('/auth/me')).catch((e: unknown) => e);
      expect(anonymous).toBeInstanceOf(EdgeAuthError);
      expect(anonymous).toMatchObject({ status: 401, code: 'unauthorized', problem: { status: 401 } });

      await auth.login({ username, password: PASSWORD });
      const notAdmin = await unwrap(auth.api.GET('/admin/users')).catch((e: unknown) => e);
      expect(notAdmin).toMatchObject({ name: 'EdgeAuthError', status: 403, code: 'forbidden' });

      const invalid = await unwrap(
        auth.api.POST('/auth/password', { body: { current_password: PASSWORD, new_password: 'short' } }),
      ).catch((e: unknown) => e);
      expect(invalid).toMatchObject({ status: 400, code: 'validation_failed' });
      expect((invalid as EdgeAuthError).problem.errors).toEqual([
        expect.objectContaining({ field: 'new_password', message: expect.any(String) }),
      ]);
      expect((invalid as EdgeAuthError).message).toBe((invalid as EdgeAuthError).problem.detail);
    });

    it('throws `unexpected_response` for an error answer that is not a problem document, even an empty one', async () => {
      for (const answer of [
        new Response('<h1>Bad gateway</h1>', { status: 502, statusText: 'Bad Gateway' }),
        new Response(null, { status: 503 }),
      ]) {
        const auth = client(async () => answer);
        const err = await unwrap(auth.api.GET('/health')).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(EdgeAuthError);
        expect(err).toMatchObject({ status: answer.status, code: 'unexpected_response' });
      }
    });
  });

  describe('refresh on 401 invalid_token', () => {
    it('refreshes once and retries the call once, body included', async () => {
      const { fetch, count } = recordingFetch();
      const auth = client(fetch);
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });
      await invalidateAccessTokens(auth);
      const dead = auth.accessToken;

      const { data, response } = await auth.api.GET('/auth/me');
      expect(response.status).toBe(200);
      expect(data?.user.username).toBe(username);
      expect(count('POST /auth/refresh')).toBe(1);
      expect(count('GET /auth/me')).toBe(2);
      expect(auth.accessToken).not.toBe(dead);
    });

    it('retries a call with a body, body included', async () => {
      const { fetch, count } = recordingFetch();
      const auth = client(fetch);
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });
      await invalidateAccessTokens(auth); // The password is now `${PASSWORD}-2`.

      const { response } = await auth.api.POST('/auth/password', {
        body: { current_password: `${PASSWORD}-2`, new_password: `${PASSWORD}-3` },
      });
      expect(response.status).toBe(204);
      expect(count('POST /auth/refresh')).toBe(1);
      expect(count('POST /auth/password')).toBe(3);
      await client(recordingFetch().fetch).login({ username, password: `${PASSWORD}-3` });
    });

    it('shares one refresh among parallel calls that all meet the dead token, and retries each once', async () => {
      const { fetch, count } = recordingFetch();
      const auth = client(fetch);
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });
      await invalidateAccessTokens(auth);

      const results = await Promise.all(Array.from({ length: 8 }, () => auth.api.GET('/auth/protected')));
      expect(results.map((r) => r.response.status)).toEqual(Array(8).fill(200));
      expect(count('POST /auth/refresh')).toBe(1);
      expect(count('GET /auth/protected')).toBe(16);
    });

    it('shares one refresh among parallel refresh() calls', async () => {
      const { fetch, count } = recordingFetch();
      const auth = client(fetch);
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });
      const users = await Promise.all([auth.refresh(), auth.refresh(), auth.refresh()]);
      expect(users.map((u) => u?.username)).toEqual([username, username, username]);
      expect(count('POST /auth/refresh')).toBe(1);
    });

    it('signs out, without looping, when the session itself is gone', async () => {
      const { fetch, count } = recordingFetch();
      const auth = client(fetch);
      const other = client(recordingFetch().fetch);
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });
      await other.login({ username, password: PASSWORD });
      const changes: (User | null)[] = [];
      auth.onChange((user) => changes.push(user));

      await other.logoutAll();
      const { error, response } = await auth.api.GET('/auth/me');
      expect(response.status).toBe(401);
      expect(error).toMatchObject({ code: 'invalid_token' });
      expect(count('POST /auth/refresh')).toBe(1);
      expect(count('GET /auth/me')).toBe(1);
      expect(auth.user).toBeNull();
      expect(auth.accessToken).toBeNull();
      expect(changes).toEqual([null]);
    });

    it('does not refresh on other 401s or on 403', async () => {
      const { fetch, count } = recordingFetch();
      const auth = client(fetch);
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });

      const { response: forbidden } = await auth.api.GET('/admin/users');
      expect(forbidden.status).toBe(403);
      const { response: wrong } = await auth.api.POST('/auth/password', {
        body: { current_password: 'not-the-password', new_password: `${PASSWORD}-2` },
      });
      expect(wrong.status).toBe(401);
      expect(count('POST /auth/refresh')).toBe(0);
    });

    it('refreshes before sending when the access token is known to have expired', async () => {
      const { fetch, count } = recordingFetch();
      const auth = client(fetch, { autoRefresh: false });
      const { username } = await register();
      const { user } = await auth.login({ username, password: PASSWORD });
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 16 * 60_000); // ACCESS_TOKEN_TTL is 15 minutes.

      const { data } = await auth.api.GET('/auth/me');
      expect(data?.user).toEqual(user);
      expect(count('POST /auth/refresh')).toBe(1);
      expect(count('GET /auth/me')).toBe(1);
    });
  });

  describe('scheduled refresh', () => {
    it('refreshes ahead of expiry, and logout stops the timer', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const { fetch, count } = recordingFetch();
      const stored: (string | null)[] = [];
      const auth = client(fetch, { onRefreshToken: (token) => stored.push(token) });
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });
      expect(vi.getTimerCount()).toBe(1);

      await vi.advanceTimersByTimeAsync(13 * 60_000);
      expect(count('POST /auth/refresh')).toBe(0);
      await vi.advanceTimersByTimeAsync(60_000); // 14 minutes: one minute before the 15-minute expiry.
      await vi.waitFor(() => expect(count('POST /auth/refresh')).toBe(1));
      await vi.waitFor(() => expect(stored).toHaveLength(2)); // Rotated.
      expect(vi.getTimerCount()).toBe(1); // The next one.

      await auth.logout();
      expect(vi.getTimerCount()).toBe(0);
      await vi.advanceTimersByTimeAsync(60 * 60_000);
      expect(count('POST /auth/refresh')).toBe(1);
    });

    it('schedules nothing with autoRefresh: false', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const auth = client(recordingFetch().fetch, { autoRefresh: false });
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });
      expect(vi.getTimerCount()).toBe(0);
    });
  });

  describe('signed-in state', () => {
    it('tells listeners about login, a changed user on refresh, and logout; unsubscribe stops it', async () => {
      const auth = client(recordingFetch().fetch);
      const { username, id } = await register();
      const seen: (User | null)[] = [];
      const unsubscribe = auth.onChange((user) => seen.push(user));

      await auth.login({ username, password: PASSWORD });
      await auth.refresh(); // Same user: no event.
      await promote(id);
      await auth.refresh();
      await auth.logout();
      expect(seen.map((u) => u && u.role)).toEqual(['user', 'admin', null]);

      unsubscribe();
      await auth.login({ username, password: PASSWORD });
      expect(seen).toHaveLength(3);
    });

    it('keeps signing in when a listener throws', async () => {
      const auth = client(recordingFetch().fetch);
      const { username } = await register();
      const reported = new Promise((resolve) => {
        // The listener's error is rethrown asynchronously, as an event handler's would be.
        const original = queueMicrotask;
        vi.stubGlobal('queueMicrotask', (task: () => void) =>
          original(() => {
            try {
              task();
            } catch (err) {
              resolve(err);
            }
          }),
        );
      });
      auth.onChange(() => {
        throw new Error('listener bug');
      });
      const { user } = await auth.login({ username, password: PASSWORD });
      expect(auth.user).toEqual(user);
      expect(await reported).toMatchObject({ message: 'listener bug' });
      vi.unstubAllGlobals();
    });
  });

  describe('body delivery (mobile, native, server)', () => {
    it('hands every new refresh token over for storage, and restores a session from the stored one', async () => {
      const stored: (string | null)[] = [];
      const auth = client(recordingFetch().fetch, { onRefreshToken: (token) => stored.push(token) });
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });
      await auth.refresh();
      expect(stored).toHaveLength(2);
      expect(stored[0]).not.toBe(stored[1]);

      // The next run of the app starts from the stored token.
      const { fetch, count } = recordingFetch();
      const next = client(fetch, { refreshToken: stored[1]! });
      expect(next.user).toBeNull();
      expect((await next.refresh())?.username).toBe(username);
      expect((await next.api.GET('/auth/me')).data?.user.username).toBe(username);
      expect(count('POST /auth/refresh')).toBe(1);
    });

    it('refresh() resolves null, signed out, without a refresh token or with a spent one', async () => {
      const { fetch, count } = recordingFetch();
      expect(await client(fetch).refresh()).toBeNull();
      expect(count('POST /auth/refresh')).toBe(0);
      expect(await client(fetch, { refreshToken: 'not-a-refresh-token' }).refresh()).toBeNull();
    });

    it('logout ends the session at the service, so its refresh token is dead', async () => {
      let token: string | null = null;
      const auth = client(recordingFetch().fetch, { onRefreshToken: (t) => (token ??= t) });
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });
      await auth.logout();
      expect(auth.user).toBeNull();
      const res = await api('/auth/refresh', { json: { refresh_token: token } });
      expect(res.status).toBe(401);
    });
  });

  describe('cookie delivery (browser SPAs)', () => {
    it('keeps the refresh token out of reach, and restores the session on reload from the cookie', async () => {
      const tab = browser();
      const stored: (string | null)[] = [];
      const auth = client(tab.fetch, { refreshTokenDelivery: 'cookie', onRefreshToken: (t) => stored.push(t) });
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });
      expect(stored).toEqual([]);
      expect(tab.jar.size).toBe(1);
      expect((await auth.api.GET('/auth/me')).data?.user.username).toBe(username);

      // A reload: a new client, the same cookie jar.
      const reloaded = browser(tab.jar);
      const again = client(reloaded.fetch, { refreshTokenDelivery: 'cookie' });
      expect((await again.refresh())?.username).toBe(username);
      expect((await again.api.GET('/auth/me')).data?.user.username).toBe(username);

      // A page may reload on the signed-out event: by then the service has cleared the cookie.
      const jarAtSignOut: number[] = [];
      again.onChange((user) => user === null && jarAtSignOut.push(tab.jar.size));
      await again.logout();
      expect(jarAtSignOut).toEqual([0]);
      expect(tab.jar.size).toBe(0);
      expect(await client(browser(tab.jar).fetch, { refreshTokenDelivery: 'cookie' }).refresh()).toBeNull();
    });

    it('refresh() resolves null on a first visit (no cookie)', async () => {
      const tab = browser();
      const auth = client(tab.fetch, { refreshTokenDelivery: 'cookie' });
      expect(await auth.refresh()).toBeNull();
      expect(tab.count('POST /auth/refresh')).toBe(1);
    });

    it('throws EdgeAuthError csrf_rejected when the page origin is not allowed', async () => {
      const jar = new Map<string, string>();
      const tab = browser(jar);
      const auth = client(tab.fetch, { refreshTokenDelivery: 'cookie' });
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });
      const foreign = async (request: Request) => {
        const headers = new Headers(request.headers);
        headers.set('Origin', 'https://evil.example');
        headers.set('Cookie', [...jar].map(([n, v]) => `${n}=${v}`).join('; '));
        return exports.default.fetch(new Request(request, { headers }));
      };
      const err = await client(foreign, { refreshTokenDelivery: 'cookie' })
        .refresh()
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'EdgeAuthError', status: 403, code: 'csrf_rejected' });
    });

    it('logoutAll ends the other tabs’ and devices’ sessions too', async () => {
      const phone = client(recordingFetch().fetch);
      const auth = client(browser().fetch, { refreshTokenDelivery: 'cookie' });
      const { username } = await register();
      await phone.login({ username, password: PASSWORD });
      await auth.login({ username, password: PASSWORD });
      await auth.logoutAll();
      expect(auth.user).toBeNull();
      expect(await phone.refresh()).toBeNull();
      expect(phone.user).toBeNull();
    });
  });

  describe('DPoP (dpop: true)', () => {
    /** Records the DPoP proof each request carried, by `METHOD /path`. */
    function provingFetch(
      fetch: (request: Request) => Promise<Response> = exports.default.fetch.bind(exports.default),
    ) {
      const sent: { call: string; authorization: string | null; proof: Record<string, unknown> | null }[] = [];
      const recording = async (request: Request) => {
        const proof = request.headers.get('DPoP');
        sent.push({
          call: `${request.method} ${new URL(request.url).pathname}`,
          authorization: request.headers.get('Authorization'),
          proof: proof ? decodePart(proof, 1) : null,
        });
        return fetch(request);
      };
      return { fetch: recording, sent, count: (call: string) => sent.filter((s) => s.call === call).length };
    }

    it('binds the session at login and signs a fresh proof for every call, with ath on protected ones', async () => {
      const { fetch, sent } = provingFetch();
      const auth = client(fetch, { dpop: true });
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });
      const loginToken = auth.accessToken!;
      const claims = decodePart(loginToken, 1);
      expect(claims.cnf).toEqual({ jkt: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
      expect((await auth.api.GET('/auth/me')).data?.user.username).toBe(username);
      expect((await auth.api.GET('/auth/protected')).response.status).toBe(200);
      await auth.refresh();
      expect((await auth.api.GET('/auth/me')).response.status).toBe(200);

      const [login, me] = sent;
      expect(login).toMatchObject({ call: 'POST /auth/login', authorization: null });
      expect(login!.proof).toMatchObject({ htm: 'POST', htu: `${ORIGIN}/auth/login` });
      expect(login!.proof).not.toHaveProperty('ath');
      expect(me!.authorization).toBe(`DPoP ${loginToken}`);
      expect(me!.proof).toMatchObject({ htm: 'GET', htu: `${ORIGIN}/auth/me`, ath: expect.any(String) });
      const jtis = sent.map((s) => s.proof?.jti);
      expect(new Set(jtis).size).toBe(sent.length);
    });

    it('makes stolen tokens useless: the access token and the refresh token fail without the key', async () => {
      let refreshToken: string | null = null;
      const auth = client(provingFetch().fetch, { dpop: true, onRefreshToken: (t) => (refreshToken = t) });
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });
      const stolen = { access: auth.accessToken!, refresh: refreshToken! };

      // Replayed as a bearer token, or with a proof of the thief's own key: refused.
      const asBearer = await api('/auth/me', { token: stolen.access });
      expect(asBearer.status).toBe(401);
      expect(asBearer.headers.get('WWW-Authenticate')).toMatch(/^DPoP error="invalid_token"/);
      const thief = await dpopKey();
      const withOwnKey = await api('/auth/me', {
        headers: {
          Authorization: `DPoP ${stolen.access}`,
          DPoP: await thief.proof('GET', '/auth/me', { token: stolen.access }),
        },
      });
      expect(withOwnKey.status).toBe(401);
      expect(((await withOwnKey.json()) as { code: string }).code).toBe('invalid_dpop_proof');

      // The refresh token, in the thief's own DPoP client (another key) or sent bare: signed out.
      const thiefsClient = client(recordingFetch().fetch, { dpop: true, refreshToken: stolen.refresh });
      expect(await thiefsClient.refresh()).toBeNull();
      expect((await api('/auth/refresh', { json: { refresh_token: stolen.refresh } })).status).toBe(401);

      // Neither attempt spent it: the owner carries on.
      expect((await auth.refresh())?.username).toBe(username);
      expect((await auth.api.GET('/auth/me')).response.status).toBe(200);
    });

    it('refreshes and retries with a new proof when a call meets 401 invalid_token', async () => {
      const { fetch, count } = provingFetch();
      const auth = client(fetch, { dpop: true });
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });
      await invalidateAccessTokens(auth);
      const { data } = await auth.api.GET('/auth/me');
      expect(data?.user.username).toBe(username);
      expect(count('POST /auth/refresh')).toBe(1);
      expect(count('GET /auth/me')).toBe(2);
    });

    it('with DPOP_NONCE=true, takes the server nonce from use_dpop_nonce, retries once, and keeps it', async () => {
      const app = createApp();
      const nonceEnv = { ...env, DPOP_NONCE: 'true' };
      const nonced = async (request: Request) => {
        const ctx = createExecutionContext();
        const res = await app.fetch(request, nonceEnv, ctx);
        await waitOnExecutionContext(ctx);
        return res;
      };
      const { fetch, count, sent } = provingFetch(nonced);
      const auth = client(fetch, { dpop: true });
      const { username } = await register();
      await auth.login({ username, password: PASSWORD });
      expect(count('POST /auth/login')).toBe(2);
      expect(sent[0]!.proof).not.toHaveProperty('nonce');
      expect(sent[1]!.proof).toHaveProperty('nonce');
      // The nonce of the login's answer is used from then on: no refusal, no retry.
      expect((await auth.api.GET('/auth/me')).data?.user.username).toBe(username);
      expect(count('GET /auth/me')).toBe(1);
      expect((await auth.refresh())?.username).toBe(username);
      expect(count('POST /auth/refresh')).toBe(1);
    });

    it('keeps the key in IndexedDB in a browser, so a reload continues the bound session', async () => {
      vi.stubGlobal('indexedDB', fakeIndexedDb());
      const jar = new Map<string, string>();
      const first = client(browser(jar).fetch, { dpop: true, refreshTokenDelivery: 'cookie' });
      const { username } = await register();
      await first.login({ username, password: PASSWORD });
      const jkt = (decodePart(first.accessToken!, 1).cnf as { jkt: string }).jkt;

      const reloaded = client(browser(jar).fetch, { dpop: true, refreshTokenDelivery: 'cookie' });
      expect((await reloaded.refresh())?.username).toBe(username);
      expect(decodePart(reloaded.accessToken!, 1).cnf).toEqual({ jkt });
      expect((await reloaded.api.GET('/auth/me')).response.status).toBe(200);

      // Another browser profile (its own key store) with the same cookie gets nothing.
      vi.stubGlobal('indexedDB', fakeIndexedDb());
      const elsewhere = client(browser(jar).fetch, { dpop: true, refreshTokenDelivery: 'cookie' });
      expect(await elsewhere.refresh()).toBeNull();
      vi.unstubAllGlobals();
    });
  });
});
