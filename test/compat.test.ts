import { describe, expect, it } from 'vitest';
import { api, expectProblem, PASSWORD, uniqueName } from './helpers';

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
});
