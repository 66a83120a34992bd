/** Registration is rate limited per address (REGISTER_IP_MAX per REGISTER_WINDOW), in D1. */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup } from '../src/index';
import { api, appWith, expectProblem, PASSWORD, uniqueName } from './helpers';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-06-01T12:00:00Z'));
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const limited = appWith({ REGISTER_IP_MAX: '3', REGISTER_WINDOW: '60' });
const registerFrom = (ip: string, app = limited, path = '/auth/register') =>
  app(path, { json: { username: uniqueName('reg'), password: PASSWORD }, headers: { 'CF-Connecting-IP': ip } });

describe('registration rate limit', () => {
  it('allows 20 registrations per address per hour by default, then 429 with Retry-After', async () => {
    const ip = '198.51.100.200';
    for (let i = 0; i < 20; i++) expect((await registerFrom(ip, api)).status).toBe(201);
    const refused = await registerFrom(ip, api);
    await expectProblem(refused, 429, 'too_many_registrations');
    expect(refused.headers.get('Retry-After')).toBe('3600');
  });

  it('takes its limit and window from REGISTER_IP_MAX and REGISTER_WINDOW', async () => {
    const ip = '198.51.100.201';
    for (let i = 0; i < 3; i++) expect((await registerFrom(ip)).status).toBe(201);
    const refused = await registerFrom(ip);
    await expectProblem(refused, 429, 'too_many_registrations');
    expect(refused.headers.get('Retry-After')).toBe('60');
    // Another address is not affected; the window's end lifts the limit.
    expect((await registerFrom('198.51.100.202')).status).toBe(201);
    vi.setSystemTime(new Date('2026-06-01T12:01:01Z'));
    expect((await registerFrom(ip)).status).toBe(201);
  });

  it('counts refused attempts too (username probing) and spends no PBKDF2 once over the limit', async () => {
    const ip = '198.51.100.203';
    const taken = uniqueName('taken');
    await limited('/auth/register', { json: { username: taken, password: PASSWORD } });
    for (let i = 0; i < 3; i++) {
      const res = await limited('/auth/register', {
        json: { username: taken, password: PASSWORD },
        headers: { 'CF-Connecting-IP': ip },
      });
      await expectProblem(res, 409, 'username_taken');
    }
    const deriveBits = vi.spyOn(crypto.subtle, 'deriveBits');
    await expectProblem(await registerFrom(ip), 429, 'too_many_registrations');
    expect(deriveBits).not.toHaveBeenCalled();
  });

  it('counts the Flask-JWT /signup on the same counter', async () => {
    const ip = '198.51.100.204';
    for (let i = 0; i < 3; i++) expect((await registerFrom(ip, limited, '/signup')).status).toBe(200);
    await expectProblem(await registerFrom(ip), 429, 'too_many_registrations');
    await expectProblem(await registerFrom(ip, limited, '/signup'), 429, 'too_many_registrations');
  });

  it('counts an IPv6 /64 as one address', async () => {
    for (let i = 1; i <= 3; i++) expect((await registerFrom(`2001:db8:5:6::${i}`)).status).toBe(201);
    await expectProblem(await registerFrom('2001:db8:5:6:abcd::1'), 429, 'too_many_registrations');
    expect((await registerFrom('2001:db8:5:7::1')).status).toBe(201);
  });

  it('holds under simultaneous registrations from one address', async () => {
    const responses = await Promise.all(Array.from({ length: 12 }, () => registerFrom('198.51.100.205')));
    expect(responses.filter((r) => r.status === 201).length).toBe(3);
    expect(responses.filter((r) => r.status === 429).length).toBe(9);
  });

  it('accepts very large limits (benchmarks lift it with them)', async () => {
    const open = appWith({ REGISTER_IP_MAX: '1000000000', REGISTER_WINDOW: '1000000000' });
    for (let i = 0; i < 3; i++) expect((await registerFrom('198.51.100.206', open)).status).toBe(201);
  });

  it('leaves stale counters to the daily cleanup', async () => {
    await registerFrom('198.51.100.207');
    const key = 'register:address:198.51.100.207';
    const count = () =>
      env.DB.prepare('SELECT count(*) AS n FROM rate_counters WHERE key = ?').bind(key).first<{ n: number }>();
    expect((await count())!.n).toBe(1);
    await cleanup(env, Date.now() + 30_000);
    expect((await count())!.n).toBe(1);
    await cleanup(env, Date.now() + 61_000);
    expect((await count())!.n).toBe(0);
  });
});
