import { describe, expect, it } from 'vitest';
import { getConfig, MAX_PBKDF2_ITERATIONS, parseConfig } from '../src/platform/config';
import { ConfigError } from '../src/platform/errors';

const SECRET = 'x'.repeat(32);

describe('configuration', () => {
  it('has safe defaults', () => {
    const config = parseConfig({ JWT_SECRET: SECRET });
    expect(config).toMatchObject({
      accessTokenTtl: 900,
      refreshTokenTtl: 30 * 86_400,
      pbkdf2Iterations: 100_000,
      passwordMinLength: 8,
      loginMaxFailures: 5,
      loginWindow: 900,
      corsOrigins: [],
    });
  });

  it('has safe defaults and bounds for the limits of issue 16', () => {
    expect(parseConfig({ JWT_SECRET: SECRET })).toMatchObject({
      loginKnownAddressParallel: 20,
      legacyVerifyMaxFailures: 10,
      mfaMaxConsecutiveFailures: 100,
      d1ReplicaLagBound: 10,
      emailResetUserMax: 10,
    });
    // NIST SP 800-63B 5.2.2 allows no more than 100 failures in a row.
    expect(() => parseConfig({ JWT_SECRET: SECRET, MFA_MAX_CONSECUTIVE_FAILURES: '101' })).toThrow(
      /MFA_MAX_CONSECUTIVE_FAILURES/,
    );
    for (const name of [
      'LOGIN_KNOWN_ADDRESS_PARALLEL',
      'LEGACY_VERIFY_MAX_FAILURES',
      'MFA_MAX_CONSECUTIVE_FAILURES',
      'EMAIL_RESET_USER_MAX',
    ]) {
      expect(() => parseConfig({ JWT_SECRET: SECRET, [name]: '0' }), name).toThrow(new RegExp(name));
    }
    expect(() => parseConfig({ JWT_SECRET: SECRET, D1_REPLICA_LAG_BOUND: '301' })).toThrow(/D1_REPLICA_LAG_BOUND/);
    expect(parseConfig({ JWT_SECRET: SECRET, D1_REPLICA_LAG_BOUND: '0' }).d1ReplicaLagBound).toBe(0);
  });

  it('refuses more PBKDF2 iterations than deployed Workers allow (local workerd would accept them)', () => {
    expect(MAX_PBKDF2_ITERATIONS).toBe(100_000);
    expect(() => parseConfig({ JWT_SECRET: SECRET, PBKDF2_ITERATIONS: '100001' })).toThrow(/PBKDF2_ITERATIONS/);
    expect(() => parseConfig({ JWT_SECRET: SECRET, PBKDF2_ITERATIONS: '600000' })).toThrow(ConfigError);
  });

  it('requires JWT_SECRET and names it without echoing the value', () => {
    expect(() => parseConfig({})).toThrow(/JWT_SECRET/);
    const short = 'short-secret-value';
    let message = '';
    try {
      parseConfig({ JWT_SECRET: short });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/JWT_SECRET/);
    expect(message).not.toContain(short);
  });

  it('treats an empty optional secret as not set', () => {
    expect(parseConfig({ JWT_SECRET: SECRET, PASSWORD_PEPPER: '', JWT_PRIVATE_KEY: '' })).toMatchObject({
      pepper: undefined,
      jwt: { privateKeys: [] },
    });
    expect(() => parseConfig({ JWT_SECRET: '' })).toThrow(/JWT_SECRET is not set/);
  });

  it('refuses a minimum password length below the ASVS floor of 8', () => {
    expect(() => parseConfig({ JWT_SECRET: SECRET, PASSWORD_MIN_LENGTH: '6' })).toThrow(/PASSWORD_MIN_LENGTH/);
    expect(parseConfig({ JWT_SECRET: SECRET, PASSWORD_MIN_LENGTH: '15' }).passwordMinLength).toBe(15);
  });

  it('parses CORS_ORIGINS into origins and refuses non-URLs', () => {
    expect(
      parseConfig({ JWT_SECRET: SECRET, CORS_ORIGINS: 'https://a.example, https://b.example/' }).corsOrigins,
    ).toEqual(['https://a.example', 'https://b.example']);
    expect(() => parseConfig({ JWT_SECRET: SECRET, CORS_ORIGINS: '*' })).toThrow(/CORS_ORIGINS/);
  });

  it('refuses http:// CORS origins except loopback (a dev server)', () => {
    const origins = (value: string) => parseConfig({ JWT_SECRET: SECRET, CORS_ORIGINS: value }).corsOrigins;
    expect(origins('http://localhost:5173 http://127.0.0.1:8080 http://[::1]:3000')).toEqual([
      'http://localhost:5173',
      'http://127.0.0.1:8080',
      'http://[::1]:3000',
    ]);
    for (const value of [
      'http://app.example',
      'https://app.example http://app.example',
      'http://192.168.1.10:5173',
      'http://10.0.0.1',
      'http://localhost.evil.example',
      'http://127.0.0.1.evil.example',
      'http://[::2]',
    ]) {
      expect(() => origins(value), value).toThrow(/CORS_ORIGINS/);
      expect(() => origins(value), value).toThrow(ConfigError);
    }
  });

  it('refuses a malformed JWT_PRIVATE_KEY without echoing it', () => {
    let message = '';
    try {
      parseConfig({ JWT_PRIVATE_KEY: '{"kid":"k","alg":"HS256","d":"secretvalue"}' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/JWT_PRIVATE_KEY/);
    expect(message).not.toContain('secretvalue');
  });

  it('takes JWT_PRIVATE_KEY as one JWK or a list with one key per alg, RS256 among them', () => {
    const ed = { kid: 'ed', alg: 'EdDSA', kty: 'OKP', crv: 'Ed25519', x: 'x', d: 'd' };
    const rs = { kid: 'rs', alg: 'RS256', kty: 'RSA', n: 'n', e: 'AQAB', d: 'd' };
    expect(parseConfig({ JWT_PRIVATE_KEY: JSON.stringify(rs) }).jwt.privateKeys.map((k) => k.kid)).toEqual(['rs']);
    expect(parseConfig({ JWT_PRIVATE_KEY: JSON.stringify([ed, rs]) }).jwt.privateKeys.map((k) => k.kid)).toEqual([
      'ed',
      'rs',
    ]);
    for (const [bad, rule] of [
      [[rs, { ...rs, kid: 'rs2' }], /one key per alg/],
      [[ed, { ...rs, kid: 'ed' }], /own kid/],
      [[{ ...rs, kty: 'EC' }], /kty must match alg/],
      [[], /JWT_PRIVATE_KEY/],
    ] as const) {
      expect(() => parseConfig({ JWT_PRIVATE_KEY: JSON.stringify(bad) }), JSON.stringify(bad)).toThrow(rule);
    }
  });

  it('takes OAUTH_ISSUER as an https origin only (http on loopback)', () => {
    expect(parseConfig({ JWT_SECRET: SECRET, OAUTH_ISSUER: 'https://auth.example.com/' }).oauth.issuer).toBe(
      'https://auth.example.com',
    );
    expect(parseConfig({ JWT_SECRET: SECRET, OAUTH_ISSUER: 'http://localhost:8787' }).oauth.issuer).toBe(
      'http://localhost:8787',
    );
    for (const bad of ['http://auth.example.com', 'https://auth.example.com/path', 'https://a.example?x=1', 'auth']) {
      expect(() => parseConfig({ JWT_SECRET: SECRET, OAUTH_ISSUER: bad }), bad).toThrow(/OAUTH_ISSUER/);
    }
  });
});

describe('getConfig', () => {
  it('parses once per set of values, even when env arrives as a new object', () => {
    const first = getConfig({ JWT_SECRET: SECRET, ACCESS_TOKEN_TTL: '600' });
    const again = getConfig({ JWT_SECRET: SECRET, ACCESS_TOKEN_TTL: '600' });
    expect(again).toBe(first);
    expect(getConfig({ JWT_SECRET: SECRET, ACCESS_TOKEN_TTL: '601' })).not.toBe(first);
  });

  it('parses the two-factor and recovery settings, refusing a short DATA_ENCRYPTION_KEY without echoing it', () => {
    const config = parseConfig({ JWT_SECRET: SECRET });
    expect(config).toMatchObject({
      dataEncryptionKey: undefined,
      mfaMaxFailures: 10,
      mfaWindow: 900,
      passwordResetTtl: 3600,
      recoveryIpMax: 20,
      emailUserMax: 3,
      emailFrom: undefined,
    });
    const short = 'too-short-data-key';
    expect(() => parseConfig({ JWT_SECRET: SECRET, DATA_ENCRYPTION_KEY: short })).toThrow(/DATA_ENCRYPTION_KEY/);
    try {
      parseConfig({ JWT_SECRET: SECRET, DATA_ENCRYPTION_KEY: short });
    } catch (err) {
      expect((err as Error).message).not.toContain(short);
    }
    expect(parseConfig({ JWT_SECRET: SECRET, DATA_ENCRYPTION_KEY: '' }).dataEncryptionKey).toBeUndefined();
    expect(() => parseConfig({ JWT_SECRET: SECRET, EMAIL_FROM: 'not an address' })).toThrow(/EMAIL_FROM/);
    expect(() => parseConfig({ JWT_SECRET: SECRET, PASSWORD_RESET_TTL: '10' })).toThrow(/PASSWORD_RESET_TTL/);
  });
});
