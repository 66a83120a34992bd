import { describe, expect, it } from 'vitest';
import { addressKey } from '../src/platform/address';

describe('addressKey: the unit a per-address throttle counts', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['2001:db8:aa:bb::1', '2001:db8:aa:bb::/64'],
    ['2001:0DB8:00AA:00BB:FFFF:1:2:3', '2001:db8:aa:bb::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::ffff:c000:202', '192.0.2.2'],
    ['2001:db8:1:2:3:4:192.0.2.1', '2001:db8:1:2::/64'],
  ])('%s counts as %s', (ip, key) => {
    expect(addressKey(ip)).toBe(key);
  });

  it('gives every address of one /64 the same key and the next /64 another', () => {
    expect(addressKey('2001:db8:1:2::1')).toBe(addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff'));
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'));
  });

  it('keeps IPv4 addresses apart', () => {
    expect(addressKey('203.0.113.7')).not.toBe(addressKey('203.0.113.8'));
  });

  it('passes malformed IPv6 text through unchanged rather than merging it with anything', () => {
    for (const bad of ['1::2::3', '2001:db8:zz::1', '1:2:3:4:5:6:7:8:9']) expect(addressKey(bad)).toBe(bad);
  });

  it('has no key without an address', () => {
    expect(addressKey(undefined)).toBeUndefined();
    expect(addressKey('')).toBeUndefined();
  });
});
