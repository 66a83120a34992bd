import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { api, expectProblem, promote, register, signedIn, signedInAdmin } from './helpers';

type UserList = { users: { id: string; username: string; role: string }[]; next_cursor: string | null };

describe('admin routes', () => {
  describe('for callers who are not admins', () => {
    it('answer 401 without a token', async () => {
      await expectProblem(await api('/admin/users'), 401, 'unauthorized');
    });

    it('answer 403 forbidden to a user', async () => {
      const { token, user } = await signedIn();
      await expectProblem(await api('/admin/users', { token }), 403, 'forbidden');
      await expectProblem(
        await api(`/admin/users/${user.id}`, { method: 'PATCH', json: { role: 'admin' }, token }),
        403,
        'forbidden',
      );
      await expectProblem(await api(`/admin/users/${user.id}`, { method: 'DELETE', token }), 403, 'forbidden');
      const row = await env.DB.prepare('SELECT role FROM users WHERE id = ?').bind(user.id).first<{ role: string }>();
      expect(row!.role).toBe('user');
    });
  });

  describe('GET /admin/users', () => {
    it('pages through every user with a cursor, without repeats', async () => {
      const { token } = await signedInAdmin();
      for (let i = 0; i < 4; i++) await register();
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const query: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
        const res = await api(`/admin/users${query}`, { token });
        expect(res.status).toBe(200);
        const page = (await res.json()) as UserList;
        expect(page.users.length).toBeLessThanOrEqual(2);
        seen.push(...page.users.map((u) => u.id));
        cursor = page.next_cursor;
      } while (cursor);
      const total = await env.DB.prepare('SELECT count(*) AS n FROM users').first<{ n: number }>();
      expect(seen.length).toBe(total!.n);
      expect(new Set(seen).size).toBe(seen.length);
    });

    it('never shows password hashes', async () => {
      const { token } = await signedInAdmin();
      const text = await (await api('/admin/users', { token })).text();
      expect(text).not.toMatch(/pbkdf2|password/i);
    });

    it('validates limit', async () => {
      const { token } = await signedInAdmin();
      for (const limit of ['0', '101', 'abc', '-1']) {
        await expectProblem(await api(`/admin/users?limit=${limit}`, { token }), 400, 'validation_failed');
      }
    });
  });

  describe('PATCH /admin/users/:id', () => {
    it('changes a role, and the change applies to that user’s existing token at once', async () => {
      const admin = await signedInAdmin();
      const other = await signedIn();
      await expectProblem(await api('/admin/users', { token: other.token }), 403, 'forbidden');
      const res = await api(`/admin/users/${other.user.id}`, {
        method: 'PATCH',
        json: { role: 'admin' },
        token: admin.token,
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ user: { id: other.user.id, role: 'admin' } });
      expect((await api('/admin/users', { token: other.token })).status).toBe(200);

      await api(`/admin/users/${other.user.id}`, { method: 'PATCH', json: { role: 'user' }, token: admin.token });
      await expectProblem(await api('/admin/users', { token: other.token }), 403, 'forbidden');
    });

    it('rejects an unknown role and an unknown user', async () => {
      const admin = await signedInAdmin();
      const other = await register();
      await expectProblem(
        await api(`/admin/users/${other.id}`, { method: 'PATCH', json: { role: 'root' }, token: admin.token }),
        400,
        'validation_failed',
      );
      await expectProblem(
        await api('/admin/users/no-such-id', { method: 'PATCH', json: { role: 'user' }, token: admin.token }),
        404,
        'not_found',
      );
    });
  });

  describe('DELETE /admin/users/:id', () => {
    it('deletes the user, whose tokens stop working at once', async () => {
      const admin = await signedInAdmin();
      const victim = await signedIn();
      expect((await api('/auth/me', { token: victim.token })).status).toBe(200);
      const res = await api(`/admin/users/${victim.user.id}`, { method: 'DELETE', token: admin.token });
      expect(res.status).toBe(204);
      await expectProblem(await api('/auth/me', { token: victim.token }), 401, 'invalid_token');
      await expectProblem(
        await api('/auth/refresh', { json: { refresh_token: victim.tokens.refresh_token } }),
        401,
        'invalid_refresh_token',
      );
      await expectProblem(
        await api(`/admin/users/${victim.user.id}`, { method: 'DELETE', token: admin.token }),
        404,
        'not_found',
      );
    });
  });

  describe('the last admin', () => {
    it('survives two admins demoting each other at the same moment', async () => {
      await env.DB.prepare("UPDATE users SET role = 'user'").run();
      const a = await signedInAdmin();
      const b = await signedInAdmin();
      const results = await Promise.all([
        api(`/admin/users/${b.user.id}`, { method: 'PATCH', json: { role: 'user' }, token: a.token }),
        api(`/admin/users/${a.user.id}`, { method: 'PATCH', json: { role: 'user' }, token: b.token }),
      ]);
      const statuses = results.map((r) => r.status).sort();
      // Whoever lost the race is either no longer an admin (403) or would remove the last one (409).
      expect(statuses[0]).toBe(200);
      expect([403, 409]).toContain(statuses[1]);
      const admins = await env.DB.prepare("SELECT count(*) AS n FROM users WHERE role = 'admin'").first<{
        n: number;
      }>();
      expect(admins!.n).toBe(1);
    });

    it('cannot be demoted or deleted, while one of two can', async () => {
      // Storage is shared within this file: start from a state with exactly one admin.
      await env.DB.prepare("UPDATE users SET role = 'user'").run();
      const first = await signedInAdmin();
      await expectProblem(
        await api(`/admin/users/${first.user.id}`, { method: 'PATCH', json: { role: 'user' }, token: first.token }),
        409,
        'last_admin',
      );
      await expectProblem(
        await api(`/admin/users/${first.user.id}`, { method: 'DELETE', token: first.token }),
        409,
        'last_admin',
      );

      const second = await register();
      await promote(second.id);
      const demoted = await api(`/admin/users/${first.user.id}`, {
        method: 'PATCH',
        json: { role: 'user' },
        token: first.token,
      });
      expect(demoted.status).toBe(200);
      const admins = await env.DB.prepare("SELECT count(*) AS n FROM users WHERE role = 'admin'").first<{
        n: number;
      }>();
      expect(admins!.n).toBe(1);
    });
  });
});
