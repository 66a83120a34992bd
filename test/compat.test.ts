import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { api, expectProblem, login, PASSWORD, uniqueName } from './helpers';
import { decodePart, signHs256 } from './jwt';

describe('Flask-JWT compatibility', () => {
  it('signs up, authenticates and says hello like the Flask-JWT tutorial', async () => {
    const username = uniqueName('flask');
    const signup = await api('/signup', { json: { username, password: PASSWORD } });
    expect(signup.status).toBe(200);
    expect(await signup.json()).toEqual({ Status: 'Success', result: 'User created' });

    const auth = await api('/auth', { json: { username, password: PASSWORD } });
    expect(auth.status).toBe(200);
    const { access_token } = (await auth.json()) as { access_token: string };
    expect(access_token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    for (const scheme of ['JWT', 'Bearer']) {
      const hello = await api('/hello', { headers: { Authorization: `${scheme} ${access_token}` } });
      expect(hello.status).toBe(200);
      expect(await hello.json()).toEqual({ Status: 'Success', result: `Hello ${username}` });
    }
  });

  it('answers a taken username as Flask-JWT did', async () => {
    const username = uniqueName('flask');
    await api('/signup', { json: { username, password: PASSWORD } });
    const again = await api('/signup', { json: { username, password: PASSWORD } });
    expect(again.status).toBe(400);
    expect(await again.json()).toEqual({ Status: 'Error', result: 'User already exists' });
  });

  it('shares users and tokens with the main API', async () => {
    const username = uniqueName('flask');
    await api('/signup', { json: { username, password: PASSWORD } });
    const login = await api('/auth/login', { json: { username, password: PASSWORD } });
    const { access_token } = (await login.json()) as { access_token: string };
    const hello = await api('/hello', { headers: { Authorization: `JWT ${access_token}` } });
    expect(hello.status).toBe(200);

    const flask = await api('/auth', { json: { username, password: PASSWORD } });
    const flaskToken = ((await flask.json()) as { access_token: string }).access_token;
    expect((await api('/auth/me', { token: flaskToken })).status).toBe(200);
  });

  it('refuses wrong credentials on /auth with 401', async () => {
    const username = uniqueName('flask');
    await api('/signup', { json: { username, password: PASSWORD } });
    await expectProblem(
      await api('/auth', { json: { username, password: 'wrong-password!' } }),
      401,
      'invalid_credentials',
    );
  });

  it('refuses /hello without a valid token', async () => {
    await expectProblem(await api('/hello'), 401, 'unauthorized');
    await expectProblem(await api('/hello', { headers: { Authorization: 'JWT nope' } }), 401, 'invalid_token');
  });

  it('validates /signup input like /auth/register', async () => {
    await expectProblem(await api('/signup', { json: { username: 'a', password: 'x' } }), 400, 'validation_failed');
  });

  describe('tokens of /auth belong to a session, like every other login', () => {
    async function flaskLogin(username: string) {
      const res = await api('/auth', {
        json: { username, password: PASSWORD },
        headers: { 'User-Agent': 'FlaskClient/1.0' },
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, unknown>;
      // Still only what Flask-JWT returned.
      expect(Object.keys(body)).toEqual(['access_token']);
      return body.access_token as string;
    }
    const sessionsOf = async (token: string) =>
      ((await (await api('/auth/sessions', { token })).json()) as { sessions: { id: string; user_agent: string }[] })
        .sessions;

    it('is listed in /auth/sessions', async () => {
      const username = uniqueName('flask');
      await api('/signup', { json: { username, password: PASSWORD } });
      const flaskToken = await flaskLogin(username);
      const other = await login(username);
      const listed = await sessionsOf(other.access_token);
      expect(listed.map((s) => s.user_agent)).toContain('FlaskClient/1.0');
      expect(await sessionsOf(flaskToken)).toHaveLength(2);
    });

    it('ends when its session is revoked', async () => {
      const username = uniqueName('flask');
      await api('/signup', { json: { username, password: PASSWORD } });
      const flaskToken = await flaskLogin(username);
      const other = await login(username);
      const flaskSession = (await sessionsOf(other.access_token)).find((s) => s.user_agent === 'FlaskClient/1.0')!;
      const revoke = await api(`/auth/sessions/${flaskSession.id}`, { method: 'DELETE', token: other.access_token });
      expect(revoke.status).toBe(204);
      await expectProblem(
        await api('/hello', { headers: { Authorization: `JWT ${flaskToken}` } }),
        401,
        'invalid_token',
      );
    });

    it('ends with logout-all', async () => {
      const username = uniqueName('flask');
      await api('/signup', { json: { username, password: PASSWORD } });
      const flaskToken = await flaskLogin(username);
      const other = await login(username);
      expect((await api('/auth/logout-all', { method: 'POST', token: other.access_token })).status).toBe(204);
      await expectProblem(
        await api('/hello', { headers: { Authorization: `JWT ${flaskToken}` } }),
        401,
        'invalid_token',
      );
    });

    it('refuses an access token that names no session at all', async () => {
      const username = uniqueName('flask');
      await api('/signup', { json: { username, password: PASSWORD } });
      const flaskToken = await flaskLogin(username);
      // The same token, validly signed, without its `sid` (as /auth issued them before).
      const { sid: _, ...claims } = decodePart(flaskToken, 1);
      const forged = await signHs256(decodePart(flaskToken, 0), claims, env.JWT_SECRET!);
      await expectProblem(await api('/hello', { headers: { Authorization: `JWT ${forged}` } }), 401, 'invalid_token');
    });
  });
});
