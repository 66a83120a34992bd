import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { api, appWith, expectProblem, PASSWORD, register, signedIn, uniqueName } from './helpers';

const WRONG = 'definitely-not-it';
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

    it('is reset by a successful login', async () => {
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

  describe('per client IP', () => {
    it('catches spraying across many usernames from one CF-Connecting-IP', async () => {
      const ip = '198.51.100.23';
      // Default LOGIN_IP_MAX_FAILURES is 50: one failure each on 50 different names.
      for (let i = 0; i < 50; i++) await loginAs(uniqueName('spray'), WRONG, ip);
      const { username } = await register();
      await expectProblem(await loginAs(username, PASSWORD, ip), 429, 'too_many_attempts');
      // Another client is not affected.
      expect((await loginAs(username, PASSWORD, '198.51.100.24')).status).toBe(200);
    });

    it('ignores X-Forwarded-For: only CF-Connecting-IP counts', async () => {
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
    });
  });

  describe('on POST /auth/password', () => {
    it('counts wrong current passwords like failed logins', async () => {
      const { user, token } = await signedIn();
      for (let i = 0; i < 5; i++) {
        const res = await api('/auth/password', {
          json: { current_password: WRONG, new_password: 'another-long-passphrase' },
          token,
          headers: { 'CF-Connecting-IP': '203.0.113.99' },
        });
        await expectProblem(res, 401, 'invalid_credentials');
      }
      await expectProblem(await loginAs(user.username, PASSWORD, '203.0.113.100'), 429, 'too_many_attempts');
      const res = await api('/auth/password', {
        json: { current_password: PASSWORD, new_password: 'another-long-passphrase' },
        token,
      });
      await expectProblem(res, 429, 'too_many_attempts');
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
    await loginAs(username, WRONG);
    const row = await env.DB.prepare('SELECT failures FROM login_failures WHERE key = ?')
      .bind(`user:${username.toLowerCase()}`)
      .first<{ failures: number }>();
    expect(row!.failures).toBe(1);
  });
});
