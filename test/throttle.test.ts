import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { api, appWith, expectProblem, PASSWORD, register, signedIn, uniqueName } from './helpers';

const WRONG = 'definitely-not-it';
/** Fifty logins one after another (a PBKDF2 run and D1 round trips each): past the 5 s default on a busy machine. */
const SEQUENTIAL_FIFTY = 20_000;
const loginAs = (username: string, password: string, ip = '203.0.113.7', headers: Record<string, string> = {}) =>
  api('/auth/login', { json: { username, password }, headers: { 'CF-Connecting-IP': ip, ...headers } });

/** Counts PBKDF2 runs by watching WebCrypto, to show a locked-out login spends none. */
function countPbkdf2() {
  const spy = vi.spyOn(crypto.subtle, 'deriveBits');
  return { runs: () => spy.mock.calls.filter(([alg]) => (alg as { name: string }).name === 'PBKDF2').length, spy };
}

describe('login throttling', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-06-01T12:00:00Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  describe('per username', () => {
    it('locks after 5 failures: the 6th attempt gets 429 with Retry-After, even with the right password', async () => {
      const { username } = await register();
      for (let i = 0; i < 5; i++) await expectProblem(await loginAs(username, WRONG), 401, 'invalid_credentials');

      const locked = await loginAs(username, WRONG);
      await expectProblem(locked, 429, 'too_many_attempts');
      expect(Number(locked.headers.get('Retry-After'))).toBe(900);

      const right = await loginAs(username, PASSWORD);
      await expectProblem(right, 429, 'too_many_attempts');
    });

    it('spends no PBKDF2 work while locked', async () => {
      const { username } = await register();
      for (let i = 0; i < 5; i++) await loginAs(username, WRONG);
      const counter = countPbkdf2();
      await expectProblem(await loginAs(username, PASSWORD), 429, 'too_many_attempts');
      expect(counter.runs()).toBe(0);
    });

    it('lifts the lock when the window has passed', async () => {
      const { username } = await register();
      for (let i = 0; i < 5; i++) await loginAs(username, WRONG);
      vi.setSystemTime(new Date('2026-06-01T12:14:00Z'));
      const stillLocked = await loginAs(username, PASSWORD);
      await expectProblem(stillLocked, 429, 'too_many_attempts');
      expect(Number(stillLocked.headers.get('Retry-After'))).toBe(60);

      vi.setSystemTime(new Date('2026-06-01T12:15:01Z'));
      expect((await loginAs(username, PASSWORD)).status).toBe(200);
    });

    it('treats unknown usernames exactly like known ones (reveals nothing)', async () => {
      const ghost = uniqueName('ghost');
      for (let i = 0; i < 5; i++) await expectProblem(await loginAs(ghost, WRONG), 401, 'invalid_credentials');
      const locked = await loginAs(ghost, WRONG);
      await expectProblem(locked, 429, 'too_many_attempts');
      expect(locked.headers.get('Retry-After')).toBe('900');
    });

    it('still costs one PBKDF2 run for an unknown user, as for a known one', async () => {
      const { username } = await register();
      const counter = countPbkdf2();
      await loginAs(username, WRONG);
      const known = counter.runs();
      await loginAs(uniqueName('ghost'), WRONG);
      expect(known).toBe(1);
      expect(counter.runs() - known).toBe(1);
    });

    it('is reset by a successful login from that address', async () => {
      const { username } = await register();
      for (let i = 0; i < 4; i++) await loginAs(username, WRONG);
      expect((await loginAs(username, PASSWORD)).status).toBe(200);
      for (let i = 0; i < 4; i++) await expectProblem(await loginAs(username, WRONG), 401, 'invalid_credentials');
      expect((await loginAs(username, PASSWORD)).status).toBe(200);
    });

    it('counts across letter case (one account, one counter)', async () => {
      const { username } = await register(uniqueName('Case'));
      for (let i = 0; i < 5; i++) await loginAs(i % 2 ? username.toUpperCase() : username.toLowerCase(), WRONG);
      await expectProblem(await loginAs(username, PASSWORD), 429, 'too_many_attempts');
    });

    it('also guards the Flask-JWT /auth route', async () => {
      const { username } = await register();
      for (let i = 0; i < 5; i++) await api('/auth', { json: { username, password: WRONG } });
      await expectProblem(await api('/auth', { json: { username, password: PASSWORD } }), 429, 'too_many_attempts');
    });
  });

  describe('per address', () => {
    it('locks only the failing address out of the account: the owner elsewhere still gets in', async () => {
      const { username } = await register();
      for (let i = 0; i < 5; i++) await loginAs(username, WRONG, '198.51.100.66');
      await expectProblem(await loginAs(username, PASSWORD, '198.51.100.66'), 429, 'too_many_attempts');
      expect((await loginAs(username, PASSWORD, '198.51.100.67')).status).toBe(200);
    });

    it('locks a known address too once it fails itself, even with the right password', async () => {
      const { username } = await register();
      const home = '198.51.100.70';
      expect((await loginAs(username, PASSWORD, home)).status).toBe(200);
      for (let i = 0; i < 5; i++) await loginAs(username, WRONG, home);
      await expectProblem(await loginAs(username, PASSWORD, home), 429, 'too_many_attempts');
    });

    it(
      'catches spraying across many usernames from one CF-Connecting-IP',
      async () => {
        const ip = '198.51.100.23';
        // Default LOGIN_IP_MAX_FAILURES is 50: one failure each on 50 different names.
        for (let i = 0; i < 50; i++) await loginAs(uniqueName('spray'), WRONG, ip);
        const { username } = await register();
        await expectProblem(await loginAs(username, PASSWORD, ip), 429, 'too_many_attempts');
        // Another client is not affected.
        expect((await loginAs(username, PASSWORD, '198.51.100.24')).status).toBe(200);
      },
      SEQUENTIAL_FIFTY,
    );

    it(
      'ignores X-Forwarded-For: only CF-Connecting-IP counts',
      async () => {
        const ip = '192.0.2.55';
        for (let i = 0; i < 50; i++) {
          await loginAs(uniqueName('spray'), WRONG, ip, { 'X-Forwarded-For': `10.0.0.${i}` });
        }
        const { username } = await register();
        await expectProblem(
          await loginAs(username, PASSWORD, ip, { 'X-Forwarded-For': '10.9.9.9' }),
          429,
          'too_many_attempts',
        );
      },
      SEQUENTIAL_FIFTY,
    );

    it('counts a whole IPv6 /64 as one address', async () => {
      const { username } = await register();
      for (let i = 1; i <= 5; i++) await loginAs(username, WRONG, `2001:db8:aa:bb::${i.toString(16)}`);
      // Another address of the same /64, written differently, is the same address.
      await expectProblem(
        await loginAs(username, PASSWORD, '2001:0db8:00aa:00bb:ffff:1:2:3'),
        429,
        'too_many_attempts',
      );
      // The neighbouring /64 is another address.
      expect((await loginAs(username, PASSWORD, '2001:db8:aa:bc::1')).status).toBe(200);
    });

    it('counts a sprayer hopping addresses within one IPv6 /64 on one per-address counter', async () => {
      const strict = appWith({ LOGIN_IP_MAX_FAILURES: '3' });
      for (let i = 1; i <= 3; i++) {
        await strict('/auth/login', {
          json: { username: uniqueName('spray6'), password: WRONG },
          headers: { 'CF-Connecting-IP': `2001:db8:cc:dd::${i}` },
        });
      }
      const { username } = await register();
      const res = await strict('/auth/login', {
        json: { username, password: PASSWORD },
        headers: { 'CF-Connecting-IP': '2001:db8:cc:dd:1234::9' },
      });
      await expectProblem(res, 429, 'too_many_attempts');
    });

    it('keeps IPv4 per address: a neighbour is not locked', async () => {
      const { username } = await register();
      for (let i = 0; i < 5; i++) await loginAs(username, WRONG, '203.0.113.40');
      expect((await loginAs(username, PASSWORD, '203.0.113.41')).status).toBe(200);
    });
  });

  describe('per username across all addresses (distributed guessing)', () => {
    const distributed = appWith({ LOGIN_USER_MAX_FAILURES: '10' });
    const attempt = (username: string, password: string, ip: string) =>
      distributed('/auth/login', { json: { username, password }, headers: { 'CF-Connecting-IP': ip } });

    it('locks the account at unknown addresses once the ceiling is reached, but not at a known one', async () => {
      const { username } = await register();
      const home = '192.0.2.200';
      expect((await attempt(username, PASSWORD, home)).status).toBe(200);
      // One failure each from ten addresses: no address reaches its own limit.
      for (let i = 1; i <= 10; i++) {
        await expectProblem(await attempt(username, WRONG, `192.0.2.${i}`), 401, 'invalid_credentials');
      }
      await expectProblem(await attempt(username, PASSWORD, '192.0.2.77'), 429, 'too_many_attempts');
      // The owner's known address is not locked by strangers' failures.
      expect((await attempt(username, PASSWORD, home)).status).toBe(200);
    });

    it('keeps an address known while the owner keeps logging in from it', async () => {
      const { username } = await register();
      const home = '192.0.2.202';
      expect((await attempt(username, PASSWORD, home)).status).toBe(200);
      vi.setSystemTime(new Date('2026-06-21T12:00:00Z'));
      expect((await attempt(username, PASSWORD, home)).status).toBe(200);
      // 45 days after the first login, 25 after the last: still known.
      vi.setSystemTime(new Date('2026-07-16T12:00:00Z'));
      for (let i = 1; i <= 10; i++) await attempt(username, WRONG, `192.0.2.${40 + i}`);
      await expectProblem(await attempt(username, PASSWORD, '192.0.2.99'), 429, 'too_many_attempts');
      expect((await attempt(username, PASSWORD, home)).status).toBe(200);
    });

    it('forgets a known address after 30 days without a login from it', async () => {
      const { username } = await register();
      const home = '192.0.2.201';
      expect((await attempt(username, PASSWORD, home)).status).toBe(200);
      vi.setSystemTime(new Date('2026-07-02T12:00:00Z'));
      for (let i = 1; i <= 10; i++) await attempt(username, WRONG, `192.0.2.${20 + i}`);
      await expectProblem(await attempt(username, PASSWORD, home), 429, 'too_many_attempts');
    });
  });

  describe('under parallel requests', () => {
    it('gives at most LOGIN_MAX_FAILURES of 40 simultaneous wrong passwords a verdict, the rest 429 without PBKDF2', async () => {
      const { username } = await register();
      const counter = countPbkdf2();
      const responses = await Promise.all(Array.from({ length: 40 }, () => loginAs(username, WRONG, '203.0.113.120')));
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(35);
      expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
      expect(counter.runs()).toBeLessThanOrEqual(5);
      await expectProblem(await loginAs(username, PASSWORD, '203.0.113.120'), 429, 'too_many_attempts');
    });

    it('holds the per-address limit under simultaneous attempts on many usernames', async () => {
      const strict = appWith({ LOGIN_IP_MAX_FAILURES: '4' });
      const counter = countPbkdf2();
      const responses = await Promise.all(
        Array.from({ length: 30 }, () =>
          strict('/auth/login', {
            json: { username: uniqueName('par'), password: WRONG },
            headers: { 'CF-Connecting-IP': '203.0.113.121' },
          }),
        ),
      );
      expect(responses.filter((r) => r.status === 401).length).toBeLessThanOrEqual(4);
      expect(responses.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(26);
      expect(counter.runs()).toBeLessThanOrEqual(4);
    });

    it('holds the limit for the current password of POST /auth/password', async () => {
      const { token } = await signedIn();
      const counter = countPbkdf2();
      const responses = await Promise.all(
        Array.from({ length: 20 }, () =>
          api('/auth/password', {
            json: { current_password: WRONG, new_password: 'another-long-passphrase' },
            token,
            headers: { 'CF-Connecting-IP': '203.0.113.122' },
          }),
        ),
      );
      expect(responses.filter((r) => r.status === 401).length).toBeLessThanOrEqual(5);
      expect(responses.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(15);
      expect(counter.runs()).toBeLessThanOrEqual(5);
    });
  });

  describe('on POST /auth/password', () => {
    it('counts wrong current passwords like failed logins from that address', async () => {
      // Mixed case: the change counts under the same username key as the login.
      const { user, token } = await signedIn('MixedCase');
      const headers = { 'CF-Connecting-IP': '203.0.113.99' };
      for (let i = 0; i < 5; i++) {
        const res = await api('/auth/password', {
          json: { current_password: WRONG, new_password: 'another-long-passphrase' },
          token,
          headers,
        });
        await expectProblem(res, 401, 'invalid_credentials');
      }
      await expectProblem(await loginAs(user.username, PASSWORD, '203.0.113.99'), 429, 'too_many_attempts');
      const res = await api('/auth/password', {
        json: { current_password: PASSWORD, new_password: 'another-long-passphrase' },
        token,
        headers,
      });
      await expectProblem(res, 429, 'too_many_attempts');
    });

    it('does not count a refused new password as a wrong current one', async () => {
      const { token } = await signedIn();
      const headers = { 'CF-Connecting-IP': '203.0.113.98' };
      for (let i = 0; i < 6; i++) {
        const res = await api('/auth/password', {
          json: { current_password: PASSWORD, new_password: 'short' },
          token,
          headers,
        });
        await expectProblem(res, 400, 'validation_failed');
      }
      const ok = await api('/auth/password', {
        json: { current_password: PASSWORD, new_password: 'another-long-passphrase' },
        token,
        headers,
      });
      expect(ok.status).toBe(204);
    });
  });

  it('takes its thresholds and window from configuration', async () => {
    const strict = appWith({ LOGIN_MAX_FAILURES: '2', LOGIN_WINDOW: '60' });
    const { username } = await register();
    const attempt = (password: string) =>
      strict('/auth/login', { json: { username, password }, headers: { 'CF-Connecting-IP': '203.0.113.150' } });
    for (let i = 0; i < 2; i++) await expectProblem(await attempt(WRONG), 401, 'invalid_credentials');
    const locked = await attempt(PASSWORD);
    await expectProblem(locked, 429, 'too_many_attempts');
    expect(locked.headers.get('Retry-After')).toBe('60');
    vi.setSystemTime(new Date('2026-06-01T12:01:01Z'));
    expect((await attempt(PASSWORD)).status).toBe(200);
  });

  it('takes the per-IP threshold from configuration', async () => {
    const strict = appWith({ LOGIN_IP_MAX_FAILURES: '3' });
    const headers = { 'CF-Connecting-IP': '203.0.113.151' };
    for (let i = 0; i < 3; i++) {
      await strict('/auth/login', { json: { username: uniqueName('spray'), password: WRONG }, headers });
    }
    const { username } = await register();
    await expectProblem(
      await strict('/auth/login', { json: { username, password: PASSWORD }, headers }),
      429,
      'too_many_attempts',
    );
  });

  it('keeps its counters in D1, so every edge location sees the same count', async () => {
    const { username } = await register();
    await loginAs(username, WRONG, '203.0.113.160');
    const rows = await env.DB.prepare('SELECT key, count FROM rate_counters WHERE key LIKE ? ORDER BY key')
      .bind(`login:%${username.toLowerCase()}%`)
      .all<{ key: string; count: number }>();
    expect(rows.results).toEqual([
      { key: `login:user-address:${username.toLowerCase()}|203.0.113.160`, count: 1 },
      { key: `login:user:${username.toLowerCase()}`, count: 1 },
    ]);
  });
});
