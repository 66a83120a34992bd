/**
 * Validation errors a form can show as they are: every bad field in one answer, each in the
 * service's own words, never zod's developer text.
 */
import { describe, expect, it } from 'vitest';
import { api, expectProblem, signedIn, signedInAdmin } from './helpers';

/** Zod's default wording ("Too small: expected string to have >=1 characters", "Invalid input: …"). */
const ZOD_WORDING = /Too small|Too big|Invalid input|expected .* received|expected string|>=|<=/;

type FieldErrors = { field: string; message: string }[];

function expectPlain(errors: unknown) {
  for (const { message } of (errors as FieldErrors | undefined) ?? []) {
    expect(message).not.toMatch(ZOD_WORDING);
    expect(message).toMatch(/^[A-Z].*\.$/);
  }
}

describe('validation errors', () => {
  it('name the username rule and the password length together at registration', async () => {
    const res = await api('/auth/register', { json: { username: 'a b', password: 'x' } });
    const problem = await expectProblem(res, 400, 'validation_failed');
    expect(problem.errors).toEqual([
      { field: 'username', message: "Username must be 3 to 32 characters: letters, digits, '_', '.' or '-'." },
      { field: 'password', message: 'Password must be 8 to 128 characters.' },
    ]);
  });

  it('say a field is required when it is missing, and that it must not be empty when it is', async () => {
    const missing = await expectProblem(await api('/auth/login', { json: {} }), 400, 'validation_failed');
    expect(missing.errors).toEqual([
      { field: 'username', message: 'Username is required.' },
      { field: 'password', message: 'Password is required.' },
    ]);
    const empty = await expectProblem(
      await api('/auth/login', { json: { username: 'alice', password: '' } }),
      400,
      'validation_failed',
    );
    expect(empty.errors).toEqual([{ field: 'password', message: 'Password must not be empty.' }]);
  });

  it('list the fields in the order of the form, a normalised username among them', async () => {
    // The username passes through its NFKC step before its rule is checked; its error still comes first.
    const res = await api('/auth/login', { json: { username: 'a b', password: 7, refresh_token_delivery: 'x' } });
    const problem = await expectProblem(res, 400, 'validation_failed');
    expect((problem.errors as FieldErrors).map((e) => e.field)).toEqual([
      'username',
      'password',
      'refresh_token_delivery',
    ]);
  });

  it('name a value of the wrong type and a value outside a list in words', async () => {
    const res = await api('/auth/login', {
      json: { username: 'alice', password: 7, refresh_token_delivery: 'carrier-pigeon' },
    });
    const problem = await expectProblem(res, 400, 'validation_failed');
    expect(problem.errors).toEqual([
      { field: 'password', message: 'Password must be a string.' },
      { field: 'refresh_token_delivery', message: 'Refresh token delivery must be one of: body, cookie.' },
    ]);
  });

  it('report both new-password and other fields of a password change at once', async () => {
    const { tokens } = await signedIn();
    const res = await api('/auth/password', { token: tokens.access_token, json: { new_password: 'short' } });
    const problem = await expectProblem(res, 400, 'validation_failed');
    expect(problem.errors).toEqual([
      { field: 'current_password', message: 'Current password is required.' },
      { field: 'new_password', message: 'New password must be 8 to 128 characters.' },
    ]);
  });

  it('put query-string errors in the same words', async () => {
    const { tokens } = await signedInAdmin();
    const res = await api('/admin/users?limit=500', { token: tokens.access_token });
    const problem = await expectProblem(res, 400, 'validation_failed');
    expect(problem.errors).toEqual([{ field: 'limit', message: 'Limit must be at most 100.' }]);
    expectPlain(problem.errors);
  });

  it('are never zod wording, on any field of registration and login', async () => {
    for (const json of [
      {},
      { username: '', password: '' },
      { username: 5, password: [] },
      { username: 'x'.repeat(300) },
    ]) {
      for (const path of ['/auth/register', '/auth/login']) {
        const problem = await expectProblem(await api(path, { json }), 400, 'validation_failed');
        expect((problem.errors as FieldErrors).length, `${path} ${JSON.stringify(json)}`).toBe(2);
        expectPlain(problem.errors);
      }
    }
  });
});
