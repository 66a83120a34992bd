/**
 * DPoP for OAuth clients (RFC 9449): a proof at the token endpoint binds the access token
 * (`token_type: DPoP`, `cnf.jkt`) and a public client's refresh token; `dpop_jkt` binds the
 * code; userinfo and introspection honour the binding; the proof is refused a second time
 * through D1; server nonces; bad proofs get the RFC's errors, never a 500.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { captureAudit, ORIGIN, PASSWORD, register, uniqueName } from './helpers';
import { badProofs, dpopAuth, dpopKey, type DpopKey } from './dpop';
import {
  adminOf,
  basic,
  browserUser,
  codeFor,
  form,
  jwtPart,
  pkce,
  provider,
  registerClient,
  type CodeOptions,
  type Provider,
  type RegisteredClient,
  type TokenAnswer,
} from './oauth-helpers';
import { authorizeParams, Browser, CALLBACK, callbackParams, newClient } from './oauth-browser';

const p: Provider = await provider();
const confidential: RegisteredClient = await registerClient(p);
const publicClient: RegisteredClient = await registerClient(p, { token_endpoint_auth_method: 'none' });
const admin = await adminOf(p);

const TOKEN = '/oauth/token';
const proofFor = (key: DpopKey, options: Parameters<DpopKey['proof']>[2] = {}) => key.proof('POST', TOKEN, options);

/** The client's authentication: Basic for a confidential client, client_id for a public one. */
const clientAuth = (client: RegisteredClient): { params: Record<string, string>; headers: Record<string, string> } =>
  client.client_secret
    ? { params: {}, headers: { Authorization: basic(client.client_id, client.client_secret) } }
    : { params: { client_id: client.client_id }, headers: {} };

/** A token request of `client` with `params`, and a DPoP proof when one is given. */
function tokenRequest(client: RegisteredClient, params: Record<string, string>, proof?: string, call = p) {
  const auth = clientAuth(client);
  return call.api(TOKEN, form({ ...params, ...auth.params }, { ...auth.headers, ...(proof ? { DPoP: proof } : {}) }));
}

/** The parameters of a code exchange: a code of a new signed-in user of `call`, for `client`. */
async function codeExchange(client: RegisteredClient, options: CodeOptions = {}, call = p) {
  const user = await browserUser(call);
  const { code, verifier } = await codeFor(call, client, user, options);
  const params = {
    grant_type: 'authorization_code',
    code,
    redirect_uri: client.redirect_uris[0]!,
    code_verifier: verifier,
  };
  return { params, code, verifier, user };
}

/** A code of a signed-in user for `client`, exchanged with `proof` (or none). */
async function exchangeWith(client: RegisteredClient, proof: string | undefined, options: CodeOptions = {}) {
  const { params, code, verifier, user } = await codeExchange(client, options);
  return { res: await tokenRequest(client, params, proof), code, verifier, user };
}

/** A grant begun with a proof of `key`: the token answer. */
async function boundGrant(client: RegisteredClient, key: DpopKey) {
  const { res } = await exchangeWith(client, await proofFor(key));
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as TokenAnswer;
}

const refreshWith = (client: RegisteredClient, refreshToken: string, proof?: string) =>
  tokenRequest(client, { grant_type: 'refresh_token', refresh_token: refreshToken }, proof);

/** An RFC 6749 §5.2 error answer. */
async function expectOAuthError(res: Response, status: number, error: string, description?: RegExp) {
  expect(res.status).toBe(status);
  expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: string; error_description: string };
  expect(body.error, body.error_description).toBe(error);
  if (description) expect(body.error_description).toMatch(description);
  return body;
}

const userinfo = (token: string, headers: Record<string, string>) =>
  p.api('/oauth/userinfo', { headers: { ...headers, Authorization: headers.Authorization ?? `Bearer ${token}` } });
const userinfoProof = (key: DpopKey, token: string, options: Parameters<DpopKey['proof']>[2] = {}) =>
  key.proof('GET', '/oauth/userinfo', { token, ...options });

describe('the token endpoint with a DPoP proof', () => {
  it('answers token_type DPoP with an access token bound to the key (cnf.jkt), for ES256 and EdDSA (also named Ed25519)', async () => {
    for (const alg of ['ES256', 'EdDSA', 'Ed25519'] as const) {
      const key = await dpopKey(alg);
      const tokens = await boundGrant(confidential, key);
      expect(tokens.token_type).toBe('DPoP');
      expect(jwtPart(tokens.access_token, 1).cnf).toEqual({ jkt: key.jkt });
    }
  });

  it('without a proof answers Bearer tokens, as before', async () => {
    const { res } = await exchangeWith(confidential, undefined);
    const tokens = (await res.json()) as TokenAnswer;
    expect(tokens.token_type).toBe('Bearer');
    expect(jwtPart(tokens.access_token, 1)).not.toHaveProperty('cnf');
  });

  it('leaves a confidential client’s refresh token unbound (RFC 9449 §5), each access token bound to its own proof', async () => {
    const key = await dpopKey();
    const tokens = await boundGrant(confidential, key);
    const bearer = await refreshWith(confidential, tokens.refresh_token!);
    expect(bearer.status).toBe(200);
    const next = (await bearer.json()) as TokenAnswer;
    expect(next.token_type).toBe('Bearer');
    const other = await dpopKey();
    const bound = await refreshWith(confidential, next.refresh_token!, await proofFor(other));
    expect(bound.status).toBe(200);
    const last = (await bound.json()) as TokenAnswer;
    expect(last.token_type).toBe('DPoP');
    expect(jwtPart(last.access_token, 1).cnf).toEqual({ jkt: other.jkt });
  });

  it('binds a public client’s refresh token to the key: a refresh needs a proof of it', async () => {
    const key = await dpopKey();
    const tokens = await boundGrant(publicClient, key);
    const res = await refreshWith(publicClient, tokens.refresh_token!, await proofFor(key));
    expect(res.status).toBe(200);
    const next = (await res.json()) as TokenAnswer;
    expect(next.token_type).toBe('DPoP');
    expect(jwtPart(next.access_token, 1).cnf).toEqual({ jkt: key.jkt });
  });

  for (const [reason, proof] of [
    ['no_proof', async () => undefined],
    ['other_key', async () => proofFor(await dpopKey())],
  ] as const) {
    it(`refuses a bound refresh token ${reason === 'no_proof' ? 'without a proof' : 'with a proof of another key'} (invalid_grant), audits it, and leaves it unspent`, async () => {
      const key = await dpopKey();
      const tokens = await boundGrant(publicClient, key);
      let res: Response | undefined;
      const { lines } = await captureAudit(async () => {
        res = await refreshWith(publicClient, tokens.refresh_token!, await proof());
      });
      await expectOAuthError(res!, 400, 'invalid_grant', /DPoP proof of its key/);
      expect(lines).toEqual([
        expect.objectContaining({ event: 'refresh_dpop_refused', reason, client_id: publicClient.client_id }),
      ]);
      expect((await refreshWith(publicClient, tokens.refresh_token!, await proofFor(key))).status).toBe(200);
    });
  }

  it('leaves a public client’s grant begun without a proof unbound', async () => {
    const { res } = await exchangeWith(publicClient, undefined);
    const tokens = (await res.json()) as TokenAnswer;
    expect(tokens.token_type).toBe('Bearer');
    expect((await refreshWith(publicClient, tokens.refresh_token!)).status).toBe(200);
  });
});

describe('a client registered with dpop_bound_access_tokens (RFC 9449 §5.2)', () => {
  const NO_PROOF = /must send a DPoP proof/;

  it('is refused a code exchange without a proof (invalid_grant), and the code stays for the retry with one', async () => {
    const bound = await registerClient(p, { dpop_bound_access_tokens: true });
    expect(bound.dpop_bound_access_tokens).toBe(true);
    const { res, code, verifier } = await exchangeWith(bound, undefined);
    await expectOAuthError(res, 400, 'invalid_grant', NO_PROOF);
    const key = await dpopKey();
    const retried = await tokenRequest(
      bound,
      { grant_type: 'authorization_code', code, redirect_uri: bound.redirect_uris[0]!, code_verifier: verifier },
      await proofFor(key),
    );
    expect(retried.status, await retried.clone().text()).toBe(200);
    const tokens = (await retried.json()) as TokenAnswer;
    expect(tokens.token_type).toBe('DPoP');
    expect(jwtPart(tokens.access_token, 1).cnf).toEqual({ jkt: key.jkt });
  });

  it('is refused a refresh without a proof, though a confidential client’s refresh token is not bound to a key', async () => {
    const bound = await registerClient(p, { dpop_bound_access_tokens: true });
    const tokens = await boundGrant(bound, await dpopKey());
    await expectOAuthError(await refreshWith(bound, tokens.refresh_token!), 400, 'invalid_grant', NO_PROOF);
    // Refused before the rotation: the token is still the current one, and another key may refresh it.
    const other = await dpopKey();
    const res = await refreshWith(bound, tokens.refresh_token!, await proofFor(other));
    expect(res.status, await res.clone().text()).toBe(200);
    const next = (await res.json()) as TokenAnswer;
    expect(next.token_type).toBe('DPoP');
    expect(jwtPart(next.access_token, 1).cnf).toEqual({ jkt: other.jkt });
  });

  it('as a public client, is refused a code exchange without a proof', async () => {
    const bound = await registerClient(p, { token_endpoint_auth_method: 'none', dpop_bound_access_tokens: true });
    await expectOAuthError((await exchangeWith(bound, undefined)).res, 400, 'invalid_grant', NO_PROOF);
    expect((await boundGrant(bound, await dpopKey())).token_type).toBe('DPoP');
  });

  it('is refused client credentials without a proof, and gets a DPoP token with one', async () => {
    const machine = await registerClient(
      p,
      {
        redirect_uris: undefined,
        grant_types: ['client_credentials'],
        scope: 'api',
        dpop_bound_access_tokens: true,
      },
      admin.token,
    );
    const params = { grant_type: 'client_credentials' };
    await expectOAuthError(await tokenRequest(machine, params), 400, 'invalid_grant', NO_PROOF);
    const key = await dpopKey();
    const res = await tokenRequest(machine, params, await proofFor(key));
    expect(res.status, await res.clone().text()).toBe(200);
    const tokens = (await res.json()) as TokenAnswer;
    expect(tokens.token_type).toBe('DPoP');
    expect(jwtPart(tokens.access_token, 1).cnf).toEqual({ jkt: key.jkt });
  });

  it('can be switched on and off by an admin (PATCH), and is enforced from the next request', async () => {
    const machine = await registerClient(
      p,
      { redirect_uris: undefined, grant_types: ['client_credentials'], scope: 'api' },
      admin.token,
    );
    expect(machine.dpop_bound_access_tokens).toBe(false);
    const params = { grant_type: 'client_credentials' };
    const bearer = await tokenRequest(machine, params);
    expect(bearer.status).toBe(200);
    expect(((await bearer.json()) as TokenAnswer).token_type).toBe('Bearer');

    const patch = (json: Record<string, unknown>) =>
      p.api(`/admin/oauth/clients/${machine.client_id}`, { method: 'PATCH', token: admin.token, json });
    const on = await patch({ dpop_bound_access_tokens: true });
    expect(on.status).toBe(200);
    expect(((await on.json()) as { client: Record<string, unknown> }).client.dpop_bound_access_tokens).toBe(true);
    await expectOAuthError(await tokenRequest(machine, params), 400, 'invalid_grant', NO_PROOF);
    expect((await tokenRequest(machine, params, await proofFor(await dpopKey()))).status).toBe(200);

    // Another change leaves it on.
    expect((await patch({ client_name: 'Renamed' })).status).toBe(200);
    await expectOAuthError(await tokenRequest(machine, params), 400, 'invalid_grant', NO_PROOF);

    expect((await patch({ dpop_bound_access_tokens: false })).status).toBe(200);
    expect((await tokenRequest(machine, params)).status).toBe(200);
  });

  it('refuses a value that is not a boolean, at registration and at PATCH', async () => {
    for (const value of ['true', 1, null]) {
      const res = await p.api('/oauth/register', {
        token: admin.token,
        json: { redirect_uris: ['https://rp.example.test/cb'], dpop_bound_access_tokens: value },
      });
      await expectOAuthError(res, 400, 'invalid_client_metadata');
      const patched = await p.api(`/admin/oauth/clients/${confidential.client_id}`, {
        method: 'PATCH',
        token: admin.token,
        json: { dpop_bound_access_tokens: value },
      });
      expect(patched.status).toBe(400);
    }
  });
});

describe('replay at the token endpoint, strictly through D1', () => {
  it('refuses a proof used before, even by another isolate, and leaves the second code unspent', async () => {
    const key = await dpopKey();
    const proof = await proofFor(key);
    const first = await exchangeWith(confidential, proof);
    expect(first.res.status).toBe(200);
    // Another app on the same D1, as another isolate or location would be.
    const elsewhere = await provider();
    const user = await browserUser(p);
    const { code, verifier } = await codeFor(p, confidential, user);
    const params = {
      grant_type: 'authorization_code',
      code,
      redirect_uri: confidential.redirect_uris[0]!,
      code_verifier: verifier,
    };
    const replayed = await tokenRequest(confidential, params, proof, elsewhere);
    await expectOAuthError(replayed, 400, 'invalid_dpop_proof', /already used/);
    const fresh = await tokenRequest(confidential, params, await proofFor(key));
    expect(fresh.status).toBe(200);
  });

  it('refuses a proof used before at a refresh, and spends no token', async () => {
    const key = await dpopKey();
    const tokens = await boundGrant(publicClient, key);
    const proof = await proofFor(key);
    const first = (await (await refreshWith(publicClient, tokens.refresh_token!, proof)).json()) as TokenAnswer;
    const again = await refreshWith(publicClient, first.refresh_token!, proof);
    await expectOAuthError(again, 400, 'invalid_dpop_proof', /already used/);
    expect((await refreshWith(publicClient, first.refresh_token!, await proofFor(key))).status).toBe(200);
  });
});

describe('bad proofs at the token endpoint: 400 invalid_dpop_proof, never a 500', () => {
  const cases: [string, (key: DpopKey) => Promise<string>, RegExp][] = [
    // RFC 6749 §5.2 allows no double quote in error_description: the detail says ' instead.
    ...badProofs('POST', TOKEN).map(
      ([name, make, detail]) =>
        [name, (key: DpopKey) => make(key, 'no-token'), new RegExp(detail.source.replaceAll('"', "'"))] as [
          string,
          (key: DpopKey) => Promise<string>,
          RegExp,
        ],
    ),
    ['a wrong htm', (key) => key.proof('GET', TOKEN), /htm must be POST/],
    ['a wrong htu (another path)', (key) => key.proof('POST', '/oauth/userinfo'), /htu/],
    [
      'a wrong htu (another host)',
      (key) => key.proof('POST', TOKEN, { htu: `https://evil.example.test${TOKEN}` }),
      /htu/,
    ],
    ['an iat too old', (key) => proofFor(key, { iat: Math.floor(Date.now() / 1000) - 120 }), /iat/],
    ['an iat in the future', (key) => proofFor(key, { iat: Math.floor(Date.now() / 1000) + 120 }), /iat/],
    ['no jti', (key) => proofFor(key, { jti: null }), /jti/],
  ];
  for (const [name, make, detail] of cases) {
    it(name, async () => {
      const { res } = await exchangeWith(confidential, await make(await dpopKey()));
      await expectOAuthError(res, 400, 'invalid_dpop_proof', detail);
    });
  }

  it('refuses a bad proof before the code is looked at: the code still works', async () => {
    const key = await dpopKey();
    const user = await browserUser(p);
    const { code, verifier } = await codeFor(p, confidential, user);
    const params = {
      grant_type: 'authorization_code',
      code,
      redirect_uri: confidential.redirect_uris[0]!,
      code_verifier: verifier,
    };
    await expectOAuthError(
      await tokenRequest(confidential, params, await key.proof('GET', TOKEN)),
      400,
      'invalid_dpop_proof',
    );
    expect((await tokenRequest(confidential, params, await proofFor(key))).status).toBe(200);
  });
});

describe('dpop_jkt at the authorization endpoint (RFC 9449 §10)', () => {
  it('binds the code: its exchange needs a proof of that key, and is refused without one or with another', async () => {
    const key = await dpopKey();
    const user = await browserUser(p);
    const { code, verifier } = await codeFor(p, confidential, user, { dpopJkt: key.jkt });
    const params = {
      grant_type: 'authorization_code',
      code,
      redirect_uri: confidential.redirect_uris[0]!,
      code_verifier: verifier,
    };
    await expectOAuthError(await tokenRequest(confidential, params), 400, 'invalid_grant', /dpop_jkt/);
    await expectOAuthError(
      await tokenRequest(confidential, params, await proofFor(await dpopKey())),
      400,
      'invalid_grant',
      /dpop_jkt/,
    );
    const res = await tokenRequest(confidential, params, await proofFor(key));
    expect(res.status).toBe(200);
    expect(jwtPart(((await res.json()) as TokenAnswer).access_token, 1).cnf).toEqual({ jkt: key.jkt });
  });

  it('is carried from the request through sign-in and consent to the code', async () => {
    const key = await dpopKey();
    const { clientId, clientSecret } = await newClient();
    const user = await register(uniqueName());
    const { verifier, challenge } = await pkce();
    const browser = new Browser();
    const interaction = await browser.authorize(
      authorizeParams(clientId, { dpop_jkt: key.jkt, code_challenge: challenge }),
    );
    await browser.signIn(interaction, user.username, PASSWORD);
    const code = callbackParams(await browser.consent(interaction, 'allow')).get('code')!;
    const client = {
      client_id: clientId,
      client_secret: clientSecret!,
      redirect_uris: [CALLBACK],
      token_endpoint_auth_method: 'client_secret_basic',
    };
    const params = { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier };
    const other = await tokenRequest(client, params, await proofFor(await dpopKey()));
    await expectOAuthError(other, 400, 'invalid_grant', /dpop_jkt/);
    expect((await tokenRequest(client, params, await proofFor(key))).status).toBe(200);
  });

  it('refuses a dpop_jkt that is not a thumbprint, back at the redirect URI (invalid_request)', async () => {
    const { clientId } = await newClient();
    const res = await new Browser().navigate(
      `/oauth/authorize?${authorizeParams(clientId, { dpop_jkt: 'not-a-thumbprint' })}`,
    );
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('Location')!);
    expect(`${location.origin}${location.pathname}`).toBe(CALLBACK);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toMatch(/dpop_jkt/);
  });
});

describe('discovery', () => {
  it('lists dpop_signing_alg_values_supported', async () => {
    const metadata = (await (await p.api('/.well-known/openid-configuration')).json()) as Record<string, unknown>;
    expect(metadata.dpop_signing_alg_values_supported).toEqual(['ES256', 'EdDSA', 'Ed25519']);
  });
});

describe('userinfo with a DPoP-bound token', () => {
  it('answers with Authorization: DPoP and a fresh proof carrying ath', async () => {
    const key = await dpopKey();
    const { access_token } = await boundGrant(confidential, key);
    const res = await userinfo(access_token, dpopAuth(access_token, await userinfoProof(key, access_token)));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { sub: string }).sub).toEqual(expect.any(String));
  });

  it('refuses it sent as Bearer, with WWW-Authenticate: DPoP error="invalid_token"', async () => {
    const key = await dpopKey();
    const { access_token } = await boundGrant(confidential, key);
    const res = await userinfo(access_token, {});
    await expectOAuthError(res, 401, 'invalid_token');
    expect(res.headers.get('WWW-Authenticate')).toMatch(/^DPoP error="invalid_token"/);
  });

  const refusals: [string, (key: DpopKey, token: string) => Promise<Record<string, string>>][] = [
    ['without a proof', async (_key, token) => ({ Authorization: `DPoP ${token}` })],
    [
      'with a proof of another key',
      async (_key, token) => dpopAuth(token, await userinfoProof(await dpopKey(), token)),
    ],
    ['with a proof without ath', async (key, token) => dpopAuth(token, await key.proof('GET', '/oauth/userinfo'))],
    [
      'with a proof for the token endpoint',
      async (key, token) => dpopAuth(token, await key.proof('POST', TOKEN, { token })),
    ],
  ];
  for (const [name, headers] of refusals) {
    it(`refuses it ${name}: 401 invalid_dpop_proof with the DPoP challenge`, async () => {
      const key = await dpopKey();
      const { access_token } = await boundGrant(confidential, key);
      const res = await userinfo(access_token, await headers(key, access_token));
      await expectOAuthError(res, 401, 'invalid_dpop_proof');
      expect(res.headers.get('WWW-Authenticate')).toMatch(/^DPoP error="invalid_dpop_proof"/);
    });
  }

  it('refuses a proof this isolate has seen', async () => {
    const key = await dpopKey();
    const { access_token } = await boundGrant(confidential, key);
    const headers = dpopAuth(access_token, await userinfoProof(key, access_token));
    expect((await userinfo(access_token, headers)).status).toBe(200);
    await expectOAuthError(await userinfo(access_token, headers), 401, 'invalid_dpop_proof', /already used/);
  });

  it('refuses an unbound token sent with the DPoP scheme', async () => {
    const { res } = await exchangeWith(confidential, undefined);
    const { access_token } = (await res.json()) as TokenAnswer;
    const key = await dpopKey();
    const answer = await userinfo(access_token, dpopAuth(access_token, await userinfoProof(key, access_token)));
    await expectOAuthError(answer, 401, 'invalid_token');
  });

  it('offers both schemes to a request without a token', async () => {
    const res = await p.api('/oauth/userinfo');
    expect(res.status).toBe(401);
    expect(res.headers.get('WWW-Authenticate')).toBe('Bearer realm="edge-auth", DPoP algs="ES256 EdDSA Ed25519"');
  });
});

describe('introspection of bound tokens', () => {
  const introspect = (token: string) =>
    p.api(
      '/oauth/introspect',
      form({ token }, { Authorization: basic(confidential.client_id, confidential.client_secret!) }),
    );

  it('answers token_type DPoP and cnf.jkt for a bound access token', async () => {
    const key = await dpopKey();
    const { access_token } = await boundGrant(confidential, key);
    const body = (await (await introspect(access_token)).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } });
  });

  it('answers Bearer and no cnf for an unbound one', async () => {
    const { res } = await exchangeWith(confidential, undefined);
    const { access_token } = (await res.json()) as TokenAnswer;
    const body = (await (await introspect(access_token)).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ active: true, token_type: 'Bearer' });
    expect(body).not.toHaveProperty('cnf');
  });

  it('answers cnf.jkt for a public client’s bound refresh token', async () => {
    const key = await dpopKey();
    const tokens = await boundGrant(publicClient, key);
    const res = await p.api(
      '/oauth/introspect',
      form({ token: tokens.refresh_token!, client_id: publicClient.client_id, token_type_hint: 'refresh_token' }),
    );
    expect(await res.json()).toMatchObject({ active: true, cnf: { jkt: key.jkt } });
  });
});

describe('server nonces (DPOP_NONCE=true)', () => {
  it('at the token endpoint: 400 use_dpop_nonce with DPoP-Nonce; the retry with it gets tokens and the next nonce', async () => {
    const nonced = await provider({ DPOP_NONCE: 'true' });
    const key = await dpopKey();
    const { params } = await codeExchange(confidential, {}, nonced);
    const first = await tokenRequest(confidential, params, await proofFor(key), nonced);
    await expectOAuthError(first, 400, 'use_dpop_nonce');
    const nonce = first.headers.get('DPoP-Nonce');
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const retried = await tokenRequest(confidential, params, await proofFor(key, { nonce: nonce! }), nonced);
    expect(retried.status).toBe(200);
    expect(retried.headers.get('DPoP-Nonce')).toBe(nonce);
  });

  it('at userinfo: 401 with DPoP error="use_dpop_nonce" and the nonce; the retry with it works', async () => {
    const nonced = await provider({ DPOP_NONCE: 'true' });
    const key = await dpopKey();
    const { params } = await codeExchange(confidential, {}, nonced);
    const first = await tokenRequest(confidential, params, await proofFor(key), nonced);
    const nonce = first.headers.get('DPoP-Nonce')!;
    const tokens = (await (
      await tokenRequest(confidential, params, await proofFor(key, { nonce }), nonced)
    ).json()) as TokenAnswer;
    const token = tokens.access_token;
    const call = (proof: string) => nonced.api('/oauth/userinfo', { headers: dpopAuth(token, proof) });
    const refused = await call(await userinfoProof(key, token));
    await expectOAuthError(refused, 401, 'use_dpop_nonce');
    expect(refused.headers.get('WWW-Authenticate')).toMatch(/^DPoP error="use_dpop_nonce"/);
    const again = await call(await userinfoProof(key, token, { nonce: refused.headers.get('DPoP-Nonce')! }));
    expect(again.status).toBe(200);
  });
});

describe('the hosted pages and a DPoP-bound browser session', () => {
  /** A browser signed in to the service in cookie mode with a DPoP proof, as a `dpop: true` SPA is. */
  async function boundBrowser(username: string) {
    const browser = new Browser();
    const proof = await (await dpopKey()).proof('POST', '/auth/login');
    expect((await browser.login(username, PASSWORD, { DPoP: proof })).token_type).toBe('DPoP');
    return browser;
  }

  it('do not take it as a sign-in: its refresh cookie cannot prove the key, so the user signs in on the page', async () => {
    const { clientId } = await newClient();
    const user = await register(uniqueName());
    const bound = await boundBrowser(user.username);
    const interaction = await bound.authorize(authorizeParams(clientId));
    expect((await bound.next(interaction)).step).toBe('sign_in');
    expect((await bound.signIn(interaction, user.username)).step).toBe('consent');
    // A Bearer session in the cookie is taken, as before.
    const plain = new Browser();
    await plain.login(user.username);
    const other = await plain.authorize(authorizeParams(clientId));
    expect((await plain.next(other)).step).toBe('consent');
  });

  it('end it at logout: ending a session needs no proof', async () => {
    const user = await register(uniqueName());
    const bound = await boundBrowser(user.username);
    const res = await bound.navigate('/oauth/logout');
    expect(res.status, await res.clone().text()).toBe(303);
    const interaction = new URL(res.headers.get('Location')!, ORIGIN).searchParams.get('interaction')!;
    const info = await bound.page('/oauth/interaction/logout/next', { interaction });
    expect(await info.json()).toMatchObject({ username: user.username });
    await bound.page('/oauth/interaction/logout', { interaction, decision: 'logout' });
    const live = await env.DB.prepare('SELECT COUNT(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL')
      .bind(user.id)
      .first<{ n: number }>();
    expect(live!.n).toBe(0);
  });
});
