/**
 * `auth.passkeys` of edge-auth/client against the real Worker, with the fake authenticator
 * (test/webauthn.ts) behind a credentials container shaped like the browser's. workerd has no
 * `PublicKeyCredential`, so these runs also take the client's fallback conversions (base64url
 * to ArrayBuffer and back); Chromium's own JSON helpers are taken in test/e2e/passkeys.test.ts.
 */
import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createEdgeAuthClient, EdgeAuthError, type CredentialsContainerLike } from '../client/src/index';
import { ORIGIN, PASSWORD, signedIn, uniqueName } from './helpers';
import { b64url } from './jwt';
import { RP_ID } from './passkey-support';
import { assertion, attestation, FLAGS, newCredential, type Bend, type CredentialKey } from './webauthn';

type Options = { challenge: ArrayBuffer; user?: { id: ArrayBuffer }; allowCredentials?: { id: ArrayBuffer }[] };

/**
 * An authenticator holding discoverable passkeys, as navigator.credentials: it answers with
 * objects that have the binary fields a PublicKeyCredential has and no toJSON(), as older
 * browsers' do.
 */
function authenticator(bend: Bend = {}) {
  const held: (CredentialKey & { userHandle: string })[] = [];
  const buffer = (text: string) => {
    const bytes = Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
    return bytes.buffer;
  };
  const credential = (json: { id: string; rawId: string; type: string; response: Record<string, unknown> }) => ({
    id: json.id,
    rawId: buffer(json.rawId),
    type: json.type,
    authenticatorAttachment: 'platform',
    getClientExtensionResults: () => ({}),
    response: Object.fromEntries(
      Object.entries(json.response).map(([k, v]) => [k, typeof v === 'string' ? buffer(v) : v]),
    ) as Record<string, unknown>,
  });
  const container: CredentialsContainerLike = {
    async create({ publicKey }) {
      const options = publicKey as Options;
      const key = await newCredential('EdDSA');
      held.push({ ...key, userHandle: b64url(options.user!.id) });
      const json = await attestation(key, { challenge: b64url(options.challenge), rpId: RP_ID, origin: ORIGIN }, bend);
      const made = credential(json);
      return { ...made, response: { ...made.response, getTransports: () => json.response.transports } };
    },
    async get({ publicKey }) {
      const options = publicKey as Options;
      const allowed = options.allowCredentials?.map((d) => b64url(d.id));
      const key = held.find((k) => !allowed?.length || allowed.includes(b64url(k.id)));
      if (!key) throw new DOMException('No passkey for this site.', 'NotAllowedError');
      const json = await assertion(
        key,
        { challenge: b64url(options.challenge), rpId: RP_ID, origin: ORIGIN, userHandle: key.userHandle },
        bend,
      );
      return credential(json);
    },
  };
  return { container, held };
}

/** The requests the client sent, for checking their headers. */
const sent: Request[] = [];
const client = (credentials: CredentialsContainerLike, options: { dpop?: boolean } = {}) =>
  createEdgeAuthClient({
    baseUrl: ORIGIN,
    refreshTokenDelivery: 'body',
    fetch: (request) => {
      sent.push(request.clone());
      return exports.default.fetch(request);
    },
    credentials,
    ...options,
  });

describe('auth.passkeys', () => {
  it('adds a passkey to the signed-in user, then signs in with it without a username', async () => {
    const { user } = await signedIn('client');
    const device = authenticator();
    const auth = client(device.container);
    await auth.login({ username: user.username, password: PASSWORD });
    const passkey = await auth.passkeys.register({ currentPassword: PASSWORD, name: 'Laptop' });
    expect(passkey).toMatchObject({ name: 'Laptop', device_type: 'multi_device', transports: ['internal', 'hybrid'] });
    expect((await auth.passkeys.list()).passkeys.map((p) => p.id)).toEqual([passkey.id]);
    await auth.logout();

    const fresh = client(device.container);
    const seen: (string | null)[] = [];
    fresh.onChange((u) => seen.push(u?.id ?? null));
    const { user: signedInUser } = await fresh.passkeys.signIn();
    expect(signedInUser.id).toBe(user.id);
    expect(seen).toEqual([user.id]);
    expect((await fresh.api.GET('/auth/me')).data?.user.id).toBe(user.id);

    const renamed = await fresh.passkeys.rename(passkey.id, 'Old laptop');
    expect(renamed.name).toBe('Old laptop');
    await fresh.passkeys.remove(passkey.id);
    expect((await fresh.passkeys.list()).passkeys).toEqual([]);
  });

  it('signs up with a passkey, then adds a password', async () => {
    const device = authenticator();
    const auth = client(device.container);
    const username = uniqueName('client');
    const { user } = await auth.passkeys.signUp({ username });
    expect(user.username).toBe(username);
    expect((await auth.passkeys.list()).password).toBe(false);
    await auth.passkeys.addPassword('a-new-and-unusual-passphrase');
    expect((await auth.passkeys.list()).password).toBe(true);
  });

  it('with dpop: true, signs up and signs in with a DPoP proof: the session is bound, its calls carry proofs', async () => {
    const device = authenticator();
    const auth = client(device.container, { dpop: true });
    await auth.passkeys.signUp({ username: uniqueName('client') });
    await auth.logout();
    const fresh = client(device.container, { dpop: true });
    sent.length = 0;
    const { user } = await fresh.passkeys.signIn();
    const verify = sent.find((r) => new URL(r.url).pathname === '/auth/passkeys/sign-in/verify')!;
    expect(verify.headers.get('DPoP')).toMatch(/^ey[\w-]+\.[\w-]+\.[\w-]+$/);
    const me = await fresh.api.GET('/auth/me');
    expect(me.data?.user.id).toBe(user.id);
    expect(sent.at(-1)!.headers.get('Authorization')).toMatch(/^DPoP /);
  });

  it('throws the service’s refusal as an EdgeAuthError, and keeps nobody signed in', async () => {
    const device = authenticator();
    const auth = client(device.container);
    await auth.passkeys.signUp({ username: uniqueName('client') });
    await auth.logout();
    const careless = authenticator({ flags: FLAGS.UP });
    careless.held.push(...device.held);
    const other = client(careless.container);
    const err = await other.passkeys.signIn().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgeAuthError);
    expect((err as EdgeAuthError).code).toBe('passkey_user_not_verified');
    expect(other.user).toBeNull();
  });

  it('lets a cancelled prompt through as the browser’s DOMException', async () => {
    const auth = client(authenticator().container);
    const err = await auth.passkeys.signIn({ username: uniqueName('nobody') }).catch((e: unknown) => e);
    expect((err as DOMException).name).toBe('NotAllowedError');
  });
});
