import { describe, expect, it } from 'vitest';
import { utf8 } from '../src/platform/crypto';
import { matchTotp, totpCode, totpStep, totpUri } from '../src/two-factor/totp';
import { base32Decode, totp } from './totp';

/** RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890". */
const RFC_SEED = utf8('12345678901234567890');

describe('TOTP (RFC 6238)', () => {
  it('matches Appendix B: SHA-1, T = 59 s, 8 digits -> 94287082', () => {
    expect(totpCode(RFC_SEED, totpStep(59_000), 8)).toBe('94287082');
  });

  it('matches the other SHA-1 rows of Appendix B', () => {
    const rows: [number, string][] = [
      [1111111109, '07081804'],
      [1111111111, '14050471'],
      [1234567890, '89005924'],
      [2000000000, '69279037'],
      [20000000000, '65353130'],
    ];
    for (const [seconds, code] of rows) expect(totpCode(RFC_SEED, totpStep(seconds * 1000), 8)).toBe(code);
  });

  it("agrees with the tests' own WebCrypto implementation on 6-digit codes", async () => {
    const secret = 'JBSWY3DPEHPK3PXP';
    for (const time of [0, 59_000, 1_700_000_000_000, Date.now()]) {
      expect(totpCode(base32Decode(secret), totpStep(time))).toBe(await totp(secret, time));
    }
  });

  describe('matchTotp', () => {
    const secret = base32Decode('JBSWY3DPEHPK3PXP');
    const now = 1_700_000_015_000;
    const step = totpStep(now);

    it('accepts the current step and one step either side, and reports which', () => {
      for (const offset of [-1, 0, 1])
        expect(matchTotp(secret, totpCode(secret, step + offset), now)).toBe(step + offset);
    });

    it('refuses codes two steps away, wrong codes and malformed input', () => {
      expect(matchTotp(secret, totpCode(secret, step - 2), now)).toBeNull();
      expect(matchTotp(secret, totpCode(secret, step + 2), now)).toBeNull();
      const wrong = String((Number(totpCode(secret, step)) + 1) % 1_000_000).padStart(6, '0');
      expect(matchTotp(secret, wrong, now)).toBeNull();
      for (const bad of ['', '12345', '1234567', 'abcdef', ' 123456']) expect(matchTotp(secret, bad, now)).toBeNull();
    });
  });

  it('builds the otpauth URI authenticator apps scan', () => {
    const uri = totpUri('edge-auth', 'alice', base32Decode('JBSWY3DPEHPK3PXP'));
    expect(uri.startsWith('otpauth://totp/edge-auth:alice?')).toBe(true);
    const params = new URLSearchParams(uri.slice(uri.indexOf('?')));
    expect(Object.fromEntries(params)).toEqual({
      secret: 'JBSWY3DPEHPK3PXP',
      issuer: 'edge-auth',
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    });
  });
});
