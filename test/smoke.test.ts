import { describe, expect, it } from 'vitest';
import { api, login, register, uniqueName } from './helpers';

describe('smoke', () => {
  it('registers, logs in and reaches a protected route', async () => {
    const user = await register(uniqueName());
    const tokens = await login(user.username);
    const res = await api('/auth/protected', { token: tokens.access_token });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ message: `Hello, ${user.username}!` });
  });
});
