import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { api, appWith, expectProblem, login, PASSWORD, register, signedIn, uniqueName } from './helpers';

describe('POST /auth/register', () => {
  it('creates a user with role "user" and an opaque id', async () => {
    const username = uniqueName('Reg');
    const res = await api('/auth/register', { json: { username, password: PASSWORD } });
    expect(res.status).toBe(201);
    const { user } = (await res.json()) as { user: Record<string, string> };
    expect(user).toEqual({
      id: expect.any(String),
      username,
      role: 'user',
      created_at: expect.any(String),
      mfa_enabled: false,
      email: null,
      email_verified: false,
    });
    expect(user.id).not.toMatch(/^\d+$/);
    expect(Number.isNaN(Date.parse(user.created_at!))).toBe(false);
  });

  it('never honours client-set fields such as role or id', async () => {
    const username = uniqueName();
    const res = await api('/auth/register', {
      json: { username, password: PASSWORD, role: 'admin', id: 'chosen-id', token_version: 7 },
    });
    const { user } = (await res.json()) as { user: { id: string; role: string } };
    expect(user.role).toBe('user');
    expect(user.id).not.toBe('chosen-id');
  });

  it('stores only a PBKDF2 hash of the password', async () => {
    const { id } = await register();
    const row = await env.DB.prepare('SELECT password_hash FROM users WHERE id = ?')
      .bind(id)
      .first<{ password_hash: string }>();
    // At the configured work factor (the tests run 10,000; wrangler.toml deploys 100,000).
    expect(row!.password_hash).toMatch(new RegExp(`^\\$pbkdf2-sha256\\$i=${env.PBKDF2_ITERATIONS}\\$`));
    expect(row!.password_hash).not.toContain(PASSWORD);
  });

  it('treats usernames case-insensitively but shows them as registered', async () => {
    const username = uniqueName('Joe');
    await register(username);
    await expectProblem(
      await api('/auth/register', { json: { username: username.toLowerCase(), password: PASSWORD } }),
      409,
      'username_taken',
    );
    const tokens = await login(username.toUpperCase());
    const me = await api('/auth/me', { token: tokens.access_token });
    expect(((await me.json()) as { user: { username: string } }).user.username).toBe(username);
  });

  it('rejects a taken username with 409 username_taken', async () => {
    const { username } = await register();
    await expectProblem(await api('/auth/register', { json: { username, password: PASSWORD } }), 409, 'username_taken');
  });

  describe('rejects invalid input with 400 validation_failed naming each bad field', () => {
    const cases: [string, unknown, string[]][] = [
      ['a short username', { username: 'ab', password: PASSWORD }, ['username']],
      ['a long username', { username: 'a'.repeat(33), password: PASSWORD }, ['username']],
      ['a username with spaces', { username: 'john doe', password: PASSWORD }, ['username']],
      ['a short password', { username: 'okname', password: 'short' }, ['password']],
      ['a 129-character password', { username: 'okname', password: 'p'.repeat(129) }, ['password']],
      ['missing fields', {}, ['username', 'password']],
      ['wrong types', { username: 12345, password: ['x'] }, ['username', 'password']],
    ];
    for (const [name, body, fields] of cases) {
      it(name, async () => {
        const problem = await expectProblem(await api('/auth/register', { json: body }), 400, 'validation_failed');
        const named = (problem.errors as { field: string }[]).map((e) => e.field);
        for (const field of fields) expect(named).toContain(field);
      });
    }
  });

  it('accepts passwords of exactly 8 and 128 characters', async () => {
    for (const password of ['Zq8#vL2m', 'long-'.repeat(25) + 'xyz']) {
      const res = await api('/auth/register', { json: { username: uniqueName(), password } });
      expect(res.status).toBe(201);
    }
  });

  it('takes the minimum password length from PASSWORD_MIN_LENGTH', async () => {
    const nist = appWith({ PASSWORD_MIN_LENGTH: '15' });
    const short = await nist('/auth/register', { json: { username: uniqueName(), password: 'fourteen-chars' } });
    const problem = await expectProblem(short, 400, 'validation_failed');
    expect(problem.errors).toEqual([{ field: 'password', message: 'Password must be 15 to 128 characters.' }]);
    const ok = await nist('/auth/register', { json: { username: uniqueName(), password: 'fifteen-chars!!' } });
    expect(ok.status).toBe(201);
  });

  it('rejects the most common passwords with 400 password_too_common', async () => {
    for (const password of ['password', 'Password1', '12345678', 'qwertyuiop']) {
      await expectProblem(
        await api('/auth/register', { json: { username: uniqueName(), password } }),
        400,
        'password_too_common',
      );
    }
  });

  it('gives exactly one 201 for two simultaneous registrations of one name', async () => {
    const username = uniqueName();
    const results = await Promise.all(
      [username, username.toUpperCase()].map((name) =>
        api('/auth/register', { json: { username: name, password: PASSWORD } }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
  });
});

describe('POST /auth/login', () => {
  it('returns a bearer access token, its lifetime and the user, uncacheable', async () => {
    const user = await register();
    const res = await api('/auth/login', { json: { username: user.username, password: PASSWORD } });
    expect(res.status).toBe(200);
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      token_type: 'Bearer',
      expires_in: 900,
      user: { id: user.id, username: user.username, role: 'user' },
    });
  });

  it('puts sub, role, iat, exp, iss, aud and the access marker in the token', async () => {
    const { user, token } = await signedIn();
    const claims = JSON.parse(atob(token.split('.')[1]!.replaceAll('-', '+').replaceAll('_', '/'))) as Record<
      string,
      unknown
    >;
    expect(claims).toMatchObject({
      sub: user.id,
      role: 'user',
      iss: 'edge-auth',
      aud: 'edge-auth',
      token_use: 'access',
    });
    expect(claims.exp).toBe((claims.iat as number) + 900);
  });

  it('answers an unknown user and a wrong password with the same 401', async () => {
    const user = await register();
    const wrong = await expectProblem(
      await api('/auth/login', { json: { username: user.username, password: 'not-the-password' } }),
      401,
      'invalid_credentials',
    );
    const unknown = await expectProblem(
      await api('/auth/login', { json: { username: uniqueName('ghost'), password: 'not-the-password' } }),
      401,
      'invalid_credentials',
    );
    const strip = ({ request_id: _r, ...rest }: Record<string, unknown>) => rest;
    expect(strip(unknown)).toEqual(strip(wrong));
  });

  it('rejects invalid input with 400 validation_failed', async () => {
    await expectProblem(await api('/auth/login', { json: { username: 'x' } }), 400, 'validation_failed');
  });
});

describe('GET /auth/protected', () => {
  it('greets the token holder by name', async () => {
    const { user, token } = await signedIn();
    const res = await api('/auth/protected', { token });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      message: `Hello, ${user.username}!`,
      user: {
        id: user.id,
        username: user.username,
        role: 'user',
        created_at: expect.any(String),
        mfa_enabled: false,
        email: null,
        email_verified: false,
      },
    });
  });

  it('asks for a token without an error attribute when none was sent (RFC 6750), offering DPoP too (RFC 9449)', async () => {
    const res = await api('/auth/protected');
    await expectProblem(res, 401, 'unauthorized');
    expect(res.headers.get('WWW-Authenticate')).toBe('Bearer realm="edge-auth", DPoP algs="ES256 EdDSA Ed25519"');
  });

  it('answers a bad token with error="invalid_token"', async () => {
    const res = await api('/auth/protected', { token: 'not.a.jwt' });
    await expectProblem(res, 401, 'invalid_token');
    expect(res.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm="edge-auth", error="invalid_token"/);
  });

  it('refuses the token of a user that no longer exists', async () => {
    const { user, token } = await signedIn();
    await env.DB.prepare('DELETE FROM users WHERE id = ?').bind(user.id).run();
    await expectProblem(await api('/auth/protected', { token }), 401, 'invalid_token');
  });
});

describe('GET /auth/me', () => {
  it('returns the caller, with the role as stored now', async () => {
    const { user, token } = await signedIn();
    await env.DB.prepare("UPDATE users SET role = 'admin' WHERE id = ?").bind(user.id).run();
    const res = await api('/auth/me', { token });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ user: { id: user.id, role: 'admin' } });
  });
});
