/**
 * The passkey tests' client: the service configured with an RP ID, and a browser's part of
 * each ceremony played by the fake authenticator (test/webauthn.ts).
 */
import { env } from 'cloudflare:workers';
import { expect } from 'vitest';
import { api, appWith, ORIGIN, PASSWORD, type Api, type Tokens } from './helpers';
import { assertion, attestation, newCredential, type Alg, type Bend, type CredentialKey } from './webauthn';

/** ORIGIN is https://auth.example.test; the tests' WEBAUTHN_RP_ID (vitest.config.ts) is its parent domain. */
export const RP_ID = 'example.test';

/** The service with configuration overrides; without any, as the tests configure it. */
export const passkeyApi = (overrides: Partial<Cloudflare.Env> = {}): Api =>
  Object.keys(overrides).length ? appWith(overrides) : api;

export type CreationOptions = {
  rp: { id: string; name: string };
  user: { id: string; name: string; displayName: string };
  challenge: string;
  pubKeyCredParams: { type: string; alg: number }[];
  timeout: number;
  excludeCredentials: { id: string; type: string; transports?: string[] }[];
  authenticatorSelection: Record<string, unknown>;
  attestation: string;
};
export type RequestOptions = {
  challenge: string;
  rpId: string;
  timeout: number;
  userVerification: string;
  allowCredentials?: { id: string; type: string }[];
};

/** A passkey as the fake authenticator holds it: the key, and whose it is (the user handle). */
export type Held = CredentialKey & { userHandle: string; counter: number };

export async function registerOptions(
  call: Api,
  token: string,
  body: Record<string, unknown> = { current_password: PASSWORD },
) {
  const res = await call('/auth/passkeys/register/options', { json: body, token });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as CreationOptions;
}

/** Adds a passkey to the holder of `token` (password account by default); returns it as held. */
export async function addPasskey(
  call: Api,
  token: string,
  options: { alg?: Alg; body?: Record<string, unknown>; name?: string; origin?: string } = {},
): Promise<Held> {
  const created = await registerOptions(call, token, options.body);
  const credential = await newCredential(options.alg);
  const response = await attestation(credential, {
    challenge: created.challenge,
    rpId: created.rp.id,
    origin: options.origin ?? ORIGIN,
  });
  const res = await call('/auth/passkeys/register/verify', {
    json: { credential: response, ...(options.name ? { name: options.name } : {}) },
    token,
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return { ...credential, userHandle: created.user.id, counter: 0 };
}

export async function signInOptions(call: Api, body?: Record<string, unknown>, headers?: Record<string, string>) {
  const res = await call('/auth/passkeys/sign-in/options', {
    method: 'POST',
    ...(body ? { json: body } : {}),
    ...(headers ? { headers } : {}),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as RequestOptions;
}

/** A sign-in response to fresh options (or to `challenge`), bent as asked. */
export async function signInResponse(
  call: Api,
  held: Held,
  options: { username?: string; bend?: Bend; counter?: number; challenge?: string; origin?: string } = {},
) {
  const challenge =
    options.challenge ??
    (await signInOptions(call, options.username ? { username: options.username } : undefined)).challenge;
  return assertion(
    held,
    {
      challenge,
      rpId: RP_ID,
      origin: options.origin ?? ORIGIN,
      userHandle: held.userHandle,
      counter: options.counter ?? held.counter,
    },
    options.bend,
  );
}

export function verifySignIn(
  call: Api,
  credential: unknown,
  extra: Record<string, unknown> = {},
  headers?: Record<string, string>,
) {
  return call('/auth/passkeys/sign-in/verify', {
    json: { credential, ...extra },
    ...(headers ? { headers } : {}),
  });
}

/** A passkey sign-in that must succeed; returns the tokens. */
export async function signInWithPasskey(call: Api, held: Held, options: { username?: string; counter?: number } = {}) {
  const res = await verifySignIn(call, await signInResponse(call, held, options));
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Tokens;
}

/** Signs up with a new passkey; returns it, the tokens and the username. */
export async function signUp(call: Api, username: string, alg: Alg = 'ES256') {
  const res = await call('/auth/passkeys/sign-up/options', { json: { username } });
  expect(res.status, await res.clone().text()).toBe(200);
  const created = (await res.json()) as CreationOptions;
  const credential = await newCredential(alg);
  const response = await attestation(credential, { challenge: created.challenge, rpId: created.rp.id, origin: ORIGIN });
  const verified = await call('/auth/passkeys/sign-up/verify', { json: { credential: response } });
  expect(verified.status, await verified.clone().text()).toBe(201);
  const tokens = (await verified.json()) as Tokens;
  return { held: { ...credential, userHandle: created.user.id, counter: 0 } as Held, tokens, username };
}

/** Moves a session's sign-in time into the past, as if it were `minutes` old. */
export async function ageSignIn(sessionId: string, minutes: number) {
  await env.DB.prepare('UPDATE sessions SET auth_time = auth_time - ? WHERE id = ?')
    .bind(minutes * 60_000, sessionId)
    .run();
}
