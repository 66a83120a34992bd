import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { appWith, PASSWORD, register } from './helpers';

const PEPPER = 'a-pepper-that-is-at-least-32-bytes-long!!';

const storedHash = async (id: string) =>
  (await env.DB.prepare('SELECT password_hash FROM users WHERE id = ?').bind(id).first<{ password_hash: string }>())!
    .password_hash;

describe('password hashes are upgraded at the next login', () => {
  it('when PASSWORD_PEPPER is turned on', async () => {
    const user = await register();
    expect(await storedHash(user.id)).toMatch(new RegExp(`^\\$pbkdf2-sha256\\$i=${env.PBKDF2_ITERATIONS}\\$`));

    const peppered = appWith({ PASSWORD_PEPPER: PEPPER });
    expect((await peppered('/auth/login', { json: { username: user.username, password: PASSWORD } })).status).toBe(200);
    const upgraded = await storedHash(user.id);
    expect(upgraded).toMatch(new RegExp(`^\\$pbkdf2-sha256\\$i=${env.PBKDF2_ITERATIONS},p=1\\$`));

    // The upgraded hash needs the pepper: the database alone no longer verifies it.
    expect((await peppered('/auth/login', { json: { username: user.username, password: PASSWORD } })).status).toBe(200);
    const withoutPepper = appWith({});
    expect((await withoutPepper('/auth/login', { json: { username: user.username, password: PASSWORD } })).status).toBe(
      401,
    );
    const wrongPepper = appWith({ PASSWORD_PEPPER: `${PEPPER}-rotated` });
    expect((await wrongPepper('/auth/login', { json: { username: user.username, password: PASSWORD } })).status).toBe(
      401,
    );
  });

  it('when PBKDF2_ITERATIONS changes, and a wrong password changes nothing', async () => {
    const user = await register();
    const before = await storedHash(user.id);
    const cheaper = appWith({ PBKDF2_ITERATIONS: '50000' });
    expect(
      (await cheaper('/auth/login', { json: { username: user.username, password: 'wrong-password-123' } })).status,
    ).toBe(401);
    expect(await storedHash(user.id)).toBe(before);
    expect((await cheaper('/auth/login', { json: { username: user.username, password: PASSWORD } })).status).toBe(200);
    expect(await storedHash(user.id)).toMatch(/^\$pbkdf2-sha256\$i=50000\$/);
  });

  it('new registrations with a pepper configured are peppered from the start', async () => {
    const peppered = appWith({ PASSWORD_PEPPER: PEPPER });
    const res = await peppered('/auth/register', {
      json: { username: `pep_${crypto.randomUUID().slice(0, 8)}`, password: PASSWORD },
    });
    expect(res.status).toBe(201);
    const { user } = (await res.json()) as { user: { id: string } };
    expect(await storedHash(user.id)).toMatch(/,p=1\$/);
  });
});
