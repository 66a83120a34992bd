/**
 * Legacy hashes imported from Flask apps: vectors made by the real tools (werkzeug's
 * security.py and Python's bcrypt; see test/fixtures/legacy-hash-vectors.json), hostile and
 * damaged strings, the path deployed Workers take above WebCrypto's 100,000-iteration cap,
 * and the rehash on first login through the Worker.
 */
import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fixture from './fixtures/legacy-hash-vectors.json';
import {
  MAX_BCRYPT_COST,
  MAX_LEGACY_PBKDF2_ITERATIONS,
  MAX_SCRYPT_COST,
  MAX_SCRYPT_MEMORY,
  parseLegacyHash,
  WEBCRYPTO_MAX_PBKDF2_ITERATIONS,
} from '../src/legacy-hashes';
import { verifyPassword } from '../src/password';
import { api, expectProblem, insertImportedUser } from './helpers';

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

describe('login with a legacy hash, through the Worker', () => {
  const asked = capWebCryptoLikeProduction();

  const storedHash = async (id: string) =>
    (await env.DB.prepare('SELECT password_hash FROM users WHERE id = ?').bind(id).first<string>('password_hash'))!;

  it("logs in above 100,000 iterations under a deployed Worker's WebCrypto cap, replacing the hash for good", async () => {
    const v = byPrefix('pbkdf2:sha256:100001$');
    const user = await insertImportedUser(v.hash);
    const first = await api('/auth/login', { json: { username: user.username, password: v.password } });
    expect(first.status).toBe(200);
    // The legacy check took the pure-JS path: the only WebCrypto PBKDF2 was the new hash.
    expect(asked).toEqual([100_000]);
    const upgraded = await storedHash(user.id);
    expect(upgraded).toMatch(/^\$pbkdf2-sha256\$i=100000\$/);
    expect(await verifyPassword(v.password, upgraded, { iterations: 100_000 })).toEqual({
      ok: true,
      needsRehash: false,
    });
    const second = await api('/auth/login', { json: { username: user.username, password: v.password } });
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
