/**
 * Legacy hashes imported from Flask apps: vectors made by the real tools (werkzeug's
 * security.py and Python's bcrypt; see test/fixtures/legacy-hash-vectors.json), hostile and
 * damaged strings, the path deployed Workers take above WebCrypto's 100,000-iteration cap,
 * and the rehash on first login through the Worker. Hashes WebCrypto cannot check go to the
 * real companion Worker (workers/legacy-hashes), run by the pool beside the service; what a
 * deployment without it answers is tested at the end.
 */
import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import fixture from './fixtures/legacy-hash-vectors.json';
import {
  MAX_BCRYPT_COST,
  MAX_LEGACY_PBKDF2_ITERATIONS,
  MAX_SCRYPT_COST,
  MAX_SCRYPT_MEMORY,
  parseLegacyHash,
  PBKDF2_HASHES,
  WEBCRYPTO_MAX_PBKDF2_ITERATIONS,
} from '../src/credentials/legacy-hashes';
import type { LegacyHashesCompanion } from '../src/credentials/legacy-hashes-companion';
import { verifyPassword } from '../src/credentials/password';
import { NOBLE_HASHES, verifyLegacyHashInJs } from '../workers/legacy-hashes/src/verify';
import { api, appWith, expectProblem, insertImportedUser, register, withoutLegacyHashes } from './helpers';

type Vector = { tool: string; call: string; password: string; wrong_password: string; hash: string };
const vectors = fixture.vectors as Vector[];
/** With the real companion Worker (an auxiliary Worker of the pool, see vitest.config.ts). */
const OPTIONS = { iterations: 10_000, legacyHashes: env.LEGACY_HASHES };

/** Hash names werkzeug accepts that the service deliberately does not verify (see legacy-hashes.ts). */
const unsupported = (v: Vector) => /^pbkdf2:sha3_/.test(v.hash);
const supported = vectors.filter((v) => !unsupported(v));
const byPrefix = (prefix: string) => supported.find((v) => v.hash.startsWith(prefix))!;

/**
 * Records every WebCrypto PBKDF2 derivation and, like a deployed Worker, refuses those above
 * 100,000 iterations with workerd's own error. Local workerd has no such cap, so without this
 * a test of the WebCrypto path would pass here and fail in production.
 */
function capWebCryptoLikeProduction() {
  const original = crypto.subtle.deriveBits;
  const asked: number[] = [];
  beforeEach(() => {
    asked.length = 0;
    crypto.subtle.deriveBits = function (this: SubtleCrypto, algorithm, key, length) {
      const { name, iterations } = algorithm as { name?: string; iterations?: number };
      if (name === 'PBKDF2' && typeof iterations === 'number') {
        asked.push(iterations);
        if (iterations > WEBCRYPTO_MAX_PBKDF2_ITERATIONS) {
          const max = WEBCRYPTO_MAX_PBKDF2_ITERATIONS;
          const msg = `Pbkdf2 failed: iteration counts above ${max} are not supported (requested ${iterations}).`;
          return Promise.reject(new DOMException(msg, 'NotSupportedError'));
        }
      }
      return original.call(this, algorithm, key, length);
    } as typeof original;
  });
  afterEach(() => {
    crypto.subtle.deriveBits = original;
  });
  return asked;
}

/**
 * Pure JS runs about ten times slower under the test pool than under `wrangler dev`, so the
 * unit tests take the tool-made vectors with small parameters; those with werkzeug's and
 * Flask-Bcrypt's real defaults (260,000 to 1,000,000 iterations, scrypt N = 32768, bcrypt 12)
 * are logged in with over HTTP by test/e2e/import-users.test.ts.
 */
function cheap(v: Vector): boolean {
  const legacy = parseLegacyHash(v.hash)!;
  if (legacy.kind === 'bcrypt') return legacy.cost <= 10;
  if (legacy.kind === 'werkzeug-scrypt') return legacy.N * legacy.r * legacy.p <= 16_384;
  const webCrypto = ['sha1', 'sha256', 'sha384', 'sha512'].includes(legacy.hashName);
  return legacy.iterations <= (webCrypto ? WEBCRYPTO_MAX_PBKDF2_ITERATIONS : 5_000);
}

describe('legacy hashes made by werkzeug and bcrypt', () => {
  const asked = capWebCryptoLikeProduction();

  it('cover every kind the issue names', () => {
    for (const prefix of [
      'pbkdf2:sha256:260000$',
      'pbkdf2:sha256:600000$',
      'pbkdf2:sha256:1000000$',
      'scrypt:32768:8:1$',
      '$2a$',
      '$2b$12$',
      '$2y$',
    ]) {
      expect(
        supported.some((v) => v.hash.startsWith(prefix)),
        prefix,
      ).toBe(true);
    }
  });

  describe.each(supported.filter(cheap).map((v) => [v.hash.split('$')[0] || v.hash.slice(0, 7), v] as const))(
    '%s',
    (_, v) => {
      it(`verifies the password and asks for a rehash (${v.tool}: ${v.call})`, async () => {
        expect(await verifyPassword(v.password, v.hash, OPTIONS)).toEqual({ ok: true, needsRehash: true });
      });

      it('refuses a wrong password', async () => {
        expect(await verifyPassword(v.wrong_password, v.hash, OPTIONS)).toEqual({ ok: false, needsRehash: false });
      });
    },
  );

  it('use WebCrypto within its cap (werkzeug < 0.15 wrote 50,000)', async () => {
    const v = byPrefix('pbkdf2:sha256:50000$');
    expect((await verifyPassword(v.password, v.hash, OPTIONS)).ok).toBe(true);
    expect(asked).toEqual([50_000]);
  });

  it('check the raw UTF-8 the Flask app hashed, not an NFKC-normalised form', async () => {
    const v = supported.find((x) => x.password === 'caf\u00e9-composed')!;
    expect((await verifyPassword(v.password, v.hash, OPTIONS)).ok).toBe(true);
    expect((await verifyPassword('cafe\u0301-composed', v.hash, OPTIONS)).ok).toBe(false);
  });

  it('read only the first 72 bytes of a bcrypt password, as Python bcrypt did', async () => {
    const v = supported.find((x) => x.hash.startsWith('$2') && x.password.length > 72)!;
    expect((await verifyPassword(`${v.password.slice(0, 72)}something-else`, v.hash, OPTIONS)).ok).toBe(true);
  });

  it('refuse hash names left out on purpose (SHA-3) like a corrupt row', async () => {
    const v = vectors.find(unsupported)!;
    expect(parseLegacyHash(v.hash)).toBeNull();
    expect(await verifyPassword(v.password, v.hash, OPTIONS)).toEqual({ ok: false, needsRehash: false });
  });
});

const pbkdf2 = byPrefix('pbkdf2:sha256:260000$').hash;
const [pbkdf2Method, pbkdf2Salt, pbkdf2Hex] = pbkdf2.split('$') as [string, string, string];
const scrypt = byPrefix('scrypt:32768:8:1$').hash;
const [, scryptSalt, scryptHex] = scrypt.split('$') as [string, string, string];
const bcrypt = byPrefix('$2b$12$').hash;

/** Damaged or hostile stored values: each must be refused before any work it asks for. */
const MALFORMED: Record<string, string> = {
  'pbkdf2, truncated hex': pbkdf2.slice(0, -2),
  'pbkdf2, odd-length hex': pbkdf2.slice(0, -1),
  'pbkdf2, bad hex': `${pbkdf2Method}$${pbkdf2Salt}$${'zz'.repeat(32)}`,
  'pbkdf2, upper-case hex': `${pbkdf2Method}$${pbkdf2Salt}$${pbkdf2Hex.toUpperCase()}`,
  'pbkdf2, no salt': `${pbkdf2Method}$$${pbkdf2Hex}`,
  'pbkdf2, extra field': `${pbkdf2}$00`,
  'pbkdf2, 10^12 iterations': `pbkdf2:sha256:1000000000000$${pbkdf2Salt}$${pbkdf2Hex}`,
  'pbkdf2, just over the cap': `pbkdf2:sha256:2000001$${pbkdf2Salt}$${pbkdf2Hex}`,
  'pbkdf2, 0 iterations': `pbkdf2:sha256:0$${pbkdf2Salt}$${pbkdf2Hex}`,
  'pbkdf2, negative iterations': `pbkdf2:sha256:-5$${pbkdf2Salt}$${pbkdf2Hex}`,
  'pbkdf2, iterations with leading zero': `pbkdf2:sha256:0260000$${pbkdf2Salt}$${pbkdf2Hex}`,
  'pbkdf2, no iteration count': `pbkdf2:sha256$${pbkdf2Salt}$${pbkdf2Hex}`,
  'pbkdf2, unknown hash name': `pbkdf2:whirlpool:1000$${pbkdf2Salt}$${pbkdf2Hex}`,
  'pbkdf2, prototype key as hash name': `pbkdf2:constructor:1000$${pbkdf2Salt}$${pbkdf2Hex}`,
  'pbkdf2, digest length mismatch': `pbkdf2:sha512:1000$${pbkdf2Salt}$${pbkdf2Hex}`,
  'scrypt, N not a power of two': `scrypt:30000:8:1$${scryptSalt}$${scryptHex}`,
  'scrypt, N = 1': `scrypt:1:8:1$${scryptSalt}$${scryptHex}`,
  'scrypt, 2^24 N (2 GiB)': `scrypt:16777216:8:1$${scryptSalt}$${scryptHex}`,
  'scrypt, r = 1024 (1 GiB)': `scrypt:8192:1024:1$${scryptSalt}$${scryptHex}`,
  'scrypt, p = 10^6': `scrypt:32768:8:1000000$${scryptSalt}$${scryptHex}`,
  'scrypt, r = 0': `scrypt:32768:0:1$${scryptSalt}$${scryptHex}`,
  'scrypt, within N·r·p but B needs 96 MiB': `scrypt:2:262144:2$${scryptSalt}$${scryptHex}`,
  'scrypt, two parameters': `scrypt:32768:8$${scryptSalt}$${scryptHex}`,
  'scrypt, truncated hex': scrypt.slice(0, -3),
  'bcrypt, truncated': bcrypt.slice(0, -1),
  'bcrypt, cost 31': bcrypt.replace('$12$', '$31$'),
  'bcrypt, cost 03': bcrypt.replace('$12$', '$03$'),
  'bcrypt, unknown minor $2x$': bcrypt.replace('$2b$', '$2x$'),
  'bcrypt, bad alphabet': `${bcrypt.slice(0, -1)}!`,
  'empty string': '',
  'werkzeug 0.x salted sha1': 'sha1$abcd$0123456789abcdef0123456789abcdef01234567',
};

describe('malformed legacy strings', () => {
  const asked = capWebCryptoLikeProduction();

  it.each(Object.entries(MALFORMED))('%s: refused, at the cost of one wrong password', async (_, stored) => {
    expect(parseLegacyHash(stored)).toBeNull();
    // The right password of the string it was made from, so only the damage can refuse it.
    expect(await verifyPassword('flask-tutorial-2x', stored, OPTIONS)).toEqual({ ok: false, needsRehash: false });
    // Exactly the work of a wrong password on a native hash (and of an unknown user).
    expect(asked).toEqual([OPTIONS.iterations]);
  });
});

describe('parsing stored values', () => {
  const number = fc.oneof(
    fc.integer({ min: 0, max: 24 }).map((k) => String(2 ** k)),
    fc.integer({ min: 1, max: 2 ** 21 }).map(String),
    fc.constantFrom('2', '4', '8', '16', '1024', '32768', '65536', '2000000', '2000001'),
    fc.integer({ min: -5, max: 2 ** 40 }).map(String),
    fc.constantFrom('', '0', '08', '1e6', 'x'),
  );
  const hashName = fc.constantFrom('sha256', 'sha512', 'md5', 'sha3_256', '__proto__', 'constructor');
  const args = fc.oneof(
    fc.tuple(fc.constant('pbkdf2'), hashName, number),
    fc.tuple(fc.constant('scrypt'), number, number, number),
    fc
      .tuple(fc.constantFrom('pbkdf2', 'scrypt'))
      .chain(([m]) => fc.array(fc.oneof(number, hashName), { maxLength: 4 }).map((rest) => [m, ...rest])),
  );
  const salt = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,24}$/), fc.string({ maxLength: 40 }));
  const werkzeugLike = fc
    .tuple(
      args,
      salt,
      fc.oneof(
        fc.constantFrom('ab'.repeat(32), 'cd'.repeat(64)),
        fc.stringMatching(/^[0-9a-f]{0,140}$/),
        fc.string({ maxLength: 20 }),
      ),
    )
    .map(([parts, salt, hex]) => `${parts.join(':')}$${salt}$${hex}`);
  const bcryptLike = fc
    .tuple(
      fc.constantFrom('2a', '2b', '2y', '2x', '2', '3a'),
      fc.oneof(
        fc.integer({ min: 0, max: 99 }).map((n) => String(n).padStart(2, '0')),
        number,
      ),
      fc.oneof(fc.stringMatching(/^[./A-Za-z0-9]{53}$/), fc.string({ maxLength: 60 })),
    )
    .map(([minor, cost, rest]) => `$${minor}$${cost}$${rest}`);

  it('never throws, and accepts only parameters within the bounds', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(werkzeugLike, bcryptLike, fc.string()), (stored) => {
        const legacy = parseLegacyHash(stored);
        if (!legacy) return;
        accepted += 1;
        if (legacy.kind === 'bcrypt') expect(legacy.cost).toBeLessThanOrEqual(MAX_BCRYPT_COST);
        if (legacy.kind === 'werkzeug-pbkdf2') {
          expect(legacy.iterations).toBeGreaterThanOrEqual(1);
          expect(legacy.iterations).toBeLessThanOrEqual(MAX_LEGACY_PBKDF2_ITERATIONS);
        }
        if (legacy.kind === 'werkzeug-scrypt') {
          expect(legacy.N * legacy.r * legacy.p).toBeLessThanOrEqual(MAX_SCRYPT_COST);
          expect(128 * legacy.r * (legacy.N + legacy.p + 1)).toBeLessThanOrEqual(MAX_SCRYPT_MEMORY);
        }
      }),
      { numRuns: 2_000 },
    );
    // The generators reach the accepting side too (a few percent of runs), so the bounds
    // above were really checked.
    expect(accepted).toBeGreaterThan(0);
  });
});

const storedHash = async (id: string) =>
  (await env.DB.prepare('SELECT password_hash FROM users WHERE id = ?').bind(id).first<string>('password_hash'))!;

describe('login with a legacy hash, through the Worker', () => {
  const asked = capWebCryptoLikeProduction();

  it("logs in above 100,000 iterations under a deployed Worker's WebCrypto cap, replacing the hash for good", async () => {
    const v = byPrefix('pbkdf2:sha256:100001$');
    const user = await insertImportedUser(v.hash);
    const deployed = appWith({ PBKDF2_ITERATIONS: '100000' });
    const first = await deployed('/auth/login', { json: { username: user.username, password: v.password } });
    expect(first.status).toBe(200);
    // The legacy check took the pure-JS path: the only WebCrypto PBKDF2 was the new hash.
    expect(asked).toEqual([100_000]);
    const upgraded = await storedHash(user.id);
    expect(upgraded).toMatch(/^\$pbkdf2-sha256\$i=100000\$/);
    expect(await verifyPassword(v.password, upgraded, { iterations: 100_000 })).toEqual({
      ok: true,
      needsRehash: false,
    });
    const second = await deployed('/auth/login', { json: { username: user.username, password: v.password } });
    expect(second.status).toBe(200);
    expect(await storedHash(user.id)).toBe(upgraded);
  }, 30_000);

  it('logs in with a werkzeug scrypt hash and replaces it', async () => {
    const v = byPrefix('scrypt:1024:8:1$');
    const user = await insertImportedUser(v.hash);
    expect((await api('/auth/login', { json: { username: user.username, password: v.password } })).status).toBe(200);
    expect(await storedHash(user.id)).toMatch(/^\$pbkdf2-sha256\$/);
  });

  it('lets a Flask-JWT client log in at /auth as before, and replaces the hash there too', async () => {
    const v = byPrefix('$2b$04$');
    const user = await insertImportedUser(v.hash);
    const res = await api('/auth', { json: { username: user.username, password: v.password } });
    expect(res.status).toBe(200);
    expect(Object.keys((await res.json()) as object)).toEqual(['access_token']);
    expect(await storedHash(user.id)).toMatch(/^\$pbkdf2-sha256\$/);
  });

  it('refuses a wrong password with 401 and leaves the legacy hash in place', async () => {
    const v = byPrefix('$2b$10$');
    const user = await insertImportedUser(v.hash);
    await expectProblem(
      await api('/auth/login', { json: { username: user.username, password: v.wrong_password } }),
      401,
      'invalid_credentials',
    );
    expect(await storedHash(user.id)).toBe(v.hash);
  });

  it('answers a corrupt legacy hash with the ordinary 401, never a 500', async () => {
    const user = await insertImportedUser(MALFORMED['scrypt, 2^24 N (2 GiB)']!);
    await expectProblem(
      await api('/auth/login', { json: { username: user.username, password: 'scrypt-by-default' } }),
      401,
      'invalid_credentials',
    );
  });
});

describe('the companion Worker', () => {
  const companion = env.LEGACY_HASHES!;
  const asked = capWebCryptoLikeProduction();

  it.each(Object.entries(MALFORMED))('refuses %s before any work', async (_, stored) => {
    // The right password of the string it was made from: only the refusal can fail it.
    expect(await companion.verify('flask-tutorial-2x', stored)).toEqual({
      refused: 'stored hash malformed or outside the bounds',
    });
  });

  it('refuses arguments that are not two strings, and an overlong password', async () => {
    const v = byPrefix('$2b$04$');
    const notStrings = { refused: 'arguments are not two strings' };
    expect(await companion.verify(42 as unknown as string, v.hash)).toEqual(notStrings);
    expect(await companion.verify(v.password, { hash: v.hash } as unknown as string)).toEqual(notStrings);
    expect(await companion.verify(v.password.padEnd(4097, 'x'), v.hash)).toEqual({ refused: 'password too long' });
    expect(await companion.verify(v.password, v.hash)).toEqual({ match: true });
    expect(await companion.verify(v.wrong_password, v.hash)).toEqual({ match: false });
  });

  it('checks PBKDF2 above the cap in pure JavaScript, never asking WebCrypto for it', async () => {
    // Its own code in this isolate, where WebCrypto refuses like production (the companion's
    // isolate, like local workerd, would not).
    const v = byPrefix('pbkdf2:sha256:100001$');
    expect(await verifyLegacyHashInJs(v.password, parseLegacyHash(v.hash)!)).toBe(true);
    expect(asked).toEqual([]);
    // Pure JS in the test isolate is slow (see cheap() above); the companion runs it in 0.3 s.
  }, 30_000);

  it('has a hash of the right length for every name the parser accepts', () => {
    expect(Object.keys(NOBLE_HASHES).sort()).toEqual(Object.keys(PBKDF2_HASHES).sort());
    for (const [name, { bytes }] of Object.entries(PBKDF2_HASHES))
      expect(NOBLE_HASHES[name]!.outputLen, name).toBe(bytes);
  });

  it('answers HTTP with nothing', async () => {
    const res = await companion.fetch('https://edge-auth-legacy-hashes/');
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('');
  });
});

describe('without the companion (LEGACY_HASHES is off by default)', () => {
  /** The operator's error lines, as JSON; the test fails if any holds the password or the hash. */
  function operatorLog(secrets: string[]) {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    return () => {
      const lines = spy.mock.calls.map((args) => args.map(String).join(' '));
      for (const secret of secrets) for (const line of lines) expect(line).not.toContain(secret);
      return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    };
  }
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('answers 503 legacy_hash_unavailable to a user only the companion can check, and tells the operator', async () => {
    const v = byPrefix('scrypt:1024:8:1$');
    const user = await insertImportedUser(v.hash);
    const lines = operatorLog([v.password, v.hash, v.hash.split('$')[1]!]);
    const res = await withoutLegacyHashes()('/auth/login', { json: { username: user.username, password: v.password } });
    const problem = await expectProblem(res, 503, 'legacy_hash_unavailable');
    expect(problem.detail).toMatch(/cannot check at the moment/);
    expect(lines()).toEqual([
      {
        type: 'error',
        kind: 'legacy_hashes',
        message: expect.stringMatching(/LEGACY_HASHES service binding is not configured: deploy the companion/),
      },
    ]);
    // Nothing was decided: the imported hash stays for the login that can check it.
    expect(await storedHash(user.id)).toBe(v.hash);
  });

  it('answers the same whatever the password, the trade-off docs/flask.md states', async () => {
    const v = byPrefix('$2b$04$');
    const user = await insertImportedUser(v.hash);
    operatorLog([v.password, v.wrong_password]);
    const app = withoutLegacyHashes();
    for (const password of [v.password, v.wrong_password]) {
      await expectProblem(
        await app('/auth', { json: { username: user.username, password } }),
        503,
        'legacy_hash_unavailable',
      );
    }
    // Unknown names still get the ordinary 401.
    await expectProblem(
      await app('/auth/login', { json: { username: `${user.username}_nobody`, password: v.password } }),
      401,
      'invalid_credentials',
    );
  });

  it('counts each such attempt towards the login throttle, so names are tried no faster than passwords', async () => {
    const v = byPrefix('scrypt:1024:8:1$');
    const user = await insertImportedUser(v.hash);
    operatorLog([v.password]);
    const app = appWith({ LEGACY_HASHES: undefined, LOGIN_MAX_FAILURES: '2', LOGIN_WINDOW: '60' });
    const attempt = () => app('/auth/login', { json: { username: user.username, password: v.password } });
    await expectProblem(await attempt(), 503, 'legacy_hash_unavailable');
    await expectProblem(await attempt(), 503, 'legacy_hash_unavailable');
    await expectProblem(await attempt(), 429, 'too_many_attempts');
  });

  it('leaves everyone else unaffected: ordinary users, and imported hashes WebCrypto can check', async () => {
    const lines = operatorLog([]);
    const app = withoutLegacyHashes();
    const ordinary = await register();
    const res = await app('/auth/login', { json: { username: ordinary.username, password: ordinary.password } });
    expect(res.status).toBe(200);

    const v = byPrefix('pbkdf2:sha256:50000$');
    const imported = await insertImportedUser(v.hash);
    expect((await app('/auth/login', { json: { username: imported.username, password: v.password } })).status).toBe(
      200,
    );
    expect(await storedHash(imported.id)).toMatch(/^\$pbkdf2-sha256\$i=/);
    expect(lines()).toEqual([]);
  });

  it.each([
    [
      'fails (gone, or over its CPU limit)',
      () => Promise.reject(new Error('Worker exceeded CPU time limit.')),
      { message: 'the legacy-hashes companion Worker failed to verify an imported hash', name: 'Error' },
    ],
    [
      'refuses the hash (deployed from another version)',
      () => Promise.resolve({ refused: 'stored hash malformed or outside the bounds' }),
      {
        message:
          'the legacy-hashes companion Worker did not check an imported hash (stored hash malformed or outside the bounds); deploy both from the same version',
      },
    ],
  ] as const)('answers 503, never a 500 or a 401, when the companion is bound but %s', async (_, verify, logged) => {
    const v = byPrefix('scrypt:1024:8:1$');
    const user = await insertImportedUser(v.hash);
    const lines = operatorLog([v.password, v.hash]);
    // The binding's behaviour in those cases, not a verifier: no verdict comes back.
    const companion: LegacyHashesCompanion = { verify };
    const app = appWith({ LEGACY_HASHES: companion as unknown as Cloudflare.Env['LEGACY_HASHES'] });
    await expectProblem(
      await app('/auth/login', { json: { username: user.username, password: v.password } }),
      503,
      'legacy_hash_unavailable',
    );
    expect(lines()).toEqual([{ type: 'error', kind: 'legacy_hashes', ...logged }]);
    expect(await storedHash(user.id)).toBe(v.hash);
  });
});

describe('the cap on failed checks of an imported hash (LEGACY_VERIFY_MAX_FAILURES)', () => {
  /** A companion that answers at once and counts what it was asked: the checks a login ran. */
  function countingCompanion(password: string, overrides: Partial<Cloudflare.Env> = {}) {
    const asked: string[] = [];
    const companion: LegacyHashesCompanion = {
      verify: async (presented) => (asked.push(presented), { match: presented === password }),
    };
    const LEGACY_HASHES = companion as unknown as Cloudflare.Env['LEGACY_HASHES'];
    return { asked, app: appWith({ LEGACY_HASHES, ...overrides }) };
  }
  const from = (i: number) => ({ 'CF-Connecting-IP': `203.0.113.${i}` });

  afterEach(() => vi.useRealTimers());

  it('runs at most ten checks an hour over all addresses, even in parallel; then 429 without the verifier', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-06-01T12:00:00Z'));
    const v = byPrefix('$2b$10$');
    const user = await insertImportedUser(v.hash);
    const { asked, app } = countingCompanion(v.password);
    const login = (password: string, i: number) =>
      app('/auth/login', { json: { username: user.username, password }, headers: from(i) });

    // Forty addresses, one wrong password each: no per-address or per-username limit is reached.
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => login(v.wrong_password, i + 1)));
    expect(asked).toHaveLength(10);
    expect(answers.filter((r) => r.status === 401)).toHaveLength(10);
    expect(answers.filter((r) => r.status === 429)).toHaveLength(30);

    // The right password from yet another address: refused before the verifier runs.
    const refused = await login(v.password, 99);
    await expectProblem(refused, 429, 'too_many_attempts');
    expect(Number(refused.headers.get('Retry-After'))).toBe(3600);
    expect(asked).toHaveLength(10);

    // The hour over, the owner gets in, and the imported hash is replaced for good.
    vi.setSystemTime(new Date('2026-06-01T13:00:01Z'));
    expect((await login(v.password, 99)).status).toBe(200);
    expect(await storedHash(user.id)).toMatch(/^\$pbkdf2-sha256\$/);
  });

  it('does not apply once the hash is replaced, nor to accounts with the service’s own hash', async () => {
    const v = byPrefix('$2b$10$');
    const user = await insertImportedUser(v.hash);
    const { app } = countingCompanion(v.password, { LEGACY_VERIFY_MAX_FAILURES: '2' });
    expect((await app('/auth/login', { json: { username: user.username, password: v.password } })).status).toBe(200);
    const ordinary = await register();
    for (let i = 1; i <= 4; i++) {
      for (const username of [user.username, ordinary.username]) {
        await expectProblem(
          await app('/auth/login', { json: { username, password: 'not-the-password' }, headers: from(100 + i) }),
          401,
          'invalid_credentials',
        );
      }
    }
  });
});
