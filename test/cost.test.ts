/**
 * The cost per request the design promises, counted at the D1 binding and at WebCrypto: a
 * protected request is one D1 query and no write; a login is one PBKDF2 run, one read round
 * trip and one write round trip.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, PASSWORD, signedIn } from './helpers';

afterEach(() => vi.restoreAllMocks());

/** Counts D1 round trips: single statements (first/all/run/raw) and batches. */
function countD1() {
  const statements: string[] = [];
  const batches = vi.spyOn(env.DB, 'batch');
  const prepare = env.DB.prepare.bind(env.DB);
  vi.spyOn(env.DB, 'prepare').mockImplementation((sql: string) => {
    statements.push(sql);
    return prepare(sql);
  });
  return {
    statements,
    batches: () => batches.mock.calls.length,
  };
}

const pbkdf2Runs = () => {
  const spy = vi.spyOn(crypto.subtle, 'deriveBits');
  return () => spy.mock.calls.filter(([alg]) => (alg as { name: string }).name === 'PBKDF2').length;
};

describe('cost per request', () => {
  it('a protected request is one D1 query (user and session by primary key) and no write', async () => {
    const { token } = await signedIn();
    const d1 = countD1();
    const res = await api('/auth/me', { token });
    expect(res.status).toBe(200);
    expect(d1.statements).toHaveLength(1);
    expect(d1.statements[0]).toMatch(/^select /i);
    expect(d1.batches()).toBe(0);
  });

  it('a protected request imports no key: CryptoKeys are made once per isolate', async () => {
    const { token } = await signedIn();
    await api('/auth/me', { token });
    const imports = vi.spyOn(crypto.subtle, 'importKey');
    expect((await api('/auth/me', { token })).status).toBe(200);
    expect(imports).not.toHaveBeenCalled();
  });

  it('a login is one PBKDF2 run, one read round trip and one write round trip', async () => {
    const { user } = await signedIn();
    const d1 = countD1();
    const runs = pbkdf2Runs();
    const res = await api('/auth/login', { json: { username: user.username, password: PASSWORD } });
    expect(res.status).toBe(200);
    expect(runs()).toBe(1);
    expect(d1.batches()).toBe(2);
  });
});
