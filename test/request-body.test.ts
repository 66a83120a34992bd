/**
 * Empty request bodies. Many HTTP wrappers (axios defaults, ky's `json`, hand-rolled fetch
 * helpers, `curl -H 'Content-Type: application/json'`) put a JSON Content-Type on every
 * request, body or not: on a route whose body is optional that must still mean "no body".
 */
import { describe, expect, it } from 'vitest';
import { REFRESH_COOKIE } from '../src/sessions/refresh-cookie';
import {
  api,
  apiDocument,
  expectProblem,
  login,
  ORIGIN,
  PASSWORD,
  register,
  signedIn,
  signedInAdmin,
  uniqueName,
} from './helpers';

const bytes = (text: string) => new TextEncoder().encode(text);

/** Every way of sending "nothing"; a Uint8Array body, unlike a string, adds no Content-Type. */
const EMPTY_BODIES: [label: string, body: BodyInit | undefined, contentType: string | undefined][] = [
  ['no body and no Content-Type', undefined, undefined],
  ['no body with Content-Type: application/json', undefined, 'application/json'],
  ['zero bytes with Content-Type: application/json', bytes(''), 'application/json'],
  ['zero bytes with Content-Type: application/json; charset=utf-8', bytes(''), 'application/json; charset=utf-8'],
  ['only whitespace with Content-Type: application/json', bytes(' \r\n\t '), 'application/json'],
  ['only whitespace and no Content-Type', bytes('\n'), undefined],
  ['zero bytes with Content-Type: text/plain', bytes(''), 'text/plain;charset=UTF-8'],
  ['zero bytes with a form Content-Type', bytes(''), 'application/x-www-form-urlencoded'],
];

const BODIES_MEANING_NO_TOKEN = [...EMPTY_BODIES, ['{}', bytes('{}'), 'application/json'] as const];

function post(path: string, body: BodyInit | undefined, contentType: string | undefined, extra = {}) {
  return api(path, {
    method: 'POST',
    ...(body === undefined ? {} : { body }),
    headers: { ...(contentType === undefined ? {} : { 'Content-Type': contentType }), ...extra },
  });
}

/** The refresh cookie a response sets (its value; '' when cleared), or undefined. */
function refreshCookie(res: Response): string | undefined {
  const header = res.headers.getSetCookie().find((c) => c.startsWith(`${REFRESH_COOKIE}=`));
  return header?.slice(REFRESH_COOKIE.length + 1).split(';')[0];
}

async function cookieSession(): Promise<string> {
  const user = await register(uniqueName('cookie'));
  const res = await api('/auth/login', {
    json: { username: user.username, password: PASSWORD, refresh_token_delivery: 'cookie' },
  });
  expect(res.status).toBe(200);
  return refreshCookie(res)!;
}

const cookieHeaders = (cookie: string) => ({ Cookie: `${REFRESH_COOKIE}=${cookie}`, Origin: ORIGIN });

describe('a route whose body is optional', () => {
  describe.each(BODIES_MEANING_NO_TOKEN)('sent %s', (_label, body, contentType) => {
    describe('in cookie mode', () => {
      it('POST /auth/refresh rotates the cookie and returns a working access token', async () => {
        const cookie = await cookieSession();
        const res = await post('/auth/refresh', body, contentType, cookieHeaders(cookie));
        expect(res.status, await res.clone().text()).toBe(200);
        const next = refreshCookie(res);
        expect(next).toMatch(/^[A-Za-z0-9_-]{43,}$/);
        expect(next).not.toBe(cookie);
        const { access_token } = (await res.json()) as { access_token: string };
        expect((await api('/auth/me', { token: access_token })).status).toBe(200);
      });

      it('POST /auth/logout ends the session of the cookie and clears it', async () => {
        const cookie = await cookieSession();
        const res = await post('/auth/logout', body, contentType, cookieHeaders(cookie));
        expect(res.status, await res.clone().text()).toBe(204);
        expect(refreshCookie(res)).toBe('');
        await expectProblem(
          await post('/auth/refresh', undefined, undefined, cookieHeaders(cookie)),
          401,
          'invalid_refresh_token',
        );
      });
    });

    describe('in body mode (no cookie)', () => {
      it('POST /auth/refresh answers as with no body at all (401 invalid_refresh_token), and the session lives on', async () => {
        const user = await register(uniqueName('body'));
        const tokens = await login(user.username);
        await expectProblem(await post('/auth/refresh', body, contentType), 401, 'invalid_refresh_token');
        expect((await api('/auth/refresh', { json: { refresh_token: tokens.refresh_token } })).status).toBe(200);
      });

      it('POST /auth/logout answers 204 as with no body at all, and ends no session', async () => {
        const user = await register(uniqueName('body'));
        const tokens = await login(user.username);
        expect((await post('/auth/logout', body, contentType)).status).toBe(204);
        expect((await api('/auth/me', { token: tokens.access_token })).status).toBe(200);
        expect((await api('/auth/refresh', { json: { refresh_token: tokens.refresh_token } })).status).toBe(200);
      });
    });
  });

  describe('sent a refresh token wrapped in whitespace', () => {
    it('reads it as usual', async () => {
      const user = await register(uniqueName('body'));
      const tokens = await login(user.username);
      const text = `\n  ${JSON.stringify({ refresh_token: tokens.refresh_token })}\r\n`;
      expect((await post('/auth/refresh', bytes(text), 'application/json')).status).toBe(200);
    });
  });

  describe('sent a body that is not empty', () => {
    it.each(['/auth/refresh', '/auth/logout'])(
      '%s still refuses malformed JSON with 400 malformed_json',
      async (path) => {
        const cookie = await cookieSession();
        for (const text of ['{', ' x ', '[]', 'null']) {
          await expectProblem(
            await post(path, bytes(text), 'application/json', cookieHeaders(cookie)),
            400,
            'malformed_json',
          );
        }
        // Nothing was done with the cookie.
        expect((await post('/auth/refresh', undefined, undefined, cookieHeaders(cookie))).status).toBe(200);
      },
    );

    it.each(['/auth/refresh', '/auth/logout'])(
      '%s still refuses another media type with 415 unsupported_media_type',
      async (path) => {
        const cookie = await cookieSession();
        for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
          const res = await post(path, bytes('{"refresh_token":"x"}'), contentType, cookieHeaders(cookie));
          await expectProblem(res, 415, 'unsupported_media_type');
        }
      },
    );
  });
});

describe('a route whose body is required', () => {
  it.each(EMPTY_BODIES)(
    'answers %s with 400 validation_failed whose errors name the body',
    async (_label, body, contentType) => {
      const { user, token } = await signedIn('pw');
      const admin = await signedInAdmin();
      for (const [method, path, bearer] of [
        ['POST', '/auth/register'],
        ['POST', '/auth/login'],
        ['POST', '/auth/password', token],
        ['POST', '/signup'],
        ['POST', '/auth'],
        ['PATCH', `/admin/users/${user.id}`, admin.token],
      ] as [string, string, string?][]) {
        const res = await api(path, {
          method,
          ...(body === undefined ? {} : { body }),
          headers: {
            ...(contentType === undefined ? {} : { 'Content-Type': contentType }),
            ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}),
          },
        });
        const problem = await expectProblem(res, 400, 'validation_failed');
        expect(problem.errors, `${method} ${path}`).toEqual([{ field: 'body', message: expect.any(String) }]);
      }
    },
  );

  it('answers `{}` with 400 validation_failed naming each missing field, as before', async () => {
    const problem = await expectProblem(
      await post('/auth/register', bytes('{}'), 'application/json'),
      400,
      'validation_failed',
    );
    const fields = (problem.errors as { field: string }[]).map((e) => e.field).sort();
    expect(fields).toEqual(['password', 'username']);
  });
});

describe('the OpenAPI document', () => {
  it('marks the body optional (requestBody.required: false) exactly where it is: refresh, logout, and the passkey calls whose fields are all optional', async () => {
    const doc = apiDocument() as {
      paths: Record<string, Record<string, { requestBody?: { required: boolean } }>>;
    };
    const optional: string[] = [];
    const required: string[] = [];
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (!operation.requestBody) continue;
        (operation.requestBody.required ? required : optional).push(`${method} ${path}`);
      }
    }
    expect(optional.sort()).toEqual([
      'delete /auth/passkeys/{id}',
      'post /auth/logout',
      'post /auth/passkeys/register/options',
      'post /auth/passkeys/sign-in/options',
      'post /auth/refresh',
    ]);
    expect(required).toEqual(
      expect.arrayContaining(['post /auth/register', 'post /auth/login', 'post /auth/password']),
    );
  });
});
