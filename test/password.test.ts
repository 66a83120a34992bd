import { describe, expect, it } from 'vitest';
import { fromBase64Url, toBase64Url, utf8 } from '../src/platform/crypto';
import { burnPasswordWork, hashPassword, pbkdf2Sha256, verifyPassword } from '../src/credentials/password';
import { pbkdf2IterationsSpent } from './helpers';

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
const PEPPER = 'pepper-pepper-pepper-pepper-pepper-32';

describe('PBKDF2-HMAC-SHA256', () => {
  it('matches the RFC 7914 §11 test vector', async () => {
    const out = await pbkdf2Sha256(utf8('Password'), utf8('NaCl'), 80_000, 64);
    expect(hex(out)).toBe(
      '4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d',
    );
  });
});

describe('password hashes', () => {
  it('are self-describing PHC strings with a 16-byte salt and a 32-byte key', async () => {
    const stored = await hashPassword('a-long-and-unusual-passphrase', { iterations: 100_000 });
    const [, id, params, salt, hash] = stored.split('$');
    expect(id).toBe('pbkdf2-sha256');
    expect(params).toBe('i=100000');
    expect(fromBase64Url(salt!)!.byteLength).toBe(16);
    expect(fromBase64Url(hash!)!.byteLength).toBe(32);
  });

  it('use a fresh salt every time', async () => {
    const a = await hashPassword('same password', { iterations: 10_000 });
    const b = await hashPassword('same password', { iterations: 10_000 });
    expect(a).not.toBe(b);
  });

  it('verify the right password and refuse a wrong one', async () => {
    const stored = await hashPassword('correct horse battery', { iterations: 10_000 });
    expect(await verifyPassword('correct horse battery', stored, { iterations: 10_000 })).toEqual({
      ok: true,
      needsRehash: false,
    });
    expect((await verifyPassword('correct horse batterz', stored, { iterations: 10_000 })).ok).toBe(false);
  });

  it('normalise to NFKC, so composed and decomposed forms of a password match', async () => {
    const stored = await hashPassword('caf\u00e9-passphrase', { iterations: 10_000 });
    expect((await verifyPassword('cafe\u0301-passphrase', stored, { iterations: 10_000 })).ok).toBe(true);
  });

  it('ask for a rehash when the iteration count changed', async () => {
    const stored = await hashPassword('correct horse battery', { iterations: 10_000 });
    expect(await verifyPassword('correct horse battery', stored, { iterations: 20_000 })).toEqual({
      ok: true,
      needsRehash: true,
    });
  });

  it('record the pepper, need it to verify, and ask for a rehash when it is newly configured', async () => {
    const peppered = await hashPassword('correct horse battery', { iterations: 10_000, pepper: PEPPER });
    expect(peppered).toMatch(/^\$pbkdf2-sha256\$i=10000,p=1\$/);
    expect((await verifyPassword('correct horse battery', peppered, { iterations: 10_000, pepper: PEPPER })).ok).toBe(
      true,
    );
    expect((await verifyPassword('correct horse battery', peppered, { iterations: 10_000 })).ok).toBe(false);
    expect(
      (await verifyPassword('correct horse battery', peppered, { iterations: 10_000, pepper: `${PEPPER}x` })).ok,
    ).toBe(false);

    const plain = await hashPassword('correct horse battery', { iterations: 10_000 });
    expect(await verifyPassword('correct horse battery', plain, { iterations: 10_000, pepper: PEPPER })).toEqual({
      ok: true,
      needsRehash: true,
    });
  });

  it('refuse corrupt stored hashes without throwing', async () => {
    for (const stored of ['', 'plaintext', '$pbkdf2-sha256$i=1$AAAA$BBBB', '$bcrypt$...']) {
      expect((await verifyPassword('whatever-password', stored, { iterations: 10_000 })).ok).toBe(false);
    }
  });
});

describe('a failed check after the iteration count was raised', () => {
  const now = { iterations: 50_000 };

  it('spends as many iterations as the check for an unknown name', async () => {
    const old = await hashPassword('correct horse battery', { iterations: 10_000 });
    const unknown = await pbkdf2IterationsSpent(() => burnPasswordWork('wrong guess', now));
    expect(unknown).toBe(50_000);
    expect(await pbkdf2IterationsSpent(() => verifyPassword('wrong guess', old, now))).toBe(unknown);
    // Peppered hashes too, whose input goes through HMAC first.
    const peppered = await hashPassword('correct horse battery', { iterations: 10_000, pepper: PEPPER });
    const withPepper = { ...now, pepper: PEPPER };
    expect(await pbkdf2IterationsSpent(() => verifyPassword('wrong guess', peppered, withPepper))).toBe(
      await pbkdf2IterationsSpent(() => burnPasswordWork('wrong guess', withPepper)),
    );
  });

  it('still fails, and a right password still verifies and asks for a rehash', async () => {
    const old = await hashPassword('correct horse battery', { iterations: 10_000 });
    expect(await verifyPassword('wrong guess', old, now)).toEqual({ ok: false, needsRehash: false });
    expect(await verifyPassword('correct horse battery', old, now)).toEqual({ ok: true, needsRehash: true });
  });
});

describe('base64url', () => {
  it('round-trips bytes and rejects non-base64url text', () => {
    const bytes = Uint8Array.from([0, 1, 250, 251, 252, 253, 254, 255]);
    expect(fromBase64Url(toBase64Url(bytes))).toEqual(bytes);
    expect(fromBase64Url('not base64!')).toBeNull();
  });
});
